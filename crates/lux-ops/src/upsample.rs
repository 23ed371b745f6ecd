//! Upsampling of the spatial dims of `[N, C, spatial…]` inputs (NNlib's
//! `upsample_nearest`, `upsample_linear`/`bilinear`/`trilinear` and
//! `pixel_shuffle`, batch-first).
//!
//! * **nearest**: every element is repeated `scale` times along each
//!   spatial dim (integer scales; a target size must be a multiple of the
//!   input size, as NNlib requires).
//! * **linear** (bilinear for two spatial dims, trilinear for three):
//!   separable linear interpolation with NNlib's source coordinates. For
//!   output index `o` (0-based) along a dim of input size `in` and output
//!   size `out`: with `align_corners` (NNlib's default) the source is
//!   `o · (in − 1)/(out − 1)`, so the corner pixels are kept; without it
//!   the source is `max(0, (o + ½) · in/out − ½)` (pixel centres, PyTorch's
//!   default). The two neighbours are `⌊src⌋` and `⌊src⌋ + 1` (clamped to
//!   the last index) with weights `1 − λ` and `λ = src − ⌊src⌋`. A target
//!   size equal to the input size returns the input, as NNlib does.
//! * **pixel shuffle** with factor `r` and `D` spatial dims maps
//!   `[N, C·r^D, s₁, …, s_D]` to `[N, C, r·s₁, …, r·s_D]`: input channel
//!   `c·r^D + (i₁·r^(D−1) + … + i_D)` (row-major over `(c, i₁, …, i_D)`)
//!   lands at output position `(r·p₁ + i₁, …, r·p_D + i_D)`. This is
//!   NNlib's `pixel_shuffle` read in the batch-first layout, and the same
//!   ordering as PyTorch's `pixel_shuffle` for images.
//!
//! All are composed of differentiable primitives (`index_select` with the
//! `index_add` adjoint, broadcasting products, `reshape`/`permute`), so
//! they are differentiable to any order.

use crate::conv::per_dim;
use crate::util::check_float;
use lux_core::{LuxError, Result, Tensor};

fn check_rank(op: &str, x: &Tensor) -> Result<()> {
    if x.ndim() < 3 {
        return Err(LuxError::shape(
            op,
            format!("x must be [N, C, spatial...] with at least one spatial dim, got shape {:?}", x.shape()),
        ));
    }
    Ok(())
}

fn index(v: Vec<i64>) -> Result<Tensor> {
    let n = v.len();
    Tensor::from_vec(v, &[n])
}

/// Nearest-neighbour upsampling of `x: [N, C, spatial…]` by the integer
/// `scale` (one value or one per spatial dim): the output is
/// `[N, C, scale₁·s₁, …]`, each input element repeated along every spatial
/// dim.
///
/// ```
/// use lux_core::Tensor;
/// use lux_ops::upsample_nearest;
/// let x = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0], &[1, 1, 2, 2])?;
/// let y = upsample_nearest(&x, &[1, 2])?; // height kept, width doubled
/// assert_eq!(y.shape(), &[1, 1, 2, 4]);
/// assert_eq!(y.to_vec::<f32>()?, vec![1.0, 1.0, 2.0, 2.0, 3.0, 3.0, 4.0, 4.0]);
/// # Ok::<(), lux_core::LuxError>(())
/// ```
///
/// # Errors
/// `x` has fewer than 3 dims or is not float; `scale` is empty, has a
/// zero entry, or a length other than 1 or the number of spatial dims.
pub fn upsample_nearest(x: &Tensor, scale: &[usize]) -> Result<Tensor> {
    let op = "upsample_nearest";
    check_rank(op, x)?;
    check_float(op, x)?;
    if scale.is_empty() {
        return Err(LuxError::invalid_argument(op, "the scale is empty"));
    }
    let d = x.ndim() - 2;
    let scale = per_dim(op, "scale", scale, d, 1)?;
    if scale.contains(&0) {
        return Err(LuxError::invalid_argument(op, format!("scale {scale:?} must be positive")));
    }
    let out: Vec<usize> = x.shape()[2..].iter().zip(&scale).map(|(&s, &k)| s.saturating_mul(k)).collect();
    let mut shape = x.shape()[..2].to_vec();
    shape.extend(&out);
    lux_core::buffer_len::<f32>(op, "output", &shape)?;
    let mut y = x.clone();
    for (i, (&k, &o)) in scale.iter().zip(&out).enumerate() {
        if k > 1 {
            y = y.index_select((i + 2) as isize, &index((0..o).map(|j| (j / k) as i64).collect())?)?;
        }
    }
    Ok(y)
}

