//! Sorting along an axis: `sort` and `topk`, values with i64 indices.
//!
//! The kernel only finds the permutation; the values are then
//! [`gather`](Tensor::gather)ed through it, so the gradient scatters back
//! through the indices by `gather`'s own (differentiable) rule.
//!
//! Order: stable (equal elements keep their order, also when descending);
//! NaN is larger than every number (`+∞` included), so it comes last in
//! ascending order and first in descending order and in `topk`, as in
//! PyTorch and Julia's `isless`.

use super::normalize_axis;
use crate::dtype::{Data, Real};
use crate::error::{Result, arg_err};
use crate::tensor::FloatData;
use crate::{LuxError, Tensor};
use ndarray::{ArcArray, ArrayD, Axis, IxDyn, Zip};
use std::cmp::Ordering;

/// Total order with NaN above every number.
fn nan_last<T: Real>(a: T, b: T) -> Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        (false, false) => a.partial_cmp(&b).unwrap_or(Ordering::Equal),
    }
}

/// The stable sorting permutation of every lane along `ax`.
fn argsort<T: Copy>(
    a: &ArcArray<T, IxDyn>,
    ax: usize,
    descending: bool,
    cmp: impl Fn(T, T) -> Ordering,
) -> ArcArray<i64, IxDyn> {
    let mut out = ArrayD::<i64>::zeros(a.raw_dim());
    let mut perm: Vec<usize> = Vec::with_capacity(a.shape()[ax]);
    Zip::from(a.lanes(Axis(ax))).and(out.lanes_mut(Axis(ax))).for_each(|lane, mut dst| {
        perm.clear();
        perm.extend(0..lane.len());
        if descending {
            perm.sort_by(|&i, &j| cmp(lane[j], lane[i]));
        } else {
            perm.sort_by(|&i, &j| cmp(lane[i], lane[j]));
        }
        for (d, &p) in dst.iter_mut().zip(&perm) {
            *d = p as i64;
        }
    });
    out.into_shared()
}

impl Tensor {
    /// Sorts along `axis` (ascending unless `descending`), returning the
    /// sorted values and, as i64, the index each came from
    /// (`values = self.gather(axis, &indices)`). Stable; NaN sorts above
    /// every number (last when ascending). Differentiable in the values:
    /// the gradient goes back to the position each value came from.
    ///
    /// ```
    /// let x = lux_core::Tensor::from_vec(vec![3.0f32, f32::NAN, 1.0, 3.0, -2.0], &[5])?;
    /// let (v, i) = x.sort(0, false)?;
    /// assert_eq!(i.to_vec::<i64>()?, vec![4, 2, 0, 3, 1]);
    /// assert_eq!(&v.to_vec::<f32>()?[..4], &[-2.0, 1.0, 3.0, 3.0]);
    /// let (_, i) = x.sort(0, true)?;
    /// assert_eq!(i.to_vec::<i64>()?, vec![1, 0, 3, 2, 4]);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// `axis` is out of range, or the tensor is bool.
    pub fn sort(&self, axis: isize, descending: bool) -> Result<(Tensor, Tensor)> {
        let ax = normalize_axis("sort", axis, self.shape())?;
        let idx = match &self.data {
            Data::I64(a) => argsort(a, ax, descending, |p: i64, q: i64| p.cmp(&q)),
            Data::Bool(_) => return Err(LuxError::UnsupportedDType { op: "sort".into(), dtype: self.dtype() }),
            _ => match self.compute_data("sort")? {
                FloatData::F32(a) => argsort(&a, ax, descending, nan_last),
                FloatData::F64(a) => argsort(&a, ax, descending, nan_last),
            },
        };
        let indices = Tensor::from_data(Data::I64(idx));
        Ok((self.gather(ax as isize, &indices)?, indices))
    }

    /// The `k` largest elements along `axis`, largest first, with their
    /// i64 indices (ties: the earlier element first; NaN counts as the
    /// largest). Differentiable in the values, as [`sort`](Tensor::sort).
    ///
    /// ```
    /// let x = lux_core::Tensor::from_vec(vec![1.0f64, 9.0, 4.0, 7.0, 0.0, 8.0], &[2, 3])?;
    /// let (v, i) = x.topk(2, -1)?;
    /// assert_eq!(v.to_vec::<f64>()?, vec![9.0, 4.0, 8.0, 7.0]);
    /// assert_eq!(i.to_vec::<i64>()?, vec![1, 2, 2, 0]);
    /// assert!(x.topk(4, -1).is_err());
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// `axis` is out of range, `k` exceeds the axis' length, or the tensor
    /// is bool.
    pub fn topk(&self, k: usize, axis: isize) -> Result<(Tensor, Tensor)> {
        let ax = normalize_axis("topk", axis, self.shape())?;
        let n = self.shape()[ax];
        if k > n {
            return Err(arg_err(
                "topk",
                format!("k = {k} exceeds the length {n} of axis {ax} of shape {:?}", self.shape()),
            ));
        }
        if self.dtype() == crate::DType::Bool {
            return Err(LuxError::UnsupportedDType { op: "topk".into(), dtype: self.dtype() });
        }
        let (_, order) = self.detach().sort(ax as isize, true)?;
        let indices = order.narrow(ax as isize, 0, k)?.contiguous()?;
        Ok((self.gather(ax as isize, &indices)?, indices))
    }
}

