//! Max, mean and Lp-norm pooling over the spatial dims of `[N, C, spatial…]` inputs
//! (any number ≥ 1 of spatial dims): windowed, global and adaptive.
//!
//! Semantics follow Lux/NNlib:
//! * the stride defaults to the window; [`Padding`] is shared with
//!   [`conv`](fn@crate::conv) (`Padding::Same` gives output `⌈in / stride⌉`);
//!   the output size is `(in + pad_before + pad_after − dilation·(w − 1) − 1)
//!   / stride + 1`;
//! * **max pooling** ignores the padding (it acts as −∞); a window lying
//!   entirely on the padding gives −∞. Its gradient goes to the position of
//!   the maximum; on ties, to the **first** maximum in the window's
//!   row-major order. NaN propagates (a NaN in a window is its maximum);
//! * **mean pooling** divides by the full window size `Π window` — padded
//!   zeros count in the divisor, as in NNlib's `meanpool`;
//! * **global** pooling reduces every spatial dim to size 1, keeping it
//!   (`[N, C, 1, 1]` for images), as Lux's `GlobalMaxPool`/`GlobalMeanPool`;
//! * **adaptive** pooling to an output size `out` uses, per spatial dim,
//!   Lux's `compute_adaptive_pooling_dims`: `stride = in ÷ out` (integer
//!   division), `window = in − (out − 1)·stride`, no padding. The windows
//!   tile the input exactly when `out` divides `in`; otherwise they all have
//!   the size `window > stride` and overlap, the last one ending at the end
//!   of the input (PyTorch instead uses windows of uneven sizes).
//!
//! Each op is one fused custom op (forward and backward kernels over the
//! window's runs along the last spatial dim, parallel over the `N·C` planes
//! when large; max pooling records the argmax only when a gradient may be
//! taken). When the backward pass is itself differentiated it falls back to
//! a composite definition with `index_select`/`gather` (for max pooling: a
//! gather of the recorded argmax positions, which has the same derivatives).

use crate::conv::{NONE, Padding, Runs, Window, internal, per_dim};
use crate::util::{check_float, filled};
use lux_core::{CustomOp, FloatData, LuxError, Real, Result, Tensor};
use ndarray::{ArcArray, IxDyn};
use rayon::prelude::*;
use std::sync::Arc;

/// Options of [`max_pool`] and [`mean_pool`]. Per-dimension lists may be
/// empty (default), have one entry (every spatial dim) or one per spatial
/// dim.
///
/// ```
/// use lux_ops::conv::Padding;
/// use lux_ops::pool::PoolOptions;
/// let o = PoolOptions::new().stride(&[1]).padding(Padding::Same).dilation(&[2]);
/// assert_eq!(o.stride, vec![1]);
/// assert_eq!(PoolOptions::default().pad(&[1, 0]).padding, Padding::Explicit(vec![(1, 1), (0, 0)]));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PoolOptions {
    /// Step of the window per spatial dim; empty (the default) means the
    /// window size.
    pub stride: Vec<usize>,
    /// Padding (default none); see the module docs for how each pooling
    /// treats it.
    pub padding: Padding,
    /// Spacing of the window taps per spatial dim (default 1).
    pub dilation: Vec<usize>,
}

