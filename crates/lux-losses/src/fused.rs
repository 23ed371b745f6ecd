//! Fused kernels for the two losses on every training hot path: logit
//! cross-entropy (log-softmax and the negative log-likelihood along the
//! class axis, with probability/one-hot or class-index targets and label
//! smoothing) and the mean squared error.
//!
//! Each is one [`CustomOp`]: the forward pass reads ŷ (and y) once per lane
//! and writes only the result, the backward pass reads them once more and
//! writes only `∂ŷ`. Neither materialises a softmax, a one-hot matrix or a
//! difference tensor; the cross-entropy keeps three numbers per lane (the
//! maximum, `log Σ exp(ŷ − max)` and `Σ ỹ`) for its backward pass. f16/bf16
//! compute in f32 and round once; work from [`PAR_THRESHOLD`] elements on is
//! split across rayon tasks.
//!
//! Inside an outer gradient call (a gradient of a gradient) the engine
//! differentiates each op's `composite`: the same function written with
//! differentiable tensor ops (`logsoftmax`, `mul`, `sum`, …), so both losses
//! nest like every other op.

use lux_core::{CustomOp, DType, FloatData, LuxError, Real, Result, Tensor};
use ndarray::{ArcArray, IxDyn};
use rayon::prelude::*;
use std::sync::Arc;

/// Work with at least this many elements is split across rayon tasks (as
/// in lux-ops).
pub(crate) const PAR_THRESHOLD: usize = 1 << 16;

/// Independent partial sums per reduction, so the loops vectorise.
const ACC: usize = 8;

/// A standard-layout array seen as `[outer, n, inner]` around the class
/// axis: lane `o·inner + j` holds the elements `o·n·inner + i·inner + j`.
#[derive(Clone, Copy, Debug)]
struct Lanes {
    outer: usize,
    n: usize,
    inner: usize,
}

impl Lanes {
    fn new(shape: &[usize], axis: usize) -> Lanes {
        Lanes { outer: shape[..axis].iter().product(), n: shape[axis], inner: shape[axis + 1..].iter().product() }
    }
    fn count(self) -> usize {
        self.outer * self.inner
    }
}

/// The targets of the fused cross-entropy.
#[derive(Clone, Debug)]
pub(crate) enum CeTarget {
    /// Probabilities (or any weights) of ŷ's shape and dtype, untracked.
    Dense(Tensor),
    /// One class index per lane (lane order = row-major order of ŷ's shape
    /// without the class axis), each checked `< n`; `tensor` is the i64
    /// labels, used only by the composite.
    Index { labels: Arc<Vec<usize>>, tensor: Tensor },
}

/// The recorded cross-entropy op.
#[derive(Debug)]
struct LogitCeOp {
    axis: usize,
    alpha: f64,
    target: CeTarget,
    /// Per lane `[max, log Σ exp(x − max), Σ ỹ]`, in the compute type.
    stats: FloatData,
}

/// The per-sample logit cross-entropy `−Σ_axis ỹ·logsoftmax(x, axis)`, with
/// `ỹ = (1 − α)·y + α/n` (`n` = the size of the class axis); the result has
/// `x`'s shape without `axis`. The caller has checked `x` (float), `axis`,
/// `alpha`, and that dense targets have `x`'s shape and dtype.
pub(crate) fn logit_cross_entropy(x: &Tensor, target: CeTarget, axis: usize, alpha: f64) -> Result<Tensor> {
    const OP: &str = "CrossEntropyLoss";
    let shape = x.shape();
    let lanes = Lanes::new(shape, axis);
    let out_shape: Vec<usize> = shape.iter().enumerate().filter(|&(k, _)| k != axis).map(|(_, &d)| d).collect();
    let xd = x.compute_data(OP)?;
    let yd = match &target {
        CeTarget::Dense(y) => Some(y.compute_data(OP)?),
        CeTarget::Index { .. } => None,
    };
    let labels = match &target {
        CeTarget::Index { labels, .. } => Some(labels.as_slice()),
        CeTarget::Dense(_) => None,
    };
    let (loss, stats) = match &xd {
        FloatData::F32(a) => {
            let (l, s) = ce_forward(a, yd.as_ref().and_then(FloatData::array), labels, lanes, alpha)?;
            (FloatData::F32(vec_array(l, &out_shape)), FloatData::F32(vec_array(s, &[lanes.count(), 3])))
        }
        FloatData::F64(a) => {
            let (l, s) = ce_forward(a, yd.as_ref().and_then(FloatData::array), labels, lanes, alpha)?;
            (FloatData::F64(vec_array(l, &out_shape)), FloatData::F64(vec_array(s, &[lanes.count(), 3])))
        }
    };
    let op = LogitCeOp { axis, alpha, target, stats };
    Tensor::from_custom_op(loss.into_tensor(x.dtype()), Arc::new(op), &[x])
}

