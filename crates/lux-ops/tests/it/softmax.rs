//! Tests of `lux_ops::softmax`.
use crate::*;
use ::lux_ops::softmax::{logsoftmax, logsumexp, softmax};
use lux_ad::{gradient, vjp};
use lux_core::{DType, LuxError, Result, Tensor, Tree};

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Softmax,
    LogSoftmax,
    LogSumExp { keepdim: bool },
}

const KINDS: [Kind; 4] =
    [Kind::Softmax, Kind::LogSoftmax, Kind::LogSumExp { keepdim: false }, Kind::LogSumExp { keepdim: true }];

fn apply(kind: Kind, x: &Tensor, axis: isize) -> Result<Tensor> {
    match kind {
        Kind::Softmax => softmax(x, axis),
        Kind::LogSoftmax => logsoftmax(x, axis),
        Kind::LogSumExp { keepdim } => logsumexp(x, axis, keepdim),
    }
}

/// Flat row-major indices of every lane along `axis`, lanes in row-major
/// order of the remaining axes.
fn lanes(shape: &[usize], axis: usize) -> Vec<Vec<usize>> {
    let mut strides = vec![1usize; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        strides[i] = strides[i + 1] * shape[i + 1];
    }
    let others: Vec<usize> = (0..shape.len()).filter(|&i| i != axis).collect();
    let count: usize = others.iter().map(|&i| shape[i]).product();
    (0..count)
        .map(|mut k| {
            let mut base = 0;
            for &d in others.iter().rev() {
                base += (k % shape[d]) * strides[d];
                k /= shape[d];
            }
            (0..shape[axis]).map(|i| base + i * strides[axis]).collect()
        })
        .collect()
}

/// The naive f64 definitions (no max shift: only for moderate logits).
fn reference(kind: Kind, x: &[f64], shape: &[usize], axis: usize) -> Vec<f64> {
    let ls = lanes(shape, axis);
    let mut out = if matches!(kind, Kind::LogSumExp { .. }) { vec![0.0; ls.len()] } else { vec![0.0; x.len()] };
    for (k, lane) in ls.iter().enumerate() {
        let z: f64 = lane.iter().map(|&i| x[i].exp()).sum();
        match kind {
            Kind::Softmax => lane.iter().for_each(|&i| out[i] = x[i].exp() / z),
            Kind::LogSoftmax => lane.iter().for_each(|&i| out[i] = x[i] - z.ln()),
            Kind::LogSumExp { .. } => out[k] = z.ln(),
        }
    }
    out
}

fn out_shape(kind: Kind, shape: &[usize], axis: usize) -> Vec<usize> {
    match kind {
        Kind::LogSumExp { keepdim: true } => {
            shape.iter().enumerate().map(|(i, &d)| if i == axis { 1 } else { d }).collect()
        }
        Kind::LogSumExp { keepdim: false } => {
            shape.iter().enumerate().filter(|&(i, _)| i != axis).map(|(_, &d)| d).collect()
        }
        _ => shape.to_vec(),
    }
}

#[test]
fn forward_matches_reference_on_every_axis() -> Result<()> {
    let shapes: [&[usize]; 5] = [&[7], &[4, 5], &[2, 3, 4], &[3, 1, 2, 5], &[1, 6]];
    for (s, shape) in shapes.iter().enumerate() {
        let x = randn(s as u64, shape).mul_scalar(2.0)?;
        let xs = x.to_vec::<f64>()?;
        let nd = shape.len() as isize;
        for axis in -nd..nd {
            let ax = axis.rem_euclid(nd) as usize;
            for kind in KINDS {
                let want = reference(kind, &xs, shape, ax);
                let y = apply(kind, &x, axis)?;
                assert_eq!(y.shape(), out_shape(kind, shape, ax).as_slice(), "{kind:?} {shape:?} axis {axis}");
                assert_close(&y.to_vec::<f64>()?, &want, 1e-14);
                let y32 = apply(kind, &x.to_dtype(DType::F32)?, axis)?;
                assert_eq!(y32.dtype(), DType::F32);
                assert_close(&y32.to_f64_vec(), &want, 2e-6);
            }
        }
    }
    Ok(())
}

