#!/usr/bin/env python3
"""Companion of scripts/perturb_acceptance: gene selection, input preparation and the
report tables of the two in-silico perturbation checks (numpy, scipy, anndata only).

  perturb_acceptance_report.py hsmm-select  DATA_DIR STORE_DIR SENTENCE_DIR OUT_DIR [N_RANDOM] [SEED]
  perturb_acceptance_report.py crispr-prep  DATA_DIR OUT_DIR [N_CLUSTERS]
  perturb_acceptance_report.py hsmm-report  OUT_DIR      (writes OUT_DIR/hsmm_report.md)
  perturb_acceptance_report.py crispr-report OUT_DIR     (writes OUT_DIR/crispr_report.md)
"""
import csv
import glob
import gzip
import os
import re
import sys

import numpy as np
import scipy.cluster.vq
import scipy.io
import scipy.sparse as sp
import scipy.stats as st

# Myogenic regulators tried as knock-outs (kept if some source sentence holds them) and the
# differentiation markers whose predicted log2 fold change is reported.
REGULATORS = ["MYOD1", "MYF5", "MYF6", "MYOG", "MEF2C"]
MARKERS = ["MYOG", "MYH3", "MYH8", "TNNT1", "TNNT2", "TNNI1", "DES", "CKM", "MYL1", "MYL4", "ACTA1",
           "CHRNA1"]
# Kept out of the random comparison genes: known muscle / differentiation genes.
MUSCLE_PREFIXES = ("MYO", "MYH", "MYL", "MYF", "MEF2", "TNN", "ACT", "CHRN", "SGC", "CDH15", "CAV3", "CKM",
                   "DES", "TTN", "NEB", "RYR1", "CASQ", "MYMK")
MUSCLE_RELATED = ["CDKN1A", "ID1", "ID2", "ID3", "PAX3", "PAX7", "SIX1", "CDK1"]
# Combinations of the HSMM perturbation runs: (folder, mode, validation).
HSMM_RUNS = [("delete_generate", "delete", "generate"), ("delete_inference", "delete", "inference"),
             ("mask_generate", "mask", "generate"), ("mask_inference", "mask", "inference")]
CRISPR_RUNS = [("delete_inference", "inference"), ("delete_generate", "generate")]


# ----------------------------------------------------------------------------------------------
# helpers

def read_tsv(path):
    with open(path) as f:
        return list(csv.DictReader(f, delimiter="\t"))


def write_tsv(path, rows, columns):
    with open(path, "w") as f:
        f.write("\t".join(columns) + "\n")
        for r in rows:
            f.write("\t".join(str(r[c]) for c in columns) + "\n")


def read_10x(folder):
    """cells x genes CSR, gene symbols (column 2 of features), obs rows (dicts)."""
    m = scipy.io.mmread(os.path.join(folder, "matrix.mtx.gz")).T.tocsr()
    with gzip.open(os.path.join(folder, "features.tsv.gz"), "rt") as f:
        feats = [line.rstrip("\n").split("\t") for line in f]
    with gzip.open(os.path.join(folder, "obs.tsv.gz"), "rt") as f:
        obs = list(csv.DictReader(f, delimiter="\t"))
    return m, [x[0] for x in feats], [x[1] for x in feats], obs


def log_normalise(x):
    """normalize_total(1e4) + log1p of a dense or sparse cells x genes matrix (dense result)."""
    x = x.toarray() if sp.issparse(x) else np.asarray(x)
    x = x.astype(np.float64)
    tot = x.sum(axis=1, keepdims=True)
    tot[tot == 0] = 1
    return np.log1p(x / tot * 1e4)


def percentile(x, null):
    """Empirical percentile of x among the null values (ties count half)."""
    null = np.asarray([v for v in null if np.isfinite(v)])
    if not np.isfinite(x) or len(null) == 0:
        return float("nan")
    return 100.0 * (np.sum(null < x) + 0.5 * np.sum(null == x)) / len(null)


def fmt(v, digits=3):
    if v is None or (isinstance(v, float) and not np.isfinite(v)):
        return "–"
    return f"{v:.{digits}g}"


