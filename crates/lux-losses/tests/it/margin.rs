//! HingeLoss, SquaredHingeLoss, DiceCoeffLoss, SiameseContrastiveLoss,
//! GenericLossFunction: values in f32/f64 against plain-loop f64
//! references, gradients (true hinge derivatives), Lux's tests, bad input.

use crate::regression::{check_grad, check_values, t, values};
use lux_core::{DType, Result, Tensor};
use lux_losses::{
    Agg, DiceCoeffLoss, GenericLossFunction, HingeLoss, LossFunction, SiameseContrastiveLoss, SquaredHingeLoss,
};

/// ±1 labels from a seed.
fn signs(seed: u64, n: usize) -> Vec<f64> {
    values(seed, n, -1.0, 1.0).iter().map(|v| if *v < 0.0 { -1.0 } else { 1.0 }).collect()
}

/// ŷ in (−2, 2) with ŷ·y kept away from the kink at 1.
fn off_kink(seed: u64, y: &[f64]) -> Vec<f64> {
    values(seed, y.len(), -2.0, 2.0)
        .iter()
        .zip(y)
        .map(|(p, s)| if (p * s - 1.0).abs() < 0.05 { p + 0.2 } else { *p })
        .collect()
}

fn f64_of(l: &dyn LossFunction, yp: &Tensor, y: &Tensor) -> f64 {
    l.call(yp, y).unwrap().to_f64_vec()[0]
}

fn close(a: f64, b: f64, tol: f64) {
    assert!((a - b).abs() <= tol * (1.0 + b.abs()), "{a} vs {b}");
}

#[test]
fn hinge_values_and_true_gradients() -> Result<()> {
    let y = signs(11, 12);
    let yp = off_kink(12, &y);
    assert!(yp.iter().zip(&y).any(|(p, s)| p * s < 1.0), "some points must be unsaturated");
    check_values(|a| HingeLoss::new().agg(a), |p, s| (1.0 - p * s).max(0.0), &yp, &y);
    check_grad(&HingeLoss::new(), &yp, &t(&y, &[3, 4], DType::F64), &[3, 4]);
    // integer ±1 targets; the true derivative −y·[ŷy < 1] / n (Lux's rule gives +1 / n)
    let yi = Tensor::from_vec(vec![1i64, -1, 1, -1], &[4])?;
    let p = lux_core::tree! { p: Tensor::from_vec(vec![0.5f64, 0.5, 2.0, -2.0], &[4])? };
    let g = lux_ad::gradient(|ps| HingeLoss::new().call(ps.tensor("p")?, &yi), &p)?;
    assert_eq!(g.tensor("p")?.to_vec::<f64>()?, vec![-0.25, 0.25, 0.0, 0.0]);
    Ok(())
}

#[test]
fn squared_hinge_values_and_true_gradients() -> Result<()> {
    let y = signs(13, 12);
    let yp = off_kink(14, &y);
    check_values(|a| SquaredHingeLoss::new().agg(a), |p, s| (1.0 - p * s).max(0.0).powi(2), &yp, &y);
    check_grad(&SquaredHingeLoss::new(), &yp, &t(&y, &[3, 4], DType::F64), &[3, 4]);
    let yi = Tensor::from_vec(vec![1i64, -1, 1], &[3])?;
    let p = lux_core::tree! { p: Tensor::from_vec(vec![0.5f64, 0.5, 2.0], &[3])? };
    let g = lux_ad::gradient(|ps| SquaredHingeLoss::new().agg(Agg::Sum).call(ps.tensor("p")?, &yi), &p)?;
    // −2y(1 − ŷy): y = 1, ŷ = .5 → −1; y = −1, ŷ = .5 → 2·1.5 = 3; saturated → 0
    assert_eq!(g.tensor("p")?.to_vec::<f64>()?, vec![-1.0, 3.0, 0.0]);
    Ok(())
}

#[test]
fn siamese_values_and_gradients() {
    let y = values(15, 12, 0.0, 1.0).iter().map(|v| v.round()).collect::<Vec<_>>();
    for margin in [0.0, 0.5, 1.0, 1.5] {
        let yp: Vec<f64> =
            values(16, 12, 0.0, 2.0).iter().map(|p| if (p - margin).abs() < 0.05 { p + 0.1 } else { *p }).collect();
        let f = |p: f64, s: f64| (1.0 - s) * p * p + s * (margin - p).max(0.0).powi(2);
        check_values(|a| SiameseContrastiveLoss::new().agg(a).margin(margin), f, &yp, &y);
        check_grad(&SiameseContrastiveLoss::new().margin(margin), &yp, &t(&y, &[3, 4], DType::F64), &[3, 4]);
    }
}

