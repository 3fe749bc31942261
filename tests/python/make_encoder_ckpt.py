"""Writes a standalone-encoder Lightning checkpoint laid out like the published one.

The published PerturbGen weights are a `CellGenTrainer` checkpoint (golden
README §19). This builds one with the same top-level keys, state_dict keys in
the same order, Adam state only for the embedding, the last block and
decoder_fc, hyper-parameters and Lightning bookkeeping, from
`published_encoder_manifest.json`. At the published dimensions (the default)
every key, shape and dtype is asserted equal to the manifest's; smaller
dimensions give a structurally identical small file (for end-to-end tests).
Weights are random (seeded), never the real ones.

With --forward OUT.safetensors it also computes the encoder's output on a few
padded cells with plain torch ops, following spec §3.2 literally (every
block reads x0 = Emb(S) + time_pe[1] + pos_pe[:L]; the output is the last
block's), so the C++ import can be checked against an independent forward.

Usage: make_encoder_ckpt.py MANIFEST OUT.ckpt [--d-model N --layers N --heads N
       --head-dim N --vocab N --max-seq N --n-tps N] [--location cuda:0]
       [--storage-dtype float32|float16|bfloat16] [--shared-pe] [--seed N]
       [--hp KEY=INT ...] [--hostile] [--forward OUT.safetensors --cells N --max-len N]
"""
import argparse
import collections
import json
import math

import torch

p = argparse.ArgumentParser()
p.add_argument("manifest")
p.add_argument("out")
p.add_argument("--d-model", type=int)
p.add_argument("--layers", type=int)
p.add_argument("--heads", type=int)
p.add_argument("--head-dim", type=int)
p.add_argument("--vocab", type=int)
p.add_argument("--max-seq", type=int)
p.add_argument("--n-tps", type=int)
p.add_argument("--location", default="cpu", help="storage location tag written for every storage")
p.add_argument("--storage-dtype", default="float32", choices=["float32", "float16", "bfloat16"])
p.add_argument("--shared-pe", action="store_true", help="pe and pos_pe share one storage (saved from CPU)")
p.add_argument("--seed", type=int, default=0)
p.add_argument("--hp", action="append", default=[], help="KEY=INT: override a hyper-parameter (mismatch tests)")
p.add_argument("--hostile", action="store_true",
               help="put an object whose unpickling would call os.system into hyper_parameters")
p.add_argument("--forward")
p.add_argument("--cells", type=int, default=4)
p.add_argument("--max-len", type=int, default=40)
a = p.parse_args()

with open(a.manifest) as f:
    man = json.load(f)
dims = man["dimensions"]
d = a.d_model or dims["d_model"]
n_layers = a.layers or dims["num_layers"]
heads = a.heads or dims["num_heads"]
hd = a.head_dim or dims["head_dim"]
V = a.vocab or dims["tgt_vocab_size"]
Lmax = a.max_seq or dims["max_seq_length"]
T = a.n_tps or dims["n_total_tps"]
inner = heads * hd
published = (d, n_layers, heads, hd, V, Lmax, T) == (dims["d_model"], dims["num_layers"], dims["num_heads"],
                                                     dims["head_dim"], dims["tgt_vocab_size"],
                                                     dims["max_seq_length"], dims["n_total_tps"])
dtype = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}[a.storage_dtype]
g = torch.Generator().manual_seed(a.seed)


def sinusoid(rows, width):
    pos = torch.arange(rows, dtype=torch.float32).unsqueeze(1)
    div = torch.exp(torch.arange(0, width, 2, dtype=torch.float32) * (-math.log(10000.0) / width))
    t = torch.zeros(rows, width)
    t[:, 0::2] = torch.sin(pos * div)
    t[:, 1::2] = torch.cos(pos * div)
    return t.unsqueeze(0)


def rand(*shape, scale=None):
    fan_in = shape[-1] if len(shape) > 1 else 1
    s = scale if scale is not None else 1.0 / math.sqrt(fan_in)
    return ((torch.rand(*shape, generator=g) * 2 - 1) * s).to(dtype)


# state_dict in the published order.
sd = collections.OrderedDict()
pos_pe = sinusoid(Lmax, d).to(dtype)
sd["transformer.pos_embedding.pe"] = pos_pe if a.shared_pe else pos_pe.clone()
sd["transformer.pos_embedding.time_pe"] = sinusoid(T, d).to(dtype)
sd["transformer.pos_embedding.pos_pe"] = pos_pe
emb = rand(V + 3, d, scale=1.0)
emb[0] = 0  # padding_idx row
sd["transformer.token_embedding.weight"] = emb
for i in range(n_layers):
    b = f"transformer.decoder_block.{i}."
    sd[b + "norm1.weight"] = (1 + 0.1 * rand(d, scale=1.0).float()).to(dtype)
    sd[b + "norm1.bias"] = rand(d, scale=0.1)
    for m in ("to_q", "to_k", "to_v"):
        sd[b + f"self_attn.{m}.weight"] = rand(inner, d)
    sd[b + "self_attn.to_out.0.weight"] = rand(d, inner)
    sd[b + "self_attn.to_out.0.bias"] = rand(d, scale=0.1)
    sd[b + "norm3.weight"] = (1 + 0.1 * rand(d, scale=1.0).float()).to(dtype)
    sd[b + "norm3.bias"] = rand(d, scale=0.1)
    sd[b + "feed_forward.fc1.weight"] = rand(d, d)
    sd[b + "feed_forward.fc1.bias"] = rand(d, scale=0.1)
    sd[b + "feed_forward.fc2.weight"] = rand(d, d)
    sd[b + "feed_forward.fc2.bias"] = rand(d, scale=0.1)
