//! `check_layer` passes a correct layer and catches each broken contract.

use lux_ad::testing::{LayerCheck, check_layer};
use lux_core::{DType, Layer, LuxError, Result, RngState, Tensor, Tree, tree};
use std::sync::atomic::{AtomicU64, Ordering};

/// y = tanh(x·wᵀ + b) with a running call count in the state: a correct layer.
struct Affine;
impl Layer for Affine {
    fn init_params(&self, rng: &mut dyn rand::Rng) -> Result<Tree> {
        Ok(tree! { weight: Tensor::randn(rng, &[2, 3], DType::F32)?, bias: Tensor::randn(rng, &[2], DType::F32)? })
    }
    fn init_state(&self, _: &mut dyn rand::Rng) -> Result<Tree> {
        Ok(tree! { calls: 0i64, training: true })
    }
    fn forward(&self, x: &Tree, ps: &Tree, st: &Tree) -> Result<(Tree, Tree)> {
        let y = x.as_tensor()?.matmul(&ps.tensor("weight")?.transpose(0, 1)?)?.add(ps.tensor("bias")?)?.tanh()?;
        let st = tree! { calls: st.get("calls")?.as_int()? + 1, training: st.get("training")?.clone() };
        Ok((y.into(), st))
    }
}

fn input() -> Tree {
    Tensor::randn(&mut RngState::seed_from_u64(3), &[4, 3], DType::F32).unwrap().into()
}

