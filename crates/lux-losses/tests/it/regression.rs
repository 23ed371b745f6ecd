//! MSELoss, MAELoss, MSLELoss, HuberLoss, PoissonLoss: values in f32/f64
//! against plain-loop f64 references, gradients, Lux's tests, bad input.

use lux_ad::{Tolerances, check_gradients};
use lux_core::{DType, Result, Tensor, Tree, tree};
use lux_losses::{Agg, HuberLoss, LossFunction, MAELoss, MSELoss, MSLELoss, PoissonLoss};

/// Deterministic values in (lo, hi) from a seed (an LCG; no dependence on the code under test).
pub(crate) fn values(seed: u64, n: usize, lo: f64, hi: f64) -> Vec<f64> {
    let mut s = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            lo + (hi - lo) * ((s >> 11) as f64 / (1u64 << 53) as f64)
        })
        .collect()
}

pub(crate) fn t(v: &[f64], shape: &[usize], dtype: DType) -> Tensor {
    Tensor::from_vec(v.to_vec(), shape).unwrap().to_dtype(dtype).unwrap()
}

/// An f64 reference of an aggregation, on the unreduced values.
pub(crate) type AggRef = fn(&[f64]) -> Vec<f64>;

/// The four aggregations and their f64 reference on the unreduced values.
pub(crate) fn aggs() -> Vec<(&'static str, Agg, AggRef)> {
    vec![
        ("mean", Agg::Mean, |l| vec![l.iter().sum::<f64>() / l.len() as f64]),
        ("sum", Agg::Sum, |l| vec![l.iter().sum::<f64>()]),
        ("none", Agg::None, |l| l.to_vec()),
        ("custom max", Agg::custom(|t| t.max_all()), |l| vec![l.iter().cloned().fold(f64::NEG_INFINITY, f64::max)]),
    ]
}

/// Checks `loss` (built with each aggregation by `make`) against the
/// elementwise reference `f` in f32 and f64 on [3, 4] inputs.
pub(crate) fn check_values<L: LossFunction>(
    make: impl Fn(Agg) -> L,
    f: impl Fn(f64, f64) -> f64,
    yp: &[f64],
    y: &[f64],
) {
    let elems: Vec<f64> = yp.iter().zip(y).map(|(&a, &b)| f(a, b)).collect();
    for (name, agg, reference) in aggs() {
        let want = reference(&elems);
        let loss = make(agg);
        for (dtype, tol) in [(DType::F64, 1e-12), (DType::F32, 1e-5)] {
            let got = loss.call(&t(yp, &[3, 4], dtype), &t(y, &[3, 4], dtype)).unwrap();
            assert_eq!(got.dtype(), dtype);
            let got = got.to_f64_vec();
            assert_eq!(got.len(), want.len(), "{} {name}", loss.name());
            for (g, w) in got.iter().zip(&want) {
                assert!((g - w).abs() <= tol * (1.0 + w.abs()), "{} {name} {dtype:?}: {g} vs {w}", loss.name());
            }
        }
    }
}

/// `check_gradients` of `loss(ŷ, y)` w.r.t. ŷ in f64.
pub(crate) fn check_grad<L: LossFunction>(loss: &L, yp: &[f64], y: &Tensor, shape: &[usize]) {
    let ps = tree! { y_pred: t(yp, shape, DType::F64) };
    let f = |p: &Tree| loss.call(p.tensor("y_pred")?, y);
    if let Err(e) = check_gradients(f, &ps, Tolerances { atol: 1e-7, rtol: 1e-6 }) {
        panic!("{}: {e}", loss.name());
    }
}

fn scalar(l: &dyn LossFunction, yp: &[f64], y: &[f64]) -> f64 {
    l.call(&t(yp, &[yp.len()], DType::F64), &t(y, &[y.len()], DType::F64)).unwrap().to_scalar::<f64>().unwrap()
}

