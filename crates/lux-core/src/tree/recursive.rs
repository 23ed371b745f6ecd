//! Lux's recursive operations (`recursive_add!!`, `recursive_copyto!`,
//! `recursive_make_zero`, `recursive_make_zero!!`), built on the traversals.
//!
//! The in-place forms write into a tensor's buffer only when nothing else can
//! see it: the storage is not shared with another tensor (`Arc` unique) and
//! the tensor is not recorded for a gradient call. Otherwise the leaf is
//! replaced by a new tensor, so another holder of the buffer never observes a
//! change. Either way the resulting values are the same.

use super::traverse::leaf_mismatch;
use super::{Tree, shown};
use crate::dtype::{Data, Element, Sealed, with_data};
use crate::error::{LuxError, Result};
use crate::ops::binary::operand_dtype;
use crate::{DType, Tensor, broadcast_shapes};
use half::{bf16, f16};
use ndarray::{ArcArray, IxDyn};

/// `true` if `t`'s buffer may be written in place.
fn writable(t: &Tensor) -> bool {
    !t.is_tracked() && with_data!(&t.data, a => a.is_unique())
}

/// `x += y` in place when that gives exactly what `x.add(y)` would (`add`
/// computes in `x`'s dtype) and `x` is writable; `y` already broadcasts to
/// `x`'s shape ([`check_add`]). Returns whether it did.
fn add_in_place(x: &mut Tensor, y: &Tensor) -> Result<bool> {
    let dt = x.dtype();
    if y.is_tracked() || !writable(x) || operand_dtype(x, y) != dt {
        return Ok(false);
    }
    let y = y.to_dtype(dt)?;
    fn half_add<T: Copy>(a: &mut ArcArray<T, IxDyn>, b: &ArcArray<T, IxDyn>, to: fn(T) -> f32, from: fn(f32) -> T) {
        // Compute in f32 and round once, as the out-of-place kernel does.
        a.zip_mut_with(b, |p, &q| *p = from(to(*p) + to(q)));
    }
    match (&mut x.data, &y.data) {
        (Data::F32(a), Data::F32(b)) => a.zip_mut_with(b, |p, &q| *p += q),
        (Data::F64(a), Data::F64(b)) => a.zip_mut_with(b, |p, &q| *p += q),
        (Data::F16(a), Data::F16(b)) => half_add(a, b, f32::from, f16::from_f32),
        (Data::BF16(a), Data::BF16(b)) => half_add(a, b, f32::from, bf16::from_f32),
        (Data::I64(a), Data::I64(b)) => a.zip_mut_with(b, |p, &q| *p = p.wrapping_add(q)),
        _ => return Ok(false),
    }
    Ok(true)
}

/// A fresh, unshared, untracked copy of `t`.
fn deep_copy(t: &Tensor) -> Tensor {
    fn copy<T: Element>(a: &ArcArray<T, IxDyn>) -> Data {
        <T as Sealed>::wrap(a.to_owned().into_shared())
    }
    Tensor::from_data(with_data!(&t.data, a => copy(a)))
}

/// `dst[..] = src[..]` (`src` has `dst`'s dtype and shape).
fn assign_from<T: Element>(dst: &mut ArcArray<T, IxDyn>, src: &Data) {
    if let Some(s) = T::unwrap(src) {
        dst.assign(s);
    }
}

fn zero_fill<T: Element>(a: &mut ArcArray<T, IxDyn>) {
    a.fill(T::from_f64(0.0));
}

/// `true` if converting `src` values to `dst` would truncate: a float into
/// an integer, or anything but a bool into a bool. (Floats into a narrower
/// float round, which is what storing in that dtype means.)
fn lossy_into(dst: DType, src: DType) -> bool {
    match dst {
        DType::Bool => src != DType::Bool,
        DType::I64 => src.is_float(),
        _ => false,
    }
}

