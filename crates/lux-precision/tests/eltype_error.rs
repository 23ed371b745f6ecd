//! Lux's `eltype_matching.jl` with the preference "error": a mismatch is an
//! `EltypeMismatch` error naming the layer, both types and the remedy.

mod common;
use common::*;
use lux_core::{DType, LuxError};
use lux_precision::{EltypeMismatch, set_eltype_mismatch_handling};

#[test]
fn error_refuses_a_mismatching_input() {
    install_logger();
    set_eltype_mismatch_handling(EltypeMismatch::Error);
    let (model, ps, st, x) = lux_eltype_setup();
    let err = output(&model, &ps, &st, &x).unwrap_err();
    let LuxError::EltypeMismatch { layer, msg } = &err else { panic!("{err}") };
    assert_eq!(layer, "Dense(2 => 3, tanh)");
    assert!(msg.starts_with("a layer with f32 parameters and states received f64 input."), "{msg}");
    assert!(msg.contains("set_eltype_mismatch_handling") && msg.contains("LUX_ELTYPE_MISMATCH"), "{msg}");
    // Also while a gradient is being taken (Lux: for every AD input type).
    assert!(matches!(grads(&model, &ps, &st, &x).unwrap_err(), LuxError::EltypeMismatch { .. }));
    // Matching types pass; so does a pair outside the table (f64 params, f32 input).
    let x32 = x.to_dtype(DType::F32).unwrap();
    assert_eq!(output(&model, &ps, &st, &x32).unwrap().dtype(), DType::F32);
    let ps64 = lux_precision::f64(&ps).unwrap();
    assert_eq!(output(&model, &ps64, &st, &x32).unwrap().dtype(), DType::F64);
    assert!(warnings().is_empty());
}
