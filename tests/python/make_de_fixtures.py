"""Expected differential-expression results for
tests/analysis/differential_expression_test.cpp and tests/analysis/de_cli_test.cpp,
computed by scanpy itself (sc.tl.rank_genes_groups, method="wilcoxon",
corr_method="benjamini-hochberg") on subsets of two shared real datasets:

  * kang: 300 PBMCs of Kang et al. 2018 (../shared/data/kang2018_ifnb_pbmc,
    already log-normalised, float32), 100 each of CD14+Mono / CD4T / B, and
    200 genes (70 most variable, 100 sparse ones with 1-15 % non-zero, so
    columns full of tied zeros, 29 at random, and one all-zero gene).
    Comparisons: CD14+Mono vs rest, CD14+Mono vs CD4T, B vs rest,
    each with tie_correct True and False.
  * pbmc: 300 cells x 200 genes of raw UMI counts from 10x PBMC 3k
    (../shared/data/pbmc3k_raw); groups from marker counts (myeloid: LYZ >= 10;
    T: CD3D > 0 and not myeloid; other). The values go through
    sc.pp.normalize_total(target_sum=1e4) + sc.pp.log1p in float64 first.
    Comparisons: myeloid vs rest (tie_correct True) and myeloid vs T (False).
  * perturbation: the same 300 pbmc cells as a perturbation output: cells 0-149 are
    X (perturbed), cells 150-299 are layers['pred_counts'] (control), obs
    time_point = "6h" for even rows and "10h" for odd ones, obs cell_group = the
    pbmc group of the X cell. For each time point (all cells, and cell_group
    "myeloid"): perturbed and control concatenated, normalize_total(1e4) + log1p,
    Wilcoxon perturbed vs reference control, tie_correct True.

Run with the setup's venv (scanpy 1.11):

    python tests/python/make_de_fixtures.py SHARED_DATA_DIR [OUT_DIR]

OUT_DIR defaults to tests/data/de of this checkout. Writes
  inputs.safetensors  kang_x (300x200 F32 log values), pbmc_counts (300x200 F32)
  de_expected.json    gene names, group labels, and per comparison scanpy's
                      scores, pvals, pvals_adj, logfoldchanges and the group
                      means, in var order, at full float64 precision.

scanpy stores scores and logfoldchanges as float32 in .uns; the float64 values
are taken from the _RankGenes object that rank_genes_groups itself uses (the
same calls, in the same order), and checked against .uns after a float32 cast.
numba runs one thread and numpy's AVX-512 paths are off (as in
make_hvg_expected.py), so the sums have a fixed order.
"""
import os
import sys

os.environ["NPY_DISABLE_CPU_FEATURES"] = "X86_V4 AVX512_ICL AVX512_SPR"
os.environ["NUMBA_NUM_THREADS"] = "1"

import gzip  # noqa: E402
import json  # noqa: E402
import struct  # noqa: E402
from importlib.metadata import version  # noqa: E402
from pathlib import Path  # noqa: E402

import anndata as ad  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import scanpy as sc  # noqa: E402
from scanpy.tools._rank_genes_groups import _RankGenes  # noqa: E402
from scipy import io as spio  # noqa: E402
from scipy import stats  # noqa: E402


def read_10x(folder):
    folder = Path(folder)
    with gzip.open(folder / "matrix.mtx.gz") as f:
        x = spio.mmread(f).T.tocsr()
    genes = pd.read_csv(folder / "features.tsv.gz", sep="\t", header=None)[0].astype(str).tolist()
    obs = pd.read_csv(folder / "obs.tsv.gz", sep="\t", index_col=0)
    return x, genes, obs


