"""The Hugging Face baseline of bench/bench_forward.sh: the forward pass a user would write in
PyTorch to get what moeprobe's capture pass gets (hidden states of every layer and router logits)
on the same checkpoint, the same token ids and the same cores.

    python hf_forward.py MODEL_DIR IDS_FILE BATCH DTYPE THREADS [LOGITS]

IDS_FILE: one prompt per line, space-separated token ids, a blank line after each relation
(written by forward_bench --ids, so both sides run exactly the same tokens, batched per relation
as moeprobe's capture stage batches them). DTYPE: auto (transformers' default: the checkpoint's
dtype, bf16) or float32 (moeprobe's compute precision). Eager attention, output_hidden_states
and output_router_logits on; LOGITS "all" (the default call: logits at every position) or
"last" (logits_to_keep=1, the cheapest form, what moeprobe computes); batches of BATCH prompts
of one relation, left-padded with an attention mask. The first
relation runs once before as a warm-up, as on the moeprobe side.
Prints key=value lines; tokens count real (non-pad) tokens only.
"""
import sys
import time

import torch
import transformers
from transformers import AutoModelForCausalLM


def main():
    model_dir, ids_file, batch, dtype, threads = sys.argv[1:6]
    keep = 1 if len(sys.argv) < 7 or sys.argv[6] == "last" else 0
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
        out = model(input_ids=ids, attention_mask=mask, output_hidden_states=True,
                    logits_to_keep=keep, use_cache=False, **extra)
        return out

    batches = [rel[i:i + batch] for rel in relations for i in range(0, len(rel), batch)]
    with torch.inference_mode():
        for b in [rel[i:i + batch] for i in range(0, len(relations[0]), batch)
                  for rel in relations[:1]]:
            run(b)  # warm-up: the first relation (page faults of the weights, kernel selection)
        t0 = time.perf_counter()
        for b in batches:
            run(b)
        wall = time.perf_counter() - t0
    tokens = sum(len(p) for p in prompts)
    print(f"hf_version={transformers.__version__}")
    print(f"torch_version={torch.__version__}")
    print(f"dtype={next(model.parameters()).dtype}")
    print(f"threads={torch.get_num_threads()}")
    print(f"logits={'last' if keep else 'all'}")
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