#[test]
fn mse_values_and_gradients() {
    let (yp, y) = (values(1, 12, -2.0, 2.0), values(2, 12, -2.0, 2.0));
    check_values(|a| MSELoss::new().agg(a), |a, b| (a - b) * (a - b), &yp, &y);
    check_grad(&MSELoss::new(), &yp, &t(&y, &[3, 4], DType::F64), &[3, 4]);
    // broadcasting targets [4] against ŷ [3, 4]
    check_grad(&MSELoss::new().agg(Agg::Sum), &yp, &t(&y[..4], &[4], DType::F64), &[3, 4]);
}

#[test]
fn mae_values_and_gradients() {
    let (yp, y) = (values(3, 12, -2.0, 2.0), values(4, 12, -2.0, 2.0));
    check_values(|a| MAELoss::new().agg(a), |a, b| (a - b).abs(), &yp, &y);
    check_grad(&MAELoss::new(), &yp, &t(&y, &[3, 4], DType::F64), &[3, 4]);
}

#[test]
fn msle_values_and_gradients() {
    let (yp, y) = (values(5, 12, 0.2, 3.0), values(6, 12, 0.2, 3.0));
    for eps in [0.0, 0.1, 1.5] {
        check_values(|a| MSLELoss::new().agg(a).epsilon(eps), |a, b| ((a + eps) / (b + eps)).ln().powi(2), &yp, &y);
        check_grad(&MSLELoss::new().epsilon(eps), &yp, &t(&y, &[3, 4], DType::F64), &[3, 4]);
    }
    // default epsilon: machine epsilon of the promoted dtype
    let e = f64::EPSILON;
    check_values(|a| MSLELoss::new().agg(a), |a, b| ((a + e) / (b + e)).ln().powi(2), &yp, &y);
    check_grad(&MSLELoss::new(), &yp, &t(&y, &[3, 4], DType::F64), &[3, 4]);
}

#[test]
fn huber_values_and_gradients() {
    let (yp, y) = (values(7, 12, -2.0, 2.0), values(8, 12, -2.0, 2.0));
    for delta in [1.0, 0.3, 2.5] {
        let f = |a: f64, b: f64| {
            let d = (a - b).abs();
            if d <= delta { 0.5 * d * d } else { delta * (d - 0.5 * delta) }
        };
        check_values(|a| HuberLoss::new().agg(a).delta(delta), f, &yp, &y);
        // keep |ŷ − y| away from δ (the kink)
        let ys: Vec<f64> = yp
            .iter()
            .zip(&y)
            .map(|(a, b)| if ((a - b).abs() - delta).abs() < 0.01 { a - 0.5 * delta } else { *b })
            .collect();
        check_grad(&HuberLoss::new().delta(delta), &yp, &t(&ys, &[3, 4], DType::F64), &[3, 4]);
    }
}

#[test]
fn poisson_values_and_gradients() {
    let (yp, y) = (values(9, 12, 0.2, 4.0), values(10, 12, 0.0, 4.0));
    for eps in [0.0, 0.5] {
        check_values(|a| PoissonLoss::new().agg(a).epsilon(eps), |a, b| a - b * (a + eps).ln(), &yp, &y);
        check_grad(&PoissonLoss::new().epsilon(eps), &yp, &t(&y, &[3, 4], DType::F64), &[3, 4]);
    }
    // y = 0 contributes ŷ (xlogy(0, ·) = 0), also at ŷ + ε = 0
    assert_eq!(scalar(&PoissonLoss::new().agg(Agg::Sum).epsilon(0.0), &[0.0, 2.0], &[0.0, 0.0]), 2.0);
    // default epsilon: ŷ's machine epsilon (f32 ŷ, f64 y)
    let yp32 = t(&[1.0], &[1], DType::F32);
    let got = PoissonLoss::new().call(&yp32, &t(&[2.0], &[1], DType::F64)).unwrap().to_f64_vec()[0];
    let want = 1.0 - 2.0 * (1.0 + f32::EPSILON as f64).ln();
    assert!((got - want).abs() < 1e-12, "{got} vs {want}");
}

