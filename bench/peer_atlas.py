"""Python peer of bench_atlas: the reference's perturbation atlas (spec §6.7:
one job per gene) in inference mode, written as a short PyTorch script on the
encoder and decoder of peer_model.py with random weights of the real shapes
(encoder d 768 / 12 blocks / 19,000 genes, decoder d 768 / 6 blocks / d_ff 32
/ 2,054 ids, count head ZINB over 2,000 genes). For every gene of the list,
as the per-gene job `Perturb/val.py` + `PerturberTrainer.test_step` runs it:

* the cells in data order, in batches of --batch (the data module's batch
  size); in each batch only the cells whose source holds the gene are kept
  (spec §6.3), a batch without one is skipped;
* a control forward of the kept cells and a perturbed forward with the gene
  deleted from the source (`delete`: the gene and the pads removed, the rest
  shifted left and re-padded to the same width); each forward
  (`PerturberTrainer.forward`, `validation_mode='inference'`, spec §6.4)
  runs the encoder as the reference runs it (all 12 blocks on the
  embedding, the 19,000-way MLM logits), then for each of the 3 target
  times 2 context passes and the main teacher-forced pass (9 decoder passes,
  cross-attention keys/values projected in every pass), the logits of the
  main pass, the mean embedding, the count head and `n_samples` ZINB draws
  after `torch.manual_seed(42)`;
* per time, the cosine of the perturbed and control mean embeddings and the
  per-gene cosine of the final hidden states (target tokens are unchanged by
  a source edit, so positions align).

Nothing is shared between genes or between the two passes. Not timed (and
so in the peer's favour): each job's start-up, checkpoint and data loading,
and its h5ad output.

With --pad-to P every tensor is P wide, as the reference pads every batch to
the dataset's longest cell (2,002 on the LPS tutorial data);
--limit-pairs n stops after n (gene, cell) pairs (the padded case is slow).

The cells come from the file bench_atlas writes (--data): little-endian
int64, a header [magic, N, L, K, T], then the source ids (N, L), the target
row ids (T, N, L), the library sizes (T, N) and the K genes' source tokens.

Prints one JSON line {"seconds": [...], "median": s, "pairs": n,
"pairs_per_s": x, "forwards": f, "cell_forwards": c}.

Usage: peer_atlas.py --data FILE --threads N [--reps 3] [--batch 64] [--d-ff 32] [--n-samples 3]
                     [--pad-to P] [--limit-pairs n]
"""
import argparse
import json
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

from peer_model import Decoder, Encoder

MAGIC = 0x50474154
N_GENES = 2000  # count-head genes: row ids 4..2003


class CountHead(nn.Module):
    """The reference's CountHead (ZINB) with the trainer's dispersion theta."""

    def __init__(self, d=768, genes=N_GENES):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(d, d), nn.Linear(d, d)
        self.px_scale, self.px_dropout = nn.Linear(d, genes), nn.Linear(d, genes)
        self.theta = nn.Parameter(torch.randn(genes, 1))

    def forward(self, m, library, n_samples):
        h = self.fc2(F.gelu(self.fc1(m)))
        h = F.normalize(h, dim=-1)
        rho = self.px_scale(h).softmax(-1)
        pi = self.px_dropout(h)
        mu = rho * library[:, None]
        theta = self.theta[:, 0].exp().expand_as(mu)
        if n_samples == 1:
            return mu
        torch.manual_seed(42)
        shape = (n_samples,) + mu.shape
        gamma = torch.distributions.Gamma(theta.expand(shape), (theta / mu.clamp(min=1e-8)).expand(shape)).sample()
        counts = torch.poisson(gamma)
        zero = torch.bernoulli(torch.sigmoid(pi).expand(shape))
        return (counts * (1 - zero)).mean(0)


def read_data(path):
    raw = torch.frombuffer(bytearray(open(path, "rb").read()), dtype=torch.int64)
    magic, n, length, k, t = raw[:5].tolist()
    if magic != MAGIC:
        raise SystemExit(f"{path}: not a bench_atlas data file")
    at = 5
    src = raw[at:at + n * length].view(n, length)
    at += n * length
    tgt = raw[at:at + t * n * length].view(t, n, length)
    at += t * n * length
    lib = raw[at:at + t * n].view(t, n).float()
    at += t * n
    genes = raw[at:at + k].tolist()
    return src, {c + 1: tgt[c] for c in range(t)}, {c + 1: lib[c] for c in range(t)}, genes


