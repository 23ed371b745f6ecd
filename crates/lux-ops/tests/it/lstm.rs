//! Tests of `lux_ops::lstm_cell`: the values of the elementwise LSTM update
//! (bit for bit: the same scalar kernels in the same order), gradients and
//! tangents against finite differences, bad input.
use crate::*;
use lux_core::{DType, LuxError, Result, Tensor};
use lux_ops::{lstm_cell, multigate, sigmoid, tanh};

/// The update written with elementwise ops.
fn reference(gates: &Tensor, c: &Tensor) -> Result<(Tensor, Tensor)> {
    let g = multigate(gates, 4)?;
    let cn = sigmoid(&g[1])?.mul(c)?.add(&sigmoid(&g[0])?.mul(&tanh(&g[2])?)?)?;
    let h = sigmoid(&g[3])?.mul(&tanh(&cn)?)?;
    Ok((h, cn))
}

#[test]
fn values_equal_the_elementwise_update() -> Result<()> {
    for dtype in [DType::F32, DType::F64] {
        for (gs, cs) in [(vec![5, 12], vec![5, 3]), (vec![2, 3, 8], vec![2, 3, 2]), (vec![4], vec![1])] {
            let gates = randn(1, &gs).mul_scalar(2.0)?.to_dtype(dtype)?;
            let c = randn(2, &cs).to_dtype(dtype)?;
            let (h, c2) = lstm_cell(&gates, &c)?;
            let (hr, cr) = reference(&gates, &c)?;
            assert_eq!((h.shape(), c2.shape()), (&cs[..], &cs[..]));
            assert_eq!(h.dtype(), dtype);
            assert_eq!(h, hr, "{dtype} {gs:?}");
            assert_eq!(c2, cr, "{dtype} {gs:?}");
        }
    }
    // Non-contiguous gates (a transposed buffer).
    let gates = randn(3, &[8, 3]).permute(&[1, 0])?;
    let c = randn(4, &[3, 2]);
    assert_eq!(lstm_cell(&gates, &c)?.0, reference(&gates, &c)?.0);
    Ok(())
}

#[test]
fn gradients_and_tangents_match_finite_differences() {
    let both = |xs: &[Tensor]| -> Result<Tensor> {
        let (h, c) = lstm_cell(&xs[0], &xs[1])?;
        Tensor::concat(&[h.mul_scalar(1.5)?, c], -1)
    };
    check_op(both, &[randn(5, &[3, 8]), randn(6, &[3, 2])]);
    check_op(both, &[randn(7, &[8, 3]).permute(&[1, 0]).unwrap(), randn(8, &[3, 2])]);
    // Only h used: c's cotangent is zero.
    check_op(|xs| lstm_cell(&xs[0], &xs[1]).map(|r| r.0), &[randn(9, &[2, 2, 12]), randn(10, &[2, 2, 3])]);
}

#[test]
fn bad_input_is_an_error() -> Result<()> {
    let g = randn(1, &[2, 8]);
    let bad = |r: Result<(Tensor, Tensor)>| r.expect_err("an error").to_string();
    assert!(bad(lstm_cell(&g, &randn(2, &[2, 3]))).contains("expects gates [..., 4h] and a cell state [..., h]"));
    assert!(bad(lstm_cell(&g, &randn(2, &[3, 2]))).contains("[2, 8] and [3, 2]"));
    assert!(bad(lstm_cell(&g, &randn(2, &[2, 2]).to_dtype(DType::F32)?)).contains("must have one dtype"));
    let e = lstm_cell(&Tensor::zeros(&[2, 8], DType::I64)?, &randn(2, &[2, 2])).expect_err("an error");
    assert!(matches!(e, LuxError::UnsupportedDType { .. } | LuxError::DType { .. }), "{e}");
    Ok(())
}
