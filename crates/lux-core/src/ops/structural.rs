//! Rearranging ops: `flip`, `cumsum`, `pad`, `repeat`, `repeat_interleave`,
//! `tril`, `triu`.
//!
//! `flip` and `cumsum` have their own kernels and backward rules (below,
//! beside each forward), written with differentiable ops: the adjoint of a
//! flip is the same flip, that of a cumulative sum the reversed cumulative
//! sum. The others are compositions of differentiable primitives (`concat`,
//! `broadcast_to`, `reshape`, `where_`), whose rules give their gradients:
//! the slice for `pad`, sums over the copies for `repeat`, the mask for
//! `tril`/`triu`.

use super::normalize_axis;
use super::reduce::norm_axes;
use crate::dtype::{Data, Sealed, with_data};
use crate::error::{Result, arg_err, shape_err};
use crate::tensor::{check_alloc, checked_len};
use crate::{CustomOp, DType, LuxError, Tensor};
use ndarray::{ArcArray, Axis, IxDyn};
use std::sync::Arc;

/// The adjoint of `flip(axes)` is `flip(axes)`.
#[derive(Debug)]
struct Flip {
    axes: Vec<isize>,
}

impl CustomOp for Flip {
    fn name(&self) -> &str {
        "flip"
    }
    fn backward(&self, g: &Tensor, _: &[Tensor], _: &Tensor, _: &[bool]) -> Result<Vec<Option<Tensor>>> {
        Ok(vec![Some(g.flip(&self.axes)?)])
    }
    /// Linear: the flipped tangent.
    fn tangent(&self, _: &[Tensor], _: &Tensor, t: &[Option<Tensor>]) -> Result<Tensor> {
        tangent0(t)?.flip(&self.axes)
    }
}

/// The adjoint of a cumulative sum along `axis` is the cumulative sum from
/// the other end: `ḡ_i = Σ_{j ≥ i} g_j`.
#[derive(Debug)]
struct Cumsum {
    axis: isize,
}

impl CustomOp for Cumsum {
    fn name(&self) -> &str {
        "cumsum"
    }
    fn backward(&self, g: &Tensor, _: &[Tensor], _: &Tensor, _: &[bool]) -> Result<Vec<Option<Tensor>>> {
        let ax = [self.axis];
        Ok(vec![Some(g.flip(&ax)?.cumsum(self.axis)?.flip(&ax)?)])
    }
    /// Linear: the cumulative sum of the tangent.
    fn tangent(&self, _: &[Tensor], _: &Tensor, t: &[Option<Tensor>]) -> Result<Tensor> {
        tangent0(t)?.cumsum(self.axis)
    }
}

/// The tangent of a one-input op's input (forward mode calls a tangent
/// rule only when an input has one).
fn tangent0(t: &[Option<Tensor>]) -> Result<&Tensor> {
    t.first()
        .and_then(Option::as_ref)
        .ok_or_else(|| LuxError::Unsupported("internal: a tangent rule got no tangent".into()))
}

/// A running fold `out_i = f(out_{i−1}, a_i)` along `ax`.
fn scan<T: Copy>(a: &ArcArray<T, IxDyn>, ax: usize, f: impl Fn(T, T) -> T) -> ArcArray<T, IxDyn> {
    let mut out = a.to_owned();
    out.accumulate_axis_inplace(Axis(ax), |&prev, cur| *cur = f(prev, *cur));
    out.into_shared()
}

impl Tensor {
    /// The elements in reverse order along each of `axes` (a copy, any dtype).
    ///
    /// ```
    /// let x = lux_core::Tensor::from_vec(vec![1i64, 2, 3, 4, 5, 6], &[2, 3])?;
    /// assert_eq!(x.flip(&[-1])?.to_vec::<i64>()?, vec![3, 2, 1, 6, 5, 4]);
    /// assert_eq!(x.flip(&[0, 1])?.to_vec::<i64>()?, vec![6, 5, 4, 3, 2, 1]);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// An axis is out of range or repeated.
    pub fn flip(&self, axes: &[isize]) -> Result<Tensor> {
        let axes = norm_axes("flip", axes, self.shape())?;
        // Materialised: a negative-stride view would be a new kind of view
        // for every kernel that reads raw strides.
        let data = with_data!(&self.data, a => {
            let mut v = a.view();
            for &ax in &axes {
                v.invert_axis(Axis(ax));
            }
            Sealed::wrap(v.as_standard_layout().into_owned().into_shared())
        });
        let axes = axes.iter().map(|&a| a as isize).collect();
        Tensor::from_custom_op(Tensor::from_data(data), Arc::new(Flip { axes }), &[self])
    }

