//! `softmax`, `logsoftmax` and `logsumexp` along any axis, each one fused
//! op with a fused backward rule.
//!
//! Lux/NNlib take `dims = 1` (the class axis of a column-major
//! `(classes, batch)` array) by default; in lux-rs' batch-first layout that
//! axis is the **last** one, so pass `axis = -1` for Lux's default. Axes are
//! signed (`-1` = last).
//!
//! All three subtract the maximum along the axis first, so logits of any
//! finite size are safe (`softmax([1e4, −1e4, 0]) = [1, 0, 0]` exactly).
//! Non-finite entries follow NNlib where NNlib is defined:
//!
//! * a `−inf` logit gets probability 0 (`logsoftmax` `−inf`);
//! * if a lane holds `+inf`, the `+inf` entries share the probability
//!   equally and all others get 0 (`logsumexp` = `+inf`);
//! * a lane whose entries are **all `−inf`** (a fully masked row, or an
//!   empty axis) has no mass: `softmax` gives zeros (it does not sum to 1),
//!   `logsoftmax` gives `−inf`, `logsumexp` gives `−inf` (`log 0`), and the
//!   gradients there are finite (zero for `softmax`/`logsumexp`, the
//!   incoming gradient for `logsoftmax`). NNlib returns `NaN` here;
//! * a `NaN` anywhere in a lane makes the whole lane `NaN`.
//!
//! Inside an outer gradient call (nested AD) the backward rules go through
//! composite definitions with the same conventions, except on lanes holding
//! `+inf`, whose derivatives are then `NaN`.
//!
//! ```
//! use lux_core::Tensor;
//! use lux_ops::softmax::{logsumexp, softmax};
//! let x = Tensor::from_vec(vec![1e4f32, -1e4, 0.0, 1.0, 1.0, 1.0], &[2, 3])?;
//! let p = softmax(&x, -1)?.to_vec::<f32>()?;
//! assert_eq!(&p[..3], &[1.0, 0.0, 0.0]);
//! assert!((p[4] - 1.0 / 3.0).abs() < 1e-7);
//! assert_eq!(logsumexp(&x, -1, false)?.to_vec::<f32>()?[0], 1e4);
//! # Ok::<(), lux_core::LuxError>(())
//! ```

use lux_core::{CustomOp, FloatData, LuxError, Real, Result, Tensor, normalize_axis};
use ndarray::{ArcArray, IxDyn};
use rayon::prelude::*;
use std::sync::Arc;

/// Work with at least this many elements is split across rayon tasks.
const PAR_THRESHOLD: usize = 1 << 16;

/// `softmax(x)ᵢ = exp(xᵢ − m) / Σⱼ exp(xⱼ − m)` along `axis` (`m` the
/// lane's maximum). Lux's default `dims = 1` is `axis = -1` here.
///
/// ```
/// use lux_core::Tensor;
/// let x = Tensor::from_vec(vec![1.0f64, 2.0, 3.0], &[1, 3])?;
/// let p = lux_ops::softmax::softmax(&x, -1)?.to_vec::<f64>()?;
/// let z: f64 = 1.0f64.exp() + 2.0f64.exp() + 3.0f64.exp();
/// assert!((p[2] - 3.0f64.exp() / z).abs() < 1e-15);
/// assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-15);
/// // [0, ln 3] → [1, 3]/4
/// let q = lux_ops::softmax::softmax(&Tensor::from_vec(vec![0.0f64, 3f64.ln()], &[2])?, -1)?.to_vec::<f64>()?;
/// assert!((q[0] - 0.25).abs() < 1e-15 && (q[1] - 0.75).abs() < 1e-15);
/// # Ok::<(), lux_core::LuxError>(())
/// ```
///
/// # Errors
/// `x` is not a float tensor, or `axis` is out of range for its shape.
pub fn softmax(x: &Tensor, axis: isize) -> Result<Tensor> {
    run(x, axis, Kind::Softmax, true)
}

