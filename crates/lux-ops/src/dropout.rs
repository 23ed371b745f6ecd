//! Dropout and alpha-dropout with an explicit random number generator
//! (LuxLib's `dropout` and `alpha_dropout`).
//!
//! The rng is passed in and a new one is returned, never a global: the
//! input state is left untouched, the mask is drawn from a copy, and the
//! advanced copy is returned (Lux's `replicate` + draw). The same rng
//! therefore always gives the same mask.
//!
//! The output is `x ⊙ mask` (plus a constant for alpha-dropout) with a
//! constant mask, written with primitive differentiable ops, so gradients
//! (`mask ⊙ g`) and gradients of gradients come for free.

use crate::util::{check_float, check_unit_interval, filled};
use lux_core::{DType, Result, RngState, Tensor, normalize_axis};
use rand::RngExt;

/// The `α′ = −λα` of SELU (≈ −1.7581), the value alpha-dropout sets dropped
/// entries to before its affine correction (LuxLib's constant).
///
/// ```
/// // −λα with SELU's λ ≈ 1.0507 and α ≈ 1.6733
/// let (lambda, alpha) = (1.050_700_987_355_480_5, 1.673_263_242_354_377_3);
/// assert!((lux_ops::dropout::ALPHA_DROPOUT_ALPHA + lambda * alpha).abs() < 1e-15);
/// ```
pub const ALPHA_DROPOUT_ALPHA: f64 = -1.758_099_340_847_376_6;

/// Inverted dropout: keeps each element with probability `1 − p` and scales
/// kept ones by `1/(1 − p)`, so `E[y] = x`.
///
/// * `training == false` or `p == 0`: returns `x` and the rng unchanged
///   (Lux's test mode; Lux's `Dropout(0)` is a no-op layer).
/// * `p == 1`: every element is dropped (zeros).
///
/// Returns the output and the advanced rng (a copy; `rng` itself is not
/// changed). See [`dropout_dims`] to share the mask along some axes.
///
/// ```
/// use lux_core::{RngState, Tensor, DType};
/// use lux_ops::dropout::dropout;
/// let rng = RngState::seed_from_u64(0);
/// let x = Tensor::ones(&[2, 1000], DType::F64)?;
/// let (y, rng2) = dropout(&rng, &x, 0.5, true)?;
/// assert_ne!(rng2, rng);
/// assert!(y.to_vec::<f64>()?.iter().all(|&v| v == 0.0 || v == 2.0));
/// // Test mode: the identity.
/// let (y, same) = dropout(&rng, &x, 0.5, false)?;
/// assert_eq!((y, same), (x, rng));
/// # Ok::<(), lux_core::LuxError>(())
/// ```
///
/// # Errors
/// `p` outside `[0, 1]`; `x` is not a float tensor; the mask is too large
/// to allocate.
pub fn dropout(rng: &RngState, x: &Tensor, p: f64, training: bool) -> Result<(Tensor, RngState)> {
    dropout_dims(rng, x, p, training, None)
}

/// [`dropout`] with Lux's `dims`: the mask varies only along the axes in
/// `dims` (size 1, i.e. shared, along every other axis); `None` = every axis
/// (Lux's `dims = :`).
///
/// For example `Some(&[0, 1])` on `[N, C, H, W]` input drops whole channels
/// of each sample ("2-D dropout"; Lux's `dims = (3, 4)` on WHCN input).
///
/// ```
/// use lux_core::{RngState, Tensor, DType};
/// use lux_ops::dropout::dropout_dims;
/// let x = Tensor::ones(&[4, 8, 3, 3], DType::F32)?;
/// let (y, _) = dropout_dims(&RngState::seed_from_u64(1), &x, 0.5, true, Some(&[0, 1]))?;
/// // Each 3×3 channel is either all dropped or all kept.
/// let v = y.to_vec::<f32>()?;
/// assert!(v.chunks(9).all(|ch| ch.iter().all(|&e| e == ch[0])));
/// # Ok::<(), lux_core::LuxError>(())
/// ```
///
/// # Errors
/// As for [`dropout`]; an axis in `dims` is out of range; the mask is too
/// large to allocate (e.g. `[1, 2^40]` for an empty `[0, 2^40]` input with
/// `dims = [1]`; the message names its shape and size).
pub fn dropout_dims(
    rng: &RngState,
    x: &Tensor,
    p: f64,
    training: bool,
    dims: Option<&[isize]>,
) -> Result<(Tensor, RngState)> {
    const OP: &str = "dropout";
    check_unit_interval(OP, "the dropout probability p", p)?;
    check_float(OP, x)?;
    let shape = mask_shape(OP, x, dims)?;
    if !training || p == 0.0 {
        return Ok((x.clone(), rng.clone()));
    }
    let (mask, rng) = draw_mask(OP, rng, &shape, p, x.dtype())?;
    Ok((x.mul(&mask)?, rng))
}

/// The scaled dropout mask alone: values `1/(1 − p)` (kept) or `0`
/// (dropped), of `x`'s dtype and of shape `x.shape()` with size 1 on every
/// axis not in `dims` (LuxLib's `dropout_shape`); and the advanced rng.
/// Multiply it into `x` (broadcasting) to apply it, e.g. to reuse one mask
/// over several calls (Lux's `VariationalHiddenDropout`). Draws even when
/// `p == 0` (all kept).
///
/// ```
/// use lux_core::{RngState, Tensor, DType};
/// use lux_ops::dropout::dropout_mask;
/// let x = Tensor::zeros(&[2, 3, 5], DType::F64)?;
/// let (mask, _) = dropout_mask(&RngState::seed_from_u64(3), &x, 0.25, Some(&[0, -2]))?;
/// assert_eq!(mask.shape(), &[2, 3, 1]);
/// assert!(mask.to_vec::<f64>()?.iter().all(|&m| m == 0.0 || m == 1.0 / 0.75));
/// # Ok::<(), lux_core::LuxError>(())
/// ```
///
/// # Errors
/// As for [`dropout_dims`].
pub fn dropout_mask(rng: &RngState, x: &Tensor, p: f64, dims: Option<&[isize]>) -> Result<(Tensor, RngState)> {
    const OP: &str = "dropout_mask";
    check_unit_interval(OP, "the dropout probability p", p)?;
    check_float(OP, x)?;
    let shape = mask_shape(OP, x, dims)?;
    draw_mask(OP, rng, &shape, p, x.dtype())
}