    /// Cumulative sum along `axis`: `y_i = Σ_{j ≤ i} x_j` (float, or i64
    /// wrapping on overflow; f16/bf16 accumulate in f32).
    ///
    /// ```
    /// let x = lux_core::Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3])?;
    /// assert_eq!(x.cumsum(-1)?.to_vec::<f32>()?, vec![1.0, 3.0, 6.0, 4.0, 9.0, 15.0]);
    /// assert_eq!(x.cumsum(0)?.to_vec::<f32>()?, vec![1.0, 2.0, 3.0, 5.0, 7.0, 9.0]);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// `axis` is out of range, or the tensor is bool.
    pub fn cumsum(&self, axis: isize) -> Result<Tensor> {
        let ax = normalize_axis("cumsum", axis, self.shape())?;
        let data = match &self.data {
            Data::I64(a) => Data::I64(scan(a, ax, i64::wrapping_add)),
            Data::Bool(_) => return Err(LuxError::UnsupportedDType { op: "cumsum".into(), dtype: DType::Bool }),
            _ => {
                crate::map_float!(self.compute_data("cumsum")?, a => scan(&a, ax, |p, c| p + c)).into_data(self.dtype())
            }
        };
        Tensor::from_custom_op(Tensor::from_data(data), Arc::new(Cumsum { axis: ax as isize }), &[self])
    }

    /// Pads with the constant `value`: `pads[i] = (before, after)` elements
    /// are added on axis `i` (for the leading `pads.len()` axes, like
    /// [`slice`](Tensor::slice)). The gradient is the slice of the
    /// original elements.
    ///
    /// ```
    /// let x = lux_core::Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0], &[2, 2])?;
    /// let y = x.pad(&[(1, 0), (0, 2)], -1.0)?;
    /// assert_eq!(y.shape(), &[3, 4]);
    /// assert_eq!(
    ///     y.to_vec::<f32>()?,
    ///     vec![-1.0, -1.0, -1.0, -1.0, 1.0, 2.0, -1.0, -1.0, 3.0, 4.0, -1.0, -1.0]
    /// );
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// More pairs than axes, a padded shape too large, or `value` is not
    /// exactly representable in the dtype (a fraction for i64, other than
    /// 0 or 1 for bool).
    pub fn pad(&self, pads: &[(usize, usize)], value: f64) -> Result<Tensor> {
        if pads.len() > self.ndim() {
            return Err(shape_err("pad", format!("{} (before, after) pairs for shape {:?}", pads.len(), self.shape())));
        }
        let exact = match self.dtype() {
            DType::Bool => value == 0.0 || value == 1.0,
            DType::I64 => value.fract() == 0.0 && value.abs() < 9.2e18,
            _ => true,
        };
        if !exact {
            return Err(arg_err("pad", format!("value {value} is not a {} value", self.dtype())));
        }
        let mut out = self.shape().to_vec();
        for (d, &(b, a)) in out.iter_mut().zip(pads) {
            *d = d
                .checked_add(b)
                .and_then(|d| d.checked_add(a))
                .ok_or_else(|| shape_err("pad", format!("padding {pads:?} overflows shape {:?}", self.shape())))?;
        }
        check_alloc("pad", &out, self.dtype())?;
        let mut x = self.clone();
        for (ax, &(before, after)) in pads.iter().enumerate() {
            let mut parts = Vec::with_capacity(3);
            let mut shape = x.shape().to_vec();
            if before > 0 {
                shape[ax] = before;
                parts.push(Tensor::full(&shape, value, self.dtype())?);
            }
            parts.push(x.clone());
            if after > 0 {
                shape[ax] = after;
                parts.push(Tensor::full(&shape, value, self.dtype())?);
            }
            if parts.len() > 1 {
                x = Tensor::concat(&parts, ax as isize)?;
            }
        }
        Ok(x)
    }

    /// Tiles the tensor `reps[i]` times along axis `i` (PyTorch's `repeat`,
    /// NumPy's `tile`); extra leading `reps` add new leading axes. The
    /// gradient sums over the copies.
    ///
    /// ```
    /// let x = lux_core::Tensor::from_vec(vec![1i64, 2], &[2])?;
    /// assert_eq!(x.repeat(&[3])?.to_vec::<i64>()?, vec![1, 2, 1, 2, 1, 2]);
    /// let y = x.repeat(&[2, 2])?;
    /// assert_eq!(y.shape(), &[2, 4]);
    /// assert_eq!(y.to_vec::<i64>()?, vec![1, 2, 1, 2, 1, 2, 1, 2]);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// Fewer `reps` than axes, or the result is too large.
    pub fn repeat(&self, reps: &[usize]) -> Result<Tensor> {
        if reps.len() < self.ndim() {
            return Err(shape_err(
                "repeat",
                format!("{} repetition counts for shape {:?}: need one per axis", reps.len(), self.shape()),
            ));
        }
        let lead = reps.len() - self.ndim();
        let shape = std::iter::repeat_n(1, lead).chain(self.shape().iter().copied());
        let (mut inner, mut expanded, mut out) = (Vec::new(), Vec::new(), Vec::new());
        for (d, &r) in shape.zip(reps) {
            // Each axis d becomes [r, d], broadcast from [1, d].
            inner.extend([1, d]);
            expanded.extend([r, d]);
            out.push(r.saturating_mul(d));
        }
        checked_len("repeat", &out)
            .map_err(|_| shape_err("repeat", format!("{reps:?} copies of {:?} is too large", self.shape())))?;
        self.reshape(&inner)?.broadcast_to(&expanded)?.reshape(&out)
    }

