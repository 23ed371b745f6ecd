//! Shape and indexing ops: reshape, permute/transpose, broadcast_to,
//! narrow/slice, index_select/index_add, gather/scatter_add, concat/stack,
//! squeeze/unsqueeze, and dtype casts — each with its adjoint.
//!
//! `permute`, `transpose` and `narrow` are zero-copy views.

use super::{axis_index, broadcast_all, normalize_axis};
use crate::autodiff::Op;
use crate::dtype::{Data, Element, Sealed, same_type, with_data};
use crate::error::{LuxError, Result, arg_err, shape_err};
use crate::tensor::{alloc_vec, check_alloc, checked_len};
use crate::{DType, Tensor};
use ndarray::{ArcArray, Axis, IxDyn, Slice};

/// A shape or indexing op, with what its adjoint needs.
#[derive(Clone, Debug)]
pub(crate) enum ShapeOp {
    Reshape { from: Vec<usize> },
    Permute { axes: Vec<usize> },
    BroadcastTo { from: Vec<usize> },
    Narrow { axis: usize, start: usize, from_len: usize },
    IndexSelect { axis: usize, index: Tensor },
    IndexAdd { axis: usize, index: Tensor },
    Gather { axis: usize, index: Tensor },
    ScatterAdd { axis: usize, index: Tensor },
    Concat { axis: usize, sizes: Vec<usize> },
}

impl ShapeOp {
    pub(crate) fn backward(&self, g: &Tensor, inputs: &[Tensor], needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        let one = |t: Result<Tensor>| -> Result<Vec<Option<Tensor>>> { Ok(vec![Some(t?)]) };
        match self {
            ShapeOp::Reshape { from } => one(g.reshape(from)),
            ShapeOp::Permute { axes } => {
                let mut inverse = vec![0; axes.len()];
                for (i, &a) in axes.iter().enumerate() {
                    inverse[a] = i;
                }
                one(g.permute(&inverse))
            }
            ShapeOp::BroadcastTo { from } => one(g.sum_to(from)),
            ShapeOp::Narrow { axis, start, from_len } => {
                let mut pieces = Vec::new();
                let mut shape = g.shape().to_vec();
                if *start > 0 {
                    shape[*axis] = *start;
                    pieces.push(Tensor::zeros(&shape, g.dtype())?);
                }
                pieces.push(g.clone());
                let after = from_len - start - g.shape()[*axis];
                if after > 0 {
                    shape[*axis] = after;
                    pieces.push(Tensor::zeros(&shape, g.dtype())?);
                }
                one(Tensor::concat(&pieces, *axis as isize))
            }
            ShapeOp::IndexSelect { axis, index } => one(inputs[0].zeros_like().index_add(*axis as isize, index, g)),
            ShapeOp::IndexAdd { axis, index } => Ok(vec![
                needs[0].then(|| g.clone()),
                if needs[1] { Some(g.index_select(*axis as isize, index)?) } else { None },
            ]),
            ShapeOp::Gather { axis, index } => one(inputs[0].zeros_like().scatter_add(*axis as isize, index, g)),
            ShapeOp::ScatterAdd { axis, index } => Ok(vec![
                needs[0].then(|| g.clone()),
                if needs[1] { Some(g.gather(*axis as isize, index)?) } else { None },
            ]),
            ShapeOp::Concat { axis, sizes } => {
                let mut start = 0;
                let mut out = Vec::with_capacity(sizes.len());
                for (i, &n) in sizes.iter().enumerate() {
                    out.push(if needs[i] { Some(g.narrow(*axis as isize, start, n)?) } else { None });
                    start += n;
                }
                Ok(out)
            }
        }
    }
}

