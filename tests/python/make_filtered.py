"""Writes the same small AnnData with several HDF5 compression filters, as
users' files come (h5py + hdf5plugin), plus an uncompressed reference.

    python make_filtered.py OUT_DIR
"""
import sys

import anndata
import hdf5plugin
import numpy as np
import scipy.sparse as sp

out = sys.argv[1]
X = sp.random(40, 25, density=0.3, format="csr", dtype=np.float32, random_state=7)
ad = anndata.AnnData(X=X)
ad.obs["group"] = ["a" if i % 3 else "b" for i in range(40)]
ad.write_h5ad(f"{out}/plain.h5ad")
for name, comp in [("lz4", hdf5plugin.LZ4()), ("bzip2", hdf5plugin.BZip2()), ("zstd", hdf5plugin.Zstd())]:
    ad.write_h5ad(f"{out}/{name}.h5ad", compression=comp)