/// The leaf rule of `recursive_add`, checked before anything is changed.
fn check_add(path: &str, a: &Tree, b: &Tree) -> Result<()> {
    let invalid = |msg: String| LuxError::InvalidArgument {
        op: "recursive_add".into(),
        msg: format!("at {}: {msg}", shown(path)),
    };
    match (a, b) {
        (Tree::Tensor(x), Tree::Tensor(y)) if x.dtype() == DType::Bool => {
            if x == y {
                Ok(())
            } else {
                Err(invalid(format!(
                    "a bool tensor is kept, not added, so both trees must hold the same one; got bool{:?} and a different {}{:?}",
                    x.shape(),
                    y.dtype(),
                    y.shape()
                )))
            }
        }
        (Tree::Tensor(x), Tree::Tensor(y)) => {
            if broadcast_shapes(x.shape(), y.shape()).ok().as_deref() != Some(x.shape()) {
                return Err(LuxError::Shape {
                    op: "recursive_add".into(),
                    msg: format!(
                        "at {}: cannot add shape {:?} into shape {:?} (the accumulator keeps its shape)",
                        shown(path),
                        y.shape(),
                        x.shape()
                    ),
                });
            }
            if lossy_into(x.dtype(), y.dtype()) {
                return Err(LuxError::DType {
                    op: format!("recursive_add at {}", shown(path)),
                    expected: "i64 or bool (an i64 accumulator keeps its dtype; a float would be truncated)".into(),
                    got: y.dtype(),
                });
            }
            Ok(())
        }
        (Tree::Int(_), Tree::Float(y)) => {
            Err(invalid(format!("cannot add the float {y:?} into an int leaf (an int accumulator stays an int)")))
        }
        (Tree::Int(_) | Tree::Float(_), Tree::Int(_) | Tree::Float(_)) | (Tree::None, Tree::None) => Ok(()),
        (Tree::Bool(_), Tree::Bool(_)) | (Tree::Rng(_), Tree::Rng(_)) if a == b => Ok(()),
        (Tree::Bool(x), Tree::Bool(y)) => Err(invalid(format!(
            "the flags differ ({x} vs {y}); flags are kept, not added, so both trees must hold the same value"
        ))),
        (Tree::Rng(_), Tree::Rng(_)) => Err(invalid(
            "the rng states differ; rngs are kept, not added, so both trees must hold the same state".into(),
        )),
        _ => Err(leaf_mismatch("recursive_add", path, a, b)),
    }
}

fn check_copy(path: &str, a: &Tree, b: &Tree) -> Result<()> {
    match (a, b) {
        (Tree::Tensor(x), Tree::Tensor(y)) if x.shape() != y.shape() => Err(LuxError::Shape {
            op: "recursive_copyto".into(),
            msg: format!("at {}: cannot copy shape {:?} into shape {:?}", shown(path), y.shape(), x.shape()),
        }),
        (Tree::Tensor(x), Tree::Tensor(y)) if lossy_into(x.dtype(), y.dtype()) => Err(LuxError::DType {
            op: format!("recursive_copyto at {}", shown(path)),
            expected: format!("a dtype that converts to {} without truncating", x.dtype()),
            got: y.dtype(),
        }),
        _ if std::mem::discriminant(a) == std::mem::discriminant(b) => Ok(()),
        _ => Err(leaf_mismatch("recursive_copyto", path, a, b)),
    }
}

impl Tree {
    /// Lux's `recursive_add!!(x, y)`: adds `other` into `self` leaf by leaf.
    /// `self` is an **accumulator**: every leaf keeps its kind, shape and
    /// dtype.
    ///
    /// * tensors: `y` must broadcast to `x`'s shape. The sum is computed as
    ///   `x.add(y)` and rounded to `x`'s dtype, so an f16 accumulator stays
    ///   f16 when adding f32 (or f64) values, and an f32 one stays f32 when
    ///   adding f64; an i64 accumulator takes i64 and bool addends (a float
    ///   one would be truncated: an error). It is written **in place** when
    ///   `x`'s buffer is not shared, neither tensor is recorded for a
    ///   gradient and `add` computes in `x`'s dtype; otherwise the leaf is
    ///   replaced (a new buffer: whoever else holds the old one sees no
    ///   change). The values are the same either way.
    /// * bool tensors, `Bool` flags and `Rng` leaves are kept, not added:
    ///   the two trees must hold equal values (two copies of one model
    ///   state, e.g. `training: true`), else it is an error.
    /// * `Int`/`Float` leaves add (`Int + Int` stays `Int`, wrapping on
    ///   overflow like i64 tensors; `Float + Int` is a `Float`; `Int +
    ///   Float` would truncate: an error); `None + None = None`.
    ///
    /// Everything is checked before anything is written: on error `self` is
    /// unchanged.
    ///
    /// ```
    /// use lux_core::{tree, DType, Tensor};
    /// let mut acc = tree! { w: Tensor::ones(&[2], DType::F32)?, n: 1i64, training: true };
    /// acc.recursive_add(&tree! { w: Tensor::full(&[2], 2.0, DType::F64)?, n: 2i64, training: true })?;
    /// assert_eq!(acc.tensor("w")?.to_vec::<f32>()?, vec![3.0, 3.0]); // still f32
    /// assert_eq!(acc.get("n")?.as_int()?, 3);
    /// let err = acc.recursive_add(&tree! { w: Tensor::ones(&[3, 2], DType::F32)?, n: 0i64, training: true });
    /// assert_eq!(
    ///     err.unwrap_err().to_string(),
    ///     "recursive_add: at w: cannot add shape [3, 2] into shape [2] (the accumulator keeps its shape)"
    /// );
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// [`LuxError::Structure`] if the trees differ in structure or leaf
    /// kinds (e.g. a tensor and a number); [`LuxError::Shape`] if a tensor
    /// does not broadcast to the accumulator's shape; [`LuxError::DType`]
    /// for a float tensor added into an i64 one;
    /// [`LuxError::InvalidArgument`] for kept leaves (flags, rngs, bool
    /// tensors) that differ, or a `Float` added into an `Int`.
    pub fn recursive_add(&mut self, other: &Tree) -> Result<()> {
        self.zip_check(other, check_add)?;
        self.zip_apply(other, |_, a, b| {
            *a = match (&mut *a, b) {
                (Tree::Tensor(x), Tree::Tensor(y)) => {
                    if x.dtype() == DType::Bool || add_in_place(x, y)? {
                        return Ok(());
                    }
                    Tree::Tensor(x.add(y)?.to_dtype(x.dtype())?)
                }
                (Tree::Int(x), Tree::Int(y)) => Tree::Int(x.wrapping_add(*y)),
                (Tree::Float(x), Tree::Int(y)) => Tree::Float(*x + *y as f64),
                (Tree::Float(x), Tree::Float(y)) => Tree::Float(*x + y),
                _ => return Ok(()), // None + None and equal kept leaves (all other pairs were rejected above)
            };
            Ok(())
        })
    }