impl ShapeOp {
    /// The tangent: every shape op is linear, so it is the same op applied
    /// to the tangents (zeros standing in for inputs without one).
    pub(crate) fn tangent(&self, inputs: &[Tensor], y: &Tensor, tangents: &[Option<Tensor>]) -> Result<Tensor> {
        use crate::forward::or_zeros;
        let t0 = || or_zeros(&tangents[0], &inputs[0]);
        match self {
            ShapeOp::Reshape { .. } => t0().reshape(y.shape()),
            ShapeOp::Permute { axes } => t0().permute(axes),
            ShapeOp::BroadcastTo { .. } => t0().broadcast_to(y.shape()),
            ShapeOp::Narrow { axis, start, .. } => t0().narrow(*axis as isize, *start, y.shape()[*axis]),
            ShapeOp::IndexSelect { axis, index } => t0().index_select(*axis as isize, index),
            ShapeOp::Gather { axis, index } => t0().gather(*axis as isize, index),
            ShapeOp::IndexAdd { axis, index } => {
                t0().index_add(*axis as isize, index, &or_zeros(&tangents[1], &inputs[1]))
            }
            ShapeOp::ScatterAdd { axis, index } => {
                t0().scatter_add(*axis as isize, index, &or_zeros(&tangents[1], &inputs[1]))
            }
            ShapeOp::Concat { axis, .. } => {
                let parts: Vec<Tensor> = inputs.iter().zip(tangents).map(|(x, t)| or_zeros(t, x)).collect();
                Tensor::concat(&parts, *axis as isize)
            }
        }
    }
}

fn index_vec(op: &str, index: &Tensor, bound: usize) -> Result<Vec<usize>> {
    let idx = index.array::<i64>(op)?;
    idx.iter()
        .map(|&i| {
            if i < 0 || i as usize >= bound {
                Err(arg_err(op, format!("index {i} is out of range for an axis of size {bound}")))
            } else {
                Ok(i as usize)
            }
        })
        .collect()
}

impl Tensor {
    fn shape_op(&self, data: Data, op: ShapeOp) -> Result<Tensor> {
        Tensor::from_op(data, Op::Shape(op), &[self])
    }

    /// The same elements (in row-major order) in a new shape; copies only
    /// when the tensor is not contiguous.
    ///
    /// ```
    /// let x = lux_core::Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3])?;
    /// let y = x.reshape(&[3, 2])?;
    /// assert_eq!((y.shape(), y.to_vec::<f32>()?), (&[3, 2][..], vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]));
    /// assert!(x.reshape(&[4]).is_err());
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// `shape` is not a valid shape (see [`Tensor::zeros`]), or the element
    /// counts differ.
    pub fn reshape(&self, shape: &[usize]) -> Result<Tensor> {
        if checked_len("reshape", shape)? != self.len() {
            return Err(shape_err(
                "reshape",
                format!("cannot reshape {:?} ({} elements) to {:?}", self.shape(), self.len(), shape),
            ));
        }
        if shape == self.shape() && self.is_contiguous() {
            return Ok(self.clone());
        }
        fn go<T: Element>(a: &ArcArray<T, IxDyn>, shape: &[usize]) -> ArcArray<T, IxDyn> {
            let a = if a.is_standard_layout() { a.clone() } else { a.as_standard_layout().into_owned().into_shared() };
            a.into_shape_with_order(IxDyn(shape)).expect("standard layout, same size")
        }
        let data = with_data!(&self.data, a => Sealed::wrap(go(a, shape)));
        self.shape_op(data, ShapeOp::Reshape { from: self.shape().to_vec() })
    }

    /// A row-major contiguous copy, or the tensor itself if it already is one.
    ///
    /// ```
    /// let x = lux_core::Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3])?;
    /// let c = x.transpose(0, 1)?.contiguous()?;
    /// assert!(c.is_contiguous());
    /// assert_eq!(c.to_vec::<f32>()?, vec![1.0, 4.0, 2.0, 5.0, 3.0, 6.0]);
    /// assert!(x.contiguous()?.shares_storage_with(&x)); // already contiguous: no copy
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn contiguous(&self) -> Result<Tensor> {
        self.reshape(self.shape())
    }

    /// Inserts an axis of size 1 at `axis` (`-1` appends).
    ///
    /// ```
    /// let x = lux_core::Tensor::from_vec(vec![1.0f32, 2.0, 3.0], &[3])?;
    /// assert_eq!(x.unsqueeze(0)?.shape(), &[1, 3]);
    /// assert_eq!(x.unsqueeze(-1)?.shape(), &[3, 1]);
    /// assert!(x.unsqueeze(0)?.shares_storage_with(&x)); // never a copy
    /// assert!(x.unsqueeze(2).is_err());
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// `axis` is out of range for the result's rank.
    pub fn unsqueeze(&self, axis: isize) -> Result<Tensor> {
        let ax = axis_index("unsqueeze", axis, self.ndim() + 1, self.shape())?;
        // A new axis of size 1 needs no copy, whatever the layout.
        let data = with_data!(&self.data, a => Sealed::wrap(a.clone().insert_axis(Axis(ax))));
        self.shape_op(data, ShapeOp::Reshape { from: self.shape().to_vec() })
    }