#[test]
fn non_contiguous_forward() -> Result<()> {
    let base = randn(7, &[5, 4, 3]);
    let x = base.permute(&[2, 0, 1])?; // [3, 5, 4], strided
    assert!(!x.is_contiguous());
    let xs = x.contiguous()?.to_vec::<f64>()?;
    for axis in 0..3 {
        for kind in KINDS {
            let want = reference(kind, &xs, &[3, 5, 4], axis);
            assert_close(&apply(kind, &x, axis as isize)?.contiguous()?.to_vec::<f64>()?, &want, 1e-14);
        }
    }
    Ok(())
}

#[test]
fn softmax_sums_to_one() -> Result<()> {
    let x = randn(3, &[6, 7, 8]).mul_scalar(30.0)?;
    for axis in [0isize, 1, -1] {
        let p = softmax(&x, axis)?;
        let sums = p.sum(&[axis], false)?.to_vec::<f64>()?;
        assert!(sums.iter().all(|s| (s - 1.0).abs() < 1e-14), "{sums:?}");
        assert!(p.to_vec::<f64>()?.iter().all(|&v| (0.0..=1.0).contains(&v)));
    }
    Ok(())
}

#[test]
fn gradients_match_finite_differences() -> Result<()> {
    let cases: Vec<(Tensor, isize)> = vec![
        (randn(10, &[4, 5]), -1),
        (randn(11, &[4, 5]), 0),
        (randn(12, &[2, 3, 4]), 1),
        (randn(13, &[2, 3, 4]), -3),
        (randn(14, &[5, 4]).transpose(0, 1)?, -1),
        (randn(15, &[5, 4]).transpose(0, 1)?, 0),
        (randn(16, &[4, 2, 3]).permute(&[1, 2, 0])?, 1),
    ];
    for (x, axis) in cases {
        for kind in KINDS {
            check_op(|xs| apply(kind, &xs[0], axis), std::slice::from_ref(&x));
        }
    }
    Ok(())
}

/// `(∂f/∂x)ᵀ·g` from the closed forms, per lane, in f64.
fn analytic_vjp(kind: Kind, x: &[f64], g: &[f64], shape: &[usize], axis: usize) -> Vec<f64> {
    let mut dx = vec![0.0; x.len()];
    for (k, lane) in lanes(shape, axis).iter().enumerate() {
        let m = lane.iter().map(|&i| x[i]).fold(f64::NEG_INFINITY, f64::max);
        let z: f64 = lane.iter().map(|&i| (x[i] - m).exp()).sum();
        let p = |i: usize| (x[i] - m).exp() / z;
        match kind {
            Kind::Softmax => {
                let dot: f64 = lane.iter().map(|&i| g[i] * p(i)).sum();
                lane.iter().for_each(|&i| dx[i] = p(i) * (g[i] - dot));
            }
            Kind::LogSoftmax => {
                let total: f64 = lane.iter().map(|&i| g[i]).sum();
                lane.iter().for_each(|&i| dx[i] = g[i] - p(i) * total);
            }
            Kind::LogSumExp { .. } => lane.iter().for_each(|&i| dx[i] = g[k] * p(i)),
        }
    }
    dx
}

