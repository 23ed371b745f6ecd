//! Tests of the normalisation layers (translating Lux's
//! `test/core_layers/normalize_tests.jl`, batch-first, plus values against
//! naive f64 references written here from the definitions).

use crate::common::{InTestMode, randn};
use lux_ad::testing::{LayerCheck, check_layer};
use lux_core::{
    Children, DType, Layer, LuxError, Result, RngState, Tensor, Tree, apply_tensor, forward_child, setup, test_mode,
    train_mode, tree,
};
use lux_layers::init::Init;
use lux_layers::{BatchNorm, GroupNorm, InstanceNorm, LayerNorm, WeightNorm};
use lux_ops::Activation;

fn vals(t: &Tensor) -> Vec<f64> {
    t.to_dtype(DType::F64).unwrap().to_vec::<f64>().unwrap()
}

fn assert_close(got: &[f64], want: &[f64], tol: f64, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!((g - w).abs() <= tol * (1.0 + w.abs()), "{what}[{i}]: {g} vs {w}");
    }
}

fn sigmoid(v: f64) -> f64 {
    1.0 / (1.0 + (-v).exp())
}

/// Mean and biased variance of a list.
fn mean_var(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let m = v.iter().sum::<f64>() / n;
    (m, v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / n)
}

/// Flat index of `[n, c, s]` in an `[N, C, S]` array.
fn at(n: usize, c: usize, s: usize, chs: usize, sp: usize) -> usize {
    (n * chs + c) * sp + s
}

/// Naive batch norm of `[N, C, S…]` (flattened spatial size `sp`) with given
/// per-channel statistics (or the batch's when `None`).
#[allow(clippy::too_many_arguments)]
fn naive_batch_norm(
    x: &[f64],
    n: usize,
    chs: usize,
    sp: usize,
    stats: Option<(&[f64], &[f64])>,
    scale: &[f64],
    bias: &[f64],
    eps: f64,
    act: fn(f64) -> f64,
) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let mut y = vec![0.0; x.len()];
    let (mut means, mut vars) = (vec![0.0; chs], vec![0.0; chs]);
    for c in 0..chs {
        let vals: Vec<f64> =
            (0..n).flat_map(|i| (0..sp).map(move |s| (i, s))).map(|(i, s)| x[at(i, c, s, chs, sp)]).collect();
        let (m, v) = match stats {
            Some((ms, vs)) => (ms[c], vs[c]),
            None => mean_var(&vals),
        };
        means[c] = m;
        vars[c] = v;
        for i in 0..n {
            for s in 0..sp {
                let k = at(i, c, s, chs, sp);
                y[k] = act((x[k] - m) / (v + eps).sqrt() * scale[c] + bias[c]);
            }
        }
    }
    (y, means, vars)
}

fn id(v: f64) -> f64 {
    v
}

fn to_f64(t: &Tree) -> Tree {
    t.try_map(|_, x| x.to_dtype(DType::F64)).unwrap()
}

fn set(ps: &Tree, key: &str, t: Tensor) -> Tree {
    let mut ps = ps.clone();
    *ps.tensor_mut(key).unwrap() = t;
    ps
}

// ----- BatchNorm -------------------------------------------------------------------

/// Lux's BatchNorm test: x = [1 3 5; 2 4 6] (2 features × 3 samples), here [3, 2].
#[test]
fn batch_norm_lux_test_values_and_running_statistics() {
    let m = BatchNorm::new(2).unwrap();
    let x = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0], &[3, 2]).unwrap();
    let (ps, st) = setup(&mut RngState::seed_from_u64(12345), &m).unwrap();
    assert_eq!(m.param_count(), ps.param_count());
    assert_eq!(m.state_count(), st.state_count());
    assert_eq!(vals(ps.tensor("bias").unwrap()), vec![0.0, 0.0]);
    assert_eq!(vals(ps.tensor("scale").unwrap()), vec![1.0, 1.0]);
    let (y, st_) = apply_tensor(&m, &x, &ps, &st).unwrap();
    assert_close(&vals(&y), &[-1.22474, -1.22474, 0.0, 0.0, 1.22474, 1.22474], 1e-5, "y");
    // momentum 0.1: 0.1·[3, 4] + 0.9·0
    assert_close(&vals(st_.tensor("running_mean").unwrap()), &[0.3, 0.4], 1e-6, "running_mean");
    // 0.1·var(corrected=false)·3/2 + 0.9·1 = 0.1·(8/3)·1.5 + 0.9 = 1.3
    assert_close(&vals(st_.tensor("running_var").unwrap()), &[1.3, 1.3], 1e-6, "running_var");
    assert_eq!(st_.get("training").unwrap(), &Tree::Bool(true));
    let (y, _) = apply_tensor(&m, &x, &ps, &test_mode(&st_)).unwrap();
    assert!((vals(&y)[0] - (1.0 - 0.3) / 1.3f64.sqrt()).abs() < 1e-5);
}

#[test]
fn batch_norm_matches_a_naive_reference_in_both_modes() {
    let (n, chs, h, w) = (4, 3, 2, 5);
    let sp = h * w;
    let m = BatchNorm::builder(chs).activation(Activation::Sigmoid).momentum(0.3).epsilon(1e-3).build().unwrap();
    let (ps, st) = setup(&mut RngState::seed_from_u64(1), &m).unwrap();
    let scale = randn(2, &[chs], DType::F64);
    let bias = randn(3, &[chs], DType::F64);
    let ps = set(&set(&ps, "scale", scale.clone()), "bias", bias.clone());
    let x = randn(4, &[n, chs, h, w], DType::F64).mul_scalar(3.0).unwrap().add_scalar(1.5).unwrap();
    let xv = vals(&x);
    let (sv, bv) = (vals(&scale), vals(&bias));
    // training: batch statistics, running statistics updated with momentum 0.3
    let (y, st1) = apply_tensor(&m, &x, &ps, &st).unwrap();
    assert_eq!(y.dtype(), DType::F64);
    let (want, means, vars) = naive_batch_norm(&xv, n, chs, sp, None, &sv, &bv, 1e-3, sigmoid);
    assert_close(&vals(&y), &want, 1e-10, "training y");
    let count = (n * sp) as f64;
    let want_mean: Vec<f64> = means.iter().map(|mu| 0.7 * 0.0 + 0.3 * mu).collect();
    let want_var: Vec<f64> = vars.iter().map(|v| 0.7 * 1.0 + 0.3 * v * count / (count - 1.0)).collect();
    let rm = st1.tensor("running_mean").unwrap();
    let rv = st1.tensor("running_var").unwrap();
    assert_eq!(rm.dtype(), DType::F32); // the state keeps its dtype
    assert_close(&vals(rm), &want_mean, 1e-6, "running_mean");
    assert_close(&vals(rv), &want_var, 1e-6, "running_var");
    // test mode: the running statistics, and the state comes back unchanged
    let st_test = test_mode(&st1);
    let (y, st2) = apply_tensor(&m, &x, &ps, &st_test).unwrap();
    assert_eq!(st2, st_test);
    let (rmv, rvv) = (vals(rm), vals(rv));
    let (want, _, _) = naive_batch_norm(&xv, n, chs, sp, Some((&rmv, &rvv)), &sv, &bv, 1e-3, sigmoid);
    assert_close(&vals(&y), &want, 1e-10, "test-mode y");
}

