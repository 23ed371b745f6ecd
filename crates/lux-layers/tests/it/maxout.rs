//! Tests of `Maxout` (Lux's "Maxout" testset of `test/core_layers/containers_tests.jl`).

use crate::common::randn;
use crate::dense::vals;
use lux_ad::testing::{LayerCheck, check_layer};
use lux_core::{DType, Layer, LuxError, Result, RngState, Tensor, Tree, apply_tensor, display_model, setup, tree};
use lux_layers::{Dense, Maxout};
use lux_ops::Activation;

/// `y = c·x` (Lux's `WrappedFunction(x -> c*x)`).
#[derive(Clone)]
struct Times(f64);
impl Layer for Times {
    fn forward(&self, x: &Tree, _: &Tree, st: &Tree) -> Result<(Tree, Tree)> {
        Ok((x.as_tensor()?.mul_scalar(self.0)?.into(), st.clone()))
    }
}

/// `y = W·x` with a given initial `W` (Lux's test `MulLayer`).
struct MulLayer(Tensor);
impl Layer for MulLayer {
    fn init_params(&self, _: &mut dyn rand::Rng) -> Result<Tree> {
        Ok(tree! { weight: self.0.clone() })
    }
    fn forward(&self, x: &Tree, ps: &Tree, st: &Tree) -> Result<(Tree, Tree)> {
        Ok((ps.tensor("weight")?.matmul(x.as_tensor()?)?.into(), st.clone()))
    }
}

/// Lux: `Maxout(() -> NoOpLayer(), 4)` is the identity.
#[test]
fn maxout_of_identities_is_the_identity() {
    let layer = Maxout::repeat(Activation::Identity, 4).unwrap();
    let (ps, st) = setup(&mut RngState::seed_from_u64(12345), &layer).unwrap();
    let x = Tensor::rand(&mut RngState::seed_from_u64(1), &[1, 10], DType::F32).unwrap();
    let (y, st2) = apply_tensor(&layer, &x, &ps, &st).unwrap();
    assert_eq!(y, x);
    assert_eq!(st2, st);
    // four tied branches share the gradient: the total is still 1
    let report =
        check_layer(&layer, &x.into(), &LayerCheck { output_shape: Some(vec![1, 10]), ..Default::default() }).unwrap();
    assert_eq!(report.input_grad.unwrap().checked, 10);
}

/// Lux's "simple alternatives": max(x, 2x, x/2) = 2x for positive x, positional and named.
#[test]
fn maxout_simple_alternatives() {
    let positional =
        Maxout::new(vec![Box::new(Activation::Identity), Box::new(Times(2.0)), Box::new(Times(0.5))]).unwrap();
    let named = Maxout::named(vec![
        ("l1".into(), Box::new(Activation::Identity) as Box<dyn Layer>),
        ("l2".into(), Box::new(Times(2.0))),
        ("l3".into(), Box::new(Times(0.5))),
    ])
    .unwrap();
    let x = Tensor::from_vec((1..=40).map(|v| v as f32).collect(), &[40]).unwrap();
    for (layer, names) in [(positional, ["layer_1", "layer_2", "layer_3"]), (named, ["l1", "l2", "l3"])] {
        let (ps, st) = setup(&mut RngState::seed_from_u64(0), &layer).unwrap();
        assert_eq!(ps.keys().collect::<Vec<_>>(), names);
        assert_eq!(st.keys().collect::<Vec<_>>(), names);
        let (y, _) = apply_tensor(&layer, &x, &ps, &st).unwrap();
        assert_eq!(y.to_vec::<f32>().unwrap(), (1..=40).map(|v| 2.0 * v as f32).collect::<Vec<_>>());
        check_layer(&layer, &x.clone().into(), &LayerCheck::default()).unwrap();
    }
}

/// Lux's "complex alternatives": A = [0.5, 0.1]ᵀ, B = [0.2, 0.7]ᵀ, x = [3 2];
/// max(A·x, B·x) = [0.5, 0.7] .* x.
#[test]
fn maxout_complex_alternatives() {
    let a = Tensor::from_vec(vec![0.5f64, 0.1], &[2, 1]).unwrap();
    let b = Tensor::from_vec(vec![0.2f64, 0.7], &[2, 1]).unwrap();
    let layer = Maxout::new(vec![Box::new(MulLayer(a.clone())), Box::new(MulLayer(b.clone()))]).unwrap();
    let ps = tree! { layer_1: tree! { weight: a }, layer_2: tree! { weight: b } };
    let st = tree! { layer_1: Tree::new(), layer_2: Tree::new() };
    let x = Tensor::from_vec(vec![3.0f64, 2.0], &[1, 2]).unwrap();
    let (y, _) = apply_tensor(&layer, &x, &ps, &st).unwrap();
    let want = [0.5 * 3.0, 0.5 * 2.0, 0.7 * 3.0, 0.7 * 2.0];
    for (g, w) in vals(&y).iter().zip(want) {
        assert!((g - w).abs() < 1e-15, "{g} vs {w}");
    }
    assert_eq!(setup(&mut RngState::seed_from_u64(0), &layer).unwrap(), (ps, st));
    check_layer(&layer, &x.into(), &LayerCheck { output_shape: Some(vec![2, 2]), ..Default::default() }).unwrap();
}

