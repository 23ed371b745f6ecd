//! Trees as vectors: inner product, norm, scaling, `axpy`, and flattening to
//! one vector and back ([`Tree::ravel`], JAX's `ravel_pytree`).
//!
//! The vector a tree stands for is the concatenation of its **float tensor
//! leaves**; integer and bool tensors, flags, counters and RNGs are carried
//! along unchanged (they are not coordinates). Every result is built from
//! differentiable tensor ops, so these methods work on tracked trees inside
//! a gradient (e.g. a loss with a weight-norm penalty, or `⟨∇f, v⟩`).

use super::{Tree, structure};
use crate::error::{LuxError, Result};
use crate::{DType, Tensor};

/// The pair of tensors at `path` must both be float (coordinates) or both
/// not (carried along), and float pairs must have the same shape.
fn coordinates(op: &str, path: &str, a: &Tensor, b: &Tensor) -> Result<bool> {
    match (a.dtype().is_float(), b.dtype().is_float()) {
        (true, true) if a.shape() == b.shape() => Ok(true),
        (true, true) => Err(LuxError::Shape {
            op: format!("{op} at {}", super::shown(path)),
            msg: format!("leaf shapes differ: {:?} vs {:?}", a.shape(), b.shape()),
        }),
        (false, false) => Ok(false),
        _ => Err(structure(path, format!("{op}: a {} tensor vs a {} tensor", a.dtype(), b.dtype()))),
    }
}

impl Tree {
    /// The inner product `Σ ⟨a, b⟩` over the float tensor leaves of two
    /// trees of the same structure, as a 0-d tensor (differentiable; read
    /// it as a number with `to_f64_vec()[0]`). Non-float leaves are skipped;
    /// two trees without float leaves give an f32 zero.
    ///
    /// ```
    /// use lux_core::{tree, Tensor};
    /// let a = tree! { w: Tensor::from_vec(vec![1.0f64, 2.0], &[2])?, b: Tensor::scalar(3.0f64), step: 7i64 };
    /// let b = tree! { w: Tensor::from_vec(vec![4.0f64, 5.0], &[2])?, b: Tensor::scalar(-1.0f64), step: 0i64 };
    /// assert_eq!(a.dot(&b)?.to_scalar::<f64>()?, 1.0 * 4.0 + 2.0 * 5.0 - 3.0);
    /// let err = a.dot(&tree! { w: Tensor::scalar(1.0f64) }).unwrap_err();
    /// assert!(err.to_string().starts_with("structure mismatch at <root>"), "{err}");
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// [`LuxError::Structure`] naming the first path where the trees differ
    /// (containers, leaf kinds, or a float tensor against a non-float one);
    /// [`LuxError::Shape`] naming a path where two float leaves' shapes
    /// differ (no broadcasting).
    pub fn dot(&self, other: &Tree) -> Result<Tensor> {
        self.structure_check(other)?;
        let mut acc: Option<Tensor> = None;
        for ((path, a), (_, b)) in self.tensors().into_iter().zip(other.tensors()) {
            if coordinates("Tree::dot", &path, a, b)? {
                let term = a.mul(b)?.sum_all()?;
                acc = Some(match acc {
                    Some(s) => s.add(&term)?,
                    None => term,
                });
            }
        }
        Ok(acc.unwrap_or_else(|| Tensor::scalar(0.0f32)))
    }

