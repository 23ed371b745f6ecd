//! `Scale` (Lux's "Scale" testset of `basic_tests.jl`, batch-first).

use super::{act_ref, assert_close, check_uniform, opts, vals};
use crate::common::randn;
use lux_ad::testing::check_layer;
use lux_core::{DType, Layer, LuxError, RngState, Tensor, Tree, apply_tensor, setup, tree};
use lux_layers::Scale;
use lux_layers::init::Init;
use lux_ops::Activation;

/// `act(x ⊙ w + b)` by loops: `x` is `[m, dims…]` (flattened `[m, n]`), `w`, `b` are `[n]`.
fn scale_ref(x: &[f64], w: &[f64], b: Option<&[f64]>, a: Activation) -> Vec<f64> {
    let n = w.len();
    x.iter().enumerate().map(|(k, &xv)| act_ref(a, xv * w[k % n] + b.map_or(0.0, |b| b[k % n]))).collect()
}

#[test]
fn scale_passes_check_layer_in_f32_and_f64() {
    for dtype in [DType::F32, DType::F64] {
        let cases: Vec<(Scale, Vec<usize>, Vec<usize>)> = vec![
            (Scale::builder(&[3]).dtype(dtype).build().unwrap(), vec![4, 3], vec![4, 3]),
            (
                Scale::builder(&[2, 3]).activation(Activation::Tanh).dtype(dtype).build().unwrap(),
                vec![5, 2, 3],
                vec![5, 2, 3],
            ),
            (Scale::builder(&[3]).use_bias(false).dtype(dtype).build().unwrap(), vec![3], vec![3]),
        ];
        for (layer, xs, ys) in cases {
            let x: Tree = randn(2, &xs, dtype).into();
            let r = check_layer(&layer, &x, &opts(&ys)).unwrap_or_else(|e| panic!("{}: {e}", layer.describe()));
            assert_eq!(r.param_grad.unwrap().checked, layer.param_count());
        }
    }
}

#[test]
fn scale_matches_naive_loops() {
    for act in [Activation::Identity, Activation::Sigmoid, Activation::Tanh] {
        for use_bias in [true, false] {
            let layer = Scale::builder(&[2, 3]).activation(act).use_bias(use_bias).dtype(DType::F64).build().unwrap();
            let w = randn(1, &[2, 3], DType::F64);
            let b = randn(2, &[2, 3], DType::F64);
            let ps = if use_bias {
                tree! { weight: w.clone(), bias: b.clone() }
            } else {
                tree! { weight: w.clone() }
            };
            let x = randn(3, &[4, 2, 3], DType::F64);
            let (y, _) = apply_tensor(&layer, &x, &ps, &Tree::new()).unwrap();
            assert_eq!(y.shape(), &[4, 2, 3]);
            let bv = vals(&b);
            assert_close(&vals(&y), &scale_ref(&vals(&x), &vals(&w), use_bias.then_some(&bv[..]), act), 1e-12);
        }
    }
}

/// Lux's "constructors": `Scale(10, 100)` is `Scale::new(&[100, 10])` here.
#[test]
fn scale_lux_constructors() {
    let mut rng = RngState::seed_from_u64(12345);
    let layer = Scale::new(&[100, 10], Activation::Identity).unwrap();
    let (ps, st) = setup(&mut rng, &layer).unwrap();
    assert_eq!(layer.param_count(), ps.param_count());
    assert_eq!(layer.state_count(), st.state_count());
    assert_eq!(ps.tensor("weight").unwrap().shape(), &[100, 10]);
    assert_eq!(ps.tensor("bias").unwrap().shape(), &[100, 10]);
    assert_eq!(layer.activation(), Activation::Identity);
    let layer = Scale::builder(&[100, 10]).activation(Activation::Relu).use_bias(false).build().unwrap();
    let (ps, st) = setup(&mut rng, &layer).unwrap();
    assert_eq!((layer.param_count(), ps.param_count(), st.state_count()), (1000, 1000, 0));
    assert!(!ps.contains_key("bias"));
    assert_eq!(layer.activation(), Activation::Relu);
}

