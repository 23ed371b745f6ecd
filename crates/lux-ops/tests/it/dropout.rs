//! Tests of `lux_ops::dropout`.
use crate::*;
use ::lux_ops::dropout::{ALPHA_DROPOUT_ALPHA, alpha_dropout, dropout, dropout_dims, dropout_mask};
use lux_core::RngState;

fn rng(seed: u64) -> RngState {
    RngState::seed_from_u64(seed)
}

/// Mean and (biased) variance of a slice.
fn moments(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let m = v.iter().sum::<f64>() / n;
    (m, v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / n)
}

#[test]
fn same_rng_same_mask_and_different_rng_different_mask() {
    let x = randn(1, &[64, 32]);
    let r = rng(7);
    let (y1, r1) = dropout(&r, &x, 0.3, true).unwrap();
    let (y2, r2) = dropout(&r, &x, 0.3, true).unwrap();
    assert_eq!(y1.to_f64_vec(), y2.to_f64_vec());
    assert_eq!(r1, r2);
    assert_ne!(r1, r, "training advances the returned rng");
    assert_eq!(r, rng(7), "the input rng is not modified");
    let (y3, _) = dropout(&rng(8), &x, 0.3, true).unwrap();
    assert_ne!(y1.to_f64_vec(), y3.to_f64_vec());
    // Chaining the returned rng gives a fresh mask.
    let (y4, r4) = dropout(&r1, &x, 0.3, true).unwrap();
    assert_ne!(y1.to_f64_vec(), y4.to_f64_vec());
    assert_ne!(r4, r1);
}

#[test]
fn drop_fraction_mean_and_kept_values() {
    let n = 200_000;
    let x = randn(2, &[n]);
    let xv = x.to_f64_vec();
    for (i, p) in [0.1, 0.5, 0.9].into_iter().enumerate() {
        let (y, _) = dropout(&rng(10 + i as u64), &x, p, true).unwrap();
        let yv = y.to_f64_vec();
        let zeros = yv.iter().filter(|&&v| v == 0.0).count() as f64 / n as f64;
        let sd = (p * (1.0 - p) / n as f64).sqrt();
        assert!((zeros - p).abs() < 5.0 * sd, "p = {p}: dropped fraction {zeros}");
        let inv = 1.0 / (1.0 - p);
        for (&yi, &xi) in yv.iter().zip(&xv) {
            // Kept entries are exactly x·(1/(1 − p)) (= x/(1 − p) up to rounding).
            assert!(yi == 0.0 || yi == xi * inv, "{yi} vs {xi}");
            assert!(yi == 0.0 || (yi - xi / (1.0 - p)).abs() <= 1e-15 * yi.abs());
        }
    }
    // E[y] = x: a constant input keeps its mean.
    let p = 0.3;
    let c = Tensor::full(&[n], 3.0, DType::F64).unwrap();
    let (y, _) = dropout(&rng(20), &c, p, true).unwrap();
    let (m, _) = moments(&y.to_f64_vec());
    let sd = 3.0 * (p / ((1.0 - p) * n as f64)).sqrt();
    assert!((m - 3.0).abs() < 5.0 * sd, "mean {m}");
}

#[test]
fn inference_and_p_zero_are_identity_and_p_one_is_zero() {
    let x = randn(3, &[5, 4]);
    let r = rng(1);
    for (p, training) in [(0.5, false), (0.0, true), (1.0, false)] {
        let (y, r2) = dropout(&r, &x, p, training).unwrap();
        assert_eq!(y.to_f64_vec(), x.to_f64_vec());
        assert_eq!(r2, r, "no draw: the rng is returned unchanged");
        let (y, r2) = alpha_dropout(&r, &x, p, training).unwrap();
        assert_eq!(y.to_f64_vec(), x.to_f64_vec());
        assert_eq!(r2, r);
    }
    let (y, r2) = dropout(&r, &x, 1.0, true).unwrap();
    assert!(y.to_f64_vec().iter().all(|&v| v == 0.0));
    assert_ne!(r2, r, "the mask is still drawn, as in LuxLib");
    let (y, r2) = alpha_dropout(&r, &x, 1.0, true).unwrap();
    assert!(y.to_f64_vec().iter().all(|&v| v == 0.0));
    assert_eq!(r2, r);
}