impl PoolOptions {
    /// Stride = window, no padding, dilation 1.
    ///
    /// ```
    /// use lux_core::Tensor;
    /// use lux_ops::pool::{max_pool, PoolOptions};
    /// let x = Tensor::from_vec(vec![1.0f32, 3.0, 2.0, 4.0], &[1, 1, 4])?;
    /// assert_eq!(max_pool(&x, &[2], &PoolOptions::new())?.to_vec::<f32>()?, vec![3.0, 4.0]);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn new() -> Self {
        Self::default()
    }
    /// Sets the stride (one value or one per spatial dim).
    ///
    /// ```
    /// use lux_core::Tensor;
    /// use lux_ops::pool::{max_pool, PoolOptions};
    /// let x = Tensor::from_vec(vec![1.0f32, 3.0, 2.0, 4.0], &[1, 1, 4])?;
    /// // overlapping windows [1, 3], [3, 2], [2, 4]
    /// assert_eq!(max_pool(&x, &[2], &PoolOptions::new().stride(&[1]))?.to_vec::<f32>()?, vec![3.0, 3.0, 4.0]);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn stride(mut self, stride: &[usize]) -> Self {
        self.stride = stride.to_vec();
        self
    }
    /// Sets the padding.
    ///
    /// ```
    /// use lux_core::Tensor;
    /// use lux_ops::{conv::Padding, pool::{max_pool, PoolOptions}};
    /// let x = Tensor::from_vec(vec![1.0f32, 3.0, 2.0], &[1, 1, 3])?;
    /// // same padding: one (−∞) element before → windows [pad, 1], [3, 2]
    /// let y = max_pool(&x, &[2], &PoolOptions::new().padding(Padding::Same))?;
    /// assert_eq!(y.to_vec::<f32>()?, vec![1.0, 3.0]);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn padding(mut self, padding: Padding) -> Self {
        self.padding = padding;
        self
    }
    /// Sets symmetric padding (one value or one per spatial dim).
    ///
    /// ```
    /// use lux_core::Tensor;
    /// use lux_ops::pool::{mean_pool, PoolOptions};
    /// let x = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0], &[1, 1, 4])?;
    /// // [0, 1, 2, 3, 4, 0] in windows of 2; padded zeros count in the mean
    /// let y = mean_pool(&x, &[2], &PoolOptions::new().pad(&[1]))?;
    /// assert_eq!(y.to_vec::<f32>()?, vec![0.5, 2.5, 2.0]);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn pad(self, pad: &[usize]) -> Self {
        self.padding(Padding::symmetric(pad))
    }
    /// Sets the dilation (one value or one per spatial dim).
    ///
    /// ```
    /// use lux_core::Tensor;
    /// use lux_ops::pool::{max_pool, PoolOptions};
    /// let x = Tensor::from_vec(vec![1.0f32, 5.0, 2.0, 0.0, 3.0], &[1, 1, 5])?;
    /// // taps 2 apart, stride 1: max(1, 2), max(5, 0), max(2, 3)
    /// let y = max_pool(&x, &[2], &PoolOptions::new().stride(&[1]).dilation(&[2]))?;
    /// assert_eq!(y.to_vec::<f32>()?, vec![2.0, 5.0, 3.0]);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn dilation(mut self, dilation: &[usize]) -> Self {
        self.dilation = dilation.to_vec();
        self
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Max,
    Mean,
}

/// The validated shapes of one pooling.
#[derive(Clone, Debug)]
struct PoolGeom {
    n: usize,
    c: usize,
    win: Window,
}

impl PoolGeom {
    fn planes(&self) -> usize {
        self.n * self.c
    }
    fn out_shape(&self) -> Vec<usize> {
        let mut s = vec![self.n, self.c];
        s.extend(&self.win.out_sp);
        s
    }
}

fn check_rank(op: &str, x: &Tensor) -> Result<()> {
    if x.ndim() < 3 {
        return Err(LuxError::shape(
            op,
            format!("x must be [N, C, spatial...] with at least one spatial dim, got shape {:?}", x.shape()),
        ));
    }
    Ok(())
}

fn resolve(op: &str, x: &Tensor, window: &[usize], opts: &PoolOptions) -> Result<PoolGeom> {
    check_rank(op, x)?;
    let d = x.ndim() - 2;
    if window.is_empty() {
        return Err(LuxError::invalid_argument(op, "the window is empty"));
    }
    let k = per_dim(op, "window", window, d, 1)?;
    let stride = if opts.stride.is_empty() { k.clone() } else { opts.stride.clone() };
    let win = Window::resolve(op, "window", x.shape(), &k, &stride, &opts.dilation, &opts.padding)?;
    Ok(PoolGeom { n: x.shape()[0], c: x.shape()[1], win })
}