fn failure(layer: &dyn Layer, opts: &LayerCheck) -> String {
    match check_layer(layer, &input(), opts) {
        Ok(r) => panic!("check_layer passed a broken layer: {r:?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn a_correct_layer_passes_every_check() {
    let opts = LayerCheck { output_shape: Some(vec![4, 2]), ..Default::default() };
    let report = check_layer(&Affine, &input(), &opts).unwrap();
    assert_eq!((report.param_count, report.state_count), (8, 2));
    assert_eq!(report.output_shape, Some(vec![4, 2]));
    assert_eq!(report.param_grad.unwrap().checked, 8);
    assert_eq!(report.input_grad.unwrap().checked, 12);
    let no_input = LayerCheck { input_grad: false, ..Default::default() };
    assert!(check_layer(&Affine, &input(), &no_input).unwrap().input_grad.is_none());
    let no_grad = LayerCheck { grad: None, ..Default::default() };
    assert!(check_layer(&Affine, &input(), &no_grad).unwrap().param_grad.is_none());
}

#[test]
fn a_wrong_output_shape_fails() {
    let msg = failure(&Affine, &LayerCheck { output_shape: Some(vec![4, 3]), ..Default::default() });
    assert_eq!(msg, "check_layer(Affine) failed: output shape is [4, 2], expected [4, 3]");
}

/// Counts a parameter it does not build.
struct WrongStateCount;
impl Layer for WrongStateCount {
    fn init_state(&self, _: &mut dyn rand::Rng) -> Result<Tree> {
        Ok(tree! { a: 1i64, b: true })
    }
    fn state_shapes(&self) -> Option<Vec<Vec<usize>>> {
        Some(vec![vec![]])
    }
    fn forward(&self, x: &Tree, _: &Tree, st: &Tree) -> Result<(Tree, Tree)> {
        Ok((x.clone(), st.clone()))
    }
}

#[test]
fn a_wrong_state_count_fails() {
    assert_eq!(
        failure(&WrongStateCount, &LayerCheck::default()),
        "check_layer(WrongStateCount) failed: state_count() is 1 but setup's state counts 2"
    );
}

/// Draws its parameters from a global counter instead of the rng.
struct NondeterministicSetup(AtomicU64);
impl Layer for NondeterministicSetup {
    fn init_params(&self, _: &mut dyn rand::Rng) -> Result<Tree> {
        Ok(tree! { w: self.0.fetch_add(1, Ordering::SeqCst) as f64 })
    }
    fn forward(&self, x: &Tree, _: &Tree, st: &Tree) -> Result<(Tree, Tree)> {
        Ok((x.clone(), st.clone()))
    }
}

#[test]
fn nondeterministic_setup_fails() {
    let msg = failure(&NondeterministicSetup(AtomicU64::new(0)), &LayerCheck::default());
    assert!(msg.ends_with("setup is not deterministic: the same seed gave different trees"), "{msg}");
}

/// Adds a global counter to its output: randomness not from the state.
struct NondeterministicForward(AtomicU64);
impl Layer for NondeterministicForward {
    fn forward(&self, x: &Tree, _: &Tree, st: &Tree) -> Result<(Tree, Tree)> {
        let k = self.0.fetch_add(1, Ordering::SeqCst) as f64;
        Ok((x.as_tensor()?.add_scalar(k)?.into(), st.clone()))
    }
}

#[test]
fn randomness_outside_the_state_fails() {
    let msg = failure(&NondeterministicForward(AtomicU64::new(0)), &LayerCheck::default());
    assert!(msg.ends_with("two calls with the same parameters and state gave different results"), "{msg}");
}

/// Returns its running mean in f64 though it was built in f32.
struct StateDtypeChanges;
impl Layer for StateDtypeChanges {
    fn init_state(&self, _: &mut dyn rand::Rng) -> Result<Tree> {
        Ok(tree! { mean: Tensor::zeros(&[3], DType::F32)? })
    }
    fn forward(&self, x: &Tree, _: &Tree, _: &Tree) -> Result<(Tree, Tree)> {
        Ok((x.clone(), tree! { mean: Tensor::zeros(&[3], DType::F64)? }))
    }
}

/// Same, but says so.
struct DeclaredStateChange;
impl Layer for DeclaredStateChange {
    fn init_state(&self, r: &mut dyn rand::Rng) -> Result<Tree> {
        StateDtypeChanges.init_state(r)
    }
    fn forward(&self, x: &Tree, ps: &Tree, st: &Tree) -> Result<(Tree, Tree)> {
        StateDtypeChanges.forward(x, ps, st)
    }
    fn preserves_state_type(&self) -> bool {
        false
    }
}

#[test]
fn a_state_of_another_type_fails_unless_declared() {
    let msg = failure(&StateDtypeChanges, &LayerCheck::default());
    assert!(msg.ends_with("the returned state differs from the given one: mean was f32 and came back f64"), "{msg}");
    check_layer(&DeclaredStateChange, &input(), &LayerCheck::default()).unwrap();
}

/// Forgets test mode: sets `training` back to true.
struct ForgetsTestMode;
impl Layer for ForgetsTestMode {
    fn init_state(&self, _: &mut dyn rand::Rng) -> Result<Tree> {
        Ok(tree! { training: true })
    }
    fn forward(&self, x: &Tree, _: &Tree, _: &Tree) -> Result<(Tree, Tree)> {
        Ok((x.clone(), tree! { training: true }))
    }
}

#[test]
fn leaving_test_mode_fails() {
    let msg = failure(&ForgetsTestMode, &LayerCheck::default());
    assert!(msg.ends_with("a test-mode call returned a state in training mode"), "{msg}");
}

/// y = x ⊙ detach(w): the gradient w.r.t. w is lost.
struct DetachedWeight;
impl Layer for DetachedWeight {
    fn init_params(&self, _: &mut dyn rand::Rng) -> Result<Tree> {
        Ok(tree! { w: Tensor::full(&[3], 1.5, DType::F32)? })
    }
    fn forward(&self, x: &Tree, ps: &Tree, st: &Tree) -> Result<(Tree, Tree)> {
        Ok((x.as_tensor()?.mul(&ps.tensor("w")?.detach())?.into(), st.clone()))
    }
}

#[test]
fn a_wrong_gradient_fails_and_names_the_parameter() {
    let err = check_layer(&DetachedWeight, &input(), &LayerCheck::default()).unwrap_err();
    match err {
        LuxError::GradientMismatch { path, analytic, .. } => {
            assert_eq!(path, "parameters: w");
            assert_eq!(analytic, 0.0);
        }
        other => panic!("expected a gradient mismatch, got {other}"),
    }
    // With the gradient check off, the layer passes every other check.
    let opts = LayerCheck { grad: None, ..Default::default() };
    check_layer(&DetachedWeight, &input(), &opts).unwrap();
}

#[test]
fn integer_inputs_are_not_differentiated() {
    /// An embedding-like lookup: float parameters, integer input.
    struct Lookup;
    impl Layer for Lookup {
        fn init_params(&self, rng: &mut dyn rand::Rng) -> Result<Tree> {
            Ok(tree! { weight: Tensor::randn(rng, &[5, 2], DType::F32)? })
        }
        fn forward(&self, x: &Tree, ps: &Tree, st: &Tree) -> Result<(Tree, Tree)> {
            Ok((ps.tensor("weight")?.index_select(0, x.as_tensor()?)?.into(), st.clone()))
        }
    }
    let idx: Tree = Tensor::from_vec(vec![0i64, 3, 3, 4], &[4]).unwrap().into();
    let report =
        check_layer(&Lookup, &idx, &LayerCheck { output_shape: Some(vec![4, 2]), ..Default::default() }).unwrap();
    assert!(report.input_grad.is_none());
    assert_eq!(report.param_grad.unwrap().checked, 10);
}
