"""Writes torch.save checkpoints for the C++ checkpoint-reader tests.

Usage: make_torch_fixtures.py OUT_DIR

OUT_DIR/mixed.pt holds tensors of every storage dtype, a transposed
(non-contiguous) tensor, a view sharing its base's storage at an offset, a
0-d tensor and an empty one, plus a nested non-tensor value. For each tensor
OUT_DIR/<name>.bin has its C-order bytes as numpy writes them and
OUT_DIR/manifest.json its dtype and shape, so the C++ reader is checked
against numpy, not against itself.
"""
import json
import os
import sys

import torch

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
g = torch.Generator().manual_seed(7)
base = torch.randn(5, 6, generator=g)
tensors = {
    "f32": torch.randn(3, 4, generator=g),
    "transposed": torch.randn(4, 3, generator=g).t(),
    "base": base,
    "view": base[1:, 2:5],  # shares base's storage, offset 8, strides (6, 1)
    "strided": base[::2, ::3],
    "f64": torch.randn(2, 3, dtype=torch.float64, generator=g),
    "f16": torch.randn(3, 5, generator=g).half(),
    "bf16": torch.randn(5, 3, generator=g).bfloat16().t(),
    "i64": torch.arange(-6, 6, dtype=torch.int64).reshape(3, 4),
    "i32": torch.arange(-3, 3, dtype=torch.int32),
    "i16": torch.arange(-3, 3, dtype=torch.int16),
    "i8": torch.arange(-3, 3, dtype=torch.int8),
    "u8": torch.arange(250, 256, dtype=torch.uint8),
    "bool": torch.tensor([True, False, True]),
    "scalar": torch.tensor(2.5),
    "empty": torch.zeros(0, 3),
}
names = {"F32": torch.float32, "F64": torch.float64, "F16": torch.float16, "BF16": torch.bfloat16,
         "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8,
         "BOOL": torch.bool}
by_dtype = {v: k for k, v in names.items()}
manifest = {}
for name, t in tensors.items():
    c = t.contiguous()
    raw = (c.view(torch.int16) if t.dtype == torch.bfloat16 else c).numpy().tobytes()
    with open(os.path.join(out, name + ".bin"), "wb") as f:
        f.write(raw)
    manifest[name] = {"dtype": by_dtype[t.dtype], "shape": list(t.shape)}
checkpoint = {
    "state_dict": tensors,
    "epoch": 3,
    "hyper_parameters": {"lr": 0.001, "name": "x", "dims": [1, 2], "nested": {"a": (1, None)}, "big": 2**70},
}
torch.save(checkpoint, os.path.join(out, "mixed.pt"))
with open(os.path.join(out, "manifest.json"), "w") as f:
    json.dump({"order": list(tensors), "tensors": manifest}, f)


class Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


class Thing:
    def __init__(self):
        self.value = 42


torch.save({"state_dict": {"w": torch.ones(2)}, "hyper_parameters": {"x": Evil()}}, os.path.join(out, "evil.pt"))
torch.save({"state_dict": {"w": torch.ones(2)}, "hyper_parameters": {"thing": Thing()}},
           os.path.join(out, "custom.pt"))