/// Lux's "params": `Maxout(() -> Dense(2, 4), 4)`; values against the elementwise max by hand.
#[test]
fn maxout_of_dense_layers() {
    let dense = Dense::new(2, 4, Activation::Identity).unwrap();
    let layer = Maxout::repeat(dense.clone(), 4).unwrap();
    assert_eq!(layer.param_count(), 4 * dense.param_count());
    assert_eq!(layer.state_count(), 0);
    let (ps, st) = setup(&mut RngState::seed_from_u64(12345), &layer).unwrap();
    let x = Tensor::from_vec(vec![10.0f32, 3.0], &[1, 2]).unwrap();
    let (y, _) = apply_tensor(&layer, &x, &ps, &st).unwrap();
    assert_eq!(y.shape(), &[1, 4]);
    let mut want = vec![f64::NEG_INFINITY; 4];
    for k in 1..=4 {
        let w = vals(ps.tensor(&format!("layer_{k}.weight")).unwrap());
        let b = vals(ps.tensor(&format!("layer_{k}.bias")).unwrap());
        for o in 0..4 {
            want[o] = want[o].max(10.0 * w[o * 2] + 3.0 * w[o * 2 + 1] + b[o]);
        }
    }
    for (g, w) in vals(&y).iter().zip(&want) {
        assert!((g - w).abs() <= 1e-5 * w.abs().max(1.0), "{g} vs {w}");
    }
    let x: Tree = randn(3, &[5, 2], DType::F32).into();
    check_layer(&layer, &x, &LayerCheck { output_shape: Some(vec![5, 4]), ..Default::default() }).unwrap();
    // a mixed Maxout of different activations
    let mixed = Maxout::new(vec![
        Box::new(Dense::new(2, 3, Activation::Tanh).unwrap()),
        Box::new(Dense::new(2, 3, Activation::Sigmoid).unwrap()),
    ])
    .unwrap();
    check_layer(&mixed, &x, &LayerCheck { output_shape: Some(vec![5, 3]), ..Default::default() }).unwrap();
}

#[test]
fn maxout_prints_as_lux() {
    let layer = Maxout::repeat(Dense::new(2, 4, Activation::Identity).unwrap(), 4).unwrap();
    assert_eq!(
        display_model(&layer),
        "Maxout(\n    layer_(1-4) = Dense(2 => 4),                  # 48 (12 x 4) parameters\n)         # Total: 48 parameters,\n          #        plus 0 states."
    );
    assert_eq!(layer.describe(), "Maxout");
}

#[test]
fn maxout_errors() {
    assert_eq!(Maxout::new(vec![]).unwrap_err().to_string(), "Maxout: invalid argument: needs at least one layer");
    assert_eq!(
        Maxout::repeat(Activation::Relu, 0).unwrap_err().to_string(),
        "Maxout: invalid argument: needs at least one layer"
    );
    let dup = Maxout::named(vec![
        ("a".into(), Box::new(Activation::Relu) as Box<dyn Layer>),
        ("a".into(), Box::new(Activation::Tanh)),
    ]);
    assert_eq!(dup.unwrap_err().to_string(), "Maxout: invalid argument: layer name `a` is repeated");
    let dotted = Maxout::named(vec![("a.b".into(), Box::new(Activation::Relu) as Box<dyn Layer>)]);
    assert!(matches!(dotted.unwrap_err(), LuxError::InvalidArgument { .. }));

    // a child's error names its path
    let layer = Maxout::new(vec![
        Box::new(Dense::new(3, 2, Activation::Identity).unwrap()),
        Box::new(Dense::new(4, 2, Activation::Identity).unwrap()),
    ])
    .unwrap();
    let (ps, st) = setup(&mut RngState::seed_from_u64(0), &layer).unwrap();
    let e = layer.forward(&randn(0, &[5, 3], DType::F32).into(), &ps, &st).unwrap_err();
    assert_eq!(e.to_string(), "Dense(4 => 2) at layer_2: input has 3 features, expected 4 (input shape [5, 3])");
    // outputs that do not broadcast
    let layer = Maxout::new(vec![
        Box::new(Dense::new(3, 2, Activation::Identity).unwrap()),
        Box::new(Dense::new(3, 5, Activation::Identity).unwrap()),
    ])
    .unwrap();
    let (ps, st) = setup(&mut RngState::seed_from_u64(0), &layer).unwrap();
    let e = layer.forward(&randn(0, &[4, 3], DType::F32).into(), &ps, &st).unwrap_err();
    assert_eq!(
        e.to_string(),
        "Maxout: the output of `layer_2` has shape [4, 5], which does not broadcast with [4, 2] (the earlier layers')"
    );
    // missing child parameters
    let e = layer.forward(&randn(0, &[4, 3], DType::F32).into(), &tree! { layer_1: Tree::new() }, &st).unwrap_err();
    assert!(e.to_string().contains("layer_"), "{e}");
}
