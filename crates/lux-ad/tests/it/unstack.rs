//! Slices of one tensor (`eachslice`, the gates of a recurrent cell) send
//! their gradients back into one buffer: first-order backward passes add
//! each slice's cotangent in place (linear in the number of slices, not
//! quadratic), nested ones stay differentiable. Checked against finite
//! differences (first and second order) and against hand-computed values.

use crate::{randn, weighted_sum};
use lux_ad::{Tolerances, check_gradients, gradient, hvp};
use lux_core::{DType, Result, Tensor, Tree, tree};

/// `eachslice` as lux-ops writes it: `narrow` then `squeeze`.
fn slices(x: &Tensor, axis: usize) -> Result<Vec<Tensor>> {
    (0..x.shape()[axis]).map(|i| x.narrow(axis as isize, i, 1)?.squeeze(axis as isize)).collect()
}

/// A small recurrence over the time axis 1 of `x`: `h ← tanh(x_t·W + h·U)`,
/// returning a weighted sum of every step's output (so each slice gets its
/// own cotangent).
fn recurrence(x: &Tensor, w: &Tensor, u: &Tensor) -> Result<Tensor> {
    let steps = slices(x, 1)?;
    let mut h = Tensor::zeros(&[x.shape()[0], w.shape()[1]], x.dtype())?;
    let mut total = Tensor::scalar(0.0f64).to_dtype(x.dtype())?;
    for (t, xt) in steps.iter().enumerate() {
        h = xt.matmul(w)?.add(&h.matmul(u)?)?.tanh()?;
        total = total.add(&h.mul_scalar(1.0 + 0.1 * t as f64)?.sin()?.sum_all()?)?;
    }
    Ok(total)
}

fn tol() -> Tolerances {
    Tolerances::default()
}

#[test]
fn eachslice_gradients_match_finite_differences_on_every_axis() -> Result<()> {
    for axis in 0..3 {
        let x = tree! { x: randn(10 + axis as u64, &[3, 4, 2]) };
        check_gradients(
            |t| {
                let parts = slices(t.tensor("x")?, axis)?;
                let mut s = Tensor::scalar(0.0f64);
                for (i, p) in parts.iter().enumerate() {
                    s = s.add(&weighted_sum(&p.mul_scalar(i as f64 + 1.0)?.sin()?)?)?;
                }
                Ok(s)
            },
            &x,
            tol(),
        )?;
    }
    Ok(())
}

#[test]
fn slices_used_several_times_or_not_at_all_accumulate_exactly() -> Result<()> {
    // Σ_i c_i · x[:, i], with slice 1 used twice and slice 3 unused: the
    // gradient is c_i in column i (c_1 = 2 + 5), 0 in column 3.
    let x = tree! { x: randn(1, &[2, 4]) };
    let g = gradient(
        |t| {
            let p = slices(t.tensor("x")?, 1)?;
            p[0].mul_scalar(1.0)?
                .add(&p[1].mul_scalar(2.0)?)?
                .add(&p[2].mul_scalar(3.0)?)?
                .add(&p[1].mul_scalar(5.0)?)?
                .sum_all()
        },
        &x,
    )?;
    assert_eq!(g.tensor("x")?.to_vec::<f64>()?, vec![1.0, 7.0, 3.0, 0.0, 1.0, 7.0, 3.0, 0.0]);
    // The same through overlapping narrows on a non-contiguous (transposed) input.
    let x = tree! { x: randn(2, &[3, 2]) };
    let g = gradient(
        |t| {
            let xt = t.tensor("x")?.transpose(0, 1)?; // [2, 3], strided
            xt.narrow(1, 0, 2)?.sum_all()?.add(&xt.narrow(1, 1, 2)?.mul_scalar(10.0)?.sum_all()?)
        },
        &x,
    )?;
    // column j of xt is row j of x: weights 1, 11, 10
    assert_eq!(g.tensor("x")?.to_vec::<f64>()?, vec![1.0, 1.0, 11.0, 11.0, 10.0, 10.0]);
    // The input itself also used whole, besides its slices.
    let x = tree! { x: randn(3, &[2, 3]) };
    let g =
        gradient(|t| t.tensor("x")?.sum_all()?.add(&slices(t.tensor("x")?, 1)?[2].mul_scalar(4.0)?.sum_all()?), &x)?;
    assert_eq!(g.tensor("x")?.to_vec::<f64>()?, vec![1.0, 1.0, 5.0, 1.0, 1.0, 5.0]);
    Ok(())
}

#[test]
fn slice_gradients_in_f32_keep_their_dtype() -> Result<()> {
    let x = tree! { x: randn(4, &[2, 3]).to_dtype(DType::F32)? };
    let g = gradient(|t| slices(t.tensor("x")?, 1)?[1].mul_scalar(3.0)?.sum_all(), &x)?;
    let g = g.tensor("x")?;
    assert_eq!(g.dtype(), DType::F32);
    assert_eq!(g.to_vec::<f32>()?, vec![0.0, 3.0, 0.0, 0.0, 3.0, 0.0]);
    Ok(())
}

