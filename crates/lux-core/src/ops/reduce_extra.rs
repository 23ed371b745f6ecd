//! More reductions: `prod`, `var`, `std`, `argmin`, `any`, `all`.
//!
//! `prod`, `var` and `std` are compositions of differentiable primitives
//! (their backward rules are those of `mul`, `narrow`, `concat`, `mean`, …),
//! so gradients of gradients work. `prod` multiplies pairwise, never divides:
//! its gradient `∏_{j≠i} x_j` is exact when inputs are zero.

use super::normalize_axis;
use super::reduce::norm_axes;
use crate::dtype::Data;
use crate::error::{Result, shape_err};
use crate::tensor::{check_alloc, float_dtype};
use crate::{DType, LuxError, Tensor};
use ndarray::Axis;

/// The output shape of a reduction over `axes` (sorted, unique).
fn reduced_shape(shape: &[usize], axes: &[usize], keepdim: bool) -> Vec<usize> {
    shape
        .iter()
        .enumerate()
        .filter_map(|(i, &d)| match (axes.contains(&i), keepdim) {
            (false, _) => Some(d),
            (true, true) => Some(1),
            (true, false) => None,
        })
        .collect()
}

impl Tensor {
    /// Product over `axes` (1 over an empty axis); float or i64 (i64 wraps
    /// on overflow).
    ///
    /// Computed as a pairwise product tree, so the gradient of each input is
    /// the product of the others, also where inputs are zero.
    ///
    /// ```
    /// let x = lux_core::Tensor::from_vec(vec![1.0f64, 2.0, 3.0, 4.0, 0.0, 6.0], &[2, 3])?;
    /// assert_eq!(x.prod(&[-1], false)?.to_vec::<f64>()?, vec![6.0, 0.0]);
    /// assert_eq!(x.prod(&[0], true)?.to_vec::<f64>()?, vec![4.0, 0.0, 18.0]);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// An axis is out of range or repeated, or the tensor is bool.
    pub fn prod(&self, axes: &[isize], keepdim: bool) -> Result<Tensor> {
        let axes = norm_axes("prod", axes, self.shape())?;
        if self.dtype() == DType::Bool {
            return Err(LuxError::UnsupportedDType { op: "prod".into(), dtype: self.dtype() });
        }
        let out_shape = reduced_shape(self.shape(), &axes, keepdim);
        check_alloc("prod", &out_shape, self.dtype())?;
        // Reduced axes go last and merge into one of length n.
        let kept: Vec<usize> = (0..self.ndim()).filter(|a| !axes.contains(a)).collect();
        let n: usize = axes.iter().map(|&a| self.shape()[a]).product();
        let mut flat: Vec<usize> = kept.iter().map(|&a| self.shape()[a]).collect();
        flat.push(n);
        if n == 0 {
            return Tensor::ones(&out_shape, self.dtype());
        }
        let perm: Vec<usize> = kept.iter().chain(&axes).copied().collect();
        let mut x = self.permute(&perm)?.reshape(&flat)?;
        let mut len = n;
        while len > 1 {
            let h = len / 2;
            let pairs = x.narrow(-1, 0, h)?.mul(&x.narrow(-1, h, h)?)?;
            x = if len % 2 == 1 { Tensor::concat(&[pairs, x.narrow(-1, 2 * h, 1)?], -1)? } else { pairs };
            len = h + len % 2;
        }
        x.reshape(&out_shape)
    }

    /// Variance over `axes`: `Σ (x − mean)² / (N − correction)`, `N` the
    /// number of reduced elements. `correction = 1` is the unbiased sample
    /// variance (the default of PyTorch's `var` and Julia's `var`),
    /// `correction = 0` the population variance. As in PyTorch, the divisor
    /// is `max(N − correction, 0)`, so too few elements give NaN (or inf).
    ///
    /// ```
    /// let x = lux_core::Tensor::from_vec(vec![1.0f64, 2.0, 3.0, 4.0, 4.0, 4.0], &[2, 3])?;
    /// assert_eq!(x.var(&[-1], 1, false)?.to_vec::<f64>()?, vec![1.0, 0.0]);
    /// assert_eq!(x.var(&[-1], 0, false)?.to_vec::<f64>()?, vec![2.0 / 3.0, 0.0]);
    /// assert!(x.var(&[0, 1], 6, false)?.to_scalar::<f64>()?.is_infinite());
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// An axis is out of range or repeated, or the tensor is not float.
    pub fn var(&self, axes: &[isize], correction: usize, keepdim: bool) -> Result<Tensor> {
        self.variance("var", axes, correction, keepdim)
    }