/// Nearest-neighbour upsampling of `x: [N, C, spatial…]` to the spatial
/// size `size` (one entry per spatial dim), which must be a multiple of the
/// input's (NNlib's `upsample_nearest(x; size)`).
///
/// ```
/// use lux_core::Tensor;
/// use lux_ops::upsample_nearest_size;
/// let x = Tensor::from_vec(vec![1.0f32, 2.0], &[1, 1, 2])?;
/// assert_eq!(upsample_nearest_size(&x, &[6])?.to_vec::<f32>()?, vec![1.0, 1.0, 1.0, 2.0, 2.0, 2.0]);
/// assert!(upsample_nearest_size(&x, &[5]).is_err());
/// # Ok::<(), lux_core::LuxError>(())
/// ```
///
/// # Errors
/// As for [`upsample_nearest`]; `size` has a length other than the number
/// of spatial dims, or an entry that is not a positive multiple of the
/// input's size.
pub fn upsample_nearest_size(x: &Tensor, size: &[usize]) -> Result<Tensor> {
    let op = "upsample_nearest";
    check_rank(op, x)?;
    let in_sp = &x.shape()[2..];
    if size.len() != in_sp.len() {
        return Err(LuxError::invalid_argument(
            op,
            format!("size {size:?} must have one entry per spatial dim of the input {:?}", x.shape()),
        ));
    }
    if size.iter().zip(in_sp).any(|(&o, &i)| i == 0 || o == 0 || o % i != 0) {
        return Err(LuxError::invalid_argument(
            op,
            format!("size {size:?} must be a positive multiple of the input's spatial size {in_sp:?}"),
        ));
    }
    let scale: Vec<usize> = size.iter().zip(in_sp).map(|(o, i)| o / i).collect();
    upsample_nearest(x, &scale)
}

/// The two source indices and the weight of the second, per output index
/// (NNlib's `source_idx_and_λ`).
fn taps(n_in: usize, n_out: usize, align_corners: bool) -> (Vec<i64>, Vec<i64>, Vec<f64>) {
    let ratio = if align_corners {
        if n_out > 1 { (n_in as f64 - 1.0) / (n_out as f64 - 1.0) } else { 0.0 }
    } else {
        n_in as f64 / n_out as f64
    };
    let (mut lo, mut hi, mut lam) = (Vec::with_capacity(n_out), Vec::with_capacity(n_out), Vec::with_capacity(n_out));
    for o in 0..n_out {
        let src = if align_corners { ratio * o as f64 } else { (ratio * (o as f64 + 0.5) - 0.5).max(0.0) };
        let i0 = (src.floor() as usize).min(n_in - 1);
        let i1 = if i0 + 1 < n_in { i0 + 1 } else { i0 };
        lo.push(i0 as i64);
        hi.push(i1 as i64);
        lam.push(src - i0 as f64);
    }
    (lo, hi, lam)
}

/// Linear interpolation of the spatial dims of `x: [N, C, spatial…]` to the
/// spatial size `size` (one entry per spatial dim): linear for 1, bilinear
/// for 2, trilinear for 3 spatial dims (NNlib's `upsample_linear`; the
/// coordinates are in the [module docs](self)). A `size` equal to the
/// input's returns `x`.
///
/// ```
/// use lux_core::Tensor;
/// use lux_ops::upsample_linear;
/// let x = Tensor::from_vec(vec![0.0f64, 3.0], &[1, 1, 2])?;
/// // corners aligned: 0, 1, 2, 3
/// assert_eq!(upsample_linear(&x, &[4], true)?.to_vec::<f64>()?, vec![0.0, 1.0, 2.0, 3.0]);
/// // pixel centres: sources 0, 0.25, 0.75, 1 (clamped at both ends)
/// assert_eq!(upsample_linear(&x, &[4], false)?.to_vec::<f64>()?, vec![0.0, 0.75, 2.25, 3.0]);
/// # Ok::<(), lux_core::LuxError>(())
/// ```
///
/// # Errors
/// `x` has fewer than 3 dims, a zero-size spatial dim, or is not float;
/// `size` has a length other than the number of spatial dims or a zero
/// entry.
pub fn upsample_linear(x: &Tensor, size: &[usize], align_corners: bool) -> Result<Tensor> {
    linear("upsample_linear", x, size, align_corners)
}

