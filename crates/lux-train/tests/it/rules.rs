//! Every rule against an f64 reference written here from the published
//! update formulas (Optimisers.jl v0.4's `apply!`, Lion's paper), over
//! several steps with hand-chosen gradients, for the defaults and one
//! non-default setting.

use lux_core::{DType, Tensor, Tree, tree};
use lux_train::*;

const X0: [f64; 5] = [1.0, -2.0, 0.5, 3.0, 0.0];

/// The gradient at step `t` (1-based): signs flip and magnitudes vary, and
/// one element is exactly zero at every other step.
fn grad(t: usize) -> Vec<f64> {
    let s = if t % 2 == 0 { -1.0 } else { 1.0 };
    let z = if t % 2 == 0 { 0.0 } else { 0.3 };
    vec![0.5 * t as f64, -s, 2.0 / t as f64, z, -0.25 * s * t as f64]
}

fn tensor(v: &[f64]) -> Tensor {
    Tensor::from_vec(v.to_vec(), &[v.len()]).unwrap()
}

/// Runs `rule` for `steps` steps from X0; the parameter after each step.
fn run(rule: Box<dyn Rule>, steps: usize) -> Vec<Vec<f64>> {
    let mut ps = tree! { w: tensor(&X0) };
    let mut opt = OptState::new(rule, &ps).unwrap();
    (1..=steps)
        .map(|t| {
            opt.update_mut(&mut ps, &tree! { w: tensor(&grad(t)) }).unwrap();
            ps.tensor("w").unwrap().to_vec::<f64>().unwrap()
        })
        .collect()
}

/// Runs the reference `step(t, x, g)` (which updates `x` in place).
fn reference(steps: usize, mut step: impl FnMut(usize, &mut [f64], &[f64])) -> Vec<Vec<f64>> {
    let mut x = X0.to_vec();
    (1..=steps)
        .map(|t| {
            step(t, &mut x, &grad(t));
            x.clone()
        })
        .collect()
}

fn assert_close(name: &str, got: &[Vec<f64>], want: &[Vec<f64>]) {
    for (t, (g, w)) in got.iter().zip(want).enumerate() {
        for (i, (a, b)) in g.iter().zip(w).enumerate() {
            let tol = 1e-13 * (1.0 + b.abs());
            assert!(
                (a - b).abs() <= tol || (a.is_nan() && b.is_nan()),
                "{name}: step {} element {i}: {a} vs {b}",
                t + 1
            );
        }
    }
}

const STEPS: usize = 6;

fn sign(x: f64) -> f64 {
    if x > 0.0 {
        1.0
    } else if x < 0.0 {
        -1.0
    } else {
        x
    }
}

fn check(name: &str, rule: impl Rule + 'static, step: impl FnMut(usize, &mut [f64], &[f64])) {
    assert_close(name, &run(Box::new(rule), STEPS), &reference(STEPS, step));
}

#[test]
fn descent() {
    for eta in [0.1, 0.37] {
        let rule = if eta == 0.1 { Descent::default() } else { Descent::new(eta) };
        check("Descent", rule, |_, x, g| x.iter_mut().zip(g).for_each(|(x, g)| *x -= eta * g));
    }
}

#[test]
fn momentum_and_nesterov() {
    for (eta, rho) in [(0.01, 0.9), (0.2, 0.5)] {
        let mut v = [0.0; 5];
        check("Momentum", Momentum { eta, rho }, move |_, x, g| {
            for i in 0..5 {
                v[i] = rho * v[i] + eta * g[i];
                x[i] -= v[i];
            }
        });
        let mut v = [0.0; 5];
        check("Nesterov", Nesterov { eta, rho }, move |_, x, g| {
            for i in 0..5 {
                let d = -rho * rho * v[i] + (1.0 + rho) * eta * g[i];
                v[i] = rho * v[i] - eta * g[i];
                x[i] -= d;
            }
        });
    }
}

#[test]
fn rmsprop_plain_and_centred() {
    for (centred, eta, rho) in [(false, 0.001, 0.9), (true, 0.01, 0.8)] {
        let (mut q, mut l) = (vec![0.0; 5], vec![0.0; 5]);
        let rule = RMSProp::default().eta(eta).rho(rho).centred(centred);
        check("RMSProp", rule, move |_, x, g| {
            for i in 0..5 {
                q[i] = rho * q[i] + (1.0 - rho) * g[i] * g[i];
                if centred {
                    l[i] = rho * l[i] + (1.0 - rho) * g[i];
                }
                x[i] -= g[i] * eta / ((q[i] - l[i] * l[i]).sqrt() + 1e-8);
            }
        });
    }
}

