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
use crate::{DType, Tensor, broadcast_shapes};
use half::{bf16, f16};
use ndarray::{ArcArray, IxDyn};

/// `true` if `t`'s buffer may be written in place.
fn writable(t: &Tensor) -> bool {
    !t.is_tracked() && with_data!(&t.data, a => a.is_unique())
}

/// The dtype `x.add(y)` produces (integers and booleans add as i64).
fn sum_dtype(x: &Tensor, y: &Tensor) -> DType {
    let dt = DType::promote(x.dtype(), y.dtype());
    if dt.is_float() { dt } else { DType::I64 }
}

/// `x += y` in place when that gives exactly what `x.add(y)` would (same
/// dtype, `y` broadcasts to `x`'s shape) and `x` is writable. Returns
/// whether it did.
fn add_in_place(x: &mut Tensor, y: &Tensor) -> Result<bool> {
    let dt = x.dtype();
    if y.is_tracked() || !writable(x) || sum_dtype(x, y) != dt {
        return Ok(false);
    }
    if broadcast_shapes(x.shape(), y.shape()).ok().as_deref() != Some(x.shape()) {
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

/// The leaf rule of `recursive_add`, checked before anything is changed.
fn check_add(path: &str, a: &Tree, b: &Tree) -> Result<()> {
    match (a, b) {
        (Tree::Tensor(x), Tree::Tensor(y)) => {
            broadcast_shapes(x.shape(), y.shape()).map(|_| ()).map_err(|_| LuxError::Shape {
                op: "recursive_add".into(),
                msg: format!("at {}: shapes {:?} and {:?} do not broadcast", shown(path), x.shape(), y.shape()),
            })
        }
        (Tree::Int(_) | Tree::Float(_), Tree::Int(_) | Tree::Float(_)) | (Tree::None, Tree::None) => Ok(()),
        _ => Err(leaf_mismatch("recursive_add", path, a, b)),
    }
}

fn check_copy(path: &str, a: &Tree, b: &Tree) -> Result<()> {
    match (a, b) {
        (Tree::Tensor(x), Tree::Tensor(y)) if x.shape() != y.shape() => Err(LuxError::Shape {
            op: "recursive_copyto".into(),
            msg: format!("at {}: cannot copy shape {:?} into shape {:?}", shown(path), y.shape(), x.shape()),
        }),
        _ if std::mem::discriminant(a) == std::mem::discriminant(b) => Ok(()),
        _ => Err(leaf_mismatch("recursive_copyto", path, a, b)),
    }
}

impl Tree {
    /// Lux's `recursive_add!!(x, y)`: adds `other` into `self` leaf by leaf.
    ///
    /// * tensors: `x += y` **in place** when `x`'s buffer is not shared,
    ///   neither tensor is recorded for a gradient, the sum keeps `x`'s
    ///   dtype and `y` broadcasts to `x`'s shape; otherwise the leaf becomes
    ///   `x.add(y)` (a new buffer: whoever else holds the old one sees no
    ///   change). The values are the same either way.
    /// * `Int`/`Float` leaves add (`Int + Int` stays `Int`, wrapping on
    ///   overflow like i64 tensors; a `Float` makes a `Float`);
    ///   `None + None = None`.
    ///
    /// Everything is checked before anything is written: on error `self` is
    /// unchanged.
    ///
    /// ```
    /// use lux_core::{tree, DType, Tensor};
    /// let mut acc = tree! { w: Tensor::ones(&[2], DType::F32)?, n: 1i64 };
    /// acc.recursive_add(&tree! { w: Tensor::full(&[2], 2.0, DType::F32)?, n: 2i64 })?;
    /// assert_eq!(acc.tensor("w")?.to_vec::<f32>()?, vec![3.0, 3.0]);
    /// assert_eq!(acc.get("n")?.as_int()?, 3);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// [`LuxError::Structure`] if the trees differ in structure or a pair of
    /// leaves cannot be added (e.g. `Bool`, `Rng`, a tensor and a number);
    /// [`LuxError::Shape`] if two tensors do not broadcast.
    pub fn recursive_add(&mut self, other: &Tree) -> Result<()> {
        self.zip_check(other, check_add)?;
        self.zip_apply(other, |_, a, b| {
            *a = match (&mut *a, b) {
                (Tree::Tensor(x), Tree::Tensor(y)) => {
                    if add_in_place(x, y)? {
                        return Ok(());
                    }
                    Tree::Tensor(x.add(y)?)
                }
                (Tree::Int(x), Tree::Int(y)) => Tree::Int(x.wrapping_add(*y)),
                (Tree::Int(x), Tree::Float(y)) => Tree::Float(*x as f64 + y),
                (Tree::Float(x), Tree::Int(y)) => Tree::Float(*x + *y as f64),
                (Tree::Float(x), Tree::Float(y)) => Tree::Float(*x + y),
                _ => return Ok(()), // None + None (all other pairs were rejected above)
            };
            Ok(())
        })
    }

    /// Lux's `recursive_copyto!(x, y)`: copies `other`'s values into `self`
    /// leaf by leaf. Tensors must have the same shape; values are converted
    /// to `self`'s dtype and written into its buffer when it is writable
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
    /// kinds; [`LuxError::Shape`] if two tensors differ in shape.
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