    /// Removes the axis `axis`, which must have size 1.
    ///
    /// ```
    /// use lux_core::{DType, Tensor};
    /// let x = Tensor::zeros(&[2, 1, 3], DType::F32)?;
    /// assert_eq!(x.squeeze(1)?.shape(), &[2, 3]);
    /// assert!(x.squeeze(0).is_err()); // size 2, not 1
    /// // A view stays a view: a column of a matrix is not copied.
    /// let m = Tensor::from_vec(vec![0.0f32, 1.0, 2.0, 3.0, 4.0, 5.0], &[2, 3])?;
    /// let column = m.narrow(1, 1, 1)?.squeeze(1)?;
    /// assert!(column.shares_storage_with(&m));
    /// assert_eq!(column.to_vec::<f32>()?, vec![1.0, 4.0]);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// `axis` is out of range or its size is not 1.
    pub fn squeeze(&self, axis: isize) -> Result<Tensor> {
        let ax = normalize_axis("squeeze", axis, self.shape())?;
        if self.shape()[ax] != 1 {
            return Err(shape_err(
                "squeeze",
                format!("axis {axis} of shape {:?} has size {}, not 1", self.shape(), self.shape()[ax]),
            ));
        }
        // Dropping an axis of size 1 needs no copy, whatever the layout (a
        // time slice of a batch stays a view).
        let data = with_data!(&self.data, a => Sealed::wrap(a.clone().index_axis_move(Axis(ax), 0)));
        self.shape_op(data, ShapeOp::Reshape { from: self.shape().to_vec() })
    }

    /// Reorders the axes (a zero-copy view): axis `i` of the result is axis
    /// `axes[i]` of `self`.
    ///
    /// ```
    /// let x = lux_core::Tensor::from_vec(vec![1i64, 2, 3, 4, 5, 6], &[1, 2, 3])?;
    /// let y = x.permute(&[2, 0, 1])?;
    /// assert_eq!(y.shape(), &[3, 1, 2]);
    /// assert_eq!(y.to_vec::<i64>()?, vec![1, 4, 2, 5, 3, 6]);
    /// assert!(x.permute(&[0, 0, 1]).is_err());
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// `axes` is not a permutation of `0..ndim`.
    pub fn permute(&self, axes: &[usize]) -> Result<Tensor> {
        let mut seen = vec![false; self.ndim()];
        if axes.len() != self.ndim() || axes.iter().any(|&a| a >= self.ndim() || std::mem::replace(&mut seen[a], true))
        {
            return Err(arg_err(
                "permute",
                format!("{axes:?} is not a permutation of the axes of shape {:?}", self.shape()),
            ));
        }
        let data = with_data!(&self.data, a => Sealed::wrap(a.clone().permuted_axes(IxDyn(axes))));
        self.shape_op(data, ShapeOp::Permute { axes: axes.to_vec() })
    }

    /// Swaps two axes (a zero-copy view).
    ///
    /// ```
    /// let x = lux_core::Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3])?;
    /// let t = x.transpose(0, 1)?;
    /// assert_eq!(t.shape(), &[3, 2]);
    /// assert_eq!(t.to_vec::<f32>()?, vec![1.0, 4.0, 2.0, 5.0, 3.0, 6.0]);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// An axis is out of range.
    pub fn transpose(&self, axis0: isize, axis1: isize) -> Result<Tensor> {
        let a0 = normalize_axis("transpose", axis0, self.shape())?;
        let a1 = normalize_axis("transpose", axis1, self.shape())?;
        let mut axes: Vec<usize> = (0..self.ndim()).collect();
        axes.swap(a0, a1);
        self.permute(&axes)
    }