/// Adam's update with bias corrections βᵗ, as a reference shared by Adam and AdamW.
fn adam_ref(eta: f64, b: (f64, f64), eps: f64, lambda: f64, couple: bool) -> impl FnMut(usize, &mut [f64], &[f64]) {
    let (mut m, mut v) = (vec![0.0; 5], vec![0.0; 5]);
    move |t, x, g| {
        let (b1t, b2t) = (b.0.powi(t as i32), b.1.powi(t as i32));
        for i in 0..5 {
            m[i] = b.0 * m[i] + (1.0 - b.0) * g[i];
            v[i] = b.1 * v[i] + (1.0 - b.1) * g[i] * g[i];
            let d = m[i] / (1.0 - b1t) / ((v[i] / (1.0 - b2t)).sqrt() + eps);
            x[i] -= if couple { eta * (d + lambda * x[i]) } else { eta * d + lambda * x[i] };
        }
    }
}

#[test]
fn adam() {
    check("Adam", Adam::default(), adam_ref(0.001, (0.9, 0.999), 1e-8, 0.0, true));
    check("Adam", Adam::new(0.05).beta((0.8, 0.9)).epsilon(1e-3), adam_ref(0.05, (0.8, 0.9), 1e-3, 0.0, true));
}

#[test]
fn adamw_coupled_and_decoupled() {
    check("AdamW", AdamW::default(), adam_ref(0.001, (0.9, 0.999), 1e-8, 0.0, true));
    check("AdamW", AdamW::default().eta(0.01).lambda(0.1), adam_ref(0.01, (0.9, 0.999), 1e-8, 0.1, true));
    check(
        "AdamW",
        AdamW::default().eta(0.01).lambda(0.1).couple(false),
        adam_ref(0.01, (0.9, 0.999), 1e-8, 0.1, false),
    );
}

#[test]
fn radam_rectifies_only_when_rho_exceeds_4() {
    for (eta, b) in [(0.001, (0.9, 0.999)), (0.1, (0.5, 0.6))] {
        let (mut m, mut v) = (vec![0.0; 5], vec![0.0; 5]);
        let rho_inf = 2.0 / (1.0 - b.1) - 1.0;
        check("RAdam", RAdam::default().eta(eta).beta(b), |t, x, g| {
            let (b1t, b2t) = (b.0.powi(t as i32), b.1.powi(t as i32));
            let rho = rho_inf - 2.0 * t as f64 * b2t / (1.0 - b2t);
            for i in 0..5 {
                m[i] = b.0 * m[i] + (1.0 - b.0) * g[i];
                v[i] = b.1 * v[i] + (1.0 - b.1) * g[i] * g[i];
                x[i] -= if rho > 4.0 {
                    let r = ((rho - 4.0) * (rho - 2.0) * rho_inf / ((rho_inf - 4.0) * (rho_inf - 2.0) * rho)).sqrt();
                    m[i] / (1.0 - b1t) / ((v[i] / (1.0 - b2t)).sqrt() + 1e-8) * eta * r
                } else {
                    m[i] / (1.0 - b1t) * eta
                };
            }
        });
    }
    // β₂ = 0.9: ρ∞ = 19, ρ exceeds 4 from step 4 on — both branches in one run.
    let b = (0.9, 0.9);
    let (mut m, mut v) = (vec![0.0; 5], vec![0.0; 5]);
    let rho_inf = 2.0 / (1.0 - b.1) - 1.0;
    let mut branches = (0, 0);
    check("RAdam", RAdam::default().eta(0.01).beta(b), |t, x, g| {
        let (b1t, b2t) = (b.0.powi(t as i32), b.1.powi(t as i32));
        let rho = rho_inf - 2.0 * t as f64 * b2t / (1.0 - b2t);
        for i in 0..5 {
            m[i] = b.0 * m[i] + (1.0 - b.0) * g[i];
            v[i] = b.1 * v[i] + (1.0 - b.1) * g[i] * g[i];
            x[i] -= if rho > 4.0 {
                let r = ((rho - 4.0) * (rho - 2.0) * rho_inf / ((rho_inf - 4.0) * (rho_inf - 2.0) * rho)).sqrt();
                m[i] / (1.0 - b1t) / ((v[i] / (1.0 - b2t)).sqrt() + 1e-8) * 0.01 * r
            } else {
                m[i] / (1.0 - b1t) * 0.01
            };
        }
        if rho > 4.0 { branches.1 += 1 } else { branches.0 += 1 }
    });
    assert!(branches.0 > 0 && branches.1 > 0, "{branches:?}");
}