#[test]
fn dims_share_the_mask_along_other_axes() {
    // [N, C, H, W] with dims = [0, 1]: whole channels dropped.
    let x = randn(4, &[8, 16, 3, 3]).abs().unwrap().add_scalar(0.1).unwrap();
    let (y, _) = dropout_dims(&rng(5), &x, 0.5, true, Some(&[0, 1])).unwrap();
    let (xv, yv) = (x.to_f64_vec(), y.to_f64_vec());
    let mut dropped = 0;
    for (xc, yc) in xv.chunks(9).zip(yv.chunks(9)) {
        let all_zero = yc.iter().all(|&v| v == 0.0);
        let all_kept = yc.iter().zip(xc).all(|(&yi, &xi)| yi == xi * 2.0);
        assert!(all_zero || all_kept, "channel partly dropped: {yc:?}");
        dropped += all_zero as usize;
    }
    assert!(dropped > 0 && dropped < 128, "{dropped} of 128 channels dropped");
    // dims = [-1] on [50, 20]: the mask varies along the last axis only.
    let x = Tensor::ones(&[50, 20], DType::F64).unwrap();
    let (y, _) = dropout_dims(&rng(6), &x, 0.5, true, Some(&[-1])).unwrap();
    let yv = y.to_f64_vec();
    for row in yv.chunks(20) {
        assert_eq!(row, &yv[..20]);
    }
    assert!(yv[..20].contains(&0.0) && yv[..20].contains(&2.0));
    // The mask alone.
    let (m, r2) = dropout_mask(&rng(6), &x, 0.5, Some(&[-1])).unwrap();
    assert_eq!(m.shape(), &[1, 20]);
    assert_eq!(m.to_f64_vec(), yv[..20].to_vec(), "same rng ⇒ the mask that dropout_dims applied");
    assert_ne!(r2, rng(6));
    // None = every axis; an empty list = one draw for the whole tensor.
    let (m, _) = dropout_mask(&rng(6), &x, 0.5, None).unwrap();
    assert_eq!(m.shape(), &[50, 20]);
    let (m, _) = dropout_mask(&rng(6), &x, 0.5, Some(&[])).unwrap();
    assert_eq!(m.shape(), &[1, 1]);
}

#[test]
fn alpha_dropout_preserves_standard_moments() {
    let n = 400_000;
    let x = randn(30, &[n]);
    let xv = x.to_f64_vec();
    for (i, p) in [0.2, 0.5].into_iter().enumerate() {
        let (y, r2) = alpha_dropout(&rng(40 + i as u64), &x, p, true).unwrap();
        assert_ne!(r2, rng(40 + i as u64));
        let yv = y.to_f64_vec();
        let (m, v) = moments(&yv);
        assert!(m.abs() < 0.01, "p = {p}: mean {m}");
        assert!((v - 1.0).abs() < 0.015, "p = {p}: variance {v}");
        // Structure: kept entries A·x + B, dropped ones A·α′ + B (paper's formulas).
        let a = 1.0 / ((1.0 - p) * (1.0 + p * ALPHA_DROPOUT_ALPHA * ALPHA_DROPOUT_ALPHA)).sqrt();
        let b = -a * ALPHA_DROPOUT_ALPHA * p;
        let dropped_value = a * ALPHA_DROPOUT_ALPHA + b;
        let mut dropped = 0usize;
        for (&yi, &xi) in yv.iter().zip(&xv) {
            if (yi - (a * xi + b)).abs() <= 1e-12 {
                continue;
            }
            assert!((yi - dropped_value).abs() <= 1e-12, "{yi} is neither A·x + B nor A·α′ + B");
            dropped += 1;
        }
        let frac = dropped as f64 / n as f64;
        assert!((frac - p).abs() < 5.0 * (p * (1.0 - p) / n as f64).sqrt(), "dropped fraction {frac}");
    }
}

#[test]
fn gradients_with_a_fixed_rng() {
    let r = rng(50);
    check_op(|v| Ok(dropout(&r, &v[0], 0.4, true)?.0), &[randn(51, &[6, 5])]);
    check_op(|v| Ok(dropout(&r, &v[0], 0.4, true)?.0), &[randn(52, &[5, 6]).transpose(0, 1).unwrap()]);
    check_op(|v| Ok(dropout_dims(&r, &v[0], 0.5, true, Some(&[0]))?.0), &[randn(53, &[4, 3, 2])]);
    check_op(|v| Ok(alpha_dropout(&r, &v[0], 0.3, true)?.0), &[randn(54, &[6, 5])]);
    // The gradient is mask ⊙ g: check it directly for Σ dropout(x).
    let x = randn(55, &[100]);
    let (y, _) = dropout(&r, &x, 0.4, true).unwrap();
    let g = lux_ad::gradient(
        |t: &Tree| dropout(&r, t.tensor("x")?, 0.4, true)?.0.sum_all(),
        &Tree::new().with("x", x.clone()).unwrap(),
    )
    .unwrap();
    let want: Vec<f64> = y.to_f64_vec().iter().map(|&v| if v == 0.0 { 0.0 } else { 1.0 / 0.6 }).collect();
    assert_eq!(g.tensor("x").unwrap().to_f64_vec(), want);
}

