//! Tests of the dropout layers (translating Lux's `test/core_layers/dropout_tests.jl`
//! plus value checks against the definitions).

use crate::common::{InTestMode, randn};
use lux_ad::testing::{LayerCheck, check_layer};
use lux_core::{DType, Layer, LuxError, RngState, Tensor, Tree, apply_tensor, setup, test_mode, update_state};
use lux_layers::{AlphaDropout, Dropout, VariationalHiddenDropout};

fn vals(t: &Tensor) -> Vec<f64> {
    t.to_dtype(DType::F64).unwrap().to_vec::<f64>().unwrap()
}

/// Lux's α′ = −λα and the affine constants for p = 0.2 (LUX-REFERENCE §11).
const ALPHA: f64 = -1.758_099_340_847_376_6;
const A_02: f64 = 0.878_903_583_443_532_8;
const B_02: f64 = 0.309_039_962_144_094_46;

#[test]
fn dropout_scales_kept_elements_by_inverse_keep_probability() {
    let layer = Dropout::new(0.3).unwrap();
    let (ps, st) = setup(&mut RngState::seed_from_u64(1), &layer).unwrap();
    let x = randn(2, &[40, 25], DType::F64);
    let (y, _) = apply_tensor(&layer, &x, &ps, &st).unwrap();
    let (mut kept, mut dropped) = (0, 0);
    for (yv, xv) in vals(&y).into_iter().zip(vals(&x)) {
        if yv == 0.0 {
            dropped += 1;
        } else {
            kept += 1;
            assert!((yv - xv / 0.7).abs() <= 1e-12 * xv.abs().max(1.0), "{yv} vs {xv}/0.7");
        }
    }
    assert!(kept > 0 && dropped > 0);
    // f32 input: the same rule in f32.
    let x32 = x.to_dtype(DType::F32).unwrap();
    let (y32, _) = apply_tensor(&layer, &x32, &ps, &st).unwrap();
    assert_eq!(y32.dtype(), DType::F32);
    for (yv, xv) in y32.to_vec::<f32>().unwrap().into_iter().zip(x32.to_vec::<f32>().unwrap()) {
        assert!(yv == 0.0 || (yv - xv / 0.7).abs() <= 1e-6 * xv.abs().max(1.0));
    }
}

#[test]
fn dropout_fraction_dropped_is_within_binomial_bounds() {
    let n = 20_000usize;
    let x = Tensor::ones(&[100, n / 100], DType::F32).unwrap();
    for (seed, p) in [(3u64, 0.1), (4, 0.5), (5, 0.9)] {
        let layer = Dropout::new(p).unwrap();
        let (ps, st) = setup(&mut RngState::seed_from_u64(seed), &layer).unwrap();
        let (y, _) = apply_tensor(&layer, &x, &ps, &st).unwrap();
        let zeros = vals(&y).iter().filter(|&&v| v == 0.0).count() as f64;
        let (mean, sd) = (n as f64 * p, (n as f64 * p * (1.0 - p)).sqrt());
        assert!((zeros - mean).abs() <= 5.0 * sd, "p = {p}: {zeros} dropped of {n}, expected {mean} ± {sd}");
        // every kept value is exactly 1/(1 − p) in f32
        let inv = (1.0 / (1.0 - p)) as f32;
        assert!(y.to_vec::<f32>().unwrap().iter().all(|&v| v == 0.0 || v == inv));
    }
}

#[test]
fn dropout_is_identity_in_test_mode_and_keeps_its_rng() {
    for layer in [Dropout::new(0.5).unwrap(), Dropout::builder(0.5).dims(vec![0]).build().unwrap()] {
        let (ps, st) = setup(&mut RngState::seed_from_u64(7), &layer).unwrap();
        let st = test_mode(&st);
        let x = randn(8, &[5, 2], DType::F32);
        let (y, st2) = apply_tensor(&layer, &x, &ps, &st).unwrap();
        assert_eq!(y, x);
        assert_eq!(st2, st);
    }
}