    /// Repeats the tensor to `shape` by NumPy broadcasting (materialised).
    ///
    /// ```
    /// let x = lux_core::Tensor::from_vec(vec![1i64, 2], &[2, 1])?;
    /// assert_eq!(x.broadcast_to(&[2, 3])?.to_vec::<i64>()?, vec![1, 1, 1, 2, 2, 2]);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// The tensor's shape does not broadcast to `shape`, or the result's
    /// buffer is too large (see [`Tensor::zeros`]).
    pub fn broadcast_to(&self, shape: &[usize]) -> Result<Tensor> {
        if self.shape() == shape {
            return Ok(self.clone());
        }
        if broadcast_all(&[self.shape(), shape]).as_deref() != Some(shape) {
            return Err(shape_err(
                "broadcast_to",
                format!("shape {:?} does not broadcast to {:?}", self.shape(), shape),
            ));
        }
        fn go<T: Element>(a: &ArcArray<T, IxDyn>, shape: &[usize]) -> Result<ArcArray<T, IxDyn>> {
            let (mut v, n) = alloc_vec::<T>("broadcast_to", shape)?;
            match a.iter().next() {
                // A single value (e.g. the cotangent of a full reduction) is
                // a plain fill, much faster than copying through a stride-0 view.
                Some(&x) if a.len() == 1 => v.resize(n, x),
                _ => v.extend(a.broadcast(IxDyn(shape)).expect("valid shape, checked broadcast").iter().copied()),
            }
            Ok(ArcArray::from_shape_vec(IxDyn(shape), v).expect("one value per element"))
        }
        let data = with_data!(&self.data, a => Sealed::wrap(go(a, shape)?));
        self.shape_op(data, ShapeOp::BroadcastTo { from: self.shape().to_vec() })
    }

    /// Elements `start..start + len` along `axis` (a zero-copy view).
    ///
    /// ```
    /// let x = lux_core::Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3])?;
    /// let y = x.narrow(1, 1, 2)?; // columns 1..3
    /// assert_eq!((y.shape(), y.to_vec::<f32>()?), (&[2, 2][..], vec![2.0, 3.0, 5.0, 6.0]));
    /// assert!(x.narrow(1, 2, 2).is_err());
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// The range does not fit in the axis.
    pub fn narrow(&self, axis: isize, start: usize, len: usize) -> Result<Tensor> {
        let ax = normalize_axis("narrow", axis, self.shape())?;
        let n = self.shape()[ax];
        if start.checked_add(len).is_none_or(|end| end > n) {
            return Err(shape_err(
                "narrow",
                format!("range {start}..{} exceeds axis {ax} of shape {:?}", start.saturating_add(len), self.shape()),
            ));
        }
        let data = with_data!(&self.data, a => {
            let mut v = a.clone();
            v.slice_axis_inplace(Axis(ax), Slice::from(start..start + len));
            Sealed::wrap(v)
        });
        self.shape_op(data, ShapeOp::Narrow { axis: ax, start, from_len: n })
    }

    /// Narrows the leading axes to the given ranges (`ranges[i]` for axis `i`).
    ///
    /// ```
    /// let x = lux_core::Tensor::from_vec(vec![1i64, 2, 3, 4, 5, 6, 7, 8, 9], &[3, 3])?;
    /// assert_eq!(x.slice(&[1..3, 0..2])?.to_vec::<i64>()?, vec![4, 5, 7, 8]);
    /// assert_eq!(x.slice(&[2..3])?.to_vec::<i64>()?, vec![7, 8, 9]); // later axes whole
    /// assert!(x.slice(&[0..1, 0..1, 0..1]).is_err());
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// More ranges than axes, or a range does not fit.
    pub fn slice(&self, ranges: &[std::ops::Range<usize>]) -> Result<Tensor> {
        if ranges.len() > self.ndim() {
            return Err(shape_err("slice", format!("{} ranges for shape {:?}", ranges.len(), self.shape())));
        }
        let mut t = self.clone();
        for (ax, r) in ranges.iter().enumerate() {
            if r.start > r.end {
                return Err(arg_err("slice", format!("range {r:?} is decreasing")));
            }
            t = t.narrow(ax as isize, r.start, r.end - r.start)?;
        }
        Ok(t)
    }

