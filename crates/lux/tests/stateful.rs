//! `StatefulLayer` with the standard layers: Lux's BatchNorm mode tests and
//! nested AD through a stateful model (a loss with an input-gradient
//! penalty `‖∇ₓ model(x)‖²`, differentiated w.r.t. the parameters and
//! checked against central finite differences).

use lux::prelude::*;

fn to_f64(t: &Tree) -> Result<Tree> {
    t.try_map(|_, x| x.to_dtype(DType::F64))
}

#[test]
fn batch_norm_modes() -> Result<()> {
    let model = BatchNorm::builder(3).activation(Activation::Relu).build()?;
    let (ps, st) = setup(&mut RngState::seed_from_u64(12345), &model)?;
    for fixed in [true, false] {
        let s = StatefulLayer::with_fixed_state_type(model.clone(), ps.clone(), st.clone(), fixed);
        assert_eq!(s.state().get("training")?, &Tree::Bool(true));
        let s = s.test_mode();
        assert_eq!(s.state().get("training")?, &Tree::Bool(false));
        let s = s.train_mode();
        assert_eq!(s.state().get("training")?, &Tree::Bool(true));
        let s = s.update_state("training", 2i64);
        assert_eq!(s.state().get("training")?, &Tree::Int(2));
    }
    // A training call updates the running statistics and keeps them.
    let s = StatefulLayer::new(model, ps, st.clone());
    let x = Tensor::randn(&mut RngState::seed_from_u64(1), &[8, 3], DType::F32)?;
    let y = s.call_tensor(&x)?;
    assert_eq!(y.shape(), &[8, 3]);
    assert_ne!(s.state().tensor("running_mean")?, st.tensor("running_mean")?);
    Ok(())
}

/// `Σ m(x)² + ‖∇ₓ Σ m(x)‖²` through a `StatefulLayer`, as a function of `ps`.
fn penalised_loss<M: Layer>(s: &StatefulLayer<M>, x: &Tensor, p: &Tree) -> Result<Tensor> {
    let y = s.call_tensor_with(x, p)?;
    let gx = gradient(|xt| s.call_tensor_with(xt.tensor("x")?, p)?.sum_all(), &tree! { x: x.clone() })?;
    y.square()?.sum_all()?.add(&gx.tensor("x")?.square()?.sum_all()?)
}

fn check_nested<M: Layer>(model: M) -> Result<()> {
    let (ps, st) = setup(&mut RngState::seed_from_u64(0), &model)?;
    let (ps, st) = (to_f64(&ps)?, to_f64(&st)?);
    let x = Tensor::randn(&mut RngState::seed_from_u64(1), &[5, 3], DType::F64)?;
    let s = StatefulLayer::new(model, None, st);
    let loss = |p: &Tree| penalised_loss(&s, &x, p);
    // the reverse-over-reverse gradient agrees with central finite differences
    let report = check_gradients(loss, &ps, Tolerances::default())?;
    assert_eq!(report.checked, ps.param_count());
    // and the penalty matters: without it the gradient is another one
    let g = gradient(loss, &ps)?;
    let plain = gradient(|p| s.call_tensor_with(&x, p)?.square()?.sum_all(), &ps)?;
    assert_ne!(g, plain);
    // the state is never tracked
    assert!(s.state().tensors().iter().all(|(_, t)| !t.is_tracked()));
    Ok(())
}

#[test]
fn nested_ad_through_a_stateful_chain() -> Result<()> {
    check_nested(Chain::new((Dense::new(3, 4, Activation::Tanh)?, Dense::new(4, 1, Activation::Identity)?))?)
}

#[test]
fn nested_ad_through_a_stateful_compact_layer() -> Result<()> {
    // the compact! body calls its sublayer through a StatefulLayer too
    check_nested(compact!(d = Dense::new(3, 4, Activation::Tanh)?, v = Tensor::ones(&[1, 4], DType::F64)?, |x| {
        d.call_tensor(x)?.matmul(&v.transpose(0, 1)?)
    }))
}