    /// The Euclidean norm `√Σ x²` over all float tensor leaves, as a 0-d
    /// tensor of the leaves' common float type (differentiable). It is
    /// computed in f64 as `s·√Σ (x/s)²`, `s` a power of two near the
    /// largest magnitude, so it
    /// neither overflows nor underflows where the norm itself is
    /// representable (f16 squares overflow above 256). The gradient at the
    /// zero tree is zero; a tree without float leaves has norm 0 (f32).
    ///
    /// ```
    /// use lux_core::{tree, DType, Tensor};
    /// let g = tree! { w: Tensor::from_vec(vec![3.0f32, 0.0], &[2])?, b: Tensor::scalar(-4.0f32) };
    /// assert_eq!(g.norm()?.to_scalar::<f32>()?, 5.0);
    /// // 300² overflows f16; the norm does not.
    /// let h = tree! { w: Tensor::from_vec(vec![300.0f64, 400.0], &[2])?.to_dtype(DType::F16)? };
    /// assert_eq!(h.norm()?.dtype(), DType::F16);
    /// assert_eq!(h.norm()?.to_f64_vec(), vec![500.0]);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// Only from the tensor ops (not expected for a well-formed tree).
    pub fn norm(&self) -> Result<Tensor> {
        let floats: Vec<&Tensor> =
            self.tensors().into_iter().map(|(_, t)| t).filter(|t| t.dtype().is_float()).collect();
        let Some(dtype) = floats.iter().map(|t| t.dtype()).reduce(DType::promote) else {
            return Ok(Tensor::scalar(0.0f32));
        };
        let wide = Tree::seq(floats.iter().map(|t| t.to_dtype(DType::F64)).collect::<Result<Vec<_>>>()?);
        let mut m = 0.0f64;
        for (_, t) in wide.tensors() {
            if !t.is_empty() {
                let leaf_max = t.detach().abs()?.max_all()?.to_f64_vec()[0];
                // NaN wins, as it does in the sum.
                m = if leaf_max.is_nan() || m.is_nan() { f64::NAN } else { m.max(leaf_max) };
            }
        }
        if m == 0.0 || !m.is_finite() {
            // Zero: √ has no derivative at 0, but Σx² = 0 has the zero one.
            // Inf/NaN: the plain formula gives the right value.
            let sq = wide.dot(&wide)?;
            return if m == 0.0 { sq } else { sq.sqrt()? }.to_dtype(dtype);
        }
        // A power of two near m scales exactly; d/dx of s·√Σ(x/s)² with s
        // held constant is exactly x/‖x‖.
        let s = 2f64.powi(m.log2().floor() as i32);
        let s = if s > 0.0 && (1.0 / s).is_finite() { s } else { 1.0 };
        let scaled = wide.scale(1.0 / s)?;
        scaled.dot(&scaled)?.sqrt()?.mul_scalar(s)?.to_dtype(dtype)
    }

    /// Every float tensor leaf multiplied by `alpha`; other leaves kept.
    ///
    /// ```
    /// use lux_core::{tree, Tensor};
    /// let g = tree! { w: Tensor::from_vec(vec![1.0f32, -2.0], &[2])?, ids: Tensor::from_vec(vec![3i64], &[1])? };
    /// let h = g.scale(0.5)?;
    /// assert_eq!(h.tensor("w")?.to_vec::<f32>()?, vec![0.5, -1.0]);
    /// assert_eq!(h.tensor("ids")?.to_vec::<i64>()?, vec![3]);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// Only from the tensor ops (not expected for a well-formed tree).
    pub fn scale(&self, alpha: f64) -> Result<Tree> {
        self.try_map(|_, t| if t.dtype().is_float() { t.mul_scalar(alpha) } else { Ok(t.clone()) })
    }

    /// `self + alpha · x` leaf by leaf (BLAS's `axpy`; a gradient-descent
    /// step is `ps.axpy(-lr, &grads)`). Each result leaf keeps `self`'s
    /// shape and dtype; non-float leaves are `self`'s.
    ///
    /// ```
    /// use lux_core::{tree, Tensor};
    /// let ps = tree! { w: Tensor::from_vec(vec![1.0f32, 2.0], &[2])?, training: true };
    /// let g = tree! { w: Tensor::from_vec(vec![10.0f32, -10.0], &[2])?, training: true };
    /// let ps = ps.axpy(-0.1, &g)?;
    /// assert_eq!(ps.tensor("w")?.to_vec::<f32>()?, vec![0.0, 3.0]);
    /// assert_eq!(ps.get("training")?.as_bool()?, true);
    /// let err = ps.axpy(1.0, &tree! { w: Tensor::scalar(1.0f32), training: true }).unwrap_err();
    /// assert_eq!(err.to_string(), "Tree::axpy at w: leaf shapes differ: [2] vs []");
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// As for [`dot`](Tree::dot).
    pub fn axpy(&self, alpha: f64, x: &Tree) -> Result<Tree> {
        self.structure_check(x)?;
        self.try_zip_map_leaves(x, |path, a, b| match (a, b) {
            (Tree::Tensor(a), Tree::Tensor(b)) if coordinates("Tree::axpy", path, a, b)? => {
                Ok(Tree::Tensor(a.add(&b.to_dtype(a.dtype())?.mul_scalar(alpha)?)?))
            }
            _ => Ok(a.clone()),
        })
    }