#[test]
fn batch_norm_running_statistics_change_only_in_training() {
    let m = BatchNorm::new(2).unwrap();
    let (ps, st0) = setup(&mut RngState::seed_from_u64(0), &m).unwrap();
    let xs: Vec<Tensor> = (0..3).map(|i| randn(10 + i, &[5, 2], DType::F32)).collect();
    // three training steps follow the recurrence of the definition
    let (mut st, mut mean, mut var) = (st0.clone(), vec![0.0; 2], vec![1.0; 2]);
    for x in &xs {
        let (_, st_new) = apply_tensor(&m, x, &ps, &st).unwrap();
        let xv = vals(x);
        for c in 0..2 {
            let col: Vec<f64> = (0..5).map(|i| xv[i * 2 + c]).collect();
            let (mu, v) = mean_var(&col);
            mean[c] = 0.9 * mean[c] + 0.1 * mu;
            var[c] = 0.9 * var[c] + 0.1 * v * 5.0 / 4.0;
        }
        assert_close(&vals(st_new.tensor("running_mean").unwrap()), &mean, 1e-5, "mean");
        assert_close(&vals(st_new.tensor("running_var").unwrap()), &var, 1e-5, "var");
        assert_ne!(st_new, st);
        st = st_new;
    }
    // in test mode nothing moves, however often it is called
    let st_test = test_mode(&st);
    let mut s = st_test.clone();
    for x in &xs {
        s = apply_tensor(&m, x, &ps, &s).unwrap().1;
    }
    assert_eq!(s, st_test);
    // back in training mode the statistics move again
    let (_, moved) = apply_tensor(&m, &xs[0], &ps, &train_mode(&s)).unwrap();
    assert_ne!(moved.tensor("running_mean").unwrap(), st.tensor("running_mean").unwrap());
}

#[test]
fn batch_norm_without_tracking_uses_batch_statistics_in_both_modes() {
    for affine in [true, false] {
        let m = BatchNorm::builder(3).affine(affine).track_stats(false).build().unwrap();
        let (ps, st) = setup(&mut RngState::seed_from_u64(0), &m).unwrap();
        let ps = to_f64(&ps); // f64 parameters: the layer computes in f64
        assert_eq!(st, tree! { training: true });
        assert_eq!(ps.param_count(), if affine { 6 } else { 0 });
        let x = randn(5, &[6, 3], DType::F64);
        let (want, _, _) = naive_batch_norm(&vals(&x), 6, 3, 1, None, &[1.0; 3], &[0.0; 3], 1e-5, id);
        let (y_train, st1) = apply_tensor(&m, &x, &ps, &st).unwrap();
        let (y_test, st2) = apply_tensor(&m, &x, &ps, &test_mode(&st)).unwrap();
        assert_close(&vals(&y_train), &want, 1e-10, "training");
        assert_close(&vals(&y_test), &want, 1e-10, "test");
        assert_eq!((st1, st2), (st.clone(), test_mode(&st)));
    }
}

/// Lux's BatchNorm test with an activation, in test mode:
/// y = σ((x − running_mean)/√(running_var + ε)).
#[test]
fn batch_norm_with_activation_in_test_mode() {
    for affine in [true, false] {
        let m = BatchNorm::builder(2).activation(Activation::Sigmoid).affine(affine).build().unwrap();
        let x = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0], &[3, 2]).unwrap();
        let (ps, st) = setup(&mut RngState::seed_from_u64(12345), &m).unwrap();
        let (y, st_) = apply_tensor(&m, &x, &ps, &test_mode(&st)).unwrap();
        let (rm, rv) = (vals(st_.tensor("running_mean").unwrap()), vals(st_.tensor("running_var").unwrap()));
        let want: Vec<f64> =
            vals(&x).iter().enumerate().map(|(i, v)| sigmoid((v - rm[i % 2]) / (rv[i % 2] + 1e-5).sqrt())).collect();
        assert_close(&vals(&y), &want, 1e-6, "σ");
    }
}

#[test]
fn batch_norm_batch_of_one_in_training_is_an_err() {
    for (layer, shape) in [
        (BatchNorm::new(2).unwrap(), vec![1, 2]),
        (BatchNorm::builder(2).track_stats(false).build().unwrap(), vec![1, 2]),
        // one sample with spatial extent: still an Err, as Lux (it asserts on the batch size)
        (BatchNorm::new(2).unwrap(), vec![1, 2, 3, 3]),
    ] {
        let (ps, st) = setup(&mut RngState::seed_from_u64(0), &layer).unwrap();
        let x = randn(1, &shape, DType::F32);
        let err = apply_tensor(&layer, &x, &ps, &st).unwrap_err();
        let LuxError::Shape { op, msg } = &err else { panic!("{err}") };
        assert_eq!(op, &layer.describe());
        assert_eq!(
            msg,
            &format!(
                "the batch size cannot be 1 in training mode (input shape {shape:?}); use test_mode for single samples"
            )
        );
        // test mode accepts a single sample
        let (y, _) = apply_tensor(&layer, &x, &ps, &test_mode(&st)).unwrap();
        assert_eq!(y.shape(), &shape[..]);
    }
}

#[test]
fn batch_norm_computes_in_the_dtype_of_its_parameters() {
    let m = BatchNorm::new(2).unwrap();
    let (ps, st) = setup(&mut RngState::seed_from_u64(0), &m).unwrap();
    let ps64 = ps.try_map(|_, t| t.to_dtype(DType::F64)).unwrap();
    let x32 = randn(3, &[4, 2], DType::F32);
    let (y, st1) = apply_tensor(&m, &x32, &ps64, &st).unwrap();
    assert_eq!(y.dtype(), DType::F64);
    assert_eq!(st1.tensor("running_mean").unwrap().dtype(), DType::F32);
    let (y, _) = apply_tensor(&m, x32.to_dtype(DType::F64).unwrap(), &ps, &st).unwrap();
    assert_eq!(y.dtype(), DType::F32);
    // half-precision input is computed in the parameters' f32
    let (y, _) = apply_tensor(&m, x32.to_dtype(DType::F16).unwrap(), &ps, &st).unwrap();
    assert_eq!(y.dtype(), DType::F32);
    // no parameters: the input's dtype
    let bare = BatchNorm::builder(2).affine(false).build().unwrap();
    let (ps, st) = setup(&mut RngState::seed_from_u64(0), &bare).unwrap();
    assert_eq!(apply_tensor(&bare, randn(3, &[4, 2], DType::F64), &ps, &st).unwrap().0.dtype(), DType::F64);
}

// ----- errors ----------------------------------------------------------------------

fn shape_err(err: &LuxError) -> (&str, &str) {
    match err {
        LuxError::Shape { op, msg } => (op, msg),
        other => panic!("expected a shape error, got {other}"),
    }
}