#[test]
fn stable_for_huge_logits() -> Result<()> {
    let xs = vec![1e4, -1e4, 0.0, -1e4, -1e4, -1e4, 1e4, 1e4, -1e4];
    let (l2, l3) = (2f64.ln(), 3f64.ln());
    let third = 1.0 / 3.0;
    let want_p = [1.0, 0.0, 0.0, third, third, third, 0.5, 0.5, 0.0];
    let want_lp = [0.0, -2e4, -1e4, -l3, -l3, -l3, -l2, -l2, -2e4 - l2];
    let want_lse = [1e4, -1e4 + l3, 1e4 + l2];
    for dtype in [DType::F64, DType::F32] {
        let x = Tensor::from_vec(xs.clone(), &[3, 3])?.to_dtype(dtype)?;
        // f32 has a spacing of ~1e-3 at 1e4.
        let tol = if dtype == DType::F64 { 1e-15 } else { 1e-7 };
        assert_close(&softmax(&x, -1)?.to_f64_vec(), &want_p, tol);
        assert_close(&logsoftmax(&x, -1)?.to_f64_vec(), &want_lp, tol);
        assert_close(&logsumexp(&x, -1, false)?.to_f64_vec(), &want_lse, tol);
        // Gradients: finite and equal to the closed forms.
        let g = Tensor::from_vec((1..=9).map(|i| (i as f64 * 0.7).sin()).collect::<Vec<f64>>(), &[3, 3])?;
        for kind in KINDS {
            let t = Tree::new().with("x", x.clone())?;
            let gy = match kind {
                Kind::LogSumExp { keepdim } => g.narrow(1, 0, 1)?.reshape(if keepdim { &[3, 1] } else { &[3] })?,
                _ => g.clone(),
            };
            let (_, dx) = vjp(|p| apply(kind, p.tensor("x")?, -1), &t, &gy.to_dtype(dtype)?)?;
            let dx = dx.tensor("x")?;
            assert_eq!(dx.dtype(), dtype);
            let want = analytic_vjp(kind, &xs, &gy.to_vec::<f64>()?, &[3, 3], 1);
            assert!(dx.to_f64_vec().iter().all(|v| v.is_finite()), "{kind:?}");
            assert_close(&dx.to_f64_vec(), &want, if dtype == DType::F64 { 1e-15 } else { 1e-6 });
        }
    }
    Ok(())
}

#[test]
fn infinite_logits() -> Result<()> {
    let inf = f64::INFINITY;
    // Rows: one −inf entry; all −inf; +inf entries; a NaN.
    let x = Tensor::from_vec(vec![-inf, 0.0, 2f64.ln(), -inf, -inf, -inf, inf, 0.0, inf, 1.0, f64::NAN, 0.0], &[4, 3])?;
    let p = softmax(&x, -1)?.to_vec::<f64>()?;
    assert_close(&p[..9], &[0.0, 1.0 / 3.0, 2.0 / 3.0, 0.0, 0.0, 0.0, 0.5, 0.0, 0.5], 1e-15);
    assert!(p[9..].iter().all(|v| v.is_nan()));
    let lp = logsoftmax(&x, -1)?.to_vec::<f64>()?;
    let ni = f64::NEG_INFINITY;
    let want = [ni, -(3f64.ln()), (2.0f64 / 3.0).ln(), ni, ni, ni, -(2f64.ln()), ni, -(2f64.ln())];
    for (g, w) in lp[..9].iter().zip(want) {
        assert!(g == &w || (g - w).abs() < 1e-15, "got {g}, want {w}");
    }
    assert!(lp[9..].iter().all(|v| v.is_nan()));
    let lse = logsumexp(&x, -1, false)?.to_vec::<f64>()?;
    assert!((lse[0] - 3f64.ln()).abs() < 1e-15);
    assert_eq!((lse[1], lse[2]), (ni, inf));
    assert!(lse[3].is_nan());
    // Gradients on the finite and fully masked rows are finite: zero for
    // softmax and logsumexp on the masked row, the incoming gradient for
    // logsoftmax.
    let x = x.narrow(0, 0, 2)?;
    let t = Tree::new().with("x", x.clone())?;
    let g = Tensor::from_vec(vec![0.3, -1.0, 2.0, 0.5, 1.5, -0.25], &[2, 3])?;
    let d_sm = vjp(|p| softmax(p.tensor("x")?, -1), &t, &g)?.1.tensor("x")?.to_vec::<f64>()?;
    let d_lsm = vjp(|p| logsoftmax(p.tensor("x")?, -1), &t, &g)?.1.tensor("x")?.to_vec::<f64>()?;
    let gl = Tensor::from_vec(vec![0.7, -1.2], &[2])?;
    let d_lse = vjp(|p| logsumexp(p.tensor("x")?, -1, false), &t, &gl)?.1.tensor("x")?.to_vec::<f64>()?;
    let (p1, p2) = (1.0 / 3.0, 2.0 / 3.0);
    let dot = -p1 + 2.0 * p2;
    assert_close(&d_sm, &[0.0, p1 * (-1.0 - dot), p2 * (2.0 - dot), 0.0, 0.0, 0.0], 1e-15);
    let total = 0.3 - 1.0 + 2.0;
    assert_close(&d_lsm, &[0.3, -1.0 - p1 * total, 2.0 - p2 * total, 0.5, 1.5, -0.25], 1e-15);
    assert_close(&d_lse, &[0.0, 0.7 * p1, 0.7 * p2, 0.0, 0.0, 0.0], 1e-15);
    Ok(())
}