/// Lux's test: the state's rng advances; same state → same output; the
/// advanced state gives a different one.
#[test]
fn dropout_state_rng_advances() {
    let layers: Vec<Box<dyn Layer>> = vec![
        Box::new(Dropout::new(0.5).unwrap()),
        Box::new(AlphaDropout::new(0.5).unwrap()),
        Box::new(VariationalHiddenDropout::new(0.5).unwrap()),
    ];
    for layer in layers {
        let (ps, st) = setup(&mut RngState::seed_from_u64(12345), &layer).unwrap();
        let x = randn(9, &[2, 5], DType::F32);
        let (y1, st1) = apply_tensor(&layer, &x, &ps, &st).unwrap();
        let (y2, st2) = apply_tensor(&layer, &x, &ps, &st).unwrap();
        let (y3, _) = apply_tensor(&layer, &y1, &ps, &st1).unwrap();
        assert_ne!(st1.get("rng").unwrap(), st.get("rng").unwrap(), "{}", layer.describe());
        assert_eq!(st1, st2, "{}", layer.describe());
        assert_eq!(y1, y2, "{}", layer.describe());
        assert_ne!(y1, y3, "{}", layer.describe());
        // The same seed gives the same mask, another seed another one.
        let (_, st_b) = setup(&mut RngState::seed_from_u64(12346), &layer).unwrap();
        assert_ne!(apply_tensor(&layer, &x, &ps, &st_b).unwrap().0, y1, "{}", layer.describe());
        // test mode: the identity
        assert_eq!(apply_tensor(&layer, &x, &ps, &test_mode(&st)).unwrap().0, x, "{}", layer.describe());
    }
}

#[test]
fn dropout_p_zero_and_one() {
    let x = randn(10, &[6, 7], DType::F64);
    // p = 0: the identity (Lux returns a NoOpLayer); the rng is not used.
    let l0 = Dropout::new(0.0).unwrap();
    let (ps, st) = setup(&mut RngState::seed_from_u64(0), &l0).unwrap();
    let (y, st2) = apply_tensor(&l0, &x, &ps, &st).unwrap();
    assert_eq!((y, st2), (x.clone(), st));
    let a0 = AlphaDropout::new(0.0).unwrap();
    let (ps, st) = setup(&mut RngState::seed_from_u64(0), &a0).unwrap();
    assert_eq!(apply_tensor(&a0, &x, &ps, &st).unwrap().0, x);
    let v0 = VariationalHiddenDropout::new(0.0).unwrap();
    let (ps, st) = setup(&mut RngState::seed_from_u64(0), &v0).unwrap();
    assert_eq!(apply_tensor(&v0, &x, &ps, &st).unwrap().0, x);
    // p = 1: zeros (Lux: `AlphaDropout(1)` is `broadcast(zero)`; `Dropout(1)` zeroes everything).
    let zeros = vec![0.0; 42];
    for layer in [
        Box::new(Dropout::new(1.0).unwrap()) as Box<dyn Layer>,
        Box::new(AlphaDropout::new(1.0).unwrap()),
        Box::new(VariationalHiddenDropout::new(1.0).unwrap()),
    ] {
        let (ps, st) = setup(&mut RngState::seed_from_u64(0), &layer).unwrap();
        assert_eq!(vals(&apply_tensor(&layer, &x, &ps, &st).unwrap().0), zeros, "{}", layer.describe());
    }
}

