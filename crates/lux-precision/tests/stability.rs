//! The stability checks (the Rust reading of Lux's DispatchDoctor mode):
//! hand-written unstable layers and ops are caught in `warn` and `error`
//! and pass in `disable`; the built-in layers pass in `error`.
//!
//! The mode is process-wide, so the tests here take one lock.

mod common;
use common::*;
use lux_ad::testing::{LayerCheck, check_layer};
use lux_core::{CustomOp, DType, Layer, LuxError, Result, RngState, Tensor, Tree, apply, setup, test_mode, tree};
use lux_layers::*;
use lux_ops::Activation;
use lux_precision::{CheckMode, StabilityChecks, set_stability_checks};
use std::sync::{Arc, Mutex, MutexGuard};

static LOCK: Mutex<()> = Mutex::new(());

fn mode(layers: CheckMode, ops: CheckMode) -> MutexGuard<'static, ()> {
    let guard = LOCK.lock().unwrap_or_else(|p| p.into_inner());
    install_logger();
    set_stability_checks(StabilityChecks { layers, ops });
    guard
}

/// Adds a key to its state on every call.
struct GrowsState;
impl Layer for GrowsState {
    fn init_state(&self, _: &mut dyn rand::Rng) -> Result<Tree> {
        Ok(tree! { count: 0i64 })
    }
    fn forward(&self, x: &Tree, _: &Tree, st: &Tree) -> Result<(Tree, Tree)> {
        Ok((x.clone(), st.clone().with("seen", true)?))
    }
}

/// Returns an f64 output whatever its f32 input.
struct Widens;
impl Layer for Widens {
    fn forward(&self, x: &Tree, _: &Tree, st: &Tree) -> Result<(Tree, Tree)> {
        Ok((x.as_tensor()?.to_dtype(DType::F64)?.into(), st.clone()))
    }
}

/// Keeps a running sum in its state, accidentally in f64.
struct StateDtype;
impl Layer for StateDtype {
    fn init_state(&self, _: &mut dyn rand::Rng) -> Result<Tree> {
        Ok(tree! { sum: Tensor::zeros(&[2], DType::F32)? })
    }
    fn forward(&self, x: &Tree, _: &Tree, st: &Tree) -> Result<(Tree, Tree)> {
        let sum = st.tensor("sum")?.to_dtype(DType::F64)?.add(x.as_tensor()?)?;
        Ok((x.clone(), tree! { sum: sum }))
    }
}

fn x32() -> Tensor {
    Tensor::ones(&[3, 2], DType::F32).unwrap()
}

fn run<L: Layer>(layer: &L) -> Result<(Tree, Tree)> {
    let (ps, st) = setup(&mut RngState::seed_from_u64(0), layer)?;
    apply(layer, x32(), &ps, &st)
}

#[test]
fn disable_lets_unstable_layers_pass() {
    let _g = mode(CheckMode::Disable, CheckMode::Disable);
    let before = warnings().len();
    assert!(run(&GrowsState).is_ok());
    assert_eq!(run(&Widens).unwrap().0.as_tensor().unwrap().dtype(), DType::F64);
    assert!(run(&StateDtype).is_ok());
    assert_eq!(warnings().len(), before);
}

#[test]
fn error_mode_names_the_layer_the_path_and_the_change() {
    let _g = mode(CheckMode::Error, CheckMode::Disable);
    let err = run(&GrowsState).unwrap_err();
    let LuxError::Unstable { layer, path, msg } = &err else { panic!("{err}") };
    assert_eq!((layer.as_str(), path.as_str()), ("GrowsState", "<root>"));
    assert!(msg.starts_with("the state changed structure"), "{msg}");
    assert_eq!(
        run(&Widens).unwrap_err().to_string(),
        "unstable Widens at <root>: the output at <root> is f64, wider than its input, parameters and state promise (f32)"
    );
    assert_eq!(
        run(&StateDtype).unwrap_err().to_string(),
        "unstable StateDtype at <root>: the state leaf at sum changed dtype from f32 to f64"
    );
    // Inside containers the path names where it sits.
    let model = Chain::new((NoOpLayer, Chain::new((NoOpLayer, Widens)).unwrap())).unwrap();
    let err = run(&model).unwrap_err();
    assert!(matches!(&err, LuxError::Unstable { path, .. } if path == "layer_2.layer_2"), "{err}");
    // f64 input to an f32 Dense promotes: what the input promises, not a widening.
    let dense = Dense::new(2, 2, Activation::Tanh).unwrap();
    let (ps, st) = setup(&mut RngState::seed_from_u64(0), &dense).unwrap();
    assert!(apply(&dense, Tensor::ones(&[1, 2], DType::F64).unwrap(), &ps, &st).is_ok());
}

