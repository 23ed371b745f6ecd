//! Tests of `lux_ops::upsample`: values against direct f64 loops (NNlib's
//! source coordinates re-derived here), gradients, errors.
use crate::*;
use ::lux_ops::upsample::{pixel_shuffle, upsample_bilinear, upsample_linear, upsample_nearest, upsample_nearest_size};
use lux_ad::gradient;

/// NNlib's source coordinate for output index `o`.
fn source(o: usize, n_in: usize, n_out: usize, align: bool) -> f64 {
    if align {
        if n_out == 1 { 0.0 } else { o as f64 * (n_in as f64 - 1.0) / (n_out as f64 - 1.0) }
    } else {
        ((o as f64 + 0.5) * n_in as f64 / n_out as f64 - 0.5).max(0.0)
    }
}

/// Multilinear interpolation, written as a sum over the 2^D corners.
fn naive_linear(x: &Tensor, out: &[usize], align: bool) -> Vec<f64> {
    let xs = x.shape().to_vec();
    let xv = x.to_f64_vec();
    let d = out.len();
    let mut os = xs[..2].to_vec();
    os.extend(out);
    (0..os.iter().product())
        .map(|flat| {
            let oi = unravel(flat, &os);
            let mut total = 0.0;
            for corner in 0..(1usize << d) {
                let mut idx = oi[..2].to_vec();
                let mut wt = 1.0;
                for i in 0..d {
                    let src = source(oi[2 + i], xs[2 + i], out[i], align);
                    let lo = (src.floor() as usize).min(xs[2 + i] - 1);
                    let hi = (lo + 1).min(xs[2 + i] - 1);
                    let lam = src - lo as f64;
                    if corner >> i & 1 == 1 {
                        idx.push(hi);
                        wt *= lam;
                    } else {
                        idx.push(lo);
                        wt *= 1.0 - lam;
                    }
                }
                total += wt * xv[ravel(&idx, &xs)];
            }
            total
        })
        .collect()
}

#[test]
fn linear_matches_naive_loops() {
    for (xs, out) in [(vec![2, 2, 5], vec![9]), (vec![2, 3, 3, 4], vec![7, 5]), (vec![1, 2, 2, 3, 4], vec![5, 4, 7])] {
        let x = randn(1, &xs);
        for align in [true, false] {
            let y = upsample_linear(&x, &out, align).unwrap();
            assert_eq!(&y.shape()[2..], out.as_slice());
            assert_close(&y.to_f64_vec(), &naive_linear(&x, &out, align), 1e-12);
        }
    }
    // downsampling and an output of 1 are interpolations too
    let x = randn(2, &[1, 1, 6, 5]);
    for align in [true, false] {
        let y = upsample_bilinear(&x, &[3, 1], align).unwrap();
        assert_close(&y.to_f64_vec(), &naive_linear(&x, &[3, 1], align), 1e-12);
    }
    // same size: the input itself
    assert_eq!(upsample_linear(&x, &[6, 5], false).unwrap(), x);
}

#[test]
fn linear_hand_values() -> Result<()> {
    // PyTorch's align_corners=False on [1, 2] → 4: [1, 1.25, 1.75, 2]
    let x = Tensor::from_vec(vec![1.0f64, 2.0], &[1, 1, 2])?;
    assert_eq!(upsample_linear(&x, &[4], false)?.to_vec::<f64>()?, vec![1.0, 1.25, 1.75, 2.0]);
    // align_corners=True on [1, 2] → 3: [1, 1.5, 2]
    assert_eq!(upsample_linear(&x, &[3], true)?.to_vec::<f64>()?, vec![1.0, 1.5, 2.0]);
    // f32 stays f32
    assert_eq!(upsample_linear(&x.to_dtype(DType::F32)?, &[3], true)?.dtype(), DType::F32);
    Ok(())
}

#[test]
fn nearest_matches_naive_loops() {
    for (xs, scale) in [(vec![2, 2, 3], vec![2]), (vec![1, 2, 3, 2], vec![1, 3]), (vec![1, 1, 2, 2, 3], vec![2, 1, 2])]
    {
        let x = randn(3, &xs);
        let y = upsample_nearest(&x, &scale).unwrap();
        let mut os = xs[..2].to_vec();
        os.extend(xs[2..].iter().zip(&scale).map(|(a, b)| a * b));
        assert_eq!(y.shape(), os.as_slice());
        let xv = x.to_f64_vec();
        let want: Vec<f64> = (0..os.iter().product())
            .map(|f| {
                let mut i = unravel(f, &os);
                for (k, s) in scale.iter().enumerate() {
                    i[2 + k] /= s;
                }
                xv[ravel(&i, &xs)]
            })
            .collect();
        assert_close(&y.to_f64_vec(), &want, 0.0);
        assert_eq!(upsample_nearest_size(&x, &os[2..]).unwrap(), y);
    }
}