#[test]
fn nadam_oadam_adamax() {
    for (eta, b) in [(0.001, (0.9, 0.999)), (0.02, (0.7, 0.95))] {
        let (mut m, mut v) = (vec![0.0; 5], vec![0.0; 5]);
        check("NAdam", NAdam::default().eta(eta).beta(b), move |t, x, g| {
            let (b1t, b2t) = (b.0.powi(t as i32), b.1.powi(t as i32));
            for i in 0..5 {
                m[i] = b.0 * m[i] + (1.0 - b.0) * g[i];
                v[i] = b.1 * v[i] + (1.0 - b.1) * g[i] * g[i];
                x[i] -= (b.0 * m[i] / (1.0 - b.0 * b1t) + (1.0 - b.0) * g[i] / (1.0 - b1t))
                    / ((v[i] * b.1 / (1.0 - b2t)).sqrt() + 1e-8)
                    * eta;
            }
        });
        let (mut m, mut u) = (vec![0.0; 5], vec![0.0; 5]);
        check("AdaMax", AdaMax::default().eta(eta).beta(b), move |t, x, g| {
            let b1t = b.0.powi(t as i32);
            for i in 0..5 {
                m[i] = b.0 * m[i] + (1.0 - b.0) * g[i];
                u[i] = (b.1 * u[i]).max(g[i].abs());
                x[i] -= (eta / (1.0 - b1t)) * m[i] / (u[i] + 1e-8);
            }
        });
    }
    for (eta, b) in [(0.001, (0.5, 0.9)), (0.05, (0.8, 0.99))] {
        let (mut m, mut v, mut term) = (vec![0.0; 5], vec![0.0; 5], vec![0.0; 5]);
        check("OAdam", OAdam::default().eta(eta).beta(b), move |t, x, g| {
            let (b1t, b2t) = (b.0.powi(t as i32), b.1.powi(t as i32));
            for i in 0..5 {
                m[i] = b.0 * m[i] + (1.0 - b.0) * g[i];
                v[i] = b.1 * v[i] + (1.0 - b.1) * g[i] * g[i];
                let prev = term[i];
                term[i] = eta * m[i] / (1.0 - b1t) / ((v[i] / (1.0 - b2t)).sqrt() + 1e-8);
                x[i] -= 2.0 * term[i] - prev;
            }
        });
    }
}

#[test]
fn adagrad_accumulator_starts_at_epsilon() {
    for (eta, eps) in [(0.1, 1e-8), (0.5, 0.25)] {
        let mut acc = [eps; 5];
        check("AdaGrad", AdaGrad { eta, epsilon: eps }, move |_, x, g| {
            for i in 0..5 {
                acc[i] += g[i] * g[i];
                x[i] -= g[i] * eta / (acc[i].sqrt() + eps);
            }
        });
    }
}

#[test]
fn adadelta() {
    for (rho, eps) in [(0.9, 1e-8), (0.5, 1e-3)] {
        let (mut acc, mut dacc) = (vec![0.0; 5], vec![0.0; 5]);
        check("AdaDelta", AdaDelta { rho, epsilon: eps }, move |_, x, g| {
            for i in 0..5 {
                acc[i] = rho * acc[i] + (1.0 - rho) * g[i] * g[i];
                let d = g[i] * (dacc[i] + eps).sqrt() / (acc[i] + eps).sqrt();
                dacc[i] = rho * dacc[i] + (1.0 - rho) * d * d;
                x[i] -= d;
            }
        });
    }
}