#[test]
fn dropout_dims_shares_the_mask() {
    // [N, C, H, W] with dims (0, 1): whole channels are dropped.
    let layer = Dropout::builder(0.5).dims(vec![0, 1]).build().unwrap();
    let (ps, st) = setup(&mut RngState::seed_from_u64(2), &layer).unwrap();
    let x = Tensor::ones(&[4, 6, 3, 3], DType::F64).unwrap();
    let (y, _) = apply_tensor(&layer, &x, &ps, &st).unwrap();
    let v = vals(&y);
    assert!(v.chunks(9).all(|ch| ch.iter().all(|&e| e == ch[0]) && (ch[0] == 0.0 || ch[0] == 2.0)));
    assert!(v.chunks(9).any(|ch| ch[0] == 0.0) && v.chunks(9).any(|ch| ch[0] == 2.0));
    // dims = -1 on [batch, features]: one mask row shared by the batch.
    let layer = Dropout::builder(0.5).dims(vec![-1]).build().unwrap();
    let (y, _) = apply_tensor(&layer, Tensor::ones(&[5, 40], DType::F64).unwrap(), &ps, &st).unwrap();
    let v = vals(&y);
    assert!(v.chunks(40).all(|row| row == &v[..40]));
    // an axis out of range is an Err naming the layer
    let layer = Dropout::builder(0.5).dims(vec![4]).build().unwrap();
    let err = apply_tensor(&layer, Tensor::ones(&[2, 3], DType::F32).unwrap(), &ps, &st).unwrap_err();
    assert!(err.to_string().starts_with("Dropout(0.5, dims=4)"), "{err}");
}

#[test]
fn dropout_constructors_reject_bad_p_and_dims() {
    for p in [-0.1, 1.0 + 1e-9, f64::NAN, f64::INFINITY] {
        assert!(matches!(Dropout::new(p), Err(LuxError::InvalidArgument { .. })), "{p}");
        assert!(matches!(AlphaDropout::new(p), Err(LuxError::InvalidArgument { .. })), "{p}");
        assert!(matches!(VariationalHiddenDropout::new(p), Err(LuxError::InvalidArgument { .. })), "{p}");
    }
    let err = Dropout::new(1.5).unwrap_err();
    assert_eq!(err.to_string(), "Dropout(1.5): invalid argument: the dropout probability p must be in [0, 1], got 1.5");
    assert!(Dropout::builder(0.5).dims(vec![]).build().is_err());
    assert!(Dropout::builder(0.5).dims(vec![1, 1]).build().is_err());
    assert!(VariationalHiddenDropout::builder(0.5).dims(vec![0, 0]).build().is_err());
}

#[test]
fn dropout_bad_input_is_an_err_naming_the_layer() {
    let layer = Dropout::new(0.5).unwrap();
    let (ps, st) = setup(&mut RngState::seed_from_u64(0), &layer).unwrap();
    let idx = Tensor::from_vec(vec![1i64, 2], &[2]).unwrap();
    let err = apply_tensor(&layer, &idx, &ps, &st).unwrap_err();
    assert!(matches!(&err, LuxError::DType { op, .. } if op == "Dropout(0.5)"), "{err}");
    let err = layer.forward(&Tree::Float(1.0), &ps, &st).unwrap_err();
    assert!(err.to_string().contains("Dropout(0.5): expects a tensor input"), "{err}");
    // a state that does not belong to the layer
    let x = Tensor::ones(&[2], DType::F32).unwrap();
    assert!(matches!(apply_tensor(&layer, &x, &ps, &Tree::new()), Err(LuxError::MissingKey { .. })));
}

