"""Python peer of bench_model: the reference's forward computation written as a
short PyTorch script of the spec's equations (spec §3.2-3.7, golden README §3),
with random weights of the real shapes. It computes what the reference
computes, the way the reference computes it:

* encoder (`scmaskgitwrapper.forward`): embedding + time row 1 + positions,
  then EVERY one of the 12 blocks on that embedding (only the last output is
  kept), then the 19,000-way MLM logits `decoder_fc` (computed, unused);
* decoder, teacher forced for every target time t: for each other time c
  (ascending) a context pass over the context so far, then the main pass and
  its logits; cross-attention projects the whole context in every pass.

Attention is torch's scaled_dot_product_attention with a boolean key mask, as
in the pinned reference (torch >= 2.5). Batches are padded to the longest
sequence (the benchmark's cells are all full length, so padding costs nothing
here: the comparison is conservative).

With --variable, 4 batches of cells get lengths spread over [L/4, L] (the same
formula as bench_model) and, as in the reference, every batch is padded to L,
the longest cell of the data.

Usage: peer_model.py enc|dec --tokens L --batch B --threads N --dtype fp32|bf16
                     [--d-ff 32] [--reps 3] [--variable]
Prints one JSON line: {"seconds": [...], "median": s, "cells_per_s": x}.
"""
import argparse
import json
import math
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def sinusoid(rows, d):
    pos = torch.arange(0, rows, dtype=torch.float32).unsqueeze(1)
    div = torch.exp(torch.arange(0, d, 2, dtype=torch.float32) * (-math.log(10000.0) / d))
    t = torch.zeros(rows, d)
    t[:, 0::2] = torch.sin(pos * div)
    t[:, 1::2] = torch.cos(pos * div)
    return t


class Attention(nn.Module):
    def __init__(self, d, heads, head_dim):
        super().__init__()
        inner = heads * head_dim
        self.h, self.dh = heads, head_dim
        self.to_q = nn.Linear(d, inner, bias=False)
        self.to_k = nn.Linear(d, inner, bias=False)
        self.to_v = nn.Linear(d, inner, bias=False)
        self.to_out = nn.Linear(inner, d)

    def forward(self, xq, xkv, key_pad):
        b, lq, _ = xq.shape
        split = lambda x: x.view(b, x.shape[1], self.h, self.dh).transpose(1, 2)
        q, k, v = split(self.to_q(xq)), split(self.to_k(xkv)), split(self.to_v(xkv))
        o = F.scaled_dot_product_attention(q, k, v, attn_mask=(~key_pad)[:, None, None, :])
        return self.to_out(o.transpose(1, 2).reshape(b, lq, self.h * self.dh))


class MLP(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(d, d), nn.Linear(d, d)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x)))


class EncBlock(nn.Module):
    def __init__(self, d, heads, head_dim):
        super().__init__()
        self.attn, self.mlp = Attention(d, heads, head_dim), MLP(d)
        self.n1, self.n3 = nn.LayerNorm(d), nn.LayerNorm(d)

    def forward(self, x, pad):
        x = self.n1(x + self.attn(x, x, pad))
        return self.n3(x + self.mlp(x))


class DecBlock(nn.Module):
    def __init__(self, d, heads, head_dim):
        super().__init__()
        self.self_attn, self.cross_attn = Attention(d, heads, head_dim), Attention(d, heads, head_dim)
        self.mlp = MLP(d)
        self.n1, self.n2, self.n3 = nn.LayerNorm(d), nn.LayerNorm(d), nn.LayerNorm(d)

    def forward(self, x, pad, ctx, ctx_pad):
        x = self.n1(x + self.self_attn(x, x, pad))
        x = self.n2(x + self.cross_attn(x, ctx, ctx_pad))
        return self.n3(x + self.mlp(x))


class Encoder(nn.Module):
    """scmoscf as the reference runs it."""

    def __init__(self, vocab=19000, d=768, heads=8, head_dim=96, layers=12, max_len=4096):
        super().__init__()
        self.emb = nn.Embedding(vocab + 3, d, padding_idx=0)
        self.register_buffer("time_pe", sinusoid(3, d))
        self.register_buffer("pos_pe", sinusoid(max_len, d))
        self.blocks = nn.ModuleList(EncBlock(d, heads, head_dim) for _ in range(layers))
        self.decoder_fc = nn.Linear(d, vocab)

    def forward(self, src):
        pad = src == 0
        x0 = self.emb(src) + self.time_pe[1] + self.pos_pe[: src.shape[1]]
        out = None
        for blk in self.blocks:  # every block on the embedding; the last one is kept
            out = blk(x0, pad)
        logits = self.decoder_fc(out)  # computed by the reference, unused by PerturbGen
        return out, logits