/// The f64 reference of Dice on a batch-first [b, n] input.
fn dice_ref(yp: &[f64], y: &[f64], b: usize, smooth: f64) -> Vec<f64> {
    let n = yp.len() / b;
    (0..b)
        .map(|i| {
            let (mut yy, mut pp, mut py) = (0.0, 0.0, 0.0);
            for j in 0..n {
                let (p, s) = (yp[i * n + j], y[i * n + j]);
                yy += s * s;
                pp += p * p;
                py += p * s;
            }
            1.0 - (2.0 * py + smooth) / (pp + yy + smooth)
        })
        .collect()
}

#[test]
fn dice_values_and_gradients() {
    let (yp, y) = (values(17, 12, -1.0, 2.0), values(18, 12, 0.0, 1.0));
    for smooth in [1.0, 0.0, 2.5] {
        let per = dice_ref(&yp, &y, 3, smooth);
        let cases: [(Agg, Vec<f64>); 4] = [
            (Agg::Mean, vec![per.iter().sum::<f64>() / 3.0]),
            (Agg::Sum, vec![per.iter().sum::<f64>()]),
            (Agg::None, per.clone()),
            (Agg::custom(|t| t.max_all()), vec![per.iter().cloned().fold(f64::MIN, f64::max)]),
        ];
        for (agg, want) in cases {
            let l = DiceCoeffLoss::new().smooth(smooth).agg(agg);
            for (dtype, tol) in [(DType::F64, 1e-12), (DType::F32, 1e-5)] {
                let got = l.call(&t(&yp, &[3, 4], dtype), &t(&y, &[3, 4], dtype)).unwrap();
                assert_eq!(got.dtype(), dtype);
                let got = got.to_f64_vec();
                assert_eq!(got.len(), want.len());
                got.iter().zip(&want).for_each(|(g, w)| close(*g, *w, tol));
            }
        }
        // a 1-d input is one sample; a 3-d input sums over all but the batch axis
        let one = DiceCoeffLoss::new()
            .smooth(smooth)
            .agg(Agg::None)
            .call(&t(&yp, &[12], DType::F64), &t(&y, &[12], DType::F64));
        let one = one.unwrap();
        assert_eq!(one.shape(), &[] as &[usize]);
        close(one.to_f64_vec()[0], dice_ref(&yp, &y, 1, smooth)[0], 1e-12);
        let l3 = DiceCoeffLoss::new()
            .smooth(smooth)
            .agg(Agg::None)
            .call(&t(&yp, &[3, 2, 2], DType::F64), &t(&y, &[3, 2, 2], DType::F64));
        assert_eq!(l3.unwrap().to_f64_vec().len(), 3);
        check_grad(&DiceCoeffLoss::new().smooth(smooth), &yp, &t(&y, &[3, 4], DType::F64), &[3, 4]);
    }
}

#[test]
fn generic_values_and_gradients() {
    let (yp, y) = (values(19, 12, -2.0, 2.0), values(20, 12, -2.0, 2.0));
    let logcosh = || GenericLossFunction::new(|p, s| p.sub(s)?.cosh()?.log());
    check_values(|a| logcosh().agg(a), |p, s| (p - s).cosh().ln(), &yp, &y);
    check_grad(&logcosh(), &yp, &t(&y, &[3, 4], DType::F64), &[3, 4]);
    // broadcasting targets
    check_grad(&logcosh().agg(Agg::Sum), &yp, &t(&y[..4], &[4], DType::F64), &[3, 4]);
    // the closure's error is reported with the loss's name
    let bad = GenericLossFunction::new(|p, _| p.reshape(&[5]));
    let e = bad.call(&t(&yp, &[3, 4], DType::F64), &t(&y, &[3, 4], DType::F64)).unwrap_err().to_string();
    assert!(e.contains("GenericLossFunction"), "{e}");
}

