//! Reductions over axes (`sum`, `mean`, `max`, `min`, `argmax`) and
//! `sum_to`, the adjoint of broadcasting.
//!
//! Axes are signed (`-1` = last). `keepdim` keeps reduced axes with size 1.
//! `max`/`min` propagate NaN and split the gradient evenly between ties.

use super::normalize_axis;
use crate::Tensor;
use crate::autodiff::Op;
use crate::dtype::{Data, Real};
use crate::error::{Result, arg_err, shape_err};
use crate::tensor::FloatData;
use crate::tensor::{PAR_THRESHOLD, float_dtype};
use ndarray::{ArcArray, ArrayD, ArrayView1, Axis, IxDyn, Zip};
use rayon::prelude::*;

/// A reduction over `axes` (sorted, unique, non-negative).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ReduceOp {
    kind: ReduceKind,
    axes: Vec<usize>,
    keepdim: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ReduceKind {
    Sum,
    Mean,
    Max,
    Min,
}

impl ReduceKind {
    fn name(self) -> &'static str {
        match self {
            ReduceKind::Sum => "sum",
            ReduceKind::Mean => "mean",
            ReduceKind::Max => "max",
            ReduceKind::Min => "min",
        }
    }
}

pub(super) fn norm_axes(op: &str, axes: &[isize], shape: &[usize]) -> Result<Vec<usize>> {
    let mut out = axes.iter().map(|&a| normalize_axis(op, a, shape)).collect::<Result<Vec<_>>>()?;
    out.sort_unstable();
    if out.windows(2).any(|w| w[0] == w[1]) {
        return Err(arg_err(op, format!("axis listed twice in {axes:?}")));
    }
    Ok(out)
}

/// Folds one axis away; large inputs reduce their lanes in parallel.
fn fold_axis<T: Real>(kind: ReduceKind, r: &ArcArray<T, IxDyn>, ax: usize) -> ArrayD<T> {
    let lane = move |l: ArrayView1<T>| -> T {
        match kind {
            ReduceKind::Sum | ReduceKind::Mean => l.sum(),
            // NaN propagates.
            ReduceKind::Max => l.fold(T::neg_infinity(), |m, &x| if x.is_nan() || x > m { x } else { m }),
            ReduceKind::Min => l.fold(T::infinity(), |m, &x| if x.is_nan() || x < m { x } else { m }),
        }
    };
    if r.len() >= PAR_THRESHOLD {
        Zip::from(r.lanes(Axis(ax))).par_map_collect(lane)
    } else if matches!(kind, ReduceKind::Sum | ReduceKind::Mean) {
        r.sum_axis(Axis(ax))
    } else {
        r.map_axis(Axis(ax), lane)
    }
}

fn reduce_kernel<T: Real>(
    kind: ReduceKind,
    a: &ArcArray<T, IxDyn>,
    axes: &[usize],
    keepdim: bool,
) -> ArcArray<T, IxDyn> {
    if axes.len() == a.ndim() && matches!(kind, ReduceKind::Sum | ReduceKind::Mean) {
        // Everything at once: one pass, no intermediate arrays.
        let total = match a.as_slice() {
            Some(s) if s.len() >= PAR_THRESHOLD => s.par_chunks(8192).map(|c| c.iter().copied().sum::<T>()).sum(),
            _ => a.sum(),
        };
        let v = if kind == ReduceKind::Mean { total / T::c(a.len() as f64) } else { total };
        let shape: Vec<usize> = if keepdim { vec![1; a.ndim()] } else { Vec::new() };
        return ArcArray::from_elem(IxDyn(&shape), v);
    }
    let mut r = a.clone();
    let mut count = 1usize;
    for &ax in axes.iter().rev() {
        count *= a.shape()[ax];
        let reduced = fold_axis(kind, &r, ax);
        r = if keepdim { reduced.insert_axis(Axis(ax)).into_shared() } else { reduced.into_shared() };
    }
    if kind == ReduceKind::Mean {
        let c = T::c(count as f64);
        r.mapv_inplace(|x| x / c);
    }
    r
}

impl ReduceOp {
    /// The gradient `g` (the output's shape) carried back to the input `x`.
    /// The tangent: the same reduction of the tangent for sums and means;
    /// for max/min, the tangent at the extremum (shared equally by ties, as
    /// the gradient is).
    pub(crate) fn tangent(&self, t: &Tensor, x: &Tensor, y: &Tensor) -> Result<Tensor> {
        let axes: Vec<isize> = self.axes.iter().map(|&a| a as isize).collect();
        match self.kind {
            ReduceKind::Sum => t.sum(&axes, self.keepdim),
            ReduceKind::Mean => t.mean(&axes, self.keepdim),
            ReduceKind::Max | ReduceKind::Min => {
                let keep_shape: Vec<usize> =
                    x.shape().iter().enumerate().map(|(i, &d)| if self.axes.contains(&i) { 1 } else { d }).collect();
                let hit = x.equal(&y.reshape(&keep_shape)?)?.to_dtype(t.dtype())?;
                let ties = hit.sum(&axes, self.keepdim)?;
                t.mul(&hit)?.sum(&axes, self.keepdim)?.div(&ties)
            }
        }
    }

