"""NumPy (OpenBLAS) f32 matmul GFLOP/s, for side-by-side comparison with lux-bench.

Run through scripts/matmul_vs_numpy.sh, which unsets OPENBLAS_CORETYPE and
OPENBLAS_L2_SIZE for this command only.
"""
import sys
import time

import numpy as np

try:
    from threadpoolctl import threadpool_info
    for info in threadpool_info():
        print(f"# numpy BLAS: {info.get('internal_api')} {info.get('version')} "
              f"threads={info.get('num_threads')} arch={info.get('architecture')}")
except ImportError:
    print("# threadpoolctl not installed; BLAS details unknown")

sizes = [int(s) for s in sys.argv[1:]] or [1024, 2048]
rng = np.random.default_rng(1)
for n in sizes:
    for dt in (np.float32, np.float64):
        a = rng.standard_normal((n, n)).astype(dt)
        b = rng.standard_normal((n, n)).astype(dt)
        a @ b
        reps = max(5, min(200, int(2e10 / (2 * n**3))))
        times = []
        for _ in range(reps):
            t = time.perf_counter()
            a @ b
            times.append(time.perf_counter() - t)
        med = sorted(times)[len(times) // 2]
        name = "f32" if dt is np.float32 else "f64"
        print(f"numpy  {name} {n}x{n}x{n}: median {med * 1e3:10.3f} ms  {2 * n**3 / med / 1e9:7.1f} GFLOP/s")