#[test]
fn norm_layers_reject_wrong_channel_counts_and_ranks() {
    let cases: Vec<(Box<dyn Layer>, Vec<usize>, &str)> = vec![
        (
            Box::new(BatchNorm::new(3).unwrap()),
            vec![4, 5],
            "BatchNorm(3, affine=true, track_stats=true): input has 5 channels (axis 1 of shape [4, 5]), expected 3",
        ),
        (
            Box::new(BatchNorm::new(3).unwrap()),
            vec![4],
            "BatchNorm(3, affine=true, track_stats=true): input must have at least 2 axes [batch, channels, …], got shape [4]",
        ),
        (
            Box::new(GroupNorm::new(4, 2).unwrap()),
            vec![2, 6, 3],
            "GroupNorm(4, 2, affine=true): input has 6 channels (axis 1 of shape [2, 6, 3]), expected 4",
        ),
        (
            Box::new(InstanceNorm::new(3).unwrap()),
            vec![2, 3],
            "InstanceNorm(3, affine=false, track_stats=false): input must have at least 3 axes [batch, channels, spatial…], got shape [2, 3]",
        ),
        (
            Box::new(InstanceNorm::builder(3).affine(true).build().unwrap()),
            vec![2, 2, 4],
            "InstanceNorm(3, affine=true, track_stats=false): input has 2 channels (axis 1 of shape [2, 2, 4]), expected 3",
        ),
        (
            Box::new(LayerNorm::new(&[3, 4]).unwrap()),
            vec![2, 3, 5],
            "LayerNorm((3, 4), affine=true, dims=Colon()): input of shape [2, 3, 5] does not fit the parameter shape [3, 4] \
             (its trailing axes must equal it, or be broadcast from its 1s)",
        ),
    ];
    for (layer, shape, want) in cases {
        let (ps, st) = setup(&mut RngState::seed_from_u64(0), &layer).unwrap();
        let err = apply_tensor(&layer, randn(0, &shape, DType::F32), &ps, &st).unwrap_err();
        shape_err(&err);
        assert_eq!(err.to_string(), want);
    }
}

#[test]
fn norm_layers_reject_non_float_and_non_tensor_input() {
    let layer = BatchNorm::new(2).unwrap();
    let (ps, st) = setup(&mut RngState::seed_from_u64(0), &layer).unwrap();
    let idx = Tensor::from_vec(vec![1i64, 2, 3, 4], &[2, 2]).unwrap();
    let err = apply_tensor(&layer, &idx, &ps, &st).unwrap_err();
    assert!(matches!(&err, LuxError::DType { op, .. } if op == "BatchNorm(2, affine=true, track_stats=true)"), "{err}");
    let err = layer.forward(&Tree::Float(1.0), &ps, &st).unwrap_err();
    assert!(err.to_string().contains("BatchNorm(2, affine=true, track_stats=true): expects a tensor input"), "{err}");
}

#[test]
fn norm_layers_reject_parameters_and_states_of_another_layer() {
    let small = BatchNorm::new(3).unwrap();
    let big = BatchNorm::new(4).unwrap();
    let (ps4, st4) = setup(&mut RngState::seed_from_u64(0), &big).unwrap();
    let (ps3, st3) = setup(&mut RngState::seed_from_u64(0), &small).unwrap();
    let x = randn(1, &[5, 3], DType::F32);
    let err = apply_tensor(&small, &x, &ps4, &st3).unwrap_err();
    let (op, msg) = shape_err(&err);
    assert_eq!(op, "BatchNorm(3, affine=true, track_stats=true)");
    assert!(msg.contains("[4]") && msg.contains("scale"), "{msg}");
    let err = apply_tensor(&small, &x, &ps3, &st4).unwrap_err();
    let (op, msg) = shape_err(&err);
    assert_eq!(op, "BatchNorm(3, affine=true, track_stats=true)");
    assert!(msg.contains("[4]"), "{msg}");
    // missing leaves
    assert!(matches!(apply_tensor(&small, &x, &Tree::new(), &st3), Err(LuxError::MissingKey { .. })));
    assert!(matches!(apply_tensor(&small, &x, &ps3, &tree! { training: true }), Err(LuxError::MissingKey { .. })));
    // group norm with the scale of another layer
    let gn = GroupNorm::new(4, 2).unwrap();
    let (ps, st) = setup(&mut RngState::seed_from_u64(0), &gn).unwrap();
    let bad = set(&ps, "scale", Tensor::ones(&[2], DType::F32).unwrap());
    let err = apply_tensor(&gn, randn(2, &[2, 4, 3], DType::F32), &bad, &st).unwrap_err();
    assert_eq!(shape_err(&err).0, "GroupNorm(4, 2, affine=true)");
    // layer norm with parameters of another shape
    let ln = LayerNorm::builder(&[3]).dims(vec![-1]).build().unwrap();
    let (ps, st) = setup(&mut RngState::seed_from_u64(0), &ln).unwrap();
    let bad = set(&ps, "scale", Tensor::ones(&[2, 3], DType::F32).unwrap());
    let err = apply_tensor(&ln, randn(2, &[4, 3], DType::F32), &bad, &st).unwrap_err();
    let (op, msg) = shape_err(&err);
    assert_eq!(op, "LayerNorm((3,), affine=true, dims=-1)");
    assert!(msg.contains("[2, 3]"), "{msg}");
    // a layer-norm axis out of range
    let ln = LayerNorm::builder(&[3]).dims(vec![2]).build().unwrap();
    let err = apply_tensor(&ln, randn(2, &[4, 3], DType::F32), &ps, &st).unwrap_err();
    assert!(err.to_string().starts_with("LayerNorm((3,), affine=true, dims=2)"), "{err}");
}

#[test]
fn constructors_reject_bad_options() {
    let err = GroupNorm::new(5, 2).unwrap_err();
    assert_eq!(
        err.to_string(),
        "GroupNorm(5, 2, affine=true): invalid argument: the number of groups (2) must divide the number of channels (5)"
    );
    assert!(GroupNorm::new(4, 0).is_err());
    assert!(GroupNorm::new(0, 1).is_err());
    let err = BatchNorm::builder(3).momentum(-0.1).build().unwrap_err();
    assert_eq!(
        err.to_string(),
        "BatchNorm(3, affine=true, track_stats=true): invalid argument: momentum must be in [0, 1], got -0.1"
    );
    assert!(BatchNorm::builder(3).epsilon(f64::NAN).build().is_err());
    assert!(BatchNorm::builder(3).activation(Activation::LeakyRelu(f64::NAN)).build().is_err());
    assert!(BatchNorm::new(0).is_err());
    assert!(InstanceNorm::builder(3).momentum(2.0).build().is_err());
    assert!(InstanceNorm::new(0).is_err());
    assert!(LayerNorm::builder(&[2]).epsilon(-1e-5).build().is_err());
    assert!(LayerNorm::builder(&[2]).dims(vec![]).build().is_err());
    assert!(LayerNorm::builder(&[2]).dims(vec![0, 0]).build().is_err());
    assert!(LayerNorm::new(&[2, 0]).is_err());
}

// ----- printing and counts ---------------------------------------------------------