def table(header, rows, align=None):
    align = align or ["---"] + ["---:"] * (len(header) - 1)
    out = ["| " + " | ".join(header) + " |", "| " + " | ".join(align) + " |"]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


def read_sentences(folder):
    """store-info --cell outputs: {cell index: [(rank, gene_id, gene_name), ...]} (no specials)."""
    cells = {}
    for path in glob.glob(os.path.join(folder, "*.tsv")):
        idx = int(os.path.basename(path)[:-4])
        genes = []
        with open(path) as f:
            next(f)
            next(f)
            for line in f:
                p = line.rstrip("\n").split("\t")
                if p[2].startswith("<"):
                    continue
                genes.append((int(p[0]), p[2], p[3] if len(p) > 3 else ""))
        cells[idx] = genes
    return cells


def perturb_file(folder, gene, validation, mode):
    path = os.path.join(folder, f"m{validation}_g{gene}_ssrc_t{mode}.h5ad")
    return path if os.path.exists(path) else None


# ----------------------------------------------------------------------------------------------
# HSMM: gene selection

def hsmm_select(data, store, sent_dir, out, n_random=20, seed=42):
    rng = np.random.default_rng(seed)
    genes = read_tsv(os.path.join(store, "genes.tsv"))
    name_of = {g["gene_id"]: g["gene_name"] for g in genes}
    names = [g["gene_name"] for g in genes]
    cells = read_sentences(sent_dir)
    n_src = len(cells)
    max_len = max(len(v) for v in cells.values())
    held, relrank = {}, {}
    for genes_c in cells.values():
        L = len(genes_c)
        for rank, gid, _ in genes_c:
            held[gid] = held.get(gid, 0) + 1
            relrank.setdefault(gid, []).append(rank / L)
    # raw 0 h expression (FPKM) for the record
    m, ids, syms, obs = read_10x(data)
    src = np.array([o["Hours"] == "0" for o in obs])
    m0 = m[src]
    raw_frac = {ids[j].split(".")[0]: f for j, f in enumerate(np.asarray((m0 > 0).mean(axis=0)).ravel())}
    raw_mean = {ids[j].split(".")[0]: f for j, f in enumerate(np.asarray(m0.mean(axis=0)).ravel())}
    id_of = {g["gene_name"]: g["gene_id"] for g in genes if names.count(g["gene_name"]) == 1}

    def label(gid):
        n = name_of.get(gid, "")
        return n if n and names.count(n) == 1 else gid

    rows = []
    regs = [r for r in REGULATORS if r in id_of and held.get(id_of[r], 0) > 0]
    excluded = set(id_of[g] for g in REGULATORS + MARKERS + MUSCLE_RELATED if g in id_of)
    pool = [gid for gid in held if gid not in excluded and held[gid] >= 5
            and not name_of.get(gid, "").startswith(MUSCLE_PREFIXES)]
    feats = {gid: (held[gid] / n_src, float(np.mean(relrank[gid]))) for gid in held}
    fp = np.array([feats[g] for g in pool])
    sd = fp.std(axis=0)
    matchable = [r for r in regs if held[id_of[r]] >= 10]
    per = int(np.ceil(n_random / max(1, len(matchable))))
    chosen = {}
    for r in matchable:
        f = np.array(feats[id_of[r]])
        d = np.sqrt((((fp - f) / sd) ** 2).sum(axis=1))
        near = [pool[i] for i in np.argsort(d, kind="stable") if pool[i] not in chosen][:30]
        for gid in rng.choice(near, size=min(per, len(near)), replace=False):
            chosen[gid] = r
        if len(chosen) >= n_random:
            break
    chosen = dict(list(chosen.items())[:n_random])
    for role, gids in (("regulator", [id_of[r] for r in regs]), ("random", list(chosen))):
        for gid in gids:
            rows.append(dict(gene=label(gid), gene_id=gid, symbol=name_of.get(gid, ""), role=role,
                             matched_to=chosen.get(gid, "") if role == "random" else "",
                             n_source_sentences=held.get(gid, 0), n_source_cells=n_src,
                             mean_relative_rank=f"{feats[gid][1]:.4f}",
                             raw_frac_expressed_0h=f"{raw_frac.get(gid, float('nan')):.4f}",
                             raw_mean_fpkm_0h=f"{raw_mean.get(gid, float('nan')):.3f}"))
    os.makedirs(out, exist_ok=True)
    cols = ["gene", "gene_id", "symbol", "role", "matched_to", "n_source_sentences", "n_source_cells",
            "mean_relative_rank", "raw_frac_expressed_0h", "raw_mean_fpkm_0h"]
    write_tsv(os.path.join(out, "selection.tsv"), rows, cols)
    with open(os.path.join(out, "genes_regulators.txt"), "w") as f:
        f.write("\n".join(r["gene"] for r in rows if r["role"] == "regulator") + "\n")
    with open(os.path.join(out, "genes_all.txt"), "w") as f:
        f.write("\n".join(r["gene"] for r in rows) + "\n")
    with open(os.path.join(out, "markers.txt"), "w") as f:
        f.write("\n".join(g for g in MARKERS if g in id_of) + "\n")
    print(f"hsmm-select: {len(regs)} regulators ({', '.join(regs)}), {len(chosen)} matched random genes; "
          f"longest source sentence {max_len} genes")


