//! Tests of the basic layers (Lux's `test/core_layers/basic_tests.jl`, batch first):
//! values against the definitions, printing, errors, `check_layer`.

use crate::common::{randn, vals64};
use lux_ad::testing::{LayerCheck, check_layer};
use lux_core::{DType, Layer, RngState, Tensor, Tree, apply, setup, stateless_apply};
use lux_layers::{FlattenLayer, NoOpLayer, ReshapeLayer, SelectDim, WrappedFunction};

fn run<L: Layer>(layer: &L, x: &Tensor) -> lux_core::Result<Tensor> {
    let (ps, st) = setup(&mut RngState::seed_from_u64(0), layer)?;
    apply(layer, x, &ps, &st)?.0.into_tensor()
}

fn arange(shape: &[usize]) -> Tensor {
    let n: usize = shape.iter().product();
    Tensor::from_vec((0..n).map(|v| v as f64).collect(), shape).unwrap()
}

#[test]
fn wrapped_function_applies_the_function_and_has_no_parameters() {
    let layer = WrappedFunction::new("square", |x: &Tree| Ok(x.as_tensor()?.square()?.into())).unwrap();
    assert_eq!(layer.describe(), "WrappedFunction(square)");
    let (ps, st) = setup(&mut RngState::seed_from_u64(0), &layer).unwrap();
    assert_eq!((ps, st), (Tree::new(), Tree::new()));
    let x = randn(1, &[3, 4], DType::F64);
    let y = run(&layer, &x).unwrap();
    let want: Vec<f64> = vals64(&x).iter().map(|v| v * v).collect();
    assert_eq!(vals64(&y), want);
    // a function on tuples
    let swap = WrappedFunction::new("swap", |x: &Tree| {
        let xs = x.as_seq()?;
        Ok(Tree::seq([xs[1].clone(), xs[0].clone()]))
    })
    .unwrap();
    let y = stateless_apply(&swap, Tree::seq([1i64, 2]), &Tree::new()).unwrap();
    assert_eq!(y, Tree::seq([2i64, 1]));
    // the function's error is returned as it is
    let err = stateless_apply(&layer, Tree::Int(3), &Tree::new()).unwrap_err();
    assert!(err.to_string().contains("int"), "{err}");
    check_layer(&layer, &x.into(), &LayerCheck { output_shape: Some(vec![3, 4]), ..Default::default() }).unwrap();
}

#[test]
fn noop_is_the_identity() {
    assert_eq!(NoOpLayer.describe(), "NoOpLayer()");
    let x = randn(2, &[2, 5], DType::F32);
    assert_eq!(run(&NoOpLayer, &x).unwrap(), x);
    check_layer(&NoOpLayer, &x.into(), &LayerCheck::default()).unwrap();
}

#[test]
fn flatten_layer_flattens_all_but_the_batch_axis() {
    // Lux: FlattenLayer() on (W, H, C, N) → (W·H·C, N); here [N, C, H, W] → [N, C·H·W]
    let x = arange(&[2, 3, 4, 5]);
    let y = run(&FlattenLayer::new(), &x).unwrap();
    assert_eq!(y.shape(), &[2, 60]);
    assert_eq!(vals64(&y), vals64(&x)); // row-major order kept
    assert_eq!(FlattenLayer::new().describe(), "FlattenLayer{Nothing}(nothing)");
    assert_eq!(FlattenLayer::default(), FlattenLayer::new());
    // from an axis, signed
    assert_eq!(run(&FlattenLayer::from_axis(2).unwrap(), &x).unwrap().shape(), &[2, 3, 20]);
    assert_eq!(run(&FlattenLayer::from_axis(-2).unwrap(), &x).unwrap().shape(), &[2, 3, 20]);
    assert_eq!(run(&FlattenLayer::from_axis(-1).unwrap(), &x).unwrap().shape(), &[2, 3, 4, 5]);
    assert_eq!(FlattenLayer::from_axis(2).unwrap().describe(), "FlattenLayer(start_axis = 2)");
    // a transposed (non-contiguous) input flattens in its logical order
    let t = arange(&[2, 3]).transpose(0, 1).unwrap(); // [3, 2]
    let y = run(&FlattenLayer::new(), &t.unsqueeze(2).unwrap()).unwrap();
    assert_eq!(vals64(&y), vec![0.0, 3.0, 1.0, 4.0, 2.0, 5.0]);
    check_layer(
        &FlattenLayer::new(),
        &randn(3, &[2, 2, 3], DType::F32).into(),
        &LayerCheck { output_shape: Some(vec![2, 6]), ..Default::default() },
    )
    .unwrap();
}

#[test]
fn flatten_layer_errors() {
    let err = FlattenLayer::from_axis(0).unwrap_err();
    assert_eq!(
        err.to_string(),
        "FlattenLayer: invalid argument: start_axis 0 would flatten the batch axis; use 1 (the default) or later"
    );
    let err = run(&FlattenLayer::new(), &arange(&[4])).unwrap_err();
    assert_eq!(
        err.to_string(),
        "FlattenLayer{Nothing}(nothing): input of shape [4]: needs a batch axis and at least one axis to flatten from axis 1"
    );
    let err = run(&FlattenLayer::from_axis(5).unwrap(), &arange(&[2, 3])).unwrap_err();
    assert_eq!(
        err.to_string(),
        "FlattenLayer(start_axis = 5): start axis 5 is out of range for an input of shape [2, 3]"
    );
    let err = run(&FlattenLayer::from_axis(-2).unwrap(), &arange(&[2, 3])).unwrap_err();
    assert!(err.to_string().contains("needs a batch axis"), "{err}");
    let err = stateless_apply(&FlattenLayer::new(), Tree::Float(1.0), &Tree::new()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "structure mismatch at <root>: FlattenLayer{Nothing}(nothing): expects a tensor input, got a float"
    );
}

