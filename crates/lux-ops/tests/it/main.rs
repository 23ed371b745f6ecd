//! Integration tests of lux-ops: forward values against independent
//! references, f64 gradient checks, stability at extreme inputs, and errors
//! for invalid arguments.

mod activation;
mod conv;
mod dense;
mod dropout;
mod embedding;
mod lstm;
mod luxops;
mod norm;
mod pool;
mod props;
mod softmax;
mod upsample;

use lux_ad::{Tolerances, check_gradients, check_jvp};
use lux_core::{DType, Result, Tensor, Tree};
use rand::SeedableRng;
use rand::rngs::StdRng;

/// Deterministic standard-normal f64 data.
pub fn randn(seed: u64, shape: &[usize]) -> Tensor {
    Tensor::randn(&mut StdRng::seed_from_u64(seed), shape, DType::F64).unwrap()
}

/// Σ y ⊙ w with a fixed, non-uniform w, so that every output element gets a
/// different weight in the gradient.
pub fn weighted_sum(y: &Tensor) -> Result<Tensor> {
    let n = y.len();
    let w = Tensor::arange(1.0, n as f64 + 1.0, 1.0, y.dtype())?.mul_scalar(0.7)?.sin()?.reshape(y.shape())?;
    y.mul(&w)?.sum_all()
}

/// Checks the gradients of `weighted_sum(f(inputs))` w.r.t. every input
/// against f64 central differences (default tolerances 1e-6 abs, 1e-5 rel),
/// the forward-mode tangent of `f(inputs)` against central differences
/// and against the gradient (`⟨u, Jv⟩ = ⟨Jᵀu, v⟩`), and the gradient of
/// that tangent (reverse-over-forward) against central differences.
pub fn check_op(f: impl Fn(&[Tensor]) -> Result<Tensor>, inputs: &[Tensor]) {
    let mut x = Tree::new();
    for (i, t) in inputs.iter().enumerate() {
        x = x.with(format!("x{i}"), t.clone()).unwrap();
    }
    let n = inputs.len();
    let g = |p: &Tree| {
        let xs = (0..n).map(|i| p.tensor(&format!("x{i}")).cloned()).collect::<Result<Vec<_>>>()?;
        weighted_sum(&f(&xs)?)
    };
    if let Err(e) = check_gradients(g, &x, Tolerances::default()) {
        panic!("gradient check failed: {e}");
    }
    let h = |p: &Tree| {
        let xs = (0..n).map(|i| p.tensor(&format!("x{i}")).cloned()).collect::<Result<Vec<_>>>()?;
        f(&xs)
    };
    if let Err(e) = check_jvp(h, &x, Tolerances::default()) {
        panic!("tangent check failed: {e}");
    }
    // Reverse-over-forward: the tangent rule is differentiable.
    let v = x.try_map(|_, t| if t.dtype().is_float() { t.mul_scalar(0.5)?.cos() } else { Ok(t.zeros_like()) }).unwrap();
    let k = |p: &Tree| weighted_sum(&lux_ad::jvp(h, p, &v)?.1);
    if let Err(e) = check_gradients(k, &x, Tolerances::default()) {
        panic!("gradient of the tangent failed: {e}");
    }
}

/// Asserts that two f64 slices agree to `tol` (absolute + relative).
#[track_caller]
pub fn assert_close(got: &[f64], want: &[f64], tol: f64) {
    assert_eq!(got.len(), want.len(), "length differs");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!((g - w).abs() <= tol * (1.0 + w.abs()), "element {i}: got {g}, want {w}");
    }
}

/// Row-major multi-index of `flat` in `dims` (for naive reference loops).
pub fn unravel(mut flat: usize, dims: &[usize]) -> Vec<usize> {
    let mut idx = vec![0; dims.len()];
    for i in (0..dims.len()).rev() {
        idx[i] = flat % dims[i];
        flat /= dims[i];
    }
    idx
}

/// Row-major flat index of `idx` in `dims`.
pub fn ravel(idx: &[usize], dims: &[usize]) -> usize {
    idx.iter().zip(dims).fold(0, |acc, (&i, &d)| acc * d + i)
}