#[test]
fn dropout_counts_and_printing() {
    let cases: Vec<(Box<dyn Layer>, &str, usize)> = vec![
        (Box::new(Dropout::new(0.5).unwrap()), "Dropout(0.5)", 2),
        (Box::new(Dropout::new(1.0).unwrap()), "Dropout(1.0)", 2),
        (Box::new(Dropout::builder(0.1).dims(vec![0, 1]).build().unwrap()), "Dropout(0.1, dims=(0, 1))", 2),
        (Box::new(AlphaDropout::new(0.5).unwrap()), "AlphaDropout(0.5)", 2),
        (Box::new(VariationalHiddenDropout::new(0.5).unwrap()), "VariationalHiddenDropout(0.5)", 4),
        (
            Box::new(VariationalHiddenDropout::builder(0.25).dims(vec![-1]).build().unwrap()),
            "VariationalHiddenDropout(0.25, dims=-1)",
            4,
        ),
    ];
    for (layer, text, states) in cases {
        assert_eq!(layer.describe(), text);
        assert_eq!(layer.param_count(), 0, "{text}");
        assert_eq!(layer.state_count(), states, "{text}");
        let (ps, st) = setup(&mut RngState::seed_from_u64(0), &layer).unwrap();
        assert_eq!((ps.param_count(), st.state_count()), (0, states), "{text}");
        assert_eq!(st.get("training").unwrap(), &Tree::Bool(true), "{text}");
    }
}

#[test]
fn alpha_dropout_values_and_moments() {
    let layer = AlphaDropout::new(0.2).unwrap();
    let (ps, st) = setup(&mut RngState::seed_from_u64(11), &layer).unwrap();
    let x = randn(12, &[200, 100], DType::F64);
    let (y, _) = apply_tensor(&layer, &x, &ps, &st).unwrap();
    let (xv, yv) = (vals(&x), vals(&y));
    let dropped_value = A_02 * ALPHA + B_02;
    let mut dropped = 0usize;
    for (&xi, &yi) in xv.iter().zip(&yv) {
        if (yi - dropped_value).abs() < 1e-12 && (A_02 * xi + B_02 - yi).abs() > 1e-9 {
            dropped += 1;
        } else {
            assert!((yi - (A_02 * xi + B_02)).abs() < 1e-12, "{yi} vs A·{xi} + B");
        }
    }
    let n = xv.len() as f64;
    assert!((dropped as f64 - 0.2 * n).abs() <= 5.0 * (n * 0.2 * 0.8).sqrt(), "{dropped} dropped");
    // standard-normal input keeps (about) zero mean and unit variance
    let mean = yv.iter().sum::<f64>() / n;
    let var = yv.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
    assert!(mean.abs() < 0.05 && (var - 1.0).abs() < 0.05, "mean {mean}, var {var}");
    // f32 works and stays f32
    let (y32, _) = apply_tensor(&layer, x.to_dtype(DType::F32).unwrap(), &ps, &st).unwrap();
    assert_eq!(y32.dtype(), DType::F32);
}

/// Lux's VariationalHiddenDropout test, plus the mask's shape and reuse.
#[test]
fn variational_hidden_dropout_reuses_its_mask() {
    let layer = VariationalHiddenDropout::new(0.5).unwrap();
    assert!(!layer.preserves_state_type());
    let (ps, st) = setup(&mut RngState::seed_from_u64(12345), &layer).unwrap();
    assert_eq!(st.get("mask").unwrap(), &Tree::None);
    assert_eq!(st.get("update_mask").unwrap(), &Tree::Bool(true));
    let x = randn(13, &[5, 2], DType::F32);
    let (x1, st1) = apply_tensor(&layer, &x, &ps, &st).unwrap();
    let (x2, st2) = apply_tensor(&layer, &x, &ps, &st).unwrap();
    assert_eq!((&x1, &st1), (&x2, &st2));
    let mask = st1.tensor("mask").unwrap().clone();
    assert_eq!(mask.shape(), &[5, 2]);
    assert!(vals(&mask).iter().all(|&m| m == 0.0 || m == 2.0));
    assert_eq!(x1, x.mul(&mask).unwrap());
    assert_eq!(st1.get("update_mask").unwrap(), &Tree::Bool(false));
    // the stored mask is reused and the rng is not touched
    let (x3, st3) = apply_tensor(&layer, &x1, &ps, &st1).unwrap();
    assert_eq!(x3, x1.mul(&mask).unwrap());
    assert_ne!(x3, x1);
    assert_eq!(st3, st1);
    // update_mask = true draws a new mask from the advanced rng
    let st_new = update_state(&st1, "update_mask", true);
    let (x4, st4) = apply_tensor(&layer, &x, &ps, &st_new).unwrap();
    assert_ne!(st4.get("mask").unwrap(), st1.get("mask").unwrap());
    assert_ne!(x4, x1);
    assert_ne!(st4.get("rng").unwrap(), st1.get("rng").unwrap());
    // test mode: identity, state untouched
    let st_test = test_mode(&st1);
    let (y, st5) = apply_tensor(&layer, &x, &ps, &st_test).unwrap();
    assert_eq!((y, st5), (x.clone(), st_test));
    // a stored mask that does not fit the input is an Err
    let err = apply_tensor(&layer, randn(1, &[3, 2], DType::F32), &ps, &st1).unwrap_err();
    assert!(matches!(&err, LuxError::Shape { op, .. } if op == "VariationalHiddenDropout(0.5)"), "{err}");
    assert!(err.to_string().contains("[5, 2]"), "{err}");
}