#[test]
fn amsgrad_and_adabelief() {
    for (eta, b) in [(0.001, (0.9, 0.999)), (0.03, (0.6, 0.8))] {
        let (mut m, mut v, mut h) = (vec![1e-8f64; 5], vec![1e-8f64; 5], vec![1e-8f64; 5]);
        check("AMSGrad", AMSGrad::default().eta(eta).beta(b), move |_, x, g| {
            for i in 0..5 {
                m[i] = b.0 * m[i] + (1.0 - b.0) * g[i];
                v[i] = b.1 * v[i] + (1.0 - b.1) * g[i] * g[i];
                h[i] = h[i].max(v[i]);
                x[i] -= eta * m[i] / (h[i].sqrt() + 1e-8);
            }
        });
        let (mut m, mut s) = (vec![0.0; 5], vec![0.0; 5]);
        check("AdaBelief", AdaBelief::default().eta(eta).beta(b), move |t, x, g| {
            let (b1t, b2t) = (b.0.powi(t as i32), b.1.powi(t as i32));
            for i in 0..5 {
                m[i] = b.0 * m[i] + (1.0 - b.0) * g[i];
                s[i] = b.1 * s[i] + (1.0 - b.1) * (g[i] - m[i]).powi(2) + 1e-16;
                x[i] -= eta * m[i] / (1.0 - b1t) / ((s[i] / (1.0 - b2t)).sqrt() + 1e-16);
            }
        });
    }
}

#[test]
fn lion_follows_the_paper() {
    for (eta, b) in [(0.001, (0.9, 0.999)), (0.1, (0.5, 0.7))] {
        let mut m = [0.0; 5];
        check("Lion", Lion { eta, beta: b }, move |_, x, g| {
            for i in 0..5 {
                let c = b.0 * m[i] + (1.0 - b.0) * g[i];
                x[i] -= eta * sign(c);
                m[i] = b.1 * m[i] + (1.0 - b.1) * g[i];
            }
        });
    }
}

#[test]
fn rprop_and_signum() {
    for (eta, ell, gamma) in [(1e-3, (0.5, 1.2), (1e-6, 50.0)), (0.1, (0.3, 2.0), (0.05, 0.3))] {
        let (mut prev, mut step) = (vec![0.0; 5], vec![eta; 5]);
        check("Rprop", Rprop { eta, ell, gamma }, move |_, x, g| {
            for i in 0..5 {
                let p = prev[i] * g[i];
                step[i] = if p > 0.0 {
                    (step[i] * ell.1).min(gamma.1)
                } else if p < 0.0 {
                    (step[i] * ell.0).max(gamma.0)
                } else {
                    step[i]
                };
                prev[i] = if p < 0.0 { 0.0 } else { g[i] };
                x[i] -= step[i] * sign(prev[i]);
            }
        });
    }
    for (eta, beta) in [(1e-3, 0.9), (0.2, 0.3)] {
        let mut m = [0.0; 5];
        check("Signum", Signum { eta, beta }, move |_, x, g| {
            for i in 0..5 {
                m[i] = beta * m[i] + (1.0 - beta) * g[i];
                x[i] -= eta * sign(m[i]);
            }
        });
    }
}

#[test]
fn decays_and_clipping() {
    for lambda in [5e-4, 0.3] {
        let rule = OptimiserChain::new(vec![Box::new(WeightDecay { lambda }), Box::new(Descent::new(0.1))]);
        check("WeightDecay", rule, move |_, x, g| (0..5).for_each(|i| x[i] -= 0.1 * (g[i] + lambda * x[i])));
        let rule = OptimiserChain::new(vec![Box::new(SignDecay { lambda }), Box::new(Descent::new(0.1))]);
        check("SignDecay", rule, move |_, x, g| (0..5).for_each(|i| x[i] -= 0.1 * (g[i] + lambda * sign(x[i]))));
    }
    for delta in [10.0, 0.4] {
        let rule = OptimiserChain::new(vec![Box::new(ClipGrad { delta }), Box::new(Descent::new(1.0))]);
        check("ClipGrad", rule, move |_, x, g| (0..5).for_each(|i| x[i] -= g[i].clamp(-delta, delta)));
    }
    for (omega, p) in [(10.0, 2.0), (0.5, 1.0), (1.0, f64::INFINITY), (0.7, 3.0)] {
        let rule = OptimiserChain::new(vec![Box::new(ClipNorm { omega, p, throw: true }), Box::new(Descent::new(1.0))]);
        check("ClipNorm", rule, move |_, x, g| {
            let norm = if p == f64::INFINITY {
                g.iter().fold(0.0f64, |m, v| m.max(v.abs()))
            } else {
                g.iter().map(|v| v.abs().powf(p)).sum::<f64>().powf(1.0 / p)
            };
            let scale = (omega / norm).min(1.0);
            (0..5).for_each(|i| x[i] -= g[i] * scale);
        });
    }
}

