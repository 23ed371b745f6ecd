//! The drivers (`gradient`, `vjp`, `jvp`, `jacobian`) and the backends.

use crate::{randn, weighted_sum};
use lux_ad::{
    AdBackend, AutoCompiledTape, AutoFiniteDiff, AutoForward, AutoTape, Tolerances, check_gradients_with, gradient,
    jacobian, jvp, value_and_gradient, vjp,
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
    for backend in [&AutoCompiledTape as &dyn AdBackend, &AutoForward] {
        let err = backend.value_and_gradient(&obj, &ps).unwrap_err();
        assert!(matches!(err, LuxError::Unsupported(_)), "{}: {err}", backend.name());
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