/// `logsoftmax(x)ᵢ = xᵢ − logsumexp(x)` along `axis`, computed without
/// forming the softmax (exact for large logits). Lux's default `dims = 1`
/// is `axis = -1` here.
///
/// ```
/// use lux_core::Tensor;
/// let x = Tensor::from_vec(vec![1e4f64, -1e4, 0.0], &[3])?;
/// assert_eq!(lux_ops::softmax::logsoftmax(&x, 0)?.to_vec::<f64>()?, vec![0.0, -2e4, -1e4]);
/// # Ok::<(), lux_core::LuxError>(())
/// ```
///
/// # Errors
/// `x` is not a float tensor, or `axis` is out of range for its shape.
pub fn logsoftmax(x: &Tensor, axis: isize) -> Result<Tensor> {
    run(x, axis, Kind::LogSoftmax, true)
}

/// `logsumexp(x) = m + log Σᵢ exp(xᵢ − m)` along `axis`; the axis is kept
/// with size 1 when `keepdim`, removed otherwise. Lux's default `dims = 1`
/// is `axis = -1` here.
///
/// ```
/// use lux_core::Tensor;
/// let x = Tensor::from_vec(vec![0.0f64, 0.0, 1e4, 1e4], &[2, 2])?;
/// let l = lux_ops::softmax::logsumexp(&x, -1, true)?;
/// assert_eq!(l.shape(), &[2, 1]);
/// assert_eq!(l.to_vec::<f64>()?, vec![2f64.ln(), 1e4 + 2f64.ln()]);
/// # Ok::<(), lux_core::LuxError>(())
/// ```
///
/// # Errors
/// `x` is not a float tensor, or `axis` is out of range for its shape.
pub fn logsumexp(x: &Tensor, axis: isize, keepdim: bool) -> Result<Tensor> {
    run(x, axis, Kind::LogSumExp, keepdim)
}

/// Which of the three functions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Softmax,
    LogSoftmax,
    LogSumExp,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Softmax => "softmax",
            Kind::LogSoftmax => "logsoftmax",
            Kind::LogSumExp => "logsumexp",
        }
    }
}

/// The recorded op: the function, its (normalised) axis and `keepdim`.
#[derive(Debug)]
struct SoftmaxOp {
    kind: Kind,
    axis: usize,
    keepdim: bool,
}

fn run(x: &Tensor, axis: isize, kind: Kind, keepdim: bool) -> Result<Tensor> {
    let op = kind.name();
    let data = x.compute_data(op)?;
    let shape = x.shape().to_vec();
    let ax = normalize_axis(op, axis, &shape)?;
    let lanes = Lanes::new(&shape, ax);
    let out_shape = match kind {
        Kind::LogSumExp if keepdim => shape.iter().enumerate().map(|(i, &d)| if i == ax { 1 } else { d }).collect(),
        Kind::LogSumExp => shape.iter().enumerate().filter(|&(i, _)| i != ax).map(|(_, &d)| d).collect(),
        _ => shape.clone(),
    };
    let y = lux_core::map_float!(data, a => {
        let a = a.as_standard_layout();
        let v = forward(kind, a.as_slice().expect("standard layout"), lanes);
        ArcArray::from_shape_vec(IxDyn(&out_shape), v).expect("one value per output element")
    });
    Tensor::from_custom_op(y.into_tensor(x.dtype()), Arc::new(SoftmaxOp { kind, axis: ax, keepdim }), &[x])
}

/// A standard-layout array seen as `[outer, n, inner]` around the axis.
#[derive(Clone, Copy, Debug)]
struct Lanes {
    outer: usize,
    n: usize,
    inner: usize,
}

impl Lanes {
    fn new(shape: &[usize], ax: usize) -> Lanes {
        Lanes { outer: shape[..ax].iter().product(), n: shape[ax], inner: shape[ax + 1..].iter().product() }
    }
}

/// The maximum with NaN winning (so a NaN poisons its lane).
#[inline(always)]
fn nan_max<T: Real>(m: T, v: T) -> T {
    if v > m || v.is_nan() { v } else { m }
}