/// Lux's "dimensions": `Scale(10, 5)` on `randn(10)` gives `(10, 5)`, on `(10, 5, 2)` gives `(10, 5, 2)`.
#[test]
fn scale_lux_dimensions() {
    let layer = Scale::new(&[5, 10], Activation::Identity).unwrap();
    let (ps, st) = setup(&mut RngState::seed_from_u64(0), &layer).unwrap();
    let (y, _) = apply_tensor(&layer, randn(1, &[10], DType::F32), &ps, &st).unwrap();
    assert_eq!(y.shape(), &[5, 10]);
    let (y, _) = apply_tensor(&layer, randn(1, &[2, 5, 10], DType::F32), &ps, &st).unwrap();
    assert_eq!(y.shape(), &[2, 5, 10]);
}

/// Lux's "zeros" testset.
#[test]
fn scale_lux_zeros() {
    let ones = |s: &[usize]| Tensor::ones(s, DType::F32).unwrap();
    let run = |layer: Scale, x: &Tensor| -> Tensor {
        let (ps, st) = setup(&mut RngState::seed_from_u64(12345), &layer).unwrap();
        apply_tensor(&layer, x, &ps, &st).unwrap().0
    };
    let l = || Scale::builder(&[1, 10]).init_weight(Init::ones()).build().unwrap();
    assert_eq!(run(l(), &ones(&[1, 10])), ones(&[1, 10]));
    assert_eq!(run(l(), &ones(&[2, 10])), ones(&[2, 10]));
    // Lux's [1 2; 3 4] holds the samples [1, 3] and [2, 4]
    let x = Tensor::from_vec(vec![1.0f32, 3.0, 2.0, 4.0], &[2, 2]).unwrap();
    let layer = Scale::builder(&[2]).init_weight(Init::ones()).init_bias(Init::ones()).build().unwrap();
    assert_eq!(run(layer, &x).to_vec::<f32>().unwrap(), vec![2.0, 4.0, 3.0, 5.0]);
    let layer =
        Scale::builder(&[2]).activation(Activation::Tanh).use_bias(false).init_weight(Init::zeros()).build().unwrap();
    assert_eq!(run(layer, &x).to_vec::<f32>().unwrap(), vec![0.0; 4]);
}

#[test]
fn scale_default_init_is_glorot_uniform_and_zeros() {
    let layer = Scale::new(&[300, 100], Activation::Identity).unwrap();
    let (ps, _) = setup(&mut RngState::seed_from_u64(2), &layer).unwrap();
    check_uniform(&vals(ps.tensor("weight").unwrap()), (6.0f64 / 400.0).sqrt());
    assert!(vals(ps.tensor("bias").unwrap()).iter().all(|&b| b == 0.0));
}

#[test]
fn scale_describe_prints_as_lux() {
    assert_eq!(Scale::new(&[100, 10], Activation::Identity).unwrap().describe(), "Scale((10, 100))");
    assert_eq!(Scale::new(&[2], Activation::Identity).unwrap().describe(), "Scale((2,))");
    assert_eq!(
        Scale::builder(&[5, 4, 3]).activation(Activation::Relu).use_bias(false).build().unwrap().describe(),
        "Scale((3, 4, 5), relu, use_bias=false)"
    );
    assert_eq!(Scale::new(&[2], Activation::Sigmoid).unwrap().describe(), "Scale((2,), σ)");
}

#[test]
fn scale_errors() {
    let layer = Scale::new(&[3], Activation::Identity).unwrap();
    let (ps, st) = setup(&mut RngState::seed_from_u64(0), &layer).unwrap();
    let e = layer.forward(&randn(0, &[4, 5], DType::F32).into(), &ps, &st).unwrap_err();
    assert!(matches!(e, LuxError::Shape { .. }));
    assert_eq!(e.to_string(), "Scale((3,)): input of shape [4, 5] does not broadcast with the parameters' shape [3]");
    let bad = tree! { weight: Tensor::ones(&[4], DType::F32).unwrap(), bias: Tensor::ones(&[3], DType::F32).unwrap() };
    let e = layer.forward(&randn(0, &[4, 3], DType::F32).into(), &bad, &st).unwrap_err();
    assert_eq!(e.to_string(), "Scale((3,)): the parameter `weight` has shape [4], expected [3]");
    assert_eq!(
        Scale::new(&[], Activation::Identity).unwrap_err().to_string(),
        "Scale(()): invalid argument: dims must be one or more positive sizes, got []"
    );
    assert!(Scale::new(&[2, 0], Activation::Identity).is_err());
    assert!(Scale::new(&[2], Activation::Celu(0.0)).is_err());
}