    /// Picks the entries `index` (1-d i64) along `axis`; repeats are allowed.
    /// The adjoint adds gradients back with [`index_add`](Tensor::index_add).
    ///
    /// ```
    /// use lux_core::Tensor;
    /// let table = Tensor::from_vec(vec![0.0f32, 1.0, 10.0, 11.0, 20.0, 21.0], &[3, 2])?;
    /// let rows = table.index_select(0, &Tensor::from_vec(vec![2i64, 0, 2], &[3])?)?;
    /// assert_eq!(rows.to_vec::<f32>()?, vec![20.0, 21.0, 0.0, 1.0, 20.0, 21.0]);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// `index` is not 1-d i64, or an index is out of range.
    pub fn index_select(&self, axis: isize, index: &Tensor) -> Result<Tensor> {
        let ax = normalize_axis("index_select", axis, self.shape())?;
        if index.ndim() != 1 {
            return Err(shape_err("index_select", format!("index must be 1-d, got shape {:?}", index.shape())));
        }
        let idx = index_vec("index_select", index, self.shape()[ax])?;
        let mut out = self.shape().to_vec();
        out[ax] = idx.len();
        check_alloc("index_select", &out, self.dtype())?;
        let data = with_data!(&self.data, a => Sealed::wrap(a.select(Axis(ax), &idx).into_shared()));
        self.shape_op(data, ShapeOp::IndexSelect { axis: ax, index: index.detach() })
    }

    /// `self` with `source`'s slices added at positions `index` along `axis`
    /// (repeated indices accumulate).
    ///
    /// ```
    /// use lux_core::{DType, Tensor};
    /// let acc = Tensor::zeros(&[3, 2], DType::F32)?;
    /// let src = Tensor::from_vec(vec![1.0f32, 2.0, 10.0, 20.0], &[2, 2])?;
    /// let idx = Tensor::from_vec(vec![2i64, 2], &[2])?; // both rows into row 2
    /// assert_eq!(acc.index_add(0, &idx, &src)?.to_vec::<f32>()?, vec![0.0, 0.0, 0.0, 0.0, 11.0, 22.0]);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// Dtypes differ, `index` is not 1-d i64 with one entry per slice of
    /// `source`, an index is out of range, or the other axes differ.
    pub fn index_add(&self, axis: isize, index: &Tensor, source: &Tensor) -> Result<Tensor> {
        let ax = normalize_axis("index_add", axis, self.shape())?;
        let idx = index_vec("index_add", index, self.shape()[ax])?;
        let mut want = self.shape().to_vec();
        want[ax] = idx.len();
        if index.ndim() != 1 || source.shape() != want.as_slice() {
            return Err(shape_err(
                "index_add",
                format!(
                    "source {:?} and index {:?} do not fit {:?} along axis {ax}",
                    source.shape(),
                    index.shape(),
                    self.shape()
                ),
            ));
        }
        let src = source.to_dtype(self.dtype())?;
        let data = with_data!(&self.data, a => {
            let s = same_type(a, &src.data).ok_or_else(internal)?;
            let mut out = a.to_owned();
            for (j, &i) in idx.iter().enumerate() {
                let mut dst = out.index_axis_mut(Axis(ax), i);
                let row = s.index_axis(Axis(ax), j);
                dst.zip_mut_with(&row, |d, &v| *d = add_elem(*d, v));
            }
            Sealed::wrap(out.into_shared())
        });
        Tensor::from_op(data, Op::Shape(ShapeOp::IndexAdd { axis: ax, index: index.detach() }), &[self, &src])
    }

    /// `out[…, i, …] = self[…, index[…, i, …], …]` along `axis`
    /// (PyTorch's `gather`): `index` is i64 of the same rank, and no larger
    /// than `self` on the other axes. The output has `index`'s shape.
    ///
    /// ```
    /// use lux_core::Tensor;
    /// let logits = Tensor::from_vec(vec![0.1f32, 0.7, 0.2, 0.5, 0.3, 0.2], &[2, 3])?;
    /// let labels = Tensor::from_vec(vec![1i64, 0], &[2, 1])?;
    /// assert_eq!(logits.gather(-1, &labels)?.to_vec::<f32>()?, vec![0.7, 0.5]);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// Rank or size mismatch, or an index out of range.
    pub fn gather(&self, axis: isize, index: &Tensor) -> Result<Tensor> {
        let ax = self.check_gather("gather", axis, index, index.shape())?;
        let idx = index_vec("gather", index, self.shape()[ax])?;
        let data = with_data!(&self.data, a => {
            let mut it = idx.iter();
            let out = ndarray::ArrayD::from_shape_fn(IxDyn(index.shape()), |mut pos| {
                pos[ax] = *it.next().expect("one index per output");
                a[pos]
            });
            Sealed::wrap(out.into_shared())
        });
        self.shape_op(data, ShapeOp::Gather { axis: ax, index: index.detach() })
    }

