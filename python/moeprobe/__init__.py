"""moeprobe — read the HDF5 archives of `moeprobe run` into pandas and xarray.

    import moeprobe
    a = moeprobe.open("runs/demo/tiny-olmoe.h5")
    a.summary.loc["country_capital_city", "peak_ffn_layer"]   # Table 1's peak layer
    a.metrics["mrr_drop_block10"]                              # MRR drop, top-10 experts blocked

Every table is built from the archive's layout as docs/archive.md describes it (schema version
2; version 1 archives, written before dimension scales, read too). Only h5py, numpy and xarray
are needed (pandas comes with xarray); netCDF tools are not.
"""
import json

import h5py
import numpy as np
import pandas as pd
import xarray as xr

__all__ = ["open", "Archive", "SCHEMA_VERSION"]
__version__ = "0.1.0"

SCHEMA_VERSION = 2  # the newest layout this reader knows (pipeline/archive/schema.h)

_JSON_ATTRS = ("checkpoint", "relation_files")
_H5DS_ATTRS = ("DIMENSION_LIST", "DIMENSION_LABELS", "REFERENCE_LIST", "CLASS", "NAME")


def open(path):  # noqa: A001 - the module's verb, as in xarray.open_dataset
    """The archive at path (OUT/NAME.h5) as an Archive."""
    return Archive(path)


def _text(v):
    if isinstance(v, bytes):
        return v.decode("utf-8")
    if isinstance(v, np.ndarray) and v.dtype.kind in "OS":
        return [_text(x) for x in v.tolist()]
    if isinstance(v, np.generic):
        return v.item()
    return v


def _attrs(obj):
    return {k: _text(v) for k, v in obj.attrs.items() if k not in _H5DS_ATTRS}


def _values(ds):
    v = ds[()]
    if ds.dtype.kind == "O" or h5py.check_string_dtype(ds.dtype) is not None:
        v = np.array([_text(x) for x in np.ravel(v)], dtype=object).reshape(ds.shape)
    return v


def _group_dataset(g):
    """One HDF5 group's datasets as an xarray Dataset: dimensions from the dimension labels,
    coordinates from the group's dimension scales (or 0..n-1), attributes kept."""
    data, coords, sizes = {}, {}, {}
    for name, ds in g.items():
        if not isinstance(ds, h5py.Dataset):
            continue
        dims = []
        for i, d in enumerate(ds.dims):
            lab = d.label or f"{name}_dim{i}"
            # a version-1 archive may use one label with two lengths in a group
            if sizes.get(lab, ds.shape[i]) != ds.shape[i]:
                lab = f"{lab}_{ds.shape[i]}"
            while lab in dims:  # the same axis twice (version 1: relation x relation)
                lab = lab + "_2"
            sizes[lab] = ds.shape[i]
            dims.append(lab)
        is_scale = _text(ds.attrs.get("CLASS", "")) == "DIMENSION_SCALE"
        var = xr.Variable(dims, _values(ds), attrs=_attrs(ds))
        if is_scale and dims == [name]:
            coords[name] = var
        else:
            data[name] = var
    # a data variable named like a dimension it is not along would clash in xarray
    for name in [n for n in data if n in sizes and data[n].dims != (n,)]:
        data[name + "_values"] = data.pop(name)
    for name in [n for n in data if data[n].dims == (n,) and n in sizes]:
        coords[name] = data.pop(name)
    return xr.Dataset(data, coords=coords, attrs=_attrs(g))