#[test]
fn chain_of_clipnorm_weightdecay_adam() {
    let rule = OptimiserChain::new(vec![
        Box::new(ClipNorm { omega: 1.5, p: 2.0, throw: true }),
        Box::new(WeightDecay { lambda: 0.01 }),
        Box::new(Adam::new(0.01)),
    ]);
    let (mut m, mut v) = (vec![0.0; 5], vec![0.0; 5]);
    check("chain", rule, move |t, x, g| {
        let norm = g.iter().map(|v| v * v).sum::<f64>().sqrt();
        let scale = (1.5 / norm).min(1.0);
        let (b1t, b2t) = (0.9f64.powi(t as i32), 0.999f64.powi(t as i32));
        for i in 0..5 {
            let d = g[i] * scale + 0.01 * x[i];
            m[i] = 0.9 * m[i] + 0.1 * d;
            v[i] = 0.999 * v[i] + 0.001 * d * d;
            x[i] -= m[i] / (1.0 - b1t) / ((v[i] / (1.0 - b2t)).sqrt() + 1e-8) * 0.01;
        }
    });
}

#[test]
fn accumgrad_averages_n_gradients() {
    for n in [1usize, 3] {
        let rule = OptimiserChain::new(vec![Box::new(AccumGrad::new(n)), Box::new(Descent::new(0.5))]);
        let mut acc = [0.0; 5];
        check("AccumGrad", rule, move |t, x, g| {
            for i in 0..5 {
                acc[i] += g[i] / n as f64;
            }
            if t % n == 0 {
                for i in 0..5 {
                    x[i] -= 0.5 * acc[i];
                    acc[i] = 0.0;
                }
            }
        });
    }
    assert!(setup(AccumGrad::new(0), &tree! { w: tensor(&X0) }).is_err());
}

#[test]
fn f32_parameters_follow_f32_arithmetic() {
    // Adam in f32 against the same formula evaluated in f32 (βᵗ advanced in f32).
    let mut ps = tree! { w: Tensor::from_vec(X0.iter().map(|&v| v as f32).collect(), &[5]).unwrap() };
    let mut opt = setup(Adam::new(0.01), &ps).unwrap();
    let (b1, b2, eta, eps) = (0.9f32, 0.999f32, 0.01f32, 1e-8f32);
    let (mut m, mut v, mut bt) = (vec![0.0f32; 5], vec![0.0f32; 5], (b1, b2));
    let mut x: Vec<f32> = X0.iter().map(|&v| v as f32).collect();
    for t in 1..=STEPS {
        let g: Vec<f32> = grad(t).iter().map(|&v| v as f32).collect();
        opt.update_mut(&mut ps, &tree! { w: Tensor::from_vec(g.clone(), &[5]).unwrap() }).unwrap();
        for i in 0..5 {
            m[i] = b1 * m[i] + (1.0 - b1) * g[i];
            v[i] = b2 * v[i] + (1.0 - b2) * (g[i] * g[i]);
            x[i] -= m[i] / (1.0 - bt.0) / ((v[i] / (1.0 - bt.1)).sqrt() + eps) * eta;
        }
        bt = (bt.0 * b1, bt.1 * b2);
        assert_eq!(ps.tensor("w").unwrap().to_vec::<f32>().unwrap(), x, "step {t}");
    }
}

#[test]
fn half_precision_parameters_update_in_their_own_buffer() {
    let mut ps = tree! { w: Tensor::from_vec(vec![1.0f32, -1.0], &[2]).unwrap().to_dtype(DType::F16).unwrap() };
    let mut opt = setup(Adam::new(0.1), &ps).unwrap();
    assert_eq!(opt.tree().tensor("w.m").unwrap().dtype(), DType::F16);
    let g = tree! { w: Tensor::from_vec(vec![1.0f32, -1.0], &[2]).unwrap().to_dtype(DType::F16).unwrap() };
    opt.update_mut(&mut ps, &g).unwrap();
    let w = ps.tensor("w").unwrap();
    assert_eq!(w.dtype(), DType::F16);
    let w = w.to_dtype(DType::F32).unwrap().to_vec::<f32>().unwrap();
    // first Adam step: η·sign(g), rounded to f16 (0.9 → 0.89990234375)
    assert_eq!(w, vec![0.89990234f32, -0.89990234]);
    assert_eq!(opt.tree().tensor("w.m").unwrap().dtype(), DType::F16);
}