    pub(crate) fn backward(&self, g: &Tensor, x: &Tensor, y: &Tensor) -> Result<Tensor> {
        let keep_shape: Vec<usize> =
            x.shape().iter().enumerate().map(|(i, &d)| if self.axes.contains(&i) { 1 } else { d }).collect();
        let g = g.reshape(&keep_shape)?;
        match self.kind {
            ReduceKind::Sum => g.broadcast_to(x.shape()),
            ReduceKind::Mean => {
                let count: usize = self.axes.iter().map(|&a| x.shape()[a]).product();
                g.broadcast_to(x.shape())?.mul_scalar(1.0 / count as f64)
            }
            ReduceKind::Max | ReduceKind::Min => {
                let y = y.reshape(&keep_shape)?;
                let hit = x.equal(&y)?.to_dtype(g.dtype())?;
                let ties = hit.detach().sum(&self.axes.iter().map(|&a| a as isize).collect::<Vec<_>>(), true)?;
                g.div(&ties)?.mul(&hit)
            }
        }
    }
}

impl Tensor {
    fn reduce(&self, kind: ReduceKind, axes: &[isize], keepdim: bool) -> Result<Tensor> {
        let axes = norm_axes(kind.name(), axes, self.shape())?;
        if matches!(kind, ReduceKind::Max | ReduceKind::Min) && axes.iter().any(|&a| self.shape()[a] == 0) {
            return Err(shape_err(kind.name(), format!("cannot reduce an empty axis of shape {:?}", self.shape())));
        }
        let data = if self.is_empty() {
            // Nothing to fold: the output is the empty sum (0) or mean (NaN),
            // built directly, since folding axis by axis could build
            // intermediates larger than the output (and than memory).
            float_dtype(kind.name(), self.dtype())?;
            let out: Vec<usize> = (0..self.ndim())
                .filter_map(|i| match axes.contains(&i) {
                    false => Some(self.shape()[i]),
                    true => keepdim.then_some(1),
                })
                .collect();
            let fill = if kind == ReduceKind::Mean { f64::NAN } else { 0.0 };
            Tensor::filled(kind.name(), &out, fill, self.dtype())?.data
        } else {
            let d = crate::map_float!(self.compute_data(kind.name())?, a => reduce_kernel(kind, &a, &axes, keepdim));
            d.into_data(self.dtype())
        };
        Tensor::from_op(data, Op::Reduce(ReduceOp { kind, axes, keepdim }), &[self])
    }

    fn all_axes(&self) -> Vec<isize> {
        (0..self.ndim() as isize).collect()
    }