    /// Flattens the float tensor leaves into one 1-d vector (row-major,
    /// leaves in order, dtypes promoted to a common float type) and returns
    /// it with the [`Unravel`] that rebuilds a tree of this structure,
    /// shapes and dtypes from such a vector (JAX's `ravel_pytree`). Both
    /// directions are differentiable (reshape, narrow, concat, casts), so
    /// gradients flow between the tree and vector views. Non-float leaves
    /// are not part of the vector; `unravel` puts them back as they were.
    ///
    /// ```
    /// use lux_core::{tree, Tensor};
    /// let ps = tree! {
    ///     w: Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0], &[2, 2])?,
    ///     b: Tensor::from_vec(vec![5.0f32], &[1])?,
    ///     step: 3i64,
    /// };
    /// let (v, unravel) = ps.ravel()?;
    /// assert_eq!(v.to_vec::<f32>()?, vec![1.0, 2.0, 3.0, 4.0, 5.0]);
    /// assert_eq!(unravel.len(), 5);
    /// let back = unravel.unravel(&v.mul_scalar(10.0)?)?;
    /// assert_eq!(back.tensor("w")?.to_vec::<f32>()?, vec![10.0, 20.0, 30.0, 40.0]);
    /// assert_eq!(back.tensor("w")?.shape(), &[2, 2]);
    /// assert_eq!(back.get("step")?.as_int()?, 3);
    /// assert!(unravel.unravel(&Tensor::zeros(&[4], lux_core::DType::F32)?).is_err());
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// Only from the tensor ops (not expected for a well-formed tree).
    pub fn ravel(&self) -> Result<(Tensor, Unravel)> {
        let mut parts = Vec::new();
        let mut shapes = Vec::new();
        let template = self.try_map(|_, t| {
            if !t.dtype().is_float() {
                return Ok(t.detach());
            }
            parts.push(t.reshape(&[t.len()])?);
            shapes.push(t.shape().to_vec());
            Tensor::zeros(&[0], t.dtype())
        })?;
        let vector = if parts.is_empty() { Tensor::zeros(&[0], DType::F32)? } else { Tensor::concat(&parts, 0)? };
        Ok((vector.clone(), Unravel { template, shapes, len: vector.len(), dtype: vector.dtype() }))
    }
}

/// Rebuilds a tree from the vector [`Tree::ravel`] made (or any vector of
/// that length): the tree's structure, each float leaf's shape and dtype,
/// and its non-float leaves, without holding the original values.
///
/// ```
/// use lux_core::{tree, DType, Tensor};
/// let ps = tree! { w: Tensor::zeros(&[2, 2], DType::F16)?, b: Tensor::zeros(&[1], DType::F32)? };
/// let (_, unravel) = ps.ravel()?;
/// assert_eq!((unravel.len(), unravel.dtype()), (5, DType::F32)); // f16 and f32 meet at f32
/// let v = Tensor::arange(1.0, 6.0, 1.0, DType::F64)?;
/// let t = unravel.unravel(&v)?;
/// assert_eq!(t.tensor("w")?.dtype(), DType::F16);
/// assert_eq!(t.tensor("w")?.to_f64_vec(), vec![1.0, 2.0, 3.0, 4.0]);
/// assert_eq!(t.tensor("b")?.to_vec::<f32>()?, vec![5.0]);
/// # Ok::<(), lux_core::LuxError>(())
/// ```
#[derive(Clone, Debug)]
pub struct Unravel {
    /// The tree with every float leaf replaced by an empty tensor of its dtype.
    template: Tree,
    /// The shapes of the float leaves, in order.
    shapes: Vec<Vec<usize>>,
    len: usize,
    dtype: DType,
}

