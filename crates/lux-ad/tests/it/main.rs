//! Integration tests of lux-ad: gradient checks of every primitive op,
//! the drivers, nested AD and the backends.

mod compiled;
mod drivers;
mod forward;
mod matmul_nd;
mod nested;
mod ops;
mod ops_extra;
mod testing;
mod unstack;

use lux_core::{DType, Result, Tensor};
use rand::SeedableRng;
use rand::rngs::StdRng;

/// Deterministic standard-normal f64 data.
pub fn randn(seed: u64, shape: &[usize]) -> Tensor {
    Tensor::randn(&mut StdRng::seed_from_u64(seed), shape, DType::F64).unwrap()
}

/// Σ y ⊙ w with a fixed, non-uniform w, so every output element gets a
/// different weight in the gradient.
pub fn weighted_sum(y: &Tensor) -> Result<Tensor> {
    let n = y.len();
    let w = Tensor::arange(1.0, n as f64 + 1.0, 1.0, y.dtype())?.mul_scalar(0.7)?.sin()?.reshape(y.shape())?;
    y.mul(&w)?.sum_all()
}