fn vec_array<T>(v: Vec<T>, shape: &[usize]) -> ArcArray<T, IxDyn> {
    ArcArray::from_shape_vec(IxDyn(shape), v).expect("one value per element")
}

fn standard<T: Real>(a: &ArcArray<T, IxDyn>) -> ndarray::CowArray<'_, T, IxDyn> {
    a.as_standard_layout()
}

/// `Err` unless the dense targets were of the same compute type as ŷ.
fn same_type<T>(y: Option<&T>, dense: bool) -> Result<()> {
    if dense && y.is_none() {
        return Err(LuxError::Unsupported("internal: fused loss targets differ in dtype from the predictions".into()));
    }
    Ok(())
}

/// The lane maximum (a NaN is not skipped: `max` of a NaN lane is NaN or
/// the lane's loss comes out NaN anyway).
#[inline(always)]
fn lane_max<T: Real>(x: &[T]) -> T {
    let mut acc = [T::neg_infinity(); ACC];
    let mut chunks = x.chunks_exact(ACC);
    for c in &mut chunks {
        for k in 0..ACC {
            acc[k] = if c[k] > acc[k] || c[k].is_nan() { c[k] } else { acc[k] };
        }
    }
    let m = chunks.remainder().iter().fold(T::neg_infinity(), |m, &v| if v > m || v.is_nan() { v } else { m });
    acc.iter().fold(m, |m, &v| if v > m || v.is_nan() { v } else { m })
}

/// `Σ exp(xᵢ − m)` with `ACC` partial sums.
#[inline(always)]
fn sum_exp<T: Real>(x: &[T], m: T) -> T {
    let mut acc = [T::zero(); ACC];
    let mut chunks = x.chunks_exact(ACC);
    for c in &mut chunks {
        for k in 0..ACC {
            acc[k] += (c[k] - m).exp_k();
        }
    }
    let s: T = chunks.remainder().iter().map(|&v| (v - m).exp_k()).sum();
    acc.iter().fold(s, |s, &v| s + v)
}

/// `(Σ ỹᵢ·(xᵢ − m), Σ ỹᵢ)` with `ỹ = a·y + b`.
#[inline(always)]
fn weighted<T: Real>(x: &[T], y: &[T], m: T, a: T, b: T) -> (T, T) {
    let (mut acc, mut accw) = ([T::zero(); ACC], [T::zero(); ACC]);
    let (mut cx, mut cy) = (x.chunks_exact(ACC), y.chunks_exact(ACC));
    for (p, q) in (&mut cx).zip(&mut cy) {
        for k in 0..ACC {
            let w = a * q[k] + b;
            acc[k] += w * (p[k] - m);
            accw[k] += w;
        }
    }
    let (mut s, mut sw) = (T::zero(), T::zero());
    for (&p, &q) in cx.remainder().iter().zip(cy.remainder()) {
        let w = a * q + b;
        s += w * (p - m);
        sw += w;
    }
    (acc.iter().fold(s, |s, &v| s + v), accw.iter().fold(sw, |s, &v| s + v))
}

/// `Σ (xᵢ − m)` with `ACC` partial sums.
#[inline(always)]
fn sum_shifted<T: Real>(x: &[T], m: T) -> T {
    let mut acc = [T::zero(); ACC];
    let mut chunks = x.chunks_exact(ACC);
    for c in &mut chunks {
        for k in 0..ACC {
            acc[k] += c[k] - m;
        }
    }
    let s: T = chunks.remainder().iter().map(|&v| v - m).sum();
    acc.iter().fold(s, |s, &v| s + v)
}

