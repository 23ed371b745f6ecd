//! `LUX_ELTYPE_MISMATCH`: read once; an unknown value is an `Err` at first
//! use listing the valid ones. Each case runs in a child process of this
//! binary (the variable is read once per process).

use lux_core::{DType, LuxError, Tensor, Tree};
use lux_layers::Dense;
use lux_ops::Activation;
use lux_precision::{EltypeMismatch, match_eltype, set_eltype_mismatch_handling};
use std::process::Command;

/// Runs the test `name` of this binary in a child with `LUX_ELTYPE_MISMATCH=value`.
fn child(name: &str, value: &str) {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", name, "--test-threads=1"])
        .env(lux_precision::ENV_VAR, value)
        .env("LUX_PRECISION_CHILD", "1")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && text.contains("1 passed"), "{name} with {value}:\n{text}");
}

fn in_child() -> bool {
    std::env::var("LUX_PRECISION_CHILD").is_ok()
}

fn mismatch() -> (Dense, Tree, Tree) {
    let layer = Dense::new(2, 1, Activation::Identity).unwrap();
    let (ps, st) = lux_core::setup(&mut lux_core::RngState::seed_from_u64(0), &layer).unwrap();
    (layer, ps, st)
}

#[test]
fn env_convert_is_read() {
    if !in_child() {
        return child("env_convert_is_read", "convert");
    }
    let (layer, ps, st) = mismatch();
    let x: Tree = Tensor::ones(&[1, 2], DType::F64).unwrap().into();
    assert_eq!(match_eltype(&layer, &ps, &st, &x).unwrap().as_tensor().unwrap().dtype(), DType::F32);
}

#[test]
fn env_unknown_value_is_an_error_until_set_in_code() {
    if !in_child() {
        return child("env_unknown_value_is_an_error_until_set_in_code", "loud");
    }
    let (layer, ps, st) = mismatch();
    let x: Tree = Tensor::ones(&[1, 2], DType::F32).unwrap().into();
    for _ in 0..2 {
        let err = match_eltype(&layer, &ps, &st, &x).unwrap_err();
        assert!(matches!(err, LuxError::InvalidArgument { .. }));
        assert_eq!(
            err.to_string(),
            "eltype mismatch handling: invalid argument: unknown mode `loud`: expected `none`, `warn`, `convert` or `error`"
        );
    }
    set_eltype_mismatch_handling(EltypeMismatch::None);
    assert!(match_eltype(&layer, &ps, &st, &x).is_ok());
}
