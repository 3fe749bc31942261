"""Python peer of bench_train: the reference's masking-stage training step
(spec §4.2, golden README §5) written as a short PyTorch script on the
modules of peer_model.py, with random weights of the real shapes:

* the frozen encoder in eval mode under no_grad: every one of the 12 blocks on
  the embedding and the unused 19,000-way MLM logits, as the reference runs it;
* target time 3: the two context passes (times 1 and 2) under no_grad, then
  the main pass on the MaskGIT-masked ids with gradients;
* logits at every position, nn.CrossEntropyLoss (ignore -100), backward, and
  torch.optim.Adam (lr 1e-4, coupled weight decay 1e-4) on the decoder.

Every batch is padded to L, as the reference pads to the dataset's longest
sequence. Prints one JSON line: {"seconds": [...], "median": s, "cells_per_s": x}.

Usage: peer_train.py --tokens L --batch B --threads N [--d-ff 32] [--reps 3] [--variable]
"""
import argparse
import torch
import torch.nn.functional as F

from peer_model import Decoder, Encoder, make_ids, parse_shape_arguments, report


def maskgit_mask(ids):
    """golden §5: k = max(1, round(n (1 - u^2))), mask[j] = argsort(r)[j] < k."""
    b, L = ids.shape
    n = (ids != 0).sum(1)
    u = torch.rand(b)
    r = torch.rand(b, L)
    k = torch.clamp(torch.round(n * torch.clamp(1 - u**2, 1e-6, 1)), min=1).long()
    r[ids == 0] = 1
    return torch.argsort(r, dim=1) < k.unsqueeze(1)


def main():
    a = parse_shape_arguments(argparse.ArgumentParser())
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(1)
    encoder = Encoder().eval()
    for p in encoder.parameters():
        p.requires_grad_(False)
    decoder = Decoder(head_dim=a.d_ff, max_len=a.tokens + 100).train()
    opt = torch.optim.Adam(decoder.parameters(), lr=1e-4, weight_decay=1e-4)
    n = 4 * a.batch if a.variable else a.batch
    src = make_ids(n, a.tokens, 0, 4, 19000, a.variable, True, g)
    tgt = {t: make_ids(n, a.tokens, t, 4, 2054, a.variable, False, g) for t in (1, 2, 3)}
    batches = [slice(i, i + a.batch) for i in range(0, n, a.batch)]

    def step(s):
        opt.zero_grad()
        with torch.no_grad():
            h_src, _ = encoder(src[s])
            ctx, ctx_pad = h_src, src[s] == 0
            for c in (1, 2):
                e = decoder.run(tgt[c][s], c, ctx, ctx_pad)
                ctx, ctx_pad = torch.cat([ctx, e], 1), torch.cat([ctx_pad, tgt[c][s] == 0], 1)
        ids = tgt[3][s]
        mask = maskgit_mask(ids)
        labels = torch.where(mask, ids, torch.full_like(ids, -100))
        hidden = decoder.run(ids.masked_fill(mask, 1), 3, ctx, ctx_pad)
        logits = decoder.decoder_fc(hidden)
        loss = F.cross_entropy(logits.view(-1, logits.shape[-1]), labels.view(-1), ignore_index=-100)
        loss.backward()
        opt.step()

    def one_pass():
        for s in batches:
            step(s)

    report(one_pass, a.reps, n, slow=60)


if __name__ == "__main__":
    main()
