//! Nested AD: gradients of functions that themselves take gradients.

use crate::randn;
use lux_ad::{Tolerances, check_gradients, gradient, hvp, value_and_gradient, value_and_gradient_aux};
use lux_core::{Result, Tensor, Tree, tree};

#[test]
fn hessian_vector_product_of_sum_of_cubes() -> Result<()> {
    // f(x) = Σ x³, ∇f = 3x², H = diag(6x), Hv = 6 x ⊙ v
    let x = randn(1, &[5]);
    let v = randn(2, &[5]);
    let hv_of = |t: &Tree| -> Result<Tensor> {
        let g = gradient(|u| u.tensor("x")?.powf(3.0)?.sum_all(), t)?;
        g.tensor("x")?.mul(&v)?.sum_all()
    };
    let ps = tree! { x: x.clone() };
    let hv = gradient(hv_of, &ps)?;
    let want: Vec<f64> = x.to_vec::<f64>()?.iter().zip(v.to_vec::<f64>()?).map(|(a, b)| 6.0 * a * b).collect();
    for (a, b) in hv.tensor("x")?.to_vec::<f64>()?.iter().zip(&want) {
        assert!((a - b).abs() < 1e-12, "{a} vs {b}");
    }
    check_gradients(hv_of, &ps, Tolerances::default())?;
    Ok(())
}

#[test]
fn third_derivative() -> Result<()> {
    // d³/dx³ x⁴ = 24x
    let d = |k: usize, t: &Tree| -> Result<Tensor> {
        fn nth(k: usize, t: &Tree) -> Result<Tensor> {
            if k == 0 {
                return t.tensor("x")?.powf(4.0)?.sum_all();
            }
            gradient(|u| nth(k - 1, u), t)?.tensor("x")?.sum_all()
        }
        nth(k, t)
    };
    let ps = tree! { x: Tensor::from_vec(vec![0.5f64, -1.5, 2.0], &[3])? };
    let g = gradient(|t| d(2, t), &ps)?;
    assert_eq!(g.tensor("x")?.to_vec::<f64>()?, vec![12.0, -36.0, 48.0]);
    Ok(())
}

/// f(x; W1, b1, W2) = Σ tanh(x W1ᵀ + b1) W2ᵀ, an MLP-like scalar.
fn mlp(x: &Tensor, p: &Tree) -> Result<Tensor> {
    let h = x.matmul(&p.tensor("w1")?.transpose(0, 1)?)?.add(p.tensor("b1")?)?.tanh()?;
    h.matmul(&p.tensor("w2")?.transpose(0, 1)?)?.sum_all()
}

fn params() -> Tree {
    tree! { w1: randn(3, &[4, 3]), b1: randn(4, &[4]), w2: randn(5, &[2, 4]) }
}

#[test]
fn gradient_of_input_gradient_norm() -> Result<()> {
    // g(x) = ‖∇ₓ f(x)‖², differentiated w.r.t. x (and checked by finite differences)
    let p = params();
    let penalty = |t: &Tree| -> Result<Tensor> {
        let gx = gradient(|u| mlp(u.tensor("x")?, &p), t)?;
        gx.tensor("x")?.square()?.sum_all()
    };
    let ps = tree! { x: randn(6, &[2, 3]) };
    let report = check_gradients(penalty, &ps, Tolerances::default())?;
    assert!(report.checked == 6 && report.rel_error < 1e-6, "{report:?}");
    Ok(())
}

#[test]
fn gradient_penalty_with_respect_to_parameters_captured_by_the_inner_call() -> Result<()> {
    // The inner gradient is w.r.t. x only, while the closure captures the
    // parameters the outer call differentiates: no perturbation confusion.
    let x = randn(7, &[2, 3]);
    let penalty = |t: &Tree| -> Result<Tensor> {
        let gx = gradient(|u| mlp(u.tensor("x")?, t), &tree! { x: x.clone() })?;
        let value = mlp(&x, t)?;
        value.add(&gx.tensor("x")?.square()?.sum_all()?)
    };
    let report = check_gradients(penalty, &params(), Tolerances::default())?;
    assert_eq!(report.checked, 12 + 4 + 8);
    Ok(())
}

#[test]
fn value_and_gradient_inside_a_loss() -> Result<()> {
    // Lux's issue 743: the value and the gradient of the same model in one loss
    let p = params();
    let loss = |t: &Tree| -> Result<Tensor> {
        let (v, g) = value_and_gradient(|u| mlp(u.tensor("x")?, &p), t)?;
        v.mul(&g.tensor("x")?.sum_all()?)
    };
    check_gradients(loss, &tree! { x: randn(8, &[3, 3]) }, Tolerances::default())?;
    Ok(())
}