sd["transformer.decoder_fc.weight"] = rand(V, d)
sd["transformer.decoder_fc.bias"] = rand(V, scale=0.1)
sd._metadata = collections.OrderedDict((k, {"version": 1}) for k in [""])

if published:
    want = [(e["key"], e["shape"], e["dtype"]) for e in man["state_dict"]]
    have = [(k, list(t.shape), "float32") for k, t in sd.items()]
    assert have == want or a.storage_dtype != "float32", "state_dict differs from the manifest"
    assert [k for k, _, _ in have] == [k for k, _, _ in want]

# Adam state: embedding, last block, decoder_fc (indices in transformer.parameters() order).
params = [k for k in sd if "pos_embedding" not in k]
last = f"transformer.decoder_block.{n_layers - 1}."
stateful = [i for i, k in enumerate(params)
            if k == "transformer.token_embedding.weight" or k.startswith(last) or "decoder_fc" in k]
if published:
    assert stateful == man["optimizer_states"]["state_indices"]
state = {}
for i in stateful:
    t = sd[params[i]]
    state[i] = {"step": torch.tensor(1.0), "exp_avg": rand(*t.shape, scale=1e-5).float(),
                "exp_avg_sq": rand(*t.shape, scale=1e-10).float().abs()}
group = dict(man["optimizer_states"]["param_groups"][0])
group["betas"] = tuple(group["betas"])
group["params"] = list(range(len(params)))
optimizer = {"state": state, "param_groups": [group]}

hp = {e["key"]: e["value"] for e in man["hyper_parameters"]}
hp.update(tgt_vocab_size=V, d_model=d, num_heads=heads, num_layers=n_layers, d_ff=hd, max_seq_length=Lmax,
          n_total_tps=T)
for kv in a.hp:
    k, v = kv.split("=", 1)
    hp[k] = int(v)


class Hostile:
    def __reduce__(self):
        import os
        return (os.system, ("echo hostile",))


if a.hostile:
    hp["callback"] = Hostile()


def tensors_in(x):
    """The manifest writes 0-d tensors as {"dtype", "tensor": []}; make them tensors again."""
    if isinstance(x, dict):
        if set(x) == {"dtype", "tensor"}:
            return torch.tensor(49.5188, dtype=getattr(torch, x["dtype"]))
        return {k: tensors_in(v) for k, v in x.items()}
    if isinstance(x, list):
        return [tensors_in(v) for v in x]
    return x


ckpt = {}
for key in man["top_level_keys"]:
    ckpt[key] = {
        "epoch": man["epoch"],
        "global_step": man["global_step"],
        "pytorch-lightning_version": "2.4.0",
        "state_dict": sd,
        "loops": tensors_in(man["loops"]),
        "callbacks": tensors_in(man["callbacks"]),
        "optimizer_states": [optimizer],
        "lr_schedulers": man["lr_schedulers"],
        "hparams_name": man["hparams_name"],
        "hyper_parameters": hp,
    }[key]

if a.location != "cpu":
    # torch.save records each storage's device; the published file was saved
    # from GPU memory. Only the tag is changed: the bytes are the same.
    import torch.serialization as ser
    ser.location_tag = lambda storage: a.location
torch.save(ckpt, a.out)



def write_safetensors(path, tensors):
    """The safetensors layout (golden README §1): header length, JSON, raw C-order data."""
    names = sorted(tensors)
    header, blobs, offset = {}, [], 0
    for n in names:
        t = tensors[n].contiguous()
        raw = t.numpy().tobytes()
        header[n] = {"dtype": {torch.float32: "F32", torch.int64: "I64"}[t.dtype], "shape": list(t.shape),
                     "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(len(h).to_bytes(8, "little") + h + b"".join(blobs))


if a.forward:
    W = {k[len("transformer."):]: v.float() for k, v in sd.items()}
    B, L = a.cells, min(a.max_len, Lmax)
    lengths = torch.linspace(L, 3, B).round().long()
    ids = torch.zeros(B, L, dtype=torch.long)
    for r in range(B):
        n = int(lengths[r])
        ids[r, 0] = 2
        ids[r, 1:n - 1] = torch.randint(4, V + 3, (n - 2,), generator=g)
        ids[r, n - 1] = 3
    pad = ids == 0
    x0 = W["token_embedding.weight"][ids] + W["pos_embedding.time_pe"][0, 1] + W["pos_embedding.pos_pe"][0, :L]

    def block(i, x):
        pre = f"decoder_block.{i}."
        q, k, v = (x @ W[pre + f"self_attn.{m}.weight"].T for m in ("to_q", "to_k", "to_v"))
        split = lambda y: y.view(B, L, heads, hd).transpose(1, 2)  # noqa: E731
        q, k, v = split(q), split(k), split(v)
        s = (q @ k.transpose(-1, -2)) / math.sqrt(hd)
        s = s.masked_fill(pad[:, None, None, :], float("-inf"))
        att = (torch.softmax(s, -1) @ v).transpose(1, 2).reshape(B, L, inner)
        att = att @ W[pre + "self_attn.to_out.0.weight"].T + W[pre + "self_attn.to_out.0.bias"]
        ln = lambda y, n: torch.nn.functional.layer_norm(y, (d,), W[pre + n + ".weight"], W[pre + n + ".bias"])  # noqa
        x1 = ln(x + att, "norm1")
        h = torch.nn.functional.gelu(x1 @ W[pre + "feed_forward.fc1.weight"].T + W[pre + "feed_forward.fc1.bias"])
        f = h @ W[pre + "feed_forward.fc2.weight"].T + W[pre + "feed_forward.fc2.bias"]
        return ln(x1 + f, "norm3")

    with torch.no_grad():
        out = block(n_layers - 1, x0)
    write_safetensors(a.forward, {"src_input_ids": ids, "x0": x0, "output": out})