/// One contiguous lane of the forward pass: the loss and `[m, ls, S]`.
///
/// With `m = max x`, `ls = log Σ exp(x − m)` and `logsoftmax(x) = (x − m) − ls`:
/// dense targets give `−Σ ỹ·((x − m) − ls) = ls·Σỹ − Σ ỹ·(x − m)`; a class
/// index `k` gives `−(1 − α)·((x_k − m) − ls) − (α/n)·(Σ(x − m) − n·ls)`.
#[inline(always)]
fn ce_lane<T: Real>(x: &[T], y: Option<&[T]>, label: usize, alpha: T) -> (T, [T; 3]) {
    let n = x.len();
    if n == 0 {
        return (T::zero(), [T::neg_infinity(), T::neg_infinity(), T::zero()]);
    }
    let nt = T::c(n as f64);
    let m = lane_max(x);
    let ls = sum_exp(x, m).ln();
    match y {
        Some(y) => {
            let (a, s) = weighted(x, y, m, T::one() - alpha, alpha / nt);
            (ls * s - a, [m, ls, s])
        }
        None => {
            let hit = (x[label] - m) - ls;
            let loss = if alpha == T::zero() {
                -hit
            } else {
                -(T::one() - alpha) * hit - (alpha / nt) * (sum_shifted(x, m) - nt * ls)
            };
            (loss, [m, ls, T::one()])
        }
    }
}

/// Calls `f(lane, x_lane, y_lane, out)` for every lane of the block of outer
/// index `o`, gathering strided lanes (`inner > 1`) into scratch buffers.
fn ce_forward<T: Real>(
    x: &ArcArray<T, IxDyn>,
    y: Option<&ArcArray<T, IxDyn>>,
    labels: Option<&[usize]>,
    l: Lanes,
    alpha: f64,
) -> Result<(Vec<T>, Vec<T>)> {
    same_type(y, labels.is_none())?;
    let xs = standard(x);
    let xs = xs.as_slice().expect("standard layout");
    let ys = y.map(standard);
    let ys = ys.as_ref().map(|a| a.as_slice().expect("standard layout"));
    let count = l.count();
    let mut out = lux_core::alloc_buffer::<T>("CrossEntropyLoss", "per-sample loss", &[count])?;
    out.resize(count, T::zero());
    let mut stats = vec![T::zero(); 3 * count];
    if count == 0 {
        return Ok((out, stats));
    }
    let (n, inner) = (l.n, l.inner);
    let block = n * inner;
    let alpha = T::c(alpha);
    let work = |o: usize, ob: &mut [T], sb: &mut [T]| {
        let xb = &xs[o * block..(o + 1) * block];
        let yb = ys.map(|y| &y[o * block..(o + 1) * block]);
        if inner == 1 {
            let label = labels.map_or(0, |lb| lb[o]);
            let (v, s) = ce_lane(xb, yb, label, alpha);
            ob[0] = v;
            sb.copy_from_slice(&s);
            return;
        }
        let (mut xl, mut yl) = (vec![T::zero(); n], vec![T::zero(); if yb.is_some() { n } else { 0 }]);
        for j in 0..inner {
            for i in 0..n {
                xl[i] = xb[i * inner + j];
            }
            if let Some(yb) = yb {
                for i in 0..n {
                    yl[i] = yb[i * inner + j];
                }
            }
            let label = labels.map_or(0, |lb| lb[o * inner + j]);
            let (v, s) = ce_lane(&xl, yb.map(|_| yl.as_slice()), label, alpha);
            ob[j] = v;
            sb[3 * j..3 * j + 3].copy_from_slice(&s);
        }
    };
    if xs.len() >= PAR_THRESHOLD && l.outer > 1 {
        let per = (PAR_THRESHOLD / block.max(1)).max(1);
        out.par_chunks_mut(inner)
            .zip(stats.par_chunks_mut(3 * inner))
            .enumerate()
            .with_min_len(per)
            .for_each(|(o, (ob, sb))| work(o, ob, sb));
    } else {
        out.chunks_mut(inner).zip(stats.chunks_mut(3 * inner)).enumerate().for_each(|(o, (ob, sb))| work(o, ob, sb));
    }
    Ok((out, stats))
}

