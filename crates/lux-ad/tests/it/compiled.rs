//! The compiled tape's engine (`lux_core::CompiledTape`) on its own: the
//! same gradients as `GradCall` bit for bit (slices, shared values, casts,
//! custom kernels), and the cases where it must record again or refuse.

use crate::{randn, weighted_sum};
use lux_ad::{AdBackend, AutoCompiledTape, AutoTape};
use lux_core::{CompiledTape, DType, LuxError, Result, Tensor, Tree, tree};

fn bits(t: &Tree) -> Vec<u64> {
    t.tensors().iter().flat_map(|(_, x)| x.to_vec::<f64>().unwrap().into_iter().map(f64::to_bits)).collect()
}

/// Slices (in-place accumulation), a value used twice, broadcasting, a
/// reduction, a matmul, a cast round trip and concatenation.
fn busy(p: &Tree) -> Result<Tensor> {
    let (w, b) = (p.tensor("w")?, p.tensor("b")?);
    let h = w.matmul(&w.transpose(0, 1)?)?.add(b)?.tanh()?;
    let rows: Vec<Tensor> = (0..h.shape()[0]).map(|i| h.narrow(0, i, 1)).collect::<Result<_>>()?;
    let mixed = Tensor::concat(&[rows[2].mul(&rows[0])?, rows[1].to_dtype(DType::F32)?.to_dtype(DType::F64)?], 0)?;
    weighted_sum(&mixed.add(&h.sum(&[0], true)?)?)
}

#[test]
fn the_same_bits_as_autotape_on_record_and_replay() -> Result<()> {
    let backend = AutoCompiledTape::new();
    for seed in 0..3 {
        let ps = tree! { w: randn(seed, &[4, 3]), b: randn(seed + 10, &[4]) };
        let (v0, g0) = AutoTape.value_and_gradient(&busy, &ps)?;
        let (v1, g1) = backend.value_and_gradient(&busy, &ps)?;
        assert_eq!(v0.to_scalar::<f64>()?.to_bits(), v1.to_scalar::<f64>()?.to_bits());
        assert_eq!(bits(&g0), bits(&g1), "seed {seed}");
    }
    assert_eq!((backend.recordings(), backend.replays()), (1, 2));
    Ok(())
}

#[test]
fn a_new_loss_slot_or_op_count_records_again() -> Result<()> {
    let mut tape = CompiledTape::new();
    let x = randn(1, &[3]);
    let short = |p: &[Tensor]| -> Result<(Tensor, ())> { Ok((p[0].square()?.sum_all()?, ())) };
    let long = |p: &[Tensor]| -> Result<(Tensor, ())> { Ok((p[0].square()?.sum_all()?.exp()?, ())) };
    let (_, g) = tape.value_and_gradient(std::slice::from_ref(&x), short)?;
    assert_eq!(g[0].to_vec::<f64>()?, x.mul_scalar(2.0)?.to_vec::<f64>()?);
    // One more op than recorded: caught past the record's end.
    let (_, g) = tape.value_and_gradient(std::slice::from_ref(&x), long)?;
    let e = x.square()?.sum_all()?.exp()?.to_scalar::<f64>()?;
    assert_eq!(g[0].to_vec::<f64>()?, x.mul_scalar(2.0 * e)?.to_vec::<f64>()?);
    // One op fewer: every op matches, but the loss sits in another slot.
    let (_, g) = tape.value_and_gradient(std::slice::from_ref(&x), short)?;
    assert_eq!(g[0].to_vec::<f64>()?, x.mul_scalar(2.0)?.to_vec::<f64>()?);
    assert_eq!((tape.recordings(), tape.replays()), (3, 0));
    // A loss that does not depend on the input: zero gradient, no ops recorded.
    let (_, g) = tape.value_and_gradient(std::slice::from_ref(&x), |_| Ok((Tensor::scalar(1.0f64), ())))?;
    assert_eq!(g[0].to_vec::<f64>()?, vec![0.0; 3]);
    assert!(tape.is_empty());
    Ok(())
}

#[test]
fn values_kept_from_an_earlier_call_are_constants() -> Result<()> {
    let mut tape = CompiledTape::new();
    let kept = std::cell::RefCell::new(None::<Tensor>);
    let f = |p: &[Tensor]| -> Result<(Tensor, ())> {
        let y = p[0].mul_scalar(3.0)?;
        let loss = match kept.borrow().as_ref() {
            // The marked value from the first call is a constant now.
            Some(old) => y.mul(old)?.sum_all()?,
            None => y.sum_all()?,
        };
        kept.borrow_mut().get_or_insert(y);
        Ok((loss, ()))
    };
    let x = Tensor::from_vec(vec![1.0f64, 2.0], &[2])?;
    let (_, g) = tape.value_and_gradient(std::slice::from_ref(&x), f)?;
    assert_eq!(g[0].to_vec::<f64>()?, vec![3.0, 3.0]);
    let (_, g) = tape.value_and_gradient(std::slice::from_ref(&x), f)?;
    assert_eq!(g[0].to_vec::<f64>()?, vec![9.0, 18.0]); // 3 · old = 3 · 3x
    Ok(())
}

#[test]
fn refusals() -> Result<()> {
    let mut tape = CompiledTape::new();
    let x = Tensor::from_vec(vec![1.0f64, 2.0], &[2])?;
    let err = tape.value_and_gradient(&[Tensor::from_vec(vec![1i64], &[1])?], |p| Ok((p[0].clone(), ()))).unwrap_err();
    assert!(matches!(err, LuxError::UnsupportedDType { .. }), "{err}");
    let err = tape.value_and_gradient(std::slice::from_ref(&x), |p| Ok((p[0].square()?, ()))).unwrap_err();
    assert!(err.to_string().contains("single float value"), "{err}");
    // Inside a gradient call, and a gradient call inside.
    let err = lux_ad::gradient(
        |p| {
            let mut inner = CompiledTape::new();
            let ((l, ()), _) = inner.value_and_gradient(&[p.tensor("x")?.clone()], |q| Ok((q[0].sum_all()?, ())))?;
            Ok(l)
        },
        &tree! { x: x.clone() },
    )
    .unwrap_err();
    assert!(err.to_string().contains("nested AD"), "{err}");
    let err = tape
        .value_and_gradient(std::slice::from_ref(&x), |p| {
            Ok((
                lux_ad::gradient(|q| q.tensor("x")?.sum_all(), &tree! { x: p[0].clone() })?.tensor("x")?.sum_all()?,
                (),
            ))
        })
        .unwrap_err();
    assert!(err.to_string().contains("nested AD"), "{err}");
    // A panic inside the function leaves the thread able to record again.
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut t = CompiledTape::new();
        let _ = t.value_and_gradient(std::slice::from_ref(&x), |_| -> Result<(Tensor, ())> { panic!("inside f") });
    }));
    assert!(caught.is_err());
    let ((loss, ()), g) = tape.value_and_gradient(std::slice::from_ref(&x), |p| Ok((p[0].square()?.sum_all()?, ())))?;
    assert_eq!((loss.to_scalar::<f64>()?, g[0].to_vec::<f64>()?), (5.0, vec![2.0, 4.0]));
    assert!(!loss.is_tracked());
    Ok(())
}
