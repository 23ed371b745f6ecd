//! The classification losses: values against independent f64 references,
//! gradient checks, stability and bad input.

use lux_ad::{Tolerances, check_gradients};
use lux_core::{DType, Result, Tensor, Tree, tree};
use lux_losses::{
    Agg, BinaryCrossEntropyLoss, BinaryFocalLoss, CrossEntropyLoss, FocalLoss, KLDivergenceLoss, LossFunction,
};

/// Pseudo-random probabilities rows (each row of `cols` sums to 1), f64.
fn probs(rows: usize, cols: usize, seed: u64) -> Vec<f64> {
    let mut s = seed;
    let mut v: Vec<f64> = (0..rows * cols)
        .map(|_| {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            0.1 + ((s >> 33) as f64 / (1u64 << 31) as f64)
        })
        .collect();
    for r in 0..rows {
        let t: f64 = v[r * cols..(r + 1) * cols].iter().sum();
        v[r * cols..(r + 1) * cols].iter_mut().for_each(|x| *x /= t);
    }
    v
}

fn one_hot_rows(labels: &[usize], cols: usize) -> Vec<f64> {
    let mut v = vec![0.0; labels.len() * cols];
    labels.iter().enumerate().for_each(|(r, &l)| v[r * cols + l] = 1.0);
    v
}

/// The reference per-sample cross-entropy along the last axis.
fn ce_ref(p: &[f64], y: &[f64], cols: usize, eps: f64, alpha: f64, logits: bool) -> Vec<f64> {
    (0..p.len() / cols)
        .map(|r| {
            let (pr, yr) = (&p[r * cols..(r + 1) * cols], &y[r * cols..(r + 1) * cols]);
            let lse = pr.iter().map(|x| x.exp()).sum::<f64>().ln();
            (0..cols)
                .map(|c| {
                    let yt = (1.0 - alpha) * yr[c] + alpha / cols as f64;
                    let lp = if logits { pr[c] - lse } else { (pr[c] + eps).ln() };
                    if yt == 0.0 { 0.0 } else { -yt * lp }
                })
                .sum()
        })
        .collect()
}

fn t(v: &[f64], shape: &[usize], dtype: DType) -> Tensor {
    Tensor::from_vec(v.to_vec(), shape).unwrap().to_dtype(dtype).unwrap()
}