    fn variance(&self, op: &str, axes: &[isize], correction: usize, keepdim: bool) -> Result<Tensor> {
        let ax = norm_axes(op, axes, self.shape())?;
        float_dtype(op, self.dtype())?;
        let n: usize = ax.iter().map(|&a| self.shape()[a]).product();
        let d = self.sub(&self.mean(axes, true)?)?;
        let ss = d.mul(&d)?.sum(axes, keepdim)?;
        ss.div(&ss.scalar_like(n.saturating_sub(correction) as f64))
    }

    /// Standard deviation over `axes`: `√var` with the same `correction`
    /// (see [`var`](Tensor::var)). Its gradient is infinite or NaN where the
    /// deviation is 0, as in PyTorch.
    ///
    /// ```
    /// let x = lux_core::Tensor::from_vec(vec![2.0f64, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0], &[8])?;
    /// assert_eq!(x.std(&[0], 0, false)?.to_scalar::<f64>()?, 2.0);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// As for [`var`](Tensor::var).
    pub fn std(&self, axes: &[isize], correction: usize, keepdim: bool) -> Result<Tensor> {
        self.variance("std", axes, correction, keepdim)?.sqrt()
    }

    /// Index (i64) of the smallest element along `axis`; the first one on
    /// ties, and the first NaN if there is one (as [`argmax`](Tensor::argmax)).
    /// Not differentiable.
    ///
    /// ```
    /// let x = lux_core::Tensor::from_vec(vec![3.0f32, 1.0, 1.0, 0.0, 7.0, -2.0], &[2, 3])?;
    /// assert_eq!(x.argmin(-1, false)?.to_vec::<i64>()?, vec![1, 2]);
    /// assert_eq!(x.argmin(0, true)?.to_vec::<i64>()?, vec![1, 0, 1]);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// `axis` is out of range, the axis is empty, or the tensor is bool.
    pub fn argmin(&self, axis: isize, keepdim: bool) -> Result<Tensor> {
        let ax = normalize_axis("argmin", axis, self.shape())?;
        if self.shape()[ax] == 0 {
            return Err(shape_err("argmin", format!("cannot reduce an empty axis of shape {:?}", self.shape())));
        }
        // argmax of an order-reversing bijection: −x for floats (exact, NaN
        // stays NaN), !x = −x − 1 for i64 (no overflow at i64::MIN).
        let reversed = match &self.data {
            Data::I64(a) => Tensor::from_data(Data::I64(super::map_arr(a, |v: i64| !v))),
            Data::Bool(_) => return Err(LuxError::UnsupportedDType { op: "argmin".into(), dtype: self.dtype() }),
            _ => self.detach().neg()?,
        };
        reversed.argmax(ax as isize, keepdim)
    }

    /// `true` where any element over `axes` is true (non-zero for numeric
    /// tensors; NaN counts as true); false over an empty axis.
    ///
    /// ```
    /// let m = lux_core::Tensor::from_vec(vec![true, false, false, false], &[2, 2])?;
    /// assert_eq!(m.any(&[-1], false)?.to_vec::<bool>()?, vec![true, false]);
    /// assert_eq!(m.any(&[0], true)?.shape(), &[1, 2]);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// An axis is out of range or repeated.
    pub fn any(&self, axes: &[isize], keepdim: bool) -> Result<Tensor> {
        self.bool_reduce("any", axes, keepdim)
    }