/// Max pooling over windows of size `window` (one value or one per spatial
/// dim) of `x: [N, C, spatial…]`; padding acts as −∞, ties send the
/// gradient to the first maximum (see the [module docs](self)).
///
/// ```
/// use lux_core::Tensor;
/// use lux_ops::pool::{max_pool, PoolOptions};
/// let x = Tensor::from_vec((1..=16).map(|v| v as f32).collect(), &[1, 1, 4, 4])?;
/// let y = max_pool(&x, &[2], &PoolOptions::new())?; // 2×2 windows, stride 2
/// assert_eq!(y.shape(), &[1, 1, 2, 2]);
/// assert_eq!(y.to_vec::<f32>()?, vec![6.0, 8.0, 14.0, 16.0]);
/// # Ok::<(), lux_core::LuxError>(())
/// ```
///
/// # Errors
/// `x` has fewer than 3 dims; the window, stride or dilation has a zero
/// entry or a length other than 1 or the number of spatial dims; the
/// (dilated) window is larger than the padded input; `x` is not float.
pub fn max_pool(x: &Tensor, window: &[usize], opts: &PoolOptions) -> Result<Tensor> {
    let geom = resolve("max_pool", x, window, opts)?;
    pool_fused("max_pool", Kind::Max, x, geom)
}

/// Mean pooling over windows of size `window` (one value or one per
/// spatial dim) of `x: [N, C, spatial…]`; the divisor is always the window
/// size, padded zeros included (NNlib's `meanpool`).
///
/// ```
/// use lux_core::Tensor;
/// use lux_ops::pool::{mean_pool, PoolOptions};
/// let x = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0], &[1, 1, 6])?;
/// assert_eq!(mean_pool(&x, &[2], &PoolOptions::new())?.to_vec::<f32>()?, vec![1.5, 3.5, 5.5]);
/// // padding 1 on both sides, window 3, stride 3: (0+1+2)/3, (3+4+5)/3
/// let y = mean_pool(&x, &[3], &PoolOptions::new().pad(&[1]))?;
/// assert_eq!(y.to_vec::<f32>()?, vec![1.0, 4.0]);
/// # Ok::<(), lux_core::LuxError>(())
/// ```
///
/// # Errors
/// As for [`max_pool`].
pub fn mean_pool(x: &Tensor, window: &[usize], opts: &PoolOptions) -> Result<Tensor> {
    let geom = resolve("mean_pool", x, window, opts)?;
    pool_fused("mean_pool", Kind::Mean, x, geom)
}

/// The maximum over all spatial positions of each `[n, c]` plane, keeping
/// the spatial dims as size 1 (`[N, C, 1, 1]` for images).
///
/// ```
/// use lux_core::Tensor;
/// use lux_ops::pool::global_max_pool;
/// let x = Tensor::from_vec(vec![1.0f32, 5.0, 2.0, -1.0, -3.0, -2.0], &[1, 2, 3])?;
/// let y = global_max_pool(&x)?;
/// assert_eq!(y.shape(), &[1, 2, 1]);
/// assert_eq!(y.to_vec::<f32>()?, vec![5.0, -1.0]);
/// # Ok::<(), lux_core::LuxError>(())
/// ```
///
/// # Errors
/// `x` has fewer than 3 dims or a zero-size spatial dim; `x` is not float.
pub fn global_max_pool(x: &Tensor) -> Result<Tensor> {
    global("global_max_pool", Kind::Max, x)
}

/// The mean over all spatial positions of each `[n, c]` plane, keeping the
/// spatial dims as size 1 (`[N, C, 1, 1]` for images).
///
/// ```
/// use lux_core::Tensor;
/// use lux_ops::pool::global_mean_pool;
/// let x = Tensor::from_vec(vec![1.0f32, 5.0, 3.0, -1.0, -3.0, -2.0], &[1, 2, 3])?;
/// assert_eq!(global_mean_pool(&x)?.to_vec::<f32>()?, vec![3.0, -2.0]);
/// # Ok::<(), lux_core::LuxError>(())
/// ```
///
/// # Errors
/// As for [`global_max_pool`].
pub fn global_mean_pool(x: &Tensor) -> Result<Tensor> {
    global("global_mean_pool", Kind::Mean, x)
}