#[test]
fn norm_layers_print_as_lux_and_count_as_lux() {
    let relu = Activation::Relu;
    let cases: Vec<(Box<dyn Layer>, &str, usize, usize)> = vec![
        // Lux's docstring examples
        (
            Box::new(BatchNorm::builder(64).activation(relu).build().unwrap()),
            "BatchNorm(64, relu, affine=true, track_stats=true)",
            128,
            129,
        ),
        (Box::new(BatchNorm::new(10).unwrap()), "BatchNorm(10, affine=true, track_stats=true)", 20, 21),
        (
            Box::new(GroupNorm::builder(64, 4).activation(relu).build().unwrap()),
            "GroupNorm(64, 4, relu, affine=true)",
            128,
            0,
        ),
        (Box::new(GroupNorm::new(10, 5).unwrap()), "GroupNorm(10, 5, affine=true)", 20, 0),
        (
            Box::new(InstanceNorm::builder(64).activation(relu).affine(true).build().unwrap()),
            "InstanceNorm(64, relu, affine=true, track_stats=false)",
            128,
            1,
        ),
        // the other option combinations
        (
            Box::new(BatchNorm::builder(2).affine(false).build().unwrap()),
            "BatchNorm(2, affine=false, track_stats=true)",
            0,
            5,
        ),
        (
            Box::new(BatchNorm::builder(2).activation(Activation::Sigmoid).track_stats(false).build().unwrap()),
            "BatchNorm(2, σ, affine=true, track_stats=false)",
            4,
            1,
        ),
        (Box::new(GroupNorm::builder(2, 2).affine(false).build().unwrap()), "GroupNorm(2, 2, affine=false)", 0, 0),
        (Box::new(InstanceNorm::new(3).unwrap()), "InstanceNorm(3, affine=false, track_stats=false)", 0, 1),
        (
            Box::new(InstanceNorm::builder(3).affine(true).track_stats(true).build().unwrap()),
            "InstanceNorm(3, affine=true, track_stats=true)",
            6,
            7,
        ),
        (Box::new(LayerNorm::new(&[3, 3, 3]).unwrap()), "LayerNorm((3, 3, 3), affine=true, dims=Colon())", 54, 0),
        (Box::new(LayerNorm::new(&[1, 3, 1]).unwrap()), "LayerNorm((1, 3, 1), affine=true, dims=Colon())", 6, 0),
        (
            Box::new(LayerNorm::builder(&[4]).activation(Activation::Tanh).affine(false).build().unwrap()),
            "LayerNorm((4,), tanh, affine=false, dims=Colon())",
            0,
            0,
        ),
        (
            Box::new(LayerNorm::builder(&[4]).dims(vec![1, 2]).build().unwrap()),
            "LayerNorm((4,), affine=true, dims=(1, 2))",
            8,
            0,
        ),
    ];
    for (layer, text, params, states) in cases {
        assert_eq!(layer.describe(), text);
        assert_eq!((layer.param_count(), layer.state_count()), (params, states), "{text}");
        let (ps, st) = setup(&mut RngState::seed_from_u64(0), &layer).unwrap();
        assert_eq!((ps.param_count(), st.state_count()), (params, states), "{text}");
    }
}

#[test]
fn parameters_and_states_have_lux_names_shapes_and_order() {
    let (ps, st) = setup(&mut RngState::seed_from_u64(0), &BatchNorm::new(3).unwrap()).unwrap();
    assert_eq!(ps.keys().collect::<Vec<_>>(), ["scale", "bias"]);
    assert_eq!(st.keys().collect::<Vec<_>>(), ["running_mean", "running_var", "training"]);
    assert_eq!(vals(st.tensor("running_mean").unwrap()), vec![0.0; 3]);
    assert_eq!(vals(st.tensor("running_var").unwrap()), vec![1.0; 3]);
    let (ps, st) = setup(&mut RngState::seed_from_u64(0), &LayerNorm::new(&[1, 3, 1]).unwrap()).unwrap();
    assert_eq!(ps.keys().collect::<Vec<_>>(), ["bias", "scale"]); // Lux's order
    assert_eq!(ps.tensor("scale").unwrap().shape(), &[1, 3, 1]);
    assert_eq!(ps.tensor("scale").unwrap().dtype(), DType::F32);
    assert_eq!(st, Tree::new());
    let (_, st) = setup(&mut RngState::seed_from_u64(0), &GroupNorm::new(4, 2).unwrap()).unwrap();
    assert_eq!(st, Tree::new());
    // initialisers are used
    let l = BatchNorm::builder(4).init_scale(Init::normal(0.0, 1.0)).build().unwrap();
    let (ps, _) = setup(&mut RngState::seed_from_u64(0), &l).unwrap();
    assert!(vals(ps.tensor("scale").unwrap()).iter().any(|&v| v != 1.0));
}

// ----- GroupNorm -------------------------------------------------------------------

fn naive_group_norm(
    x: &[f64],
    n: usize,
    chs: usize,
    sp: usize,
    groups: usize,
    scale: &[f64],
    bias: &[f64],
    eps: f64,
) -> Vec<f64> {
    let per = chs / groups;
    let mut y = vec![0.0; x.len()];
    for i in 0..n {
        for g in 0..groups {
            let idx: Vec<usize> =
                (g * per..(g + 1) * per).flat_map(|c| (0..sp).map(move |s| at(i, c, s, chs, sp))).collect();
            let (m, v) = mean_var(&idx.iter().map(|&k| x[k]).collect::<Vec<_>>());
            for &k in &idx {
                let c = (k / sp) % chs;
                y[k] = (x[k] - m) / (v + eps).sqrt() * scale[c] + bias[c];
            }
        }
    }
    y
}

/// Lux's GroupNorm test: x = reshape(1:24, (3, 4, 2)) (L = 3, C = 4, N = 2),
/// here [2, 4, 3] with the same memory.
#[test]
fn group_norm_lux_test_and_naive_reference() {
    let m = GroupNorm::new(4, 2).unwrap();
    let x = Tensor::from_vec((1..=24).map(|v| v as f32).collect(), &[2, 4, 3]).unwrap();
    let (ps, st) = setup(&mut RngState::seed_from_u64(12345), &m).unwrap();
    assert_eq!(vals(ps.tensor("bias").unwrap()), vec![0.0; 4]);
    assert_eq!(vals(ps.tensor("scale").unwrap()), vec![1.0; 4]);
    let (y, st_) = apply_tensor(&m, &x, &ps, &st).unwrap();
    assert_eq!(st_, st);
    let want = naive_group_norm(&vals(&x), 2, 4, 3, 2, &[1.0; 4], &[0.0; 4], 1e-5);
    assert_close(&vals(&y), &want, 1e-5, "y");
    // every group of 6 consecutive values 1..6 → the same normalised pattern
    assert_close(&vals(&y)[..6], &vals(&y)[6..12], 1e-5, "groups agree");
    // random scale/bias, 4-d input, f64, an activation
    let m = GroupNorm::builder(6, 3).activation(Activation::Tanh).epsilon(1e-4).build().unwrap();
    let (ps, st) = setup(&mut RngState::seed_from_u64(0), &m).unwrap();
    let (sc, bi) = (randn(1, &[6], DType::F64), randn(2, &[6], DType::F64));
    let ps = set(&set(&ps, "scale", sc.clone()), "bias", bi.clone());
    let x = randn(3, &[3, 6, 2, 2], DType::F64);
    let (y, _) = apply_tensor(&m, &x, &ps, &st).unwrap();
    let want: Vec<f64> =
        naive_group_norm(&vals(&x), 3, 6, 4, 3, &vals(&sc), &vals(&bi), 1e-4).into_iter().map(f64::tanh).collect();
    assert_close(&vals(&y), &want, 1e-10, "tanh group norm");
    // the same in test mode (no running statistics)
    let (y_test, _) = apply_tensor(&m, &x, &ps, &test_mode(&st)).unwrap();
    assert_eq!(y_test, y);
}

// ----- InstanceNorm ----------------------------------------------------------------