    /// `true` where every element over `axes` is true (non-zero); true over
    /// an empty axis.
    ///
    /// ```
    /// let x = lux_core::Tensor::from_vec(vec![1.0f32, 2.0, 0.0, 3.0], &[2, 2])?;
    /// assert_eq!(x.all(&[-1], false)?.to_vec::<bool>()?, vec![true, false]);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// An axis is out of range or repeated.
    pub fn all(&self, axes: &[isize], keepdim: bool) -> Result<Tensor> {
        self.bool_reduce("all", axes, keepdim)
    }

    /// [`any`](Tensor::any) over every element, as a 0-d bool tensor.
    ///
    /// ```
    /// let x = lux_core::Tensor::from_vec(vec![0i64, 0, 5], &[3])?;
    /// assert!(x.any_all()?.to_scalar::<bool>()?);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn any_all(&self) -> Result<Tensor> {
        self.any(&(0..self.ndim() as isize).collect::<Vec<_>>(), false)
    }

    /// [`all`](Tensor::all) over every element, as a 0-d bool tensor.
    ///
    /// ```
    /// let x = lux_core::Tensor::from_vec(vec![0i64, 0, 5], &[3])?;
    /// assert!(!x.all_all()?.to_scalar::<bool>()?);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn all_all(&self) -> Result<Tensor> {
        self.all(&(0..self.ndim() as isize).collect::<Vec<_>>(), false)
    }

    fn bool_reduce(&self, op: &str, axes: &[isize], keepdim: bool) -> Result<Tensor> {
        let axes = norm_axes(op, axes, self.shape())?;
        check_alloc(op, &reduced_shape(self.shape(), &axes, keepdim), DType::Bool)?;
        let every = op == "all";
        let b = self.detach().to_dtype(DType::Bool)?;
        let Data::Bool(mut r) = b.data else { unreachable!("cast to bool") };
        for &ax in axes.iter().rev() {
            let folded = r.map_axis(Axis(ax), |l| if every { l.iter().all(|&v| v) } else { l.iter().any(|&v| v) });
            r = if keepdim { folded.insert_axis(Axis(ax)).into_shared() } else { folded.into_shared() };
        }
        Ok(Tensor::from_data(Data::Bool(r)))
    }
}

#[cfg(test)]
mod tests {
    use crate::{DType, Tensor};

    #[test]
    fn prod_matches_f64_products_over_axes() -> crate::Result<()> {
        let v: Vec<f64> = (0..30).map(|i| 0.5 + (i as f64 * 0.37).sin()).collect();
        let x = Tensor::from_vec(v.clone(), &[2, 3, 5])?;
        // over axes 0 and 2, for each j: Π_i Π_k v[15i + 5j + k]
        let want: Vec<f64> = (0..3)
            .map(|j| (0..2).flat_map(|i| (0..5).map(move |k| 15 * i + 5 * j + k)).map(|p| v[p]).product())
            .collect();
        let got = x.prod(&[0, 2], false)?.to_vec::<f64>()?;
        for (a, b) in got.iter().zip(&want) {
            assert!((a - b).abs() <= 1e-14 * b.abs(), "{a} vs {b}");
        }
        assert_eq!(x.prod(&[0, 2], true)?.shape(), &[1, 3, 1]);
        // every length 1..=9 along the last axis (odd lengths carry a tail)
        for n in 1..=9usize {
            let t = Tensor::arange(1.0, n as f64 + 1.0, 1.0, DType::F64)?;
            let fact: f64 = (1..=n).map(|k| k as f64).product();
            assert_eq!(t.prod(&[0], false)?.to_scalar::<f64>()?, fact, "n = {n}");
        }
        let i = Tensor::from_vec(vec![2i64, -3, 4], &[3])?;
        assert_eq!(i.prod(&[0], false)?.to_scalar::<i64>()?, -24);
        assert_eq!(Tensor::zeros(&[2, 0], DType::F32)?.prod(&[1], false)?.to_vec::<f32>()?, vec![1.0, 1.0]);
        assert!(Tensor::zeros(&[2], DType::Bool)?.prod(&[0], false).is_err());
        let e = x.prod(&[3], false).unwrap_err().to_string();
        assert!(e.contains("prod") && e.contains("[2, 3, 5]"), "{e}");
        Ok(())
    }

