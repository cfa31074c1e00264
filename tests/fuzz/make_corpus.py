#!/usr/bin/env python3
"""make_corpus.py — writes the seed corpora of the fuzz harnesses (tests/fuzz/corpus/<harness>/)
from small real files: the fixtures' configs and indexes, truncated safetensors headers, trimmed
tokenizer.json files, the test YAML configs, LRE relation files and the golden tokenizer texts.
A developer tool, run once and committed; `make fuzz` only reads the result. Regression seeds
(inputs that once crashed) are added by hand as corpus/<harness>/regress-*."""
import glob
import json
import os
import struct
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SHARED = os.environ.get("MOEPROBE_SHARED", os.path.join(ROOT, "..", "shared"))
OUT = os.path.join(ROOT, "tests", "fuzz", "corpus")


def put(harness, name, data):
    d = os.path.join(OUT, harness)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def st_file(tensors, meta=None, pad=b""):
    """A safetensors file from [(name, dtype, shape)], zero data."""
    size = {"F32": 4, "F16": 2, "BF16": 2, "I64": 8}
    hdr, off = {}, 0
    if meta is not None:
        hdr["__metadata__"] = meta
    for name, dt, shape in tensors:
        n = size[dt]
        for s in shape:
            n *= s
        hdr[name] = {"dtype": dt, "shape": shape, "data_offsets": [off, off + n]}
        off += n
    h = json.dumps(hdr, separators=(",", ":")).encode() + pad
    return struct.pack("<Q", len(h)) + h + bytes(off)


def safetensors():
    put("fuzz_safetensors", "small-valid", st_file(
        [("a", "F32", [2, 3]), ("b", "BF16", [4]), ("c", "F16", [])], {"format": "pt"}))
    put("fuzz_safetensors", "empty-valid", st_file([]))
    put("fuzz_safetensors", "padded-header", st_file([("x", "F32", [1])], pad=b"   "))
    put("fuzz_safetensors", "unsupported-dtype", st_file([("i", "I64", [2])]))
    for m in ["tiny-olmoe", "tiny-mixtral", "tiny-qwen2"]:
        shards = sorted(glob.glob(os.path.join(ROOT, "models", m, "*.safetensors")))
        with open(shards[1], "rb") as f:
            raw = f.read()
        n = struct.unpack("<Q", raw[:8])[0]
        # the header and 64 bytes of data: a truncated download
        put("fuzz_safetensors", f"truncated-{m}", raw[:8 + n + 64])
        put("fuzz_safetensors", f"header-only-{m}", raw[:8 + n])


def index():
    for m in ["tiny-llama", "tiny-olmoe"]:
        with open(os.path.join(ROOT, "models", m, "model.safetensors.index.json"), "rb") as f:
            put("fuzz_index", m, f.read())
    put("fuzz_index", "ab", json.dumps({
        "metadata": {"total_size": 22, "total_parameters": 9},
        "weight_map": {"a.0": "a.safetensors", "a.1": "a.safetensors", "b.0": "b.safetensors"}},
        indent=1))
    put("fuzz_index", "escape", json.dumps({"weight_map": {"a.0": "../a.safetensors"}}))


def configs():
    for p in sorted(glob.glob(os.path.join(ROOT, "models", "*", "config.json"))):
        with open(p, "rb") as f:
            put("fuzz_config", os.path.basename(os.path.dirname(p)), f.read())
    for p in sorted(glob.glob(os.path.join(SHARED, "configs-real", "*", "config.json"))):
        with open(p, "rb") as f:
            put("fuzz_config", "real-" + os.path.basename(os.path.dirname(p)), f.read())


def trim_tokenizer(tok, keep):
    """Keeps the first `keep` vocab ids (and the byte tokens), the merges among them."""
    model = tok["model"]
    vocab = model["vocab"]
    kept = {t: i for t, i in vocab.items() if i < keep or t.startswith("<0x")}
    merges = []
    for mg in model.get("merges", []):
        a, b = mg.split(" ", 1) if isinstance(mg, str) else mg
        if a in kept and b in kept and (a + b) in kept:
            merges.append(mg)
    model["vocab"] = kept
    model["merges"] = merges
    tok["added_tokens"] = [t for t in tok.get("added_tokens", []) if t["id"] < keep]
    return tok