/// `exp(v − m)` given the lane maximum `m`, with NNlib's rules when `m` is
/// not finite: `m = +inf` → 1 for `+inf` entries, 0 otherwise; `m = −inf`
/// → 0.
#[inline(always)]
fn shifted_exp<T: Real>(v: T, m: T) -> T {
    if m.is_finite() {
        (v - m).exp_k()
    } else if m == T::infinity() {
        if v == m {
            T::one()
        } else if v.is_nan() {
            v
        } else {
            T::zero()
        }
    } else if m == T::neg_infinity() {
        T::zero()
    } else {
        m // NaN
    }
}

/// The forward values in standard layout (`out` has the input's shape, or
/// `[outer, inner]` values for logsumexp).
fn forward<T: Real>(kind: Kind, x: &[T], l: Lanes) -> Vec<T> {
    let block = l.n * l.inner;
    let out_block = if kind == Kind::LogSumExp { l.inner } else { block };
    let mut out = vec![T::zero(); l.outer * out_block];
    if block == 0 || l.outer == 0 {
        if kind == Kind::LogSumExp {
            out.fill(T::neg_infinity()); // log of an empty sum
        }
        return out;
    }
    let work = |(xb, ob): (&[T], &mut [T])| forward_block(kind, xb, ob, l);
    if x.len() >= PAR_THRESHOLD && l.outer > 1 {
        let per = (PAR_THRESHOLD / block).max(1);
        x.par_chunks(block * per).zip(out.par_chunks_mut(out_block * per)).for_each(|(xs, os)| {
            xs.chunks(block).zip(os.chunks_mut(out_block)).for_each(work);
        });
    } else {
        x.chunks(block).zip(out.chunks_mut(out_block)).for_each(work);
    }
    out
}

/// One `[n, inner]` block (one `outer` index).
fn forward_block<T: Real>(kind: Kind, x: &[T], out: &mut [T], l: Lanes) {
    if l.inner == 1 {
        forward_row(kind, x, out);
        return;
    }
    let (n, inner) = (l.n, l.inner);
    // Column-wise maxima and sums, vectorised over the inner axis.
    let mut m = vec![T::neg_infinity(); inner];
    for row in x.chunks(inner) {
        for (mj, &v) in m.iter_mut().zip(row) {
            *mj = nan_max(*mj, v);
        }
    }
    let finite = m.iter().all(|v| v.is_finite());
    let mut s = vec![T::zero(); inner];
    // e = exp(x − m) goes to `out` for softmax (reused below).
    let keep_e = kind == Kind::Softmax;
    for i in 0..n {
        let row = &x[i * inner..(i + 1) * inner];
        if keep_e {
            let orow = &mut out[i * inner..(i + 1) * inner];
            for ((o, &v), (&mj, sj)) in orow.iter_mut().zip(row).zip(m.iter().zip(s.iter_mut())) {
                let e = if finite { (v - mj).exp_k() } else { shifted_exp(v, mj) };
                *o = e;
                *sj += e;
            }
        } else {
            for (&v, (&mj, sj)) in row.iter().zip(m.iter().zip(s.iter_mut())) {
                *sj += if finite { (v - mj).exp_k() } else { shifted_exp(v, mj) };
            }
        }
    }
    match kind {
        Kind::Softmax => {
            let inv: Vec<T> = s.iter().map(|&sj| if sj == T::zero() { T::zero() } else { T::one() / sj }).collect();
            for orow in out.chunks_mut(inner) {
                for (o, &r) in orow.iter_mut().zip(&inv) {
                    *o *= r;
                }
            }
        }
        Kind::LogSoftmax => {
            let ls: Vec<T> = s.iter().map(|&sj| sj.ln()).collect();
            for (row, orow) in x.chunks(inner).zip(out.chunks_mut(inner)) {
                for (((o, &v), &mj), (&lj, &sj)) in orow.iter_mut().zip(row).zip(&m).zip(ls.iter().zip(&s)) {
                    *o = if finite { (v - mj) - lj } else { log_softmax_general(v, mj, lj, sj) };
                }
            }
        }
        Kind::LogSumExp => {
            for ((o, &mj), &sj) in out.iter_mut().zip(&m).zip(&s) {
                *o = mj + sj.ln();
            }
        }
    }
}

