#!/usr/bin/env bash
# Side-by-side f32/f64 matmul throughput: lux-rs vs NumPy/OpenBLAS, in one run.
# Needs `pip install numpy threadpoolctl` (not a project dependency).
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --release -p lux-bench
for round in 1 2; do
  echo "--- round $round"
  env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python3 benches/scripts/numpy_matmul.py 1024 2048
  ./target/release/lux-bench matmul | grep -E " (1024|2048)x"
done