    #[test]
    fn var_and_std_against_two_pass_f64() -> crate::Result<()> {
        let v: Vec<f64> = (0..24).map(|i| (i as f64 * 1.3).cos() * 3.0 + 1.0).collect();
        let x = Tensor::from_vec(v.clone(), &[4, 6])?;
        for correction in [0usize, 1, 2] {
            let got = x.var(&[1], correction, false)?.to_vec::<f64>()?;
            let got_std = x.std(&[1], correction, true)?;
            assert_eq!(got_std.shape(), &[4, 1]);
            for (r, (&g, &s)) in got.iter().zip(&got_std.to_vec::<f64>()?).enumerate() {
                let row = &v[r * 6..r * 6 + 6];
                let m = row.iter().sum::<f64>() / 6.0;
                let want = row.iter().map(|a| (a - m) * (a - m)).sum::<f64>() / (6 - correction) as f64;
                assert!((g - want).abs() <= 1e-14 * want, "{g} vs {want}");
                assert!((s - want.sqrt()).abs() <= 1e-14 * want.sqrt());
            }
        }
        // one element with the default correction: 0/0, as PyTorch and Julia
        assert!(Tensor::from_vec(vec![3.0f32], &[1])?.var(&[0], 1, false)?.to_scalar::<f32>()?.is_nan());
        let e = Tensor::zeros(&[3], DType::I64)?.std(&[0], 1, false).unwrap_err().to_string();
        assert!(e.contains("std"), "{e}");
        assert!(x.var(&[2], 1, false).is_err());
        Ok(())
    }

    #[test]
    fn argmin_ties_nan_and_i64_extremes() -> crate::Result<()> {
        let x = Tensor::from_vec(vec![2.0f32, f32::NAN, -1.0, 0.0, -0.0, 5.0], &[2, 3])?;
        assert_eq!(x.argmin(-1, false)?.to_vec::<i64>()?, vec![1, 0]);
        let i = Tensor::from_vec(vec![0i64, i64::MIN, i64::MAX, i64::MIN], &[4])?;
        assert_eq!(i.argmin(0, false)?.to_vec::<i64>()?, vec![1]);
        assert!(Tensor::zeros(&[2], DType::Bool)?.argmin(0, false).is_err());
        let e = Tensor::zeros(&[2, 0], DType::F32)?.argmin(1, false).unwrap_err().to_string();
        assert!(e.contains("argmin") && e.contains("[2, 0]"), "{e}");
        assert!(x.argmin(2, false).unwrap_err().to_string().contains("argmin"));
        Ok(())
    }

    #[test]
    fn any_all_over_axes_empty_and_huge() -> crate::Result<()> {
        let x = Tensor::from_vec(vec![0.0f64, 0.0, 1.0, 0.0, f64::NAN, 2.0], &[3, 2])?;
        assert_eq!(x.any(&[1], false)?.to_vec::<bool>()?, vec![false, true, true]);
        assert_eq!(x.all(&[1], false)?.to_vec::<bool>()?, vec![false, false, true]);
        assert_eq!(x.all(&[0], false)?.to_vec::<bool>()?, vec![false, false]);
        assert!(x.any_all()?.to_scalar::<bool>()? && !x.all_all()?.to_scalar::<bool>()?);
        let empty = Tensor::zeros(&[2, 0], DType::Bool)?;
        assert_eq!(empty.any(&[1], false)?.to_vec::<bool>()?, vec![false, false]);
        assert_eq!(empty.all(&[1], false)?.to_vec::<bool>()?, vec![true, true]);
        // an empty input whose result would have 2^62 elements is an Err
        assert!(Tensor::zeros(&[0, 1 << 62], DType::Bool)?.any(&[0], false).is_err());
        assert!(Tensor::zeros(&[1 << 62, 0], DType::F32)?.prod(&[1], false).is_err());
        assert!(x.any(&[0, 0], false).is_err());
        Ok(())
    }
}
