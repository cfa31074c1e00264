"""Checks python/moeprobe against the archive read directly with h5py (tests/cli/python_reader.sh).
Prints PASS/FAIL lines."""
import json
import sys

import h5py
import numpy as np

import moeprobe

path = sys.argv[1]
f = h5py.File(path, "r")
a = moeprobe.open(path)


def check(cond, name, why=""):
    print(("PASS " if cond else "FAIL ") + "python_reader/" + name + ("" if cond else f": {why}"))


rels = sorted(f["metrics"].keys())
check(a.relations == rels and a.model_name == f.attrs["model_name"] and a.schema_version == 2,
      "archive", repr(a))
check(isinstance(a.attrs["checkpoint"], dict) and a.attrs["checkpoint"]["files"], "provenance_parsed",
      a.attrs.get("checkpoint"))
m = a.metrics
check(list(m.index) == rels and all(abs(m.loc[r, "mrr"] - f[f"metrics/{r}"].attrs["mrr"]) < 1e-15 and
                                      abs(m.loc[r, "mrr_drop_block10"] - f[f"metrics/{r}"].attrs["mrr_drop_block10"]) < 1e-15
                                      for r in rels), "metrics", m)
s = a.summary
check("pooled" in s.index and all(s.loc[r, "peak_ffn_layer"] == f[f"analyses/{r}/summary"].attrs["peak_ffn_layer"]
                                  for r in rels + ["pooled"]) and
      abs(s.loc["pooled", "stage_share_early"] - f["analyses/pooled/summary/stage_share"].attrs["early"]) < 1e-15,
      "summary", s)
g = a.gain_curves
check(np.array_equal(g["ffn_gain_curve"].sel(relation=rels[0]).values,
                     f[f"analyses/{rels[0]}/summary/ffn_gain_curve"][()]) and g["ffn_gain_curve"].attrs["units"] == "nats",
      "gain_curves", g)
b = a.blocking
row = b.loc[(rels[0], "block10")]
gb = f[f"block/{rels[0]}/block10"]
check(row["mrr"] == gb.attrs["mrr"] and abs(row["mrr_drop"] - f[f"metrics/{rels[0]}"].attrs["mrr_drop_block10"]) < 1e-12
      and len(row["blocked"]) == 10, "blocking", row)
he = a.head_expert
pr = f.get(f"analyses/{rels[0]}/head_expert/pair")
check(pr is None or (he.loc[rels[0], "pair_head_layer"] == pr["head"][0] and
                     he.loc[rels[0], "pair_expert"] == pr["expert"][1] and he.loc[rels[0], "pair_r"] == pr.attrs["r"]),
      "head_expert", he.T)
mat = a.head_expert_matrix(rels[0])
H = json.loads(f.attrs["model_config_json"])["num_attention_heads"]
check(mat["r"].shape == f[f"analyses/{rels[0]}/head_expert/r"].shape and int(mat["head"][H + 1]) == 1 and
      int(mat["head_layer"][H + 1]) == 1, "head_expert_matrix", mat)
at = a.attribution(rels[0])
check(at["ffn_gain"].dims == ("sample", "layer") and at["ffn_gain"].attrs["units"] == "nats" and
      np.array_equal(at["ffn_gain"].values, f[f"attribution/{rels[0]}/ffn_gain"][()]) and
      list(at["prompt"].values) == [x.decode() if isinstance(x, bytes) else x for x in f[f"relations/{rels[0]}/prompt"][()]] and
      np.array_equal(at["target_rank"].values, f[f"evaluate/{rels[0]}/rank"][()]) and
      at["expert_by_id"].dims == ("sample", "layer", "expert_id"), "attribution", at)
eg = a.expert_gains(rels[0])
by_id = at["expert_by_id"].values
check(len(eg) > 0 and np.allclose(eg.groupby(["sample", "layer", "expert"])["gain"].sum().values,
                                  [by_id[s, l, e] for s, l, e in eg.groupby(["sample", "layer", "expert"]).groups]),
      "expert_gains_keyed_by_id", eg.head())
nt = a.neurons(rels[0], 100)
packed = f[f"attribution/{rels[0]}/neuron_top100"][()]
check(len(nt) == int((packed[:, :, 0] >= 0).sum()) and nt.iloc[0]["neuron"] == packed[0, 0, 2], "neurons", nt.head())
# the README's one-liners
peak = moeprobe.open(path).summary.loc["country_capital_city", "peak_ffn_layer"]
drop = moeprobe.open(path).metrics["mrr_drop_block10"]
check(peak == f["analyses/country_capital_city/summary"].attrs["peak_ffn_layer"] and
      list(drop.index) == rels, "readme_one_liners", (peak, drop))
