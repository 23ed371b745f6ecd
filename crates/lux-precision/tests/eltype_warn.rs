//! Lux's `eltype_matching.jl` with the preference "warn": the output stays
//! f64 and the mismatch is reported once per process.

mod common;
use common::*;
use lux_core::{DType, Tensor};
use lux_precision::{EltypeMismatch, set_eltype_mismatch_handling};

#[test]
fn warn_keeps_the_input_and_warns_once() {
    install_logger();
    set_eltype_mismatch_handling(EltypeMismatch::Warn);
    let (model, ps, st, x) = lux_eltype_setup();
    for _ in 0..3 {
        assert_eq!(output(&model, &ps, &st, &x).unwrap().dtype(), DType::F64);
    }
    let (dx, dps) = grads(&model, &ps, &st, &x).unwrap();
    assert_eq!(dx.dtype(), DType::F64);
    assert!(dtypes(&dps).iter().all(|d| *d == DType::F32));
    // An integer input is another acting pair: still no second warning.
    let xi = Tensor::from_vec(vec![1i64, 2, 3, 4], &[2, 2]).unwrap();
    assert!(output(&model, &ps, &st, &xi).is_err()); // Dense refuses integers anyway
    let w = warnings();
    assert_eq!(w.len(), 1, "{w:?}");
    assert_eq!(
        w[0],
        "Dense(2 => 3, tanh): a layer with f32 parameters and states received f64 input. (warned once per process)"
    );
    // A pair outside Lux's table (f64 parameters, f32 input) is silent and promotes.
    let ps64 = lux_precision::f64(&ps).unwrap();
    let x32 = lux_precision::f32(&x).unwrap();
    assert_eq!(output(&model, &ps64, &st, &x32).unwrap().dtype(), DType::F64);
    assert_eq!(warnings().len(), 1);
}