    /// Adds `source[…, i, …]` into `self[…, index[…, i, …], …]` along `axis`
    /// (PyTorch's `scatter_add`; the adjoint of [`gather`](Tensor::gather)).
    ///
    /// ```
    /// use lux_core::{DType, Tensor};
    /// let x = Tensor::zeros(&[1, 3], DType::F32)?;
    /// let idx = Tensor::from_vec(vec![0i64, 2, 0], &[1, 3])?;
    /// let src = Tensor::from_vec(vec![1.0f32, 2.0, 3.0], &[1, 3])?;
    /// assert_eq!(x.scatter_add(-1, &idx, &src)?.to_vec::<f32>()?, vec![4.0, 0.0, 2.0]);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// As for `gather`, or `source`'s shape differs from `index`'s.
    pub fn scatter_add(&self, axis: isize, index: &Tensor, source: &Tensor) -> Result<Tensor> {
        if source.shape() != index.shape() {
            return Err(shape_err(
                "scatter_add",
                format!("source {:?} and index {:?} differ in shape", source.shape(), index.shape()),
            ));
        }
        let ax = self.check_gather("scatter_add", axis, index, index.shape())?;
        let idx = index_vec("scatter_add", index, self.shape()[ax])?;
        let src = source.to_dtype(self.dtype())?;
        let data = with_data!(&self.data, a => {
            let s = same_type(a, &src.data).ok_or_else(internal)?;
            let mut out = a.to_owned();
            for ((mut pos, &v), &i) in s.indexed_iter().zip(idx.iter()) {
                pos[ax] = i;
                out[&pos] = add_elem(out[&pos], v);
            }
            Sealed::wrap(out.into_shared())
        });
        Tensor::from_op(data, Op::Shape(ShapeOp::ScatterAdd { axis: ax, index: index.detach() }), &[self, &src])
    }

    fn check_gather(&self, op: &str, axis: isize, index: &Tensor, ishape: &[usize]) -> Result<usize> {
        let ax = normalize_axis(op, axis, self.shape())?;
        if index.dtype() != DType::I64 {
            return Err(LuxError::DType { op: op.into(), expected: "i64".into(), got: index.dtype() });
        }
        if ishape.len() != self.ndim()
            || ishape.iter().zip(self.shape()).enumerate().any(|(d, (&i, &s))| d != ax && i > s)
        {
            return Err(shape_err(
                op,
                format!("index of shape {ishape:?} does not fit tensor of shape {:?} along axis {ax}", self.shape()),
            ));
        }
        Ok(ax)
    }

    /// Joins tensors along an existing axis; dtypes are promoted.
    ///
    /// ```
    /// use lux_core::Tensor;
    /// let a = Tensor::from_vec(vec![1.0f32, 2.0], &[1, 2])?;
    /// let b = Tensor::from_vec(vec![3.0f32, 4.0, 5.0, 6.0], &[2, 2])?;
    /// let c = Tensor::concat(&[a.clone(), b.clone()], 0)?;
    /// assert_eq!((c.shape(), c.to_vec::<f32>()?), (&[3, 2][..], vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]));
    /// assert!(Tensor::concat(&[a, b], 1).is_err()); // 1 row vs 2 rows
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// No tensors, ranks differ, or the other axes differ.
    pub fn concat(tensors: &[Tensor], axis: isize) -> Result<Tensor> {
        let first = tensors.first().ok_or_else(|| arg_err("concat", "needs at least one tensor"))?;
        let ax = normalize_axis("concat", axis, first.shape())?;
        let dt = tensors.iter().skip(1).fold(first.dtype(), |d, t| DType::promote(d, t.dtype()));
        for t in tensors {
            let same = t.ndim() == first.ndim()
                && t.shape().iter().zip(first.shape()).enumerate().all(|(d, (a, b))| d == ax || a == b);
            if !same {
                let shapes: Vec<_> = tensors.iter().map(|t| t.shape().to_vec()).collect();
                return Err(shape_err("concat", format!("shapes {shapes:?} differ off axis {ax}")));
            }
        }
        let mut out = first.shape().to_vec();
        out[ax] = tensors.iter().try_fold(0usize, |n, t| n.checked_add(t.shape()[ax])).ok_or_else(|| {
            let shapes: Vec<_> = tensors.iter().map(|t| t.shape().to_vec()).collect();
            shape_err("concat", format!("shapes {shapes:?} give more than usize::MAX entries on axis {ax}"))
        })?;
        check_alloc("concat", &out, dt)?;
        let cast: Vec<Tensor> = tensors.iter().map(|t| t.to_dtype(dt)).collect::<Result<_>>()?;
        let data = with_data!(&cast[0].data, a => {
            let views: Vec<_> = cast.iter().map(|t| same_type(a, &t.data).map(|x| x.view()).ok_or_else(internal)).collect::<Result<_>>()?;
            Sealed::wrap(ndarray::concatenate(Axis(ax), &views).expect("checked shapes").into_shared())
        });
        let sizes = cast.iter().map(|t| t.shape()[ax]).collect();
        let refs: Vec<&Tensor> = cast.iter().collect();
        Tensor::from_op(data, Op::Shape(ShapeOp::Concat { axis: ax, sizes }), &refs)
    }