/// One contiguous lane of the backward pass:
/// `dx = g·(softmax(x)·Σỹ − ỹ)`, the softmax recomputed from `[m, ls]`.
#[inline(always)]
fn ce_lane_backward<T: Real>(g: T, x: &[T], y: Option<&[T]>, label: usize, alpha: T, s: &[T], dx: &mut [T]) {
    let n = x.len();
    if n == 0 {
        return;
    }
    let (m, ls, total) = (s[0], s[1], s[2]);
    let (a, b) = (T::one() - alpha, alpha / T::c(n as f64));
    let gs = g * total;
    match y {
        Some(y) => {
            for ((d, &v), &t) in dx.iter_mut().zip(x).zip(y) {
                *d = gs * ((v - m) - ls).exp_k() - g * (a * t + b);
            }
        }
        None => {
            let gb = g * b;
            for (d, &v) in dx.iter_mut().zip(x) {
                *d = gs * ((v - m) - ls).exp_k() - gb;
            }
            dx[label] = dx[label] - g * a;
        }
    }
}

fn ce_backward<T: Real>(
    g: &ArcArray<T, IxDyn>,
    x: &ArcArray<T, IxDyn>,
    y: Option<&ArcArray<T, IxDyn>>,
    labels: Option<&[usize]>,
    stats: &ArcArray<T, IxDyn>,
    l: Lanes,
    alpha: f64,
) -> Result<Vec<T>> {
    same_type(y, labels.is_none())?;
    let gs = standard(g);
    let gs = gs.as_slice().expect("standard layout");
    let xs = standard(x);
    let xs = xs.as_slice().expect("standard layout");
    let ys = y.map(standard);
    let ys = ys.as_ref().map(|a| a.as_slice().expect("standard layout"));
    let st = standard(stats);
    let st = st.as_slice().expect("standard layout");
    let mut dx = lux_core::alloc_buffer::<T>("CrossEntropyLoss", "gradient", x.shape())?;
    dx.resize(xs.len(), T::zero());
    let (n, inner) = (l.n, l.inner);
    let block = n * inner;
    if block == 0 || l.outer == 0 {
        return Ok(dx);
    }
    let alpha = T::c(alpha);
    let work = |o: usize, db: &mut [T]| {
        let xb = &xs[o * block..(o + 1) * block];
        let yb = ys.map(|y| &y[o * block..(o + 1) * block]);
        if inner == 1 {
            let label = labels.map_or(0, |lb| lb[o]);
            ce_lane_backward(gs[o], xb, yb, label, alpha, &st[3 * o..3 * o + 3], db);
            return;
        }
        let (mut xl, mut dl) = (vec![T::zero(); n], vec![T::zero(); n]);
        let mut yl = vec![T::zero(); if yb.is_some() { n } else { 0 }];
        for j in 0..inner {
            let lane = o * inner + j;
            for i in 0..n {
                xl[i] = xb[i * inner + j];
            }
            if let Some(yb) = yb {
                for i in 0..n {
                    yl[i] = yb[i * inner + j];
                }
            }
            let label = labels.map_or(0, |lb| lb[lane]);
            let ylane = yb.map(|_| yl.as_slice());
            ce_lane_backward(gs[lane], &xl, ylane, label, alpha, &st[3 * lane..3 * lane + 3], &mut dl);
            for i in 0..n {
                db[i * inner + j] = dl[i];
            }
        }
    };
    if xs.len() >= PAR_THRESHOLD && l.outer > 1 {
        let per = (PAR_THRESHOLD / block).max(1);
        dx.par_chunks_mut(block).enumerate().with_min_len(per).for_each(|(o, db)| work(o, db));
    } else {
        dx.chunks_mut(block).enumerate().for_each(|(o, db)| work(o, db));
    }
    Ok(dx)
}

/// The composite cross-entropy: `−Σ_axis ỹ·logsoftmax(x, axis)`, `ỹ`
/// already smoothed. Also the crate's unfused path.
pub(crate) fn composite_cross_entropy(x: &Tensor, y_smoothed: &Tensor, axis: usize) -> Result<Tensor> {
    let ax = [axis as isize];
    y_smoothed.mul(&lux_ops::logsoftmax(x, axis as isize)?)?.sum(&ax, false)?.neg()
}