    /// Sum over `axes`.
    ///
    /// ```
    /// let x = lux_core::Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3])?;
    /// assert_eq!(x.sum(&[-1], false)?.to_vec::<f32>()?, vec![6.0, 15.0]);
    /// assert_eq!(x.sum(&[0], true)?.shape(), &[1, 3]);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// An axis is out of range or repeated, or the tensor is not float.
    pub fn sum(&self, axes: &[isize], keepdim: bool) -> Result<Tensor> {
        self.reduce(ReduceKind::Sum, axes, keepdim)
    }
    /// Mean over `axes`.
    ///
    /// ```
    /// let x = lux_core::Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3])?;
    /// assert_eq!(x.mean(&[-1], false)?.to_vec::<f32>()?, vec![2.0, 5.0]);
    /// assert_eq!(x.mean(&[0], false)?.to_vec::<f32>()?, vec![2.5, 3.5, 4.5]);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// As for [`sum`](Tensor::sum).
    pub fn mean(&self, axes: &[isize], keepdim: bool) -> Result<Tensor> {
        self.reduce(ReduceKind::Mean, axes, keepdim)
    }
    /// Maximum over `axes` (NaN propagates).
    ///
    /// ```
    /// let x = lux_core::Tensor::from_vec(vec![1.0f32, 5.0, 2.0, 7.0, 0.0, 3.0], &[2, 3])?;
    /// assert_eq!(x.max(&[1], false)?.to_vec::<f32>()?, vec![5.0, 7.0]);
    /// let m = x.max(&[0], true)?;
    /// assert_eq!((m.shape(), m.to_vec::<f32>()?), (&[1, 3][..], vec![7.0, 5.0, 3.0]));
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// As for [`sum`](Tensor::sum), or a reduced axis is empty.
    pub fn max(&self, axes: &[isize], keepdim: bool) -> Result<Tensor> {
        self.reduce(ReduceKind::Max, axes, keepdim)
    }
    /// Minimum over `axes` (NaN propagates).
    ///
    /// ```
    /// use lux_core::{DType, Tensor};
    /// let x = Tensor::from_vec(vec![1.0f32, 5.0, 2.0, 7.0, 0.0, 3.0], &[2, 3])?;
    /// assert_eq!(x.min(&[-1], false)?.to_vec::<f32>()?, vec![1.0, 0.0]);
    /// assert!(Tensor::zeros(&[2, 0], DType::F32)?.min(&[1], false).is_err()); // empty axis
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// As for [`max`](Tensor::max).
    pub fn min(&self, axes: &[isize], keepdim: bool) -> Result<Tensor> {
        self.reduce(ReduceKind::Min, axes, keepdim)
    }
    /// Sum of all elements, as a 0-d tensor.
    ///
    /// ```
    /// let x = lux_core::Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0], &[2, 2])?;
    /// let s = x.sum_all()?;
    /// assert_eq!((s.shape(), s.to_scalar::<f32>()?), (&[] as &[usize], 10.0));
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn sum_all(&self) -> Result<Tensor> {
        self.sum(&self.all_axes(), false)
    }
    /// Mean of all elements, as a 0-d tensor.
    ///
    /// ```
    /// let x = lux_core::Tensor::from_vec(vec![1.0f64, 2.0, 3.0, 4.0], &[2, 2])?;
    /// assert_eq!(x.mean_all()?.to_scalar::<f64>()?, 2.5);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn mean_all(&self) -> Result<Tensor> {
        self.mean(&self.all_axes(), false)
    }
    /// Maximum of all elements, as a 0-d tensor.
    ///
    /// ```
    /// use lux_core::Tensor;
    /// let x = Tensor::from_vec(vec![1.0f32, 5.0, 2.0, 7.0, 0.0, 3.0], &[2, 3])?;
    /// assert_eq!(x.max_all()?.to_scalar::<f32>()?, 7.0);
    /// assert!(Tensor::from_vec(vec![1.0f32, f32::NAN], &[2])?.max_all()?.to_scalar::<f32>()?.is_nan());
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn max_all(&self) -> Result<Tensor> {
        self.max(&self.all_axes(), false)
    }
    /// Minimum of all elements, as a 0-d tensor.
    ///
    /// ```
    /// let x = lux_core::Tensor::from_vec(vec![1.0f32, 5.0, -2.0, 7.0], &[2, 2])?;
    /// assert_eq!(x.min_all()?.to_scalar::<f32>()?, -2.0);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn min_all(&self) -> Result<Tensor> {
        self.min(&self.all_axes(), false)
    }

    /// Index (i64) of the largest element along `axis`; the first one on ties,
    /// and the first NaN if there is one. Not differentiable.
    ///
    /// ```
    /// let x = lux_core::Tensor::from_vec(vec![1.0f32, 5.0, 5.0, 7.0, 0.0, 2.0], &[2, 3])?;
    /// assert_eq!(x.argmax(-1, false)?.to_vec::<i64>()?, vec![1, 0]);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// `axis` is out of range, the axis is empty, or the tensor is bool.
    pub fn argmax(&self, axis: isize, keepdim: bool) -> Result<Tensor> {
        let ax = normalize_axis("argmax", axis, self.shape())?;
        if self.shape()[ax] == 0 {
            return Err(shape_err("argmax", format!("cannot reduce an empty axis of shape {:?}", self.shape())));
        }
        fn arg<T: PartialOrd + Copy>(a: &ArcArray<T, IxDyn>, ax: usize) -> ArcArray<i64, IxDyn> {
            a.map_axis(Axis(ax), |lane| {
                let mut best = 0usize;
                let mut bv = lane[0];
                #[allow(clippy::eq_op)]
                let is_nan = |v: T| v != v;
                for (i, &v) in lane.iter().enumerate().skip(1) {
                    if is_nan(bv) {
                        break;
                    }
                    if is_nan(v) || v > bv {
                        best = i;
                        bv = v;
                    }
                }
                best as i64
            })
            .into_shared()
        }
        let r = match &self.data {
            Data::I64(a) => arg(a, ax),
            Data::Bool(_) => {
                return Err(crate::LuxError::UnsupportedDType { op: "argmax".into(), dtype: self.dtype() });
            }
            _ => match self.compute_data("argmax")? {
                FloatData::F32(a) => arg(&a, ax),
                FloatData::F64(a) => arg(&a, ax),
            },
        };
        let r = if keepdim { r.insert_axis(Axis(ax)) } else { r };
        Ok(Tensor::from_data(Data::I64(r)))
    }

    /// Sums a broadcast result back to `shape` (the adjoint of
    /// [`broadcast_to`](Tensor::broadcast_to)).
    ///
    /// ```
    /// let x = lux_core::Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3])?;
    /// assert_eq!(x.sum_to(&[3])?.to_vec::<f32>()?, vec![5.0, 7.0, 9.0]);
    /// assert_eq!(x.sum_to(&[2, 1])?.to_vec::<f32>()?, vec![6.0, 15.0]);
    /// assert!(x.sum_to(&[2]).is_err()); // [2] does not broadcast to [2, 3]
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// `shape` does not broadcast to this tensor's shape.
    pub fn sum_to(&self, shape: &[usize]) -> Result<Tensor> {
        if self.shape() == shape {
            return Ok(self.clone());
        }
        let n = self.ndim();
        if shape.len() > n {
            return Err(shape_err("sum_to", format!("cannot sum {:?} to the larger rank {:?}", self.shape(), shape)));
        }
        let lead = n - shape.len();
        let mut axes: Vec<isize> = (0..lead as isize).collect();
        for (i, &d) in shape.iter().enumerate() {
            let s = self.shape()[lead + i];
            if d == 1 && s != 1 {
                axes.push((lead + i) as isize);
            } else if d != s {
                return Err(shape_err("sum_to", format!("shape {:?} does not broadcast to {:?}", shape, self.shape())));
            }
        }
        self.sum(&axes, false)?.reshape(shape)
    }
}

