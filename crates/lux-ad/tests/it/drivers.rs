//! The drivers (`gradient`, `vjp`, `jvp`, `jacobian`) and the backends.

use crate::{randn, weighted_sum};
use lux_ad::{
    AdBackend, AutoCompiledTape, AutoFiniteDiff, AutoForward, AutoTape, Tolerances, check_gradients_with, gradient,
    gradient_aux, hvp, jacobian, jvp, value_and_gradient, value_and_gradient_aux, vjp,
};
use lux_core::{DType, LuxError, Result, Tensor, Tree, tree};

fn f(t: &Tree) -> Result<Tensor> {
    // a small non-linear map R^{2x3} × R^3 → R^{2x2}
    let x = t.tensor("x")?;
    let w = t.tensor("w")?;
    x.mul(w)?.tanh()?.matmul(&x.transpose(0, 1)?)
}

fn inputs() -> Tree {
    tree! { x: randn(1, &[2, 3]), w: randn(2, &[3]) }
}

#[test]
fn gradient_has_the_structure_of_the_input_with_zeros_for_unused_leaves() -> Result<()> {
    let ps = tree! { used: randn(1, &[3]), unused: randn(2, &[2, 2]), labels: Tensor::from_vec(vec![1i64, 2], &[2])? };
    let g = gradient(|t| t.tensor("used")?.square()?.sum_all(), &ps)?;
    assert!(g.same_structure(&ps));
    let used = ps.tensor("used")?.to_vec::<f64>()?;
    assert_eq!(g.tensor("used")?.to_vec::<f64>()?, used.iter().map(|v| 2.0 * v).collect::<Vec<_>>());
    assert_eq!(g.tensor("unused")?.to_vec::<f64>()?, vec![0.0; 4]);
    assert_eq!(g.tensor("labels")?.dtype(), DType::I64);
    Ok(())
}

#[test]
fn results_are_not_tracked_and_inputs_untouched() -> Result<()> {
    let ps = inputs();
    let (v, g) = value_and_gradient(|t| weighted_sum(&f(t)?), &ps)?;
    assert!(!v.is_tracked());
    assert!(g.tensors().iter().all(|(_, t)| !t.is_tracked()));
    assert!(ps.tensors().iter().all(|(_, t)| !t.is_tracked()));
    Ok(())
}

#[test]
fn non_scalar_output_is_an_error() {
    let err = gradient(f, &inputs()).unwrap_err();
    assert!(err.to_string().contains("single value"), "{err}");
}

#[test]
fn vjp_matches_jacobian_transpose_times_cotangent() -> Result<()> {
    let ps = inputs();
    let u = randn(5, &[2, 2]);
    let (y, g) = vjp(f, &ps, &u)?;
    assert_eq!(y.shape(), &[2, 2]);
    let j = jacobian(f, &ps)?;
    for (name, n) in [("x", 6usize), ("w", 3)] {
        // (Jᵀu)_i = Σ_o J[o, i] u[o]
        let jm = j.tensor(name)?.reshape(&[4, n])?;
        let want = u.reshape(&[1, 4])?.matmul(&jm)?.to_vec::<f64>()?;
        let got = g.tensor(name)?.to_vec::<f64>()?;
        for (a, b) in got.iter().zip(&want) {
            assert!((a - b).abs() < 1e-12, "{name}: {a} vs {b}");
        }
    }
    assert!(vjp(f, &ps, &randn(5, &[3])).is_err());
    Ok(())
}

#[test]
fn jvp_matches_jacobian_times_tangent() -> Result<()> {
    let ps = inputs();
    let v = tree! { x: randn(7, &[2, 3]), w: randn(8, &[3]) };
    let (y, jv) = jvp(f, &ps, &v)?;
    assert_eq!(y.to_vec::<f64>()?, f(&ps)?.to_vec::<f64>()?);
    let j = jacobian(f, &ps)?;
    let want = j
        .tensor("x")?
        .reshape(&[4, 6])?
        .matmul(&v.tensor("x")?.reshape(&[6, 1])?)?
        .add(&j.tensor("w")?.reshape(&[4, 3])?.matmul(&v.tensor("w")?.reshape(&[3, 1])?)?)?;
    for (a, b) in jv.to_vec::<f64>()?.iter().zip(want.to_vec::<f64>()?) {
        assert!((a - b).abs() < 1e-12, "{a} vs {b}");
    }
    let bad = tree! { x: randn(7, &[3, 2]), w: randn(8, &[3]) };
    assert!(jvp(f, &ps, &bad).is_err());
    Ok(())
}