class Archive:
    """A moeprobe archive. Tables are computed on first use and cached."""

    def __init__(self, path):
        self.path = str(path)
        self._f = h5py.File(self.path, "r")
        self.attrs = _attrs(self._f)
        for k in _JSON_ATTRS:
            if isinstance(self.attrs.get(k), str):
                self.attrs[k] = json.loads(self.attrs[k])
        self.schema_version = int(self.attrs.get("schema_version", 1))
        if self.schema_version > SCHEMA_VERSION:
            raise ValueError(f"{self.path}: archive schema version {self.schema_version} is newer "
                             f"than this reader's {SCHEMA_VERSION}: update python/moeprobe")
        self._cache = {}

    def close(self):
        self._f.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        return (f"<moeprobe.Archive {self.path}: model {self.model_name}, "
                f"{len(self.relations)} relations, schema version {self.schema_version}>")

    @property
    def model_name(self):
        return self.attrs.get("model_name") or self.path.rsplit("/", 1)[-1].rsplit(".h5", 1)[0]

    @property
    def relations(self):
        """Relation ids, sorted."""
        g = self._f.get("relations") or self._f.get("metrics") or {}
        return sorted(g.keys())

    def _cached(self, key, build):
        if key not in self._cache:
            self._cache[key] = build()
        return self._cache[key]

    def group(self, path):
        """Any group of the archive as an xarray Dataset (see docs/archive.md)."""
        return _group_dataset(self._f[path])

    # ---- per-relation tables ----------------------------------------------------------------

    @property
    def metrics(self):
        """One row per relation: HIT@10, MRR, n, and every blocking / ablation result that joined
        metrics/<rel> (hit10_block10, mrr_block10, mrr_drop_block10, mrr_topk1, ...)."""
        def build():
            rows = {rel: _attrs(g) for rel, g in self._f.get("metrics", {}).items()}
            df = pd.DataFrame.from_dict(rows, orient="index")
            df.index.name = "relation"
            return df.sort_index()
        return self._cached("metrics", build)

    @property
    def summary(self):
        """One row per relation (and `pooled`): the gain summary of Table 1 — total FFN and
        attention gain, layer efficiency, peak FFN layer (1-based), stage gains and shares."""
        def build():
            rows = {}
            for rel, g in self._f.get("analyses", {}).items():
                s = g.get("summary")
                if s is None:
                    continue
                row = _attrs(s)
                for sub in ("stage_gain", "stage_share", "stage_gain_per_layer"):
                    for k, v in _attrs(s[sub]).items() if sub in s else ():
                        row[f"{sub}_{k}"] = v
                rows[rel] = row
            df = pd.DataFrame.from_dict(rows, orient="index")
            df.index.name = "relation"
            return df.sort_index()
        return self._cached("summary", build)

    @property
    def gain_curves(self):
        """Mean FFN and attention gain per layer, by relation (pooled included), in nats."""
        def build():
            rels = [r for r, g in self._f.get("analyses", {}).items() if "summary" in g]
            if not rels:
                return xr.Dataset()
            out = {}
            for name in ("ffn_gain_curve", "attn_gain_curve"):
                first = self._f[f"analyses/{rels[0]}/summary/{name}"]
                v = np.stack([self._f[f"analyses/{r}/summary/{name}"][()] for r in rels])
                out[name] = xr.DataArray(v, dims=("relation", "layer"), attrs=_attrs(first))
            return xr.Dataset(out, coords={"relation": rels, "layer": np.arange(v.shape[1])})
        return self._cached("gain_curves", build)

    @property
    def blocking(self):
        """Expert blocking and configuration ablations, one row per (relation, configuration):
        block{N} (top-N experts blocked), topk{k}, shared-expert configurations; with the
        unmodified model's MRR and the drop."""
        def build():
            rows = []
            for rel, g in self._f.get("block", {}).items():
                base = _attrs(g)
                for cfg, c in g.items():
                    if not isinstance(c, h5py.Group):
                        continue
                    row = {"relation": rel, "config": cfg, "mode": base.get("mode"),
                           "rank_by": base.get("rank_by"), "mrr_base": base.get("mrr"),
                           "hit10_base": base.get("hit10")}
                    row.update(_attrs(c))
                    if "blocked" in c:
                        b = c["blocked"][()]
                        row["blocked"] = [(int(x[0]), int(x[1])) for x in b]
                    rows.append(row)
            df = pd.DataFrame(rows)
            if len(df):
                df["mrr_drop"] = df["mrr_base"] - df["mrr"]
                df = df.set_index(["relation", "config"]).sort_index()
            return df
        return self._cached("blocking", build)

    @property
    def head_expert(self):
        """The causal head-expert pair of each relation (Table 4): the pair's (layer, head) and
        (layer, expert), r, and the suppression, forcing and path results as columns."""
        def build():
            rows = {}
            for rel, g in self._f.get("analyses", {}).items():
                he = g.get("head_expert")
                if he is None:
                    continue
                row = {k: v for k, v in _attrs(he).items()}
                for sub in ("pair", "suppression", "forcing", "path", "null"):
                    s = he.get(sub)
                    if s is None:
                        continue
                    for k, v in _attrs(s).items():
                        row[f"{sub}_{k}" if sub != "pair" else f"pair_{k}"] = v
                    for name in ("head", "expert"):
                        if name in s and s[name].shape == (2,):
                            layer, idx = (int(x) for x in s[name][()])
                            row[f"{sub}_{name}_layer"], row[f"{sub}_{name}"] = layer, idx
                rows[rel] = row
            df = pd.DataFrame.from_dict(rows, orient="index")
            df.index.name = "relation"
            return df.sort_index()
        return self._cached("head_expert", build)

    def head_expert_matrix(self, relation):
        """analyses/<rel>/head_expert as a Dataset: r (and q) between every flattened head
        (layer * heads + head) and expert (layer * experts + expert), the strongest pairs."""
        ds = self.group(f"analyses/{relation}/head_expert")
        heads = self.attrs_model("num_attention_heads")
        experts = self.attrs_model("num_experts") or self.attrs_model("num_local_experts")
        if heads and "flat_head" in ds.dims:
            ds = ds.assign_coords(head_layer=("flat_head", ds["flat_head"].values // heads),
                                  head=("flat_head", ds["flat_head"].values % heads))
        if experts and "flat_expert" in ds.dims:
            ds = ds.assign_coords(expert_layer=("flat_expert", ds["flat_expert"].values // experts),
                                  expert=("flat_expert", ds["flat_expert"].values % experts))
        return ds

    def attrs_model(self, key):
        """A field of the model's config.json (stored in the archive)."""
        cfg = self.attrs.get("model_config_json")
        return json.loads(cfg).get(key) if cfg else None

    # ---- per-sample data --------------------------------------------------------------------

    def attribution(self, relation):
        """Per-sample attribution of one relation as one xarray Dataset: attention, FFN, head,
        expert (by top-k slot and by expert id) and shared-expert gains in nats, the routing
        at the last position, the evaluation (rank of the target) and the prompts as sample
        coordinates."""
        def build():
            parts = [self.group(f"attribution/{relation}")]
            if f"routing/{relation}" in self._f:
                parts.append(self.group(f"routing/{relation}"))
            if f"evaluate/{relation}" in self._f:
                parts.append(self.group(f"evaluate/{relation}").rename(
                    {"rank": "target_rank", "logit_margin": "target_logit_margin"}))
            # the tidy neuron rankings are subgroups
            for name, sub in self._f[f"attribution/{relation}"].items():
                if isinstance(sub, h5py.Group) and name.endswith("_ranking"):
                    n = name[len("neuron_top"):-len("_ranking")]
                    d = _group_dataset(sub).rename({"rank": f"neuron_rank_top{n}"})
                    parts.append(d.rename({v: f"{name}_{v}" for v in d.data_vars}))
            ds = xr.merge(parts, compat="override", combine_attrs="override")
            r = self._f.get(f"relations/{relation}")
            if r is not None:
                for key in ("prompt", "subject", "object"):
                    if key in r and r[key].shape[0] == ds.sizes.get("sample", -1):
                        ds = ds.assign_coords({key: ("sample", _values(r[key]))})
            ds.attrs = {"relation": relation, "model": self.model_name}
            return ds
        return self._cached(("attribution", relation), build)

    def expert_gains(self, relation):
        """Per-sample expert attribution in long form: one row per (sample, layer, expert id)
        that the router chose, with its top-k slot and gain in nats."""
        ds = self.attribution(relation)
        idx, gain = ds["topk_idx"].values, ds["expert"].values
        s, l, k = np.nonzero(idx >= 0)
        return pd.DataFrame({"sample": s, "layer": l, "slot": k, "expert": idx[s, l, k],
                             "gain": gain[s, l, k]})

    def neurons(self, relation, top):
        """The top-N neurons of every sample in long form (sample, rank, layer, expert, neuron,
        score); expert -1 = shared expert or dense MLP."""
        g = self._f[f"attribution/{relation}"]
        if f"neuron_top{top}_ranking" in g:
            t = g[f"neuron_top{top}_ranking"]
            cols = {c: t[c][()] for c in ("layer", "expert", "neuron", "score")}
        else:  # version 1: the packed (layer, expert, neuron) rows
            p = g[f"neuron_top{top}"][()]
            cols = {"layer": p[:, :, 0], "expert": p[:, :, 1], "neuron": p[:, :, 2],
                    "score": g[f"neuron_top{top}_score"][()]}
        n, N = cols["score"].shape
        df = pd.DataFrame({"sample": np.repeat(np.arange(n), N), "rank": np.tile(np.arange(N), n),
                           **{c: v.ravel() for c, v in cols.items()}})
        return df[df["layer"] >= 0].reset_index(drop=True)
