"""Expected values of the gene-program analysis (src/analysis/knn_graph,
leiden, score_genes, cluster_rows), computed with scanpy 1.11 on real data:
300 cells of the Paul et al. 2015 myeloid subset (shared/data/paul15_myeloid_subset,
240 genes, UMI counts).

scanpy's Leiden needs `leidenalg` (and python-igraph), which the project venv
does not have. This script ran in a throwaway venv layered on the project's
(the .pth file makes the project venv's scanpy 1.11.5 visible; leidenalg 0.12.0
and igraph 1.0.0 are installed into the throwaway one only):

    python3 -m venv /tmp/progenv
    echo $HOME/.cache/perturbgen/venv-<hash>/lib/python3.11/site-packages \\
        > /tmp/progenv/lib/python3.11/site-packages/perturbgen_main_venv.pth
    /tmp/progenv/bin/pip install -q leidenalg
    /tmp/progenv/bin/python tests/python/make_program_fixtures.py \\
        ../shared/data/paul15_myeloid_subset tests/data/programs/program_fixtures.json

The output is committed; the C++ tests (tests/analysis/*_test.cpp) read it and
need no Python at run time. What it holds:
  counts            300 x 240 UMI counts (the input of everything else)
  genes             the 240 gene symbols
  pca               30 principal components of normalize_total(1e4)+log1p,
                    rounded to 10 significant digits; scanpy's neighbours ran
                    on exactly these rounded values
  knn_indices       scanpy's 15 neighbours per cell (the cell itself first)
  connectivities    upper triangle (i < j) of obsp['connectivities'] as
                    [i, j, value] triplets (sc.pp.neighbors, method 'umap',
                    n_neighbors 15, exact neighbours since n_obs < 4096)
  leiden_leidenalg  sc.tl.leiden (flavor 'leidenalg', RBConfiguration,
                    resolution 1, n_iterations -1, random_state 0) on those
  leiden_igraph     sc.tl.leiden (flavor 'igraph', n_iterations 2)
  pipeline_labels   sc.pp.pca(50) + sc.pp.neighbors(15) + sc.tl.leiden on the
                    log-normalised data (what cluster_rows does), its
                    neighbours (pipeline_knn_indices), and the ARI between
                    those labels and scanpy's own with random states 1..7
                    (pipeline_seed_ari: Leiden's spread on these cells)
  score_sets        gene lists (column numbers) and sc.tl.score_genes results
                    (ctrl_size 50, n_bins 25) on the log-normalised data; with
                    240 genes a bin holds ~10 genes < ctrl_size, so scanpy takes
                    every gene of each bin and draws nothing: the script checks
                    that two random states give identical scores.
"""

import gzip
import json
import sys
from pathlib import Path

import anndata as ad
import numpy as np
import scanpy as sc
import scipy.io
from scipy import sparse
from sklearn.metrics import adjusted_rand_score

N_CELLS = 300


def read_dataset(folder: Path):
    with gzip.open(folder / "matrix.mtx.gz", "rb") as f:
        m = scipy.io.mmread(f).tocsc()  # genes x cells
    with gzip.open(folder / "features.tsv.gz", "rt") as f:
        genes = [line.split("\t")[1] for line in f.read().splitlines()]
    return m, genes


def main(folder: str, out: str) -> None:
    counts_gc, genes = read_dataset(Path(folder))
    rng = np.random.default_rng(0)
    cells = np.sort(rng.choice(counts_gc.shape[1], N_CELLS, replace=False))
    counts = np.asarray(counts_gc[:, cells].T.todense(), dtype=np.float64)

    adata = ad.AnnData(counts.copy())
    adata.var_names = genes
    sc.pp.normalize_total(adata, target_sum=1e4)
    sc.pp.log1p(adata)
    lognorm = adata.copy()

    # Neighbours and Leiden on rounded PCA coordinates (stored as given).
    sc.pp.pca(adata, n_comps=30)
    pca = np.array([[float(f"{v:.10g}") for v in row] for row in adata.obsm["X_pca"]])
    adata.obsm["X_pca"] = pca
    sc.pp.neighbors(adata, n_neighbors=15, use_rep="X_pca")
    conn = sparse.triu(adata.obsp["connectivities"], k=1).tocoo()
    dist = adata.obsp["distances"].tocsr()
    knn = []
    for i in range(N_CELLS):
        row = dist[i]
        order = np.argsort(row.data, kind="stable")
        knn.append([i] + [int(j) for j in row.indices[order]])
    sc.tl.leiden(adata, key_added="leiden_la", random_state=0)
    sc.tl.leiden(adata, key_added="leiden_ig", flavor="igraph", n_iterations=2, directed=False, random_state=0)

    # The whole pipeline on the log-normalised values, as cluster_rows runs it.
    pipe = lognorm.copy()
    sc.pp.pca(pipe, n_comps=50)
    sc.pp.neighbors(pipe, n_neighbors=15)
    sc.tl.leiden(pipe, random_state=0)
    pipe_dist = pipe.obsp["distances"].tocsr()
    pipe_knn = []
    for i in range(N_CELLS):
        row = pipe_dist[i]
        pipe_knn.append([i] + [int(j) for j in row.indices[np.argsort(row.data, kind="stable")]])
    # How much scanpy's own Leiden varies with its random state on this graph
    # (these cells are a continuum: 4 or 5 clusters depending on the seed).
    seed_ari = []
    for state in range(1, 8):
        sc.tl.leiden(pipe, random_state=state, key_added="other")
        seed_ari.append(float(adjusted_rand_score(pipe.obs["leiden"], pipe.obs["other"])))

    # score_genes: deterministic here (every bin smaller than ctrl_size).
    pick = np.random.default_rng(1)
    score_sets = []
    for size in (5, 12, 30, 1):
        cols = sorted(int(c) for c in pick.choice(len(genes), size, replace=False))
        scores = []
        for state in (0, 1):
            s = lognorm.copy()
            sc.tl.score_genes(s, [genes[c] for c in cols], ctrl_size=50, n_bins=25, random_state=state)
            scores.append(s.obs["score"].to_numpy())
        assert np.array_equal(scores[0], scores[1]), "score_genes sampled: not a deterministic setting"
        score_sets.append({"genes": cols, "scores": [float(v) for v in scores[0]]})

    fixture = {
        "source": "paul15_myeloid_subset, cells " + ",".join(str(c) for c in cells[:3]) + ",...",
        "scanpy": sc.__version__ if hasattr(sc, "__version__") else "",
        "genes": genes,
        "counts": [[int(v) for v in row] for row in counts],
        "pca": [[float(v) for v in row] for row in pca],
        "knn_indices": knn,
        "connectivities": [[int(i), int(j), float(v)] for i, j, v in zip(conn.row, conn.col, conn.data)],
        "leiden_leidenalg": [int(v) for v in adata.obs["leiden_la"]],
        "leiden_igraph": [int(v) for v in adata.obs["leiden_ig"]],
        "pipeline_labels": [int(v) for v in pipe.obs["leiden"]],
        "pipeline_knn_indices": pipe_knn,
        "pipeline_seed_ari": seed_ari,
        "score_sets": score_sets,
    }
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w") as f:
        json.dump(fixture, f, separators=(",", ":"))
        f.write("\n")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