#[test]
fn jacobian_matches_finite_differences() -> Result<()> {
    let ps = inputs();
    let j = jacobian(f, &ps)?;
    assert_eq!(j.tensor("x")?.shape(), &[2, 2, 2, 3]);
    assert_eq!(j.tensor("w")?.shape(), &[2, 2, 3]);
    // column-by-column central differences
    let h = 1e-6;
    let x = ps.tensor("x")?.to_vec::<f64>()?;
    let jx = j.tensor("x")?.reshape(&[4, 6])?.to_vec::<f64>()?;
    for i in 0..6 {
        let bump = |d: f64| -> Result<Vec<f64>> {
            let mut xv = x.clone();
            xv[i] += d;
            f(&ps.clone().with("x", Tensor::from_vec(xv, &[2, 3])?)?)?.to_vec::<f64>()
        };
        let (up, down) = (bump(h)?, bump(-h)?);
        for o in 0..4 {
            let num = (up[o] - down[o]) / (2.0 * h);
            assert!((jx[o * 6 + i] - num).abs() < 1e-7, "J[{o},{i}] {} vs {num}", jx[o * 6 + i]);
        }
    }
    Ok(())
}

#[test]
fn backends() -> Result<()> {
    let ps = inputs();
    let obj = |t: &Tree| weighted_sum(&f(t)?);
    let (v1, g1) = AutoTape.value_and_gradient(&obj, &ps)?;
    let (v2, g2) = AutoFiniteDiff::default().value_and_gradient(&obj, &ps)?;
    assert!((v1.to_scalar::<f64>()? - v2.to_scalar::<f64>()?).abs() < 1e-15);
    for ((p, a), (_, b)) in g1.tensors().into_iter().zip(g2.tensors()) {
        for (x, y) in a.to_vec::<f64>()?.iter().zip(b.to_vec::<f64>()?) {
            assert!((x - y).abs() < 1e-8, "{p}: {x} vs {y}");
        }
    }
    // The compiled tape: the same rules in the same order as AutoTape, so the same bits,
    // on the recording call and on the replay.
    let compiled = AutoCompiledTape::new();
    for _ in 0..2 {
        let (v4, g4) = compiled.value_and_gradient(&obj, &ps)?;
        assert_eq!(v4.to_scalar::<f64>()?.to_bits(), v1.to_scalar::<f64>()?.to_bits());
        for ((p, a), (_, b)) in g4.tensors().into_iter().zip(g1.tensors()) {
            let bits = |t: &Tensor| t.to_vec::<f64>().map(|v| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>());
            assert_eq!(bits(a)?, bits(b)?, "{p}");
        }
    }
    assert_eq!((compiled.recordings(), compiled.replays()), (1, 1));
    // Forward mode, one tangent direction per parameter element, agrees with finite differences.
    let (v3, g3) = AutoForward.value_and_gradient(&obj, &ps)?;
    assert_eq!(v3.to_scalar::<f64>()?, v1.to_scalar::<f64>()?);
    for ((p, a), (_, b)) in g3.tensors().into_iter().zip(g2.tensors()) {
        for (x, y) in a.to_vec::<f64>()?.iter().zip(b.to_vec::<f64>()?) {
            assert!((x - y).abs() < 1e-8, "{p}: {x} vs {y}");
        }
    }
    assert!(AutoFiniteDiff { step: Some(-1.0) }.value_and_gradient(&obj, &ps).is_err());
    Ok(())
}

/// A deliberately wrong backend: the checker must catch it and name the leaf.
struct Doubled;
impl AdBackend for Doubled {
    fn name(&self) -> &'static str {
        "Doubled"
    }
    fn value_and_gradient(&self, f: &dyn Fn(&Tree) -> Result<Tensor>, x: &Tree) -> Result<(Tensor, Tree)> {
        let (v, g) = AutoTape.value_and_gradient(f, x)?;
        Ok((v, g.try_map(|path, t| if path.ends_with('w') { t.mul_scalar(2.0) } else { Ok(t.clone()) })?))
    }
}