fn close(got: &Tensor, want: &[f64], tol: f64) {
    let g = got.to_dtype(DType::F64).unwrap().to_vec::<f64>().unwrap();
    assert_eq!(g.len(), want.len(), "{g:?} vs {want:?}");
    for (a, b) in g.iter().zip(want) {
        assert!((a - b).abs() <= tol * (1.0 + b.abs()), "{g:?} vs {want:?}");
    }
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

fn grad_check(f: impl Fn(&Tensor) -> Result<Tensor>, x: &Tensor) {
    let ps = tree! { x: x.clone() };
    let g = |t: &Tree| f(t.tensor("x")?);
    if let Err(e) = check_gradients(g, &ps, Tolerances { atol: 1e-6, rtol: 1e-5 }) {
        panic!("{e}");
    }
}

#[test]
fn cross_entropy_values_for_every_option() {
    let (rows, cols) = (4, 3);
    let p = probs(rows, cols, 7);
    let labels = [2usize, 0, 1, 2];
    let y = one_hot_rows(&labels, cols);
    let soft = probs(rows, cols, 11);
    for (dtype, tol) in [(DType::F32, 1e-5), (DType::F64, 1e-12)] {
        let (pt, yt, st) = (t(&p, &[rows, cols], dtype), t(&y, &[rows, cols], dtype), t(&soft, &[rows, cols], dtype));
        let eps = if dtype == DType::F32 { f32::EPSILON as f64 } else { f64::EPSILON };
        let r = ce_ref(&p, &y, cols, eps, 0.0, false);
        close(&CrossEntropyLoss::new().call(&pt, &yt).unwrap(), &[mean(&r)], tol);
        close(&CrossEntropyLoss::new().agg(Agg::Sum).call(&pt, &yt).unwrap(), &[r.iter().sum()], tol);
        close(&CrossEntropyLoss::new().agg(Agg::None).call(&pt, &yt).unwrap(), &r, tol);
        let max = Agg::custom(|l| l.max_all());
        close(
            &CrossEntropyLoss::new().agg(max).call(&pt, &yt).unwrap(),
            &[r.iter().cloned().fold(f64::MIN, f64::max)],
            tol,
        );
        // soft targets, explicit epsilon, smoothing
        let r = ce_ref(&p, &soft, cols, 0.01, 0.0, false);
        close(&CrossEntropyLoss::new().epsilon(0.01).call(&pt, &st).unwrap(), &[mean(&r)], tol);
        let r = ce_ref(&p, &y, cols, eps, 0.2, false);
        close(&CrossEntropyLoss::new().label_smoothing(0.2).call(&pt, &yt).unwrap(), &[mean(&r)], tol);
        // logits
        let r = ce_ref(&p, &y, cols, 0.0, 0.1, true);
        close(&CrossEntropyLoss::new().logits(true).label_smoothing(0.1).call(&pt, &yt).unwrap(), &[mean(&r)], tol);
        // class indices equal one-hot
        let idx = Tensor::from_vec(labels.iter().map(|&l| l as i64).collect(), &[rows]).unwrap();
        let r = ce_ref(&p, &y, cols, eps, 0.0, false);
        close(&CrossEntropyLoss::new().call(&pt, &idx).unwrap(), &[mean(&r)], tol);
        let r = ce_ref(&p, &y, cols, 0.0, 0.0, true);
        close(&CrossEntropyLoss::new().logits(true).call(&pt, &idx).unwrap(), &[mean(&r)], tol);
        // bool one-hot targets
        let yb = Tensor::from_vec(y.iter().map(|&v| v == 1.0).collect::<Vec<bool>>(), &[rows, cols]).unwrap();
        let r = ce_ref(&p, &y, cols, eps, 0.0, false);
        close(&CrossEntropyLoss::new().call(&pt, &yb).unwrap(), &[mean(&r)], tol);
    }
}

#[test]
fn cross_entropy_on_another_axis() {
    // classes on axis 0 ([3, 4]): the transpose of the last-axis case.
    let (rows, cols) = (4, 3);
    let p = probs(rows, cols, 3);
    let labels = [1usize, 0, 2, 2];
    let y = one_hot_rows(&labels, cols);
    let r = ce_ref(&p, &y, cols, f64::EPSILON, 0.3, false);
    let pt = t(&p, &[rows, cols], DType::F64).transpose(0, 1).unwrap();
    let yt = t(&y, &[rows, cols], DType::F64).transpose(0, 1).unwrap();
    let l = CrossEntropyLoss::new().dims(0).label_smoothing(0.3);
    close(&l.clone().agg(Agg::None).call(&pt, &yt).unwrap(), &r, 1e-12);
    let idx = Tensor::from_vec(labels.iter().map(|&l| l as i64).collect(), &[rows]).unwrap();
    close(&l.agg(Agg::None).call(&pt, &idx).unwrap(), &r, 1e-12);
}

#[test]
fn cross_entropy_of_identical_targets_with_epsilon_zero_is_the_entropy() {
    // Lux: CrossEntropyLoss(epsilon = 0) of one-hot ŷ = y is exactly zero.
    let y = t(&one_hot_rows(&[0, 2], 3), &[2, 3], DType::F64);
    assert_eq!(CrossEntropyLoss::new().epsilon(0.0).call(&y, &y).unwrap().to_scalar::<f64>().unwrap(), 0.0);
}

#[test]
fn cross_entropy_gradients() {
    let p = t(&probs(3, 4, 5), &[3, 4], DType::F64);
    let soft = t(&probs(3, 4, 9), &[3, 4], DType::F64);
    let idx = Tensor::from_vec(vec![3i64, 0, 1], &[3]).unwrap();
    grad_check(|x| CrossEntropyLoss::new().call(x, &soft), &p);
    grad_check(|x| CrossEntropyLoss::new().label_smoothing(0.2).agg(Agg::Sum).call(x, &idx), &p);
    grad_check(|x| CrossEntropyLoss::new().logits(true).call(x, &idx), &p);
    grad_check(|x| CrossEntropyLoss::new().logits(true).dims(0).label_smoothing(0.1).call(x, &soft), &p);
}

#[test]
fn cross_entropy_is_stable_at_large_logits() {
    let x = Tensor::from_vec(vec![1e4f64, -1e4, 0.0, -1e4, 1e4, 5.0], &[2, 3]).unwrap();
    let idx = Tensor::from_vec(vec![1i64, 1], &[2]).unwrap();
    let loss = CrossEntropyLoss::new().logits(true);
    let v = loss.call(&x, &idx).unwrap().to_scalar::<f64>().unwrap();
    assert!((v - 1e4).abs() < 1e-6, "{v}"); // row 0 costs 2e4, row 1 costs 0
    let ps = tree! { x: x.clone() };
    let (_, g) = lux_ad::value_and_gradient(|t: &Tree| loss.call(t.tensor("x")?, &idx), &ps).unwrap();
    let g = g.tensor("x").unwrap().to_vec::<f64>().unwrap();
    assert!(g.iter().all(|v| v.is_finite()), "{g:?}");
    close(&Tensor::from_vec(g, &[6]).unwrap(), &[0.5, -0.5, 0.0, 0.0, 0.0, 0.0], 1e-12);
}

#[test]
fn cross_entropy_bad_input() {
    let p = t(&probs(2, 3, 1), &[2, 3], DType::F32);
    let e = CrossEntropyLoss::new().call(&p, &Tensor::zeros(&[2, 4], DType::F32).unwrap()).unwrap_err().to_string();
    assert!(e.contains("CrossEntropyLoss") && e.contains("[2, 3]") && e.contains("[2, 4]"), "{e}");
    let e = CrossEntropyLoss::new().call(&p, &Tensor::from_vec(vec![0i64, 3], &[2]).unwrap()).unwrap_err().to_string();
    assert!(e.contains("label 3") && e.contains("3 classes"), "{e}");
    let e = CrossEntropyLoss::new().call(&p, &Tensor::from_vec(vec![0i64, -1], &[2]).unwrap()).unwrap_err().to_string();
    assert!(e.contains("label -1"), "{e}");
    let e =
        CrossEntropyLoss::new().call(&p, &Tensor::from_vec(vec![0i64, 1, 2], &[3]).unwrap()).unwrap_err().to_string();
    assert!(e.contains("[3]") && e.contains("[2, 3]"), "{e}");
    for (l, what) in [
        (CrossEntropyLoss::new().label_smoothing(1.5), "1.5"),
        (CrossEntropyLoss::new().label_smoothing(f64::NAN), "NaN"),
        (CrossEntropyLoss::new().epsilon(-1.0), "-1"),
        (CrossEntropyLoss::new().dims(2), "axis 2"),
    ] {
        let e = l.call(&p, &p).unwrap_err().to_string();
        assert!(e.contains("CrossEntropyLoss") && e.contains(what), "{e}");
    }
    let e = CrossEntropyLoss::new().call(&Tensor::zeros(&[2, 3], DType::I64).unwrap(), &p).unwrap_err().to_string();
    assert!(e.contains("CrossEntropyLoss"), "{e}");
}

fn xlogy(x: f64, y: f64) -> f64 {
    if x == 0.0 { 0.0 } else { x * y.ln() }
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// The reference elementwise binary cross-entropy.
fn bce_ref(p: &[f64], y: &[f64], eps: f64, alpha: f64, logits: bool) -> Vec<f64> {
    p.iter()
        .zip(y)
        .map(|(&p, &y)| {
            let y = (1.0 - alpha) * y + alpha * 0.5;
            if logits {
                -y * sigmoid(p).ln() - (1.0 - y) * (1.0 - sigmoid(p)).ln()
            } else {
                -xlogy(y, p + eps) - xlogy(1.0 - y, 1.0 - p + eps)
            }
        })
        .collect()
}

const P: [f64; 6] = [0.1, 0.8, 0.35, 0.6, 0.9, 0.25];
const Y: [f64; 6] = [0.0, 1.0, 1.0, 0.0, 1.0, 0.0];
const SOFT: [f64; 6] = [0.2, 0.7, 0.5, 0.1, 0.9, 0.4];
const X: [f64; 6] = [-1.5, 0.7, 2.2, -0.3, 1.1, -2.4];

#[test]
fn binary_cross_entropy_values_for_every_option() {
    for (dtype, tol) in [(DType::F32, 1e-5), (DType::F64, 1e-12)] {
        let (pt, yt, st, xt) =
            (t(&P, &[3, 2], dtype), t(&Y, &[3, 2], dtype), t(&SOFT, &[3, 2], dtype), t(&X, &[3, 2], dtype));
        let eps = if dtype == DType::F32 { f32::EPSILON as f64 } else { f64::EPSILON };
        let r = bce_ref(&P, &Y, eps, 0.0, false);
        close(&BinaryCrossEntropyLoss::new().call(&pt, &yt).unwrap(), &[mean(&r)], tol);
        close(&BinaryCrossEntropyLoss::new().agg(Agg::Sum).call(&pt, &yt).unwrap(), &[r.iter().sum()], tol);
        close(&BinaryCrossEntropyLoss::new().agg(Agg::None).call(&pt, &yt).unwrap(), &r, tol);
        let first = Agg::custom(|l| l.sum(&[0], false));
        let cols: Vec<f64> = (0..2).map(|c| r[c] + r[2 + c] + r[4 + c]).collect();
        close(&BinaryCrossEntropyLoss::new().agg(first).call(&pt, &yt).unwrap(), &cols, tol);
        let r = bce_ref(&P, &SOFT, 0.0, 0.0, false);
        close(&BinaryCrossEntropyLoss::new().epsilon(0.0).call(&pt, &st).unwrap(), &[mean(&r)], tol);
        let r = bce_ref(&P, &Y, 0.0, 0.2, false);
        close(
            &BinaryCrossEntropyLoss::new().epsilon(0.0).label_smoothing(0.2).call(&pt, &yt).unwrap(),
            &[mean(&r)],
            tol,
        );
        let r = bce_ref(&X, &Y, 0.0, 0.0, true);
        close(&BinaryCrossEntropyLoss::new().logits(true).call(&xt, &yt).unwrap(), &[mean(&r)], tol);
        let r = bce_ref(&X, &SOFT, 0.0, 0.3, true);
        close(
            &BinaryCrossEntropyLoss::new().logits(true).label_smoothing(0.3).call(&xt, &st).unwrap(),
            &[mean(&r)],
            tol,
        );
        // bool targets; a scalar target broadcasts (Lux: bce(ŷ, 1))
        let yb = Tensor::from_vec(Y.iter().map(|&v| v == 1.0).collect::<Vec<bool>>(), &[3, 2]).unwrap();
        let r = bce_ref(&P, &Y, eps, 0.0, false);
        close(&BinaryCrossEntropyLoss::new().call(&pt, &yb).unwrap(), &[mean(&r)], tol);
        let r = bce_ref(&P, &[1.0; 6], eps, 0.0, false);
        close(&BinaryCrossEntropyLoss::new().call(&pt, &Tensor::scalar(1.0f64)).unwrap(), &[mean(&r)], tol);
    }
}

#[test]
fn binary_cross_entropy_logits_match_probabilities_and_are_stable() {
    let x = t(&X, &[6], DType::F64);
    let y = t(&SOFT, &[6], DType::F64);
    let a = BinaryCrossEntropyLoss::new().logits(true).label_smoothing(0.1).call(&x, &y).unwrap();
    let b = BinaryCrossEntropyLoss::new()
        .epsilon(0.0)
        .label_smoothing(0.1)
        .call(&lux_ops::sigmoid(&x).unwrap(), &y)
        .unwrap();
    close(&a, &[b.to_scalar::<f64>().unwrap()], 1e-12);
    let x = Tensor::from_vec(vec![1e4f64, -1e4, 1e4, -1e4], &[4]).unwrap();
    let y = Tensor::from_vec(vec![1.0f64, 0.0, 0.0, 1.0], &[4]).unwrap();
    let loss = BinaryCrossEntropyLoss::new().logits(true).agg(Agg::None);
    close(&loss.call(&x, &y).unwrap(), &[0.0, 0.0, 1e4, 1e4], 1e-12);
    let ps = tree! { x: x.clone() };
    let (_, g) =
        lux_ad::value_and_gradient(|t: &Tree| loss.clone().agg(Agg::Sum).call(t.tensor("x")?, &y), &ps).unwrap();
    close(g.tensor("x").unwrap(), &[0.0, 0.0, 1.0, -1.0], 1e-12);
}

#[test]
fn binary_cross_entropy_gradients() {
    let p = t(&P, &[3, 2], DType::F64);
    let x = t(&X, &[3, 2], DType::F64);
    let y = t(&SOFT, &[3, 2], DType::F64);
    grad_check(|v| BinaryCrossEntropyLoss::new().call(v, &y), &p);
    grad_check(|v| BinaryCrossEntropyLoss::new().label_smoothing(0.2).agg(Agg::Sum).call(v, &y), &p);
    grad_check(|v| BinaryCrossEntropyLoss::new().logits(true).label_smoothing(0.1).call(v, &y), &x);
}

/// The reference elementwise binary focal loss.
fn bfocal_ref(p: &[f64], y: &[f64], gamma: f64, eps: f64) -> Vec<f64> {
    p.iter()
        .zip(y)
        .map(|(&p, &y)| {
            let pe = p + eps;
            let pt = y * pe + (1.0 - y) * (1.0 - pe);
            -(1.0 - pt).powf(gamma) * pt.ln()
        })
        .collect()
}

#[test]
fn binary_focal_values_for_every_option() {
    for (dtype, tol) in [(DType::F32, 1e-5), (DType::F64, 1e-12)] {
        let (pt, yt) = (t(&P, &[3, 2], dtype), t(&Y, &[3, 2], dtype));
        let eps = if dtype == DType::F32 { f32::EPSILON as f64 } else { f64::EPSILON };
        let r = bfocal_ref(&P, &Y, 2.0, eps);
        close(&BinaryFocalLoss::new().call(&pt, &yt).unwrap(), &[mean(&r)], tol);
        close(&BinaryFocalLoss::new().agg(Agg::Sum).call(&pt, &yt).unwrap(), &[r.iter().sum()], tol);
        close(&BinaryFocalLoss::new().agg(Agg::None).call(&pt, &yt).unwrap(), &r, tol);
        let r = bfocal_ref(&P, &Y, 1.5, 0.01);
        close(&BinaryFocalLoss::new().gamma(1.5).epsilon(0.01).call(&pt, &yt).unwrap(), &[mean(&r)], tol);
        // γ = 0 is the binary cross-entropy
        let bce = BinaryCrossEntropyLoss::new().epsilon(0.0).call(&pt, &yt).unwrap();
        let bce = bce.to_dtype(DType::F64).unwrap().to_scalar::<f64>().unwrap();
        close(&BinaryFocalLoss::new().gamma(0.0).epsilon(0.0).call(&pt, &yt).unwrap(), &[bce], tol);
    }
}

#[test]
fn binary_focal_gradients_and_bad_input() {
    let p = t(&P, &[3, 2], DType::F64);
    let y = t(&Y, &[3, 2], DType::F64);
    grad_check(|v| BinaryFocalLoss::new().call(v, &y), &p);
    grad_check(|v| BinaryFocalLoss::new().gamma(0.5).agg(Agg::Sum).call(v, &y), &p);
    for (l, what) in [(BinaryFocalLoss::new().gamma(-1.0), "-1"), (BinaryFocalLoss::new().gamma(f64::NAN), "NaN")] {
        let e = l.call(&p, &y).unwrap_err().to_string();
        assert!(e.contains("BinaryFocalLoss") && e.contains("gamma") && e.contains(what), "{e}");
    }
    let e = BinaryFocalLoss::new().call(&p, &Tensor::zeros(&[2, 3], DType::F64).unwrap()).unwrap_err().to_string();
    assert!(e.contains("[3, 2]") && e.contains("[2, 3]"), "{e}");
}

#[test]
fn binary_cross_entropy_bad_input() {
    let p = t(&P, &[3, 2], DType::F32);
    let e =
        BinaryCrossEntropyLoss::new().call(&p, &Tensor::zeros(&[3, 3], DType::F32).unwrap()).unwrap_err().to_string();
    assert!(e.contains("BinaryCrossEntropyLoss") && e.contains("[3, 2]") && e.contains("[3, 3]"), "{e}");
    for (l, what) in [
        (BinaryCrossEntropyLoss::new().label_smoothing(-0.1), "-0.1"),
        (BinaryCrossEntropyLoss::new().label_smoothing(f64::NAN), "NaN"),
        (BinaryCrossEntropyLoss::new().epsilon(f64::INFINITY), "inf"),
    ] {
        let e = l.call(&p, &p).unwrap_err().to_string();
        assert!(e.contains("BinaryCrossEntropyLoss") && e.contains(what), "{e}");
    }
    let e =
        BinaryCrossEntropyLoss::new().call(&Tensor::zeros(&[3, 2], DType::I64).unwrap(), &p).unwrap_err().to_string();
    assert!(e.contains("BinaryCrossEntropyLoss"), "{e}");
}

/// The reference per-sample focal loss along the last axis.
fn focal_ref(p: &[f64], y: &[f64], cols: usize, gamma: f64, eps: f64) -> Vec<f64> {
    (0..p.len() / cols)
        .map(|r| (r * cols..(r + 1) * cols).map(|i| -y[i] * (1.0 - p[i] - eps).powf(gamma) * (p[i] + eps).ln()).sum())
        .collect()
}

#[test]
fn focal_values_for_every_option() {
    let (rows, cols) = (4, 3);
    let p = probs(rows, cols, 21);
    let y = one_hot_rows(&[0, 2, 1, 1], cols);
    let soft = probs(rows, cols, 22);
    for (dtype, tol) in [(DType::F32, 1e-5), (DType::F64, 1e-12)] {
        let (pt, yt, st) = (t(&p, &[rows, cols], dtype), t(&y, &[rows, cols], dtype), t(&soft, &[rows, cols], dtype));
        let eps = if dtype == DType::F32 { f32::EPSILON as f64 } else { f64::EPSILON };
        let r = focal_ref(&p, &y, cols, 2.0, eps);
        close(&FocalLoss::new().call(&pt, &yt).unwrap(), &[mean(&r)], tol);
        close(&FocalLoss::new().agg(Agg::Sum).call(&pt, &yt).unwrap(), &[r.iter().sum()], tol);
        close(&FocalLoss::new().agg(Agg::None).call(&pt, &yt).unwrap(), &r, tol);
        let r = focal_ref(&p, &soft, cols, 0.7, 0.01);
        close(&FocalLoss::new().gamma(0.7).epsilon(0.01).call(&pt, &st).unwrap(), &[mean(&r)], tol);
        // γ = 0 is the cross-entropy
        let ce =
            CrossEntropyLoss::new().call(&pt, &st).unwrap().to_dtype(DType::F64).unwrap().to_scalar::<f64>().unwrap();
        close(&FocalLoss::new().gamma(0.0).call(&pt, &st).unwrap(), &[ce], tol);
    }
    // classes on axis 0
    let r = focal_ref(&p, &soft, cols, 2.0, f64::EPSILON);
    let pt = t(&p, &[rows, cols], DType::F64).transpose(0, 1).unwrap();
    let st = t(&soft, &[rows, cols], DType::F64).transpose(0, 1).unwrap();
    close(&FocalLoss::new().dims(0).agg(Agg::None).call(&pt, &st).unwrap(), &r, 1e-12);
}

#[test]
fn focal_gradients_and_bad_input() {
    let p = t(&probs(3, 4, 31), &[3, 4], DType::F64);
    let y = t(&probs(3, 4, 32), &[3, 4], DType::F64);
    grad_check(|v| FocalLoss::new().call(v, &y), &p);
    grad_check(|v| FocalLoss::new().gamma(1.5).dims(0).agg(Agg::Sum).call(v, &y), &p);
    for (l, what) in [
        (FocalLoss::new().gamma(-2.0), "-2"),
        (FocalLoss::new().gamma(f64::NAN), "NaN"),
        (FocalLoss::new().epsilon(-0.5), "-0.5"),
        (FocalLoss::new().dims(-3), "axis -3"),
    ] {
        let e = l.call(&p, &y).unwrap_err().to_string();
        assert!(e.contains("FocalLoss") && e.contains(what), "{e}");
    }
    let e = FocalLoss::new().call(&p, &Tensor::zeros(&[4, 3], DType::F64).unwrap()).unwrap_err().to_string();
    assert!(e.contains("[3, 4]") && e.contains("[4, 3]"), "{e}");
}

/// The reference per-sample KL divergence along the last axis (α smooths
/// the cross-entropy term only).
fn kl_ref(p: &[f64], y: &[f64], cols: usize, eps: f64, alpha: f64) -> Vec<f64> {
    let ce = ce_ref(p, y, cols, eps, alpha, false);
    (0..p.len() / cols).map(|r| (r * cols..(r + 1) * cols).map(|i| xlogy(y[i], y[i])).sum::<f64>() + ce[r]).collect()
}

#[test]
fn kl_divergence_values_for_every_option() {
    let (rows, cols) = (3, 4);
    let p = probs(rows, cols, 41);
    let y = probs(rows, cols, 42);
    for (dtype, tol) in [(DType::F32, 1e-5), (DType::F64, 1e-12)] {
        let (pt, yt) = (t(&p, &[rows, cols], dtype), t(&y, &[rows, cols], dtype));
        let eps = if dtype == DType::F32 { f32::EPSILON as f64 } else { f64::EPSILON };
        let r = kl_ref(&p, &y, cols, eps, 0.0);
        close(&KLDivergenceLoss::new().call(&pt, &yt).unwrap(), &[mean(&r)], tol);
        close(&KLDivergenceLoss::new().agg(Agg::Sum).call(&pt, &yt).unwrap(), &[r.iter().sum()], tol);
        close(&KLDivergenceLoss::new().agg(Agg::None).call(&pt, &yt).unwrap(), &r, tol);
        let r = kl_ref(&p, &y, cols, 0.02, 0.25);
        close(&KLDivergenceLoss::new().epsilon(0.02).label_smoothing(0.25).call(&pt, &yt).unwrap(), &[mean(&r)], tol);
        // KL(y, y) = 0 with ε = 0
        close(&KLDivergenceLoss::new().epsilon(0.0).call(&yt, &yt).unwrap(), &[0.0], tol);
    }
    let r = kl_ref(&p, &y, cols, f64::EPSILON, 0.0);
    let pt = t(&p, &[rows, cols], DType::F64).transpose(0, 1).unwrap();
    let yt = t(&y, &[rows, cols], DType::F64).transpose(0, 1).unwrap();
    close(&KLDivergenceLoss::new().dims(0).agg(Agg::None).call(&pt, &yt).unwrap(), &r, 1e-12);
}

#[test]
fn kl_divergence_gradients_and_bad_input() {
    let p = t(&probs(3, 4, 51), &[3, 4], DType::F64);
    let y = t(&one_hot_rows(&[1, 3, 0], 4), &[3, 4], DType::F64);
    grad_check(|v| KLDivergenceLoss::new().call(v, &y), &p);
    grad_check(|v| KLDivergenceLoss::new().label_smoothing(0.1).dims(0).agg(Agg::Sum).call(v, &y), &p);
    for (l, what) in [
        (KLDivergenceLoss::new().label_smoothing(2.0), "2"),
        (KLDivergenceLoss::new().epsilon(f64::NAN), "NaN"),
        (KLDivergenceLoss::new().dims(5), "axis 5"),
    ] {
        let e = l.call(&p, &y).unwrap_err().to_string();
        assert!(e.contains("KLDivergenceLoss") && e.contains(what), "{e}");
    }
    let e = KLDivergenceLoss::new().call(&p, &Tensor::zeros(&[3, 5], DType::F64).unwrap()).unwrap_err().to_string();
    assert!(e.contains("KLDivergenceLoss") && e.contains("[3, 4]") && e.contains("[3, 5]"), "{e}");
    let e = KLDivergenceLoss::new().call(&Tensor::zeros(&[3, 4], DType::I64).unwrap(), &p).unwrap_err().to_string();
    assert!(e.contains("KLDivergenceLoss"), "{e}");
}

fn f64s(v: &[f64], shape: &[usize]) -> Tensor {
    Tensor::from_vec(v.to_vec(), shape).unwrap()
}

fn val(l: &dyn LossFunction, p: &Tensor, y: &Tensor) -> f64 {
    l.call(p, y).unwrap().to_dtype(DType::F64).unwrap().to_scalar::<f64>().unwrap()
}

fn approx(a: f64, b: f64) {
    assert!((a - b).abs() <= 1e-8 * (1.0 + b.abs()), "{a} vs {b}");
}

/// Lux's test/misc/helpers/loss_tests.jl, the classification cases, batch-first.
#[test]
fn lux_classification_suite() {
    let ce = CrossEntropyLoss::new();
    approx(
        val(&ce, &f64s(&[0.1, 0.0, 0.9], &[3]), &f64s(&[0.1, 0.0, 0.9], &[3])),
        val(&ce, &f64s(&[0.1, 0.9], &[2]), &f64s(&[0.1, 0.9], &[2])),
    );
    // y = onehotbatch([1, 1, 0, 0], 0:1); ŷ and logŷ as in Lux
    let y = f64s(&[0., 1., 0., 1., 1., 0., 1., 0.], &[4, 2]);
    let y_smoothed = y.mul_scalar(0.9).unwrap().add_scalar(0.05).unwrap();
    let p = f64s(&[0.1, 0.9, 0.9, 0.1, 0.9, 0.1, 0.1, 0.9], &[4, 2]);
    let v = (0.1f64 / 0.9).ln();
    let logp = f64s(&[v, 0., 0., v, 0., v, v, 0.], &[4, 2]);
    let (lossvalue, lossvalue_smoothed) = (1.203972804325936, 1.2039728043259348);
    approx(val(&ce, &p, &y), lossvalue);
    approx(val(&ce, &p, &y_smoothed), lossvalue_smoothed);
    approx(val(&CrossEntropyLoss::new().label_smoothing(0.1), &p, &y), lossvalue_smoothed);
    let (yl, ylp, logylp) = (f64s(&[0., 1.], &[1, 2]), f64s(&[0.9, 0.1], &[1, 2]), f64s(&[0., v], &[1, 2]));
    approx(val(&CrossEntropyLoss::new().label_smoothing(0.2), &ylp, &yl), -0.1 * 0.9f64.ln() - 0.9 * 0.1f64.ln());
    approx(val(&ce, &ylp, &yl), -(0.1f64.ln()));
    let ya = f64s(&[0., 1., 0., 1., 0., 1., 1., 0., 1., 0.], &[5, 2]);
    assert_eq!(val(&CrossEntropyLoss::new().epsilon(0.0), &ya, &ya), 0.0);
    let y_sim = ya.mul_scalar(0.8).unwrap().add_scalar(0.1).unwrap();
    let y_dis = y_sim.neg().unwrap().add_scalar(1.0).unwrap(); // the two classes swapped
    let smooth = CrossEntropyLoss::new().label_smoothing(0.1);
    assert!(val(&ce, &y_sim, &ya) < val(&smooth, &y_sim, &ya));
    assert!(val(&ce, &y_dis, &ya) > val(&smooth, &y_dis, &ya));
    // logit cross-entropy
    let logit = CrossEntropyLoss::new().logits(true);
    approx(val(&logit, &logp, &y), lossvalue);
    approx(val(&logit, &logylp, &yl), -(0.1f64.ln()));
    approx(val(&logit, &logp, &y_smoothed), lossvalue_smoothed);
    approx(val(&CrossEntropyLoss::new().logits(true).label_smoothing(0.1), &logp, &y), lossvalue_smoothed);
    approx(
        val(&CrossEntropyLoss::new().logits(true).label_smoothing(0.2), &logylp, &yl),
        -0.1 * 0.9f64.ln() - 0.9 * 0.1f64.ln(),
    );
    // BCE with a constant label
    approx(
        val(&BinaryCrossEntropyLoss::new(), &f64s(&[0.1, 0.2, 0.9], &[3]), &Tensor::scalar(1i64)),
        -(0.1f64.ln() + 0.2f64.ln() + 0.9f64.ln()) / 3.0,
    );
    // binary focal
    let y = f64s(&[0., 1., 1., 0., 0., 1.], &[3, 2]);
    let p = f64s(&[0.268941, 0.731059, 0.5, 0.5, 0.268941, 0.731059], &[3, 2]);
    approx(val(&BinaryFocalLoss::new(), &p, &y), 0.0728675615927385);
    approx(
        val(&BinaryFocalLoss::new(), &f64s(&[0.6, 0.4, 0.3, 0.7], &[2, 2]), &f64s(&[1., 0., 0., 1.], &[2, 2])),
        0.05691642237852222,
    );
    approx(val(&BinaryFocalLoss::new().gamma(0.0), &p, &y), val(&ce, &p, &y));
    // focal
    let y = f64s(&[1., 0., 0., 0., 1., 0., 0., 0., 1., 0., 1., 0., 1., 0., 0.], &[5, 3]);
    let p =
        lux_ops::softmax(&Tensor::arange(-7.0, 8.0, 1.0, DType::F64).unwrap().reshape(&[5, 3]).unwrap(), -1).unwrap();
    // Lux computes this one on Float32 data (its ≈ has rtol √eps(f32)); f64 gives 1.12775650…
    assert!((val(&FocalLoss::new(), &p, &y) - 1.1277571935622628).abs() < 1e-5);
    approx(
        val(
            &FocalLoss::new(),
            &f64s(&[0.4, 0.5, 0.1, 0.2, 0.5, 0.3], &[2, 3]),
            &f64s(&[1., 0., 0., 0., 0., 1.], &[2, 3]),
        ),
        0.45990566879720157,
    );
    approx(val(&FocalLoss::new().gamma(0.0), &p, &y), val(&ce, &p, &y));
    // KL: Lux's [1 2 3] vs [4. 5. 6.] is three one-class columns, [3, 1] batch-first
    let kl = KLDivergenceLoss::new();
    approx(
        val(&kl, &f64s(&[0.1, 0.0, 0.9], &[3]), &f64s(&[0.1, 0.0, 0.9], &[3])),
        val(&kl, &f64s(&[0.1, 0.9], &[2]), &f64s(&[0.1, 0.9], &[2])),
    );
    let yk = Tensor::from_vec(vec![1i64, 2, 3], &[3, 1]).unwrap();
    approx(val(&kl, &f64s(&[4., 5., 6.], &[3, 1]), &yk), -1.7661057888493457);
    assert!(val(&kl, &f64s(&[1., 2., 3.], &[3, 1]), &yk).abs() < 1e-12);
}

#[test]
fn half_precision_agrees_with_f32() {
    let (rows, cols) = (4, 3);
    let p = probs(rows, cols, 61);
    let y = one_hot_rows(&[0, 1, 2, 1], cols);
    let x: Vec<f64> = p.iter().map(|v| v.ln() * 2.0).collect();
    let losses: Vec<(Box<dyn LossFunction>, &[f64])> = vec![
        (Box::new(CrossEntropyLoss::new()), &p),
        (Box::new(CrossEntropyLoss::new().logits(true).label_smoothing(0.1)), &x),
        (Box::new(BinaryCrossEntropyLoss::new()), &p),
        (Box::new(BinaryCrossEntropyLoss::new().logits(true)), &x),
        (Box::new(BinaryFocalLoss::new()), &p),
        (Box::new(FocalLoss::new()), &p),
        (Box::new(KLDivergenceLoss::new()), &p),
    ];
    for (l, input) in &losses {
        let want = val(l.as_ref(), &t(input, &[rows, cols], DType::F32), &t(&y, &[rows, cols], DType::F32));
        for dtype in [DType::F16, DType::BF16] {
            let got = val(l.as_ref(), &t(input, &[rows, cols], dtype), &t(&y, &[rows, cols], dtype));
            let tol = if dtype == DType::F16 { 1e-2 } else { 5e-2 };
            assert!((got - want).abs() <= tol * (1.0 + want.abs()), "{} {dtype:?}: {got} vs {want}", l.name());
        }
    }
}

proptest::proptest! {
    #[test]
    fn random_shapes_and_options_never_panic(
        a in proptest::collection::vec(1usize..4, 0..4),
        b in proptest::collection::vec(1usize..4, 0..4),
        dims in -4isize..4,
        alpha in -0.5f64..1.5,
        eps in -0.1f64..0.1,
        logits: bool,
        labels: bool,
    ) {
        let n: usize = a.iter().product();
        let p = Tensor::from_vec((0..n).map(|i| 0.1 + 0.8 * ((i * 7919) % 97) as f64 / 97.0).collect::<Vec<f64>>(), &a).unwrap();
        let m: usize = b.iter().product();
        let y = if labels {
            Tensor::from_vec((0..m).map(|i| (i % 4) as i64 - 1).collect::<Vec<i64>>(), &b).unwrap()
        } else {
            Tensor::from_vec((0..m).map(|i| (i % 3) as f64 / 2.0).collect::<Vec<f64>>(), &b).unwrap()
        };
        let losses: Vec<Box<dyn LossFunction>> = vec![
            Box::new(CrossEntropyLoss::new().dims(dims).label_smoothing(alpha).epsilon(eps).logits(logits)),
            Box::new(BinaryCrossEntropyLoss::new().label_smoothing(alpha).epsilon(eps).logits(logits)),
            Box::new(BinaryFocalLoss::new().gamma(alpha * 4.0).epsilon(eps)),
            Box::new(FocalLoss::new().gamma(alpha * 4.0).dims(dims).epsilon(eps)),
            Box::new(KLDivergenceLoss::new().dims(dims).label_smoothing(alpha).epsilon(eps)),
        ];
        for l in &losses {
            let _ = l.call(&p, &y);
        }
    }
}

#[test]
fn cross_entropy_logits_equal_probabilities() {
    let x = f64s(&X, &[2, 3]);
    let soft = f64s(&SOFT, &[2, 3]);
    let idx = Tensor::from_vec(vec![2i64, 0], &[2]).unwrap();
    let sm = lux_ops::softmax(&x, -1).unwrap();
    for y in [&soft, &idx] {
        for alpha in [0.0, 0.3] {
            let a = val(&CrossEntropyLoss::new().logits(true).label_smoothing(alpha), &x, y);
            let b = val(&CrossEntropyLoss::new().epsilon(0.0).label_smoothing(alpha), &sm, y);
            approx(a, b);
        }
    }
}