#[test]
fn instance_norm_matches_a_naive_reference_for_every_rank() {
    for shape in [vec![2, 3, 3], vec![2, 3, 3, 3], vec![2, 3, 3, 3, 3]] {
        let sp: usize = shape[2..].iter().product();
        for (affine, track_stats) in [(true, true), (true, false), (false, true), (false, false)] {
            let m = InstanceNorm::builder(3).affine(affine).track_stats(track_stats).build().unwrap();
            let (ps, st) = setup(&mut RngState::seed_from_u64(0), &m).unwrap();
            let ps = to_f64(&ps);
            let x = randn(7, &shape, DType::F64).mul_scalar(2.0).unwrap().add_scalar(0.5).unwrap();
            let xv = vals(&x);
            let (scale, bias) = if affine {
                (vals(ps.tensor("scale").unwrap()), vals(ps.tensor("bias").unwrap()))
            } else {
                (vec![1.0; 3], vec![0.0; 3])
            };
            // instance statistics: per sample and channel over the spatial axes
            let mut want = vec![0.0; xv.len()];
            let (mut mean_avg, mut var_avg) = (vec![0.0; 3], vec![0.0; 3]);
            for n in 0..2 {
                for c in 0..3 {
                    let idx: Vec<usize> = (0..sp).map(|s| at(n, c, s, 3, sp)).collect();
                    let (mu, v) = mean_var(&idx.iter().map(|&k| xv[k]).collect::<Vec<_>>());
                    mean_avg[c] += mu / 2.0;
                    var_avg[c] += v / 2.0;
                    for &k in &idx {
                        want[k] = (xv[k] - mu) / (v + 1e-5).sqrt() * scale[c] + bias[c];
                    }
                }
            }
            let what = format!("{shape:?} affine={affine} track_stats={track_stats}");
            let (y, st1) = apply_tensor(&m, &x, &ps, &st).unwrap();
            assert_close(&vals(&y), &want, 1e-9, &what);
            if !track_stats {
                assert_eq!(st1, tree! { training: true });
                let (y_test, _) = apply_tensor(&m, &x, &ps, &test_mode(&st)).unwrap();
                assert_close(&vals(&y_test), &want, 1e-9, &what);
                continue;
            }
            let rm: Vec<f64> = mean_avg.iter().map(|mu| 0.1 * mu).collect();
            let rv: Vec<f64> = var_avg.iter().map(|v| 0.9 + 0.1 * v * sp as f64 / (sp as f64 - 1.0)).collect();
            assert_close(&vals(st1.tensor("running_mean").unwrap()), &rm, 1e-6, &what);
            assert_close(&vals(st1.tensor("running_var").unwrap()), &rv, 1e-6, &what);
            // test mode normalises every channel with the running statistics
            let st_test = test_mode(&st1);
            let (y_test, st2) = apply_tensor(&m, &x, &ps, &st_test).unwrap();
            assert_eq!(st2, st_test);
            let (rm, rv) = (vals(st1.tensor("running_mean").unwrap()), vals(st1.tensor("running_var").unwrap()));
            let want: Vec<f64> = (0..xv.len())
                .map(|k| {
                    let c = (k / sp) % 3;
                    (xv[k] - rm[c]) / (rv[c] + 1e-5).sqrt() * scale[c] + bias[c]
                })
                .collect();
            assert_close(&vals(&y_test), &want, 1e-6, &what);
        }
    }
}

// ----- LayerNorm -------------------------------------------------------------------

/// Lux's LayerNorm test: x = randn(3, 3, 3, 2), broadcast shapes
/// (3, 3, 3), (1, 3, 1), (3, 1, 3); the output of the default (all axes)
/// has mean 0 and standard deviation 1.
#[test]
fn layer_norm_lux_test_whole_array_statistics() {
    let x = randn(12345, &[2, 3, 3, 3], DType::F32);
    for bshape in [[3, 3, 3], [1, 3, 1], [3, 1, 3]] {
        for affine in [true, false] {
            let ln = LayerNorm::builder(&bshape).affine(affine).build().unwrap();
            let (ps, st) = setup(&mut RngState::seed_from_u64(0), &ln).unwrap();
            let (y, st_) = apply_tensor(&ln, &x, &ps, &test_mode(&st)).unwrap();
            assert_eq!(st_, test_mode(&st));
            let yv = vals(&y);
            let (m, v) = mean_var(&yv);
            let sd = (v * yv.len() as f64 / (yv.len() as f64 - 1.0)).sqrt(); // Julia's std is corrected
            assert!(m.abs() < 1e-3, "{bshape:?} mean {m}");
            assert!((sd - 1.0).abs() < 1e-2, "{bshape:?} std {sd}");
            // against the definition: one mean and variance for the whole array
            let (xm, xvar) = mean_var(&vals(&x));
            let want: Vec<f64> = vals(&x).iter().map(|v| (v - xm) / (xvar + 1e-5).sqrt()).collect();
            assert_close(&yv, &want, 1e-5, "whole-array layer norm");
        }
    }
}

#[test]
fn layer_norm_over_given_dims_with_broadcast_affine() {
    // [N, C, L] = [3, 2, 4], statistics per sample over (C, L), scale/bias [1, 4]... of shape [2, 1]
    let ln = LayerNorm::builder(&[2, 1]).dims(vec![1, 2]).activation(Activation::Sigmoid).build().unwrap();
    let (ps, st) = setup(&mut RngState::seed_from_u64(0), &ln).unwrap();
    assert_eq!(ps.tensor("bias").unwrap().shape(), &[2, 1]);
    let (sc, bi) = (randn(1, &[2, 1], DType::F64), randn(2, &[2, 1], DType::F64));
    let ps = set(&set(&ps, "scale", sc.clone()), "bias", bi.clone());
    let x = randn(3, &[3, 2, 4], DType::F64);
    let (y, _) = apply_tensor(&ln, &x, &ps, &st).unwrap();
    let (xv, sv, bv) = (vals(&x), vals(&sc), vals(&bi));
    let mut want = vec![0.0; 24];
    for n in 0..3 {
        let (m, v) = mean_var(&xv[n * 8..(n + 1) * 8]);
        for k in n * 8..(n + 1) * 8 {
            let c = (k / 4) % 2;
            want[k] = sigmoid((xv[k] - m) / (v + 1e-5).sqrt() * sv[c] + bv[c]);
        }
    }
    assert_close(&vals(&y), &want, 1e-10, "per-sample layer norm");
    // dims = -1 on [batch, features]: per row
    let ln = LayerNorm::builder(&[5]).dims(vec![-1]).affine(false).epsilon(0.0).build().unwrap();
    let x = randn(4, &[3, 5], DType::F64);
    let (y, _) = apply_tensor(&ln, &x, &Tree::new(), &Tree::new()).unwrap();
    let xv = vals(&x);
    let want: Vec<f64> = (0..15)
        .map(|k| {
            let (m, v) = mean_var(&xv[k / 5 * 5..k / 5 * 5 + 5]);
            (xv[k] - m) / v.sqrt()
        })
        .collect();
    assert_close(&vals(&y), &want, 1e-10, "per-row layer norm");
}

// ----- WeightNorm ------------------------------------------------------------------

/// A dense layer for the tests (lux-rs's Dense lands elsewhere):
/// y = x·Wᵀ + b, W `[out, in]` (normal init), b `[out]` (ones).
#[derive(Clone, Debug, PartialEq)]
struct Linear {
    inp: usize,
    out: usize,
    zero_bias: bool,
}