# ----------------------------------------------------------------------------------------------
# HSMM: report

def hsmm_effects(path, markers):
    """Per time point: per-cell shifts (1 - cos), log2 fold change of each marker (pseudo-count 1)."""
    import anndata as ad
    a = ad.read_h5ad(path)
    var = list(a.var["gene_name"]) if "gene_name" in a.var else list(a.var_names)
    X = a.X.toarray() if sp.issparse(a.X) else np.asarray(a.X)
    C = a.layers["pred_counts"]
    C = C.toarray() if sp.issparse(C) else np.asarray(C)
    cos = np.asarray(a.obsm["mean_cos_similarity"], dtype=np.float64).reshape(len(a), -1)[:, 0]
    tp = np.asarray(a.obs["time_point"]).astype(str)
    res = {}
    for t in sorted(set(tp), key=lambda s: float(s) if re.match(r"^[0-9.]+$", s) else s):
        k = tp == t
        lfc = {}
        for g in markers:
            if g in var:
                j = var.index(g)
                lfc[g] = float(np.log2((X[k, j].astype(np.float64).mean() + 1) / (C[k, j].astype(np.float64).mean() + 1)))
        allg = np.log2((X[k].astype(np.float64).mean(axis=0) + 1) / (C[k].astype(np.float64).mean(axis=0) + 1))
        res[t] = dict(n=int(k.sum()), shift=1 - cos[k], lfc=lfc, all_median=float(np.median(allg)))
    return res


