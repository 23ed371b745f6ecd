//! Lux's `eltype_matching.jl` with the preference "convert": the input is
//! converted to f32, so the output is f32; `dx` stays f64 and `dps` f32.

mod common;
use common::*;
use lux_core::DType;
use lux_precision::{EltypeMismatch, set_eltype_mismatch_handling};

#[test]
fn convert_converts_the_input_to_the_parameters_type() {
    install_logger();
    set_eltype_mismatch_handling(EltypeMismatch::Convert);
    let (model, ps, st, x) = lux_eltype_setup();
    let y = output(&model, &ps, &st, &x).unwrap();
    assert_eq!(y.dtype(), DType::F32);
    // Exactly the f32 computation on the rounded input.
    let x32 = x.to_dtype(DType::F32).unwrap();
    assert_eq!(y, output(&model, &ps, &st, &x32).unwrap());
    let (dx, dps) = grads(&model, &ps, &st, &x).unwrap();
    assert_eq!(dx.dtype(), DType::F64);
    assert!(dtypes(&dps).iter().all(|d| *d == DType::F32), "{:?}", dtypes(&dps));
    // The f64 input gradient is the f32 one, widened: conversion's adjoint.
    let (dx32, _) = grads(&model, &ps, &st, &x32).unwrap();
    assert_eq!(dx, dx32.to_dtype(DType::F64).unwrap());
    let w = warnings();
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(w[0].ends_with("received f64 input. Converting to f32. (warned once per process)"), "{}", w[0]);
    // f16 parameters with f32 input are converted to f16 too (Lux's table).
    let ps16 = lux_precision::f16(&ps).unwrap();
    assert_eq!(output(&model, &ps16, &st, &x32).unwrap().dtype(), DType::F16);
}
