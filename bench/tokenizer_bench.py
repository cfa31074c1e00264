"""Baseline side of bench/bench_tokenizer.sh: the same work as bench/tokenizer_bench.c with
Hugging Face tokenizers (load REPEATS times, encode every prompt one call each REPEATS passes,
medians; ids of the prompts to IDS_OUT). Also times encode_batch (HF's multi-threaded path)."""
import json
import statistics
import sys
import time

import tokenizers
from tokenizers import Tokenizer

path, prompts_path, reps, ids_out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
prompts = [json.loads(line) for line in open(prompts_path, encoding="utf-8")]

load = []
for _ in range(reps):
    t0 = time.perf_counter()
    tok = Tokenizer.from_file(path)
    load.append(time.perf_counter() - t0)

enc = []
for _ in range(reps):
    t0 = time.perf_counter()
    n = 0
    for p in prompts:
        n += len(tok.encode(p, add_special_tokens=True).ids)
    enc.append(time.perf_counter() - t0)

batch = []
for _ in range(reps):
    t0 = time.perf_counter()
    tok.encode_batch(prompts, add_special_tokens=True)
    batch.append(time.perf_counter() - t0)

with open(ids_out, "w") as f:
    for p in prompts:
        f.write(" ".join(map(str, tok.encode(p, add_special_tokens=True).ids)) + "\n")

print("load_s=%.6f encode_s=%.6f batch_s=%.6f prompts=%d ids=%d version=%s" % (
    statistics.median(load), statistics.median(enc), statistics.median(batch), len(prompts), n,
    tokenizers.__version__))