#[test]
fn nested_gradient_through_dropout() {
    let r = rng(60);
    let f = |v: &[Tensor]| {
        let inner = |t: &Tree| weighted_sum(&dropout(&r, t.tensor("x")?, 0.3, true)?.0.square()?);
        let g = lux_ad::gradient(inner, &Tree::new().with("x", v[0].clone())?)?;
        g.tensor("x")?.square()?.sum_all()
    };
    check_op(f, &[randn(61, &[4, 5])]);
    let f = |v: &[Tensor]| {
        let inner = |t: &Tree| weighted_sum(&alpha_dropout(&r, t.tensor("x")?, 0.3, true)?.0.square()?);
        let g = lux_ad::gradient(inner, &Tree::new().with("x", v[0].clone())?)?;
        g.tensor("x")?.square()?.sum_all()
    };
    check_op(f, &[randn(62, &[4, 5])]);
}

#[test]
fn low_precision_dtypes() {
    let x64 = randn(70, &[32, 32]);
    for dtype in [DType::F32, DType::F16, DType::BF16] {
        let x = x64.to_dtype(dtype).unwrap();
        let (y, _) = dropout(&rng(71), &x, 0.25, true).unwrap();
        assert_eq!(y.dtype(), dtype);
        let (y64, _) = dropout(&rng(71), &x.to_dtype(DType::F64).unwrap(), 0.25, true).unwrap();
        // Same mask whatever the dtype; values within the dtype's rounding.
        let tol = if dtype == DType::F32 { 1e-6 } else { 1e-2 };
        for (a, b) in y.to_f64_vec().iter().zip(y64.to_f64_vec()) {
            assert_eq!(*a == 0.0, b == 0.0);
            assert!((a - b).abs() <= tol * b.abs(), "{a} vs {b}");
        }
        let (y, _) = alpha_dropout(&rng(72), &x, 0.25, true).unwrap();
        assert_eq!(y.dtype(), dtype);
    }
}

#[test]
fn invalid_arguments_are_errors() {
    let x = randn(80, &[3, 4]);
    let r = rng(0);
    for p in [-0.1, 1.1, f64::NAN] {
        let e = dropout(&r, &x, p, true).unwrap_err().to_string();
        assert!(e.contains("dropout") && e.contains("[0, 1]"), "{e}");
        assert!(dropout(&r, &x, p, false).is_err(), "p is checked in test mode too");
        let e = alpha_dropout(&r, &x, p, true).unwrap_err().to_string();
        assert!(e.contains("alpha_dropout"), "{e}");
        assert!(dropout_mask(&r, &x, p, None).is_err());
    }
    let e = dropout_dims(&r, &x, 0.5, true, Some(&[2])).unwrap_err().to_string();
    assert!(e.contains("dropout"), "{e}");
    let xi = Tensor::from_vec(vec![1i64, 2], &[2]).unwrap();
    let e = dropout(&r, &xi, 0.5, true).unwrap_err().to_string();
    assert!(e.contains("i64"), "{e}");
    assert!(alpha_dropout(&r, &xi, 0.5, true).is_err());
}

#[test]
fn huge_masks_of_empty_inputs_are_errors_naming_the_size() {
    // x has no elements, but a mask shared along axis 0 is [1, 2^40]: 4 TiB
    // of f32 (8 TiB for f64).
    for (dtype, bytes) in [(DType::F32, "4398046511104 bytes"), (DType::F64, "8796093022208 bytes")] {
        let x = Tensor::zeros(&[0, 1 << 40], dtype).unwrap();
        let e = dropout_dims(&rng(0), &x, 0.5, true, Some(&[1])).unwrap_err().to_string();
        assert!(
            e.starts_with("dropout:")
                && e.contains("mask of shape [1, 1099511627776] is too large")
                && e.contains(bytes),
            "{e}"
        );
        let e = dropout_mask(&rng(0), &x, 0.5, Some(&[-1])).unwrap_err().to_string();
        assert!(e.starts_with("dropout_mask") && e.contains("[1, 1099511627776]") && e.contains(bytes), "{e}");
        // a mask over every axis is as empty as x
        let (y, _) = dropout(&rng(0), &x, 0.5, true).unwrap();
        assert_eq!(y.shape(), x.shape());
        let (y, _) = alpha_dropout(&rng(0), &x, 0.5, true).unwrap();
        assert_eq!(y.shape(), x.shape());
    }
}

mod props {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]
        #[test]
        fn random_arguments_never_panic(
            xs in proptest::collection::vec(0usize..4, 0..=3),
            p in -0.5f64..1.5,
            dims in proptest::option::of(proptest::collection::vec(-4isize..4, 0..3)),
            training in any::<bool>(),
            seed in any::<u64>(),
        ) {
            let x = randn(1, &xs);
            let r = rng(seed);
            if let Ok((y, _)) = dropout_dims(&r, &x, p, training, dims.as_deref()) {
                prop_assert_eq!(y.shape(), x.shape());
            }
            if let Ok((y, _)) = alpha_dropout(&r, &x, p, training) {
                prop_assert_eq!(y.shape(), x.shape());
            }
            prop_assert_eq!(dropout(&r, &x, p, training).is_ok(), (0.0..=1.0).contains(&p));
        }
    }
}