#[test]
fn check_gradients_reports_the_worst_leaf() {
    let ps = inputs();
    let obj = |t: &Tree| weighted_sum(&f(t)?);
    let ok = check_gradients_with(&AutoTape, obj, &ps, Tolerances::default()).unwrap();
    assert_eq!(ok.checked, 9);
    assert!(ok.rel_error < 1e-7, "{ok:?}");
    match check_gradients_with(&Doubled, obj, &ps, Tolerances::default()) {
        Err(LuxError::GradientMismatch { path, analytic, numeric, .. }) => {
            assert!(path.ends_with('w'), "{path}");
            assert!((analytic - 2.0 * numeric).abs() < 1e-6 * numeric.abs().max(1.0));
        }
        other => panic!("expected a mismatch, got {other:?}"),
    }
}

#[test]
fn concurrent_gradients_do_not_interfere() -> Result<()> {
    let handles: Vec<_> = (0..4)
        .map(|k| {
            std::thread::spawn(move || -> Result<Vec<f64>> {
                let ps = tree! { x: Tensor::full(&[8], k as f64 + 1.0, DType::F64)? };
                let mut last = Vec::new();
                for _ in 0..200 {
                    last = gradient(|t| t.tensor("x")?.powf(3.0)?.sum_all(), &ps)?.tensor("x")?.to_vec::<f64>()?;
                }
                Ok(last)
            })
        })
        .collect();
    for (k, h) in handles.into_iter().enumerate() {
        let g = h.join().expect("thread")?;
        let x = k as f64 + 1.0;
        assert_eq!(g, vec![3.0 * x * x; 8]);
    }
    Ok(())
}

// ----- auxiliary outputs -------------------------------------------------------------

#[test]
fn value_and_gradient_aux_releases_state_and_stats() -> Result<()> {
    let ps = inputs();
    let st = tree! { count: 4i64, running: Tensor::zeros(&[3], DType::F64)? };
    let ((loss, (new_st, stats)), g) = value_and_gradient_aux(
        |p| {
            let y = f(p)?;
            let loss = weighted_sum(&y)?;
            // A new state that depends on the tracked parameters, and stats.
            let running = st.tensor("running")?.add(&p.tensor("w")?.mul_scalar(0.1)?)?;
            let new_st = tree! { count: st.get("count")?.as_int()? + 1, running: running };
            Ok((loss, (new_st, tree! { y: y, note: true })))
        },
        &ps,
    )?;
    // The loss and gradient are those of the plain driver.
    let (loss_plain, g_plain) = value_and_gradient(|p| weighted_sum(&f(p)?), &ps)?;
    assert_eq!(loss.to_vec::<f64>()?, loss_plain.to_vec::<f64>()?);
    assert_eq!(g, g_plain);
    // The aux values are computed, and untracked.
    assert_eq!(new_st.get("count")?.as_int()?, 5);
    let w = ps.tensor("w")?.to_vec::<f64>()?;
    let running = new_st.tensor("running")?.to_vec::<f64>()?;
    for (r, w) in running.iter().zip(&w) {
        assert!((r - 0.1 * w).abs() < 1e-15, "{r} vs {}", 0.1 * w);
    }
    assert_eq!(stats.tensor("y")?.to_vec::<f64>()?, f(&ps)?.to_vec::<f64>()?);
    assert!(stats.get("note")?.as_bool()?);
    assert!(!loss.is_tracked());
    assert!(new_st.tensors().iter().chain(stats.tensors().iter()).all(|(_, t)| !t.is_tracked()));
    Ok(())
}

#[test]
fn gradient_aux_with_plain_and_vector_aux() -> Result<()> {
    let ps = tree! { x: Tensor::from_vec(vec![1.0f64, -2.0, 3.0], &[3])? };
    // f = Σ x³, aux = (number of elements, the per-element cubes)
    let (g, (n, cubes)) = gradient_aux(
        |p| {
            let c = p.tensor("x")?.powf(3.0)?;
            Ok((c.sum_all()?, (c.len(), vec![c.clone(), c.mul_scalar(2.0)?])))
        },
        &ps,
    )?;
    assert_eq!(g.tensor("x")?.to_vec::<f64>()?, vec![3.0, 12.0, 27.0]);
    assert_eq!(n, 3);
    assert_eq!(cubes[0].to_vec::<f64>()?, vec![1.0, -8.0, 27.0]);
    assert_eq!(cubes[1].to_vec::<f64>()?, vec![2.0, -16.0, 54.0]);
    assert!(cubes.iter().all(|c| !c.is_tracked()));
    Ok(())
}