    /// Lux's `recursive_copyto!(x, y)`: copies `other`'s values into `self`
    /// leaf by leaf. Tensors must have the same shape; values are converted
    /// to `self`'s dtype (a float into an i64 tensor, or anything but bool
    /// into a bool one, would truncate: an error) and written into its buffer when it is writable
    /// (not shared, not recorded for a gradient), else the leaf is replaced
    /// by a fresh copy (a constant). Other leaves must be of the same
    /// variant and take `other`'s value.
    ///
    /// Everything is checked before anything is written: on error `self` is
    /// unchanged.
    ///
    /// ```
    /// use lux_core::{tree, DType, Tensor};
    /// let mut ps = tree! { w: Tensor::zeros(&[2], DType::F32)? };
    /// ps.recursive_copyto(&tree! { w: Tensor::from_vec(vec![1.5f64, 2.5], &[2])? })?;
    /// assert_eq!(ps.tensor("w")?.to_vec::<f32>()?, vec![1.5, 2.5]);
    /// let bad = tree! { w: Tensor::zeros(&[3], DType::F32)? };
    /// assert!(ps.recursive_copyto(&bad).is_err());
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// [`LuxError::Structure`] if the trees differ in structure or leaf
    /// kinds; [`LuxError::Shape`] if two tensors differ in shape;
    /// [`LuxError::DType`] if a conversion would truncate.
    pub fn recursive_copyto(&mut self, other: &Tree) -> Result<()> {
        self.zip_check(other, check_copy)?;
        self.zip_apply(other, |_, a, b| {
            match (&mut *a, b) {
                (Tree::Tensor(x), Tree::Tensor(y)) => {
                    let y = y.to_dtype(x.dtype())?;
                    if writable(x) {
                        with_data!(&mut x.data, dst => assign_from(dst, &y.data));
                    } else {
                        *x = deep_copy(&y);
                    }
                }
                (a, b) => *a = b.clone(),
            }
            Ok(())
        })
    }

    /// Lux's `recursive_make_zero`: a tree of the same structure with every
    /// tensor replaced by zeros of its shape and dtype (constants) and every
    /// `Int`/`Float` by 0; `Bool`, `Rng` and `None` leaves are kept.
    ///
    /// ```
    /// use lux_core::{tree, DType, Tensor, Tree};
    /// let st = tree! { w: Tensor::ones(&[2], DType::F32)?, n: 5i64, training: true, e: Tree::None };
    /// let z = st.recursive_make_zero();
    /// assert_eq!(z, tree! { w: Tensor::zeros(&[2], DType::F32)?, n: 0i64, training: true, e: Tree::None });
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn recursive_make_zero(&self) -> Tree {
        let mut out = self.clone();
        out.visit_mut(|_, leaf| match leaf {
            Tree::Tensor(t) => *t = t.zeros_like(),
            Tree::Int(i) => *i = 0,
            Tree::Float(x) => *x = 0.0,
            _ => {}
        });
        out
    }

    /// Lux's `recursive_make_zero!!`: zeroes every tensor in place where its
    /// buffer is writable (not shared, not recorded for a gradient), else
    /// replaces it by zeros; sets `Int`/`Float` leaves to 0; keeps `Bool`,
    /// `Rng` and `None`.
    ///
    /// ```
    /// use lux_core::{tree, DType, Tensor};
    /// let mut st = tree! { w: Tensor::ones(&[2], DType::F32)?, n: 5i64, training: true };
    /// let before = st.clone(); // shares w's buffer, so w is replaced rather than written
    /// st.recursive_make_zero_mut();
    /// assert_eq!(st, tree! { w: Tensor::zeros(&[2], DType::F32)?, n: 0i64, training: true });
    /// assert_eq!(before.tensor("w")?.to_vec::<f32>()?, vec![1.0, 1.0]);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn recursive_make_zero_mut(&mut self) {
        self.visit_mut(|_, leaf| match leaf {
            Tree::Tensor(t) if writable(t) => with_data!(&mut t.data, a => zero_fill(a)),
            Tree::Tensor(t) => *t = t.zeros_like(),
            Tree::Int(i) => *i = 0,
            Tree::Float(x) => *x = 0.0,
            _ => {}
        });
    }
}
