"""Expected values of the analysis metrics (src/analysis/), computed with the
libraries the reference and the field use: POT (ot.emd2, ot.sinkhorn2), scipy
(wasserstein_distance, pearsonr, linregress) and numpy (E-distance, MMDs, PCA).

POT is not in the project venv; run this in a throwaway one:

    python3 -m venv /tmp/potenv && /tmp/potenv/bin/pip install -q pot==0.9.5 scipy numpy
    /tmp/potenv/bin/python tests/python/make_metric_fixtures.py tests/data/metrics/metric_fixtures.json

The output is committed; the C++ tests (tests/analysis/*_test.cpp) read it and
need no Python at run time. Every input is in the JSON too (doubles written as
Python's repr, so they read back bit for bit).
"""

import json
import sys

import numpy as np
import ot
import scipy
from scipy import stats

GAMMAS = [2.0, 1.0, 0.5, 0.1, 0.01, 0.005]


def pairwise_sq(x, y):
    return ((x[:, None, :] - y[None, :, :]) ** 2).sum(-1)


def e_distance(x, y):
    # CellFlow compute_e_distance: full means, diagonals included.
    return 2 * pairwise_sq(x, y).mean() - pairwise_sq(x, x).mean() - pairwise_sq(y, y).mean()


def rbf_mmd(x, y):
    # PerturbGen mmd_loss_calc averaged over the gammas: diagonals removed within samples.
    n, m = len(x), len(y)
    out = []
    for g in GAMMAS:
        kxx = np.exp(-g * pairwise_sq(x, x))
        kyy = np.exp(-g * pairwise_sq(y, y))
        kxy = np.exp(-g * pairwise_sq(x, y))
        out.append((kxx.sum() - np.trace(kxx)) / (n * (n - 1)) + (kyy.sum() - np.trace(kyy)) / (m * (m - 1))
                   - 2 * kxy.mean())
    return float(np.mean(out))


def linear_mmd(x, y):
    k = min(len(x), len(y))
    d = x[:k] - y[:k]
    return float(np.mean((d[:-1] * d[1:]).sum(1)))


def poly_mmd(x, y, deg=2, alpha=1.0, c=2.0):
    k = min(len(x), len(y))
    x, y = x[:k], y[:k]

    def term(a, b):
        return np.mean((alpha * (a[:-1] * b[1:]).sum(1) + c) ** deg)

    return float(term(x, x) + term(y, y) - term(x, y) - term(y, x))


def wasserstein(x, y, power):
    a, b = ot.unif(len(x)), ot.unif(len(y))
    m = np.sqrt(pairwise_sq(x, y))
    if power == 2:
        m = m ** 2
    cost = ot.emd2(a, b, m, numItermax=10**7)
    return float(np.sqrt(cost) if power == 2 else cost)


def sinkhorn_cost(x, y, eps):
    a, b = ot.unif(len(x)), ot.unif(len(y))
    m = pairwise_sq(x, y)
    return float(ot.sinkhorn2(a, b, m, reg=eps, method="sinkhorn_log", stopThr=1e-13, numItermax=200000))


def log_normalise(counts):
    tot = counts.sum(1, keepdims=True)
    scale = np.divide(1e4, tot, out=np.zeros_like(tot), where=tot > 0)
    return np.log1p(counts * scale)


def pca_scores(x, k, standardise=True):
    """Centre, SVD, sign so each component's largest-|loading| entry is positive; scores
    standardised to unit sd (ddof 0) as the reference does, or left unscaled (joint mode)."""
    mean = x.mean(0)
    xc = x - mean
    _, _, vt = np.linalg.svd(xc, full_matrices=False)
    comps = vt[:k].copy()
    for i in range(k):
        j = int(np.argmax(np.abs(comps[i])))
        if comps[i, j] < 0:
            comps[i] = -comps[i]
    scores = xc @ comps.T
    if not standardise:
        return scores
    sd = scores.std(0)
    return scores / sd