def hsmm_report(out):
    d = os.path.join(out, "hsmm")
    sel = read_tsv(os.path.join(d, "selection.tsv"))
    markers = [l.strip() for l in open(os.path.join(d, "markers.txt")) if l.strip()]
    regs = [r["gene"] for r in sel if r["role"] == "regulator"]
    rand = [r["gene"] for r in sel if r["role"] == "random"]
    lines = ["# HSMM myoblast differentiation: in-silico knock-out of myogenic regulators", ""]
    lines.append("Source = 0 h cells (GM); predicted states 24/48/72 h. Per-cell embedding shift = 1 − cos(perturbed, "
                 "control mean-pooled embedding) of the cells whose source sentence holds the gene; "
                 "CI = bootstrap 95 % interval over cells (`perturb --bootstrap`). "
                 "pct = empirical percentile among the matched random genes (100 = larger than all of them). "
                 "|LFC| = mean over the markers of |log2((mean perturbed + 1)/(mean control + 1))| of the predicted "
                 f"counts; markers: {', '.join(markers)}.")
    lines.append("")
    lines.append("## Regulators in the 0 h source cells")
    lines.append("")
    rows = []
    for r in sel:
        if r["role"] == "regulator":
            rows.append([r["gene"], f"{float(r['raw_frac_expressed_0h']) * int(r['n_source_cells']):.0f}",
                         r["n_source_sentences"], r["n_source_cells"], fmt(float(r["raw_mean_fpkm_0h"])),
                         fmt(float(r["mean_relative_rank"]), 2)])
    lines.append(table(["gene", "0 h cells with FPKM > 0", "source sentences holding it", "source cells",
                        "mean FPKM at 0 h", "mean relative rank in sentence"], rows))
    rnd = [r for r in sel if r["role"] == "random"]
    few = [r["gene"] for r in sel if r["role"] == "regulator" and int(r["n_source_sentences"]) < 5]
    if few:
        lines.append("")
        lines.append(f"{', '.join(few)}: held by fewer than 5 source sentences; its numbers rest on those few cells "
                     "(the random genes are held by at least 5), so its percentiles mean little.")
    lines.append("")
    lines.append(f"Random genes ({len(rnd)}, matched to the regulators by frequency in source sentences and mean "
                 "relative rank; excluding regulators and markers): " +
                 ", ".join(f"{r['gene']} ({r['n_source_sentences']}, ~{r['matched_to']})" for r in rnd) + ".")
    summary_rows = []
    for folder, mode, val in HSMM_RUNS:
        pdir = os.path.join(d, "perturb", folder)
        if not os.path.isdir(pdir):
            continue
        eff = {}
        for g in regs + rand:
            p = perturb_file(pdir, g, val, mode)
            if p:
                eff[g] = hsmm_effects(p, markers)
        summ = {}
        if os.path.exists(os.path.join(pdir, "summary.tsv")):
            for r in read_tsv(os.path.join(pdir, "summary.tsv")):
                summ[(r["genes"], r["time_point"])] = r
        times = sorted({t for e in eff.values() for t in e}, key=float)
        have_rand = [g for g in rand if g in eff]
        lines.append("")
        lines.append(f"## `--mode {mode}`, `--validation {val}` ({len(have_rand)} random genes)")
        lines.append("")
        rows = []
        for t in times:
            rs = [float(np.mean(eff[g][t]["shift"])) for g in have_rand if t in eff[g]]
            rl = [float(np.mean(np.abs(list(eff[g][t]["lfc"].values())))) for g in have_rand if t in eff[g]]
            for g in [x for x in regs if x in eff and t in eff[x]]:
                e = eff[g][t]
                s = float(np.mean(e["shift"]))
                sm = summ.get((g, t)) or next((v for (gg, tt), v in summ.items()
                                               if tt == t and g in gg.split(",")), None)
                ci = f"[{fmt(float(sm['shift_ci_low']))}, {fmt(float(sm['shift_ci_high']))}]" if sm else "–"
                l = float(np.mean(np.abs(list(e["lfc"].values()))))
                rows.append([g, t, e["n"], fmt(s), ci, fmt(percentile(s, rs), 3), fmt(l), fmt(percentile(l, rl), 3)])
                summary_rows.append(dict(run=folder, gene=g, t=t, shift_pct=percentile(s, rs),
                                         lfc_pct=percentile(l, rl)))
            if rs:
                rows.append([f"random ({len(rs)}): median [min, max]", t,
                             f"{int(np.median([eff[g][t]['n'] for g in have_rand if t in eff[g]]))}",
                             fmt(float(np.median(rs))), f"[{fmt(min(rs))}, {fmt(max(rs))}]", "",
                             f"{fmt(float(np.median(rl)))} [{fmt(min(rl))}, {fmt(max(rl))}]", ""])
        lines.append(table(["gene", "time", "cells", "shift 1−cos", "95 % CI", "shift pct", "marker |LFC|",
                            "|LFC| pct"], rows))
        # marker log2FCs of the regulators, next to the random genes' spread
        lines.append("")
        lines.append(f"Predicted marker log2 fold change (perturbed vs control), `{mode}`/`{val}`; last row per time: "
                     "random genes' median |LFC| (max); last column: median log2FC over all count genes (a global shift).")
        lines.append("")
        rows = []
        for t in times:
            for g in [x for x in regs if x in eff and t in eff[x]]:
                rows.append([g, t] + [f"{eff[g][t]['lfc'].get(m, float('nan')):+.3f}" for m in markers] +
                            [f"{eff[g][t]['all_median']:+.3f}"])
            if have_rand:
                cells = []
                for m in markers:
                    v = [abs(eff[g][t]["lfc"][m]) for g in have_rand if t in eff[g] and m in eff[g][t]["lfc"]]
                    cells.append(f"{np.median(v):.3f} ({max(v):.3f})" if v else "–")
                am = [abs(eff[g][t]["all_median"]) for g in have_rand if t in eff[g]]
                rows.append(["random |LFC|", t] + cells + [f"{np.median(am):.3f} ({max(am):.3f})"])
        lines.append(table(["gene", "time"] + markers + ["median LFC, all genes"], rows))
        with open(os.path.join(d, f"effects_{folder}.tsv"), "w") as f:
            f.write("\t".join(["gene", "role", "time_point", "n_cells", "mean_shift", "mean_abs_marker_lfc",
                               "median_lfc_all_genes"] + [f"lfc_{m}" for m in markers]) + "\n")
            for g in regs + rand:
                for t in eff.get(g, {}):
                    e = eff[g][t]
                    f.write("\t".join([g, "regulator" if g in regs else "random", t, str(e["n"]),
                                       f"{np.mean(e['shift']):.6g}",
                                       f"{np.mean(np.abs(list(e['lfc'].values()))):.6g}", f"{e['all_median']:.6g}"] +
                                      [f"{e['lfc'].get(m, float('nan')):.6g}" for m in markers]) + "\n")
    if summary_rows:
        lines.append("")
        lines.append("## Summary: mean percentile of the regulators among the random genes (50 = typical random gene)")
        lines.append("")
        rows = []
        for folder, _, _ in HSMM_RUNS:
            sr = [r for r in summary_rows if r["run"] == folder and np.isfinite(r["shift_pct"])]
            if sr:
                rows.append([folder, len(sr), fmt(float(np.nanmean([r["shift_pct"] for r in sr])), 3),
                             fmt(float(np.nanmean([r["lfc_pct"] for r in sr])), 3)])
        lines.append(table(["run", "regulator x time", "mean shift pct", "mean marker |LFC| pct"], rows))
    text = "\n".join(lines) + "\n"
    with open(os.path.join(out, "hsmm_report.md"), "w") as f:
        f.write(text)
    print(text)