    /// Repeats each element `repeats` times along `axis`, copies side by
    /// side (PyTorch's `repeat_interleave`, Julia's `repeat(…; inner)`).
    ///
    /// ```
    /// let x = lux_core::Tensor::from_vec(vec![1i64, 2, 3, 4], &[2, 2])?;
    /// assert_eq!(x.repeat_interleave(2, -1)?.to_vec::<i64>()?, vec![1, 1, 2, 2, 3, 3, 4, 4]);
    /// assert_eq!(x.repeat_interleave(2, 0)?.to_vec::<i64>()?, vec![1, 2, 1, 2, 3, 4, 3, 4]);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// `axis` is out of range, or the result is too large.
    pub fn repeat_interleave(&self, repeats: usize, axis: isize) -> Result<Tensor> {
        let ax = normalize_axis("repeat_interleave", axis, self.shape())?;
        let mut inner = self.shape().to_vec();
        inner.insert(ax + 1, 1);
        let mut expanded = inner.clone();
        expanded[ax + 1] = repeats;
        let mut out = self.shape().to_vec();
        out[ax] = out[ax].saturating_mul(repeats);
        checked_len("repeat_interleave", &out).map_err(|_| {
            shape_err(
                "repeat_interleave",
                format!("{repeats} copies along axis {ax} of {:?} is too large", self.shape()),
            )
        })?;
        self.reshape(&inner)?.broadcast_to(&expanded)?.reshape(&out)
    }

    /// The lower triangle of the last two axes: element `[…, i, j]` is kept
    /// where `j − i ≤ k` and zeroed elsewhere (`k = 0`: the diagonal and
    /// below; `k < 0` excludes diagonals). Gradients flow to kept elements.
    ///
    /// ```
    /// let x = lux_core::Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3])?;
    /// assert_eq!(x.tril(0)?.to_vec::<f32>()?, vec![1.0, 0.0, 0.0, 4.0, 5.0, 0.0]);
    /// assert_eq!(x.tril(-1)?.to_vec::<f32>()?, vec![0.0, 0.0, 0.0, 4.0, 0.0, 0.0]);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// The tensor has fewer than two axes.
    pub fn tril(&self, k: isize) -> Result<Tensor> {
        self.triangle("tril", |i, j| j - i <= k as i128)
    }

    /// The upper triangle of the last two axes: element `[…, i, j]` is kept
    /// where `j − i ≥ k` and zeroed elsewhere.
    ///
    /// ```
    /// let x = lux_core::Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3])?;
    /// assert_eq!(x.triu(0)?.to_vec::<f32>()?, vec![1.0, 2.0, 3.0, 0.0, 5.0, 6.0]);
    /// assert_eq!(x.triu(2)?.to_vec::<f32>()?, vec![0.0, 0.0, 3.0, 0.0, 0.0, 0.0]);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// The tensor has fewer than two axes.
    pub fn triu(&self, k: isize) -> Result<Tensor> {
        self.triangle("triu", |i, j| j - i >= k as i128)
    }

    fn triangle(&self, op: &str, keep: impl Fn(i128, i128) -> bool) -> Result<Tensor> {
        let &[.., n, m] = self.shape() else {
            return Err(shape_err(op, format!("needs at least 2 axes, got shape {:?}", self.shape())));
        };
        let mask = ArcArray::from_shape_fn(IxDyn(&[n, m]), |p| keep(p[0] as i128, p[1] as i128));
        Tensor::where_(&Tensor::from_data(Data::Bool(mask)), self, &self.zeros_like())
    }
}

#[cfg(test)]
mod tests {
    use crate::{DType, Tensor};