// ----- tree-valued vjp / jvp ---------------------------------------------------------

/// f: {x, w} ↦ {a: f(x, w) (2×2), s: Σ w², n: 7 (carried along)}
fn f_tree(t: &Tree) -> Result<Tree> {
    Ok(tree! { a: f(t)?, s: t.tensor("w")?.square()?.sum_all()?, n: 7i64 })
}

#[test]
fn tree_vjp_is_the_sum_of_the_leaf_vjps() -> Result<()> {
    let ps = inputs();
    let u = tree! { a: randn(11, &[2, 2]), s: Tensor::scalar(0.7f64), n: 0i64 };
    let (y, g) = vjp(f_tree, &ps, &u)?;
    assert_eq!(y.tensor("a")?.to_vec::<f64>()?, f(&ps)?.to_vec::<f64>()?);
    assert_eq!(y.get("n")?.as_int()?, 7);
    // Jᵀu = J_aᵀ u_a + J_sᵀ u_s, with J_s = 2w (for w) and 0 (for x).
    let (_, ga) = vjp(f, &ps, u.tensor("a")?)?;
    let w = ps.tensor("w")?.to_vec::<f64>()?;
    let gw = g.tensor("w")?.to_vec::<f64>()?;
    for ((got, a), w) in gw.iter().zip(ga.tensor("w")?.to_vec::<f64>()?).zip(&w) {
        let want = a + 0.7 * 2.0 * w;
        assert!((got - want).abs() < 1e-12, "{got} vs {want}");
    }
    assert_eq!(g.tensor("x")?.to_vec::<f64>()?, ga.tensor("x")?.to_vec::<f64>()?);
    Ok(())
}

#[test]
fn tree_jvp_matches_the_jacobians_of_each_leaf() -> Result<()> {
    let ps = inputs();
    let v = tree! { x: randn(7, &[2, 3]), w: randn(8, &[3]) };
    let (y, jv) = jvp(f_tree, &ps, &v)?;
    assert_eq!(y.get("n")?.as_int()?, 7);
    assert!(jv.same_structure(&y));
    // Leaf a: the tensor jvp; leaf s = Σ w²: J·v = 2 w·v_w.
    let (_, jv_a) = jvp(f, &ps, &v)?;
    for (a, b) in jv.tensor("a")?.to_vec::<f64>()?.iter().zip(jv_a.to_vec::<f64>()?) {
        assert!((a - b).abs() < 1e-12, "{a} vs {b}");
    }
    let w = ps.tensor("w")?.to_vec::<f64>()?;
    let vw = v.tensor("w")?.to_vec::<f64>()?;
    let want: f64 = w.iter().zip(&vw).map(|(w, v)| 2.0 * w * v).sum();
    assert!((jv.tensor("s")?.to_scalar::<f64>()? - want).abs() < 1e-12);
    Ok(())
}

#[test]
fn tangent_and_cotangent_mismatches_name_the_path() -> Result<()> {
    let ps = inputs();
    // jvp: wrong shape at w, missing key, wrong kind.
    let bad_shape = tree! { x: randn(7, &[2, 3]), w: randn(8, &[4]) };
    assert_eq!(jvp(f, &ps, &bad_shape).unwrap_err().to_string(), "jvp: tangent at w has shape [4], the input has [3]");
    let missing = tree! { x: randn(7, &[2, 3]) };
    let err = jvp(f, &ps, &missing).unwrap_err();
    assert!(matches!(&err, LuxError::Structure { path, .. } if path == "<root>"), "{err}");
    assert!(err.to_string().contains("jvp: the tangent differs from the input: keys differ: [x, w] vs [x]"), "{err}");
    // vjp with a tree output: wrong shape at a, wrong structure.
    let u = tree! { a: randn(11, &[2, 3]), s: Tensor::scalar(1.0f64), n: 0i64 };
    assert_eq!(
        vjp(f_tree, &ps, &u).unwrap_err().to_string(),
        "vjp: cotangent at a has shape [2, 3], the output has [2, 2]"
    );
    let u = tree! { a: randn(11, &[2, 2]), s: Tensor::scalar(1.0f64), n: true };
    let err = vjp(f_tree, &ps, &u).unwrap_err();
    assert!(matches!(&err, LuxError::Structure { path, .. } if path == "n"), "{err}");
    // hvp: a direction of the wrong shape.
    let err = hvp(|t| weighted_sum(&f(t)?), &ps, &bad_shape).unwrap_err();
    assert_eq!(err.to_string(), "hvp: v at w has shape [4], the input has [3]");
    Ok(())
}