/// f(a, b) = Σᵢ (aᵢ³ + aᵢ² bᵢ) + (Σ a)(Σ b), with an integer leaf along.
fn cubic(t: &Tree) -> Result<Tensor> {
    let (a, b) = (t.tensor("a")?, t.tensor("b")?);
    let local = a.powf(3.0)?.add(&a.square()?.mul(b)?)?.sum_all()?;
    local.add(&a.sum_all()?.mul(&b.sum_all()?)?)
}

#[test]
fn hvp_matches_the_analytic_hessian_and_differences_of_the_gradient() -> Result<()> {
    let x = tree! { a: randn(1, &[3]), b: randn(2, &[3]), step: 4i64 };
    let v = tree! { a: randn(3, &[3]), b: randn(4, &[3]), step: 0i64 };
    let hv = hvp(cubic, &x, &v)?;
    assert!(hv.same_structure(&x));
    assert_eq!(hv.get("step")?, &Tree::Int(4), "a non-tensor leaf rides along");
    // ∂²f/∂aᵢ² = 6aᵢ + 2bᵢ, ∂²f/∂aᵢ∂bⱼ = 2aᵢ[i = j] + 1, ∂²f/∂b² = 0.
    let (a, b) = (x.tensor("a")?.to_vec::<f64>()?, x.tensor("b")?.to_vec::<f64>()?);
    let (va, vb) = (v.tensor("a")?.to_vec::<f64>()?, v.tensor("b")?.to_vec::<f64>()?);
    let (sva, svb): (f64, f64) = (va.iter().sum(), vb.iter().sum());
    let want_a: Vec<f64> = (0..3).map(|i| (6.0 * a[i] + 2.0 * b[i]) * va[i] + 2.0 * a[i] * vb[i] + svb).collect();
    let want_b: Vec<f64> = (0..3).map(|i| 2.0 * a[i] * va[i] + sva).collect();
    for (key, want) in [("a", want_a), ("b", want_b)] {
        for (got, want) in hv.tensor(key)?.to_vec::<f64>()?.iter().zip(&want) {
            assert!((got - want).abs() < 1e-12 * (1.0 + want.abs()), "{key}: {got} vs {want}");
        }
    }
    // Central differences of the gradient along v: (∇f(x + hv) − ∇f(x − hv)) / 2h.
    let h = 1e-5;
    let (up, down) = (gradient(cubic, &x.axpy(h, &v)?)?, gradient(cubic, &x.axpy(-h, &v)?)?);
    let fd = up.axpy(-1.0, &down)?.scale(0.5 / h)?;
    for key in ["a", "b"] {
        for (got, num) in hv.tensor(key)?.to_vec::<f64>()?.iter().zip(fd.tensor(key)?.to_vec::<f64>()?) {
            assert!((got - num).abs() < 1e-7 * (1.0 + num.abs()), "{key}: {got} vs {num}");
        }
    }
    Ok(())
}

#[test]
fn hvp_nests_and_is_differentiable() -> Result<()> {
    // g(x) = ⟨H(x) v, v⟩ for f = Σ x⁴: H = diag(12x²), g = Σ 12 x² v², ∇g = 24 x v².
    let v = randn(5, &[4]);
    let g = |t: &Tree| -> Result<Tensor> {
        let hv = hvp(|u| u.tensor("x")?.powf(4.0)?.sum_all(), t, &tree! { x: v.clone() })?;
        hv.tensor("x")?.mul(&v)?.sum_all()
    };
    let x = tree! { x: randn(6, &[4]) };
    let grad = gradient(g, &x)?;
    let (xs, vs) = (x.tensor("x")?.to_vec::<f64>()?, v.to_vec::<f64>()?);
    for ((got, x), v) in grad.tensor("x")?.to_vec::<f64>()?.iter().zip(&xs).zip(&vs) {
        let want = 24.0 * x * v * v;
        assert!((got - want).abs() < 1e-12 * (1.0 + want.abs()), "{got} vs {want}");
    }
    check_gradients(g, &x, Tolerances::default())?;
    Ok(())
}

#[test]
fn aux_of_an_inner_call_stays_tracked_for_the_outer_one() -> Result<()> {
    // The inner call differentiates w.r.t. x; its aux (Σ w1², a function of the
    // outer call's parameters) is released for the inner call only.
    let x = randn(9, &[2, 3]);
    let loss = |p: &Tree| -> Result<Tensor> {
        let ((v, aux), gx) = value_and_gradient_aux(
            |u| Ok((mlp(u.tensor("x")?, p)?, tree! { penalty: p.tensor("w1")?.square()?.sum_all()? })),
            &tree! { x: x.clone() },
        )?;
        // (Finite differences call this untracked too.)
        let outer = p.tensor("w1")?.is_tracked();
        assert_eq!(aux.tensor("penalty")?.is_tracked(), outer, "still tracked by the outer call only");
        v.add(aux.tensor("penalty")?)?.add(&gx.tensor("x")?.square()?.sum_all()?)
    };
    let report = check_gradients(loss, &params(), Tolerances::default())?;
    assert_eq!(report.checked, 12 + 4 + 8);
    Ok(())
}