fn global(op: &str, kind: Kind, x: &Tensor) -> Result<Tensor> {
    check_rank(op, x)?;
    let k = x.shape()[2..].to_vec();
    if k.contains(&0) {
        return Err(LuxError::shape(
            op,
            format!(
                "input {:?} has a zero-size spatial dim {k:?}: no position to pool over in each [n, c] plane",
                x.shape()
            ),
        ));
    }
    let win = Window::resolve(op, "window", x.shape(), &k, &k, &[], &Padding::default())?;
    pool_fused(op, kind, x, PoolGeom { n: x.shape()[0], c: x.shape()[1], win })
}

/// Adaptive max pooling to the spatial size `out_size` (one value or one
/// per spatial dim), with Lux's windows: `stride = in ÷ out`, `window = in −
/// (out − 1)·stride` per spatial dim (see the [module docs](self)).
///
/// ```
/// use lux_core::Tensor;
/// use lux_ops::pool::adaptive_max_pool;
/// let x = Tensor::from_vec((1..=7).map(|v| v as f32).collect(), &[1, 1, 7])?;
/// // in = 7, out = 3: stride 2, window 3 → windows [1,2,3], [3,4,5], [5,6,7]
/// assert_eq!(adaptive_max_pool(&x, &[3])?.to_vec::<f32>()?, vec![3.0, 5.0, 7.0]);
/// # Ok::<(), lux_core::LuxError>(())
/// ```
///
/// # Errors
/// `x` has fewer than 3 dims; `out_size` has a length other than 1 or the
/// number of spatial dims, or an entry that is 0 or larger than the input's
/// spatial size; `x` is not float.
pub fn adaptive_max_pool(x: &Tensor, out_size: &[usize]) -> Result<Tensor> {
    adaptive("adaptive_max_pool", Kind::Max, x, out_size)
}

/// Adaptive mean pooling to the spatial size `out_size`, with the windows
/// of [`adaptive_max_pool`].
///
/// ```
/// use lux_core::Tensor;
/// use lux_ops::pool::adaptive_mean_pool;
/// let x = Tensor::from_vec((1..=8).map(|v| v as f32).collect(), &[1, 1, 2, 4])?;
/// let y = adaptive_mean_pool(&x, &[1, 2])?; // 2×2 windows
/// assert_eq!(y.shape(), &[1, 1, 1, 2]);
/// assert_eq!(y.to_vec::<f32>()?, vec![3.5, 5.5]);
/// # Ok::<(), lux_core::LuxError>(())
/// ```
///
/// # Errors
/// As for [`adaptive_max_pool`].
pub fn adaptive_mean_pool(x: &Tensor, out_size: &[usize]) -> Result<Tensor> {
    adaptive("adaptive_mean_pool", Kind::Mean, x, out_size)
}