    #[test]
    fn flip_and_cumsum_on_strided_and_typed_inputs() -> crate::Result<()> {
        // x[i][j] = 10 i + j, stored transposed
        let x = Tensor::from_vec((0..12).map(|v| v as f64).collect::<Vec<_>>(), &[4, 3])?.transpose(0, 1)?;
        assert!(!x.is_contiguous());
        let want: Vec<f64> = (0..3).flat_map(|i| (0..4).rev().map(move |j| (3 * j + i) as f64)).collect();
        assert_eq!(x.flip(&[1])?.to_vec::<f64>()?, want);
        let cs = x.cumsum(1)?.to_vec::<f64>()?;
        let want: Vec<f64> =
            (0..3).flat_map(|i| (0..4).map(move |j| (0..=j).map(|t| (3 * t + i) as f64).sum())).collect();
        assert_eq!(cs, want);
        let h = Tensor::from_vec(vec![half::f16::from_f32(0.5); 3], &[3])?.cumsum(0)?;
        assert_eq!(h.dtype(), DType::F16);
        assert_eq!(h.to_f64_vec(), vec![0.5, 1.0, 1.5]);
        let i = Tensor::from_vec(vec![i64::MAX, 1], &[2])?;
        assert_eq!(i.cumsum(0)?.to_vec::<i64>()?, vec![i64::MAX, i64::MIN]);
        assert!(Tensor::zeros(&[2], DType::Bool)?.cumsum(0).is_err());
        assert!(x.cumsum(2).unwrap_err().to_string().contains("cumsum"));
        assert!(x.flip(&[0, -2]).unwrap_err().to_string().contains("flip"));
        assert_eq!(Tensor::zeros(&[0, 3], DType::F32)?.cumsum(0)?.shape(), &[0, 3]);
        Ok(())
    }

    #[test]
    fn pad_repeat_and_errors() -> crate::Result<()> {
        let x = Tensor::from_vec(vec![1i64, 2, 3], &[3])?;
        assert_eq!(x.pad(&[(2, 1)], 7.0)?.to_vec::<i64>()?, vec![7, 7, 1, 2, 3, 7]);
        assert!(x.pad(&[(1, 1)], 0.5).is_err());
        assert!(x.pad(&[(1, 1), (0, 0)], 0.0).is_err());
        assert!(x.pad(&[(usize::MAX, 1)], 0.0).is_err());
        assert!(x.pad(&[(1 << 62, 0)], 0.0).is_err());
        assert!(Tensor::zeros(&[2], DType::Bool)?.pad(&[(1, 0)], 2.0).is_err());
        let m = Tensor::from_vec(vec![1i64, 2, 3, 4], &[2, 2])?;
        // repeat: out[a, b] = m[a mod 2, b mod 2]
        let r = m.repeat(&[2, 3])?;
        let want: Vec<i64> = (0..4).flat_map(|a| (0..6).map(move |b| [1, 2, 3, 4][2 * (a % 2) + b % 2])).collect();
        assert_eq!(r.shape(), &[4, 6]);
        assert_eq!(r.to_vec::<i64>()?, want);
        assert_eq!(m.repeat(&[2, 1, 1])?.shape(), &[2, 2, 2]);
        assert_eq!(m.repeat(&[0, 1])?.shape(), &[0, 2]);
        assert!(m.repeat(&[2]).is_err());
        assert!(m.repeat(&[1 << 40, 1 << 40]).is_err());
        // repeat_interleave: out[a, b] = m[a, b / 3]
        let ri = m.repeat_interleave(3, 1)?.to_vec::<i64>()?;
        let want: Vec<i64> = (0..2).flat_map(|a| (0..6).map(move |b| [1, 2, 3, 4][2 * a + b / 3])).collect();
        assert_eq!(ri, want);
        assert!(m.repeat_interleave(2, 2).is_err());
        assert!(m.repeat_interleave(usize::MAX, 0).is_err());
        Ok(())
    }

    #[test]
    fn triangles_batched_and_rectangular() -> crate::Result<()> {
        let x = Tensor::ones(&[2, 3, 4], DType::F64)?;
        for k in -3isize..=4 {
            let lo = x.tril(k)?.to_vec::<f64>()?;
            let up = x.triu(k)?.to_vec::<f64>()?;
            for (p, (&l, &u)) in lo.iter().zip(&up).enumerate() {
                let (i, j) = ((p / 4) % 3, p % 4);
                assert_eq!(l, if j as isize - i as isize <= k { 1.0 } else { 0.0 }, "tril k={k} at {p}");
                assert_eq!(u, if j as isize - i as isize >= k { 1.0 } else { 0.0 }, "triu k={k} at {p}");
            }
        }
        assert_eq!(Tensor::ones(&[2, 2], DType::I64)?.triu(1)?.to_vec::<i64>()?, vec![0, 1, 0, 0]);
        assert_eq!(Tensor::ones(&[2, 2], DType::Bool)?.tril(0)?.to_vec::<bool>()?, vec![true, false, true, true]);
        let e = Tensor::ones(&[3], DType::F32)?.tril(0).unwrap_err().to_string();
        assert!(e.contains("tril") && e.contains("[3]"), "{e}");
        Ok(())
    }
}
