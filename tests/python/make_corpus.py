"""Writes a synthetic single-cell time course as an AnnData .h5ad, streaming.

The file has the anndata 0.12 on-disk layout (X as a csr_matrix group with
float32 data, int32 indices, int64 indptr; obs with `_index`, categorical
`time` and `cell_type`; var whose `_index` are real human Ensembl IDs, the
first --genes gene rows of the gc95M token dictionary), so `perturbgen
tokenise` and anndata/scanpy read the same bytes.

Memory stays bounded by one chunk: every dataset is resizable and grows as
blocks are appended, so 1,000,000+ cells need no more RAM than 10,000.

Counts are integer-valued float32 drawn so that gene selection and medians are
meaningful: a log-normal per-gene abundance profile, marker genes up-weighted
per cell type and per time point (so HVG with batch_key=time has real signal),
and per-entry values 1 + negative binomial around the gene's mean. The number
of stored values per cell varies (Poisson around --nnz-per-cell).

Deterministic: cells are generated in fixed blocks of BLOCK cells, each with
its own generator seeded by (--seed, block index), so the output depends only
on --seed and the shape arguments, not on --chunk.

    python tests/python/make_corpus.py OUT.h5ad --cells 1000000 [--genes 2000]
        [--nnz-per-cell 100] [--times 3] [--seed 0] [--chunk 100000]
        [--dictionary resources/gc95M/token_dictionary.tsv]
"""
import argparse
import os
import sys
import time

import h5py
import numpy as np

BLOCK = 8192  # cells per independently seeded generation block
N_CELL_TYPES = 5


def read_gene_ids(dictionary, n_genes):
    """The first n_genes Ensembl IDs with token id >= 4 (skips the specials)."""
    ids = []
    with open(dictionary, encoding="utf-8") as f:
        for line in f:
            key, _, token = line.rstrip("\n").partition("\t")
            if token and int(token) >= 4:
                ids.append(key)
                if len(ids) == n_genes:
                    break
    if len(ids) < n_genes:
        sys.exit(f"make_corpus: {dictionary}: only {len(ids)} gene rows, --genes asks for {n_genes}")
    return ids


def alias_table(w):
    """Vose's alias method: exact O(1) draws from the discrete weights w."""
    n = len(w)
    prob = w * (n / w.sum())
    alias = np.zeros(n, dtype=np.int64)
    small = [i for i in range(n) if prob[i] < 1.0]
    large = [i for i in range(n) if prob[i] >= 1.0]
    while small and large:
        s, g = small.pop(), large.pop()
        alias[s] = g
        prob[g] -= 1.0 - prob[s]
        (small if prob[g] < 1.0 else large).append(g)
    for i in small + large:  # leftovers are 1 up to rounding
        prob[i] = 1.0
    return prob, alias


