//! Tests of `lux_ops::activation`.
use crate::*;
use ::lux_ops::Activation;
use ::lux_ops::activation as act;
use lux_ad::{gradient, vjp};
use lux_core::{DType, LuxError, Result, Tensor, Tree};
use std::cell::RefCell;

const SELU_L: f64 = 1.0507009873554804934193349852946;
const SELU_A: f64 = 1.6732632423543772848170429916717;

/// Every activation, with parameters different from NNlib's defaults where
/// there is one (so that a parameter that is ignored is caught).
fn all() -> Vec<Activation> {
    use Activation::*;
    vec![
        Identity,
        Relu,
        Relu6,
        LeakyRelu(0.2),
        Elu(0.7),
        Gelu,
        GeluErf,
        Sigmoid,
        HardSigmoid,
        LogSigmoid,
        Tanh,
        HardTanh,
        Softplus,
        Softsign,
        Swish,
        Mish,
        Selu,
        Celu(1.3),
    ]
}

/// erf by its Maclaurin series (alternating), for |x| ≤ 3.
fn erf_series(x: f64) -> f64 {
    assert!(x.abs() <= 3.0);
    let mut sum = 0.0;
    let mut power = x; // x^(2n+1)/n!
    for n in 0..120 {
        sum += power / (2 * n + 1) as f64 * if n % 2 == 0 { 1.0 } else { -1.0 };
        power *= x * x / (n + 1) as f64;
    }
    sum * 2.0 / std::f64::consts::PI.sqrt()
}

/// erfc(v) for v ≥ 2.5 by quadrature: (2/√π)·e^{−v²}·∫₀^L e^{−2vs − s²} ds,
/// L = 20/v (the rest is below e⁻⁴⁰), composite Simpson with 4000 panels.
fn erfc_quadrature(v: f64) -> f64 {
    assert!(v >= 2.5);
    let n = 4000;
    let h = 20.0 / v / n as f64;
    let g = |s: f64| (-2.0 * v * s - s * s).exp();
    let mut sum = g(0.0) + g(n as f64 * h);
    for i in 1..n {
        sum += g(i as f64 * h) * if i % 2 == 1 { 4.0 } else { 2.0 };
    }
    2.0 / std::f64::consts::PI.sqrt() * (-v * v).exp() * sum * h / 3.0
}

/// erfc for any v, from the two references above.
fn erfc_ref(v: f64) -> f64 {
    if v.abs() <= 2.5 {
        1.0 - erf_series(v)
    } else if v > 0.0 {
        erfc_quadrature(v)
    } else {
        2.0 - erfc_quadrature(-v)
    }
}

/// The standard normal distribution function Φ(x) = erfc(−x/√2)/2.
fn ncdf(x: f64) -> f64 {
    0.5 * erfc_ref(-x / 2f64.sqrt())
}