/// `(1 − α)·y + α/n`, as tensor ops (the identity for `α = 0`).
pub(crate) fn smooth(y: Tensor, alpha: f64, classes: usize) -> Result<Tensor> {
    if alpha > 0.0 { y.mul_scalar(1.0 - alpha)?.add_scalar(alpha / classes as f64) } else { Ok(y) }
}

impl CustomOp for LogitCeOp {
    fn name(&self) -> &str {
        "CrossEntropyLoss"
    }

    fn backward(&self, grad: &Tensor, inputs: &[Tensor], _: &Tensor, _: &[bool]) -> Result<Vec<Option<Tensor>>> {
        const OP: &str = "CrossEntropyLoss";
        let x = &inputs[0];
        let lanes = Lanes::new(x.shape(), self.axis);
        let g = if grad.dtype() == x.dtype() { grad.clone() } else { grad.to_dtype(x.dtype())? };
        let yd = match &self.target {
            CeTarget::Dense(y) => Some(y.compute_data(OP)?),
            CeTarget::Index { .. } => None,
        };
        let labels = match &self.target {
            CeTarget::Index { labels, .. } => Some(labels.as_slice()),
            CeTarget::Dense(_) => None,
        };
        let yd = yd.as_ref();
        let shape = x.shape().to_vec();
        let dx = match (g.compute_data(OP)?, x.compute_data(OP)?, &self.stats) {
            (FloatData::F32(g), FloatData::F32(x), FloatData::F32(s)) => FloatData::F32(vec_array(
                ce_backward(&g, &x, yd.and_then(FloatData::array), labels, s, lanes, self.alpha)?,
                &shape,
            )),
            (FloatData::F64(g), FloatData::F64(x), FloatData::F64(s)) => FloatData::F64(vec_array(
                ce_backward(&g, &x, yd.and_then(FloatData::array), labels, s, lanes, self.alpha)?,
                &shape,
            )),
            _ => return Err(LuxError::Unsupported("internal: CrossEntropyLoss backward saw mixed dtypes".into())),
        };
        Ok(vec![Some(dx.into_tensor(x.dtype()))])
    }

    /// Forward mode through the composite definition (a few elementwise
    /// and gather passes; no faster rule is worth its code here).
    fn tangent(&self, inputs: &[Tensor], _: &Tensor, tangents: &[Option<Tensor>]) -> Result<Tensor> {
        lux_core::forward::composite_tangent(self, inputs, tangents)
    }

    fn composite(&self, inputs: &[Tensor]) -> Result<Option<Tensor>> {
        let x = &inputs[0];
        let classes = x.shape()[self.axis];
        let y = match &self.target {
            CeTarget::Dense(y) => y.clone(),
            CeTarget::Index { tensor, .. } => {
                crate::classification::one_hot_along(tensor, classes, self.axis, x.dtype())?
            }
        };
        composite_cross_entropy(x, &smooth(y, self.alpha, classes)?, self.axis).map(Some)
    }
}

/// How the fused MSE reduces `(ŷ − y)²`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Reduce {
    /// `Σ (ŷ − y)²`, a 0-d tensor.
    Sum,
    /// `Σ (ŷ − y)² / N`, a 0-d tensor.
    Mean,
    /// The elementwise `(ŷ − y)²`.
    None,
}

/// The recorded MSE op.
#[derive(Debug)]
struct MseOp {
    target: Tensor,
    reduce: Reduce,
}

/// The fused `(ŷ − y)²`, reduced by `reduce`. The caller has checked that
/// `y` has `x`'s shape and dtype and is untracked.
pub(crate) fn squared_error(x: &Tensor, y: &Tensor, reduce: Reduce) -> Result<Tensor> {
    const OP: &str = "MSELoss";
    let (xd, yd) = (x.compute_data(OP)?, y.compute_data(OP)?);
    let out = match (&xd, &yd) {
        (FloatData::F32(a), FloatData::F32(b)) => FloatData::F32(mse_forward(a, b, reduce)?),
        (FloatData::F64(a), FloatData::F64(b)) => FloatData::F64(mse_forward(a, b, reduce)?),
        _ => return Err(LuxError::Unsupported("internal: MSELoss targets differ in dtype from ŷ".into())),
    };
    let op = MseOp { target: y.clone(), reduce };
    Tensor::from_custom_op(out.into_tensor(x.dtype()), Arc::new(op), &[x])
}