/// Lp-norm pooling (NNlib's `lpnormpool`): `y = (Σ_window x^p)^(1/p)` over
/// windows of size `window` of `x: [N, C, spatial…]`, with the options of
/// [`max_pool`] (stride defaults to the window). Padded positions add
/// nothing to the sum. As in NNlib the power is taken of `x` itself, not
/// of `|x|`: a negative value with a non-integer `p` gives NaN (Julia throws
/// a `DomainError`). Composed of differentiable ops (`powf` and
/// [`mean_pool`]), so differentiable to any order; the gradient at a window
/// of zeros is infinite for `p > 1`, as the derivative of `s^(1/p)` at 0.
///
/// ```
/// use lux_core::Tensor;
/// use lux_ops::pool::{lp_pool, PoolOptions};
/// let x = Tensor::from_vec(vec![3.0f32, 4.0, 1.0, 2.0], &[1, 1, 4])?;
/// // p = 2: the Euclidean norm of each window [3, 4] and [1, 2]
/// let y = lp_pool(&x, 2.0, &[2], &PoolOptions::new())?.to_vec::<f32>()?;
/// assert!((y[0] - 5.0).abs() < 1e-5 && (y[1] - 5f32.sqrt()).abs() < 1e-5);
/// // p = 1 is the window sum
/// let y = lp_pool(&x, 1.0, &[2], &PoolOptions::new())?.to_vec::<f32>()?;
/// assert!((y[0] - 7.0).abs() < 1e-5 && (y[1] - 3.0).abs() < 1e-5);
/// # Ok::<(), lux_core::LuxError>(())
/// ```
///
/// # Errors
/// As for [`max_pool`]; an invalid-argument error when `p` is not a
/// positive finite number.
pub fn lp_pool(x: &Tensor, p: f64, window: &[usize], opts: &PoolOptions) -> Result<Tensor> {
    let op = "lp_pool";
    check_p(op, p)?;
    check_float(op, x)?;
    let geom = resolve(op, x, window, opts)?;
    let k = geom.win.k.clone();
    let opts = PoolOptions {
        stride: geom.win.stride.clone(),
        padding: Padding::Explicit(geom.win.pad.clone()),
        ..opts.clone()
    };
    lp_of_sum(x, p, geom.win.kk(), |xp| mean_pool(xp, &k, &opts))
}

/// Global Lp-norm pooling: [`lp_pool`] with one window covering every
/// spatial dim, keeping them as size 1 (`[N, C, 1, 1]` for images).
///
/// ```
/// use lux_core::Tensor;
/// use lux_ops::pool::global_lp_pool;
/// let x = Tensor::from_vec(vec![1.0f32, 2.0, 2.0, 4.0], &[1, 1, 2, 2])?;
/// let y = global_lp_pool(&x, 2.0)?; // √(1 + 4 + 4 + 16) = 5
/// assert_eq!(y.shape(), &[1, 1, 1, 1]);
/// assert!((y.to_vec::<f32>()?[0] - 5.0).abs() < 1e-5);
/// # Ok::<(), lux_core::LuxError>(())
/// ```
///
/// # Errors
/// As for [`global_max_pool`]; `p` not a positive finite number.
pub fn global_lp_pool(x: &Tensor, p: f64) -> Result<Tensor> {
    let op = "global_lp_pool";
    check_p(op, p)?;
    check_float(op, x)?;
    check_rank(op, x)?;
    let k = x.shape()[2..].to_vec();
    if k.contains(&0) {
        return Err(LuxError::shape(
            op,
            format!(
                "input {:?} has a zero-size spatial dim {k:?}: no position to pool over in each [n, c] plane",
                x.shape()
            ),
        ));
    }
    lp_of_sum(x, p, k.iter().product(), global_mean_pool)
}

/// Adaptive Lp-norm pooling to the spatial size `out_size`, with the
/// windows of [`adaptive_max_pool`].
///
/// ```
/// use lux_core::Tensor;
/// use lux_ops::pool::adaptive_lp_pool;
/// let x = Tensor::from_vec(vec![3.0f32, 4.0, 0.0, 2.0], &[1, 1, 4])?;
/// let y = adaptive_lp_pool(&x, 2.0, &[2])?.to_vec::<f32>()?; // windows [3, 4] and [0, 2]
/// assert!((y[0] - 5.0).abs() < 1e-5 && (y[1] - 2.0).abs() < 1e-5);
/// # Ok::<(), lux_core::LuxError>(())
/// ```
///
/// # Errors
/// As for [`adaptive_max_pool`]; `p` not a positive finite number.
pub fn adaptive_lp_pool(x: &Tensor, p: f64, out_size: &[usize]) -> Result<Tensor> {
    let op = "adaptive_lp_pool";
    check_p(op, p)?;
    check_float(op, x)?;
    let (k, stride) = adaptive_window(op, x, out_size)?;
    let opts = PoolOptions::new().stride(&stride);
    lp_of_sum(x, p, k.iter().product(), |xp| mean_pool(xp, &k, &opts))
}

