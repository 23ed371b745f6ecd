"""Writes crates/lux-train/tests/fixtures/python.safetensors with Python's
`safetensors` package (pip install safetensors numpy), for lux-train's
interop test (tests/it/checkpoint.rs, `python_fixture_loads`).

Run from the repository root: python3 scripts/make_fixture.py
"""
import numpy as np
from safetensors.numpy import save_file

tensors = {
    "layer_1.weight": np.arange(6, dtype=np.float32).reshape(2, 3) / 4,  # [[0, .25, .5], [.75, 1, 1.25]]
    "layer_1.bias": np.array([-1.5, 2.0], dtype=np.float32),
    "layer_2.scale": np.array([[1e-300, -0.0], [np.pi, 3.0]], dtype=np.float64),
    "labels": np.array([3, -7, 9_000_000_000], dtype=np.int64),
}
save_file(tensors, "crates/lux-train/tests/fixtures/python.safetensors", metadata={"source": "scripts/make_fixture.py", "epoch": "7"})