impl Layer for Linear {
    fn init_params(&self, rng: &mut dyn rand::Rng) -> Result<Tree> {
        let b = if self.zero_bias { 0.0 } else { 1.0 };
        Ok(tree! {
            weight: Tensor::randn(rng, &[self.out, self.inp], DType::F32)?,
            bias: Tensor::full(&[self.out], b, DType::F32)?,
        })
    }
    fn param_shapes(&self) -> Option<Vec<Vec<usize>>> {
        Some(vec![vec![self.out, self.inp], vec![self.out]])
    }
    fn forward(&self, x: &Tree, ps: &Tree, st: &Tree) -> Result<(Tree, Tree)> {
        let (w, b) = (ps.tensor("weight")?, ps.tensor("bias")?);
        Ok((x.as_tensor()?.matmul(&w.transpose(0, 1)?)?.add(b)?.into(), st.clone()))
    }
    fn describe(&self) -> String {
        format!("Linear({} => {})", self.inp, self.out)
    }
}

fn linear(inp: usize, out: usize) -> Linear {
    Linear { inp, out, zero_bias: false }
}

/// Naive w = g·v/(‖v‖ + eps) for a 2-d v `[r, c]`, the norm over axis
/// `1 - keep` (kept axis `keep`).
fn naive_weight(v: &[f64], g: &[f64], r: usize, c: usize, keep: usize, eps: f64) -> Vec<f64> {
    let mut w = vec![0.0; r * c];
    for i in 0..r {
        for j in 0..c {
            let (k, norm) = if keep == 0 {
                (i, (0..c).map(|jj| v[i * c + jj].powi(2)).sum::<f64>().sqrt())
            } else {
                (j, (0..r).map(|ii| v[ii * c + j].powi(2)).sum::<f64>().sqrt())
            };
            w[i * c + j] = g[k] * v[i * c + j] / (norm + eps);
        }
    }
    w
}

#[test]
fn weight_norm_parameters_follow_lux_naming() {
    let d = linear(3, 2);
    let (dps, _) = setup(&mut RngState::seed_from_u64(5), &d).unwrap();
    // both parameters
    let wn = WeightNorm::new(d.clone(), &["weight", "bias"]).unwrap();
    let (ps, st) = setup(&mut RngState::seed_from_u64(5), &wn).unwrap();
    assert_eq!(ps.keys().collect::<Vec<_>>(), ["normalized", "unnormalized"]);
    assert_eq!(ps.get("normalized").unwrap().keys().collect::<Vec<_>>(), ["weight_g", "weight_v", "bias_g", "bias_v"]);
    assert_eq!(ps.get("unnormalized").unwrap(), &Tree::new());
    assert_eq!(st, Tree::new());
    // v starts as the wrapped layer's parameter, g as its norm over all axes but 0
    let w = dps.tensor("weight").unwrap();
    assert_eq!(ps.tensor("normalized.weight_v").unwrap(), w);
    let g = ps.tensor("normalized.weight_g").unwrap();
    assert_eq!(g.shape(), &[2, 1]);
    let wv = vals(w);
    let want: Vec<f64> = (0..2).map(|i| (0..3).map(|j| wv[i * 3 + j].powi(2)).sum::<f64>().sqrt()).collect();
    assert_close(&vals(g), &want, 1e-6, "weight_g");
    assert_eq!(vals(ps.tensor("normalized.bias_g").unwrap()), vec![1.0, 1.0]); // |b| elementwise
    assert_eq!(wn.param_count(), 6 + 2 + 2 + 2);
    assert_eq!(wn.param_count(), ps.param_count());
    // only the weight: the bias stays unnormalised
    let wn = WeightNorm::new(d.clone(), &["weight"]).unwrap();
    let (ps, _) = setup(&mut RngState::seed_from_u64(5), &wn).unwrap();
    assert_eq!(ps.get("normalized").unwrap().keys().collect::<Vec<_>>(), ["weight_g", "weight_v"]);
    assert_eq!(ps.get("unnormalized").unwrap().keys().collect::<Vec<_>>(), ["bias"]);
    assert_eq!(wn.describe(), "WeightNorm(Linear(3 => 2), dims = nothing, normalized_parameters = (:weight,))");
    // the normalised order follows the wrapped layer's, whatever the order of `which`
    let wn = WeightNorm::with_dims(d, &["bias", "weight"], &[0, 1]).unwrap();
    assert_eq!(wn.describe(), "WeightNorm(Linear(3 => 2), dims = (0, 1), normalized_parameters = (:bias, :weight))");
    let (ps, _) = setup(&mut RngState::seed_from_u64(5), &wn).unwrap();
    assert_eq!(ps.get("normalized").unwrap().keys().collect::<Vec<_>>(), ["weight_g", "weight_v", "bias_g", "bias_v"]);
    assert_eq!(ps.tensor("normalized.weight_g").unwrap().shape(), &[1, 3]); // axis 1 kept
}

#[test]
fn weight_norm_reconstructs_the_weight() {
    let d = linear(3, 4);
    let x = randn(1, &[5, 3], DType::F64);
    for (dims, keep) in [(None, 0usize), (Some(vec![0isize, 0]), 0), (Some(vec![-1, 0]), 1)] {
        let wn = match &dims {
            None => WeightNorm::new(d.clone(), &["weight", "bias"]).unwrap(),
            Some(dd) => WeightNorm::with_dims(d.clone(), &["weight", "bias"], dd).unwrap(),
        };
        let (ps, st) = setup(&mut RngState::seed_from_u64(2), &wn).unwrap();
        let ps = ps.try_map(|_, t| t.to_dtype(DType::F64)).unwrap();
        // move g and v away from their initial values
        let gshape = ps.tensor("normalized.weight_g").unwrap().shape().to_vec();
        let g = randn(3, &gshape, DType::F64);
        let v = randn(4, &[4, 3], DType::F64);
        let bg = randn(5, &[4], DType::F64);
        let bv = randn(6, &[4], DType::F64);
        let ps = set(
            &set(
                &set(&set(&ps, "normalized.weight_g", g.clone()), "normalized.weight_v", v.clone()),
                "normalized.bias_g",
                bg.clone(),
            ),
            "normalized.bias_v",
            bv.clone(),
        );
        let (y, _) = apply_tensor(&wn, &x, &ps, &st).unwrap();
        let eps = f64::EPSILON;
        let w = naive_weight(&vals(&v), &vals(&g), 4, 3, keep, eps);
        let b: Vec<f64> = vals(&bv).iter().zip(vals(&bg)).map(|(v, g)| g * v / (v.abs() + eps)).collect();
        let xv = vals(&x);
        let want: Vec<f64> =
            (0..20).map(|k| (0..3).map(|j| xv[k / 4 * 3 + j] * w[(k % 4) * 3 + j]).sum::<f64>() + b[k % 4]).collect();
        assert_close(&vals(&y), &want, 1e-10, &format!("dims {dims:?}"));
    }
    // at setup the wrapped layer's output is reproduced (up to eps)
    let wn = WeightNorm::new(d.clone(), &["weight", "bias"]).unwrap();
    let (ps, st) = setup(&mut RngState::seed_from_u64(9), &wn).unwrap();
    let (dps, dst) = setup(&mut RngState::seed_from_u64(9), &d).unwrap();
    let x32 = randn(1, &[5, 3], DType::F32);
    let (y, _) = apply_tensor(&wn, &x32, &ps, &st).unwrap();
    let (y0, _) = apply_tensor(&d, &x32, &dps, &dst).unwrap();
    assert_close(&vals(&y), &vals(&y0), 1e-5, "initial output");
}