#[test]
fn pixel_shuffle_matches_naive_loops() {
    for (xs, r) in [(vec![2, 6, 3], 2usize), (vec![2, 8, 2, 3], 2), (vec![1, 18, 2, 1], 3), (vec![1, 16, 1, 2, 2], 2)] {
        let x = randn(4, &xs);
        let y = pixel_shuffle(&x, r).unwrap();
        let d = xs.len() - 2;
        let rd = r.pow(d as u32);
        let mut os = vec![xs[0], xs[1] / rd];
        os.extend(xs[2..].iter().map(|s| s * r));
        assert_eq!(y.shape(), os.as_slice());
        let xv = x.to_f64_vec();
        let want: Vec<f64> = (0..os.iter().product())
            .map(|f| {
                let oi = unravel(f, &os);
                let (mut sub, mut idx) = (0, vec![oi[0], 0]);
                for k in 0..d {
                    sub = sub * r + oi[2 + k] % r;
                    idx.push(oi[2 + k] / r);
                }
                idx[1] = oi[1] * rd + sub;
                xv[ravel(&idx, &xs)]
            })
            .collect();
        assert_close(&y.to_f64_vec(), &want, 0.0);
    }
}

#[test]
fn gradients_match_finite_differences() {
    check_op(|t| upsample_linear(&t[0], &[5, 7], false), &[randn(5, &[2, 2, 3, 4])]);
    check_op(|t| upsample_bilinear(&t[0], &[6, 2], true), &[randn(6, &[1, 2, 3, 4])]);
    check_op(|t| upsample_nearest(&t[0], &[2, 3]), &[randn(7, &[2, 1, 2, 3])]);
    check_op(|t| pixel_shuffle(&t[0], 2), &[randn(8, &[2, 8, 2, 3])]);
    // nested: the gradient's norm, differentiated again
    let h = |t: &Tree| -> Result<Tensor> {
        let g = gradient(|u| weighted_sum(&upsample_linear(u.tensor("x")?, &[5], true)?.square()?), t)?;
        g.tensor("x")?.square()?.sum_all()
    };
    lux_ad::check_gradients(h, &Tree::new().with("x", randn(9, &[1, 2, 3])).unwrap(), Tolerances::default()).unwrap();
}

#[test]
fn invalid_arguments_are_errors() {
    let x = randn(1, &[1, 2, 3, 3]);
    let msg = |r: Result<Tensor>| r.unwrap_err().to_string();
    let e = msg(upsample_nearest(&x, &[2, 2, 2]));
    assert!(e.contains("upsample_nearest") && e.contains("scale"), "{e}");
    assert!(msg(upsample_nearest(&x, &[0])).contains("positive"));
    assert!(msg(upsample_nearest(&x, &[])).contains("empty"));
    let e = msg(upsample_nearest_size(&x, &[4, 6]));
    assert!(e.contains("multiple") && e.contains("[3, 3]"), "{e}");
    let e = msg(upsample_linear(&x, &[4], true));
    assert!(e.contains("upsample_linear") && e.contains("[1, 2, 3, 3]"), "{e}");
    assert!(msg(upsample_linear(&x, &[0, 4], true)).contains("zero"));
    let e = msg(upsample_bilinear(&randn(1, &[1, 2, 3]), &[4], true));
    assert!(e.contains("upsample_bilinear") && e.contains("[N, C, H, W]"), "{e}");
    let e = msg(pixel_shuffle(&x, 2));
    assert!(e.contains("pixel_shuffle") && e.contains("2 channels") && e.contains("r^2"), "{e}");
    assert!(msg(pixel_shuffle(&x, 0)).contains("positive"));
    assert!(msg(pixel_shuffle(&randn(1, &[2, 4]), 2)).contains("[2, 4]"));
    assert!(upsample_linear(&Tensor::zeros(&[1, 1, 2], DType::I64).unwrap(), &[4], true).is_err());
}