/// Elements per task (and per f64 partial sum) of the MSE kernels.
const CHUNK: usize = 1 << 14;

/// `Σ (aᵢ − bᵢ)²` with `ACC` partial sums.
#[inline(always)]
fn sum_sq_diff<T: Real>(a: &[T], b: &[T]) -> T {
    let mut acc = [T::zero(); ACC];
    let (mut ca, mut cb) = (a.chunks_exact(ACC), b.chunks_exact(ACC));
    for (p, q) in (&mut ca).zip(&mut cb) {
        for k in 0..ACC {
            let d = p[k] - q[k];
            acc[k] += d * d;
        }
    }
    let s: T = ca.remainder().iter().zip(cb.remainder()).map(|(&p, &q)| (p - q) * (p - q)).sum();
    acc.iter().fold(s, |s, &v| s + v)
}

fn mse_forward<T: Real>(a: &ArcArray<T, IxDyn>, b: &ArcArray<T, IxDyn>, reduce: Reduce) -> Result<ArcArray<T, IxDyn>> {
    let (sa, sb) = (standard(a), standard(b));
    let (xs, ys) = (sa.as_slice().expect("standard layout"), sb.as_slice().expect("standard layout"));
    let par = xs.len() >= PAR_THRESHOLD;
    if reduce == Reduce::None {
        let mut out = lux_core::alloc_buffer::<T>("MSELoss", "output", a.shape())?;
        out.resize(xs.len(), T::zero());
        let work = |((o, p), q): ((&mut [T], &[T]), &[T])| {
            for ((o, &p), &q) in o.iter_mut().zip(p).zip(q) {
                *o = (p - q) * (p - q);
            }
        };
        if par {
            out.par_chunks_mut(CHUNK).zip(xs.par_chunks(CHUNK)).zip(ys.par_chunks(CHUNK)).for_each(work);
        } else {
            out.chunks_mut(CHUNK).zip(xs.chunks(CHUNK)).zip(ys.chunks(CHUNK)).for_each(work);
        }
        return Ok(vec_array(out, a.shape()));
    }
    // Partial sums in T per chunk, added up in f64.
    let part = |(p, q): (&[T], &[T])| sum_sq_diff(p, q).to_f64();
    let total: f64 = if par {
        xs.par_chunks(CHUNK).zip(ys.par_chunks(CHUNK)).map(part).sum()
    } else {
        xs.chunks(CHUNK).zip(ys.chunks(CHUNK)).map(part).sum()
    };
    let v = if reduce == Reduce::Mean { total / xs.len() as f64 } else { total };
    Ok(vec_array(vec![T::c(v)], &[]))
}

