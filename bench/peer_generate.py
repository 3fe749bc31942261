"""Python peer of bench_generate: the reference's MaskGIT generation of one
time point (`PerturbGen.generate_sequence`, spec §5.1, golden §7) written as a
short PyTorch script on the decoder of peer_model.py, with random weights of
the real shapes (d 768, 6 blocks, d_ff 32, 2,054 ids). It computes what the
reference computes, the way the reference computes it:

* target time 4; the context is the true ids of times 1, 2, 3: three context
  passes over the growing context, run once (the reference's context cache);
  the encoder output is a given random (B, L, 768) tensor (its cache; the
  encoder is excluded from the timing, as in bench_generate);
* `sequence_length` = L (every cell full length, no padding), so the
  generation pad is empty;
* every one of the N iterations (no early stop): re-mask the k highest
  scores (k = floor(u * gamma(r_i)), u the positions still scored: the
  multiplicative count) with torch.topk and a per-row loop; a full decoder
  pass over all L positions whose cross-attention projects the keys/values
  of the whole context again (no K/V reuse); logits at every position over
  the whole vocabulary; suppression of the kept ids by an in-place scatter;
  top-k filter (ceil(0.1 V)) by topk + scatter into a -inf tensor; Gumbel
  noise over (B, L, V); argmax; softmax + topk(2) margin scores.

With --pad-to P every tensor is P wide (the target's genes, the source and
the context times in the first L positions, padding after), as the reference
pads every batch to the longest cell of the dataset (2,002 on the LPS
tutorial data, reference_timings.md row b'): only L positions are generated,
but every pass runs over P positions and attends to the padded context.

Prints one JSON line {"seconds": [...], "median": s, "cells_per_s": x}, then
{"decoder_calls": N, "context_passes": 3}.

Usage: peer_generate.py --tokens L --batch B --threads N [--d-ff 32] [--reps 3] [--iterations 20]
                        [--dtype fp32|bf16] [--pad-to P]

bf16: the decoder's weights and activations in bfloat16, logits and everything
after them in float32.
"""
import argparse
import json
import math

import torch

from peer_model import Decoder, make_ids, parse_shape_arguments, report

FMAX = torch.finfo(torch.float32).max
GENERATED = 4  # target time; times 1..3 are its context


def gumbel_noise(t):
    u = torch.zeros_like(t).uniform_(0, 1)
    return -torch.log((-torch.log(u.clamp(min=1e-20))).clamp(min=1e-20))


def generate_sequence(dec, ctx, ctx_pad, t, b, length, iterations, temperature=1.0, thres=0.9, gen_len=None):
    """The reference's loop as it executes (golden §7), schedule pow, cond_length 0. Tensors are
    `length` wide; the first gen_len (default: all) positions are generated (sequence_length)."""
    gen_len = gen_len or length
    vocab = dec.decoder_fc.out_features
    k = math.ceil((1 - thres) * vocab)
    gen_pad = (torch.arange(length) >= gen_len).expand(b, length)  # col >= sequence_length
    ids = torch.ones(b, length, dtype=torch.long)  # <mask> where the true target has genes
    ids[:, gen_len:] = 0
    scores = torch.zeros(b, length)
    ratios = (1 - torch.linspace(0, 1, iterations) ** 2).clamp(1e-6, 1)
    calls = 0
    for i in range(iterations):
        scores.masked_fill_(gen_pad, -FMAX)
        unmasked = (scores != -FMAX).sum(1)
        n = (unmasked.float() * ratios[i]).long()
        mask = torch.zeros_like(scores, dtype=torch.bool)
        _, idx = torch.topk(scores, int(n.max()), dim=-1)
        for r in range(b):
            mask[r, idx[r, : n[r]]] = True
        ids.masked_fill_(mask, 1)
        keep = torch.where(mask, torch.zeros_like(ids), ids)
        # decoder pass over the cached context embeddings; self-attention key pad = gen_pad
        x = dec.emb(ids) + dec.time_pe[t + 1] + dec.pos_pe[:length]
        for blk in dec.blocks:
            x = blk(x, gen_pad, ctx, ctx_pad)
        logits = dec.decoder_fc(x).float()
        calls += 1
        logits.scatter_(2, keep.unsqueeze(1).expand(-1, length, -1), -FMAX)
        val, ind = logits.topk(k, dim=-1)
        filtered = torch.full_like(logits, float("-inf")).scatter_(2, ind, val)
        tau = temperature * (iterations - 1 - i) / iterations
        pred = (filtered / max(tau, 1e-10) + gumbel_noise(filtered)).argmax(dim=-1)
        is_mask = ids == 1
        ids = torch.where(is_mask, pred, ids)
        top2 = logits.softmax(dim=-1).topk(2, dim=-1).values
        s = 1 - (top2[..., 0] - top2[..., 1]).abs()
        scores = torch.where(is_mask, s, torch.full_like(s, -FMAX))
    return ids, x, calls


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--iterations", type=int, default=20)
    ap.add_argument("--dtype", choices=["fp32", "bf16"], default="fp32")
    ap.add_argument("--pad-to", type=int, default=0,
                    help="pad every tensor to this width, as the reference pads to the dataset's longest cell")
    a = parse_shape_arguments(ap)
    if a.variable:
        ap.error("bench_generate measures full-length cells only")
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(1)
    n, length = a.batch, a.tokens
    width = max(a.pad_to, length)
    dtype = torch.bfloat16 if a.dtype == "bf16" else torch.float32
    dec = Decoder(head_dim=a.d_ff, max_len=width + 100, n_tps=GENERATED).eval().to(dtype)
    pad = width - length
    h_src = torch.nn.functional.pad(torch.randn(n, length, 768, generator=g), (0, 0, 0, pad)).to(dtype)
    src_pad = torch.nn.functional.pad(make_ids(n, length, 0, 4, 40, False, True, g), (0, pad)) == 0
    true = {c: torch.nn.functional.pad(make_ids(n, length, c, 4, 2054, False, False, g), (0, pad))
            for c in range(1, GENERATED)}
    calls = [0]

    def one():
        ctx, ctx_pad = h_src, src_pad
        for c in range(1, GENERATED):  # the context cache: each pass once per generate()
            e = dec.run(true[c], c, ctx, ctx_pad)
            ctx, ctx_pad = torch.cat([ctx, e], 1), torch.cat([ctx_pad, true[c] == 0], 1)
        _, _, calls[0] = generate_sequence(dec, ctx, ctx_pad, GENERATED, n, width, a.iterations, gen_len=length)

    with torch.no_grad():
        report(one, a.reps, n, slow=60)
    print(json.dumps({"decoder_calls": calls[0], "context_passes": GENERATED - 1}))


if __name__ == "__main__":
    main()