/// Alpha-dropout for self-normalising (SELU) networks (LuxLib's
/// `alpha_dropout`, Klambauer et al. 2017): each element is kept with
/// probability `1 − p`, dropped ones are set to [`ALPHA_DROPOUT_ALPHA`]
/// (`α′`), and the result is mapped by `y = A·z + B` with
/// `A = 1/√((1 − p)(1 + p·α′²))`, `B = −A·α′·p`, which keeps zero mean and
/// unit variance of standard-normal input. Gradient: `A·g` where kept, 0
/// elsewhere.
///
/// * `training == false` or `p == 0`: returns `x` and the rng unchanged.
/// * `p == 1`: zeros, rng unchanged (Lux's `AlphaDropout(1)` is
///   `broadcast(zero)`; the formula itself is undefined there).
///
/// ```
/// use lux_core::{RngState, Tensor, DType};
/// use lux_ops::dropout::{alpha_dropout, ALPHA_DROPOUT_ALPHA};
/// let x = Tensor::zeros(&[1000], DType::F64)?;
/// let (y, _) = alpha_dropout(&RngState::seed_from_u64(0), &x, 0.2, true)?;
/// let a = 1.0 / (0.8 * (1.0 + 0.2 * ALPHA_DROPOUT_ALPHA.powi(2))).sqrt();
/// let b = -a * ALPHA_DROPOUT_ALPHA * 0.2;
/// // Kept zeros become B, dropped ones A·α′ + B.
/// let dropped = a * ALPHA_DROPOUT_ALPHA + b;
/// assert!(y.to_vec::<f64>()?.iter().all(|&v| (v - b).abs() < 1e-12 || (v - dropped).abs() < 1e-12));
/// # Ok::<(), lux_core::LuxError>(())
/// ```
///
/// # Errors
/// `p` outside `[0, 1]`; `x` is not a float tensor; the mask is too large
/// to allocate.
pub fn alpha_dropout(rng: &RngState, x: &Tensor, p: f64, training: bool) -> Result<(Tensor, RngState)> {
    const OP: &str = "alpha_dropout";
    check_unit_interval(OP, "the dropout probability p", p)?;
    check_float(OP, x)?;
    if !training || p == 0.0 {
        return Ok((x.clone(), rng.clone()));
    }
    if p == 1.0 {
        return Ok((x.zeros_like(), rng.clone()));
    }
    let alpha = ALPHA_DROPOUT_ALPHA;
    let a = 1.0 / ((1.0 - p) * (1.0 + p * alpha * alpha)).sqrt();
    let b = -a * alpha * p;
    let dropped = a * alpha + b;
    let mut rng = rng.clone();
    let mut scale = filled(OP, "mask", x.shape(), 0.0)?;
    let mut shift = filled(OP, "mask", x.shape(), 0.0)?;
    for (s, t) in scale.iter_mut().zip(&mut shift) {
        let keep = rng.random::<f64>() > p;
        (*s, *t) = if keep { (a, b) } else { (0.0, dropped) };
    }
    let dtype = x.dtype();
    let scale = Tensor::from_vec(scale, x.shape())?.to_dtype(dtype)?;
    let shift = Tensor::from_vec(shift, x.shape())?.to_dtype(dtype)?;
    Ok((x.mul(&scale)?.add(&shift)?, rng))
}

/// `x`'s shape with size 1 on the axes not in `dims`.
fn mask_shape(op: &str, x: &Tensor, dims: Option<&[isize]>) -> Result<Vec<usize>> {
    let Some(dims) = dims else { return Ok(x.shape().to_vec()) };
    let mut keep = vec![false; x.ndim()];
    for &d in dims {
        keep[normalize_axis(op, d, x.shape())?] = true;
    }
    Ok(x.shape().iter().zip(&keep).map(|(&s, &k)| if k { s } else { 1 }).collect())
}

/// `1/(1 − p)` where a uniform draw `u ∈ [0, 1)` exceeds `p`, else 0 (as
/// LuxLib: kept iff `u > p`), from a copy of `rng`; a mask too large to
/// allocate is an `Err` naming `op` and its shape.
fn draw_mask(op: &str, rng: &RngState, shape: &[usize], p: f64, dtype: DType) -> Result<(Tensor, RngState)> {
    let mut rng = rng.clone();
    let inv = 1.0 / (1.0 - p);
    let mask = if dtype == DType::F64 {
        let mut v = filled(op, "mask", shape, 0.0f64)?;
        v.iter_mut().for_each(|m| *m = if rng.random::<f64>() > p { inv } else { 0.0 });
        Tensor::from_vec(v, shape)?
    } else {
        let inv = inv as f32;
        let mut v = filled(op, "mask", shape, 0.0f32)?;
        v.iter_mut().for_each(|m| *m = if rng.random::<f64>() > p { inv } else { 0.0 });
        Tensor::from_vec(v, shape)?.to_dtype(dtype)?
    };
    Ok((mask, rng))
}