    /// Joins equally shaped tensors along a new axis.
    ///
    /// ```
    /// use lux_core::Tensor;
    /// let a = Tensor::from_vec(vec![1i64, 2], &[2])?;
    /// let b = Tensor::from_vec(vec![3i64, 4], &[2])?;
    /// assert_eq!(Tensor::stack(&[a.clone(), b.clone()], 0)?.to_vec::<i64>()?, vec![1, 2, 3, 4]);
    /// assert_eq!(Tensor::stack(&[a, b], -1)?.to_vec::<i64>()?, vec![1, 3, 2, 4]);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// No tensors, or the shapes differ.
    pub fn stack(tensors: &[Tensor], axis: isize) -> Result<Tensor> {
        let first = tensors.first().ok_or_else(|| arg_err("stack", "needs at least one tensor"))?;
        if tensors.iter().any(|t| t.shape() != first.shape()) {
            let shapes: Vec<_> = tensors.iter().map(|t| t.shape().to_vec()).collect();
            return Err(shape_err("stack", format!("shapes {shapes:?} differ")));
        }
        let ax = axis_index("stack", axis, first.ndim() + 1, first.shape())? as isize;
        let parts: Vec<Tensor> = tensors.iter().map(|t| t.unsqueeze(ax)).collect::<Result<_>>()?;
        Tensor::concat(&parts, ax)
    }

    /// Converts to `dtype` (floats round to nearest; floats → i64 truncate;
    /// → bool is `x != 0`). Float-to-float casts are differentiable.
    ///
    /// ```
    /// use lux_core::{DType, Tensor};
    /// let x = Tensor::from_vec(vec![1.7f32, -2.5], &[2])?;
    /// assert_eq!(x.to_dtype(DType::I64)?.to_vec::<i64>()?, vec![1, -2]);
    /// assert_eq!(x.to_dtype(DType::F64)?.to_vec::<f64>()?, vec![1.7f32 as f64, -2.5]);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn to_dtype(&self, dtype: DType) -> Result<Tensor> {
        if dtype == self.dtype() {
            return Ok(self.clone());
        }
        fn conv<A: Element, B: Element>(a: &ArcArray<A, IxDyn>) -> ArcArray<B, IxDyn> {
            super::map_arr(a, |x: A| B::from_f64(x.to_f64()))
        }
        fn from_f32<B: Element>(a: &ArcArray<f32, IxDyn>, f: fn(f32) -> B) -> ArcArray<B, IxDyn> {
            super::map_arr(a, f)
        }
        let data = match (&self.data, dtype) {
            // f32 → half directly (one rounding, and faster than via f64).
            (Data::F32(a), DType::F16) => Data::F16(from_f32(a, half::f16::from_f32)),
            (Data::F32(a), DType::BF16) => Data::BF16(from_f32(a, half::bf16::from_f32)),
            _ => with_data!(&self.data, a => match dtype {
                DType::Bool => Data::Bool(conv(a)),
                DType::I64 => Data::I64(conv(a)),
                DType::F16 => Data::F16(conv(a)),
                DType::BF16 => Data::BF16(conv(a)),
                DType::F32 => Data::F32(conv(a)),
                DType::F64 => Data::F64(conv(a)),
            }),
        };
        if self.dtype().is_float() && dtype.is_float() {
            Tensor::from_op(data, Op::Cast(self.dtype()), &[self])
        } else {
            Ok(Tensor::from_data(data))
        }
    }
}