/// `logsoftmax` of one entry when the lane maximum may be non-finite.
#[inline(always)]
fn log_softmax_general<T: Real>(v: T, m: T, log_s: T, s: T) -> T {
    if m.is_finite() {
        (v - m) - log_s
    } else if s == T::zero() {
        T::neg_infinity() // an all −inf lane
    } else {
        shifted_exp(v, m).ln() - log_s
    }
}

/// Lanes of the multi-accumulator reductions below: independent partial
/// results let the compiler vectorise loops that a single running sum or
/// maximum would serialise.
const ACC: usize = 8;

/// The lane maximum, NaN winning.
#[inline(always)]
fn max_of<T: Real>(x: &[T]) -> T {
    let mut acc = [T::neg_infinity(); ACC];
    let mut chunks = x.chunks_exact(ACC);
    for c in &mut chunks {
        for k in 0..ACC {
            acc[k] = nan_max(acc[k], c[k]);
        }
    }
    let m = chunks.remainder().iter().fold(T::neg_infinity(), |m, &v| nan_max(m, v));
    acc.iter().fold(m, |m, &v| nan_max(m, v))
}

/// `Σ f(xᵢ)` with `ACC` partial sums.
#[inline(always)]
fn sum_of<T: Real>(x: &[T], f: impl Fn(T) -> T) -> T {
    let mut acc = [T::zero(); ACC];
    let mut chunks = x.chunks_exact(ACC);
    for c in &mut chunks {
        for k in 0..ACC {
            acc[k] += f(c[k]);
        }
    }
    let s: T = chunks.remainder().iter().map(|&v| f(v)).sum();
    acc.iter().fold(s, |s, &v| s + v)
}

/// `Σ aᵢ·bᵢ` with `ACC` partial sums.
#[inline(always)]
fn dot<T: Real>(a: &[T], b: &[T]) -> T {
    let mut acc = [T::zero(); ACC];
    let (mut ca, mut cb) = (a.chunks_exact(ACC), b.chunks_exact(ACC));
    for (p, q) in (&mut ca).zip(&mut cb) {
        for k in 0..ACC {
            acc[k] += p[k] * q[k];
        }
    }
    let s: T = ca.remainder().iter().zip(cb.remainder()).map(|(&p, &q)| p * q).sum();
    acc.iter().fold(s, |s, &v| s + v)
}

/// One contiguous lane (`inner == 1`): every pass is a separate,
/// vectorisable loop.
fn forward_row<T: Real>(kind: Kind, x: &[T], out: &mut [T]) {
    let m = max_of(x);
    let finite = m.is_finite();
    match kind {
        Kind::Softmax => {
            if finite {
                for (o, &v) in out.iter_mut().zip(x) {
                    *o = (v - m).exp_k();
                }
            } else {
                for (o, &v) in out.iter_mut().zip(x) {
                    *o = shifted_exp(v, m);
                }
            }
            let s = sum_of(out, |e| e);
            let r = if s == T::zero() { T::zero() } else { T::one() / s };
            for o in out.iter_mut() {
                *o *= r;
            }
        }
        Kind::LogSoftmax => {
            if finite {
                let ls = sum_of(x, |v| (v - m).exp_k()).ln();
                for (o, &v) in out.iter_mut().zip(x) {
                    *o = (v - m) - ls;
                }
            } else {
                let s = sum_of(x, |v| shifted_exp(v, m));
                let ls = s.ln();
                for (o, &v) in out.iter_mut().zip(x) {
                    *o = log_softmax_general(v, m, ls, s);
                }
            }
        }
        Kind::LogSumExp => {
            let s = if finite { sum_of(x, |v| (v - m).exp_k()) } else { sum_of(x, |v| shifted_exp(v, m)) };
            out[0] = m + s.ln();
        }
    }
}

impl CustomOp for SoftmaxOp {
    fn name(&self) -> &str {
        self.kind.name()
    }

