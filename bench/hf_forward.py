"""The Hugging Face baseline of bench/bench_forward.sh: the forward pass a user would write in
PyTorch to get what moeprobe's capture pass gets (hidden states of every layer and router logits)
on the same checkpoint, the same token ids and the same cores.

    python hf_forward.py MODEL_DIR IDS_FILE BATCH DTYPE THREADS [LOGITS [BATCHING]]

IDS_FILE: one prompt per line, space-separated token ids, a blank line after each relation
(written by forward_bench --ids, so both sides run exactly the same tokens, batched per relation
as moeprobe's capture stage batches them). DTYPE: auto (transformers' default: the checkpoint's
dtype, bf16) or float32 (moeprobe's compute precision). Eager attention, output_hidden_states
and output_router_logits on; LOGITS "all" (the default call: logits at every position) or
"last" (logits_to_keep=1, the cheapest form, what moeprobe computes). BATCHING "relation" (the
default): batches of BATCH prompts of one relation, left-padded with an attention mask, as
moeprobe batches them (moeprobe packs a batch's prompts without padding, so HF computes the pad
positions too); "length": prompts of equal length (across relations) in batches of up to BATCH,
no padding and no mask, so padding costs HF nothing. The first relation runs once before as a
warm-up, as on the moeprobe side. The timed scope is the one moeprobe's tokens_per_s covers:
every batch's forward call and the capture taken out of it (each prompt's last-position hidden
state of every layer, the router logits of every position), not loading nor tokenizing.
Prints key=value lines; tokens count real (non-pad) tokens only, pad_tokens the pad positions
computed. torch_isa is the instruction set torch's own kernels run (ATEN_CPU_CAPABILITY caps
it; MKL_ENABLE_INSTRUCTIONS and ONEDNN_MAX_CPU_ISA cap its BLAS and oneDNN, as the bench does to
compare with moeprobe's avx2 path on a CPU that has more).
"""
import os
import sys
import time

import torch
import transformers
from transformers import AutoModelForCausalLM


def main():
    model_dir, ids_file, batch, dtype, threads = sys.argv[1:6]
    keep = 1 if len(sys.argv) < 7 or sys.argv[6] == "last" else 0
    bucket = len(sys.argv) > 7 and sys.argv[7] == "length"
    if len(sys.argv) > 7 and sys.argv[7] not in ("relation", "length"):
        sys.exit(f"hf_forward.py: BATCHING is 'relation' or 'length', not '{sys.argv[7]}'")
    batch, threads = int(batch), int(threads)
    torch.set_num_threads(threads)
    relations, cur = [], []
    for line in open(ids_file):
        if line.strip():
            cur.append([int(t) for t in line.split()])
        elif cur:
            relations.append(cur)
            cur = []
    if cur:
        relations.append(cur)
    prompts = [p for rel in relations for p in rel]
    t0 = time.perf_counter()
    kw = {"dtype": "auto" if dtype == "auto" else getattr(torch, dtype),
          "attn_implementation": "eager"}
    model = AutoModelForCausalLM.from_pretrained(model_dir, **kw)
    model.eval()
    load_s = time.perf_counter() - t0
    moe = hasattr(model.config, "num_experts") or hasattr(model.config, "num_local_experts")

    def run(chunk):
        n = max(len(p) for p in chunk)
        ids = torch.zeros((len(chunk), n), dtype=torch.long)
        mask = torch.zeros((len(chunk), n), dtype=torch.long)
        for i, p in enumerate(chunk):  # left padding: the last position is each prompt's last
            ids[i, n - len(p):] = torch.tensor(p)
            mask[i, n - len(p):] = 1
        extra = {"output_router_logits": True} if moe else {}
        out = model(input_ids=ids, attention_mask=None if bucket else mask,
                    output_hidden_states=True, logits_to_keep=keep, use_cache=False, **extra)
        # the capture: each prompt's last-position residual of every layer, the router logits
        cap = torch.stack([h[:, -1, :] for h in out.hidden_states], 1).clone()
        rl = torch.stack(out.router_logits) if moe and out.router_logits is not None else None
        return n * len(chunk), cap, rl

    def batches_of(rels):
        if not bucket:
            return [rel[i:i + batch] for rel in rels for i in range(0, len(rel), batch)]
        by_len = {}
        for p in (p for rel in rels for p in rel):
            by_len.setdefault(len(p), []).append(p)
        return [ps[i:i + batch] for _, ps in sorted(by_len.items())
                for i in range(0, len(ps), batch)]

    batches = batches_of(relations)
    computed = 0
    with torch.inference_mode():
        for b in batches_of(relations[:1]):
            run(b)  # warm-up: the first relation (page faults of the weights, kernel selection)
        t0 = time.perf_counter()
        for b in batches:
            computed += run(b)[0]
        wall = time.perf_counter() - t0
    tokens = sum(len(p) for p in prompts)
    isa = torch.backends.cpu.get_cpu_capability() if hasattr(torch.backends, "cpu") else "?"
    caps = [f"{k}={os.environ[k]}" for k in ("ATEN_CPU_CAPABILITY", "MKL_ENABLE_INSTRUCTIONS",
                                             "ONEDNN_MAX_CPU_ISA") if os.environ.get(k)]
    omp_wait = os.environ.get("OMP_WAIT_POLICY") or "default"
    print(f"hf_version={transformers.__version__}")
    print(f"torch_version={torch.__version__}")
    print(f"dtype={next(model.parameters()).dtype}")
    print(f"threads={torch.get_num_threads()}")
    print(f"logits={'last' if keep else 'all'}")
    print(f"batching={'length' if bucket else 'relation'}")
    print(f"batches={len(batches)}")
    print(f"pad_tokens={computed - tokens}")
    print(f"torch_isa={isa}")
    print(f"isa_caps={','.join(caps) if caps else '-'}")
    print(f"omp_wait_policy={omp_wait}")
    print(f"load_s={load_s:.2f}")
    print(f"prompts={len(prompts)}")
    print(f"tokens={tokens}")
    print(f"wall_s={wall:.3f}")
    print(f"tokens_per_s={tokens / wall:.2f}")
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                print(f"peak_rss={int(line.split()[1]) * 1024}")


if __name__ == "__main__":
    main()