fn check_p(op: &str, p: f64) -> Result<()> {
    if p.is_finite() && p > 0.0 {
        Ok(())
    } else {
        Err(LuxError::invalid_argument(op, format!("the norm exponent p must be a positive finite number, got {p}")))
    }
}

/// `(kk · mean(x^p))^(1/p)`, the mean taken by `mean`.
fn lp_of_sum(x: &Tensor, p: f64, kk: usize, mean: impl FnOnce(&Tensor) -> Result<Tensor>) -> Result<Tensor> {
    let xp = if p == 1.0 { x.clone() } else { x.powf(p)? };
    let s = mean(&xp)?.mul_scalar(kk as f64)?;
    if p == 1.0 { Ok(s) } else { s.powf(1.0 / p) }
}

/// Lux's adaptive window and stride per spatial dim, validated.
fn adaptive_window(op: &str, x: &Tensor, out_size: &[usize]) -> Result<(Vec<usize>, Vec<usize>)> {
    check_rank(op, x)?;
    let in_sp = &x.shape()[2..];
    if out_size.is_empty() {
        return Err(LuxError::invalid_argument(op, "the output size is empty"));
    }
    let out = per_dim(op, "output size", out_size, in_sp.len(), 1)?;
    if out.iter().zip(in_sp).any(|(&o, &i)| o == 0 || o > i) {
        return Err(LuxError::shape(
            op,
            format!(
                "output size {out:?} must be between 1 and the input's spatial size {in_sp:?} (input {:?})",
                x.shape()
            ),
        ));
    }
    let stride: Vec<usize> = in_sp.iter().zip(&out).map(|(i, o)| i / o).collect();
    let k: Vec<usize> = in_sp.iter().zip(&out).zip(&stride).map(|((i, o), s)| i - (o - 1) * s).collect();
    Ok((k, stride))
}

fn adaptive(op: &str, kind: Kind, x: &Tensor, out_size: &[usize]) -> Result<Tensor> {
    let (k, stride) = adaptive_window(op, x, out_size)?;
    let win = Window::resolve(op, "window", x.shape(), &k, &stride, &[], &Padding::default())?;
    pool_fused(op, kind, x, PoolGeom { n: x.shape()[0], c: x.shape()[1], win })
}

/// Planes with fewer window taps in total than this run on one thread.
const PAR_WORK: usize = 1 << 16;

fn pool_fused(op: &str, kind: Kind, x: &Tensor, geom: PoolGeom) -> Result<Tensor> {
    check_float(op, x)?;
    let runs = Runs::new(&geom.win, false);
    let (values, argmax) = match x.compute_data(op)? {
        FloatData::F32(a) => {
            let (v, arg) = forward_kernel(op, kind, &geom, &runs, &a, x.is_tracked())?;
            (FloatData::F32(v), arg)
        }
        FloatData::F64(a) => {
            let (v, arg) = forward_kernel(op, kind, &geom, &runs, &a, x.is_tracked())?;
            (FloatData::F64(v), arg)
        }
    };
    let node = PoolOp { op: op.to_string(), kind, geom, runs, argmax: Arc::new(argmax) };
    Tensor::from_custom_op(values.into_tensor(x.dtype()), Arc::new(node), &[x])
}