#[test]
fn reshape_layer_reshapes_each_sample() {
    // Lux: ReshapeLayer((2, 3)) on (6, B) → (2, 3, B); batch first that is dims [3, 2]
    let layer = ReshapeLayer::new(vec![3, 2]).unwrap();
    assert_eq!(layer.describe(), "ReshapeLayer(output_dims = (:, 3, 2))");
    let x = arange(&[4, 6]);
    let y = run(&layer, &x).unwrap();
    assert_eq!(y.shape(), &[4, 3, 2]);
    assert_eq!(vals64(&y), vals64(&x));
    let y = run(&layer, &arange(&[4, 2, 3])).unwrap();
    assert_eq!(y.shape(), &[4, 3, 2]);
    assert_eq!(ReshapeLayer::new(vec![6]).unwrap().describe(), "ReshapeLayer(output_dims = (:, 6))");
    check_layer(
        &layer,
        &randn(4, &[2, 6], DType::F32).into(),
        &LayerCheck { output_shape: Some(vec![2, 3, 2]), ..Default::default() },
    )
    .unwrap();
}

#[test]
fn reshape_layer_errors() {
    assert_eq!(ReshapeLayer::new(vec![]).unwrap_err().to_string(), "ReshapeLayer: invalid argument: dims is empty");
    assert!(ReshapeLayer::new(vec![usize::MAX, 2]).is_err());
    let layer = ReshapeLayer::new(vec![2, 2]).unwrap();
    let err = run(&layer, &arange(&[3, 5])).unwrap_err();
    assert_eq!(
        err.to_string(),
        "ReshapeLayer(output_dims = (:, 2, 2)): input of shape [3, 5] has 5 elements per sample, the output dims (2, 2) hold 4"
    );
    let err = run(&layer, &Tensor::from_vec(vec![1.0f32], &[]).unwrap()).unwrap_err();
    assert_eq!(err.to_string(), "ReshapeLayer(output_dims = (:, 2, 2)): input is 0-d, it needs a batch axis");
}

#[test]
fn select_dim_picks_along_an_axis() {
    let x = arange(&[2, 3, 4]);
    let xv = vals64(&x);
    let at = |b: usize, c: usize, t: usize| xv[b * 12 + c * 4 + t];
    // one index: the axis is dropped
    let y = run(&SelectDim::new(1, 2).unwrap(), &x).unwrap();
    assert_eq!(y.shape(), &[2, 4]);
    let want: Vec<f64> = (0..2).flat_map(|b| (0..4).map(move |t| (b, t))).map(|(b, t)| at(b, 2, t)).collect();
    assert_eq!(vals64(&y), want);
    let y = run(&SelectDim::new(-1, 3).unwrap(), &x).unwrap();
    assert_eq!(y.shape(), &[2, 3]);
    let want: Vec<f64> = (0..2).flat_map(|b| (0..3).map(move |c| (b, c))).map(|(b, c)| at(b, c, 3)).collect();
    assert_eq!(vals64(&y), want);
    // several indices: the axis is kept
    let layer = SelectDim::indices(2, vec![3, 0, 3]).unwrap();
    assert_eq!(layer.describe(), "SelectDim(dim = 2, index = [3, 0, 3])");
    let y = run(&layer, &x).unwrap();
    assert_eq!(y.shape(), &[2, 3, 3]);
    let mut want = Vec::new();
    for b in 0..2 {
        for c in 0..3 {
            for t in [3, 0, 3] {
                want.push(at(b, c, t));
            }
        }
    }
    assert_eq!(vals64(&y), want);
    assert_eq!(SelectDim::new(1, 2).unwrap().describe(), "SelectDim(dim = 1, index = 2)");
    for layer in [SelectDim::new(1, 2).unwrap(), layer] {
        check_layer(&layer, &randn(5, &[2, 3, 4], DType::F32).into(), &LayerCheck::default()).unwrap();
    }
}

#[test]
fn select_dim_errors() {
    let x = arange(&[2, 3]);
    let err = run(&SelectDim::new(1, 3).unwrap(), &x).unwrap_err();
    assert_eq!(
        err.to_string(),
        "SelectDim(dim = 1, index = 3): index 3 is out of range for axis 1 of length 3 (input shape [2, 3])"
    );
    let err = run(&SelectDim::new(2, 0).unwrap(), &x).unwrap_err();
    assert_eq!(err.to_string(), "SelectDim(dim = 2, index = 0): axis 2 is out of range for an input of shape [2, 3]");
    let err = run(&SelectDim::indices(0, vec![0, 2]).unwrap(), &x).unwrap_err();
    assert!(err.to_string().contains("index 2 is out of range for axis 0 of length 2"), "{err}");
    assert_eq!(
        SelectDim::indices(0, vec![]).unwrap_err().to_string(),
        "SelectDim: invalid argument: the list of indices is empty"
    );
}