/// Lux's "Normalizing Zero Parameters" test (issue 95): a zero bias cannot
/// be normalised.
#[test]
fn weight_norm_of_a_zero_parameter_is_an_err_at_setup() {
    let d = Linear { inp: 3, out: 3, zero_bias: true };
    let wn = WeightNorm::new(d.clone(), &["weight", "bias"]).unwrap();
    let err = setup(&mut RngState::seed_from_u64(0), &wn).unwrap_err();
    assert_eq!(
        err.to_string(),
        "WeightNorm(Linear(3 => 3), dims = nothing, normalized_parameters = (:weight, :bias)): invalid argument: \
         parameter `bias` is completely zero, which gives NaN gradients; remove it from the normalised parameters \
         or initialise it otherwise (e.g. the layer's init_bias)"
    );
    assert!(setup(&mut RngState::seed_from_u64(0), &WeightNorm::new(d, &["weight"]).unwrap()).is_ok());
    assert!(
        setup(&mut RngState::seed_from_u64(0), &WeightNorm::new(linear(3, 3), &["weight", "bias"]).unwrap()).is_ok()
    );
}

#[test]
fn weight_norm_rejects_bad_arguments_and_parameters() {
    assert!(WeightNorm::new(linear(2, 2), &[]).is_err());
    assert!(WeightNorm::new(linear(2, 2), &["weight", "weight"]).is_err());
    assert!(WeightNorm::with_dims(linear(2, 2), &["weight"], &[0, 1]).is_err());
    let wn = WeightNorm::new(linear(2, 2), &["kernel"]).unwrap();
    let err = setup(&mut RngState::seed_from_u64(0), &wn).unwrap_err();
    assert!(
        err.to_string()
            .ends_with("the wrapped layer has no parameter `kernel` (its parameters: [\"weight\", \"bias\"])"),
        "{err}"
    );
    let wn = WeightNorm::with_dims(linear(2, 2), &["weight"], &[2]).unwrap();
    assert!(setup(&mut RngState::seed_from_u64(0), &wn).is_err());
    // a g of the wrong shape at run time
    let wn = WeightNorm::new(linear(2, 3), &["weight"]).unwrap();
    let (ps, st) = setup(&mut RngState::seed_from_u64(0), &wn).unwrap();
    let bad = set(&ps, "normalized.weight_g", Tensor::ones(&[1, 2], DType::F32).unwrap());
    let err = apply_tensor(&wn, randn(0, &[1, 2], DType::F32), &bad, &st).unwrap_err();
    assert_eq!(
        err.to_string(),
        "WeightNorm(Linear(2 => 3), dims = nothing, normalized_parameters = (:weight,)): normalized.weight_g has shape \
         [1, 2], expected [3, 1] for normalized.weight_v of shape [3, 2]"
    );
    assert!(matches!(
        apply_tensor(&wn, randn(0, &[1, 2], DType::F32), &Tree::new(), &st),
        Err(LuxError::MissingKey { .. })
    ));
}

#[test]
fn weight_norm_keeps_the_wrapped_layers_state() {
    let wn = WeightNorm::new(BatchNorm::new(3).unwrap(), &["scale"]).unwrap();
    assert_eq!(wn.state_count(), 7);
    assert_eq!(wn.param_count(), 3 + 3 + 3); // scale_g, scale_v, bias
    let (ps, st) = setup(&mut RngState::seed_from_u64(0), &wn).unwrap();
    assert_eq!(st.keys().collect::<Vec<_>>(), ["running_mean", "running_var", "training"]);
    let x = randn(1, &[4, 3], DType::F32);
    let (_, st1) = apply_tensor(&wn, &x, &ps, &st).unwrap();
    assert_ne!(st1.tensor("running_mean").unwrap(), st.tensor("running_mean").unwrap());
    let (_, st2) = apply_tensor(&wn, &x, &ps, &test_mode(&st1)).unwrap();
    assert_eq!(st2, test_mode(&st1));
}

// ----- modes at any depth ----------------------------------------------------------

/// A two-level container for the tests: `{outer: BatchNorm, inner: {a: InstanceNorm, b: BatchNorm}}`.
struct Pair<A, B>(A, B);

impl<A: Layer, B: Layer> Layer for Pair<A, B> {
    fn forward(&self, x: &Tree, ps: &Tree, st: &Tree) -> Result<(Tree, Tree)> {
        let (h, sa) = forward_child("a", &self.0, x, ps, st)?;
        let (y, sb) = forward_child("b", &self.1, &h, ps, st)?;
        Ok((y, tree! { a: sa, b: sb }))
    }
    fn children(&self) -> Children<'_> {
        Children::Named(vec![("a".into(), &self.0 as &dyn Layer), ("b".into(), &self.1)])
    }
}

#[test]
fn train_and_test_mode_reach_every_norm_layer_at_any_depth() {
    let model = Pair(
        BatchNorm::new(2).unwrap(),
        Pair(InstanceNorm::builder(2).track_stats(true).build().unwrap(), BatchNorm::new(2).unwrap()),
    );
    let (ps, st) = setup(&mut RngState::seed_from_u64(0), &model).unwrap();
    let flags = |st: &Tree| -> Vec<bool> {
        ["a.training", "b.a.training", "b.b.training"].iter().map(|p| st.at(p).unwrap().as_bool().unwrap()).collect()
    };
    assert_eq!(flags(&st), [true; 3]);
    let st_test = test_mode(&st);
    assert_eq!(flags(&st_test), [false; 3]);
    assert_eq!(flags(&train_mode(&st_test)), [true; 3]);
    let x = randn(3, &[4, 2, 3], DType::F32);
    // training moves every running statistic; test mode none
    let (_, st1) = apply_tensor(&model, &x, &ps, &st).unwrap();
    for p in ["a.running_mean", "b.a.running_mean", "b.b.running_var"] {
        assert_ne!(st1.at(p).unwrap(), st.at(p).unwrap(), "{p}");
    }
    let (_, st2) = apply_tensor(&model, &x, &ps, &st_test).unwrap();
    assert_eq!(st2, st_test);
    // an error deep inside names where it happened
    let err = apply_tensor(&model, randn(3, &[4, 3, 3], DType::F32), &ps, &st).unwrap_err();
    assert!(
        err.to_string().starts_with("BatchNorm(2, affine=true, track_stats=true) at a: input has 3 channels"),
        "{err}"
    );
}

// ----- the conformance check -------------------------------------------------------