impl Unravel {
    /// The length of the vector this rebuilds from.
    ///
    /// ```
    /// use lux_core::{tree, DType, Tensor};
    /// let ps = tree! { w: Tensor::zeros(&[2, 3], DType::F32)?, b: Tensor::zeros(&[3], DType::F32)?, step: 1i64 };
    /// assert_eq!(ps.ravel()?.1.len(), 9); // 6 + 3; the counter is not a coordinate
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn len(&self) -> usize {
        self.len
    }

    /// `true` when the tree has no float elements.
    ///
    /// ```
    /// use lux_core::{tree, DType, Tensor};
    /// assert!(tree! { step: 7i64, ids: Tensor::zeros(&[4], DType::I64)? }.ravel()?.1.is_empty());
    /// assert!(!tree! { w: Tensor::scalar(1.0f32) }.ravel()?.1.is_empty());
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The dtype of the vector [`Tree::ravel`] made (the leaves' common float type).
    ///
    /// ```
    /// use lux_core::{tree, DType, Tensor};
    /// let ps = tree! { a: Tensor::zeros(&[2], DType::F16)?, b: Tensor::zeros(&[1], DType::F16)? };
    /// assert_eq!(ps.ravel()?.1.dtype(), DType::F16);
    /// assert_eq!(tree! { w: Tensor::scalar(1.0f64) }.ravel()?.1.dtype(), DType::F64);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// The tree whose float leaves are consecutive pieces of `v`, reshaped
    /// and cast to the original leaves' shapes and dtypes; see
    /// [`Tree::ravel`].
    ///
    /// ```
    /// use lux_core::{tree, DType, Tensor};
    /// let (_, unravel) = tree! { w: Tensor::zeros(&[2], DType::F32)? }.ravel()?;
    /// assert_eq!(unravel.unravel(&Tensor::from_vec(vec![7.0f32, 8.0], &[2])?)?.tensor("w")?.to_vec::<f32>()?, vec![7.0, 8.0]);
    /// let e = unravel.unravel(&Tensor::zeros(&[3], DType::F32)?).unwrap_err().to_string();
    /// assert!(e.contains("expected a vector of shape [2], got [3]"), "{e}");
    /// assert!(unravel.unravel(&Tensor::zeros(&[2], DType::I64)?).is_err());
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// [`LuxError::Shape`] if `v` is not a vector of [`len`](Unravel::len)
    /// elements; [`LuxError::UnsupportedDType`] if it is not a float tensor.
    pub fn unravel(&self, v: &Tensor) -> Result<Tree> {
        if !v.dtype().is_float() {
            return Err(LuxError::UnsupportedDType { op: "Unravel::unravel".into(), dtype: v.dtype() });
        }
        if v.shape() != [self.len] {
            return Err(LuxError::Shape {
                op: "Unravel::unravel".into(),
                msg: format!("expected a vector of shape [{}], got {:?}", self.len, v.shape()),
            });
        }
        let mut offset = 0;
        let mut shapes = self.shapes.iter();
        self.template.try_map(|path, t| {
            if !t.dtype().is_float() {
                return Ok(t.clone());
            }
            let shape = shapes
                .next()
                .ok_or_else(|| LuxError::Unsupported(format!("internal: Unravel has no shape for {path}")))?;
            let n: usize = shape.iter().product();
            let piece = v.narrow(0, offset, n)?.reshape(shape)?.to_dtype(t.dtype())?;
            offset += n;
            Ok(piece)
        })
    }
}