#[test]
fn empty_axis() -> Result<()> {
    let x = Tensor::zeros(&[2, 0], DType::F32)?;
    assert_eq!(softmax(&x, -1)?.shape(), &[2, 0]);
    assert_eq!(logsumexp(&x, -1, false)?.to_vec::<f32>()?, vec![f32::NEG_INFINITY; 2]);
    assert_eq!(logsumexp(&x, 0, true)?.shape(), &[1, 0]);
    Ok(())
}

#[test]
fn hessian_vector_product_of_logsumexp() -> Result<()> {
    // ∇²lse(x)·v = (diag(p) − ppᵀ)·v per row, p = softmax(x).
    let x = randn(21, &[2, 5]);
    let v = randn(22, &[2, 5]);
    let t = Tree::new().with("x", x.clone())?;
    let hv = gradient(
        |p| {
            let inner = Tree::new().with("x", p.tensor("x")?.clone())?;
            let g = gradient(|q| logsumexp(q.tensor("x")?, -1, false)?.sum_all(), &inner)?;
            g.tensor("x")?.mul(&v)?.sum_all()
        },
        &t,
    )?;
    let (xs, vs) = (x.to_vec::<f64>()?, v.to_vec::<f64>()?);
    let mut want = vec![0.0; 10];
    for r in 0..2 {
        let row = &xs[5 * r..5 * r + 5];
        let z: f64 = row.iter().map(|a| a.exp()).sum();
        let p: Vec<f64> = row.iter().map(|a| a.exp() / z).collect();
        let pv: f64 = (0..5).map(|j| p[j] * vs[5 * r + j]).sum();
        for i in 0..5 {
            want[5 * r + i] = p[i] * vs[5 * r + i] - p[i] * pv;
        }
    }
    assert_close(&hv.tensor("x")?.to_vec::<f64>()?, &want, 1e-14);
    Ok(())
}

#[test]
fn nested_gradients_match_finite_differences_of_the_first() -> Result<()> {
    // d/dx of vjp(f, x, c) through the composite definitions, against
    // central differences of the fused first derivative.
    let cases: Vec<(Tensor, isize)> =
        vec![(randn(30, &[3, 4]), -1), (randn(31, &[3, 4]), 0), (randn(32, &[4, 3]).transpose(0, 1)?, 1)];
    for (x, axis) in cases {
        for kind in KINDS {
            let shape = out_shape(kind, x.shape(), axis.rem_euclid(x.ndim() as isize) as usize);
            let c = randn(99, &shape);
            check_op(
                |xs| {
                    let t = Tree::new().with("x", xs[0].clone())?;
                    vjp(|p| apply(kind, p.tensor("x")?, axis), &t, &c)?.1.tensor("x").cloned()
                },
                std::slice::from_ref(&x),
            );
        }
    }
    Ok(())
}

