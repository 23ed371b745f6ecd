//! Lux's `eltype_matching.jl` with the preference "none" (the default):
//! f32 parameters and f64 input give an f64 output, silently. Its own
//! binary: the mode is process-wide.

mod common;
use common::*;
use lux_core::DType;
use lux_precision::{EltypeMismatch, eltype_mismatch_handling};

#[test]
fn none_is_the_default_and_promotes() {
    install_logger();
    // No mode set and no LUX_ELTYPE_MISMATCH in the test environment.
    assert!(std::env::var(lux_precision::ENV_VAR).is_err(), "unset LUX_ELTYPE_MISMATCH to run this test");
    let (model, ps, st, x) = lux_eltype_setup();
    let y = output(&model, &ps, &st, &x).unwrap();
    assert_eq!(y.dtype(), DType::F64);
    assert_eq!(eltype_mismatch_handling().unwrap(), EltypeMismatch::None);
    let (dx, dps) = grads(&model, &ps, &st, &x).unwrap();
    assert_eq!(dx.dtype(), DType::F64);
    assert!(dtypes(&dps).iter().all(|d| *d == DType::F32), "{:?}", dtypes(&dps));
    // The output is the f64 computation with the f32 weights widened.
    let ps64 = lux_precision::f64(&ps).unwrap();
    assert_eq!(y, output(&model, &ps64, &st, &x).unwrap());
    assert!(warnings().is_empty(), "{:?}", warnings());
}