class Decoder(nn.Module):
    def __init__(self, vocab=2054, d=768, heads=8, head_dim=32, layers=6, max_len=300, n_tps=3):
        super().__init__()
        self.emb = nn.Embedding(vocab, d)
        self.register_buffer("time_pe", sinusoid(n_tps + 2, d))
        self.register_buffer("pos_pe", sinusoid(max_len, d))
        self.blocks = nn.ModuleList(DecBlock(d, heads, head_dim) for _ in range(layers))
        self.decoder_fc = nn.Linear(d, vocab)

    def run(self, ids, t, ctx, ctx_pad):
        pad = ids == 0
        x = self.emb(ids) + self.time_pe[t + 1] + self.pos_pe[: ids.shape[1]]
        for blk in self.blocks:
            x = blk(x, pad, ctx, ctx_pad)
        return x

    def teacher_forced(self, h_src, src_pad, tgt, times):
        out = {}
        for t in times:
            ctx, ctx_pad = h_src, src_pad
            for c in sorted(times):
                if c == t:
                    continue
                e = self.run(tgt[c], c, ctx, ctx_pad)
                ctx, ctx_pad = torch.cat([ctx, e], 1), torch.cat([ctx_pad, tgt[c] == 0], 1)
            hidden = self.run(tgt[t], t, ctx, ctx_pad)
            logits = self.decoder_fc(hidden)
            keep = (tgt[t] > 3).unsqueeze(-1).to(hidden.dtype)
            out[t] = (logits, (hidden * keep).sum(1) / keep.sum(1))
        return out


def cell_length(i, s, L):
    return L // 4 + (i * 7919 + 104729 * s) % (3 * L // 4 + 1)


def make_ids(n, L, s, lo, hi, variable, framed, g):
    ids = torch.randint(lo, hi, (n, L), generator=g)
    for i in range(n):
        n_i = cell_length(i, s, L) if variable else L
        ids[i, n_i:] = 0
        if framed:
            ids[i, 0], ids[i, n_i - 1] = 2, 3
    return ids


def parse_shape_arguments(ap):
    """The options every peer shares with its bench program; parses them."""
    ap.add_argument("--tokens", type=int, required=True)
    ap.add_argument("--batch", type=int, required=True)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--d-ff", type=int, default=32)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--variable", action="store_true")
    return ap.parse_args()


def report(call, reps, n, slow):
    """Times call() after one warm-up (once only when the warm-up took more
    than `slow` seconds) and prints the JSON line the bench programs read."""
    t0 = time.perf_counter()
    call()
    warm = time.perf_counter() - t0
    seconds = []
    for _ in range(1 if warm > slow else reps):
        t0 = time.perf_counter()
        call()
        seconds.append(time.perf_counter() - t0)
    med = statistics.median(seconds)
    print(json.dumps({"seconds": seconds, "median": med, "cells_per_s": n / med}))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("part", choices=["enc", "dec"])
    ap.add_argument("--dtype", choices=["fp32", "bf16"], default="fp32")
    a = parse_shape_arguments(ap)
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    dtype = torch.bfloat16 if a.dtype == "bf16" else torch.float32
    g = torch.Generator().manual_seed(1)
    n = 4 * a.batch if a.variable else a.batch
    batches = [slice(i, i + a.batch) for i in range(0, n, a.batch)]  # in data order, padded to L
    if a.part == "enc":
        model = Encoder().eval().to(dtype)
        src = make_ids(n, a.tokens, 0, 4, 19000, a.variable, True, g)
        call = lambda: [model(src[s]) for s in batches]
    else:
        model = Decoder(head_dim=a.d_ff, max_len=a.tokens + 100).eval().to(dtype)
        h_src = torch.randn(n, a.tokens, 768, generator=g).to(dtype)
        src_pad = make_ids(n, a.tokens, 0, 4, 40, a.variable, True, g) == 0
        tgt = {t: make_ids(n, a.tokens, t, 4, 2054, a.variable, False, g) for t in (1, 2, 3)}
        call = lambda: [model.teacher_forced(h_src[s], src_pad[s], {t: v[s] for t, v in tgt.items()}, [1, 2, 3])
                        for s in batches]
    with torch.no_grad():
        report(call, a.reps, n, slow=30)


if __name__ == "__main__":
    main()
