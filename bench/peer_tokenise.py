"""The Python peer of bench_tokenise: the steps the reference PerturbGen runs
to tokenise a time course (pp/GF_tokenisation.py, pp/tokenizer.py and
src/utils.py at a9a9375; spec sections 2.2-2.6), on the same h5ad the C++
`perturbgen tokenise` gets. Prints one JSON object (per-step seconds, cells,
peak RSS, package versions) as the last line of stdout.

Steps, in the reference's order, with the reference's own calls:
  1. anndata.read_h5ad
  2. --genes hvg: layers['counts'] = X; normalize_total(1e4); log1p;
     highly_variable_genes(flavor='seurat', n_top_genes, batch_key=time);
     subset; X = counts                               (GF_tokenisation.py:204-232)
  3. obs cell_pairing_index, CSR X, obs n_counts = row sums of the selected
     genes; gene IDs upper-cased and mapped through the Ensembl mapping
     (restricted to dictionary genes), repeats summed, non-dictionary genes
     dropped; token -> row-id table in var order   (:290-320, tokenizer.py:204-395)
  4. rank-value encoding per chunk of 512 cells, numpy exactly as
     TranscriptomeTokenizer.tokenize_anndata (x / n_counts * 1e4 / median,
     csr, argsort(-v))                              (tokenizer.py:473-541)
  5. datasets.Dataset.from_dict + .map(format_cell_features): truncate to
     4094, insert <cls>=2 / <eos>=3, add `length`; save_to_disk
                                                      (tokenizer.py:632-685)
  6. load_from_disk; random pairing (np.random.seed(42); the state with most
     cells is the reference, every other state sampled with replacement)
                                                      (utils.py:1376-1529)
  7. dataset.map(map_input_ids_to_row_id); per state in --time-order:
     select(pairing) + save_to_disk (source: source-vocabulary ids, targets:
     row ids)                                         (GF_tokenisation.py:440-496)

Left out, all in the peer's favour: the reference writes the HVG-filtered
h5ad and reads it back twice (tokenizer and pairing), and writes one paired
counts h5ad per state through subset_adata, which densifies X. Duplicate gene
IDs are summed with one sparse product instead of the reference's per-chunk
pandas loop (also faster). Interpreter start-up and imports are outside the
timed region.

    python bench/peer_tokenise.py INPUT.h5ad --dictionary-dir DIR --out DIR
        --time-key time --time-order t0,t1,t2 [--source t0] [--genes all|hvg]
        [--n-hvg 2000] [--nproc 4] [--max-cells N] [--obs-keys a,b]
"""
import argparse
import json
import os
import resource
import shutil
import sys
import time
import warnings

T_START = time.perf_counter()

import anndata  # noqa: E402
import datasets  # noqa: E402
import h5py  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pyarrow  # noqa: E402
import scanpy as sc  # noqa: E402
import scipy  # noqa: E402
import scipy.sparse as sp  # noqa: E402
from datasets import Dataset, load_from_disk  # noqa: E402

IMPORT_SECONDS = time.perf_counter() - T_START
CHUNK = 512  # TranscriptomeTokenizer chunk_size
TARGET_SUM = 10_000
warnings.filterwarnings("ignore")


def read_tsv_dict(path, value_type):
    with open(path, encoding="utf-8") as f:
        return {k: value_type(v) for k, v in (line.rstrip("\n").split("\t") for line in f)}


def rank_genes(gene_vector, gene_tokens):
    """tokenizer.py: sort by median-scaled gene values (numpy default sort)."""
    sorted_indices = np.argsort(-gene_vector)
    return gene_tokens[sorted_indices]


def tokenize_anndata(adata, gene_median_dict, gene_token_dict, attrs):
    """TranscriptomeTokenizer.tokenize_anndata after sum_ensembl_ids."""
    ids = adata.var["ensembl_id_collapsed"]
    coding_miRNA_loc = np.where([i in gene_token_dict for i in ids])[0]
    norm_factor_vector = np.array([gene_median_dict[i] for i in ids.iloc[coding_miRNA_loc]])
    coding_miRNA_tokens = np.array([gene_token_dict[i] for i in ids.iloc[coding_miRNA_loc]])
    filter_pass_loc = np.array([i for i in range(adata.shape[0])])
    tokenized_cells = []
    metadata = {k: [] for k in attrs}
    for i in range(0, len(filter_pass_loc), CHUNK):
        idx = filter_pass_loc[i : i + CHUNK]
        n_counts = adata[idx].obs["n_counts"].values[:, None]
        X_view0 = adata[idx, :].X
        X_view = X_view0[:, coding_miRNA_loc]
        X_norm = X_view / n_counts * TARGET_SUM / norm_factor_vector
        X_norm = sp.csr_matrix(X_norm)
        tokenized_cells += [
            rank_genes(X_norm[j].data, coding_miRNA_tokens[X_norm[j].indices]) for j in range(X_norm.shape[0])
        ]
        for k in attrs:
            metadata[k] += adata[idx].obs[k].tolist()
    return tokenized_cells, metadata


