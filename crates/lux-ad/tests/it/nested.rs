//! Nested AD: gradients of functions that themselves take gradients.

use crate::randn;
use lux_ad::{Tolerances, check_gradients, gradient, value_and_gradient};
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
