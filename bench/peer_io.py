"""The Python peer of bench_io: time scipy.io.mmread on a MatrixMarket file
and anndata.read_h5ad on an h5ad, the same inputs the C++ reader gets.
Prints one JSON object of per-run seconds.

    python bench/peer_io.py --mtx matrix.mtx.gz --h5ad data.h5ad --reps 5
    python bench/peer_io.py --write-h5ad OUT.h5ad --from-mtx-dir DIR   (makes the h5ad with anndata)
"""
import argparse
import json
import time


def timed(fn, reps):
    out = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mtx")
    ap.add_argument("--h5ad")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--write-h5ad")
    ap.add_argument("--from-mtx-dir")
    a = ap.parse_args()

    if a.write_h5ad:
        import anndata
        import pandas as pd
        import scipy.io
        import scipy.sparse as sp
        d = a.from_mtx_dir
        X = sp.csr_matrix(scipy.io.mmread(f"{d}/matrix.mtx.gz").T.astype("float32"))
        feats = pd.read_csv(f"{d}/features.tsv.gz", sep="\t", header=None)
        bcs = pd.read_csv(f"{d}/barcodes.tsv.gz", sep="\t", header=None)
        var = pd.DataFrame({"gene_symbols": feats[1].values}, index=feats[0].astype(str).values)
        var.index = var.index.where(~var.index.duplicated(), var.index + "-dup")
        ad = anndata.AnnData(X=X, obs=pd.DataFrame(index=bcs[0].astype(str).values), var=var)
        ad.var_names_make_unique()
        ad.write_h5ad(a.write_h5ad)  # anndata's defaults: no compression
        return

    res = {}
    if a.mtx:
        import scipy.io
        res["scipy_mmread"] = timed(lambda: scipy.io.mmread(a.mtx), a.reps)
    if a.h5ad:
        import anndata
        res["anndata_read_h5ad"] = timed(lambda: anndata.read_h5ad(a.h5ad), a.reps)
    print(json.dumps(res))


if __name__ == "__main__":
    main()