def create_dataset(tokenized_cells, metadata, nproc, model_input_size=4096):
    """TranscriptomeTokenizer.create_dataset (special_token=True)."""
    dataset_dict = {"input_ids": tokenized_cells}
    dataset_dict.update(metadata)
    output_dataset = Dataset.from_dict(dataset_dict)

    def format_cell_features(example):
        example["input_ids"] = example["input_ids"][0 : model_input_size - 2]
        example["input_ids"] = np.insert(example["input_ids"], 0, 2)  # <cls>
        example["input_ids"] = np.insert(example["input_ids"], len(example["input_ids"]), 3)  # <eos>
        example["length"] = len(example["input_ids"])
        return example

    return output_dataset.map(format_cell_features, num_proc=nproc)


def pairing_random(obs, time_obs, seed_no=42):
    """pairing_src_to_tgt_cells(pairing_mode='random')."""
    np.random.seed(seed_no)
    adata_obs_ = obs.copy().reset_index()
    cell_pairings, obs_dict = {}, {}
    max_rows, max_reference_time = 0, None
    for t in adata_obs_[time_obs].unique():
        obs_dict[t] = adata_obs_.loc[adata_obs_[time_obs] == t, :]
        cell_pairings[t] = []
        if len(obs_dict[t]) > max_rows:
            max_rows, max_reference_time = len(obs_dict[t]), t
    ref_adata = obs_dict[max_reference_time]
    cell_pairings[max_reference_time] = ref_adata.index.tolist()
    del obs_dict[max_reference_time]
    for rest_time, adata_ in obs_dict.items():
        cell_pairings[rest_time] = np.random.choice(adata_.index, len(ref_adata), replace=True).tolist()
    return cell_pairings


def map_input_ids_to_row_id(example, token_id_to_row_id_dict):
    example["input_ids"] = [token_id_to_row_id_dict.get(item, item) for item in example["input_ids"]]
    return example


def collapse_gene_ids(adata, mapping):
    """sum_ensembl_ids: upper-case, map, drop unmapped, sum repeats."""
    collapsed = adata.var_names.str.upper().map(mapping)
    keep = np.flatnonzero(~pd.isna(collapsed))
    adata = adata[:, keep].copy()
    ids = pd.Index(collapsed[keep])
    if ids.is_unique:
        adata.var["ensembl_id_collapsed"] = ids.values
        return adata
    uniq, inverse = np.unique(ids.values, return_inverse=True)
    agg = sp.csr_matrix((np.ones(len(ids), dtype=adata.X.dtype), (np.arange(len(ids)), inverse)))
    X = sp.csr_matrix(adata.X @ agg)
    return anndata.AnnData(X=X, obs=adata.obs, var=pd.DataFrame({"ensembl_id_collapsed": uniq}, index=uniq))