def gene_metrics(pred, true, ctrl):
    mp, mt, mc = pred.mean(0), true.mean(0), ctrl.mean(0)
    de = np.argsort(-np.abs(mt - mc), kind="stable")[:20]
    reg = stats.linregress(mt, mp)
    return {
        "emd_genes": float(np.mean([stats.wasserstein_distance(true[:, g], pred[:, g]) for g in range(true.shape[1])])),
        "pearson_delta": float(stats.pearsonr(mp - mc, mt - mc)[0]),
        "de_genes": [int(g) for g in de],
        "mse_top20_de": float(np.mean((mp[de] - mt[de]) ** 2)),
        "pearson_top20_de": float(stats.pearsonr(mp[de], mt[de])[0]),
        "direction_acc_top20_de": float(np.mean(np.sign(mp[de] - mc[de]) == np.sign(mt[de] - mc[de]))),
        "means_slope": float(reg.slope),
        "means_intercept": float(reg.intercept),
        "means_r2": float(reg.rvalue ** 2),
        "means_rmse": float(np.sqrt(np.mean((mt - mp) ** 2))),
    }


def cloud_entry(x, y, eps):
    return {
        "x": x.tolist(),
        "y": y.tolist(),
        "e_distance": float(e_distance(x, y)),
        "mmd_rbf": rbf_mmd(x, y),
        "linear_mmd": linear_mmd(x, y),
        "poly_mmd": poly_mmd(x, y),
        "w1": wasserstein(x, y, 1),
        "w2": wasserstein(x, y, 2),
        "sinkhorn_epsilon": eps,
        "sinkhorn_sq_cost": sinkhorn_cost(x, y, eps),
    }


def main():
    rng = np.random.default_rng(20250611)
    out = {"generator": {"pot": ot.__version__, "scipy": scipy.__version__, "numpy": np.__version__}}

    # Point clouds: different sizes, shifted and stretched.
    x = rng.normal(0.0, 1.0, size=(40, 6))
    y = rng.normal(0.5, 1.3, size=(33, 6))
    out["clouds_small"] = cloud_entry(x, y, 1.0)
    x = rng.normal(0.0, 1.0, size=(200, 5))
    y = rng.normal(0.3, 1.1, size=(180, 5)) + np.array([1.0, 0, 0, 0, -0.5])
    out["clouds_medium"] = cloud_entry(x, y, 2.0)

    # Count matrices: control, true, predicted populations over 30 genes.
    base = rng.gamma(2.0, 2.0, size=30)
    shift = np.exp(rng.normal(0.0, 0.7, size=30))
    ctrl = rng.poisson(base, size=(20, 30)).astype(float)
    true = rng.poisson(base * shift, size=(25, 30)).astype(float)
    pred = rng.poisson(base * np.sqrt(shift) * np.exp(rng.normal(0, 0.6, size=30)), size=(30, 30)).astype(float)
    pred[3, :] = 0.0  # an empty cell stays zero after normalisation
    lc, lt, lp = log_normalise(ctrl), log_normalise(true), log_normalise(pred)
    counts = {"ctrl": ctrl.tolist(), "true": true.tolist(), "pred": pred.tolist(),
              "lognorm_pred_row0": lp[0].tolist()}
    counts.update(gene_metrics(lp, lt, lc))
    union = np.vstack([lp, lt])
    joint = pca_scores(union, 5, standardise=False)
    counts["joint_pca5_pred"] = joint[: len(lp)].tolist()
    counts["joint_pca5_true"] = joint[len(lp):].tolist()
    counts["reference_pca5_pred"] = pca_scores(lp, 5).tolist()
    counts["reference_pca5_true"] = pca_scores(lt, 5).tolist()
    out["counts"] = counts

    path = sys.argv[1] if len(sys.argv) > 1 else "tests/data/metrics/metric_fixtures.json"
    with open(path, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
