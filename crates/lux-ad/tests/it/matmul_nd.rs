//! `check_gradients` (f64, central differences) for `matmul` with 1-d
//! operands and broadcast batch axes of any rank, including strided
//! operands, and a second-order check through the backward rule.

use crate::{randn, weighted_sum};
use lux_ad::{Tolerances, check_gradients, gradient};
use lux_core::{Result, Tensor, Tree, tree};

fn tol() -> Tolerances {
    Tolerances { atol: 1e-7, rtol: 1e-6 }
}

/// Checks Σ w ⊙ (a · b) against finite differences in both operands.
fn check(a: Tensor, b: Tensor) {
    let (sa, sb) = (a.shape().to_vec(), b.shape().to_vec());
    let ps = tree! { a: a, b: b };
    let f = |t: &Tree| weighted_sum(&t.tensor("a")?.matmul(t.tensor("b")?)?);
    if let Err(e) = check_gradients(f, &ps, tol()) {
        panic!("{sa:?} · {sb:?}: {e}");
    }
}

#[test]
fn vector_operands() {
    check(randn(1, &[4]), randn(2, &[4])); // dot product, 0-d result
    check(randn(3, &[4]), randn(4, &[4, 3])); // row vector · matrix
    check(randn(5, &[3, 4]), randn(6, &[4])); // matrix · column vector
    check(randn(7, &[4]), randn(8, &[2, 4, 3])); // vector · batch of matrices
    check(randn(9, &[2, 3, 3, 4]), randn(10, &[4])); // batch of matrices · vector
}

#[test]
fn broadcast_batch_axes() {
    check(randn(11, &[2, 3, 4, 5]), randn(12, &[2, 3, 5, 2])); // [B, H, T, D] · [B, H, D, S]
    check(randn(13, &[3, 4, 5]), randn(14, &[5, 2])); // [H, T, D] · [D, S]
    check(randn(15, &[4, 5]), randn(16, &[2, 3, 5, 2])); // matrix against a rank-4 batch
    check(randn(17, &[2, 1, 4, 5]), randn(18, &[3, 5, 2])); // [B, 1, T, D] · [H, D, S] → [B, H, T, S]
    check(randn(19, &[1, 3, 1, 2, 3]), randn(20, &[2, 1, 4, 3, 2])); // size-1 axes on both sides
}

#[test]
fn strided_operands() {
    // a: a permuted [2, 3, 4, 5] view; b: a transposed [3, 5, 2] view.
    let a = randn(21, &[5, 3, 2, 4]).permute(&[2, 1, 3, 0]).unwrap();
    let b = randn(22, &[3, 2, 5]).transpose(-1, -2).unwrap();
    assert!(!a.is_contiguous() && !b.is_contiguous());
    assert_eq!((a.shape(), b.shape()), (&[2, 3, 4, 5][..], &[3, 5, 2][..]));
    check(a, b);
    // A strided 1-d operand (a column of a matrix).
    let v = randn(23, &[4, 3]).narrow(1, 1, 1).unwrap().reshape(&[4]).unwrap();
    check(randn(24, &[2, 3, 4]), v);
}

#[test]
fn broadcast_gradients_are_summed_over_the_batch() -> Result<()> {
    // d/dW Σ (x · W) over a batch of 3 identical x = 3 · xᵀ·1: checked by hand.
    let x = Tensor::from_vec(vec![1.0f64, 2.0], &[1, 2])?.broadcast_to(&[3, 1, 2])?;
    let ps = tree! { w: Tensor::from_vec(vec![0.5f64, -1.0, 2.0, 0.25], &[2, 2])? };
    let g = gradient(|t| x.matmul(t.tensor("w")?)?.sum_all(), &ps)?;
    assert_eq!(g.tensor("w")?.shape(), &[2, 2]);
    assert_eq!(g.tensor("w")?.to_vec::<f64>()?, vec![3.0, 3.0, 6.0, 6.0]);
    // d/dv (u · v) = u for 1-d operands, with v's shape.
    let u = Tensor::from_vec(vec![1.5f64, -2.0, 4.0], &[3])?;
    let ps = tree! { v: Tensor::from_vec(vec![0.0f64, 1.0, 2.0], &[3])? };
    let g = gradient(|t| u.matmul(t.tensor("v")?), &ps)?;
    assert_eq!(g.tensor("v")?.to_vec::<f64>()?, vec![1.5, -2.0, 4.0]);
    Ok(())
}

#[test]
fn second_order_through_the_backward_rule() {
    // ‖∂/∂a Σ w ⊙ (a · b)‖² is differentiated again: the backward rule's own
    // matmuls (with 1-d and broadcast operands) must be differentiable.
    for (sa, sb) in [(&[3][..], &[2, 3, 4][..]), (&[2, 1, 3, 4][..], &[3, 4, 2][..]), (&[2, 3][..], &[3][..])] {
        let ps = tree! { a: randn(31, sa), b: randn(32, sb) };
        let penalty = |t: &Tree| -> Result<Tensor> {
            let b = t.tensor("b")?;
            let g = gradient(|u| weighted_sum(&u.tensor("a")?.matmul(b)?), t)?;
            g.tensor("a")?.square()?.sum_all()
        };
        if let Err(e) = check_gradients(penalty, &ps, tol()) {
            panic!("{sa:?} · {sb:?}: {e}");
        }
    }
}