#[test]
fn norm_layers_pass_check_layer_in_both_modes() {
    let cases: Vec<(Box<dyn Layer>, Vec<usize>)> = vec![
        (Box::new(BatchNorm::new(3).unwrap()), vec![4, 3]),
        (Box::new(BatchNorm::builder(2).activation(Activation::Sigmoid).build().unwrap()), vec![3, 2, 2, 2]),
        (Box::new(BatchNorm::builder(2).affine(false).track_stats(false).build().unwrap()), vec![3, 2, 3]),
        (Box::new(GroupNorm::new(4, 2).unwrap()), vec![2, 4, 3]),
        (Box::new(GroupNorm::builder(2, 2).activation(Activation::Tanh).affine(false).build().unwrap()), vec![2, 2, 3]),
        (Box::new(InstanceNorm::new(3).unwrap()), vec![2, 3, 4]),
        (Box::new(InstanceNorm::builder(2).affine(true).track_stats(true).build().unwrap()), vec![2, 2, 2, 3]),
        (Box::new(LayerNorm::new(&[3, 2]).unwrap()), vec![2, 3, 2]),
        (
            Box::new(LayerNorm::builder(&[1, 2]).dims(vec![1, 2]).activation(Activation::Sigmoid).build().unwrap()),
            vec![2, 3, 2],
        ),
        (Box::new(WeightNorm::new(linear(3, 2), &["weight", "bias"]).unwrap()), vec![4, 3]),
        (Box::new(WeightNorm::with_dims(linear(3, 2), &["weight"], &[1]).unwrap()), vec![4, 3]),
        (Box::new(WeightNorm::new(BatchNorm::new(3).unwrap(), &["scale"]).unwrap()), vec![4, 3]),
    ];
    for (layer, shape) in cases {
        let x: Tree = randn(21, &shape, DType::F32).into();
        let opts = LayerCheck {
            output_shape: Some(if layer.describe().contains("Linear") { vec![shape[0], 2] } else { shape.clone() }),
            ..Default::default()
        };
        let report = check_layer(&layer, &x, &opts).unwrap_or_else(|e| panic!("{}: {e}", layer.describe()));
        assert!(report.input_grad.is_some(), "{}", layer.describe());
        assert_eq!(report.param_grad.is_some(), layer.param_count() > 0, "{}", layer.describe());
        let name = layer.describe();
        check_layer(&InTestMode(layer), &x, &opts).unwrap_or_else(|e| panic!("{name} (test mode): {e}"));
    }
}

// ----- printing in a model ---------------------------------------------------------

/// Prints as Lux's `Dense(in => out)` (the real Dense lands elsewhere);
/// only its parameter count matters here.
struct DenseStub(usize, usize);

impl Layer for DenseStub {
    fn init_params(&self, _: &mut dyn rand::Rng) -> Result<Tree> {
        Ok(tree! { weight: Tensor::zeros(&[self.1, self.0], DType::F32)?, bias: Tensor::zeros(&[self.1], DType::F32)? })
    }
    fn param_shapes(&self) -> Option<Vec<Vec<usize>>> {
        Some(vec![vec![self.1, self.0], vec![self.1]])
    }
    fn forward(&self, x: &Tree, _: &Tree, st: &Tree) -> Result<(Tree, Tree)> {
        Ok((x.clone(), st.clone()))
    }
    fn describe(&self) -> String {
        format!("Dense({} => {})", self.0, self.1)
    }
}

/// A run-time chain for the printing tests (prints as `Chain(`).
struct Chain(Vec<Box<dyn Layer>>);

impl Layer for Chain {
    fn forward(&self, x: &Tree, _: &Tree, st: &Tree) -> Result<(Tree, Tree)> {
        Ok((x.clone(), st.clone()))
    }
    fn children(&self) -> Children<'_> {
        Children::Named(self.0.iter().enumerate().map(|(i, l)| (format!("layer_{}", i + 1), l as &dyn Layer)).collect())
    }
}

/// The models of Lux's BatchNorm, GroupNorm and InstanceNorm docstrings,
/// printed as there.
#[test]
fn norm_layers_in_a_model_print_as_lux_docstrings() {
    let relu = Activation::Relu;
    let model = Chain(vec![
        Box::new(DenseStub(784, 64)),
        Box::new(BatchNorm::builder(64).activation(relu).build().unwrap()),
        Box::new(DenseStub(64, 10)),
        Box::new(BatchNorm::new(10).unwrap()),
    ]);
    assert_eq!(
        lux_core::display_model(&model),
        "Chain(
    layer_1 = Dense(784 => 64),                   # 50_240 parameters
    layer_2 = BatchNorm(64, relu, affine=true, track_stats=true),  # 128 parameters, plus 129 non-trainable
    layer_3 = Dense(64 => 10),                    # 650 parameters
    layer_4 = BatchNorm(10, affine=true, track_stats=true),  # 20 parameters, plus 21 non-trainable
)         # Total: 51_038 parameters,
          #        plus 150 states."
    );
    let model = Chain(vec![
        Box::new(DenseStub(784, 64)),
        Box::new(GroupNorm::builder(64, 4).activation(relu).build().unwrap()),
        Box::new(DenseStub(64, 10)),
        Box::new(GroupNorm::new(10, 5).unwrap()),
    ]);
    assert_eq!(
        lux_core::display_model(&model),
        "Chain(
    layer_1 = Dense(784 => 64),                   # 50_240 parameters
    layer_2 = GroupNorm(64, 4, relu, affine=true),  # 128 parameters
    layer_3 = Dense(64 => 10),                    # 650 parameters
    layer_4 = GroupNorm(10, 5, affine=true),      # 20 parameters
)         # Total: 51_038 parameters,
          #        plus 0 states."
    );
    let model = Chain(vec![
        Box::new(DenseStub(784, 64)),
        Box::new(InstanceNorm::builder(64).activation(relu).affine(true).build().unwrap()),
        Box::new(DenseStub(64, 10)),
        Box::new(InstanceNorm::builder(10).activation(relu).affine(true).build().unwrap()),
    ]);
    assert_eq!(
        lux_core::display_model(&model),
        "Chain(
    layer_1 = Dense(784 => 64),                   # 50_240 parameters
    layer_2 = InstanceNorm(64, relu, affine=true, track_stats=false),  # 128 parameters, plus 1 non-trainable
    layer_3 = Dense(64 => 10),                    # 650 parameters
    layer_4 = InstanceNorm(10, relu, affine=true, track_stats=false),  # 20 parameters, plus 1 non-trainable
)         # Total: 51_038 parameters,
          #        plus 2 states."
    );
}

/// Bad or degenerate shapes (0-d, empty axes, one value per channel) give
/// an `Ok` or an `Err`, never a panic, in both modes.
#[test]
fn degenerate_inputs_never_panic() {
    let layers: Vec<Box<dyn Layer>> = vec![
        Box::new(BatchNorm::new(3).unwrap()),
        Box::new(BatchNorm::builder(3).track_stats(false).affine(false).build().unwrap()),
        Box::new(GroupNorm::new(3, 3).unwrap()),
        Box::new(InstanceNorm::builder(3).affine(true).track_stats(true).build().unwrap()),
        Box::new(InstanceNorm::new(3).unwrap()),
        Box::new(LayerNorm::new(&[3]).unwrap()),
        Box::new(LayerNorm::builder(&[3]).dims(vec![-1]).affine(false).build().unwrap()),
        Box::new(WeightNorm::new(linear(3, 2), &["weight"]).unwrap()),
    ];
    let shapes: [&[usize]; 12] = [
        &[],
        &[0],
        &[3],
        &[0, 3],
        &[2, 0],
        &[1, 3],
        &[2, 3],
        &[0, 3, 2],
        &[2, 3, 0],
        &[2, 3, 1],
        &[1, 3, 1, 1],
        &[2, 3, 0, 2],
    ];
    for layer in &layers {
        let (ps, st) = setup(&mut RngState::seed_from_u64(0), layer).unwrap();
        for shape in shapes {
            let x = Tensor::zeros(shape, DType::F32).unwrap();
            for st in [st.clone(), test_mode(&st)] {
                if let Ok((y, _)) = apply_tensor(layer, &x, &ps, &st) {
                    // a successful call keeps the shape (or maps the features, for Linear)
                    assert_eq!(y.ndim(), shape.len(), "{} on {shape:?}", layer.describe());
                }
            }
        }
    }
}
