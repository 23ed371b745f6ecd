//! `StatefulLayer` (LuxCore's `StatefulLuxLayer`): Lux's stateful_tests.jl,
//! case by case, with small hand-written layers.

use lux_core::{DType, GradCall, Layer, Result, RngState, StatefulLayer, Tensor, Tree, setup, tree};
use rand::Rng;

/// Returns its input and the state `{s: 1}` whatever it was given (Lux's
/// `NotFixedStateModel`).
struct NotFixedState;
impl Layer for NotFixedState {
    fn forward(&self, x: &Tree, _: &Tree, _: &Tree) -> Result<(Tree, Tree)> {
        Ok((x.clone(), tree! { s: 1i64 }))
    }
}

/// `y = x · Wᵀ`, `W: [3, 2]` filled with 0.5; state `{training, calls}`.
#[derive(Clone)]
struct Linear;
impl Layer for Linear {
    fn init_params(&self, _: &mut dyn Rng) -> Result<Tree> {
        Ok(tree! { weight: Tensor::full(&[3, 2], 0.5, DType::F32)? })
    }
    fn init_state(&self, _: &mut dyn Rng) -> Result<Tree> {
        Ok(tree! { training: true, calls: 0i64 })
    }
    fn forward(&self, x: &Tree, ps: &Tree, st: &Tree) -> Result<(Tree, Tree)> {
        let y = x.as_tensor()?.matmul(&ps.tensor("weight")?.transpose(0, 1)?)?;
        Ok((y.into(), tree! { training: st.get("training")?.clone(), calls: st.get("calls")?.as_int()? + 1 }))
    }
    fn describe(&self) -> String {
        "Linear(2 => 3)".into()
    }
}

/// Keeps its state's structure but changes its tensor's dtype.
struct ChangesDType;
impl Layer for ChangesDType {
    fn forward(&self, x: &Tree, _: &Tree, st: &Tree) -> Result<(Tree, Tree)> {
        Ok((x.clone(), tree! { m: st.tensor("m")?.to_dtype(DType::F64)? }))
    }
}

fn setup0<L: Layer>(l: &L) -> (Tree, Tree) {
    setup(&mut RngState::seed_from_u64(12345), l).unwrap()
}

#[test]
fn a_state_of_another_type_needs_the_flag_off() -> Result<()> {
    let (ps, st) = setup0(&NotFixedState);
    assert_eq!(st, Tree::new());
    let loose = StatefulLayer::with_fixed_state_type(NotFixedState, ps.clone(), st.clone(), false);
    assert_eq!(loose.call(1.0)?, Tree::Float(1.0));
    assert_eq!(loose.state(), tree! { s: 1i64 });
    assert!(!loose.fixed_state_type());

    let fixed = StatefulLayer::new(NotFixedState, ps, st);
    assert!(fixed.fixed_state_type());
    let err = fixed.call(1.0).unwrap_err().to_string();
    assert!(err.contains("StatefulLayer(NotFixedState)"), "{err}");
    assert!(err.contains("with_fixed_state_type(.., false)"), "{err}");
    // The failed call kept the old state.
    assert_eq!(fixed.state(), Tree::new());

    // Same structure, another dtype: also a different type.
    let m = tree! { m: Tensor::zeros(&[2], DType::F32)? };
    let err = StatefulLayer::new(ChangesDType, Tree::new(), m).call(0.0).unwrap_err().to_string();
    assert!(err.contains("m was f32[2] and came back f64[2]"), "{err}");
    Ok(())
}

#[test]
fn counts_follow_the_model_or_the_stored_trees() -> Result<()> {
    let (ps, st) = setup0(&Linear);
    for s in [
        StatefulLayer::new(Linear, ps.clone(), st.clone()),
        StatefulLayer::with_fixed_state_type(Linear, ps.clone(), st.clone(), false),
    ] {
        assert_eq!(s.param_count(), Linear.param_count());
        assert_eq!(s.state_count(), Linear.state_count());
    }
    // No parameters stored: the model's count.
    assert_eq!(StatefulLayer::new(Linear, None, st.clone()).param_count(), 6);
    // Parameters stored: theirs.
    let bigger = tree! { weight: Tensor::zeros(&[4, 2], DType::F32)? };
    assert_eq!(StatefulLayer::new(Linear, bigger, st).param_count(), 8);
    Ok(())
}

