"""Opens every group of moeprobe archives with xarray (engine h5netcdf) and netCDF4-python and
prints PASS/FAIL lines (tests/cli/archive_xarray.sh). With --expect-fail the problems are printed
as INFO lines instead (to show the checker can fail)."""
import sys
import warnings

import h5py
import netCDF4
import numpy as np
import xarray as xr

args = sys.argv[1:]
expect_fail = "--expect-fail" in args
paths = [a for a in args if a != "--expect-fail"]


def groups_of(path):
    out = ["/"]
    with h5py.File(path, "r") as f:
        def visit(name, obj):
            if isinstance(obj, h5py.Group) and name != "units" and not name.startswith("units/"):
                out.append("/" + name)
        f.visititems(visit)
    return out


def check_xarray(path, g, problems):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            ds = xr.open_dataset(path, group=g, engine="h5netcdf")
        except Exception as e:  # noqa: BLE001 - any failure to open is the finding
            problems.append(f"{g}: xarray cannot open it: {type(e).__name__}: {e}")
            return
    with ds:
        for d in ds.dims:
            if str(d).startswith("phony_dim"):
                problems.append(f"{g}: phony dimension {d} (xarray/h5netcdf)")
        for name, v in ds.variables.items():
            if len(set(v.dims)) != len(v.dims):
                problems.append(f"{g}: {name} uses a dimension twice {v.dims}")
            if name in ds.dims and v.dims != (name,):
                problems.append(f"{g}: variable {name} is named like a dimension but is {v.dims}")
        for name, v in ds.data_vars.items():
            if "units" not in v.attrs:
                problems.append(f"{g}: data variable {name} has no units")
            if "long_name" not in v.attrs:
                problems.append(f"{g}: data variable {name} has no long_name")
        for name, c in ds.coords.items():
            if "units" not in c.attrs:
                problems.append(f"{g}: coordinate {name} has no units")


def check_netcdf4(nc, g, problems):
    try:
        grp = nc if g == "/" else nc[g.lstrip("/")]
        for name, v in grp.variables.items():
            for d in v.dimensions:
                if d.startswith("phony_dim"):
                    problems.append(f"{g}: netCDF4: {name} has phony dimension {d}")
            if "units" not in v.ncattrs():
                problems.append(f"{g}: netCDF4: {name} has no units")
            v[...]  # the values read
    except Exception as e:  # noqa: BLE001
        problems.append(f"{g}: netCDF4: {type(e).__name__}: {e}")


def check_root(path, problems):
    with h5py.File(path, "r") as f:
        if f.attrs.get("Conventions") != "CF-1.8":
            problems.append(f"/: Conventions is {f.attrs.get('Conventions')!r}")
        if int(f.attrs.get("schema_version", 0)) < 2:
            problems.append(f"/: schema_version is {f.attrs.get('schema_version')!r}")
        for rel, g in f.get("attribution", {}).items():
            check_tidy(f, rel, g, problems)
        for g in f.get("captures", {}).values():
            if "captured_layer" in g and "resid_pre" in g:
                layers = list(g["captured_layer"][...])
                if g["resid_pre"].shape[1] != len(layers) or layers != sorted(layers):
                    problems.append(f"{g.name}: captured_layer {layers} does not fit resid_pre")


def check_tidy(f, rel, g, problems):
    """The tidy forms hold the same numbers as the packed ones."""
    if "expert" in g:
        idx = f[f"routing/{rel}/topk_idx"][...]
        slot = g["expert"][...]
        by_id = g["expert_by_id"][...]
        want = np.zeros_like(by_id)
        n, L, k = slot.shape
        for s in range(n):
            for l in range(L):
                for j in range(k):
                    if idx[s, l, j] >= 0:
                        want[s, l, idx[s, l, j]] += slot[s, l, j]
        if by_id.shape != (n, L, f[f"routing/{rel}/router_prob"].shape[2]) or not np.allclose(by_id, want):
            problems.append(f"attribution/{rel}/expert_by_id differs from expert placed by topk_idx")
    for name in g:
        if not (name.startswith("neuron_top") and name.endswith("_ranking")):
            continue
        packed = g[name[: -len("_ranking")]][...]
        score = g[name[: -len("_ranking")] + "_score"][...]
        t = g[name]
        for c, col in enumerate(("layer", "expert", "neuron")):
            if not np.array_equal(t[col][...], packed[:, :, c]):
                problems.append(f"attribution/{rel}/{name}/{col} differs from the packed column {c}")
        if not np.array_equal(t["score"][...], score, equal_nan=True):
            problems.append(f"attribution/{rel}/{name}/score differs from the packed score")
        if t["layer"].dims[1].label != "rank":
            problems.append(f"attribution/{rel}/{name}/layer is not along rank")


bad = 0
for path in paths:
    problems = []
    if not expect_fail:
        check_root(path, problems)
    nc = netCDF4.Dataset(path, "r")
    gs = groups_of(path)
    for g in gs:
        check_xarray(path, g, problems)
        check_netcdf4(nc, g, problems)
    nc.close()
    name = path.rsplit("/", 1)[-1]
    if expect_fail:
        for p in problems:
            print(f"INFO {name}: {p}")
        continue
    if problems:
        bad += 1
        print(f"FAIL archive_xarray/{name}/netcdf_view: {len(problems)} problems in {len(gs)} groups: "
              + "; ".join(problems[:6]))
    else:
        print(f"PASS archive_xarray/{name}/netcdf_view ({len(gs)} groups)")
sys.exit(1 if bad else 0)