def tokenizers():
    srcs = {"tiny-sp": os.path.join(ROOT, "models", "tiny-llama", "tokenizer.json"),
            "tiny-qwen": os.path.join(ROOT, "models", "tiny-qwen2moe", "tokenizer.json"),
            "tiny-neox": os.path.join(ROOT, "models", "tiny-olmoe", "tokenizer.json"),
            "mistral": os.path.join(SHARED, "fixtures", "tokenizer", "mistral.tokenizer.json"),
            "olmo": os.path.join(SHARED, "fixtures", "tokenizer", "olmo.tokenizer.json")}
    for name, p in srcs.items():
        with open(p, encoding="utf-8") as f:
            tok = json.load(f)
        put("fuzz_tokenizer_json", name, json.dumps(trim_tokenizer(tok, 400), ensure_ascii=False,
                                                     indent=1))
    # qwen: too large to load whole; the same trimming
    with open(os.path.join(SHARED, "fixtures", "tokenizer", "qwen.tokenizer.json"),
              encoding="utf-8") as f:
        tok = json.load(f)
    put("fuzz_tokenizer_json", "qwen", json.dumps(trim_tokenizer(tok, 400), ensure_ascii=False,
                                                  indent=1))


def yamls():
    for p in sorted(glob.glob(os.path.join(ROOT, "tests", "data", "*.yaml"))):
        with open(p, "rb") as f:
            put("fuzz_yaml", os.path.basename(p)[:-5], f.read())
    for p in sorted(glob.glob(os.path.join(ROOT, "configs", "*.yaml"))):  # demo.yaml, paper.yaml
        with open(p, "rb") as f:
            put("fuzz_yaml", "configs-" + os.path.basename(p)[:-5], f.read())
    put("fuzz_yaml", "demo", "model: models/tiny-qwen2moe\n"
        "relations: [data/lre/adj_antonym.json, country_capital_city]\n"
        "out: runs/demo\nmax_samples: 20\n"
        "stages: [capture, evaluate, attribute, summarise, block]\n"
        "block:\n  top_n: [1, 5]\n")
    put("fuzz_yaml", "sweep-flow", "models: [models/tiny-olmoe, models/tiny-llama]\n"
        "relations: data/lre\nout: runs/x\ntemplate: all\n")
    put("fuzz_yaml", "mistakes", "model: models/tiny-olmoe\nrelation: data/lre\nout: 3\n"
        "batch_size: -1\nstages: [capture, evalute]\n")


def relations():
    for p in sorted(glob.glob(os.path.join(ROOT, "data", "lre", "*.json"))):
        with open(p, encoding="utf-8") as f:
            r = json.load(f)
        r["samples"] = r["samples"][:6]
        put("fuzz_relations", os.path.basename(p)[:-5], json.dumps(r, ensure_ascii=False,
                                                                   indent=1))
    put("fuzz_relations", "escaped", '{"name":"x","prompt_templates_zs":["{} is \\u00e9 {}"],'
        '"prompt_templates":[],"samples":[{"subject":"Bras\\\\u00edlia","object":"y"}]}')


def texts():
    with open(os.path.join(SHARED, "fixtures", "tokenizer", "golden_ids.json"),
              encoding="utf-8") as f:
        gold = json.load(f)
    seen = set()
    for item in gold["qwen"] + gold["mistral"]:
        t = item["text"]
        if t in seen:
            continue
        seen.add(t)
    for i, t in enumerate(sorted(seen)):
        if i % 3 == 0:  # a third of the golden texts is plenty of shapes
            put("fuzz_tokenize", f"golden-{i:03d}", b"\x01" + t.encode("utf-8"))
    put("fuzz_tokenize", "invalid-utf8", b"\x00ab\xc3\x28 \xff\xfe")
    put("fuzz_tokenize", "specials", b"\x01<s></s><|endoftext|> <unk>  \t\n")


if __name__ == "__main__":
    safetensors()
    index()
    configs()
    tokenizers()
    yamls()
    relations()
    texts()
    for h in sorted(os.listdir(OUT)):
        files = os.listdir(os.path.join(OUT, h))
        total = sum(os.path.getsize(os.path.join(OUT, h, x)) for x in files)
        print(f"{h}: {len(files)} seeds, {total} bytes", file=sys.stderr)