// ----- non-float outputs -------------------------------------------------------------

#[test]
fn the_gradient_of_a_non_float_output_is_an_error_in_every_driver() -> Result<()> {
    let ps = inputs();
    let argmax = |t: &Tree| t.tensor("w")?.argmax(0, false);
    let is_int_err = |r: Result<()>, op: &str| match r {
        Err(LuxError::DType { op: o, got: DType::I64, .. }) => assert_eq!(o, op),
        other => panic!("{op}: expected a dtype error, got {other:?}"),
    };
    is_int_err(gradient(argmax, &ps).map(drop), "gradient");
    is_int_err(value_and_gradient(argmax, &ps).map(drop), "value_and_gradient");
    is_int_err(value_and_gradient_aux(|t| Ok((argmax(t)?, ())), &ps).map(drop), "value_and_gradient_aux");
    is_int_err(gradient_aux(|t| Ok((argmax(t)?, ())), &ps).map(drop), "gradient_aux");
    is_int_err(vjp(argmax, &ps, &Tensor::scalar(1i64)).map(drop), "vjp");
    is_int_err(jvp(argmax, &ps, &ps).map(drop), "jvp");
    is_int_err(jacobian(argmax, &ps).map(drop), "jacobian");
    is_int_err(hvp(argmax, &ps, &ps).map(drop), "hvp");
    is_int_err(AutoFiniteDiff::default().value_and_gradient(&argmax, &ps).map(drop), "AutoFiniteDiff");
    // A comparison (bool) too, and a tree output names the leaf.
    let err = gradient(|t| t.tensor("w")?.sum_all()?.greater(&Tensor::scalar(0.0f64)), &ps).unwrap_err();
    assert!(matches!(err, LuxError::DType { got: DType::Bool, .. }), "{err}");
    let two = |t: &Tree| -> Result<Tree> { Ok(tree! { y: f(t)?, idx: argmax(t)? }) };
    let err = jvp(two, &ps, &ps).unwrap_err();
    assert_eq!(
        err.to_string(),
        "jvp at idx: expected dtype a float output (only float outputs can be differentiated), got i64"
    );
    // A float output that does not depend on the input: zeros, not an error.
    let g = gradient(|_| Ok(Tensor::scalar(2.5f64)), &ps)?;
    assert!(g.tensors().iter().all(|(_, t)| t.to_f64_vec().iter().all(|&v| v == 0.0)));
    let (_, jv) = jvp(|_| Ok(Tensor::scalar(2.5f64)), &ps, &ps)?;
    assert_eq!(jv.to_vec::<f64>()?, vec![0.0]);
    Ok(())
}

#[test]
fn an_output_leaf_given_twice_gets_the_sum_of_its_cotangents() -> Result<()> {
    // {a: y, b: y} with cotangents u, w: the vjp is Jᵀ(u + w), one pass.
    let ps = inputs();
    let twice = |t: &Tree| -> Result<Tree> {
        let y = f(t)?;
        Ok(tree! { a: y.clone(), b: y })
    };
    let (u, w) = (randn(12, &[2, 2]), randn(13, &[2, 2]));
    let (_, g) = vjp(twice, &ps, &tree! { a: u.clone(), b: w.clone() })?;
    let (_, want) = vjp(f, &ps, &u.add(&w)?)?;
    for ((p, a), (_, b)) in g.tensors().into_iter().zip(want.tensors()) {
        for (x, y) in a.to_vec::<f64>()?.iter().zip(b.to_vec::<f64>()?) {
            assert!((x - y).abs() < 1e-12, "{p}: {x} vs {y}");
        }
    }
    Ok(())
}
