"""How far Hugging Face transformers' CPU forward pass is from the float64 references of the
fixtures (fixtures/refs/<model>.h5, transformers in float64 from the same bf16 weights), in the
dtype a user gets by default (dtype="auto": the checkpoint's bf16) and in float32 — the figure
that says which baseline computes what moeprobe computes (moeprobe: float32, ~1e-6).

    python hf_accuracy.py FIXTURE_MODEL_DIR REFS_H5

Prints key=value lines: for each dtype the worst relative error of logits_last and of the
last layer's resid_post over the 26 reference prompts (max |x - ref| / max |ref| per prompt),
and how many prompts change their top-1 token.
"""
import sys

import h5py
import numpy as np
import torch
from transformers import AutoModelForCausalLM


def main():
    model_dir, refs = sys.argv[1:3]
    torch.set_num_threads(1)
    f = h5py.File(refs, "r")
    prompts = sorted(k for k in f if k.startswith("prompt"))
    for name, dtype in (("bf16", "auto"), ("f32", torch.float32)):
        model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=dtype,
                                                     attn_implementation="eager").eval()
        worst_logit = worst_resid = 0.0
        flips = 0
        for p in prompts:
            g = f[p]
            ids = torch.tensor(g["input_ids"][:], dtype=torch.long)[None]
            with torch.inference_mode():
                out = model(input_ids=ids, output_hidden_states=True, use_cache=False)
            lg = out.logits[0, -1].double().numpy()
            ref = g["logits_last"][:]
            worst_logit = max(worst_logit, np.abs(lg - ref).max() / np.abs(ref).max())
            rp = out.hidden_states[-2][0, -1].double().numpy()  # input of the last layer
            rref = g["resid_pre"][-1, -1]
            worst_resid = max(worst_resid, np.abs(rp - rref).max() / np.abs(rref).max())
            flips += int(lg.argmax() != ref.argmax())
        print(f"{name}_logits_rel={worst_logit:.3g}")
        print(f"{name}_resid_rel={worst_resid:.3g}")
        print(f"{name}_top1_changed={flips}/{len(prompts)}")


if __name__ == "__main__":
    main()