#[test]
fn recurrence_over_slices_matches_finite_differences() -> Result<()> {
    let ps = tree! { x: randn(20, &[2, 6, 3]), w: randn(21, &[3, 4]).mul_scalar(0.5)?, u: randn(22, &[4, 4]).mul_scalar(0.5)? };
    check_gradients(|t| recurrence(t.tensor("x")?, t.tensor("w")?, t.tensor("u")?), &ps, tol())?;
    Ok(())
}

#[test]
fn second_order_through_slices() -> Result<()> {
    // The gradient of a function of slices, differentiated again: the
    // Hessian-vector product against finite differences of the gradient,
    // and the gradient of a gradient norm (a nested reverse pass).
    let ps = tree! { x: randn(30, &[2, 5, 3]), w: randn(31, &[3, 3]).mul_scalar(0.5)?, u: randn(32, &[3, 3]).mul_scalar(0.5)? };
    let f = |t: &Tree| recurrence(t.tensor("x")?, t.tensor("w")?, t.tensor("u")?);
    let v = tree! { x: randn(33, &[2, 5, 3]), w: randn(34, &[3, 3]), u: randn(35, &[3, 3]) };
    let hv = hvp(f, &ps, &v)?;
    // central difference of the gradient along v
    let eps = 1e-5;
    let shift = |s: f64| -> Result<Tree> {
        let p = ps.zip_map(&v, |_, a, b| a.add(&b.mul_scalar(s)?))?;
        gradient(f, &p)
    };
    let (gp, gm) = (shift(eps)?, shift(-eps)?);
    for key in ["x", "w", "u"] {
        let (a, b, h) =
            (gp.tensor(key)?.to_vec::<f64>()?, gm.tensor(key)?.to_vec::<f64>()?, hv.tensor(key)?.to_vec::<f64>()?);
        for i in 0..h.len() {
            let fd = (a[i] - b[i]) / (2.0 * eps);
            assert!((fd - h[i]).abs() <= 1e-6 * (1.0 + fd.abs()), "{key}[{i}]: hvp {} vs fd {fd}", h[i]);
        }
    }
    // ∇ₓ ‖∇ₓ g‖² for g = Σ_t c_t · sin(x[:, t])² checked by finite differences
    let x = tree! { x: randn(36, &[2, 4]) };
    let gnorm = |t: &Tree| -> Result<Tensor> {
        let inner = gradient(
            |s| {
                let mut acc = Tensor::scalar(0.0f64);
                for (i, p) in slices(s.tensor("x")?, 1)?.iter().enumerate() {
                    acc = acc.add(&p.sin()?.square()?.mul_scalar(i as f64 + 1.0)?.sum_all()?)?;
                }
                Ok(acc)
            },
            t,
        )?;
        inner.tensor("x")?.square()?.sum_all()
    };
    check_gradients(gnorm, &x, tol())?;
    Ok(())
}

/// Times the backward pass of a T = 50 (and T = 200) recurrence over slices.
/// Run with `cargo test --release -p lux-ad --test it unstack::timing -- --ignored --nocapture`.
/// Measured on the 2-core dev machine (release, x `[32, T, 64]` f32, load < 1):
/// before the in-place slice accumulation T = 50: 17.7 ms, T = 200: 168 ms
/// (quadratic); after T = 50: 3.8 ms, T = 200: 17.5 ms (linear).
#[test]
#[ignore = "timing only: run in release with --ignored --nocapture"]
fn timing_backward_of_slice_recurrence() -> Result<()> {
    for t_len in [50usize, 200] {
        let ps = tree! { x: randn(40, &[32, t_len, 64]).to_dtype(DType::F32)?, w: randn(41, &[64, 64]).mul_scalar(0.1)?.to_dtype(DType::F32)?, u: randn(42, &[64, 64]).mul_scalar(0.1)?.to_dtype(DType::F32)? };
        let f = |t: &Tree| recurrence(t.tensor("x")?, t.tensor("w")?, t.tensor("u")?);
        let forward_only = {
            let start = std::time::Instant::now();
            for _ in 0..5 {
                f(&ps)?;
            }
            start.elapsed().as_secs_f64() / 5.0
        };
        gradient(f, &ps)?; // warm-up
        let reps = 10;
        let start = std::time::Instant::now();
        for _ in 0..reps {
            gradient(f, &ps)?;
        }
        let per = start.elapsed().as_secs_f64() / reps as f64;
        eprintln!("T = {t_len}: forward {:.2} ms, value+gradient {:.2} ms", forward_only * 1e3, per * 1e3);
    }
    Ok(())
}