#[test]
fn warn_mode_warns_once_per_layer_type_and_passes() {
    let _g = mode(CheckMode::Warn, CheckMode::Disable);
    let count = |needle: &str| warnings().iter().filter(|w| w.contains(needle)).count();
    for _ in 0..3 {
        assert!(run(&GrowsState).is_ok());
        assert_eq!(run(&Widens).unwrap().0.as_tensor().unwrap().dtype(), DType::F64);
    }
    assert_eq!(count("unstable GrowsState"), 1);
    assert_eq!(count("unstable Widens"), 1);
}

/// A fused op that returns f64 whatever its input.
#[derive(Debug)]
struct WideningOp;
impl CustomOp for WideningOp {
    fn name(&self) -> &str {
        "widening"
    }
    fn backward(&self, g: &Tensor, _: &[Tensor], _: &Tensor, _: &[bool]) -> Result<Vec<Option<Tensor>>> {
        Ok(vec![Some(g.to_dtype(DType::F32)?)])
    }
    fn tangent(&self, _: &[Tensor], _: &Tensor, t: &[Option<Tensor>]) -> Result<Tensor> {
        t[0].as_ref().expect("one input, so its tangent is given").to_dtype(DType::F64)
    }
}

fn widening_op(x: &Tensor) -> Result<Tensor> {
    Tensor::from_custom_op(x.to_dtype(DType::F64)?, Arc::new(WideningOp), &[x])
}

#[test]
fn op_checks_catch_a_widening_fused_op() {
    let _g = mode(CheckMode::Disable, CheckMode::Disable);
    assert_eq!(widening_op(&x32()).unwrap().dtype(), DType::F64);
    set_stability_checks(StabilityChecks { layers: CheckMode::Disable, ops: CheckMode::Error });
    assert_eq!(
        widening_op(&x32()).unwrap_err().to_string(),
        "unstable op `widening` at <root>: its output is f64, but its inputs (f32) promote to f32"
    );
    // The built-in fused ops keep the promotion (f16 stays f16, f32 with f64 gives f64).
    let h = Tensor::randn(&mut RngState::seed_from_u64(1), &[4, 3], DType::F16).unwrap();
    assert_eq!(lux_ops::softmax::softmax(&h, -1).unwrap().dtype(), DType::F16);
    let w = Tensor::ones(&[2, 3], DType::F64).unwrap();
    let y = lux_ops::dense::dense(&h.to_dtype(DType::F32).unwrap(), &w, None, Activation::Relu).unwrap();
    assert_eq!(y.dtype(), DType::F64);
    set_stability_checks(StabilityChecks { layers: CheckMode::Disable, ops: CheckMode::Warn });
    let before = warnings().iter().filter(|w| w.contains("op `widening`")).count();
    for _ in 0..2 {
        assert!(widening_op(&x32()).is_ok());
    }
    assert_eq!(before, 0);
    assert_eq!(warnings().iter().filter(|w| w.contains("op `widening`")).count(), 1);
}