#[test]
fn lux_margin_tests() {
    // test/misc/helpers/loss_tests.jl
    let v = |x: &[f64]| t(x, &[x.len()], DType::F64);
    let (y, yp) = (v(&[1.0, 2.0, 3.0, 4.0]), v(&[5.0, 6.0, 7.0, 8.0]));
    close(f64_of(&HingeLoss::new(), &yp, &y), 0.0, 1e-12);
    close(f64_of(&HingeLoss::new(), &y, &y.mul_scalar(0.5).unwrap()), 0.125, 1e-12);
    close(f64_of(&SquaredHingeLoss::new(), &yp, &y), 0.0, 1e-12);
    close(f64_of(&SquaredHingeLoss::new(), &y, &y.mul_scalar(0.5).unwrap()), 0.0625, 1e-12);
    let (y, yp) = (v(&[1.0, 0.5, 0.3, 2.4]), v(&[0.0, 1.4, 0.5, 1.2]));
    close(f64_of(&DiceCoeffLoss::new(), &yp, &y), 0.2799999999999999, 1e-12);
    close(f64_of(&DiceCoeffLoss::new(), &y, &y), 0.0, 1e-12);
    // Siamese: Lux's 3×2 and 3×5 matrices, transposed to batch-first
    let y = t(&[1.0, 0.0, 0.0, 0.0, 0.0, 1.0], &[2, 3], DType::F64);
    let yp = t(&[0.4, 0.5, 0.1, 0.2, 0.5, 0.3], &[2, 3], DType::F64);
    let s = |m: f64| SiameseContrastiveLoss::new().margin(m);
    close(f64_of(&SiameseContrastiveLoss::new(), &yp, &y), 0.2333333333333333, 1e-12);
    close(f64_of(&s(0.5), &yp, &y), 0.10000000000000002, 1e-12);
    close(f64_of(&s(1.5), &yp, &y), 0.5333333333333333, 1e-12);
    close(f64_of(&s(1.0), &yp, &y), f64_of(&SiameseContrastiveLoss::new(), &yp, &y), 0.0);
    close(f64_of(&SiameseContrastiveLoss::new(), &y, &y), 0.0, 1e-12);
    close(f64_of(&s(0.0), &yp, &y), 0.09166666666666667, 1e-12);
    // y1 = one-hot columns [1,2,3,2,1] (3×5), ŷ1 = softmax(reshape(-7:7, 3, 5)) along the class axis
    let mut y1 = vec![0.0; 15];
    for (i, c) in [0usize, 1, 2, 1, 0].iter().enumerate() {
        y1[i * 3 + c] = 1.0;
    }
    let z: f64 = [-2.0f64, -1.0, 0.0].iter().map(|v| v.exp()).sum();
    let yp1: Vec<f64> = (0..15).map(|k| ((k % 3) as f64 - 2.0).exp() / z).collect();
    let (y1, yp1) = (t(&y1, &[5, 3], DType::F32), t(&yp1, &[5, 3], DType::F32));
    let f32_of =
        |l: &dyn LossFunction, a: &Tensor, b: &Tensor| l.call(a, b).unwrap().to_scalar::<f32>().unwrap() as f64;
    close(f32_of(&SiameseContrastiveLoss::new(), &yp1, &y1), 0.32554644, 1e-6);
    close(f32_of(&s(0.5), &yp1, &y1), 0.16271012, 1e-6);
    close(f32_of(&s(1.5), &yp1, &y1), 0.6532292, 1e-6);
    close(f32_of(&SiameseContrastiveLoss::new(), &y1, &y1), 0.0, 1e-6);
    close(f32_of(&s(0.0), &yp1, &y1), 0.13161165, 1e-6);
}

#[test]
fn bad_input_is_an_error() -> Result<()> {
    let (a, b) = (Tensor::zeros(&[2], DType::F32)?, Tensor::zeros(&[3], DType::F32)?);
    let losses: Vec<Box<dyn LossFunction>> = vec![
        Box::new(HingeLoss::new()),
        Box::new(SquaredHingeLoss::new()),
        Box::new(DiceCoeffLoss::new()),
        Box::new(SiameseContrastiveLoss::new()),
        Box::new(GenericLossFunction::new(|p, s| p.sub(s))),
    ];
    for l in &losses {
        let e = l.call(&a, &b).unwrap_err().to_string();
        assert!(e.contains(l.name()) && e.contains("[2]") && e.contains("[3]"), "{e}");
        let e = l.call(&Tensor::zeros(&[2], DType::I64)?, &a).unwrap_err().to_string();
        assert!(e.contains(l.name()), "{e}");
    }
    for bad in [-1.0, f64::NAN, f64::INFINITY] {
        let e = SiameseContrastiveLoss::new().margin(bad).call(&a, &a).unwrap_err().to_string();
        assert!(e.contains("SiameseContrastiveLoss") && e.contains("margin") && e.contains(&format!("{bad}")), "{e}");
        let e = DiceCoeffLoss::new().smooth(bad).call(&a, &a).unwrap_err().to_string();
        assert!(e.contains("DiceCoeffLoss") && e.contains("smooth") && e.contains(&format!("{bad}")), "{e}");
    }
    Ok(())
}
