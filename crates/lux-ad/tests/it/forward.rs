//! Forward mode: the tangent mechanism, every op family, `jvp` against the
//! Jacobian, `batched_jacobian`, and nested AD in both orders — all against
//! finite differences or reverse mode, in f64.

use crate::{randn, weighted_sum};
use lux_ad::{
    AdBackend, AutoFiniteDiff, AutoForward, AutoTape, Tolerances, batched_jacobian, check_gradients, check_jvp,
    gradient, hvp, jacobian, jvp, vjp,
};
use lux_core::{CustomOp, DType, DualCall, GradCall, LuxError, Result, Tensor, Tree, tree};
use std::sync::Arc;

fn tol() -> Tolerances {
    Tolerances { atol: 1e-7, rtol: 1e-6 }
}

fn close(a: &Tensor, b: &Tensor, tol: f64) {
    assert_eq!(a.shape(), b.shape());
    for (i, (x, y)) in a.to_f64_vec().iter().zip(b.to_f64_vec()).enumerate() {
        assert!((x - y).abs() <= tol * (1.0 + y.abs()), "element {i}: {x} vs {y}");
    }
}

/// One case per op family of lux-core's record (`Unary`, `Binary`,
/// `Reduce`, every `Shape` variant, `Matmul`, `Where`, `Cast`, and the
/// built-in custom ops `flip` and `cumsum`): each tangent rule is checked
/// against central differences and the adjoint identity. A family missing
/// here would be a `match` arm without a test; a missing rule does not
/// compile (the matches are exhaustive and `CustomOp::tangent` is required).
#[test]
fn every_op_family_has_a_checked_tangent_rule() {
    type Case = (&'static str, fn(&Tensor, &Tensor) -> Result<Tensor>);
    let cases: [Case; 18] = [
        ("unary tanh", |a, _| a.tanh()),
        ("unary exp (reads the output)", |a, _| a.exp()),
        ("binary mul, broadcast", |a, b| a.mul(&b.narrow(0, 0, 1)?)),
        ("binary pow", |a, b| a.abs()?.add_scalar(0.5)?.pow(b)),
        ("reduce sum", |a, _| a.sum(&[1], false)),
        ("reduce max", |a, _| a.max(&[0], true)),
        ("shape reshape", |a, _| a.reshape(&[4, 3])),
        ("shape permute", |a, _| a.transpose(0, 1)),
        ("shape broadcast_to", |a, _| a.narrow(0, 1, 1)?.broadcast_to(&[2, 3, 4])),
        ("shape narrow", |a, _| a.narrow(1, 1, 2)),
        ("shape index_select", |a, _| a.index_select(1, &Tensor::from_vec(vec![3i64, 0, 3], &[3])?)),
        ("shape index_add", |a, b| a.index_add(1, &Tensor::from_vec(vec![2i64, 0, 2], &[3])?, &b.narrow(1, 0, 3)?)),
        ("shape gather", |a, _| a.gather(1, &Tensor::from_vec(vec![1i64, 3, 0, 0, 2, 1], &[3, 2])?)),
        ("shape scatter_add", |a, b| {
            a.scatter_add(1, &Tensor::from_vec(vec![0i64, 3, 1, 2, 2, 0], &[3, 2])?, &b.narrow(1, 0, 2)?)
        }),
        ("shape concat", |a, b| Tensor::concat(&[a.clone(), b.clone()], 1)),
        ("matmul", |a, b| a.matmul(&b.transpose(0, 1)?)),
        ("where", |a, b| Tensor::where_(&a.greater(b)?, a, &b.square()?)),
        ("custom flip and cumsum", |a, _| a.flip(&[1])?.cumsum(1)),
    ];
    for (k, (name, op)) in cases.iter().enumerate() {
        let x = tree! { a: randn(10 + k as u64, &[3, 4]), b: randn(40 + k as u64, &[3, 4]) };
        let f = |t: &Tree| op(t.tensor("a")?, t.tensor("b")?);
        if let Err(e) = check_jvp(f, &x, tol()) {
            panic!("{name}: {e}");
        }
    }
    // A cast rounds (finite differences through f32 would be noisy): its
    // tangent is the input's, cast.
    let call = DualCall::new();
    let (x, v) = (randn(1, &[5]), randn(2, &[5]));
    let t = call.tangent(&call.seed(&x, &v).unwrap().to_dtype(DType::F32).unwrap()).unwrap();
    assert_eq!(
        (t.dtype(), t.to_vec::<f32>().unwrap()),
        (DType::F32, v.to_dtype(DType::F32).unwrap().to_vec::<f32>().unwrap())
    );
}

/// `y = x²` computed by a "kernel", with a deliberately wrong tangent rule
/// (`x` instead of `2x`): the checker must catch it, both ways.
#[derive(Debug)]
struct WrongTangent;
impl CustomOp for WrongTangent {
    fn name(&self) -> &str {
        "wrong"
    }
    fn backward(&self, g: &Tensor, x: &[Tensor], _: &Tensor, _: &[bool]) -> Result<Vec<Option<Tensor>>> {
        Ok(vec![Some(g.mul(&x[0])?.mul_scalar(2.0)?)])
    }
    fn tangent(&self, x: &[Tensor], _: &Tensor, t: &[Option<Tensor>]) -> Result<Tensor> {
        t[0].as_ref().expect("one input").mul(&x[0])
    }
}

#[test]
fn check_jvp_catches_a_wrong_tangent_rule() {
    let x = tree! { x: randn(1, &[4]) };
    let f =
        |t: &Tree| Tensor::from_custom_op(t.tensor("x")?.detach().square()?, Arc::new(WrongTangent), &[t.tensor("x")?]);
    let err = check_jvp(f, &x, tol()).unwrap_err();
    assert!(matches!(err, LuxError::GradientMismatch { .. }), "{err}");
    // Its gradient is right, so only the tangent is wrong.
    check_gradients(|t| weighted_sum(&f(t)?), &x, tol()).unwrap();
}

/// A small two-layer network of primitives, `[batch, 3] → [batch, 2]`.
fn mlp(p: &Tree, x: &Tensor) -> Result<Tensor> {
    let h = x.matmul(&p.tensor("w1")?.transpose(0, 1)?)?.add(p.tensor("b1")?)?.tanh()?;
    h.matmul(&p.tensor("w2")?.transpose(0, 1)?)?.add(p.tensor("b2")?)?.sin()
}

fn params() -> Tree {
    tree! { w1: randn(1, &[4, 3]), b1: randn(2, &[4]), w2: randn(3, &[2, 4]), b2: randn(4, &[2]) }
}

#[test]
fn jvp_is_the_jacobian_times_v() -> Result<()> {
    let p = params();
    let x = tree! { x: randn(5, &[2, 3]) };
    let v = tree! { x: randn(6, &[2, 3]) };
    let f = |t: &Tree| mlp(&p, t.tensor("x")?);
    let (y, jv) = jvp(f, &x, &v)?;
    assert!(!y.is_tracked() && !jv.is_tracked());
    close(&y, &f(&x)?, 0.0);
    // J has shape [2, 2, 2, 3]; contract it with v.
    let j = jacobian(f, &x)?.tensor("x")?.reshape(&[4, 6])?;
    let want = j.matmul(&v.tensor("x")?.reshape(&[6])?)?.reshape(&[2, 2])?;
    close(&jv, &want, 1e-12);
    // A tree-valued f and a tangent for every parameter at once.
    let g = |t: &Tree| -> Result<Tree> { Ok(tree! { y: mlp(t, x.tensor("x")?)?, s: t.tensor("w1")?.sum_all()? }) };
    check_jvp(g, &p, tol())?;
    Ok(())
}

#[test]
fn a_constant_output_has_a_zero_tangent_and_integer_outputs_are_errors() -> Result<()> {
    let x = tree! { x: randn(1, &[3]) };
    let (_, jv) = jvp(|_| Tensor::ones(&[2], DType::F32), &x, &x)?;
    assert_eq!(jv.to_vec::<f32>()?, vec![0.0, 0.0]);
    let err = jvp(|t| t.tensor("x")?.argmax(0, false), &x, &x).unwrap_err();
    assert!(err.to_string().contains("got i64"), "{err}");
    Ok(())
}

#[test]
fn forward_over_forward_is_a_clear_error() {
    let x = tree! { x: randn(1, &[3]) };
    let inner = |t: &Tree| Ok(jvp(|u| u.tensor("x")?.square(), t, t)?.1);
    let err = jvp(inner, &x, &x).unwrap_err();
    assert!(matches!(err, LuxError::Unsupported(_)) && err.to_string().contains("forward-over-forward"), "{err}");
}

#[test]
fn a_finished_calls_tangents_are_ignored() -> Result<()> {
    let x = Tensor::from_vec(vec![1.0f64, 2.0], &[2])?;
    let leaked = {
        let call = DualCall::new();
        call.seed(&x, &x)?.square()? // keeps the finished call's tangent
    };
    let call = DualCall::new();
    let y = leaked.mul(&call.seed(&x, &x.ones_like())?)?; // x³ with only one factor seeded
    assert_eq!(call.tangent(&y)?.to_vec::<f64>()?, vec![1.0, 4.0]);
    Ok(())
}

/// Lux's automatic switch: the Hessian-vector product and the JVP of a
/// gradient are forward-over-reverse, and agree with reverse-over-reverse.
#[test]
fn hvp_and_jvp_of_a_gradient_are_forward_over_reverse() -> Result<()> {
    let x = tree! { x: randn(7, &[2, 3]) };
    let p = params();
    let loss = |t: &Tree| weighted_sum(&mlp(&p, t.tensor("x")?)?.square()?);
    let v = tree! { x: randn(8, &[2, 3]) };
    let hv = hvp(loss, &x, &v)?;
    // Reverse-over-reverse: ∇⟨∇f, v⟩.
    let rr = gradient(|t| gradient(loss, t)?.tensor("x")?.mul(v.tensor("x")?)?.sum_all(), &x)?;
    close(hv.tensor("x")?, rr.tensor("x")?, 1e-12);
    let (_, jg) = jvp(|t| gradient(loss, t), &x, &v)?;
    close(jg.tensor("x")?, rr.tensor("x")?, 1e-12);
    // And against finite differences of the gradient.
    check_jvp(|t| gradient(loss, t), &x, tol())?;
    // Through every op family's backward rule, with the tangent on the parameters.
    let pl = |q: &Tree| weighted_sum(&mlp(q, x.tensor("x")?)?.exp()?);
    check_jvp(|q| gradient(pl, q), &p, tol())?;
    Ok(())
}

/// Reverse-over-forward: the gradient of something computed with a `jvp`,
/// and Lux's `nested_vjp_jvp` losses `sum(J·v)` and `sum(Jᵀ·u)` w.r.t. the
/// parameters, against finite differences and the explicit Jacobian.
#[test]
fn gradients_of_jvp_and_vjp_losses() -> Result<()> {
    let x = randn(9, &[2, 3]);
    let v = randn(10, &[2, 3]);
    let u = randn(11, &[2, 2]);
    let jvp_loss = |p: &Tree| -> Result<Tensor> {
        let (_, jv) = jvp(|t| mlp(p, t.tensor("x")?), &tree! { x: x.clone() }, &tree! { x: v.clone() })?;
        jv.sum_all()
    };
    let jac_loss = |p: &Tree| -> Result<Tensor> {
        let j = jacobian(|t| mlp(p, t.tensor("x")?), &tree! { x: x.clone() })?.tensor("x")?.reshape(&[4, 6])?;
        j.matmul(&v.reshape(&[6])?)?.sum_all()
    };
    let p = params();
    close(&jvp_loss(&p)?, &jac_loss(&p)?, 1e-12);
    check_gradients(jvp_loss, &p, tol())?;
    let g1 = gradient(jvp_loss, &p)?;
    let g2 = gradient(jac_loss, &p)?;
    for ((path, a), (_, b)) in g1.tensors().into_iter().zip(g2.tensors()) {
        eprintln!("{path}");
        close(a, b, 1e-10);
    }
    let vjp_loss = |p: &Tree| -> Result<Tensor> {
        let (_, g) = vjp(|t| mlp(p, t.tensor("x")?), &tree! { x: x.clone() }, &u)?;
        g.tensor("x")?.sum_all()
    };
    check_gradients(vjp_loss, &p, tol())?;
    Ok(())
}

#[test]
fn batched_jacobian_matches_the_per_sample_jacobian() -> Result<()> {
    let p = params();
    let x = randn(12, &[3, 3]);
    let f = |x: &Tensor| mlp(&p, x);
    let jf = batched_jacobian(f, &AutoForward, &x)?;
    let jr = batched_jacobian(f, &AutoTape, &x)?;
    assert_eq!(jf.shape(), &[3, 2, 3]);
    for b in 0..3 {
        let xb = tree! { x: x.narrow(0, b, 1)? };
        let j = jacobian(|t| f(t.tensor("x")?), &xb)?.tensor("x")?.reshape(&[1, 2, 3])?;
        close(&jf.narrow(0, b, 1)?, &j, 1e-12);
        close(&jr.narrow(0, b, 1)?, &j, 1e-12);
    }
    // Feature axes of any rank are flattened.
    let g = |x: &Tensor| x.reshape(&[3, 6])?.sin()?.reshape(&[3, 3, 2]);
    let x3 = randn(13, &[3, 2, 3]);
    let j = batched_jacobian(g, &AutoForward, &x3)?;
    assert_eq!(j.shape(), &[3, 6, 6]);
    close(&j, &batched_jacobian(g, &AutoTape, &x3)?, 1e-14);
    // Contract violations are errors.
    let err = batched_jacobian(|x| x.sum_all(), &AutoForward, &x).unwrap_err();
    assert!(err.to_string().contains("[batch = 3, out…]"), "{err}");
    let err = batched_jacobian(f, &AutoFiniteDiff::default(), &x).unwrap_err();
    assert!(matches!(err, LuxError::Unsupported(_)), "{err}");
    assert!(batched_jacobian(f, &AutoForward, &Tensor::scalar(1.0f64)).is_err());
    Ok(())
}

/// `mlp` widened to 7 outputs per sample (`[batch, 3] → [batch, 7]`), so
/// `batched_jacobian` takes forward mode on it (3 inputs < 7 outputs) where
/// it takes reverse mode on `mlp` itself (2 outputs < 3 inputs).
fn wide_mlp(p: &Tree, x: &Tensor) -> Result<Tensor> {
    let y = mlp(p, x)?;
    Tensor::concat(&[y.clone(), y.square()?, x.tanh()?], 1)
}

/// Lux's `nested_batched_jacobian` and input-gradient penalties: the
/// gradient w.r.t. the parameters of `sum(batched_jacobian(…))` and of
/// `‖∇ₓ f‖²`, in every mode, against finite differences.
#[test]
fn gradients_through_batched_jacobians_and_input_gradients() -> Result<()> {
    let x = randn(14, &[2, 3]);
    // `mlp` is differentiated by reverse mode inside, `wide_mlp` by forward
    // mode inside, whichever backend probes first.
    for f in [mlp as fn(&Tree, &Tensor) -> Result<Tensor>, wide_mlp] {
        for backend in [&AutoForward as &dyn AdBackend, &AutoTape] {
            let loss = |p: &Tree| batched_jacobian(|x| f(p, x), backend, &x)?.square()?.sum_all();
            check_gradients(loss, &params(), tol())?;
        }
    }
    let penalty = |p: &Tree| -> Result<Tensor> {
        let g = gradient(|t| mlp(p, t.tensor("x")?)?.sum_all(), &tree! { x: x.clone() })?;
        g.tensor("x")?.square()?.sum_all()
    };
    check_gradients(penalty, &params(), tol())?;
    // The same penalty with the input gradient taken by chunked forward
    // mode (6 input elements, 3 passes of 2 directions) inside reverse mode.
    let fwd = |p: &Tree| -> Result<Tensor> {
        let inner = |t: &Tree| mlp(p, t.tensor("x")?)?.sum_all();
        let (_, g) = AutoForward::chunked(2)?.value_and_gradient(&inner, &tree! { x: x.clone() })?;
        g.tensor("x")?.square()?.sum_all()
    };
    close(&fwd(&params())?, &penalty(&params())?, 1e-12);
    check_gradients(fwd, &params(), tol())?;
    Ok(())
}

/// Forward mode reaches through a gradient call's saved values: the
/// tangent of a first-order gradient taken inside a `DualCall` by hand.
#[test]
fn a_dual_value_through_a_grad_call() -> Result<()> {
    let dual = DualCall::new();
    let x = dual.seed(&Tensor::from_vec(vec![0.5f64, -1.0], &[2])?, &Tensor::from_vec(vec![1.0f64, 0.0], &[2])?)?;
    let mut call = GradCall::new();
    let xt = call.track(&x)?;
    let y = xt.exp()?.mul(&xt)?.sum_all()?; // Σ x eˣ: ∇ = (1 + x)eˣ, H = diag((2 + x)eˣ)
    let g = call.backward(&y, None)?.remove(0);
    let hv = dual.tangent(&g)?.to_vec::<f64>()?;
    assert!((hv[0] - 2.5 * 0.5f64.exp()).abs() < 1e-14 && hv[1] == 0.0, "{hv:?}");
    Ok(())
}

/// A `k`-direction call gives each direction exactly (bit for bit) the
/// tangent a one-direction call gives it, with no cross terms between
/// directions, through plain ops and through a gradient call
/// (forward-over-reverse); and misuse is an error.
#[test]
fn a_multi_direction_call_keeps_its_directions_apart() -> Result<()> {
    let (a, b) = (randn(20, &[2, 3]), randn(21, &[3]));
    let vs = [randn(22, &[2, 3]), randn(23, &[2, 3]), randn(24, &[3])];
    // f(a, b) = sin(a ⊙ b) · a, summed over axis 1: a is seeded in
    // directions 0 and 1, b in direction 2.
    let f = |a: &Tensor, b: &Tensor| a.mul(b)?.sin()?.mul(a)?.sum(&[1], false);
    let call = DualCall::with_directions(3)?;
    let ad = call.seed_direction(&call.seed_direction(&a, 0, &vs[0])?, 1, &vs[1])?;
    let y = f(&ad, &call.seed_direction(&b, 2, &vs[2])?)?;
    for (d, v) in vs.iter().enumerate() {
        let one = DualCall::new();
        let alone =
            if d < 2 { one.tangent(&f(&one.seed(&a, v)?, &b)?)? } else { one.tangent(&f(&a, &one.seed(&b, v)?)?)? };
        assert_eq!(call.tangent_direction(&y, d)?.to_vec::<f64>()?, alone.to_vec::<f64>()?, "direction {d}");
    }
    assert_eq!(call.release(&y).to_vec::<f64>()?, f(&a, &b)?.to_vec::<f64>()?);
    assert!(!call.release(&y).is_tracked());
    // x² with x seeded in two directions: each tangent is 2x·v_d, with no
    // v_0·v_1 term.
    let x = Tensor::from_vec(vec![1.5f64, -2.0], &[2])?;
    let (v0, v1) = (Tensor::from_vec(vec![1.0f64, 3.0], &[2])?, Tensor::from_vec(vec![-2.0f64, 0.5], &[2])?);
    let call = DualCall::with_directions(2)?;
    let xd = call.seed_direction(&call.seed_direction(&x, 0, &v0)?, 1, &v1)?;
    let sq = xd.mul(&xd)?;
    assert_eq!(call.tangent_direction(&sq, 0)?.to_vec::<f64>()?, vec![3.0 * 1.0, -4.0 * 3.0]);
    assert_eq!(call.tangent_direction(&sq, 1)?.to_vec::<f64>()?, vec![3.0 * -2.0, -4.0 * 0.5]);
    // Forward-over-reverse in two directions at once: the gradient of
    // Σ x eˣ carries H·v_d = (2 + x)eˣ ⊙ v_d in each.
    let mut grad = GradCall::new();
    let xt = grad.track(&xd)?;
    let g = grad.backward(&xt.exp()?.mul(&xt)?.sum_all()?, None)?.remove(0);
    for (d, v) in [&v0, &v1].into_iter().enumerate() {
        let want: Vec<f64> = x.to_f64_vec().iter().zip(v.to_f64_vec()).map(|(x, v)| (2.0 + x) * x.exp() * v).collect();
        close(&call.tangent_direction(&g, d)?, &Tensor::from_vec(want, &[2])?, 1e-14);
    }
    // Misuse.
    assert!(DualCall::with_directions(0).is_err());
    let err = call.seed_direction(&x, 2, &v0).unwrap_err();
    assert!(err.to_string().contains("direction 2 does not exist: the call has 2"), "{err}");
    assert!(call.tangent_direction(&sq, 5).is_err());
    let other = DualCall::new();
    let err = other.seed(&xd, &v0).unwrap_err();
    assert!(err.to_string().contains("forward-over-forward"), "{err}");
    Ok(())
}

/// The `AutoForward` gradient is the same for every chunk size, bit for bit
/// (each direction's tangent is computed by the same operations), and
/// equals `AutoTape`'s; chunks span leaves, non-float leaves get zeros, and
/// the value and `aux` equal a plain evaluation.
#[test]
fn chunked_autoforward_is_exact_for_every_chunk_size() -> Result<()> {
    let x = randn(30, &[2, 3]);
    let all = tree! { ps: params(), steps: Tensor::from_vec(vec![3i64], &[1])? };
    let loss = |t: &Tree| weighted_sum(&mlp(t.get("ps")?, &x)?.exp()?);
    let objective = |t: &Tree| -> Result<(Tensor, Tree)> {
        let y = mlp(t.get("ps")?, &x)?;
        Ok((weighted_sum(&y.exp()?)?, tree! { y: y }))
    };
    let (v1, g1) = AutoForward::chunked(1)?.value_and_gradient(&loss, &all)?;
    let (vt, gt) = AutoTape.value_and_gradient(&loss, &all)?;
    assert_eq!(v1.to_scalar::<f64>()?, loss(&all)?.to_scalar::<f64>()?);
    close(&v1, &vt, 1e-15);
    for ((path, a), (_, b)) in g1.tensors().into_iter().zip(gt.tensors()) {
        if a.dtype().is_float() {
            close(a, b, 1e-12);
        } else {
            assert_eq!((path.as_str(), a.to_vec::<i64>()?), ("steps", vec![0]));
        }
    }
    // 26 float elements: chunks of 3 cross every leaf boundary; 26 and 100
    // are one pass; the default is AutoForward itself.
    let backends: [(usize, &dyn AdBackend); 5] = [
        (3, &AutoForward::chunked(3)?),
        (5, &AutoForward::chunked(5)?),
        (26, &AutoForward::chunked(26)?),
        (100, &AutoForward::chunked(100)?),
        (AutoForward::DEFAULT_CHUNK, &AutoForward),
    ];
    let ((va, aux), _) = AutoTape.value_and_gradient_aux(&objective, &all)?;
    for (k, backend) in backends {
        let (v, g) = backend.value_and_gradient(&loss, &all)?;
        assert_eq!((v.to_scalar::<f64>()?, &g), (v1.to_scalar::<f64>()?, &g1), "chunk {k}");
        let ((v, aux_k), g) = backend.value_and_gradient_aux(&objective, &all)?;
        assert_eq!((v.to_scalar::<f64>()?, &g), (va.to_scalar::<f64>()?, &g1), "chunk {k} with aux");
        assert_eq!(aux_k, aux, "chunk {k}");
        assert!(!aux_k.tensor("y")?.is_tracked() && !v.is_tracked());
    }
    assert!(AutoForward::chunked(0).unwrap_err().to_string().contains("at least 1"));
    // No float parameter at all: zeros and the plain value.
    let ints = tree! { n: Tensor::from_vec(vec![2i64], &[1])? };
    let (v, g) = AutoForward.value_and_gradient(&|_| Tensor::scalar(1.5f64).mul_scalar(2.0), &ints)?;
    assert_eq!((v.to_scalar::<f64>()?, g.tensor("n")?.to_vec::<i64>()?), (3.0, vec![0]));
    Ok(())
}

/// An identity op that counts its backward passes and its tangent
/// directions: how `batched_jacobian`'s work is observed from outside.
#[derive(Debug, Default)]
struct Counted {
    backward: std::sync::atomic::AtomicUsize,
    tangent: std::sync::atomic::AtomicUsize,
}
impl CustomOp for Counted {
    fn name(&self) -> &str {
        "counted"
    }
    fn backward(&self, g: &Tensor, _: &[Tensor], _: &Tensor, _: &[bool]) -> Result<Vec<Option<Tensor>>> {
        self.backward.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(vec![Some(g.clone())])
    }
    fn tangent(&self, _: &[Tensor], y: &Tensor, t: &[Option<Tensor>]) -> Result<Tensor> {
        self.tangent.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(t[0].clone().unwrap_or_else(|| y.zeros_like()))
    }
}

/// `batched_jacobian` does `min(Π in, Π out)` directions' work: forward
/// mode (chunked) when the inputs are fewer, reverse mode when the outputs
/// are, the backend's mode on a tie; a backend whose mode loses costs one
/// extra evaluation of `f`. Counted with a `Cell` in `f` and a counting op
/// on its output; every result equals the analytic per-sample Jacobian
/// `diag(1 − tanh²(x_b A)) Aᵀ`.
#[test]
fn batched_jacobian_picks_the_smaller_of_in_and_out() -> Result<()> {
    let c = AutoForward::DEFAULT_CHUNK;
    let batch = 3;
    // (Π in, Π out): wide in / narrow out, narrow in / wide out across two
    // chunks, and a tie.
    for (n_in, m) in [(2 * c + 3, 2), (c + 2, 2 * c + 5), (4, 4)] {
        let a = randn(40 + n_in as u64, &[n_in, m]).mul_scalar(0.5)?;
        let x = randn(50 + m as u64, &[batch, n_in]);
        let calls = std::cell::Cell::new(0);
        let op = Arc::new(Counted::default());
        let f = |x: &Tensor| -> Result<Tensor> {
            calls.set(calls.get() + 1);
            let y = x.matmul(&a)?.tanh()?;
            Tensor::from_custom_op(y.detach(), op.clone(), &[&y])
        };
        let h = x.matmul(&a)?.tanh()?.to_f64_vec();
        let av = a.to_f64_vec();
        let mut want = Vec::with_capacity(batch * m * n_in);
        for b in 0..batch {
            for o in 0..m {
                for i in 0..n_in {
                    want.push((1.0 - h[b * m + o].powi(2)) * av[i * m + o]);
                }
            }
        }
        let want = Tensor::from_vec(want, &[batch, m, n_in])?;
        for (forward_backend, backend) in [(true, &AutoForward as &dyn AdBackend), (false, &AutoTape)] {
            calls.set(0);
            op.backward.store(0, std::sync::atomic::Ordering::Relaxed);
            op.tangent.store(0, std::sync::atomic::Ordering::Relaxed);
            close(&batched_jacobian(f, backend, &x)?, &want, 1e-13);
            let forward_wins = n_in < m || (n_in == m && forward_backend);
            // (evaluations of f, tangent directions pushed, backward passes)
            let expected = match (forward_wins, forward_backend) {
                (true, true) => (n_in.div_ceil(c), n_in, 0),
                // The reverse probe is spent, then the forward passes.
                (true, false) => (1 + n_in.div_ceil(c), n_in, 0),
                // The first forward chunk is spent, then one recorded evaluation.
                (false, true) => (2, c.min(n_in), m),
                (false, false) => (1, 0, m),
            };
            let got = (
                calls.get(),
                op.tangent.load(std::sync::atomic::Ordering::Relaxed),
                op.backward.load(std::sync::atomic::Ordering::Relaxed),
            );
            assert_eq!(got, expected, "in {n_in}, out {m}, {}", backend.name());
        }
    }
    Ok(())
}