#[test]
fn lux_regression_tests() {
    // test/misc/helpers/loss_tests.jl "Regression Loss"
    let (y, yp) = ([1.0, 1.0, 0.0, 0.0], [0.9, 0.1, 0.1, 0.9]);
    let close = |a: f64, b: f64| assert!((a - b).abs() < 1e-12, "{a} vs {b}");
    close(scalar(&MSELoss::new(), &yp, &y), (0.01 + 0.81) / 2.0);
    close(scalar(&MAELoss::new(), &yp, &y), 0.5);
    close(scalar(&HuberLoss::new(), &yp, &y), 0.205);
    close(scalar(&MSELoss::new().agg(Agg::Sum), &yp, &y), 4.0 * (0.01 + 0.81) / 2.0);
    close(scalar(&MAELoss::new().agg(Agg::custom(|t| t.sum_all())), &yp, &y), 2.0);
    close(scalar(&HuberLoss::new().agg(Agg::Sum), &yp, &y), 4.0 * 0.205);
    close(scalar(&MSLELoss::new(), &[345.0, 332.0, 789.0], &[123.0, 456.0, 789.0]), 0.38813985859136585);
    // Misc
    let l = MSELoss::new().agg(Agg::None).call(&t(&[1.0, 3.0], &[2], DType::F64), &t(&[3.0, 1.0], &[2], DType::F64));
    assert_eq!(l.unwrap().to_f64_vec(), vec![4.0, 4.0]);
    let l = MSELoss::new().agg(Agg::Sum).call(&Tensor::scalar(2.0f64), &Tensor::scalar(0.0f64)).unwrap();
    assert_eq!(l.to_scalar::<f64>().unwrap(), 4.0);
    close(scalar(&MSLELoss::new(), &[2.0], &[1.0]), 2f64.ln().powi(2));
    // "PoissonLoss" (in Lux's "Other Losses")
    let (y, yp) = ([0.1, 0.2, 0.3], [0.4, 0.5, 0.6]);
    close(scalar(&PoissonLoss::new(), &yp, &y), 0.6278353988097339);
    close(scalar(&PoissonLoss::new(), &y, &y), 0.5044459776946685);
}

#[test]
fn integer_and_bool_targets() -> Result<()> {
    let yp = Tensor::from_vec(vec![0.5f32, 2.0], &[2])?;
    let l = MSELoss::new().agg(Agg::Sum).call(&yp, &Tensor::from_vec(vec![1i64, 2], &[2])?)?;
    assert_eq!(l.to_scalar::<f32>()?, 0.25);
    let l = MAELoss::new().agg(Agg::Sum).call(&yp, &Tensor::from_vec(vec![true, false], &[2])?)?;
    assert_eq!(l.to_scalar::<f32>()?, 2.5);
    Ok(())
}

#[test]
fn bad_input_is_an_error() -> Result<()> {
    let (a, b) = (Tensor::zeros(&[2], DType::F32)?, Tensor::zeros(&[3], DType::F32)?);
    let losses: Vec<Box<dyn LossFunction>> = vec![
        Box::new(MSELoss::new()),
        Box::new(MAELoss::new()),
        Box::new(MSLELoss::new()),
        Box::new(HuberLoss::new()),
        Box::new(PoissonLoss::new()),
    ];
    for l in &losses {
        let e = l.call(&a, &b).unwrap_err().to_string();
        assert!(e.contains(l.name()) && e.contains("[2]") && e.contains("[3]"), "{e}");
        let e = l.call(&Tensor::zeros(&[2], DType::I64)?, &a).unwrap_err().to_string();
        assert!(e.contains(l.name()), "{e}");
    }
    for d in [-1.0, f64::NAN, f64::INFINITY] {
        let e = HuberLoss::new().delta(d).call(&a, &a).unwrap_err().to_string();
        assert!(e.contains("HuberLoss") && e.contains("delta") && e.contains(&format!("{d}")), "{e}");
        let e = MSLELoss::new().epsilon(d).call(&a, &a).unwrap_err().to_string();
        assert!(e.contains("MSLELoss") && e.contains("epsilon") && e.contains(&format!("{d}")), "{e}");
        let e = PoissonLoss::new().epsilon(d).call(&a, &a).unwrap_err().to_string();
        assert!(e.contains("PoissonLoss") && e.contains("epsilon"), "{e}");
    }
    Ok(())
}