fn sig(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// f64 references written from the definitions (plain formulas, valid for
/// moderate |x|).
fn reference(a: Activation, x: f64) -> f64 {
    use Activation::*;
    let lambda = (2.0 / std::f64::consts::PI).sqrt();
    match a {
        Identity => x,
        Relu => x.max(0.0),
        Relu6 => x.clamp(0.0, 6.0),
        LeakyRelu(s) => {
            if x > 0.0 {
                x
            } else {
                s * x
            }
        }
        Elu(s) => {
            if x >= 0.0 {
                x
            } else {
                s * (x.exp() - 1.0)
            }
        }
        Gelu => 0.5 * x * (1.0 + (lambda * (x + 0.044715 * x * x * x)).tanh()),
        GeluErf => x * ncdf(x),
        Sigmoid => sig(x),
        HardSigmoid => ((x + 3.0) / 6.0).clamp(0.0, 1.0),
        LogSigmoid => -(1.0 + (-x).exp()).ln(),
        Tanh => x.tanh(),
        HardTanh => x.clamp(-1.0, 1.0),
        Softplus => (1.0 + x.exp()).ln(),
        Softsign => x / (1.0 + x.abs()),
        Swish => x * sig(x),
        Mish => x * (1.0 + x.exp()).ln().tanh(),
        Selu => SELU_L * if x > 0.0 { x } else { SELU_A * (x.exp() - 1.0) },
        Celu(s) => {
            if x >= 0.0 {
                x
            } else {
                s * ((x / s).exp() - 1.0)
            }
        }
    }
}

/// The grid of forward test points: |x| ≤ 4 in steps of 1/8 (shifted off
/// the exact kinks), zero, the kinks themselves and saturated points.
fn grid() -> Vec<f64> {
    let mut v: Vec<f64> = (0..=64).map(|k| -4.0 + 0.125 * k as f64 + 0.01).collect();
    v.extend([0.0, -1.0, 1.0, -3.0, 3.0, 6.0, 7.5, -0.001, 1e-8]);
    v
}

#[test]
fn forward_matches_reference_f64() -> Result<()> {
    let xs = grid();
    let x = Tensor::from_vec(xs.clone(), &[xs.len()])?;
    for a in all() {
        let got = a.apply(&x)?;
        assert_eq!(got.dtype(), DType::F64);
        let want: Vec<f64> = xs.iter().map(|&v| reference(a, v)).collect();
        let tol = if a == Activation::GeluErf { 1e-12 } else { 1e-14 };
        for (i, (g, w)) in got.to_vec::<f64>()?.iter().zip(&want).enumerate() {
            assert!((g - w).abs() <= tol * (1.0 + w.abs()), "{a} at x = {}: got {g}, want {w}", xs[i]);
        }
    }
    Ok(())
}

#[test]
fn forward_matches_reference_f32() -> Result<()> {
    let xs: Vec<f32> = grid().iter().map(|&v| v as f32).collect();
    let x = Tensor::from_vec(xs.clone(), &[xs.len()])?;
    for a in all() {
        let got = a.apply(&x)?;
        assert_eq!(got.dtype(), DType::F32);
        for (i, g) in got.to_vec::<f32>()?.iter().enumerate() {
            let w = reference(a, xs[i] as f64);
            assert!((*g as f64 - w).abs() <= 1e-6 * (1.0 + w.abs()), "{a} at x = {}: got {g}, want {w}", xs[i]);
        }
    }
    Ok(())
}

#[test]
fn free_functions_match_the_enum() -> Result<()> {
    let x = randn(1, &[3, 4]).mul_scalar(3.0)?;
    type F = fn(&Tensor) -> Result<Tensor>;
    let cases: Vec<(F, Activation)> = vec![
        (act::relu, Activation::Relu),
        (act::relu6, Activation::Relu6),
        (act::gelu, Activation::Gelu),
        (act::gelu_erf, Activation::GeluErf),
        (act::sigmoid, Activation::Sigmoid),
        (act::hardsigmoid, Activation::HardSigmoid),
        (act::logsigmoid, Activation::LogSigmoid),
        (act::tanh, Activation::Tanh),
        (act::hardtanh, Activation::HardTanh),
        (act::softplus, Activation::Softplus),
        (act::softsign, Activation::Softsign),
        (act::swish, Activation::Swish),
        (act::silu, Activation::Swish),
        (act::mish, Activation::Mish),
        (act::selu, Activation::Selu),
    ];
    let xs = x.to_vec::<f64>()?;
    for (f, a) in cases {
        let want: Vec<f64> = xs.iter().map(|&v| reference(a, v)).collect();
        assert_close(&f(&x)?.to_vec::<f64>()?, &want, 1e-12);
    }
    let with_param: Vec<(Tensor, Activation)> = vec![
        (act::leakyrelu(&x, 0.3)?, Activation::LeakyRelu(0.3)),
        (act::elu(&x, 0.4)?, Activation::Elu(0.4)),
        (act::celu(&x, 2.5)?, Activation::Celu(2.5)),
    ];
    for (y, a) in with_param {
        let want: Vec<f64> = xs.iter().map(|&v| reference(a, v)).collect();
        assert_close(&y.to_vec::<f64>()?, &want, 1e-14);
    }
    Ok(())
}

#[test]
fn gelu_erf_tails_match_high_precision_values() -> Result<()> {
    // x·Φ(x), 40-digit values (mpmath), rounded to f64.
    let cases = [
        (-8.0, -4.976768459417427e-15),
        (-6.0, -5.9195258702261885e-09),
        (-5.0, -1.4332578593959695e-06),
        (-3.5, -0.0008142017766243376),
        (3.5, 3.4991857982233756),
        (5.0, 4.999998566742141),
        (6.0, 5.999999994080474),
    ];
    let x = Tensor::from_vec(cases.iter().map(|c| c.0).collect::<Vec<f64>>(), &[cases.len()])?;
    let y = act::gelu_erf(&x)?.to_vec::<f64>()?;
    for (g, (x, w)) in y.iter().zip(cases) {
        assert!((g - w).abs() <= 1e-12 * w.abs(), "gelu_erf({x}) = {g}, want {w}");
        // The test's own reference agrees with the table too.
        assert!((x * ncdf(x) - w).abs() <= 1e-9 * w.abs(), "reference at {x}");
    }
    // erf(0.5) = 0.5204998778130465 → gelu_erf(0.5·√2) = 0.5·√2·(1 + erf(0.5))/2.
    let x = Tensor::from_vec(vec![0.5 * 2f64.sqrt()], &[1])?;
    let want = 0.5 * 2f64.sqrt() * (1.0 + 0.5204998778130465) / 2.0;
    assert!((act::gelu_erf(&x)?.to_vec::<f64>()?[0] - want).abs() < 1e-15);
    Ok(())
}

#[test]
fn non_contiguous_forward() -> Result<()> {
    let base = randn(2, &[4, 3]).mul_scalar(2.0)?;
    let x = base.transpose(0, 1)?;
    assert!(!x.is_contiguous());
    let xs = x.contiguous()?.to_vec::<f64>()?;
    for a in all() {
        let y = a.apply(&x)?;
        assert_eq!(y.shape(), &[3, 4]);
        let want: Vec<f64> = xs.iter().map(|&v| reference(a, v)).collect();
        assert_close(&y.contiguous()?.to_vec::<f64>()?, &want, 1e-12);
    }
    Ok(())
}

/// Points of `a` where the derivative jumps.
fn kinks(a: Activation) -> Vec<f64> {
    use Activation::*;
    match a {
        Relu | LeakyRelu(_) | Elu(_) | Selu | Celu(_) => vec![0.0],
        Relu6 => vec![0.0, 6.0],
        HardSigmoid => vec![-3.0, 3.0],
        HardTanh => vec![-1.0, 1.0],
        _ => vec![],
    }
}

/// `t·scale + shift`, with values closer than 0.05 to a kink of `a` moved by 0.1.
fn away_from_kinks(a: Activation, t: &Tensor, scale: f64, shift: f64) -> Result<Tensor> {
    let ks = kinks(a);
    let v: Vec<f64> = t
        .to_vec::<f64>()?
        .iter()
        .map(|&v| {
            let v = v * scale + shift;
            if ks.iter().any(|k| (v - k).abs() < 0.05) { v + 0.1 } else { v }
        })
        .collect();
    Tensor::from_vec(v, t.shape())
}

/// Inputs for the gradient checks: two contiguous shapes and a transposed view.
fn check_inputs(a: Activation, seed: u64) -> Result<Vec<Tensor>> {
    let (scale, shift) = if a == Activation::Relu6 { (4.0, 2.0) } else { (3.0, 0.0) };
    let transposed = away_from_kinks(a, &randn(seed + 2, &[4, 3]), scale, shift)?.transpose(0, 1)?;
    assert!(!transposed.is_contiguous());
    Ok(vec![
        away_from_kinks(a, &randn(seed, &[3, 4]), scale, shift)?,
        away_from_kinks(a, &randn(seed + 1, &[2, 3, 5]), scale, shift)?,
        transposed,
    ])
}

#[test]
fn gradients_match_finite_differences() -> Result<()> {
    for (k, a) in all().into_iter().enumerate() {
        for x in check_inputs(a, 10 * k as u64)? {
            check_op(|xs| a.apply(&xs[0]), &[x]);
        }
    }
    Ok(())
}

/// Analytic f64 derivatives, for comparing gradient values directly.
fn dreference(a: Activation, x: f64) -> f64 {
    use Activation::*;
    let lambda = (2.0 / std::f64::consts::PI).sqrt();
    let step = |c: bool| if c { 1.0 } else { 0.0 };
    match a {
        Identity => 1.0,
        Relu => step(x > 0.0),
        Relu6 => step(x > 0.0 && x < 6.0),
        LeakyRelu(s) => {
            if x > 0.0 {
                1.0
            } else {
                s
            }
        }
        Elu(s) => {
            if x >= 0.0 {
                1.0
            } else {
                s * x.exp()
            }
        }
        Gelu => {
            let t = (lambda * (x + 0.044715 * x * x * x)).tanh();
            0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * lambda * (1.0 + 3.0 * 0.044715 * x * x)
        }
        GeluErf => ncdf(x) + x * (-x * x / 2.0).exp() / (2.0 * std::f64::consts::PI).sqrt(),
        Sigmoid => sig(x) * (1.0 - sig(x)),
        HardSigmoid => step(x > -3.0 && x < 3.0) / 6.0,
        LogSigmoid => 1.0 - sig(x),
        Tanh => 1.0 - x.tanh().powi(2),
        HardTanh => step(x > -1.0 && x < 1.0),
        Softplus => sig(x),
        Softsign => 1.0 / (1.0 + x.abs()).powi(2),
        Swish => sig(x) + x * sig(x) * (1.0 - sig(x)),
        Mish => {
            let sp = (1.0 + x.exp()).ln();
            sp.tanh() + x * (1.0 - sp.tanh().powi(2)) * sig(x)
        }
        Selu => SELU_L * if x > 0.0 { 1.0 } else { SELU_A * x.exp() },
        Celu(s) => {
            if x >= 0.0 {
                1.0
            } else {
                (x / s).exp()
            }
        }
    }
}

/// Elementwise derivative of `a` at `x` by reverse mode (fused backward).
fn derivative(a: Activation, x: &Tensor) -> Result<Tensor> {
    let t = Tree::new().with("x", x.clone())?;
    gradient(|p| a.apply(p.tensor("x")?)?.sum_all(), &t)?.tensor("x").cloned()
}

#[test]
fn derivative_values_and_kink_conventions() -> Result<()> {
    // NNlib's values at the kinks: relu'(0) = 0, relu6'(0) = relu6'(6) = 0,
    // hardtanh'(±1) = 0, hardsigmoid'(±3) = 0, leakyrelu'(0) = a, elu'(0) = 1,
    // selu'(0) = λα, celu'(0) = 1.
    use Activation::*;
    let at = |a: Activation, v: f64| -> Result<f64> {
        Ok(derivative(a, &Tensor::from_vec(vec![v], &[1])?)?.to_vec::<f64>()?[0])
    };
    assert_eq!(at(Relu, 0.0)?, 0.0);
    assert_eq!(at(Relu6, 0.0)?, 0.0);
    assert_eq!(at(Relu6, 6.0)?, 0.0);
    assert_eq!(at(HardTanh, 1.0)?, 0.0);
    assert_eq!(at(HardTanh, -1.0)?, 0.0);
    assert_eq!(at(HardSigmoid, 3.0)?, 0.0);
    assert_eq!(at(HardSigmoid, -3.0)?, 0.0);
    assert_eq!(at(LeakyRelu(0.2), 0.0)?, 0.2);
    assert_eq!(at(Elu(0.7), 0.0)?, 1.0);
    assert!((at(Selu, 0.0)? - SELU_L * SELU_A).abs() < 1e-15);
    assert_eq!(at(Celu(1.3), 0.0)?, 1.0);
    // Away from kinks, against the analytic derivatives.
    let xs: Vec<f64> = grid().into_iter().filter(|v| v.abs() > 1e-3 && (v.abs() - 1.0).abs() > 1e-3).collect();
    let xs: Vec<f64> = xs.into_iter().filter(|v| (v.abs() - 3.0).abs() > 1e-3 && (v - 6.0).abs() > 1e-3).collect();
    let x = Tensor::from_vec(xs.clone(), &[xs.len()])?;
    for a in all() {
        let want: Vec<f64> = xs.iter().map(|&v| dreference(a, v)).collect();
        let tol = if a == GeluErf { 1e-12 } else { 1e-14 };
        for (i, (g, w)) in derivative(a, &x)?.to_vec::<f64>()?.iter().zip(&want).enumerate() {
            assert!((g - w).abs() <= tol * (1.0 + w.abs()), "{a}' at {}: got {g}, want {w}", xs[i]);
        }
    }
    Ok(())
}

/// (f(x), f'(x)) for |x| ≥ 1e3, from the asymptotes.
fn asymptote(a: Activation, x: f64) -> (f64, f64) {
    use Activation::*;
    let pos = x > 0.0;
    match a {
        Identity => (x, 1.0),
        Relu | Gelu | GeluErf | Softplus | Swish | Mish => {
            if pos {
                (x, 1.0)
            } else {
                (0.0, 0.0)
            }
        }
        Relu6 => (if pos { 6.0 } else { 0.0 }, 0.0),
        LeakyRelu(s) => {
            if pos {
                (x, 1.0)
            } else {
                (s * x, s)
            }
        }
        Elu(s) | Celu(s) => {
            if pos {
                (x, 1.0)
            } else {
                (-s, 0.0)
            }
        }
        Sigmoid | HardSigmoid => (if pos { 1.0 } else { 0.0 }, 0.0),
        LogSigmoid => {
            if pos {
                (0.0, 0.0)
            } else {
                (x, 1.0)
            }
        }
        Tanh | HardTanh => (x.signum(), 0.0),
        Softsign => (x / (1.0 + x.abs()), 1.0 / (1.0 + x.abs()).powi(2)),
        Selu => {
            if pos {
                (SELU_L * x, SELU_L)
            } else {
                (-SELU_L * SELU_A, 0.0)
            }
        }
    }
}

#[test]
fn stable_at_large_inputs_f32_and_f64() -> Result<()> {
    let xs = [-1e4, -1e3, 1e3, 1e4];
    for dtype in [DType::F32, DType::F64] {
        let x = Tensor::from_vec(xs.to_vec(), &[4])?.to_dtype(dtype)?;
        for a in all() {
            let y = a.apply(&x)?.to_f64_vec();
            let d = derivative(a, &x)?;
            assert_eq!(d.dtype(), dtype);
            let d = d.to_f64_vec();
            for i in 0..4 {
                let (fy, fd) = asymptote(a, xs[i]);
                assert!(
                    (y[i] - fy).abs() <= 1e-6 * (1.0 + fy.abs()),
                    "{a}({}) in {dtype}: got {}, want {fy}",
                    xs[i],
                    y[i]
                );
                assert!((d[i] - fd).abs() <= 1e-6, "{a}'({}) in {dtype}: got {}, want {fd}", xs[i], d[i]);
            }
        }
    }
    // The exact values the brief of every activation library promises.
    let x = Tensor::from_vec(vec![1000.0f32, -1000.0], &[2])?;
    assert_eq!(act::softplus(&x)?.to_vec::<f32>()?, vec![1000.0, 0.0]);
    assert_eq!(act::logsigmoid(&x)?.to_vec::<f32>()?, vec![0.0, -1000.0]);
    let x = Tensor::from_vec(vec![1e4f64, -1e4], &[2])?;
    assert_eq!(derivative(Activation::Sigmoid, &x)?.to_vec::<f64>()?, vec![0.0, 0.0]);
    Ok(())
}

#[test]
fn finite_for_every_finite_input() -> Result<()> {
    let cases: [(DType, Vec<f64>); 2] = [
        (DType::F32, vec![-1e30, -1e10, -88.5, -20.0, -1e-30, 0.0, 1e-30, 20.0, 88.5, 1e10, 1e30]),
        (DType::F64, vec![-1e300, -1e30, -745.5, -40.0, -1e-300, 0.0, 1e-300, 40.0, 710.0, 1e30, 1e300]),
    ];
    for (dtype, xs) in cases {
        let x = Tensor::from_vec(xs.clone(), &[xs.len()])?.to_dtype(dtype)?;
        for a in all() {
            let y = a.apply(&x)?.to_f64_vec();
            let d = derivative(a, &x)?.to_f64_vec();
            for i in 0..xs.len() {
                assert!(y[i].is_finite(), "{a}({}) in {dtype} = {}", xs[i], y[i]);
                assert!(d[i].is_finite(), "{a}'({}) in {dtype} = {}", xs[i], d[i]);
            }
        }
    }
    Ok(())
}

#[test]
fn nan_in_nan_out() -> Result<()> {
    let x = Tensor::from_vec(vec![f64::NAN, 1.0], &[2])?;
    for a in all() {
        let y = a.apply(&x)?.to_vec::<f64>()?;
        assert!(y[0].is_nan(), "{a}(NaN) = {}", y[0]);
        assert!(y[1].is_finite());
    }
    Ok(())
}

/// The gradient of `a` at `x` taken inside an outer gradient call (so the
/// composite definition runs), and the outer gradient of its sum: the
/// second derivative.
fn first_and_second(a: Activation, x: &Tensor) -> Result<(Tensor, Tensor)> {
    let first = RefCell::new(None);
    let t = Tree::new().with("x", x.clone())?;
    let second = gradient(
        |p| {
            let inner = Tree::new().with("x", p.tensor("x")?.clone())?;
            let g = gradient(|q| a.apply(q.tensor("x")?)?.sum_all(), &inner)?.tensor("x")?.clone();
            *first.borrow_mut() = Some(g.detach());
            g.sum_all()
        },
        &t,
    )?;
    Ok((first.into_inner().expect("called"), second.tensor("x")?.clone()))
}

#[test]
fn second_derivative_of_softplus_is_sigmoid_slope() -> Result<()> {
    let xs = vec![-30.0, -3.0, -0.5, 0.0, 0.7, 2.0, 30.0];
    let x = Tensor::from_vec(xs.clone(), &[xs.len()])?;
    let (first, second) = first_and_second(Activation::Softplus, &x)?;
    let want1: Vec<f64> = xs.iter().map(|&v| sig(v)).collect();
    let want2: Vec<f64> = xs.iter().map(|&v| sig(v) * (1.0 - sig(v))).collect();
    assert_close(&first.to_vec::<f64>()?, &want1, 1e-14);
    assert_close(&second.to_vec::<f64>()?, &want2, 1e-14);
    Ok(())
}

#[test]
fn nested_gradients_match_finite_differences_of_the_first() -> Result<()> {
    // d/dx of vjp(f, x, c) through the composite definitions, against
    // central differences of the fused first derivative.
    for (k, a) in all().into_iter().enumerate() {
        for x in check_inputs(a, 100 + 10 * k as u64)? {
            let c = randn(999, x.shape());
            check_op(
                |xs| {
                    let t = Tree::new().with("x", xs[0].clone())?;
                    vjp(|p| a.apply(p.tensor("x")?), &t, &c)?.1.tensor("x").cloned()
                },
                &[x],
            );
        }
    }
    Ok(())
}

#[test]
fn composite_first_derivative_matches_fused_and_is_stable() -> Result<()> {
    let mut xs = vec![-1e4, -1e3, -7.5, -2.2, -0.4, 0.3, 1.7, 4.4, 1e3, 1e4];
    xs.extend([-1e30, 1e30]);
    let x = Tensor::from_vec(xs.clone(), &[xs.len()])?;
    for a in all() {
        let (first, second) = first_and_second(a, &x)?;
        let fused = derivative(a, &x)?.to_vec::<f64>()?;
        let first = first.to_vec::<f64>()?;
        for i in 0..xs.len() {
            let tol = 1e-12 * (1.0 + fused[i].abs());
            assert!(
                (first[i] - fused[i]).abs() <= tol,
                "{a}' at {}: composite {}, fused {}",
                xs[i],
                first[i],
                fused[i]
            );
        }
        for (i, s) in second.to_vec::<f64>()?.iter().enumerate() {
            assert!(s.is_finite(), "{a}'' at {} = {s}", xs[i]);
        }
    }
    Ok(())
}

#[test]
fn large_inputs_take_the_parallel_path() -> Result<()> {
    let n = 70_001;
    let x = randn(5, &[n]).mul_scalar(3.0)?;
    let xs = x.to_vec::<f64>()?;
    for a in [Activation::Gelu, Activation::Relu, Activation::Swish] {
        let y = a.apply(&x)?.to_vec::<f64>()?;
        let d = derivative(a, &x)?.to_vec::<f64>()?;
        for i in (0..n).step_by(97) {
            assert!((y[i] - reference(a, xs[i])).abs() <= 1e-13 * (1.0 + y[i].abs()));
            assert!((d[i] - dreference(a, xs[i])).abs() <= 1e-13 * (1.0 + d[i].abs()));
        }
    }
    Ok(())
}

#[test]
fn half_precision_forward() -> Result<()> {
    let xs = vec![-2.5, -0.5, 0.0, 0.75, 2.0, 7.0];
    let x = Tensor::from_vec(xs.clone(), &[2, 3])?;
    for (dtype, tol) in [(DType::F16, 2e-3), (DType::BF16, 1.6e-2)] {
        let xh = x.to_dtype(dtype)?;
        for a in all() {
            let y = a.apply(&xh)?;
            assert_eq!(y.dtype(), dtype, "{a}");
            assert_eq!(y.shape(), &[2, 3]);
            let want: Vec<f64> = xs.iter().map(|&v| reference(a, v)).collect();
            for (g, w) in y.to_f64_vec().iter().zip(&want) {
                assert!((g - w).abs() <= tol * (1.0 + w.abs()), "{a} in {dtype}: got {g}, want {w}");
            }
        }
    }
    Ok(())
}

#[test]
fn non_float_input_is_an_error() -> Result<()> {
    let i = Tensor::from_vec(vec![1i64, -2], &[2])?;
    let b = Tensor::from_vec(vec![true, false], &[2])?;
    for a in all() {
        for t in [&i, &b] {
            match a.apply(t) {
                Err(LuxError::UnsupportedDType { op, .. }) => assert_eq!(op, a.name()),
                other => panic!("{a} on {}: expected UnsupportedDType, got {other:?}", t.dtype()),
            }
        }
    }
    assert!(act::relu(&i).is_err());
    assert!(act::celu(&b, 1.0).is_err());
    Ok(())
}

#[test]
fn invalid_parameters_are_errors() -> Result<()> {
    let x = Tensor::from_vec(vec![1.0f32], &[1])?;
    let e = act::celu(&x, 0.0).unwrap_err().to_string();
    assert!(e.contains("celu") && e.contains("non-zero"), "{e}");
    let e = act::leakyrelu(&x, f64::NAN).unwrap_err().to_string();
    assert!(e.contains("leakyrelu") && e.contains("NaN"), "{e}");
    assert!(act::elu(&x, f64::INFINITY).is_err());
    Ok(())
}

#[test]
fn names_and_display() {
    let names: Vec<String> = all().iter().map(|a| a.to_string()).collect();
    assert_eq!(
        names,
        [
            "identity",
            "relu",
            "relu6",
            "leakyrelu",
            "elu",
            "gelu",
            "gelu_erf",
            "sigmoid",
            "hardsigmoid",
            "logsigmoid",
            "tanh",
            "hardtanh",
            "softplus",
            "softsign",
            "swish",
            "mish",
            "selu",
            "celu"
        ]
    );
    for a in all() {
        assert_eq!(a.name(), a.to_string());
    }
    assert_eq!(Activation::default(), Activation::Identity);
}

#[test]
fn inference_records_nothing_and_identity_is_free() -> Result<()> {
    let x = randn(3, &[2, 2]);
    for a in all() {
        assert!(!a.apply(&x)?.is_tracked());
    }
    let y = Activation::Identity.apply(&x)?;
    assert!(y.shares_storage_with(&x));
    Ok(())
}

/// The activation loops run compiled for the widest vector unit found at
/// run time; every instruction set must give the same bits (forward, the
/// fused dense bias pass, and backward), on values that cover every branch
/// of the kernels (tiny, huge, ±0, ±inf, NaN).
#[test]
fn every_simd_level_gives_the_same_bits() -> Result<()> {
    use lux_core::simd::{SimdLevel, set_simd_level, simd_level};
    let widest = simd_level();
    let mut values: Vec<f32> = (0..4000).map(|i| ((i as f32) * 0.37).sin() * (1.0 + (i % 97) as f32)).collect();
    values.extend([0.0, -0.0, 1e-30, -1e-30, 1e-8, 88.7, -104.0, 200.0, f32::INFINITY, f32::NEG_INFINITY, f32::NAN]);
    values.resize(4096, 0.5);
    let x = Tensor::from_vec(values, &[64, 64])?;
    let w = Tensor::from_vec((0..64 * 64).map(|i| ((i as f32) * 0.11).cos() * 0.2).collect(), &[64, 64])?;
    let b = Tensor::from_vec((0..64).map(|i| i as f32 * 0.05 - 1.6).collect(), &[64])?;
    let bits = |t: &Tensor| t.to_vec::<f32>().map(|v| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>());
    let run = |a: Activation| -> Result<Vec<Vec<u32>>> {
        let p = Tree::from(x.clone());
        let y = a.apply(&x)?;
        let z = ::lux_ops::dense::dense(&x, &w, Some(&b), a)?;
        let g = gradient(|t| weighted_sum(&a.apply(t.as_tensor()?)?.to_dtype(DType::F64)?), &p)?;
        Ok(vec![bits(&y)?, bits(&z)?, bits(g.as_tensor()?)?])
    };
    let levels: Vec<SimdLevel> =
        [SimdLevel::Baseline, SimdLevel::Avx2, SimdLevel::Avx512].into_iter().filter(|l| *l <= widest).collect();
    let outcome = (|| -> Result<()> {
        for a in all() {
            set_simd_level(SimdLevel::Baseline);
            let reference = run(a)?;
            for &level in &levels[1..] {
                set_simd_level(level);
                for (part, (got, want)) in run(a)?.iter().zip(&reference).enumerate() {
                    for (i, (g, w)) in got.iter().zip(want).enumerate() {
                        let (g, w) = (f32::from_bits(*g), f32::from_bits(*w));
                        // NaN sign and payload bits depend on operand order, not on the math.
                        let same = g.to_bits() == w.to_bits() || (g.is_nan() && w.is_nan());
                        assert!(same, "{a:?} {level:?}: output {part}, element {i}: {g:e} vs baseline {w:e}");
                    }
                }
            }
        }
        Ok(())
    })();
    set_simd_level(widest);
    outcome
}