#[cfg(test)]
mod tests {
    use crate::{DType, Tensor};

    /// Reference: a stable sort of (value, position) pairs in f64, NaN last.
    fn reference(lane: &[f64], descending: bool) -> Vec<usize> {
        let mut p: Vec<usize> = (0..lane.len()).collect();
        let key = |i: usize| if lane[i].is_nan() { f64::INFINITY } else { lane[i] };
        let rank = |i: usize| (lane[i].is_nan(), key(i));
        p.sort_by(|&i, &j| {
            let o = rank(i).partial_cmp(&rank(j)).expect("no NaN keys");
            if descending { o.reverse() } else { o }
        });
        p
    }

    #[test]
    fn sort_matches_a_stable_reference_along_each_axis() -> crate::Result<()> {
        // few distinct values, so ties are common; a NaN and infinities
        let mut v: Vec<f64> = (0..24).map(|i| ((i * 7) % 5) as f64 - 2.0).collect();
        v[5] = f64::NAN;
        v[9] = f64::INFINITY;
        v[14] = f64::NEG_INFINITY;
        let x = Tensor::from_vec(v.clone(), &[4, 6])?;
        for descending in [false, true] {
            let (vals, idx) = x.sort(1, descending)?;
            let (vals, idx) = (vals.to_vec::<f64>()?, idx.to_vec::<i64>()?);
            for r in 0..4 {
                let want = reference(&v[r * 6..r * 6 + 6], descending);
                let got: Vec<usize> = idx[r * 6..r * 6 + 6].iter().map(|&i| i as usize).collect();
                assert_eq!(got, want, "row {r} descending={descending}");
                for (c, &w) in want.iter().enumerate() {
                    let (a, b) = (vals[r * 6 + c], v[r * 6 + w]);
                    assert!(a == b || (a.is_nan() && b.is_nan()));
                }
            }
        }
        // along axis 0 of the transposed (non-contiguous) view = along rows of x
        let t = x.transpose(0, 1)?;
        let (_, idx) = t.sort(0, false)?;
        let idx = idx.to_vec::<i64>()?;
        for r in 0..4 {
            let want = reference(&v[r * 6..r * 6 + 6], false);
            let got: Vec<usize> = (0..6).map(|c| idx[c * 4 + r] as usize).collect();
            assert_eq!(got, want);
        }
        let i = Tensor::from_vec(vec![3i64, i64::MIN, 3, i64::MAX], &[4])?;
        let (iv, ii) = i.sort(0, false)?;
        assert_eq!(iv.to_vec::<i64>()?, vec![i64::MIN, 3, 3, i64::MAX]);
        assert_eq!(ii.to_vec::<i64>()?, vec![1, 0, 2, 3]);
        let h = Tensor::from_vec(vec![2.5f32, -1.0, 0.5], &[3])?.to_dtype(DType::BF16)?;
        let (hv, hi) = h.sort(0, false)?;
        assert_eq!(hv.dtype(), DType::BF16);
        assert_eq!((hv.to_f64_vec(), hi.to_vec::<i64>()?), (vec![-1.0, 0.5, 2.5], vec![1, 2, 0]));
        assert!(Tensor::zeros(&[2], DType::Bool)?.sort(0, false).is_err());
        assert!(x.sort(2, false).unwrap_err().to_string().contains("sort"));
        assert_eq!(Tensor::zeros(&[0, 3], DType::F32)?.sort(0, false)?.1.shape(), &[0, 3]);
        Ok(())
    }

    #[test]
    fn topk_values_indices_and_errors() -> crate::Result<()> {
        let x = Tensor::from_vec(vec![5.0f32, 1.0, 5.0, f32::NAN, 2.0], &[5])?;
        let (v, i) = x.topk(3, 0)?;
        assert_eq!(i.to_vec::<i64>()?, vec![3, 0, 2]);
        assert!(v.to_vec::<f32>()?[0].is_nan());
        assert_eq!(&v.to_vec::<f32>()?[1..], &[5.0, 5.0]);
        assert_eq!(x.topk(0, 0)?.0.shape(), &[0]);
        let e = x.topk(6, 0).unwrap_err().to_string();
        assert!(e.contains("topk") && e.contains("k = 6") && e.contains("[5]"), "{e}");
        let m = Tensor::from_vec(vec![1i64, 9, 4, 7, 0, 8], &[2, 3])?;
        let (v, i) = m.topk(1, 0)?;
        assert_eq!((v.to_vec::<i64>()?, i.to_vec::<i64>()?), (vec![7, 9, 8], vec![1, 0, 1]));
        assert_eq!(v.shape(), &[1, 3]);
        Ok(())
    }
}