# ----------------------------------------------------------------------------------------------
# CRISPR: preparation and report

def crispr_load(data):
    m, _, syms, obs = read_10x(data)
    pert = np.array([o["perturbation"] for o in obs])
    assigned = np.array([o["assigned"] == "TRUE" for o in obs])
    rep = np.array([o["bio_rep"] for o in obs])
    cells = [o["cell_id"] for o in obs]
    return m, syms, pert, assigned, rep, cells


def crispr_prep(data, out, n_clusters=12):
    import anndata as ad
    import pandas as pd
    m, syms, pert, assigned, rep, cells = crispr_load(data)
    ctrl = assigned & (pert == "control")
    state = np.where(rep == "rep_1", "src", "tgt")
    idx = np.where(ctrl)[0]
    # Cell-state clusters of the control cells (k-means on 20 PCs of log-normalised counts): with
    # `--pairing stratified --group-key cluster` a source cell is paired with a target cell of the
    # same cluster, so the source sentence carries information about the target.
    x = log_normalise(m[idx])
    x = x - x.mean(axis=0)
    u, s, _ = np.linalg.svd(x, full_matrices=False)
    pcs = u[:, :20] * s[:20]
    np.random.seed(0)
    _, lab = scipy.cluster.vq.kmeans2(pcs, n_clusters, minit="++", seed=0)
    a = ad.AnnData(X=m[idx].astype(np.float32),
                   obs=pd.DataFrame({"state": pd.Categorical(state[idx], categories=["src", "tgt"]),
                                     "bio_rep": pd.Categorical(rep[idx]),
                                     "cluster": pd.Categorical([f"k{c:02d}" for c in lab])},
                                    index=[cells[i] for i in idx]),
                   var=pd.DataFrame(index=syms))
    os.makedirs(out, exist_ok=True)
    a.write_h5ad(os.path.join(out, "controls.h5ad"))
    src = m[idx[state[idx] == "src"]]
    frac = np.asarray((src > 0).mean(axis=0)).ravel()
    rows = []
    for t in sorted(set(pert) - {"control", "unassigned"}):
        n = int((assigned & (pert == t)).sum())
        if t in syms:
            j = syms.index(t)
            rows.append(dict(target=t, n_ko_cells=n, in_genes=1, src_frac_expressed=f"{frac[j]:.4f}",
                             n_src_expressing=int(round(frac[j] * src.shape[0]))))
        else:
            rows.append(dict(target=t, n_ko_cells=n, in_genes=0, src_frac_expressed="nan", n_src_expressing=0))
    write_tsv(os.path.join(out, "targets.tsv"), rows,
              ["target", "n_ko_cells", "in_genes", "src_frac_expressed", "n_src_expressing"])
    ev = [r["target"] for r in rows if r["in_genes"] and r["n_src_expressing"] >= 20 and r["n_ko_cells"] >= 30]
    with open(os.path.join(out, "targets_evaluated.txt"), "w") as f:
        f.write("\n".join(ev) + "\n")
    print(f"crispr-prep: {len(idx)} control cells ({int((state[idx] == 'src').sum())} source rep_1, "
          f"{int((state[idx] == 'tgt').sum())} target rep_2/3); {n_clusters} clusters, source/target cells: "
          + " ".join(f"{int(((lab == c) & (state[idx] == 'src')).sum())}/{int(((lab == c) & (state[idx] == 'tgt')).sum())}"
                     for c in range(n_clusters)) + f"; evaluated targets: {', '.join(ev)}")