/// Pooled values, and for max pooling with `with_argmax` (a gradient may
/// be taken) the flat in-plane position of each output's maximum
/// ([`NONE`] for a window entirely on the padding).
fn forward_kernel<T: Real>(
    op: &str,
    kind: Kind,
    g: &PoolGeom,
    runs: &Runs,
    x: &ArcArray<T, IxDyn>,
    with_argmax: bool,
) -> Result<(ArcArray<T, IxDyn>, Vec<u32>)> {
    let x = x.as_standard_layout();
    let xs = x.as_slice().ok_or_else(|| internal("pool: layout"))?;
    let (p, l, kk, step) = (g.win.p(), g.win.l(), g.win.kk(), runs.step());
    let mut out = filled(op, "output", &g.out_shape(), T::zero())?;
    let with_argmax = with_argmax && kind == Kind::Max;
    let mut arg = if with_argmax { filled(op, "argmax table", &g.out_shape(), NONE)? } else { Vec::new() };
    let scale = T::one() / T::c(kk as f64);
    let plane = |i: usize, y: &mut [T], a: &mut [u32]| {
        let xp = &xs[i * p..(i + 1) * p];
        match kind {
            Kind::Max => {
                // Branch-free passes (the comparisons are unpredictable):
                // the maxima (NaN propagates), then, only when a gradient
                // may be taken, the first position holding each maximum in
                // window order.
                let take = |m: T, v: T| if v > m || v.is_nan() { v } else { m };
                y.fill(T::neg_infinity());
                runs.for_each_run(|_, out, src, len| {
                    let ys = &mut y[out..out + len];
                    if step == 1 {
                        ys.iter_mut().zip(&xp[src..src + len]).for_each(|(m, &v)| *m = take(*m, v));
                    } else {
                        ys.iter_mut().zip(xp[src..].iter().step_by(step)).for_each(|(m, &v)| *m = take(*m, v));
                    }
                });
                if !a.is_empty() {
                    runs.for_each_run(|_, out, src, len| {
                        let (ys, args) = (&y[out..out + len], &mut a[out..out + len]);
                        for (j, ((&m, am), &v)) in ys.iter().zip(args).zip(xp[src..].iter().step_by(step)).enumerate() {
                            let hit = *am == NONE && (v == m || (v.is_nan() && m.is_nan()));
                            *am = if hit { (src + j * step) as u32 } else { *am };
                        }
                    });
                }
            }
            Kind::Mean => {
                runs.for_each_run(|_, out, src, len| {
                    let ys = &mut y[out..out + len];
                    if step == 1 {
                        ys.iter_mut().zip(&xp[src..src + len]).for_each(|(s, &v)| *s += v);
                    } else {
                        ys.iter_mut().zip(xp[src..].iter().step_by(step)).for_each(|(s, &v)| *s += v);
                    }
                });
                y.iter_mut().for_each(|s| *s *= scale);
            }
        }
    };
    if l > 0 {
        let parallel = g.planes() >= 2 && g.planes().saturating_mul(kk * l) >= PAR_WORK;
        match (with_argmax, parallel) {
            (true, true) => {
                out.par_chunks_mut(l).zip(arg.par_chunks_mut(l)).enumerate().for_each(|(i, (y, a))| plane(i, y, a))
            }
            (true, false) => {
                out.chunks_mut(l).zip(arg.chunks_mut(l)).enumerate().for_each(|(i, (y, a))| plane(i, y, a))
            }
            (false, true) => out.par_chunks_mut(l).enumerate().for_each(|(i, y)| plane(i, y, &mut [])),
            (false, false) => out.chunks_mut(l).enumerate().for_each(|(i, y)| plane(i, y, &mut [])),
        }
    }
    let out = ArcArray::from_shape_vec(IxDyn(&g.out_shape()), out).map_err(|_| internal("pool: output shape"))?;
    Ok((out, arg))
}

/// `∂x` of a pooling given `∂y` (`[N, C, out…]`).
fn backward_kernel<T: Real>(
    kind: Kind,
    g: &PoolGeom,
    runs: &Runs,
    argmax: &[u32],
    dy: &ArcArray<T, IxDyn>,
    x_shape: &[usize],
) -> Result<ArcArray<T, IxDyn>> {
    let dy = dy.as_standard_layout();
    let dys = dy.as_slice().ok_or_else(|| internal("pool: layout"))?;
    let (p, l, kk, step) = (g.win.p(), g.win.l(), g.win.kk(), runs.step());
    let mut dx = vec![T::zero(); g.planes() * p];
    let scale = T::one() / T::c(kk as f64);
    let plane = |i: usize, dxp: &mut [T]| {
        let dyp = &dys[i * l..(i + 1) * l];
        match kind {
            Kind::Max => {
                for (&d, &t) in dyp.iter().zip(&argmax[i * l..(i + 1) * l]) {
                    if let Some(v) = dxp.get_mut(t as usize) {
                        *v += d;
                    }
                }
            }
            Kind::Mean => {
                let scaled: Vec<T> = dyp.iter().map(|&d| d * scale).collect();
                runs.for_each_run(|_, out, src, len| {
                    crate::conv::add_strided(&scaled[out..out + len], &mut dxp[src..], step)
                });
            }
        }
    };
    if p > 0 {
        let work = g.planes().saturating_mul(if kind == Kind::Max { l } else { kk * l });
        if g.planes() >= 2 && work >= PAR_WORK {
            dx.par_chunks_mut(p).enumerate().for_each(|(i, d)| plane(i, d));
        } else {
            dx.chunks_mut(p).enumerate().for_each(|(i, d)| plane(i, d));
        }
    }
    ArcArray::from_shape_vec(IxDyn(x_shape), dx).map_err(|_| internal("pool: gradient shape"))
}