def write_safetensors(path, tensors):
    header, blobs, offset = {}, [], 0
    for name in sorted(tensors):
        a = np.ascontiguousarray(tensors[name])
        dtype = {np.dtype("float32"): "F32", np.dtype("float64"): "F64"}[a.dtype]
        b = a.astype(a.dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": dtype, "shape": list(a.shape), "data_offsets": [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def rank(adata, group, reference, tie_correct):
    """rank_genes_groups' own statistics at float64, in var order."""
    groups = [group] + ([] if reference == "rest" else [reference])
    test = _RankGenes(adata, groups, "grp", reference=reference, use_raw=False)
    test.compute_statistics("wilcoxon", corr_method="benjamini-hochberg", n_genes_user=adata.n_vars,
                            tie_correct=tie_correct)
    st = test.stats[group]  # sorted by score; map back to var order
    order = pd.Index(st["names"]).get_indexer(adata.var_names)
    out = {k: np.asarray(st[k], dtype=np.float64)[order].tolist()
           for k in ("scores", "pvals", "pvals_adj", "logfoldchanges")}
    gi = list(test.groups_order).index(group)
    out["mean_group"] = test.means[gi].tolist()
    out["mean_reference"] = (test.means_rest[gi] if reference == "rest"
                             else test.means[list(test.groups_order).index(reference)]).tolist()

    # The public call must give the same numbers (float32 in .uns).
    check = adata.copy()
    sc.tl.rank_genes_groups(check, "grp", groups=[group], reference=reference, method="wilcoxon",
                            tie_correct=tie_correct, use_raw=False)
    df = sc.get.rank_genes_groups_df(check, group).set_index("names").loc[adata.var_names]
    assert np.array_equal(df["scores"].to_numpy(), np.float32(out["scores"]))
    assert np.array_equal(df["pvals_adj"].to_numpy(), np.asarray(out["pvals_adj"]))
    assert np.array_equal(df["logfoldchanges"].to_numpy(), np.float32(out["logfoldchanges"]))
    return {"group": group, "reference": reference, "tie_correct": tie_correct, **out}


def kang(shared):
    x, genes, obs = read_10x(Path(shared) / "kang2018_ifnb_pbmc")
    rng = np.random.default_rng(7)
    cells = []
    for ct in ["CD14+Mono", "CD4T", "B"]:
        idx = np.flatnonzero(obs["cell_type"].to_numpy() == ct)
        cells.extend(sorted(rng.choice(idx, 100, replace=False)))
    cells = np.array(cells)
    sub = x[cells].toarray().astype(np.float32)
    frac = (sub > 0).mean(0)
    var = sub.var(0)
    chosen = list(np.argsort(-var)[:70])
    sparse = [g for g in rng.permutation(len(genes)) if 0.01 <= frac[g] <= 0.15 and g not in chosen][:100]
    chosen += sparse
    rest = [g for g in rng.permutation(len(genes)) if g not in chosen and frac[g] > 0][:29]
    chosen += rest
    chosen.append(next(g for g in range(len(genes)) if frac[g] == 0))
    chosen = np.array(sorted(chosen))
    values = sub[:, chosen]
    labels = obs["cell_type"].to_numpy()[cells].tolist()
    adata = ad.AnnData(values, obs=pd.DataFrame({"grp": pd.Categorical(labels)},
                                                index=[str(i) for i in range(len(cells))]),
                       var=pd.DataFrame(index=[genes[g] for g in chosen]))
    comparisons = [rank(adata, g, r, tc) for g, r in [("CD14+Mono", "rest"), ("CD14+Mono", "CD4T"), ("B", "rest")]
                   for tc in (True, False)]
    return values, {"genes": list(adata.var_names), "groups": labels, "comparisons": comparisons}


def normalised(counts):
    a = ad.AnnData(counts.astype(np.float64))
    sc.pp.normalize_total(a, target_sum=1e4)
    sc.pp.log1p(a)
    return a.X


def pbmc(shared):
    x, genes, obs = read_10x(Path(shared) / "pbmc3k_raw")
    rng = np.random.default_rng(11)
    cells = np.array(sorted(rng.choice(x.shape[0], 300, replace=False)))
    sub = x[cells].toarray()
    frac = (sub > 0).mean(0)
    markers = [genes.index(g) for g in ("LYZ", "CD3D", "S100A9", "MS4A1", "NKG7", "CD79A")]
    pool = [g for g in np.argsort(-frac) if g not in markers]
    chosen = markers + pool[:120] + [g for g in rng.permutation(pool[120:]) if frac[g] > 0][:74]
    chosen = np.array(sorted(chosen))
    counts = sub[:, chosen].astype(np.float32)
    names = [genes[g] for g in chosen]
    lyz, cd3d = counts[:, names.index("LYZ")], counts[:, names.index("CD3D")]
    labels = ["myeloid" if l >= 10 else ("T" if c > 0 else "other") for l, c in zip(lyz, cd3d)]
    adata = ad.AnnData(normalised(counts), obs=pd.DataFrame({"grp": pd.Categorical(labels)},
                                                            index=[f"c{i}" for i in range(300)]),
                       var=pd.DataFrame(index=names))
    comparisons = [rank(adata, "myeloid", "rest", True), rank(adata, "myeloid", "T", False)]

    # The perturbation layout: X = cells 0-149, control = cells 150-299.
    pert, ctrl = counts[:150], counts[150:]
    tp = np.array(["6h" if i % 2 == 0 else "10h" for i in range(150)])
    cg = np.array(labels[:150])
    perturbation = []
    for t in ["6h", "10h"]:
        for grp in ["all", "myeloid"]:
            keep = (tp == t) & ((cg == grp) if grp != "all" else True)
            both = np.vstack([pert[keep], ctrl[keep]])
            k = int(keep.sum())
            a = ad.AnnData(normalised(both),
                           obs=pd.DataFrame({"grp": pd.Categorical(["perturbed"] * k + ["control"] * k)},
                                            index=[f"p{i}" for i in range(2 * k)]),
                           var=pd.DataFrame(index=names))
            r = rank(a, "perturbed", "control", True)
            r.update({"time_point": t, "cell_group": grp, "n": k})
            perturbation.append(r)
    return counts, {"genes": names, "groups": labels, "comparisons": comparisons,
                    "perturbation": {"time_point": tp.tolist(), "cell_group": cg.tolist(),
                                     "comparisons": perturbation}}


def hypergeometric():
    # scipy's hypergeom.sf(k - 1, N, K, n) = P(X >= k) for the ORA tests.
    cases = [(1000, 50, 20, 5), (1000, 50, 20, 1), (20000, 300, 150, 12), (60, 10, 10, 10), (500, 40, 30, 0)]
    return [{"N": N, "K": K, "n": n, "k": k, "sf": float(stats.hypergeom.sf(k - 1, N, K, n))}
            for N, K, n, k in cases]


def main():
    shared = sys.argv[1]
    out = Path(sys.argv[2]) if len(sys.argv) > 2 else Path(__file__).resolve().parents[1] / "data" / "de"
    out.mkdir(parents=True, exist_ok=True)
    kx, kj = kang(shared)
    px, pj = pbmc(shared)
    write_safetensors(out / "inputs.safetensors", {"kang_x": kx, "pbmc_counts": px})
    doc = {"versions": {p: version(p) for p in ("scanpy", "anndata", "numpy", "scipy", "statsmodels")},
           "kang": kj, "pbmc": pj, "hypergeometric": hypergeometric()}
    (out / "de_expected.json").write_text(json.dumps(doc, separators=(",", ":")) + "\n")


if __name__ == "__main__":
    main()