class Profile:
    """Per-(time, cell type) gene sampling weights and per-time count means."""

    def __init__(self, n_genes, n_times, seed):
        rng = np.random.default_rng([seed, 0xC0DE])
        base = rng.lognormal(mean=0.0, sigma=1.0, size=n_genes)
        mean = rng.lognormal(mean=0.3, sigma=0.8, size=n_genes)  # NB mean above 1
        n_markers = max(1, n_genes // 40)
        type_markers = [rng.choice(n_genes, n_markers, replace=False) for _ in range(N_CELL_TYPES)]
        time_markers = [rng.choice(n_genes, n_markers, replace=False) for _ in range(n_times)]
        # Row c = t * N_CELL_TYPES + k of prob/alias samples genes for time t, type k.
        self.prob = np.empty((n_times * N_CELL_TYPES, n_genes))
        self.alias = np.empty((n_times * N_CELL_TYPES, n_genes), dtype=np.int64)
        self.mean = np.empty((n_times, n_genes))
        for t in range(n_times):
            self.mean[t] = mean
            self.mean[t, time_markers[t]] *= 3.0  # each state expresses its markers more strongly
            for k in range(N_CELL_TYPES):
                w = base.copy()
                w[type_markers[k]] *= 8.0
                w[time_markers[t]] *= 4.0
                self.prob[t * N_CELL_TYPES + k], self.alias[t * N_CELL_TYPES + k] = alias_table(w)
        # Time t holds a share proportional to (n_times - t): the first state is
        # the largest, so "source" and "state with most cells" coincide.
        tw = np.arange(n_times, 0, -1, dtype=float)
        self.time_p = tw / tw.sum()
        # Cell-type mix drifts with time (a differentiation-like shift).
        self.type_p = np.empty((n_times, N_CELL_TYPES))
        for t in range(n_times):
            centre = 0.0 if n_times == 1 else t * (N_CELL_TYPES - 1) / (n_times - 1)
            p = np.exp(-((np.arange(N_CELL_TYPES) - centre) ** 2) / 4.0)
            self.type_p[t] = p / p.sum()


def make_block(profile, n_cells, n_genes, nnz_per_cell, seed, block):
    """CSR arrays (indptr relative to 0, indices, data) + time and type codes."""
    rng = np.random.default_rng([seed, block])
    times = rng.choice(len(profile.time_p), size=n_cells, p=profile.time_p).astype(np.int8)
    u = rng.random(n_cells)
    types = (u[:, None] > np.cumsum(profile.type_p[times], axis=1)).sum(axis=1).astype(np.int8)
    types = np.minimum(types, N_CELL_TYPES - 1)
    k = np.clip(rng.poisson(nnz_per_cell, size=n_cells), 1, n_genes)
    # k distinct genes per cell: draw extra candidates with replacement from
    # the cell's weights, keep the first k distinct ones in draw order.
    n_draw = np.minimum(k + k // 2 + 8, 4 * n_genes)
    cell = np.repeat(np.arange(n_cells, dtype=np.int64), n_draw)
    combo = (times.astype(np.int64) * N_CELL_TYPES + types)[cell]
    j = rng.integers(0, n_genes, size=cell.size)
    gene = np.where(rng.random(cell.size) < profile.prob[combo, j], j, profile.alias[combo, j])
    key = cell * n_genes + gene
    order = np.argsort(key, kind="stable")  # by (cell, gene), ties in draw order
    sk = key[order]
    is_first = np.empty(sk.size, dtype=bool)
    is_first[0] = True
    np.not_equal(sk[1:], sk[:-1], out=is_first[1:])
    first = order[is_first]  # draw position of each distinct (cell, gene), CSR order
    flag = np.zeros(cell.size, dtype=bool)
    flag[first] = True
    by_draw = np.flatnonzero(flag)  # the same positions in draw order, without a sort
    draw_cell = cell[by_draw]
    rank = np.arange(by_draw.size) - np.searchsorted(draw_cell, np.arange(n_cells))[draw_cell]
    keep = np.zeros(cell.size, dtype=bool)
    keep[by_draw[rank < k[draw_cell]]] = True
    pos = first[keep[first]]  # kept draws, still in CSR order
    cell, gene = cell[pos], gene[pos]
    mu = profile.mean[times[cell], gene]
    r = 2.0  # NB dispersion: overdispersed like UMI counts
    counts = 1 + rng.negative_binomial(r, r / (r + mu))
    indptr = np.zeros(n_cells + 1, dtype=np.int64)
    np.cumsum(np.bincount(cell, minlength=n_cells), out=indptr[1:])
    return indptr, gene.astype(np.int32), counts.astype(np.float32), times, types


def str_dtype():
    return h5py.string_dtype(encoding="utf-8")


def set_enc(obj, kind, version):
    obj.attrs["encoding-type"] = kind
    obj.attrs["encoding-version"] = version


def write_string_array(group, name, values):
    ds = group.create_dataset(name, data=np.array(values, dtype=object), dtype=str_dtype())
    set_enc(ds, "string-array", "0.2.0")
    return ds


def growable(group, name, dtype, chunk):
    return group.create_dataset(name, shape=(0,), maxshape=(None,), dtype=dtype, chunks=(chunk,))


def append(ds, values):
    n = ds.shape[0]
    ds.resize((n + len(values),))
    ds[n:] = values


def categorical(obs, name, categories, chunk):
    g = obs.create_group(name)
    set_enc(g, "categorical", "0.2.0")
    g.attrs["ordered"] = False
    write_string_array(g, "categories", categories)
    return growable(g, "codes", np.int8, chunk)


def write_corpus(a):
    gene_ids = read_gene_ids(a.dictionary, a.genes)
    profile = Profile(a.genes, a.times, a.seed)
    width = max(7, len(str(a.cells)))
    time_names = [f"t{i}" for i in range(a.times)]
    type_names = [f"type{i}" for i in range(N_CELL_TYPES)]
    blocks_per_chunk = max(1, a.chunk // BLOCK)
    ds_chunk = 1 << 18
    tmp = a.output + ".partial"
    nnz = 0
    t0 = time.perf_counter()
    with h5py.File(tmp, "w") as f:
        set_enc(f, "anndata", "0.1.0")
        X = f.create_group("X")
        set_enc(X, "csr_matrix", "0.1.0")
        X.attrs["shape"] = np.array([a.cells, a.genes], dtype=np.int64)
        data = growable(X, "data", np.float32, ds_chunk)
        indices = growable(X, "indices", np.int32, ds_chunk)
        indptr = growable(X, "indptr", np.int64, ds_chunk)
        append(indptr, np.zeros(1, dtype=np.int64))

        obs = f.create_group("obs")
        set_enc(obs, "dataframe", "0.2.0")
        obs.attrs["_index"] = "_index"
        obs.attrs.create("column-order", ["time", "cell_type"], dtype=str_dtype())
        index = obs.create_dataset("_index", shape=(0,), maxshape=(None,), dtype=str_dtype(), chunks=(1 << 16,))
        set_enc(index, "string-array", "0.2.0")
        time_codes = categorical(obs, "time", time_names, ds_chunk)
        type_codes = categorical(obs, "cell_type", type_names, ds_chunk)

        var = f.create_group("var")
        set_enc(var, "dataframe", "0.2.0")
        var.attrs["_index"] = "_index"
        var.attrs["column-order"] = []  # what anndata writes for no columns (empty float64)
        write_string_array(var, "_index", gene_ids)
        for name in ("layers", "obsm", "obsp", "varm", "varp", "uns"):
            set_enc(f.create_group(name), "dict", "0.1.0")

        n_blocks = (a.cells + BLOCK - 1) // BLOCK
        for first_block in range(0, n_blocks, blocks_per_chunk):
            parts = []
            for b in range(first_block, min(n_blocks, first_block + blocks_per_chunk)):
                n = min(BLOCK, a.cells - b * BLOCK)
                parts.append((b * BLOCK, make_block(profile, n, a.genes, a.nnz_per_cell, a.seed, b)))
            for start, (ip, idx, val, tc, ty) in parts:
                append(indptr, ip[1:] + nnz)
                append(indices, idx)
                append(data, val)
                append(time_codes, tc)
                append(type_codes, ty)
                ids = np.array([f"c{i:0{width}d}" for i in range(start + 1, start + 1 + len(tc))], dtype=object)
                append(index, ids)
                nnz += int(ip[-1])
    os.replace(tmp, a.output)
    secs = time.perf_counter() - t0
    print(f"make_corpus: {a.output}: {a.cells} cells x {a.genes} genes, {nnz} stored values, "
          f"{secs:.1f} s ({a.cells / secs:,.0f} cells/s)")


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    default_dict = os.path.join(here, "..", "..", "resources", "gc95M", "token_dictionary.tsv")
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("output")
    ap.add_argument("--cells", type=int, default=1_000_000)
    ap.add_argument("--genes", type=int, default=2000)
    ap.add_argument("--nnz-per-cell", type=float, default=100.0)
    ap.add_argument("--times", type=int, default=3, help="number of time points t0..t{n-1}")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--chunk", type=int, default=100_000, help="cells buffered per write (memory bound)")
    ap.add_argument("--dictionary", default=default_dict, help="token_dictionary.tsv (gene rows: token id >= 4)")
    a = ap.parse_args()
    if a.cells < 1 or a.genes < 1 or a.times < 1 or a.nnz_per_cell <= 0:
        sys.exit("make_corpus: --cells, --genes, --times and --nnz-per-cell must be positive")
    if not os.path.exists(a.dictionary):
        sys.exit(f"make_corpus: {a.dictionary}: no such dictionary (pass --dictionary)")
    write_corpus(a)


if __name__ == "__main__":
    main()