/// Every built-in layer, in train and test mode, in f32, f16 and bf16, and
/// through `check_layer` (f64 gradients), with both checks in `error` mode.
#[test]
fn built_in_layers_pass_in_error_mode() {
    let _g = mode(CheckMode::Error, CheckMode::Error);
    let relu = Activation::Relu;
    let cases: Vec<(Box<dyn Layer>, Vec<usize>)> = vec![
        (Box::new(Dense::new(3, 4, Activation::Tanh).unwrap()), vec![5, 3]),
        (Box::new(Scale::new(&[3], relu).unwrap()), vec![5, 3]),
        (Box::new(Conv::new(&[3, 3], 2, 3, relu).unwrap()), vec![2, 2, 5, 5]),
        (Box::new(ConvTranspose::new(&[2, 2], 2, 3, relu).unwrap()), vec![2, 2, 4, 4]),
        (Box::new(BatchNorm::new(3).unwrap()), vec![4, 3]),
        (Box::new(GroupNorm::new(4, 2).unwrap()), vec![2, 4, 3]),
        (Box::new(InstanceNorm::new(2).unwrap()), vec![2, 2, 5]),
        (Box::new(LayerNorm::new(&[3]).unwrap()), vec![4, 3]),
        (Box::new(Dropout::new(0.5).unwrap()), vec![4, 3]),
        (Box::new(MaxPool::new(&[2]).unwrap()), vec![2, 2, 6]),
        (Box::new(MeanPool::new(&[2]).unwrap()), vec![2, 2, 6]),
        (Box::new(RNNCell::new(3, 4).unwrap()), vec![2, 3]),
        (Box::new(LSTMCell::new(3, 4).unwrap()), vec![2, 3]),
        (Box::new(GRUCell::new(3, 4).unwrap()), vec![2, 3]),
        (Box::new(Recurrence::new(LSTMCell::new(3, 4).unwrap())), vec![2, 5, 3]),
        (
            Box::new(
                Chain::new((
                    Dense::new(3, 4, relu).unwrap(),
                    BatchNorm::new(4).unwrap(),
                    Dense::new(4, 2, relu).unwrap(),
                ))
                .unwrap(),
            ),
            vec![5, 3],
        ),
        (Box::new(SkipConnection::new(Dense::new(3, 3, relu).unwrap(), Func::add()).unwrap()), vec![5, 3]),
        (
            Box::new(
                Maxout::new(vec![Box::new(Dense::new(3, 2, relu).unwrap()), Box::new(Dense::new(3, 2, relu).unwrap())])
                    .unwrap(),
            ),
            vec![5, 3],
        ),
        (Box::new(WeightNorm::new(Dense::new(3, 2, relu).unwrap(), &["weight"]).unwrap()), vec![5, 3]),
        (Box::new(FlattenLayer::new()), vec![2, 3, 2]),
        (Box::new(Activation::Gelu), vec![4, 3]),
    ];
    for (layer, shape) in &cases {
        let name = layer.describe();
        let (ps, st) = setup(&mut RngState::seed_from_u64(0), layer.as_ref()).unwrap();
        for dtype in [DType::F32, DType::F16, DType::BF16] {
            let x = Tensor::randn(&mut RngState::seed_from_u64(1), shape, dtype).unwrap();
            let (ps, st) = (lux_precision::to_dtype(&ps, dtype).unwrap(), lux_precision::to_dtype(&st, dtype).unwrap());
            let (y, st2) = apply(layer.as_ref(), &x, &ps, &st).unwrap_or_else(|e| panic!("{name} in {dtype}: {e}"));
            for (p, t) in y.tensors() {
                assert_eq!(t.dtype(), dtype, "{name} in {dtype}: output {p}");
            }
            apply(layer.as_ref(), &x, &ps, &test_mode(&st2)).unwrap_or_else(|e| panic!("{name} test mode: {e}"));
        }
        let x = Tensor::randn(&mut RngState::seed_from_u64(1), shape, DType::F32).unwrap();
        // Dropout's mask and max-pool's argmax are not smooth for finite differences.
        let smooth = !(name.starts_with("Dropout") || name.starts_with("MaxPool"));
        let opts = LayerCheck { grad: if smooth { LayerCheck::default().grad } else { None }, ..Default::default() };
        check_layer(layer.as_ref(), &x.into(), &opts).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}