    fn backward(&self, grad: &Tensor, inputs: &[Tensor], output: &Tensor, _: &[bool]) -> Result<Vec<Option<Tensor>>> {
        let x = &inputs[0];
        let op = self.kind.name();
        let g = if grad.dtype() == x.dtype() { grad.clone() } else { grad.to_dtype(x.dtype())? };
        let lanes = Lanes::new(x.shape(), self.axis);
        let shape = x.shape().to_vec();
        // softmax/logsoftmax read y; logsumexp recomputes the softmax from x.
        let saved = if self.kind == Kind::LogSumExp { x } else { output };
        let kind = self.kind;
        let dx = match (g.compute_data(op)?, saved.compute_data(op)?) {
            (FloatData::F32(g), FloatData::F32(s)) => FloatData::F32(backward(kind, &g, &s, lanes, &shape)),
            (FloatData::F64(g), FloatData::F64(s)) => FloatData::F64(backward(kind, &g, &s, lanes, &shape)),
            _ => return Err(LuxError::DType { op: op.into(), expected: x.dtype().name().into(), got: saved.dtype() }),
        };
        Ok(vec![Some(dx.into_tensor(x.dtype()))])
    }
    /// With `s = softmax(x)` along the axis: softmax `ẏ = y ⊙ (ẋ − ⟨y, ẋ⟩)`,
    /// logsoftmax `ẏ = ẋ − ⟨s, ẋ⟩`, logsumexp `ẏ = ⟨s, ẋ⟩` (the inner
    /// products along the axis), in differentiable ops.
    fn tangent(&self, inputs: &[Tensor], output: &Tensor, tangents: &[Option<Tensor>]) -> Result<Tensor> {
        let Some(t) = &tangents[0] else { return Ok(output.zeros_like()) };
        let ax = [self.axis as isize];
        match self.kind {
            Kind::Softmax => output.mul(&t.sub(&output.mul(t)?.sum(&ax, true)?)?),
            Kind::LogSoftmax => t.sub(&output.exp()?.mul(t)?.sum(&ax, true)?),
            Kind::LogSumExp => {
                let x = &inputs[0];
                let lse = if self.keepdim { output.clone() } else { output.unsqueeze(self.axis as isize)? };
                x.sub(&lse)?.exp()?.mul(t)?.sum(&ax, self.keepdim)
            }
        }
    }

    fn composite(&self, inputs: &[Tensor]) -> Result<Option<Tensor>> {
        composite(self.kind, &inputs[0], self.axis, self.keepdim).map(Some)
    }
}

/// The fused backward pass: `g` and `saved` (`y`, or `x` for logsumexp) in
/// standard layout; the result has the input's shape.
fn backward<T: Real>(
    kind: Kind,
    g: &ArcArray<T, IxDyn>,
    saved: &ArcArray<T, IxDyn>,
    l: Lanes,
    shape: &[usize],
) -> ArcArray<T, IxDyn> {
    let g = g.as_standard_layout();
    let g = g.as_slice().expect("standard layout");
    let saved = saved.as_standard_layout();
    let saved = saved.as_slice().expect("standard layout");
    let block = l.n * l.inner;
    let mut dx = match kind {
        Kind::LogSumExp => forward(Kind::Softmax, saved, l), // p, scaled in place below
        _ => vec![T::zero(); saved.len()],
    };
    if block > 0 && l.outer > 0 {
        let g_block = if kind == Kind::LogSumExp { l.inner } else { block };
        let work = |((gb, sb), db): ((&[T], &[T]), &mut [T])| backward_block(kind, gb, sb, db, l);
        if saved.len() >= PAR_THRESHOLD && l.outer > 1 {
            let per = (PAR_THRESHOLD / block).max(1);
            g.par_chunks(g_block * per)
                .zip(saved.par_chunks(block * per))
                .zip(dx.par_chunks_mut(block * per))
                .for_each(|((gs, ss), ds)| {
                    gs.chunks(g_block).zip(ss.chunks(block)).zip(ds.chunks_mut(block)).for_each(work);
                });
        } else {
            g.chunks(g_block).zip(saved.chunks(block)).zip(dx.chunks_mut(block)).for_each(work);
        }
    }
    ArcArray::from_shape_vec(IxDyn(shape), dx).expect("one value per input element")
}