/// The recorded pooling, with what its backward pass needs.
#[derive(Debug)]
struct PoolOp {
    op: String,
    kind: Kind,
    geom: PoolGeom,
    runs: Runs,
    /// Per output element, the in-plane position of the maximum (max only).
    argmax: Arc<Vec<u32>>,
}

impl CustomOp for PoolOp {
    fn name(&self) -> &str {
        &self.op
    }

    fn backward(&self, grad: &Tensor, inputs: &[Tensor], _: &Tensor, _: &[bool]) -> Result<Vec<Option<Tensor>>> {
        let x = &inputs[0];
        let grad = if grad.dtype() == x.dtype() { grad.clone() } else { grad.to_dtype(x.dtype())? };
        let dx = match grad.compute_data(&self.op)? {
            FloatData::F32(dy) => {
                FloatData::F32(backward_kernel(self.kind, &self.geom, &self.runs, &self.argmax, &dy, x.shape())?)
            }
            FloatData::F64(dy) => {
                FloatData::F64(backward_kernel(self.kind, &self.geom, &self.runs, &self.argmax, &dy, x.shape())?)
            }
        };
        Ok(vec![Some(dx.into_tensor(x.dtype()))])
    }

    /// Forward mode through the composite definition (a few elementwise
    /// and gather passes; no faster rule is worth its code here).
    fn tangent(&self, inputs: &[Tensor], _: &Tensor, tangents: &[Option<Tensor>]) -> Result<Tensor> {
        lux_core::forward::composite_tangent(self, inputs, tangents)
    }

    /// The definition with primitive differentiable ops, for nested AD:
    /// each plane is flattened and one extra element appended (−∞ for max,
    /// 0 for mean) that padding taps point at. Max pooling is
    /// the gather of the recorded argmax positions (the same values and the
    /// same derivatives as the max); mean pooling gathers every window with
    /// `index_select` and sums.
    fn composite(&self, inputs: &[Tensor]) -> Result<Option<Tensor>> {
        let x = &inputs[0];
        let g = &self.geom;
        let (n, c, p, l, kk) = (g.n, g.c, g.win.p(), g.win.l(), g.win.kk());
        let flat = x.reshape(&[n, c, p])?;
        let y = match self.kind {
            Kind::Max => {
                let pad = Tensor::full(&[n, c, 1], f64::NEG_INFINITY, x.dtype())?;
                let flat = Tensor::concat(&[flat, pad], 2)?;
                let idx = Window::index_tensor(&self.argmax, p)?.reshape(&[n, c, l])?;
                flat.gather(2, &idx)?.reshape(&g.out_shape())
            }
            Kind::Mean => {
                let flat = Tensor::concat(&[flat, Tensor::zeros(&[n, c, 1], x.dtype())?], 2)?;
                let idx = Window::index_tensor(&g.win.table(false), p)?;
                let taps = flat.index_select(2, &idx)?.reshape(&[n, c, kk, l])?;
                taps.sum(&[2], false)?.mul_scalar(1.0 / kk as f64)?.reshape(&g.out_shape())
            }
        }?;
        Ok(Some(y))
    }
}