fn internal() -> LuxError {
    LuxError::Unsupported("internal: operands of one dtype expected".into())
}

/// Addition on any element type (bool: OR), for the scatter kernels.
fn add_elem<T: Element>(a: T, b: T) -> T {
    T::from_f64(a.to_f64() + b.to_f64())
}

#[cfg(test)]
mod tests {
    use crate::{DType, Tensor};

    #[test]
    fn views_and_copies() -> crate::Result<()> {
        let x = Tensor::from_vec((0..24).map(|v| v as f32).collect::<Vec<_>>(), &[2, 3, 4])?;
        let p = x.permute(&[2, 0, 1])?;
        assert_eq!(p.shape(), &[4, 2, 3]);
        assert!(p.shares_storage_with(&x));
        assert!(!p.is_contiguous());
        // p[k, i, j] = x[i, j, k] = 12 i + 4 j + k; check p[1, 1, 2] at 1·6 + 1·3 + 2
        let v = p.to_vec::<f32>()?;
        assert_eq!(v[11], 12.0 + 8.0 + 1.0);
        let r = p.reshape(&[8, 3])?;
        assert!(r.is_contiguous());
        assert_eq!(r.to_vec::<f32>()?, v);
        let n = x.narrow(2, 1, 2)?;
        assert_eq!(n.shape(), &[2, 3, 2]);
        assert_eq!(n.to_vec::<f32>()?[..4], [1.0, 2.0, 5.0, 6.0]);
        assert!(x.narrow(2, 3, 2).is_err());
        assert!(x.permute(&[0, 0, 1]).is_err());
        assert!(x.reshape(&[5, 5]).is_err());
        Ok(())
    }

    #[test]
    fn concat_stack_index_ops() -> crate::Result<()> {
        let a = Tensor::from_vec(vec![1.0f64, 2.0], &[1, 2])?;
        let b = Tensor::from_vec(vec![3.0f64, 4.0, 5.0, 6.0], &[2, 2])?;
        let c = Tensor::concat(&[a.clone(), b.clone()], 0)?;
        assert_eq!(c.to_vec::<f64>()?, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        assert!(Tensor::concat(&[a.clone(), b.clone()], 1).is_err());
        let s = Tensor::stack(&[a.clone(), a.clone()], -1)?;
        assert_eq!(s.shape(), &[1, 2, 2]);
        let idx = Tensor::from_vec(vec![1i64, 1], &[2])?;
        let added = Tensor::zeros(&[3, 2], DType::F64)?.index_add(0, &idx, &b)?;
        assert_eq!(added.to_vec::<f64>()?, vec![0.0, 0.0, 8.0, 10.0, 0.0, 0.0]);
        let gi = Tensor::from_vec(vec![1i64, 1, 0], &[1, 3])?;
        let sc = Tensor::zeros(&[1, 2], DType::F64)?.scatter_add(
            1,
            &gi,
            &Tensor::from_vec(vec![1.0f64, 2.0, 4.0], &[1, 3])?,
        )?;
        assert_eq!(sc.to_vec::<f64>()?, vec![4.0, 3.0]);
        assert!(b.index_select(0, &Tensor::from_vec(vec![2i64], &[1])?).is_err());
        assert!(b.index_select(0, &Tensor::from_vec(vec![-1i64], &[1])?).is_err());
        assert!(b.gather(1, &Tensor::from_vec(vec![0.0f32], &[1, 1])?).is_err());
        Ok(())
    }

    #[test]
    fn casts_round_trip() -> crate::Result<()> {
        let x = Tensor::from_vec(vec![0.1f64, -3.75, 1e5], &[3])?;
        let h = x.to_dtype(DType::BF16)?;
        assert_eq!(h.dtype(), DType::BF16);
        assert_eq!(h.to_vec::<half::bf16>()?[1], half::bf16::from_f64(-3.75));
        let b = x.to_dtype(DType::Bool)?;
        assert_eq!(b.to_vec::<bool>()?, vec![true, true, true]);
        Ok(())
    }
}