#[cfg(test)]
mod tests {
    use crate::Tensor;

    #[test]
    fn reductions_against_hand_values() -> crate::Result<()> {
        let x = Tensor::from_vec((1..=24).map(|v| v as f64).collect::<Vec<_>>(), &[2, 3, 4])?;
        // sum over axes 0 and 2: for j, Σ_i Σ_k (12i + 4j + k + 1)
        let s = x.sum(&[0, -1], false)?.to_vec::<f64>()?;
        let want: Vec<f64> =
            (0..3).map(|j| (0..2).flat_map(|i| (0..4).map(move |k| (12 * i + 4 * j + k + 1) as f64)).sum()).collect();
        assert_eq!(s, want);
        assert_eq!(x.mean_all()?.to_scalar::<f64>()?, 12.5);
        assert_eq!(x.max(&[1], false)?.to_vec::<f64>()?, vec![9.0, 10.0, 11.0, 12.0, 21.0, 22.0, 23.0, 24.0]);
        assert_eq!(x.min(&[1], true)?.shape(), &[2, 1, 4]);
        assert!(x.sum(&[3], false).is_err());
        assert!(x.sum(&[1, -2], false).is_err());
        Ok(())
    }

    #[test]
    fn parallel_path_agrees_with_f64_reference() -> crate::Result<()> {
        // 300 x 400 = 120 000 elements: above the rayon threshold.
        let (r, c) = (300usize, 400usize);
        let v: Vec<f64> = (0..r * c).map(|i| ((i * 7919 % 1000) as f64) / 100.0 - 5.0).collect();
        let x = Tensor::from_vec(v.clone(), &[r, c])?;
        let rows: Vec<f64> = (0..r).map(|i| v[i * c..(i + 1) * c].iter().sum()).collect();
        let cols_max: Vec<f64> =
            (0..c).map(|j| (0..r).map(|i| v[i * c + j]).fold(f64::NEG_INFINITY, f64::max)).collect();
        let got = x.sum(&[1], false)?.to_vec::<f64>()?;
        for (a, b) in got.iter().zip(&rows) {
            assert!((a - b).abs() < 1e-9, "{a} vs {b}");
        }
        assert_eq!(x.max(&[0], false)?.to_vec::<f64>()?, cols_max);
        let total: f64 = v.iter().sum();
        assert!((x.sum_all()?.to_scalar::<f64>()? - total).abs() < 1e-6);
        // elementwise large path
        let y = x.mul(&x)?.to_vec::<f64>()?;
        assert!(y.iter().zip(&v).all(|(a, b)| *a == b * b));
        Ok(())
    }

    #[test]
    fn max_propagates_nan_and_argmax_ties() -> crate::Result<()> {
        let x = Tensor::from_vec(vec![1.0f32, f32::NAN, 0.0, 2.0, 2.0, 1.0], &[2, 3])?;
        let m = x.max(&[-1], false)?.to_vec::<f32>()?;
        assert!(m[0].is_nan());
        assert_eq!(m[1], 2.0);
        assert_eq!(x.argmax(-1, false)?.to_vec::<i64>()?, vec![1, 0]);
        assert!(Tensor::zeros(&[2, 0], crate::DType::F32)?.max(&[1], false).is_err());
        Ok(())
    }
}