#[test]
fn outputs_follow_the_parameters_dtype() -> Result<()> {
    let (ps, st) = setup0(&Linear);
    let mut s = StatefulLayer::new(Linear, ps.clone(), st);
    let x = Tensor::from_vec(vec![1.0f32, 2.0, -1.0, 4.0], &[2, 2])?;
    let y = s.call_tensor(&x)?;
    assert_eq!(y.dtype(), DType::F32);
    // y = x · Wᵀ with W = 0.5: each row is 0.5·(x₁ + x₂), three times.
    assert_eq!(y.to_vec::<f32>()?, vec![1.5, 1.5, 1.5, 1.5, 1.5, 1.5]);

    // f64 parameters (the conversion f64(smodel) does for ps) give f64 outputs.
    let ps64 = ps.try_map(|_, t| t.to_dtype(DType::F64))?;
    s.set_ps(ps64);
    assert_eq!(s.call_tensor(&x.to_dtype(DType::F64)?)?.dtype(), DType::F64);
    // Setting the f32 parameters back gives f32 again (Lux's `@set smodel.ps = ps`).
    s.set_ps(ps);
    assert_eq!(s.call_tensor(&x)?.dtype(), DType::F32);
    assert_eq!(s.state().get("calls")?.as_int()?, 3);
    Ok(())
}

#[test]
fn calls_without_parameters_need_them_passed() -> Result<()> {
    let (ps, st) = setup0(&Linear);
    let s = StatefulLayer::new(Linear, None, st);
    let x = Tensor::ones(&[1, 2], DType::F32)?;
    let err = s.call(&x).unwrap_err().to_string();
    assert_eq!(
        err,
        "StatefulLayer(Linear(2 => 3)): invalid argument: parameters are not set; pass them explicitly with call_with(x, ps)"
    );
    assert_eq!(s.call_tensor_with(&x, &ps)?.to_vec::<f32>()?, vec![1.0; 3]);
    // A non-tensor output asked for as a tensor is an error naming the model.
    let id = StatefulLayer::with_fixed_state_type(NotFixedState, Tree::new(), Tree::new(), false);
    let err = id.call_tensor(true).unwrap_err().to_string();
    assert!(err.contains("StatefulLayer(NotFixedState): expected a tensor output, got a bool"), "{err}");
    Ok(())
}

#[test]
fn the_state_is_not_differentiated() -> Result<()> {
    // Lux: `Zygote.gradient(m -> m.st.x, smodel)` is `nothing`. Here the
    // stored state is cut off from any gradient record.
    let mut call = GradCall::new();
    let xt = call.track(&Tensor::from_vec(vec![2.0f64], &[1])?)?;
    assert!(xt.is_tracked());
    let s = StatefulLayer::new(Linear, None, tree! { x: xt.clone() });
    assert!(!s.state().tensor("x")?.is_tracked());
    s.set_state(tree! { x: xt });
    assert!(!s.state().tensor("x")?.is_tracked());
    Ok(())
}

#[test]
fn modes_and_update_state_keep_the_flag() -> Result<()> {
    let (ps, st) = setup0(&Linear);
    for fixed in [true, false] {
        let s = StatefulLayer::with_fixed_state_type(Linear, ps.clone(), st.clone(), fixed);
        assert_eq!(s.state().get("training")?, &Tree::Bool(true));
        let s = s.test_mode();
        assert_eq!(s.state().get("training")?, &Tree::Bool(false));
        assert_eq!(s.fixed_state_type(), fixed);
        let s = s.train_mode();
        assert_eq!(s.state().get("training")?, &Tree::Bool(true));
        let s = s.update_state("training", 2i64);
        assert_eq!(s.state().get("training")?, &Tree::Int(2));
        assert_eq!((s.fixed_state_type(), s.ps()), (fixed, Some(&ps)));
    }
    Ok(())
}

#[test]
fn display_shows_the_flag_and_the_model() {
    let (ps, st) = setup0(&Linear);
    assert_eq!(StatefulLayer::new(Linear, ps.clone(), st.clone()).to_string(), "StatefulLayer{true}(Linear(2 => 3))");
    let loose = StatefulLayer::with_fixed_state_type(Linear, ps, st, false);
    assert_eq!(format!("{loose:?}"), "StatefulLayer{false}(Linear(2 => 3))");
    let (model, ps, st) = loose.into_parts();
    assert_eq!(
        (model.describe(), ps.map(|p| p.param_count()), st.state_count()),
        ("Linear(2 => 3)".into(), Some(6), 2)
    );
}