#[test]
fn nested_gradients_on_masked_rows_and_huge_logits_are_finite() -> Result<()> {
    let ni = f64::NEG_INFINITY;
    let x = Tensor::from_vec(vec![ni, 0.5, -1.0, ni, ni, ni, 1e4, -1e4, 0.0], &[3, 3])?;
    for kind in KINDS {
        let t = Tree::new().with("x", x.clone())?;
        let h = gradient(
            |p| {
                let inner = Tree::new().with("x", p.tensor("x")?.clone())?;
                let g = gradient(|q| weighted_sum(&apply(kind, q.tensor("x")?, -1)?), &inner)?;
                g.tensor("x")?.square()?.sum_all()
            },
            &t,
        )?;
        assert!(h.tensor("x")?.to_vec::<f64>()?.iter().all(|v| v.is_finite()), "{kind:?}");
    }
    Ok(())
}

#[test]
fn large_inputs_take_the_parallel_path() -> Result<()> {
    for (shape, axis) in [(vec![300usize, 250], 1usize), (vec![300, 250], 0), (vec![40, 50, 40], 1)] {
        let x = randn(40, &shape);
        let xs = x.to_vec::<f64>()?;
        let g = randn(41, &shape);
        let gs = g.to_vec::<f64>()?;
        for kind in [Kind::Softmax, Kind::LogSoftmax] {
            let y = apply(kind, &x, axis as isize)?;
            assert_close(&y.to_vec::<f64>()?, &reference(kind, &xs, &shape, axis), 1e-13);
            let t = Tree::new().with("x", x.clone())?;
            let dx = vjp(|p| apply(kind, p.tensor("x")?, axis as isize), &t, &g)?.1;
            assert_close(&dx.tensor("x")?.to_vec::<f64>()?, &analytic_vjp(kind, &xs, &gs, &shape, axis), 1e-13);
        }
    }
    Ok(())
}

#[test]
fn half_precision_forward() -> Result<()> {
    let x = randn(50, &[3, 4]);
    let xs = x.to_vec::<f64>()?;
    for (dtype, tol) in [(DType::F16, 2e-3), (DType::BF16, 1.6e-2)] {
        // The reference sees the same rounded inputs.
        let xh = x.to_dtype(dtype)?;
        let xr = xh.to_f64_vec();
        for kind in KINDS {
            let y = apply(kind, &xh, -1)?;
            assert_eq!(y.dtype(), dtype);
            assert_close(&y.to_f64_vec(), &reference(kind, &xr, &[3, 4], 1), tol);
        }
        assert!(xs.len() == 12);
    }
    Ok(())
}

#[test]
fn invalid_axis_names_the_shape() -> Result<()> {
    let x = randn(60, &[2, 3]);
    for axis in [2isize, -3] {
        for kind in KINDS {
            let e = apply(kind, &x, axis).unwrap_err();
            assert!(matches!(e, LuxError::InvalidArgument { .. }), "{e:?}");
            let msg = e.to_string();
            assert!(msg.contains("[2, 3]") && msg.contains(&format!("axis {axis}")), "{msg}");
        }
    }
    let e = softmax(&Tensor::scalar(1.0f32), -1).unwrap_err().to_string();
    assert!(e.contains("softmax") && e.contains("[]"), "{e}");
    Ok(())
}

#[test]
fn non_float_input_is_an_error() -> Result<()> {
    let i = Tensor::from_vec(vec![1i64, 2, 3], &[3])?;
    for kind in KINDS {
        assert!(matches!(apply(kind, &i, -1), Err(LuxError::UnsupportedDType { .. })));
    }
    Ok(())
}

#[test]
fn inference_records_nothing() -> Result<()> {
    let x = randn(70, &[2, 3]);
    for kind in KINDS {
        assert!(!apply(kind, &x, -1)?.is_tracked());
    }
    Ok(())
}