fn mse_backward<T: Real>(
    g: &ArcArray<T, IxDyn>,
    a: &ArcArray<T, IxDyn>,
    b: &ArcArray<T, IxDyn>,
    reduce: Reduce,
) -> Result<ArcArray<T, IxDyn>> {
    let (sa, sb) = (standard(a), standard(b));
    let (xs, ys) = (sa.as_slice().expect("standard layout"), sb.as_slice().expect("standard layout"));
    let mut dx = lux_core::alloc_buffer::<T>("MSELoss", "gradient", a.shape())?;
    dx.resize(xs.len(), T::zero());
    let par = xs.len() >= PAR_THRESHOLD;
    if reduce == Reduce::None {
        let sg = standard(g);
        let gs = sg.as_slice().expect("standard layout");
        let two = T::c(2.0);
        let work = |(k, d): (usize, &mut [T])| {
            let r = k * CHUNK..k * CHUNK + d.len();
            for (((d, &p), &q), &g) in d.iter_mut().zip(&xs[r.clone()]).zip(&ys[r.clone()]).zip(&gs[r]) {
                *d = two * g * (p - q);
            }
        };
        if par {
            dx.par_chunks_mut(CHUNK).enumerate().for_each(work);
        } else {
            dx.chunks_mut(CHUNK).enumerate().for_each(work);
        }
    } else {
        let gv = g.iter().next().copied().unwrap_or_else(T::zero);
        let scale = if reduce == Reduce::Mean { T::c(2.0 / xs.len() as f64) } else { T::c(2.0) };
        let k = gv * scale;
        let work = |((d, p), q): ((&mut [T], &[T]), &[T])| {
            for ((d, &p), &q) in d.iter_mut().zip(p).zip(q) {
                *d = k * (p - q);
            }
        };
        if par {
            dx.par_chunks_mut(CHUNK).zip(xs.par_chunks(CHUNK)).zip(ys.par_chunks(CHUNK)).for_each(work);
        } else {
            dx.chunks_mut(CHUNK).zip(xs.chunks(CHUNK)).zip(ys.chunks(CHUNK)).for_each(work);
        }
    }
    Ok(vec_array(dx, a.shape()))
}

/// The composite squared error, also the crate's unfused path.
pub(crate) fn composite_squared_error(x: &Tensor, y: &Tensor, reduce: Reduce) -> Result<Tensor> {
    let sq = x.sub(y)?.square()?;
    match reduce {
        Reduce::Sum => sq.sum_all(),
        Reduce::Mean => sq.mean_all(),
        Reduce::None => Ok(sq),
    }
}

impl CustomOp for MseOp {
    fn name(&self) -> &str {
        "MSELoss"
    }

    fn backward(&self, grad: &Tensor, inputs: &[Tensor], _: &Tensor, _: &[bool]) -> Result<Vec<Option<Tensor>>> {
        const OP: &str = "MSELoss";
        let x = &inputs[0];
        let g = if grad.dtype() == x.dtype() { grad.clone() } else { grad.to_dtype(x.dtype())? };
        let dx = match (g.compute_data(OP)?, x.compute_data(OP)?, self.target.compute_data(OP)?) {
            (FloatData::F32(g), FloatData::F32(a), FloatData::F32(b)) => {
                FloatData::F32(mse_backward(&g, &a, &b, self.reduce)?)
            }
            (FloatData::F64(g), FloatData::F64(a), FloatData::F64(b)) => {
                FloatData::F64(mse_backward(&g, &a, &b, self.reduce)?)
            }
            _ => return Err(LuxError::Unsupported("internal: MSELoss backward saw mixed dtypes".into())),
        };
        Ok(vec![Some(dx.into_tensor(x.dtype()))])
    }

    /// Forward mode through the composite definition (a few elementwise
    /// and gather passes; no faster rule is worth its code here).
    fn tangent(&self, inputs: &[Tensor], _: &Tensor, tangents: &[Option<Tensor>]) -> Result<Tensor> {
        lux_core::forward::composite_tangent(self, inputs, tangents)
    }

    fn composite(&self, inputs: &[Tensor]) -> Result<Option<Tensor>> {
        composite_squared_error(&inputs[0], &self.target, self.reduce).map(Some)
    }
}

/// `y` as a constant of `x`'s shape and dtype for a fused kernel, or `None`
/// when it is not one (it broadcasts `x` to a larger shape): then the
/// caller takes the composite path. `y` has `x`'s compute dtype already.
pub(crate) fn fused_target(x: &Tensor, y: &Tensor) -> Result<Option<Tensor>> {
    if y.dtype() != x.dtype() {
        return Ok(None);
    }
    if y.shape() == x.shape() {
        return Ok(Some(y.detach()));
    }
    match lux_core::broadcast_shapes(x.shape(), y.shape()) {
        Ok(s) if s == x.shape() => Ok(Some(y.detach().broadcast_to(x.shape())?)),
        _ => Ok(None),
    }
}

/// The dtype both operands compute in: `x` cast to `dtype` (differentiably)
/// when it differs.
pub(crate) fn cast_to(x: &Tensor, dtype: DType) -> Result<Tensor> {
    if x.dtype() == dtype { Ok(x.clone()) } else { x.to_dtype(dtype) }
}