#[test]
fn variational_hidden_dropout_with_dims() {
    // [batch, time, features], mask varying over batch and features only:
    // the same mask at every time step.
    let layer = VariationalHiddenDropout::builder(0.5).dims(vec![0, -1]).build().unwrap();
    let (ps, st) = setup(&mut RngState::seed_from_u64(3), &layer).unwrap();
    let x = Tensor::ones(&[3, 4, 10], DType::F64).unwrap();
    let (y, st1) = apply_tensor(&layer, &x, &ps, &st).unwrap();
    assert_eq!(st1.tensor("mask").unwrap().shape(), &[3, 1, 10]);
    let v = vals(&y);
    for b in 0..3 {
        let first = &v[b * 40..b * 40 + 10];
        for t in 1..4 {
            assert_eq!(&v[b * 40 + t * 10..b * 40 + t * 10 + 10], first);
        }
    }
    // the stored mask broadcasts over another sequence length
    let (y2, _) = apply_tensor(&layer, Tensor::ones(&[3, 7, 10], DType::F64).unwrap(), &ps, &st1).unwrap();
    assert_eq!(&vals(&y2)[..10], &v[..10]);
}

#[test]
fn variational_hidden_dropout_gradient_with_a_stored_mask() {
    let layer = VariationalHiddenDropout::new(0.5).unwrap();
    let (ps, st) = setup(&mut RngState::seed_from_u64(4), &layer).unwrap();
    let x = randn(5, &[3, 4], DType::F64);
    let (_, st1) = apply_tensor(&layer, &x, &ps, &st).unwrap();
    let w = randn(6, &[3, 4], DType::F64);
    let f = |x: &Tree| layer.forward(x, &ps, &st1)?.0.as_tensor()?.mul(&w)?.sum_all();
    lux_ad::check_gradients(f, &x.clone().into(), Default::default()).unwrap();
}

#[test]
fn dropout_layers_pass_check_layer_in_both_modes() {
    let x: Tree = randn(21, &[3, 4], DType::F32).into();
    let opts = LayerCheck { output_shape: Some(vec![3, 4]), ..Default::default() };
    let layers: Vec<Box<dyn Layer>> = vec![
        Box::new(Dropout::new(0.5).unwrap()),
        Box::new(Dropout::builder(0.3).dims(vec![-1]).build().unwrap()),
        Box::new(AlphaDropout::new(0.5).unwrap()),
        Box::new(VariationalHiddenDropout::new(0.5).unwrap()),
    ];
    for layer in layers {
        let report = check_layer(&layer, &x, &opts).unwrap_or_else(|e| panic!("{}: {e}", layer.describe()));
        assert_eq!(report.input_grad.unwrap().checked, 12);
        let name = layer.describe();
        check_layer(&InTestMode(layer), &x, &opts).unwrap_or_else(|e| panic!("{name} (test mode): {e}"));
    }
}
