#!/usr/bin/env python3
"""classify_crash.py LOG — whose fault is the crash a fuzz harness log reports: HDF5's or ours.

The HDF5 harnesses (fuzz_part, fuzz_archive) feed damaged files to the HDF5 library, which is
not hardened against hostile files: it may read out of bounds, free garbage or loop inside
itself. Those faults are HDF5's (docs/archive.md, "Hostile files"), moeprobe cannot fix them, and
tests/fuzz/run.sh records them without failing. Everything else fails the run. The rule:

  * a broken harness invariant, a UBSan report (HDF5 is not instrumented, so UBSan only fires
    in our code), a leak left after tests/fuzz/lsan_hdf5.supp, an RSS out-of-memory without a
    stack, or a report that cannot be parsed: OURS;
  * otherwise the faulting stack (and, for a bad access to heap or stack memory, the stack that
    allocated or freed that memory, or the frame that owns it) is walked from the innermost
    frame, skipping the sanitizer runtime, libFuzzer, the allocator and system libraries (libc,
    zlib, libaec): the fault is HDF5's only if the first frame left is inside libhdf5 AND the
    memory involved was not allocated, freed or owned by our code (a buffer we under-sized and
    HDF5 overran is OURS); frames of the high-level library libhdf5_hl count as ours, since it
    trusts the file's attributes and our code must check them before calling it. Exception: a SEGV or bad
    free inside free() called by libhdf5_hl is a garbage pointer HDF5 read from the file: HDF5's.

Prints one line, "hdf5: <what>" or "ours: <what>", and exits 0 (HDF5's) or 1 (ours)."""
import re
import sys

SKIP_FN = re.compile(r"^(__interceptor_|___interceptor_|__asan|__sanitizer|__lsan|__ubsan|__interception|"
                     r"fuzzer::|malloc$|calloc$|realloc$|free$|posix_memalign|aligned_alloc|operator new|"
                     r"operator delete|mem(cpy|move|set|cmp|chr)|str[a-z]*$|__libc|__GI_|_start|main$|"
                     r"LLVMFuzzerRunDriver)")
SKIP_MOD = re.compile(r"(libc\.so|libc-|libm\.so|libz\.so|libsz\.so|libaec\.so|ld-linux|libpthread|"
                      r"libclang_rt|libstdc\+\+|libgcc)")
FRAME = re.compile(r"^\s*#\d+ 0x[0-9a-f]+ in (\S+)(.*)$")
FRAME_NOFN = re.compile(r"^\s*#\d+ 0x[0-9a-f]+ +\((.*)\)$")


def owner(frames):
    """'hdf5', 'ours' or None (only skipped frames) for a stack, innermost first."""
    for fn, rest in frames:
        where = fn + " " + rest
        # the high-level library (H5DS, H5LT) trusts a file's attributes; calling it on a file
        # we have not checked is our fault (H5DSget_label on a foreign DIMENSION_LABELS)
        if re.search(r"libhdf5\w*_hl", where):
            return "hdf5_hl"
        if "libhdf5" in where:
            return "hdf5"
        if SKIP_MOD.search(rest) or (fn and SKIP_FN.search(fn)):
            continue
        if not fn and not rest.strip():
            continue
        return "ours"
    return None


def stacks(lines, start):
    """The stacks that follow lines[start], as lists of (function, rest), with their header."""
    out, cur, head = [], None, "fault"
    for line in lines[start + 1:]:
        m = FRAME.match(line)
        n = FRAME_NOFN.match(line) if not m else None
        if m or n:
            if cur is None:
                cur = []
                out.append((head, cur))
            cur.append((m.group(1), m.group(2)) if m else ("", "(" + n.group(1) + ")"))
            continue
        if cur is not None:
            cur = None
        low = line.lower()
        if "allocated by" in low or "previously allocated" in low:
            head = "alloc"
        elif "freed by" in low:
            head = "free"
        elif "located in stack of thread" in low:
            head = "stack-frame"
        elif line.startswith("SUMMARY:") or line.startswith("MS:") or "==ABORTING" in line:
            break
    return out


def main():
    text = open(sys.argv[1], errors="replace").read()
    lines = text.splitlines()
    if "fuzz invariant broken" in text:
        what = next(l for l in lines if "fuzz invariant broken" in l)
        return verdict("ours", what)
    m = next((l for l in lines if "runtime error:" in l), None)
    if m:
        return verdict("ours", m.strip())
    if "ERROR: LeakSanitizer" in text:
        return verdict("ours", "a leak outside libhdf5")
    idx = next((i for i, l in enumerate(lines)
                if re.search(r"ERROR: (AddressSanitizer|libFuzzer)", l)), None)
    if idx is None:
        return verdict("ours", "no sanitizer report found")
    what = re.sub(r"^==\d+== ?", "", lines[idx]).strip()
    if "out-of-memory (used:" in what:
        return verdict("ours", what + " (no stack to blame HDF5)")
    st = stacks(lines, idx)
    if not st:
        return verdict("ours", what + " (no stack)")
    fault = owner(st[0][1])
    if fault == "hdf5_hl":
        # The high-level library counts as ours (above), with one exception: it frees a pointer
        # that no allocator handed out (a SEGV inside free, or a bad free), which can only be a
        # garbage pointer HDF5 read from a damaged file (a vlen label from a broken global heap:
        # H5DSget_label after arc_h5_label checked the attribute's type and size)
        in_free = any(re.search(r"(^free$|__interceptor_free|Deallocate)", fn) for fn, _ in st[0][1][:4])
        garbage = "SEGV on unknown address" in what or "attempting free" in what
        fault = "hdf5" if in_free and garbage else "ours"
    if fault != "hdf5":
        return verdict("ours", what)
    for head, frames in st[1:]:
        if head in ("alloc", "free", "stack-frame") and owner(frames) in ("ours", "hdf5_hl"):
            return verdict("ours", what + " (inside HDF5, on memory our code %s)" %
                           {"alloc": "allocated", "free": "freed", "stack-frame": "owns"}[head])
    return verdict("hdf5", what)


def verdict(who, what):
    print("%s: %s" % (who, what[:300]))
    return 0 if who == "hdf5" else 1


if __name__ == "__main__":
    sys.exit(main())
