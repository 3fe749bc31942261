"""Writes an .h5ad with the real anndata, then prints (as anndata_check.py
does) what anndata reads back from it, so the C++ tests can compare our
reader with anndata value by value.

    python anndata_make.py OUT.h5ad {csr|csc|dense}

The AnnData holds every kind of content the reader must handle: X as a CSR,
CSC or dense float32 matrix (with one explicitly stored zero in the sparse
cases), an int64 counts layer and a float64 layer, string / categorical
(unused, ordered, integer categories, unicode) / float with NaN / int / bool /
nullable integer, boolean and string obs columns, a named var index, float32
and float64 obsm, varm, and a nested uns with scalars and arrays.
"""

import json
import sys

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

from anndata_check import dump


def build(layout):
    rng = np.random.default_rng(7)
    n_obs, n_var = 40, 25
    dense = rng.poisson(0.6, size=(n_obs, n_var)).astype(np.float32)
    dense[dense > 0] += rng.random(int((dense > 0).sum()), dtype=np.float32)
    counts = rng.poisson(2.0, size=(n_obs, n_var)).astype(np.int64)
    if layout == "dense":
        X = dense
    else:
        # One explicitly stored zero: readers must keep stored entries as they are.
        rows, cols = np.nonzero(dense)
        zero_col = int(np.flatnonzero(dense[0] == 0)[0])
        rows = np.append(rows, 0)
        cols = np.append(cols, zero_col)
        vals = np.append(dense[np.nonzero(dense)], np.float32(0)).astype(np.float32)
        X = sp.coo_matrix((vals, (rows, cols)), shape=dense.shape).tocsr()
        if layout == "csc":
            X = X.tocsc()

    cells = [f"cell-{i}" for i in range(n_obs)]
    cells[1] = "Zellkern-ä"
    cells[2] = "细胞-2"
    obs = pd.DataFrame(index=pd.Index(cells))
    obs["label"] = [f"lab-{i}-ü" for i in range(n_obs)]
    obs["group"] = pd.Categorical([["Bündel", "细胞", "C"][i % 3] for i in range(n_obs)],
                                  categories=["Bündel", "细胞", "C", "unused"])
    obs.loc[obs.index[5], "group"] = np.nan
    obs["stage"] = pd.Categorical([["early", "mid", "late"][i % 3] for i in range(n_obs)],
                                  categories=["early", "mid", "late"], ordered=True)
    obs["cluster"] = pd.Categorical([i % 4 for i in range(n_obs)], categories=[0, 1, 2, 3, 7])
    obs["score"] = rng.normal(size=n_obs)
    obs.loc[obs.index[3], "score"] = np.nan
    obs["n_counts"] = counts.sum(axis=1).astype(np.int64)
    obs["n_genes"] = (counts > 0).sum(axis=1).astype(np.int32)
    obs["is_doublet"] = [i % 7 == 0 for i in range(n_obs)]
    obs["hours"] = pd.array([None if i % 5 == 0 else i * 2 for i in range(n_obs)], dtype="Int64")
    obs["passed"] = pd.array([None if i % 6 == 0 else i % 2 == 0 for i in range(n_obs)], dtype="boolean")
    obs["barcode_note"] = pd.array([None if i % 4 == 0 else f"note-{i}" for i in range(n_obs)], dtype="string")

    genes = [f"GENE{i}" for i in range(n_var)]
    var = pd.DataFrame(index=pd.Index(genes, name="gene_symbol"))
    var["gene_ids"] = [f"ENSG{i:011d}" for i in range(n_var)]
    var["feature_types"] = pd.Categorical(["Gene Expression"] * n_var)
    var["highly_variable"] = [i % 3 == 0 for i in range(n_var)]
    var["means"] = dense.mean(axis=0).astype(np.float32)

    adata = ad.AnnData(X=X, obs=obs, var=var)
    adata.layers["counts"] = sp.csr_matrix(counts)
    adata.layers["scaled"] = sp.csr_matrix(dense.astype(np.float64) * 0.5)
    adata.obsm["X_pca"] = rng.normal(size=(n_obs, 3)).astype(np.float32)
    adata.obsm["X_umap"] = rng.normal(size=(n_obs, 2))
    adata.varm["PCs"] = rng.normal(size=(n_var, 3))
    adata.uns["title"] = "Interop test — ünïcode"
    adata.uns["n_pcs"] = 3
    adata.uns["resolution"] = 0.75
    adata.uns["log1p_done"] = True
    adata.uns["ints"] = np.array([3, 1, 2], dtype=np.int64)
    adata.uns["floats"] = np.array([0.5, 1.25])
    adata.uns["names"] = np.array(["a", "β", "c"], dtype=object)
    adata.uns["neighbors"] = {"params": {"n_neighbors": 15, "method": "umap", "metric": "euclidean"}}
    adata.uns["grid"] = np.arange(6, dtype=np.int64).reshape(2, 3)
    return adata


def main():
    if len(sys.argv) != 3 or sys.argv[2] not in ("csr", "csc", "dense"):
        sys.exit("usage: anndata_make.py OUT.h5ad {csr|csc|dense}")
    ad.settings.allow_write_nullable_strings = True
    adata = build(sys.argv[2])
    # Keep string columns as strings (anndata would otherwise turn repetitive ones into categoricals).
    adata.write_h5ad(sys.argv[1], convert_strings_to_categoricals=False)
    sys.stdout.write(json.dumps(dump(ad.read_h5ad(sys.argv[1])), ensure_ascii=False, allow_nan=False))
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
