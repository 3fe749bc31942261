"""Reads an .h5ad with the real anndata and prints what anndata sees as JSON.

Used by the C++ interop tests (tests/io/h5ad_write_test.cpp): they write a
file with perturbgen's writer, run this script on it and compare every value.

    python anndata_check.py FILE.h5ad

Output keys: anndata_version, shape, X / layers (format, dtype, nnz, sum and
the stored entries as [row, col, value] triples in row-major order), obs / var
(index and, per column: dtype, values with null for NA/NaN, na positions,
categories, ordered, categories_dtype), obsm / varm (dtype, shape, flat
values), uns (values) and uns_types (python type of every uns leaf).
"""

import importlib.metadata
import json
import math
import sys

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp


def scalar(v):
    """A JSON-safe python value; NaN becomes None (positions are reported separately)."""
    if v is None or v is pd.NA:
        return None
    if isinstance(v, (np.bool_, bool)):
        return bool(v)
    if isinstance(v, (np.integer, int)):
        return int(v)
    if isinstance(v, (np.floating, float)):
        f = float(v)
        return None if math.isnan(f) else f
    return str(v)


def matrix(m):
    out = {"dtype": str(m.dtype)}
    if sp.issparse(m):
        out["format"] = m.format
        coo = sp.csr_matrix(m)
        coo.sort_indices()
        coo = coo.tocoo()
    else:
        out["format"] = "dense"
        coo = sp.coo_matrix(np.asarray(m))
    out["shape"] = [int(s) for s in m.shape]
    out["nnz"] = int(coo.nnz)
    out["sum"] = float(np.asarray(coo.data, dtype=np.float64).sum())
    order = np.lexsort((coo.col, coo.row))
    rows, cols = coo.row[order].tolist(), coo.col[order].tolist()
    # float32 -> float64 is exact, so the C++ side can compare float32 values exactly.
    values = coo.data[order].astype(np.float64 if coo.data.dtype.kind in "fc" else coo.data.dtype).tolist()
    values = [None if isinstance(v, float) and math.isnan(v) else v for v in values]
    out["entries"] = [list(e) for e in zip(rows, cols, values)]
    return out


def column(s):
    out = {"dtype": str(s.dtype)}
    na = pd.isna(s).to_numpy()
    out["na"] = [int(i) for i in np.flatnonzero(na)]
    if isinstance(s.dtype, pd.CategoricalDtype):
        out["categories"] = [scalar(c) for c in s.cat.categories]
        out["categories_dtype"] = str(s.cat.categories.dtype)
        out["ordered"] = bool(s.cat.ordered)
        out["codes"] = [int(c) for c in s.cat.codes]
    out["values"] = [None if na[i] else scalar(v) for i, v in enumerate(s.tolist())]
    return out


def frame(df):
    return {
        "index": [str(i) for i in df.index],
        "index_name": df.index.name,
        "columns": list(df.columns),
        "column": {c: column(df[c]) for c in df.columns},
    }


def dense(a):
    a = np.asarray(a)
    return {"dtype": str(a.dtype), "shape": [int(s) for s in a.shape],
            "values": [scalar(v) for v in a.ravel()]}


def uns_value(v):
    if isinstance(v, dict):
        return {k: uns_value(x) for k, x in v.items()}
    if isinstance(v, np.ndarray):
        return [uns_value(x) for x in v.tolist()] if v.ndim > 0 else scalar(v.item())
    if isinstance(v, (list, tuple)):
        return [uns_value(x) for x in v]
    return scalar(v)


def uns_type(v):
    if isinstance(v, dict):
        return {k: uns_type(x) for k, x in v.items()}
    if isinstance(v, np.ndarray):
        return f"ndarray[{v.dtype}]{list(v.shape)}"
    if isinstance(v, np.generic):
        return f"numpy[{v.dtype}]"
    return type(v).__name__


def dump(adata):
    return {
        "anndata_version": importlib.metadata.version("anndata"),
        "shape": [int(adata.n_obs), int(adata.n_vars)],
        "X": None if adata.X is None else matrix(adata.X),
        "layers": {k: matrix(v) for k, v in adata.layers.items()},
        "obs": frame(adata.obs),
        "var": frame(adata.var),
        "obsm": {k: dense(v) for k, v in adata.obsm.items()},
        "varm": {k: dense(v) for k, v in adata.varm.items()},
        "uns": uns_value(dict(adata.uns)),
        "uns_types": uns_type(dict(adata.uns)),
    }


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: anndata_check.py FILE.h5ad")
    adata = ad.read_h5ad(sys.argv[1])
    # dumps (C encoder) is many times faster than dump for large matrices.
    sys.stdout.write(json.dumps(dump(adata), ensure_ascii=False, allow_nan=False))
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