def predicted_delta(path):
    import anndata as ad
    a = ad.read_h5ad(path)
    var = list(a.var["gene_name"]) if "gene_name" in a.var else list(a.var_names)
    P = log_normalise(a.X)
    C = log_normalise(a.layers["pred_counts"])
    return var, P.mean(axis=0) - C.mean(axis=0), len(a)


def pearson(x, y):
    if np.std(x) == 0 or np.std(y) == 0:
        return float("nan")
    return float(np.corrcoef(x, y)[0, 1])


def crispr_report(out):
    d = os.path.join(out, "crispr")
    data = open(os.path.join(d, "data_dir.txt")).read().strip()
    m, syms, pert, assigned, rep, _ = crispr_load(data)
    ln = log_normalise(m)
    ctrl = assigned & (pert == "control")
    mc = ln[ctrl].mean(axis=0)
    targets = sorted(set(pert[assigned]) - {"control"})
    obs_delta = {t: ln[assigned & (pert == t)].mean(axis=0) - mc for t in targets}
    n_ko = {t: int((assigned & (pert == t)).sum()) for t in targets}
    ev = [l.strip() for l in open(os.path.join(d, "targets_evaluated.txt")) if l.strip()]
    # top-20 observed DE genes per evaluated target (Wilcoxon rank-sum KO vs control, target excluded)
    top = {}
    for t in ev:
        ko = ln[assigned & (pert == t)]
        p = st.mannwhitneyu(ko, ln[ctrl], axis=0, alternative="two-sided").pvalue
        p = np.where(np.isnan(p), 1.0, p)
        order = np.lexsort((-np.abs(obs_delta[t]), p))
        top[t] = [j for j in order if syms[j] != t][:20]
    pred = {}
    for folder, val in CRISPR_RUNS:
        for t in ev:
            path = perturb_file(os.path.join(d, "perturb", folder), t, val, "delete")
            if path:
                var, delta, n = predicted_delta(path)
                assert var == syms, "gene order of the perturbation output differs from the data"
                pred[(val, t)] = (delta, n)

    def metrics(p, t, exclude):
        keep = np.array([g not in exclude for g in syms])
        o = obs_delta[t]
        r = pearson(p[keep], o[keep])
        tj = [j for j in top[t] if syms[j] not in exclude]
        acc = float(np.mean([np.sign(p[j]) == np.sign(o[j]) for j in tj])) if tj else float("nan")
        return r, acc

    rows, allm = [], {}
    for t in ev:
        j = syms.index(t)
        base = np.mean([obs_delta[u] for u in targets if u != t], axis=0)
        res = {"baseline": metrics(base, t, {t})}
        n_src = {}
        for _, val in CRISPR_RUNS:
            if (val, t) in pred:
                res[val] = metrics(pred[(val, t)][0], t, {t})
                n_src[val] = pred[(val, t)][1]
                sh = [metrics(pred[(val, u)][0], t, {t, u}) for u in ev if u != t and (val, u) in pred]
                res["shuffled_" + val] = (float(np.mean([s[0] for s in sh])), float(np.mean([s[1] for s in sh])))
        for k, v in res.items():
            allm.setdefault(k, []).append(v)
        pinf = pred.get(("inference", t), (np.full(len(syms), np.nan), 0))[0]
        pgen = pred.get(("generate", t), (np.full(len(syms), np.nan), 0))[0]
        cols = ["inference", "generate", "baseline", "shuffled_inference", "shuffled_generate"]
        rows.append([t, n_ko[t], n_src.get("inference", "–"), f"{obs_delta[t][j]:+.3f}",
                     f"{pinf[j]:+.3f} / {pgen[j]:+.3f}"] +
                    [fmt(res[c][0], 2) if c in res else "–" for c in cols] +
                    [fmt(res[c][1], 2) if c in res else "–" for c in cols])
    cols = ["inference", "generate", "baseline", "shuffled_inference", "shuffled_generate"]
    rows.append(["**mean**", "", "", "", ""] +
                [fmt(float(np.nanmean([v[0] for v in allm[c]])), 2) if c in allm else "–" for c in cols] +
                [fmt(float(np.nanmean([v[1] for v in allm[c]])), 2) if c in allm else "–" for c in cols])
    header = ["target", "KO cells", "source cells perturbed", "observed Δ of target", "predicted Δ of target (inf / gen)",
              "Pearson-Δ model inference", "model generate", "mean-pert. baseline", "shuffled (inf)", "shuffled (gen)",
              "dir. acc. top-20 DE model inference", "model generate", "mean-pert. baseline", "shuffled (inf)",
              "shuffled (gen)"]
    lines = ["# Zero-shot CRISPR knock-out check (Papalexi 2021 ECCITE-seq, THP-1, 299 genes)", ""]
    lines.append("The model is trained only on non-targeting control cells (assigned, `perturbation == control`): "
                 "source = rep_1 controls, target = rep_2/rep_3 controls, a source cell paired at random with a target "
                 "cell of its k-means cluster (12 clusters on 20 PCs; `--pairing stratified`). Each targeted gene "
                 "measured among the 299 genes is deleted from the control source sentences (`--mode delete`); "
                 "predicted Δ = mean log1p(normalised 1e4) perturbed − control predicted counts of the "
                 "perturbed cells; observed Δ = mean of the gene's assigned KO cells − mean of all assigned "
                 "control cells (same normalisation). Pearson-Δ over the 298 other genes; direction accuracy on "
                 "the 20 genes with the smallest Wilcoxon p (KO vs control, target excluded). Mean-pert. baseline "
                 "= mean observed Δ of all other targets (leave-one-out); shuffled = the model's prediction for "
                 "each other evaluated target (both targets excluded), averaged.")
    lines.append("")
    lines.append(table(header, rows))
    text = "\n".join(lines) + "\n"
    with open(os.path.join(out, "crispr_report.md"), "w") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "hsmm-select":
        hsmm_select(args[0], args[1], args[2], args[3], *(int(a) for a in args[4:6]))
    elif cmd == "crispr-prep":
        crispr_prep(args[0], args[1], *(int(a) for a in args[2:3]))
    elif cmd == "hsmm-report":
        hsmm_report(args[0])
    elif cmd == "crispr-report":
        crispr_report(args[0])
    else:
        sys.exit(__doc__)
