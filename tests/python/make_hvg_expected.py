"""Expected highly-variable genes for tests/tokenise/hvg_test.cpp, computed by
scanpy itself on three shared datasets, the way the PerturbGen reference
prepares them before tokenisation (spec section 2.2):

    sc.pp.normalize_total(adata, target_sum=1e4); sc.pp.log1p(adata)
    sc.pp.highly_variable_genes(adata, n_top_genes=N, flavor="seurat", batch_key=KEY)

    python make_hvg_expected.py SHARED_DATA_DIR [OUT_DIR] [--numpy-simd]

OUT_DIR defaults to tests/data/hvg of this checkout.

Needs scanpy (scripts/requirements-peer.txt). Writes OUT_DIR/<dataset>.tsv with
the selected genes (in var order) plus the best-ranked unselected genes
("runners-up", to check the margin), each with scanpy's means, dispersions,
dispersions_norm and highly_variable_nbatches. A leading '#' line records the
versions and the call.

Bit-level choices, so that the C++ can be compared value for value:
  * numpy's AVX-512 (SVML) float32 log1p/expm1 differ from the C library's by
    one ulp on a few percent of values; which one runs depends on the CPU.
    Unless --numpy-simd is given, the AVX-512 code paths are switched off
    (NPY_DISABLE_CPU_FEATURES) so numpy calls the C library, like the C++ and
    like numpy on any CPU without AVX-512.
  * numba runs one thread, so scanpy's per-gene sums have a fixed order.
"""
import os
import sys

if "--numpy-simd" not in sys.argv:
    # Must be set before numpy is imported. X86_V4 holds AVX512F/CD/BW/DQ/VL
    # (and SKX); the later AVX-512 groups are listed too on CPUs that have them.
    os.environ["NPY_DISABLE_CPU_FEATURES"] = "X86_V4 AVX512_ICL AVX512_SPR"
os.environ["NUMBA_NUM_THREADS"] = "1"

import gzip  # noqa: E402
import warnings  # noqa: E402
from importlib.metadata import version  # noqa: E402
from pathlib import Path  # noqa: E402

import anndata as ad  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import scanpy as sc  # noqa: E402
import scipy.io  # noqa: E402
import scipy.sparse as sp  # noqa: E402

# (dataset folder, batch key or None, n_top_genes)
CASES = [
    ("lps_bmdc_timecourse", "grouping", 500),
    ("hsmm_myoblast_timecourse", "Hours", 2000),
    ("pbmc3k_raw", None, 1000),
]
RUNNERS_UP = 25


def load(folder: Path) -> ad.AnnData:
    """The 10x MatrixMarket folder as float32 CSR cells x genes (as read_10x_mtx
    gives: values parsed to float64, then rounded to float32), var_names = the
    gene ids of features.tsv column 1, obs from obs.tsv."""
    with gzip.open(folder / "matrix.mtx.gz", "rb") as f:
        genes_by_cells = scipy.io.mmread(f)
    X = sp.csr_matrix(genes_by_cells.T.astype(np.float64).astype(np.float32))
    X.sort_indices()
    features = pd.read_csv(folder / "features.tsv.gz", sep="\t", header=None, dtype=str)
    obs = pd.read_csv(folder / "obs.tsv.gz", sep="\t", dtype={"cell_id": str}).set_index("cell_id")
    var = pd.DataFrame(index=pd.Index(features[0].to_numpy(), name="gene_ids"))
    if not var.index.is_unique:
        raise SystemExit(f"{folder}: gene ids are not unique; scanpy's batched HVG would merge them")
    return ad.AnnData(X=X, obs=obs, var=var)


def fmt(x: float) -> str:
    return "nan" if np.isnan(x) else repr(float(x))


def run_case(data_dir: Path, out_dir: Path, name: str, batch_key: str | None, n_top: int, header: str) -> None:
    adata = load(data_dir / name)
    sc.pp.normalize_total(adata, target_sum=1e4)
    sc.pp.log1p(adata)
    if batch_key is not None:
        # Batches are the categories of the column; numbers become text so the
        # column is categorical, as a time label in the reference is.
        adata.obs[batch_key] = adata.obs[batch_key].astype(str).astype("category")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        df = sc.pp.highly_variable_genes(
            adata, n_top_genes=n_top, flavor="seurat", batch_key=batch_key, inplace=False
        )
    df = df.loc[adata.var_names]
    selected = df["highly_variable"].to_numpy(dtype=bool)
    if batch_key is not None:
        nb = df["highly_variable_nbatches"].to_numpy(dtype=np.int64)
    else:
        nb = selected.astype(np.int64)
    # Runners-up: the next genes in scanpy's own ranking order (batches, then
    # normalised dispersion, descending; NaN last).
    order = (
        pd.DataFrame({"nb": nb, "dn": df["dispersions_norm"].to_numpy()})
        .reset_index(drop=True)
        .sort_values(["nb", "dn"], ascending=False, na_position="last", kind="stable")
        .index.to_numpy()
    )
    runners = [i for i in order if not selected[i]][:RUNNERS_UP]
    rows = sorted(set(np.flatnonzero(selected).tolist()) | set(runners))
    with open(out_dir / f"{name}.tsv", "w") as out:
        out.write(f"# {header}; n_top_genes={n_top}; batch_key={batch_key or 'None'}; "
                  f"selected={int(selected.sum())} of {adata.n_vars}; runners_up={len(runners)}\n")
        out.write("gene_index\tgene\tselected\thighly_variable_nbatches\tmeans\tdispersions\tdispersions_norm\n")
        for i in rows:
            r = df.iloc[i]
            out.write(f"{i}\t{adata.var_names[i]}\t{int(selected[i])}\t{nb[i]}\t{fmt(r['means'])}\t"
                      f"{fmt(r['dispersions'])}\t{fmt(r['dispersions_norm'])}\n")
    print(f"{name}: {int(selected.sum())} selected of {adata.n_vars}")


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    if len(args) not in (1, 2):
        raise SystemExit(__doc__)
    data_dir = Path(args[0])
    out_dir = Path(args[1]) if len(args) == 2 else Path(__file__).resolve().parents[1] / "data" / "hvg"
    out_dir.mkdir(parents=True, exist_ok=True)
    simd = os.environ.get("NPY_DISABLE_CPU_FEATURES", "") == ""
    header = (
        f"scanpy {version('scanpy')} (numpy {version('numpy')}, pandas {version('pandas')}, "
        f"anndata {version('anndata')}, numba {version('numba')}); "
        f"numpy AVX-512 {'on' if simd else 'off'}; normalize_total(target_sum=1e4) + log1p on float32; "
        f"highly_variable_genes(flavor='seurat')"
    )
    for name, key, n_top in CASES:
        run_case(data_dir, out_dir, name, key, n_top, header)


if __name__ == "__main__":
    main()