def delete(src, token):
    """The reference's `delete` edit: the token and the pads removed, the rest
    left-shifted, re-padded on the right to the same width."""
    out = torch.zeros_like(src)
    for r in range(src.shape[0]):
        row = src[r]
        kept = row[(row != token) & (row != 0)]
        out[r, : kept.numel()] = kept
    return out


def forward(enc, dec, head, src, tgt, lib, times, n_samples):
    """PerturberTrainer.forward in inference mode: per time (hidden, mean embedding, counts)."""
    h_src, _ = enc(src)
    src_pad = src == 0
    out = {}
    for t in times:
        ctx, ctx_pad = h_src, src_pad
        for c in sorted(times):
            if c == t:
                continue
            e = dec.run(tgt[c], c, ctx, ctx_pad)
            ctx, ctx_pad = torch.cat([ctx, e], 1), torch.cat([ctx_pad, tgt[c] == 0], 1)
        hidden = dec.run(tgt[t], t, ctx, ctx_pad)
        dec.decoder_fc(hidden)  # the reference's logits (computed, not used here)
        keep = (tgt[t] > 3).unsqueeze(-1).to(hidden.dtype)
        emb = (hidden * keep).sum(1) / keep.sum(1)
        out[t] = (hidden, emb, head(emb, lib[t], n_samples))
    return out


def compare(control, perturbed, ids):
    """The test_step's cosines: mean embedding per cell, and per gene (position-aligned)."""
    res = {}
    for t, (hc, ec, _) in control.items():
        hp, ep, _ = perturbed[t]
        cos = F.cosine_similarity(ep, ec, dim=-1)
        per_pos = F.cosine_similarity(hp, hc, dim=-1) * (ids[t] > 3)
        gene_cos = torch.zeros(ids[t].shape[0], N_GENES + 4).scatter_(1, ids[t], per_pos)[:, 4:]
        res[t] = (cos, gene_cos)
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--d-ff", type=int, default=32)
    ap.add_argument("--n-samples", type=int, default=3)
    ap.add_argument("--pad-to", type=int, default=0)
    ap.add_argument("--limit-pairs", type=int, default=0)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    src, tgt, lib, genes = read_data(a.data)
    n, length = src.shape
    width = max(a.pad_to, length)
    if width > length:  # every tensor padded to the dataset's longest cell
        src = F.pad(src, (0, width - length))
        tgt = {t: F.pad(x, (0, width - length)) for t, x in tgt.items()}
    times = sorted(tgt)
    enc = Encoder(max_len=max(4096, width)).eval()
    dec = Decoder(head_dim=a.d_ff, max_len=width + 100, n_tps=len(times)).eval()
    head = CountHead().eval()
    stats = {"forwards": 0, "cell_forwards": 0, "pairs": 0}

    def run_forward(s, rows):
        stats["forwards"] += 1
        stats["cell_forwards"] += len(rows)
        return forward(enc, dec, head, s, {t: x[rows] for t, x in tgt.items()},
                       {t: x[rows] for t, x in lib.items()}, times, a.n_samples)

    def atlas():
        for k in stats:
            stats[k] = 0
        results = []
        for token in genes:  # one job per gene
            for b0 in range(0, n, a.batch):
                rows = torch.arange(b0, min(n, b0 + a.batch))
                rows = rows[(src[rows] == token).any(1)]
                if a.limit_pairs:
                    rows = rows[: max(0, a.limit_pairs - stats["pairs"])]
                if rows.numel() == 0:
                    continue
                control = run_forward(src[rows], rows)
                perturbed = run_forward(delete(src[rows], token), rows)
                results.append(compare(control, perturbed, {t: x[rows] for t, x in tgt.items()}))
                stats["pairs"] += rows.numel()
        return results

    with torch.no_grad():
        # Warm-up: one small forward at the data's own width (thread pool, allocator).
        forward(enc, dec, head, src[:2, :length], {t: x[:2, :length] for t, x in tgt.items()},
                {t: x[:2] for t, x in lib.items()}, times, a.n_samples)
        seconds = []
        for _ in range(a.reps):
            t0 = time.perf_counter()
            atlas()
            seconds.append(time.perf_counter() - t0)
    med = statistics.median(seconds)
    print(json.dumps({"seconds": seconds, "median": med, "pairs": stats["pairs"],
                      "pairs_per_s": stats["pairs"] / med, "forwards": stats["forwards"],
                      "cell_forwards": stats["cell_forwards"]}))


if __name__ == "__main__":
    main()