/// Bilinear upsampling of `x: [N, C, H, W]` to the spatial size `size`
/// (`[H_out, W_out]`): [`upsample_linear`] restricted to two spatial dims
/// (NNlib's `upsample_bilinear`).
///
/// ```
/// use lux_core::Tensor;
/// use lux_ops::upsample_bilinear;
/// let x = Tensor::from_vec(vec![0.0f64, 2.0, 4.0, 6.0], &[1, 1, 2, 2])?;
/// let y = upsample_bilinear(&x, &[3, 3], true)?;
/// assert_eq!(y.to_vec::<f64>()?, vec![0.0, 1.0, 2.0, 2.0, 3.0, 4.0, 4.0, 5.0, 6.0]);
/// # Ok::<(), lux_core::LuxError>(())
/// ```
///
/// # Errors
/// As for [`upsample_linear`]; `x` is not 4-d.
pub fn upsample_bilinear(x: &Tensor, size: &[usize], align_corners: bool) -> Result<Tensor> {
    let op = "upsample_bilinear";
    if x.ndim() != 4 {
        return Err(LuxError::shape(op, format!("x must be [N, C, H, W], got shape {:?}", x.shape())));
    }
    linear(op, x, size, align_corners)
}

fn linear(op: &str, x: &Tensor, size: &[usize], align_corners: bool) -> Result<Tensor> {
    check_rank(op, x)?;
    check_float(op, x)?;
    let in_sp = x.shape()[2..].to_vec();
    if size.len() != in_sp.len() {
        return Err(LuxError::invalid_argument(
            op,
            format!("size {size:?} must have one entry per spatial dim of the input {:?}", x.shape()),
        ));
    }
    if size.contains(&0) || in_sp.contains(&0) {
        return Err(LuxError::shape(
            op,
            format!("cannot interpolate the input {:?} to the spatial size {size:?}: a size is zero", x.shape()),
        ));
    }
    let mut shape = x.shape()[..2].to_vec();
    shape.extend(size);
    lux_core::buffer_len::<f32>(op, "output", &shape)?;
    if in_sp == size {
        return Ok(x.clone());
    }
    let mut y = x.clone();
    for (i, (&n_in, &n_out)) in in_sp.iter().zip(size).enumerate() {
        if n_in == n_out {
            continue;
        }
        let axis = (i + 2) as isize;
        let (lo, hi, lam) = taps(n_in, n_out, align_corners);
        let mut wshape = vec![1; x.ndim()];
        wshape[i + 2] = n_out;
        let w1 = Tensor::from_vec(lam, &wshape)?.to_dtype(x.dtype())?;
        let w0 = w1.neg()?.add_scalar(1.0)?;
        let a = y.index_select(axis, &index(lo)?)?;
        let b = y.index_select(axis, &index(hi)?)?;
        y = a.mul(&w0)?.add(&b.mul(&w1)?)?;
    }
    Ok(y)
}

/// Pixel shuffle with upscale factor `r`: `[N, C·r^D, s₁, …, s_D]` →
/// `[N, C, r·s₁, …, r·s_D]` for `D` spatial dims (the channel ordering is
/// in the [module docs](self)).
///
/// ```
/// use lux_core::Tensor;
/// use lux_ops::pixel_shuffle;
/// // four 1×1 channels become one 2×2 image, row-major
/// let x = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0], &[1, 4, 1, 1])?;
/// let y = pixel_shuffle(&x, 2)?;
/// assert_eq!(y.shape(), &[1, 1, 2, 2]);
/// assert_eq!(y.to_vec::<f32>()?, vec![1.0, 2.0, 3.0, 4.0]);
/// # Ok::<(), lux_core::LuxError>(())
/// ```
///
/// # Errors
/// `x` has fewer than 3 dims; `r` is 0; the channels are not divisible by
/// `r^D`.
pub fn pixel_shuffle(x: &Tensor, r: usize) -> Result<Tensor> {
    let op = "pixel_shuffle";
    check_rank(op, x)?;
    if r == 0 {
        return Err(LuxError::invalid_argument(op, "the upscale factor r must be positive, got 0"));
    }
    let s = x.shape();
    let d = s.len() - 2;
    let rd = u32::try_from(d).ok().and_then(|d| r.checked_pow(d));
    let Some(rd) = rd.filter(|&rd| s[1] % rd == 0) else {
        return Err(LuxError::shape(op, format!("x {s:?} has {} channels, not divisible by r^{d} (r = {r})", s[1])));
    };
    let c = s[1] / rd;
    // [N, C, r (×D), s (×D)] → [N, C, s₁, r, s₂, r, …] → [N, C, r·s₁, …]
    let mut split = vec![s[0], c];
    split.extend(std::iter::repeat_n(r, d));
    split.extend(&s[2..]);
    let mut perm = vec![0, 1];
    for i in 0..d {
        perm.push(2 + d + i);
        perm.push(2 + i);
    }
    let mut out = vec![s[0], c];
    out.extend(s[2..].iter().map(|&v| v.saturating_mul(r)));
    lux_core::buffer_len::<f32>(op, "output", &out)?;
    x.reshape(&split)?.permute(&perm)?.reshape(&out)
}