#[test]
fn hyperparameters_validate_and_adjust() {
    let ps = tree! { w: tensor(&X0) };
    for bad in [-0.1, f64::NAN] {
        let err = setup(Adam::new(bad), &ps).unwrap_err().to_string();
        assert!(err.contains("learning rate cannot be negative"), "{err}");
    }
    let mut opt = setup(RMSProp::default(), &ps).unwrap();
    let err = opt.adjust_mut("centred", true).unwrap_err().to_string();
    assert!(err.contains("`centred` cannot be adjusted"), "{err}");
    let err = opt.adjust_mut("beta", 0.5).unwrap_err().to_string();
    assert!(err.contains("no hyper-parameter `beta`; its hyper-parameters are eta, rho, epsilon, centred"), "{err}");
    let err = opt.adjust_mut("rho", (0.5, 0.5)).unwrap_err().to_string();
    assert!(err.contains("wrong kind"), "{err}");
    opt.adjust_mut("rho", 0.5).unwrap();
    assert_eq!(opt.hyperparameter("rho").unwrap(), Hyper::Scalar(0.5));
}

#[test]
fn non_float_leaves_are_skipped_and_states_mirror_ps() {
    let mut ps = tree! {
        layer_1: tree! { weight: tensor(&[1.0, 2.0]), count: Tensor::from_vec(vec![5i64], &[1]).unwrap() },
        layer_2: tree! { flag: true, scale: 2.0 },
        empty: Tree::new(),
    };
    let mut opt = setup(Adam::default(), &ps).unwrap();
    assert_eq!(opt.tree().at("layer_1.count").unwrap(), &Tree::None);
    assert_eq!(opt.tree().at("layer_2.flag").unwrap(), &Tree::None);
    let g = tree! {
        layer_1: tree! { weight: tensor(&[1.0, 1.0]), count: Tree::None },
        layer_2: tree! { flag: Tree::None, scale: Tree::None },
        empty: Tree::new(),
    };
    opt.update_mut(&mut ps, &g).unwrap();
    assert_eq!(ps.tensor("layer_1.count").unwrap().to_vec::<i64>().unwrap(), vec![5]);
    assert!(ps.tensor("layer_1.weight").unwrap().to_vec::<f64>().unwrap()[0] < 1.0);
}

#[test]
fn mismatched_gradients_change_nothing() {
    let mut ps = tree! { a: tensor(&[1.0]), b: tensor(&[1.0, 2.0]) };
    let mut opt = setup(Adam::default(), &ps).unwrap();
    let before = (ps.clone(), opt.tree().clone());
    let cases = [
        (tree! { a: tensor(&[1.0]) }, "keys"),
        (tree! { a: tensor(&[1.0]), b: tensor(&[1.0]) }, "gradient [1] f64 for parameter [2] f64"),
        (
            tree! { a: tensor(&[1.0]), b: Tensor::from_vec(vec![1.0f32, 2.0], &[2]).unwrap() },
            "f32 for parameter [2] f64",
        ),
        (tree! { a: tensor(&[1.0]), b: 3.0 }, "where the parameter is a tensor"),
    ];
    for (g, msg) in cases {
        let err = opt.update_mut(&mut ps, &g).unwrap_err().to_string();
        assert!(err.contains(msg), "{err}");
        assert_eq!((&ps, opt.tree()), (&before.0, &before.1));
    }
}

#[test]
fn rules_print_as_optimisers_jl() {
    let cases: Vec<(Box<dyn Rule>, &str)> = vec![
        (Box::new(Adam::default()), "Adam(eta=0.001, beta=(0.9, 0.999), epsilon=1.0e-8)"),
        (Box::new(Descent::default()), "Descent(eta=0.1)"),
        (Box::new(Momentum::default()), "Momentum(eta=0.01, rho=0.9)"),
        (Box::new(AdaGrad::default()), "AdaGrad(eta=0.1, epsilon=1.0e-8)"),
        (Box::new(ClipNorm::default()), "ClipNorm(omega=10.0, p=2.0, throw=true)"),
        (Box::new(AccumGrad::new(4)), "AccumGrad(n=4)"),
    ];
    for (rule, want) in cases {
        assert_eq!(rule.to_string(), want);
    }
}