/// One `[n, inner]` block of the backward pass.
///
/// * softmax: `dx = y ⊙ (g − Σ g⊙y)`;
/// * logsoftmax: `dx = g − exp(y) ⊙ Σ g`;
/// * logsumexp: `dx = g ⊙ p`, with `p` (the softmax) already in `dx`.
fn backward_block<T: Real>(kind: Kind, g: &[T], s: &[T], dx: &mut [T], l: Lanes) {
    let inner = l.inner;
    if inner == 1 {
        // One contiguous lane.
        match kind {
            Kind::LogSumExp => {
                let gj = g[0];
                dx.iter_mut().for_each(|d| *d *= gj);
            }
            Kind::Softmax => {
                let d0 = dot(g, s);
                for ((d, &gi), &yi) in dx.iter_mut().zip(g).zip(s) {
                    *d = yi * (gi - d0);
                }
            }
            Kind::LogSoftmax => {
                let total = sum_of(g, |v| v);
                for ((d, &gi), &yi) in dx.iter_mut().zip(g).zip(s) {
                    *d = gi - yi.exp_k() * total;
                }
            }
        }
        return;
    }
    match kind {
        Kind::LogSumExp => {
            for drow in dx.chunks_mut(inner) {
                for (d, &gj) in drow.iter_mut().zip(g) {
                    *d *= gj;
                }
            }
        }
        Kind::Softmax => {
            let mut dot = vec![T::zero(); inner];
            for (grow, yrow) in g.chunks(inner).zip(s.chunks(inner)) {
                for ((acc, &gi), &yi) in dot.iter_mut().zip(grow).zip(yrow) {
                    *acc += gi * yi;
                }
            }
            for ((drow, grow), yrow) in dx.chunks_mut(inner).zip(g.chunks(inner)).zip(s.chunks(inner)) {
                for (((d, &gi), &yi), &dj) in drow.iter_mut().zip(grow).zip(yrow).zip(&dot) {
                    *d = yi * (gi - dj);
                }
            }
        }
        Kind::LogSoftmax => {
            let mut total = vec![T::zero(); inner];
            for grow in g.chunks(inner) {
                for (acc, &gi) in total.iter_mut().zip(grow) {
                    *acc += gi;
                }
            }
            for ((drow, grow), yrow) in dx.chunks_mut(inner).zip(g.chunks(inner)).zip(s.chunks(inner)) {
                for (((d, &gi), &yi), &tj) in drow.iter_mut().zip(grow).zip(yrow).zip(&total) {
                    *d = gi - yi.exp_k() * tj;
                }
            }
        }
    }
}

/// The three functions written with differentiable primitive ops (for
/// nested AD). The maximum is a constant shift (every function is invariant
/// to it); an all-`−inf` lane follows the forward kernel's conventions.
fn composite(kind: Kind, x: &Tensor, axis: usize, keepdim: bool) -> Result<Tensor> {
    let ax = [axis as isize];
    let m = x.detach().max(&ax, true)?;
    let finite = m.less(&m.scalar_like(f64::INFINITY))?.logical_and(&m.greater(&m.scalar_like(f64::NEG_INFINITY))?)?;
    let m = Tensor::where_(&finite, &m, &m.scalar_like(0.0))?;
    let z = x.sub(&m)?;
    let e = z.exp()?;
    let s = e.sum(&ax, true)?;
    let empty = s.equal(&s.scalar_like(0.0))?;
    let s_safe = Tensor::where_(&empty, &s.scalar_like(1.0), &s)?;
    match kind {
        Kind::Softmax => e.div(&s_safe),
        Kind::LogSoftmax => z.sub(&s_safe.log()?),
        Kind::LogSumExp => {
            let l = m.add(&s_safe.log()?)?;
            let l = Tensor::where_(&empty, &l.scalar_like(f64::NEG_INFINITY), &l)?;
            if keepdim { Ok(l) } else { l.squeeze(axis as isize) }
        }
    }
}