def run(a):
    steps = {}
    t = time.perf_counter()

    def lap(name):
        nonlocal t
        now = time.perf_counter()
        steps[name] = now - t
        t = now

    token_dict = read_tsv_dict(os.path.join(a.dictionary_dir, "token_dictionary.tsv"), int)
    gene_median = read_tsv_dict(os.path.join(a.dictionary_dir, "gene_median.tsv"), float)
    mapping = read_tsv_dict(os.path.join(a.dictionary_dir, "ensembl_mapping.tsv"), str)
    mapping = {k: v for k, v in mapping.items() if v in token_dict}
    lap("dictionaries")

    if a.max_cells:  # a prefix of the rows, for extrapolated runs on large inputs
        adata = anndata.read_h5ad(a.input, backed="r")[: a.max_cells].to_memory()
    else:
        adata = anndata.read_h5ad(a.input)
    lap("read_h5ad")

    time_obs = a.time_key
    if a.genes == "hvg":
        adata.layers["counts"] = adata.X.copy()
        sc.pp.normalize_total(adata, target_sum=1e4)
        sc.pp.log1p(adata)
        sc.pp.highly_variable_genes(adata, n_top_genes=a.n_hvg, batch_key=time_obs)
        adata = adata[:, adata.var["highly_variable"]].copy()
        adata.X = adata.layers["counts"]
        del adata.layers["counts"]
        lap("hvg")

    adata.obs["cell_pairing_index"] = range(adata.shape[0])
    adata.obs.index = adata.obs["cell_pairing_index"].astype(str)
    adata.obs.index.name = None
    if not sp.issparse(adata.X):
        adata.X = sp.csr_matrix(adata.X)
    adata.obs["n_counts"] = np.asarray(adata.X.sum(axis=1)).ravel()
    adata = collapse_gene_ids(adata, mapping)
    # tokenid_mapping: row ids 4.. in var order, specials unchanged.
    token_ids = [token_dict[g] for g in adata.var["ensembl_id_collapsed"]]
    token_id_to_row_id = dict(zip(token_ids, range(4, 4 + len(token_ids))))
    token_id_to_row_id.update({i: i for i in range(4)})
    lap("genes_and_n_counts")

    attrs = [time_obs] + [k for k in a.obs_keys if k != time_obs] + ["cell_pairing_index"]
    tokenized_cells, metadata = tokenize_anndata(adata, gene_median, token_dict, attrs)
    lap("rank_value_encoding")

    dataset = create_dataset(tokenized_cells, metadata, a.nproc)
    lap("dataset_from_dict_map")
    del tokenized_cells
    out = os.path.join(a.out, "dataset")
    dataset.save_to_disk(os.path.join(out, "all.dataset"))
    lap("save_to_disk")

    dataset = load_from_disk(os.path.join(out, "all.dataset"))
    cell_pairings = pairing_random(adata.obs, time_obs)
    lap("pairing")
    dataset_mapped = dataset.map(lambda ex: map_input_ids_to_row_id(ex, token_id_to_row_id), num_proc=a.nproc)
    lap("row_id_map")
    n_tgt = 1
    for time_point in a.time_order:
        if time_point == a.source:
            dataset.select(cell_pairings[time_point]).save_to_disk(os.path.join(out + "_src", f"{time_point}.dataset"))
        else:
            dataset_mapped.select(cell_pairings[time_point]).save_to_disk(
                os.path.join(out + "_tgt", f"{n_tgt}_{time_point}.dataset"))
            n_tgt += 1
    lap("select_save")

    lengths = np.asarray(dataset["length"])
    self_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    child_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return {
        "cells": int(adata.shape[0]),
        "genes": int(adata.shape[1]),
        "pairs": len(cell_pairings[a.source]),
        "mean_length": float(lengths.mean()),
        "seconds": sum(steps.values()),
        "steps": steps,
        "import_seconds": IMPORT_SECONDS,
        "peak_rss_mib": max(self_kib, child_kib) / 1024.0,
        "peak_rss_self_mib": self_kib / 1024.0,
        "peak_rss_children_mib": child_kib / 1024.0,
        "versions": {m.__name__: m.__version__ for m in (np, pd, scipy, anndata, h5py, sc, datasets, pyarrow)},
        "nproc": a.nproc,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("input")
    ap.add_argument("--dictionary-dir", required=True, help="token_dictionary.tsv, gene_median.tsv, ensembl_mapping.tsv")
    ap.add_argument("--out", required=True, help="scratch folder for the datasets (replaced)")
    ap.add_argument("--time-key", required=True)
    ap.add_argument("--time-order", required=True, type=lambda s: s.split(","))
    ap.add_argument("--source", default=None, help="reference (source) state; default: first of --time-order")
    ap.add_argument("--genes", choices=["all", "hvg"], default="all")
    ap.add_argument("--n-hvg", type=int, default=2000)
    ap.add_argument("--nproc", type=int, default=4, help="datasets .map workers (the reference uses 4)")
    ap.add_argument("--max-cells", type=int, default=0, help="only the first N cells (for extrapolated runs)")
    ap.add_argument("--obs-keys", type=lambda s: [k for k in s.split(",") if k], default=[])
    a = ap.parse_args()
    a.source = a.source or a.time_order[0]
    datasets.disable_progress_bars()
    if os.path.exists(a.out):
        shutil.rmtree(a.out)
    os.makedirs(a.out)
    try:
        res = run(a)
    finally:
        shutil.rmtree(a.out, ignore_errors=True)
    print(json.dumps(res))


if __name__ == "__main__":
    sys.exit(main())