#[test]
fn adam_epsilon_is_at_least_1e_minus_7_for_f16_parameters() {
    // One Adam step with a tiny gradient g: Δ = η·g/(|g| + ε) in the compute
    // type, so ε decides the step. For f16 storage ε = max(1e-8, 1e-7).
    let g16 = Tensor::from_vec(vec![1e-7f32], &[1]).unwrap().to_dtype(DType::F16).unwrap();
    let g = g16.to_dtype(DType::F32).unwrap().to_vec::<f32>().unwrap()[0] as f64;
    let step = |dtype: DType| {
        let mut ps = tree! { w: Tensor::from_vec(vec![1.0f32], &[1]).unwrap().to_dtype(dtype).unwrap() };
        let mut opt = setup(Adam::new(0.5), &ps).unwrap();
        opt.update_mut(&mut ps, &tree! { w: g16.to_dtype(dtype).unwrap() }).unwrap();
        ps.tensor("w").unwrap().to_dtype(DType::F64).unwrap().to_vec::<f64>().unwrap()[0]
    };
    let want = |eps: f64| 1.0 - 0.5 * g / (g + eps);
    assert!((step(DType::F16) - want(1e-7)).abs() < 1e-3, "{} vs {}", step(DType::F16), want(1e-7));
    // f32 keeps ε = 1e-8: a much larger step
    assert!((step(DType::F32) - want(1e-8)).abs() < 1e-6, "{} vs {}", step(DType::F32), want(1e-8));
}

/// Adam's fused pass runs compiled for the widest vector unit found at run
/// time: every instruction set gives the same f32 bits, on a buffer short
/// enough for one thread and one long enough to be split over the pool, and
/// the result follows the f64 reference to f32 round-off.
#[test]
fn adam_f32_gives_the_same_bits_at_every_simd_level() {
    use lux_core::simd::{SimdLevel, set_simd_level, simd_level};
    let widest = simd_level();
    let levels: Vec<SimdLevel> =
        [SimdLevel::Baseline, SimdLevel::Avx2, SimdLevel::Avx512].into_iter().filter(|l| *l <= widest).collect();
    let outcome = std::panic::catch_unwind(|| {
        for n in [1000usize, 70_000] {
            let x0: Vec<f64> = (0..n).map(|i| ((i as f64) * 0.37).sin() * 2.0).collect();
            let g_at = |t: usize| -> Vec<f64> { (0..n).map(|i| ((i * t) as f64 * 0.11).cos() * (t as f64)).collect() };
            let f32s = |v: &[f64]| Tensor::from_vec(v.iter().map(|&x| x as f32).collect::<Vec<_>>(), &[n]).unwrap();
            let run_at = |level: SimdLevel| -> Vec<u32> {
                set_simd_level(level);
                let mut ps = tree! { w: f32s(&x0) };
                let mut opt = OptState::new(Box::new(Adam::new(0.01)), &ps).unwrap();
                for t in 1..=3 {
                    opt.update_mut(&mut ps, &tree! { w: f32s(&g_at(t)) }).unwrap();
                }
                ps.tensor("w").unwrap().to_vec::<f32>().unwrap().iter().map(|v| v.to_bits()).collect()
            };
            let reference = run_at(SimdLevel::Baseline);
            for &level in &levels[1..] {
                assert!(run_at(level) == reference, "n = {n}: {level:?} differs from the baseline");
            }
            // The f64 reference, from the f32 run's starting point and gradients.
            let (mut x, mut m, mut v) =
                (x0.iter().map(|&x| x as f32 as f64).collect::<Vec<_>>(), vec![0.0; n], vec![0.0; n]);
            let (b1, b2, eps, eta) = (0.9f64, 0.999f64, 1e-8, 0.01);
            for t in 1..=3 {
                let (c1, c2) = (1.0 - b1.powi(t as i32), 1.0 - b2.powi(t as i32));
                for (i, g) in g_at(t).into_iter().enumerate() {
                    let g = g as f32 as f64;
                    m[i] = b1 * m[i] + (1.0 - b1) * g;
                    v[i] = b2 * v[i] + (1.0 - b2) * g * g;
                    x[i] -= eta * m[i] / c1 / ((v[i] / c2).sqrt() + eps);
                }
            }
            for (i, (&got, want)) in reference.iter().zip(&x).enumerate() {
                let got = f32::from_bits(got) as f64;
                assert!((got - want).abs() <= 1e-6 * (1.0 + want.abs()), "n = {n}, element {i}: {got} vs f64 {want}");
            }
        }
    });
    set_simd_level(widest);
    if let Err(e) = outcome {
        std::panic::resume_unwind(e);
    }
}
