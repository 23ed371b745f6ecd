"""Reads a lux-rs checkpoint (or any safetensors file) with Python's
`safetensors` package and prints its metadata and tensors.

    pip install safetensors numpy
    python3 scripts/read_checkpoint.py PATH.safetensors
"""
import json
import sys

from safetensors import safe_open

path = sys.argv[1]
with safe_open(path, framework="numpy") as f:
    meta = f.metadata() or {}
    for key in sorted(meta):
        value = meta[key]
        if key == "lux.trees":
            value = json.dumps(json.loads(value))[:200] + " ..."
        print(f"metadata {key} = {value}")
    for name in f.keys():
        sl = f.get_slice(name)
        print(f"tensor {name}: {sl.get_dtype()} {sl.get_shape()}")
        try:
            t = f.get_tensor(name)
        except Exception as e:  # numpy has no bfloat16
            print(f"  (values not readable with numpy: {e})")
            continue
        print(f"  {t.ravel()[:8].tolist()}{' ...' if t.size > 8 else ''}")
