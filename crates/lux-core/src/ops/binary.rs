//! Elementwise binary ops with NumPy broadcasting, comparisons, `where_`
//! and `clamp`, with their derivative rules.
//!
//! Mixed dtypes are promoted first (the cast is itself differentiable, so a
//! gradient reaches an f16 input as f16): two n-d tensors, or two 0-d
//! tensors, with [`DType::promote`]; a 0-d tensor against an n-d one is a
//! *weak* operand and follows [`DType::promote_weak`] (the n-d operand's
//! dtype wins within a category, as in PyTorch and JAX). Rust scalars
//! (`add_scalar`, `clamp`, `t * 0.5`, …) are weak too, whatever the other
//! operand's rank; they are never truncated to an integer dtype.
//! Gradients of broadcast inputs are summed back to the input's shape.

use super::{broadcast_for, map_arr, zip_arr};
use crate::autodiff::Op;
use crate::dtype::{Data, Element, Real, Sealed, exact_i64, same_type, with_data};
use crate::error::{LuxError, Result, arg_err};
use crate::tensor::FloatData;
use crate::{DType, Tensor};
use ndarray::{ArcArray, IxDyn, Zip};

/// A binary arithmetic op.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BinaryOp {
    Add,
    Sub,
    Mul,
    Div,
    Pow,
    Maximum,
    Minimum,
}

impl BinaryOp {
    fn name(self) -> &'static str {
        match self {
            BinaryOp::Add => "add",
            BinaryOp::Sub => "sub",
            BinaryOp::Mul => "mul",
            BinaryOp::Div => "div",
            BinaryOp::Pow => "pow",
            BinaryOp::Maximum => "maximum",
            BinaryOp::Minimum => "minimum",
        }
    }

    fn float_kernel<T: Real>(
        self,
        a: &ArcArray<T, IxDyn>,
        b: &ArcArray<T, IxDyn>,
        shape: &[usize],
    ) -> ArcArray<T, IxDyn> {
        match self {
            BinaryOp::Add => zip_arr(a, b, shape, |x, y| x + y),
            BinaryOp::Sub => zip_arr(a, b, shape, |x, y| x - y),
            BinaryOp::Mul => zip_arr(a, b, shape, |x, y| x * y),
            BinaryOp::Div => zip_arr(a, b, shape, |x, y| x / y),
            BinaryOp::Pow => zip_arr(a, b, shape, |x, y| x.powf(y)),
            // NaN propagates, as in NumPy's maximum/minimum.
            BinaryOp::Maximum => zip_arr(a, b, shape, |x, y| if x.is_nan() || x > y { x } else { y }),
            BinaryOp::Minimum => zip_arr(a, b, shape, |x, y| if x.is_nan() || x < y { x } else { y }),
        }
    }

    fn int_kernel(
        self,
        a: &ArcArray<i64, IxDyn>,
        b: &ArcArray<i64, IxDyn>,
        shape: &[usize],
    ) -> Option<ArcArray<i64, IxDyn>> {
        Some(match self {
            BinaryOp::Add => zip_arr(a, b, shape, |x: i64, y| x.wrapping_add(y)),
            BinaryOp::Sub => zip_arr(a, b, shape, |x: i64, y| x.wrapping_sub(y)),
            BinaryOp::Mul => zip_arr(a, b, shape, |x: i64, y| x.wrapping_mul(y)),
            BinaryOp::Maximum => zip_arr(a, b, shape, |x: i64, y| x.max(y)),
            BinaryOp::Minimum => zip_arr(a, b, shape, |x: i64, y| x.min(y)),
            BinaryOp::Div | BinaryOp::Pow => return None,
        })
    }

    /// Gradients for `a ∘ b`, summed back to each input's shape.
    pub(crate) fn backward(
        self,
        g: &Tensor,
        a: &Tensor,
        b: &Tensor,
        y: &Tensor,
        needs: &[bool],
    ) -> Result<Vec<Option<Tensor>>> {
        let (ga, gb) = self.partials(g, a, b, y, needs)?;
        Ok(vec![
            if needs[0] { Some(ga.sum_to(a.shape())?) } else { None },
            if needs[1] { Some(gb.sum_to(b.shape())?) } else { None },
        ])
    }

    /// The tangent `∂y/∂a ⊙ ȧ + ∂y/∂b ⊙ ḃ`: the same elementwise partials as
    /// the backward rule, applied to each tangent and broadcast to `y`
    /// instead of summed back to the input.
    pub(crate) fn tangent(
        self,
        a: &Tensor,
        b: &Tensor,
        y: &Tensor,
        ta: &Option<Tensor>,
        tb: &Option<Tensor>,
    ) -> Result<Tensor> {
        let mut out: Option<Tensor> = None;
        if let Some(ta) = ta {
            out = Some(self.partials(ta, a, b, y, &[true, false])?.0);
        }
        if let Some(tb) = tb {
            let part = self.partials(tb, a, b, y, &[false, true])?.1;
            out = Some(match out {
                Some(acc) => acc.add(&part)?,
                None => part,
            });
        }
        match out {
            Some(t) if t.shape() == y.shape() => Ok(t),
            Some(t) => t.broadcast_to(y.shape()),
            None => Ok(y.zeros_like()),
        }
    }

    /// `(g ⊙ ∂y/∂a, g ⊙ ∂y/∂b)` elementwise (broadcast, not yet summed);
    /// only the entries `needs` asks for are meaningful.
    fn partials(self, g: &Tensor, a: &Tensor, b: &Tensor, y: &Tensor, needs: &[bool]) -> Result<(Tensor, Tensor)> {
        let (ga, gb) = match self {
            BinaryOp::Add => (g.clone(), g.clone()),
            BinaryOp::Sub => (g.clone(), g.neg()?),
            BinaryOp::Mul => {
                (if needs[0] { g.mul(b)? } else { g.clone() }, if needs[1] { g.mul(a)? } else { g.clone() })
            }
            BinaryOp::Div => {
                let ga = g.div(b)?;
                let gb = if needs[1] { ga.mul(y)?.neg()? } else { ga.clone() };
                (ga, gb)
            }
            BinaryOp::Pow => {
                // d/da = b·a^(b−1), taken as 0 where b = 0 (so 0^0 has slope 0);
                // d/db = y·ln a, taken as 0 where a = 0.
                let ga = if needs[0] {
                    let slope = b.mul(&a.pow(&b.add_scalar(-1.0)?)?)?;
                    let b_zero = b.equal(&b.zeros_like())?;
                    g.mul(&Tensor::where_(&b_zero, &slope.zeros_like(), &slope)?)?
                } else {
                    g.clone()
                };
                let gb = if needs[1] {
                    let a_zero = a.equal(&a.zeros_like())?;
                    let safe_a = Tensor::where_(&a_zero, &a.ones_like(), a)?;
                    g.mul(&y.mul(&safe_a.log()?)?)?
                } else {
                    g.clone()
                };
                (ga, gb)
            }
            BinaryOp::Maximum | BinaryOp::Minimum => {
                // Ties share the gradient equally (as JAX does).
                let wins = if self == BinaryOp::Maximum { a.greater(b)? } else { a.less(b)? };
                let ties = a.equal(b)?;
                let dt = g.dtype();
                let share = wins.to_dtype(dt)?.add(&ties.to_dtype(dt)?.mul_scalar(0.5)?)?;
                let ga = g.mul(&share)?;
                let gb = g.sub(&ga)?;
                (ga, gb)
            }
        };
        Ok((ga, gb))
    }
}

/// The dtype two operands of an arithmetic op or `where_` are cast to: a
/// 0-d operand against an n-d one is weak ([`DType::promote_weak`]); two of
/// the same standing promote normally ([`DType::promote`]).
pub(crate) fn operand_dtype(a: &Tensor, b: &Tensor) -> DType {
    match (a.ndim() == 0, b.ndim() == 0) {
        (false, true) => DType::promote_weak(a.dtype(), b.dtype()),
        (true, false) => DType::promote_weak(b.dtype(), a.dtype()),
        _ => DType::promote(a.dtype(), b.dtype()),
    }
}

/// The weak dtype of a Rust scalar: an integer (i64) if `c` is integral and
/// in i64's range, else a float.
fn scalar_kind(c: f64) -> DType {
    if exact_i64(c).is_some() { DType::I64 } else { DType::F64 }
}

impl Tensor {
    fn binary(&self, other: &Tensor, op: BinaryOp) -> Result<Tensor> {
        let dt = operand_dtype(self, other);
        let shape = broadcast_for(op.name(), &[self.shape(), other.shape()], Some(dt))?;
        if !dt.is_float() {
            let (a, b) = (self.to_dtype(DType::I64)?, other.to_dtype(DType::I64)?);
            let (Data::I64(x), Data::I64(y)) = (&a.data, &b.data) else { unreachable!("cast to i64") };
            return match op.int_kernel(x, y, &shape) {
                Some(r) => Ok(Tensor::from_data(Data::I64(r))),
                None => Err(LuxError::UnsupportedDType { op: op.name().into(), dtype: DType::I64 }),
            };
        }
        let a = self.to_dtype(dt)?;
        let b = other.to_dtype(dt)?;
        let data = match (a.compute_data(op.name())?, b.compute_data(op.name())?) {
            (FloatData::F32(x), FloatData::F32(y)) => FloatData::F32(op.float_kernel(&x, &y, &shape)),
            (FloatData::F64(x), FloatData::F64(y)) => FloatData::F64(op.float_kernel(&x, &y, &shape)),
            _ => unreachable!("both operands were cast to {dt}"),
        };
        Tensor::from_op(data.into_data(dt), Op::Binary(op), &[&a, &b])
    }

    /// `self + other`, broadcasting.
    ///
    /// Mixed dtypes promote with [`DType::promote`], except that a 0-d
    /// operand against an n-d one is weak ([`DType::promote_weak`]), so a
    /// 0-d f64 constant keeps an f32 tensor f32; the gradient with respect
    /// to that constant still comes back as f64. The same holds for every
    /// arithmetic op below and for [`where_`](Tensor::where_).
    ///
    /// ```
    /// use lux_core::{DType, Tensor};
    /// let x = Tensor::from_vec(vec![1.0f32, 2.0], &[2])?;
    /// let y = x.add(&Tensor::scalar(0.5f64))?;
    /// assert_eq!((y.dtype(), y.to_vec::<f32>()?), (DType::F32, vec![1.5, 2.5]));
    /// let i = Tensor::from_vec(vec![1i64, 2], &[2])?;
    /// assert_eq!(i.add(&Tensor::scalar(0.5f64))?.dtype(), DType::F32); // the default float
    /// assert_eq!(x.add(&Tensor::from_vec(vec![0.5f64], &[1])?)?.dtype(), DType::F64); // not 0-d: not weak
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// The shapes do not broadcast.
    pub fn add(&self, other: &Tensor) -> Result<Tensor> {
        self.binary(other, BinaryOp::Add)
    }
    /// `self − other`, broadcasting.
    ///
    /// ```
    /// use lux_core::Tensor;
    /// let x = Tensor::from_vec(vec![3.0f32, 5.0], &[2])?;
    /// let y = Tensor::from_vec(vec![1.0f32, 2.0], &[2])?;
    /// assert_eq!(x.sub(&y)?.to_vec::<f32>()?, vec![2.0, 3.0]);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// The shapes do not broadcast.
    pub fn sub(&self, other: &Tensor) -> Result<Tensor> {
        self.binary(other, BinaryOp::Sub)
    }
    /// `self · other` elementwise, broadcasting.
    ///
    /// ```
    /// use lux_core::Tensor;
    /// let x = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0], &[2, 2])?;
    /// let col = Tensor::from_vec(vec![10.0f32, 100.0], &[2, 1])?; // broadcast along the rows
    /// assert_eq!(x.mul(&col)?.to_vec::<f32>()?, vec![10.0, 20.0, 300.0, 400.0]);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// The shapes do not broadcast.
    pub fn mul(&self, other: &Tensor) -> Result<Tensor> {
        self.binary(other, BinaryOp::Mul)
    }
    /// `self / other` elementwise, broadcasting (floats only).
    ///
    /// ```
    /// use lux_core::Tensor;
    /// let x = Tensor::from_vec(vec![1.0f32, 3.0], &[2])?;
    /// assert_eq!(x.div(&Tensor::from_vec(vec![2.0f32, 4.0], &[2])?)?.to_vec::<f32>()?, vec![0.5, 0.75]);
    /// let i = Tensor::from_vec(vec![1i64, 3], &[2])?;
    /// assert_eq!(i.div(&i).unwrap_err().to_string(), "div: not supported for dtype i64");
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// The shapes do not broadcast, or both operands are integers.
    pub fn div(&self, other: &Tensor) -> Result<Tensor> {
        self.binary(other, BinaryOp::Div)
    }
    /// `self ^ other` elementwise, broadcasting (floats only).
    ///
    /// ```
    /// use lux_core::Tensor;
    /// let x = Tensor::from_vec(vec![2.0f32, 9.0], &[2])?;
    /// let p = Tensor::from_vec(vec![3.0f32, 0.5], &[2])?;
    /// assert_eq!(x.pow(&p)?.to_vec::<f32>()?, vec![8.0, 3.0]);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// The shapes do not broadcast, or both operands are integers.
    pub fn pow(&self, other: &Tensor) -> Result<Tensor> {
        self.binary(other, BinaryOp::Pow)
    }
    /// The larger of each pair (NaN wins); ties split the gradient evenly.
    ///
    /// ```
    /// use lux_core::Tensor;
    /// let x = Tensor::from_vec(vec![1.0f32, 5.0, 0.0], &[3])?;
    /// let y = Tensor::from_vec(vec![2.0f32, 4.0, f32::NAN], &[3])?;
    /// let m = x.maximum(&y)?.to_vec::<f32>()?;
    /// assert_eq!(&m[..2], &[2.0, 5.0]);
    /// assert!(m[2].is_nan());
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// The shapes do not broadcast.
    pub fn maximum(&self, other: &Tensor) -> Result<Tensor> {
        self.binary(other, BinaryOp::Maximum)
    }
    /// The smaller of each pair (NaN wins); ties split the gradient evenly.
    ///
    /// ```
    /// use lux_core::Tensor;
    /// let x = Tensor::from_vec(vec![1i64, 5, -2], &[3])?;
    /// let y = Tensor::from_vec(vec![2i64, 4, -2], &[3])?;
    /// assert_eq!(x.minimum(&y)?.to_vec::<i64>()?, vec![1, 4, -2]);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// The shapes do not broadcast.
    pub fn minimum(&self, other: &Tensor) -> Result<Tensor> {
        self.binary(other, BinaryOp::Minimum)
    }

    /// A 0-d tensor holding `value` converted to this tensor's dtype
    /// (rounded for floats; truncated toward zero, saturating, for i64;
    /// non-zero → `true` for bool). The scalar ops below do not use it: they
    /// never truncate.
    ///
    /// ```
    /// use lux_core::{DType, Tensor};
    /// let i = Tensor::from_vec(vec![1i64, 2], &[2])?;
    /// assert_eq!(i.scalar_like(2.7).to_scalar::<i64>()?, 2);
    /// assert_eq!(i.scalar_like(2.7).dtype(), DType::I64);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn scalar_like(&self, value: f64) -> Tensor {
        Tensor::full(&[], value, self.dtype()).expect("a 0-d tensor is always valid")
    }

    /// `c` as the weak 0-d operand of an op with `self`: in the dtype
    /// `DType::promote_weak(self.dtype(), kind of c)`, so the value is held
    /// exactly by an integer dtype or rounded once by a float one.
    fn weak_scalar(&self, c: f64) -> Tensor {
        let dt = DType::promote_weak(self.dtype(), scalar_kind(c));
        Tensor::full(&[], c, dt).expect("a 0-d tensor is always valid")
    }

    /// `self + c`, with `c` a weak scalar (as PyTorch's `t + c`): a float
    /// tensor keeps its dtype; on an i64 or bool tensor an integral `c`
    /// (within i64's range) gives i64, any other `c` (a fraction, NaN, ±∞)
    /// gives the default float dtype f32. `c` is never truncated.
    ///
    /// ```
    /// use lux_core::{DType, Tensor};
    /// let i = Tensor::from_vec(vec![3i64, 4], &[2])?;
    /// assert_eq!(i.add_scalar(2.0)?.to_vec::<i64>()?, vec![5, 6]);
    /// let f = i.add_scalar(0.5)?;
    /// assert_eq!((f.dtype(), f.to_vec::<f32>()?), (DType::F32, vec![3.5, 4.5]));
    /// let b = Tensor::from_vec(vec![true, false], &[2])?;
    /// assert_eq!(b.add_scalar(1.0)?.to_vec::<i64>()?, vec![2, 1]);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// As [`add`](Tensor::add).
    pub fn add_scalar(&self, c: f64) -> Result<Tensor> {
        self.add(&self.weak_scalar(c))
    }
    /// `self · c`, with `c` a weak scalar: dtypes as in
    /// [`add_scalar`](Tensor::add_scalar).
    ///
    /// ```
    /// use lux_core::{DType, Tensor};
    /// let i = Tensor::from_vec(vec![3i64, 4], &[2])?;
    /// assert_eq!(i.mul_scalar(0.5)?.to_vec::<f32>()?, vec![1.5, 2.0]);
    /// assert_eq!(i.mul_scalar(-2.0)?.to_vec::<i64>()?, vec![-6, -8]);
    /// let h = Tensor::ones(&[2], DType::F16)?;
    /// assert_eq!(h.mul_scalar(0.5)?.dtype(), DType::F16);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// As [`mul`](Tensor::mul).
    pub fn mul_scalar(&self, c: f64) -> Result<Tensor> {
        self.mul(&self.weak_scalar(c))
    }
    /// `self ^ p` for a constant exponent `p`, a weak scalar: dtypes as in
    /// [`add_scalar`](Tensor::add_scalar) (`i64.powf(0.5)` is an f32 square
    /// root).
    ///
    /// ```
    /// use lux_core::{DType, Tensor};
    /// let x = Tensor::from_vec(vec![4.0f32, 9.0], &[2])?;
    /// assert_eq!(x.powf(0.5)?.to_vec::<f32>()?, vec![2.0, 3.0]);
    /// let i = Tensor::from_vec(vec![4i64, 9], &[2])?;
    /// let r = i.powf(0.5)?;
    /// assert_eq!((r.dtype(), r.to_vec::<f32>()?), (DType::F32, vec![2.0, 3.0]));
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// As [`pow`](Tensor::pow): an integer `p` on an integer tensor.
    pub fn powf(&self, p: f64) -> Result<Tensor> {
        self.pow(&self.weak_scalar(p))
    }

    /// Elementwise values limited to `[min, max]`; the derivative is 1 inside
    /// (boundaries included) and 0 outside.
    ///
    /// The bounds are weak scalars: a float tensor keeps its dtype; an i64
    /// or bool tensor gives i64 when both bounds are integral (within i64's
    /// range) and the default float dtype f32 otherwise, so the bounds are
    /// never truncated.
    ///
    /// ```
    /// use lux_core::{DType, Tensor};
    /// let i = Tensor::from_vec(vec![0i64, 1, 2], &[3])?;
    /// assert_eq!(i.clamp(1.0, 1.0)?.to_vec::<i64>()?, vec![1, 1, 1]);
    /// let f = i.clamp(0.5, 1.5)?;
    /// assert_eq!((f.dtype(), f.to_vec::<f32>()?), (DType::F32, vec![0.5, 1.0, 1.5]));
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// `min > max` or either bound is NaN.
    pub fn clamp(&self, min: f64, max: f64) -> Result<Tensor> {
        if min.is_nan() || max.is_nan() || min > max {
            return Err(arg_err("clamp", format!("need min <= max, got min={min}, max={max}")));
        }
        let kind = DType::promote(scalar_kind(min), scalar_kind(max));
        let dt = DType::promote_weak(self.dtype(), kind);
        let x = self.to_dtype(dt)?;
        let (lo, hi) = (x.scalar_like(min), x.scalar_like(max));
        let upper = Tensor::where_(&x.greater(&hi)?, &hi, &x)?;
        Tensor::where_(&x.less(&lo)?, &lo, &upper)
    }

    fn compare(&self, other: &Tensor, name: &str, f: fn(std::cmp::Ordering) -> bool) -> Result<Tensor> {
        let shape = broadcast_for(name, &[self.shape(), other.shape()], Some(DType::Bool))?;
        let dt = DType::promote(self.dtype(), other.dtype());
        let a = self.detach().to_dtype(dt)?;
        let b = other.detach().to_dtype(dt)?;
        let out = with_data!(&a.data, x => {
            let y = same_type(x, &b.data).expect("operands were cast to one dtype");
            zip_arr(x, y, &shape, |p, q| p.partial_cmp(&q).is_some_and(f))
        });
        Ok(Tensor::from_data(Data::Bool(out)))
    }

    /// `self == other` elementwise, as a bool tensor (NaN ≠ NaN).
    ///
    /// ```
    /// use lux_core::Tensor;
    /// let x = Tensor::from_vec(vec![1.0f32, 2.0, f32::NAN], &[3])?;
    /// let y = Tensor::from_vec(vec![1.0f32, 3.0, f32::NAN], &[3])?;
    /// assert_eq!(x.equal(&y)?.to_vec::<bool>()?, vec![true, false, false]);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// The shapes do not broadcast.
    pub fn equal(&self, other: &Tensor) -> Result<Tensor> {
        self.compare(other, "equal", |o| o.is_eq())
    }
    /// `self != other` elementwise (true where either is NaN).
    ///
    /// ```
    /// use lux_core::Tensor;
    /// let x = Tensor::from_vec(vec![1.0f32, 2.0, f32::NAN], &[3])?;
    /// let y = Tensor::from_vec(vec![1.0f32, 3.0, f32::NAN], &[3])?;
    /// assert_eq!(x.not_equal(&y)?.to_vec::<bool>()?, vec![false, true, true]);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// The shapes do not broadcast.
    pub fn not_equal(&self, other: &Tensor) -> Result<Tensor> {
        self.equal(other)?.logical_not()
    }
    /// `self < other` elementwise.
    ///
    /// ```
    /// use lux_core::Tensor;
    /// let x = Tensor::from_vec(vec![1i64, 2, 3], &[3])?;
    /// assert_eq!(x.less(&Tensor::scalar(2i64))?.to_vec::<bool>()?, vec![true, false, false]);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// The shapes do not broadcast.
    pub fn less(&self, other: &Tensor) -> Result<Tensor> {
        self.compare(other, "less", |o| o.is_lt())
    }
    /// `self <= other` elementwise.
    ///
    /// ```
    /// use lux_core::Tensor;
    /// let x = Tensor::from_vec(vec![1i64, 2, 3], &[3])?;
    /// assert_eq!(x.less_equal(&Tensor::scalar(2i64))?.to_vec::<bool>()?, vec![true, true, false]);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// The shapes do not broadcast.
    pub fn less_equal(&self, other: &Tensor) -> Result<Tensor> {
        self.compare(other, "less_equal", |o| o.is_le())
    }
    /// `self > other` elementwise.
    ///
    /// ```
    /// use lux_core::Tensor;
    /// let x = Tensor::from_vec(vec![1i64, 2, 3], &[3])?;
    /// assert_eq!(x.greater(&Tensor::scalar(1.5f64))?.to_vec::<bool>()?, vec![false, true, true]);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// The shapes do not broadcast.
    pub fn greater(&self, other: &Tensor) -> Result<Tensor> {
        self.compare(other, "greater", |o| o.is_gt())
    }
    /// `self >= other` elementwise.
    ///
    /// ```
    /// use lux_core::Tensor;
    /// let x = Tensor::from_vec(vec![1.0f32, 2.0, 3.0], &[3])?;
    /// let y = Tensor::from_vec(vec![3.0f32, 2.0, 1.0], &[3])?;
    /// assert_eq!(x.greater_equal(&y)?.to_vec::<bool>()?, vec![false, true, true]);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// The shapes do not broadcast.
    pub fn greater_equal(&self, other: &Tensor) -> Result<Tensor> {
        self.compare(other, "greater_equal", |o| o.is_ge())
    }

    fn bool_array(&self, op: &str) -> Result<&ArcArray<bool, IxDyn>> {
        self.array::<bool>(op)
    }
    /// Elementwise NOT of a bool tensor.
    ///
    /// ```
    /// use lux_core::Tensor;
    /// let m = Tensor::from_vec(vec![true, false], &[2])?;
    /// assert_eq!(m.logical_not()?.to_vec::<bool>()?, vec![false, true]);
    /// let i = Tensor::from_vec(vec![1i64], &[1])?;
    /// assert_eq!(i.logical_not().unwrap_err().to_string(), "logical_not: expected dtype bool, got i64");
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn logical_not(&self) -> Result<Tensor> {
        Ok(Tensor::from_data(Data::Bool(map_arr(self.bool_array("logical_not")?, |v: bool| !v))))
    }
    /// Elementwise AND of bool tensors, broadcasting.
    ///
    /// ```
    /// use lux_core::Tensor;
    /// let a = Tensor::from_vec(vec![true, true, false], &[3])?;
    /// let b = Tensor::from_vec(vec![true, false, false], &[3])?;
    /// assert_eq!(a.logical_and(&b)?.to_vec::<bool>()?, vec![true, false, false]);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn logical_and(&self, other: &Tensor) -> Result<Tensor> {
        let shape = broadcast_for("logical_and", &[self.shape(), other.shape()], Some(DType::Bool))?;
        let (a, b) = (self.bool_array("logical_and")?, other.bool_array("logical_and")?);
        Ok(Tensor::from_data(Data::Bool(zip_arr(a, b, &shape, |p: bool, q: bool| p && q))))
    }
    /// Elementwise OR of bool tensors, broadcasting.
    ///
    /// ```
    /// use lux_core::Tensor;
    /// let a = Tensor::from_vec(vec![true, false, false], &[3])?;
    /// let b = Tensor::from_vec(vec![false, true, false], &[3])?;
    /// assert_eq!(a.logical_or(&b)?.to_vec::<bool>()?, vec![true, true, false]);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn logical_or(&self, other: &Tensor) -> Result<Tensor> {
        let shape = broadcast_for("logical_or", &[self.shape(), other.shape()], Some(DType::Bool))?;
        let (a, b) = (self.bool_array("logical_or")?, other.bool_array("logical_or")?);
        Ok(Tensor::from_data(Data::Bool(zip_arr(a, b, &shape, |p: bool, q: bool| p || q))))
    }

    /// `on_true` where `cond` holds, else `on_false`; all three broadcast.
    /// The result has the promoted dtype of `on_true` and `on_false` (a 0-d
    /// branch against an n-d one is weak, as in arithmetic: `where_(m, x_f32,
    /// scalar(0.0f64))` is f32); gradients flow to the branch that was chosen.
    ///
    /// ```
    /// use lux_core::Tensor;
    /// let x = Tensor::from_vec(vec![-1.0f32, 2.0, -3.0], &[3])?;
    /// let relu = Tensor::where_(&x.greater(&x.zeros_like())?, &x, &x.zeros_like())?;
    /// assert_eq!(relu.to_vec::<f32>()?, vec![0.0, 2.0, 0.0]);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// `cond` is not a bool tensor, or the shapes do not broadcast.
    pub fn where_(cond: &Tensor, on_true: &Tensor, on_false: &Tensor) -> Result<Tensor> {
        let c = cond.bool_array("where_")?;
        let dt = operand_dtype(on_true, on_false);
        let shape = broadcast_for("where_", &[cond.shape(), on_true.shape(), on_false.shape()], Some(dt))?;
        let a = on_true.to_dtype(dt)?;
        let b = on_false.to_dtype(dt)?;
        let out = with_data!(&a.data, x => {
            let y = same_type(x, &b.data).expect("operands were cast to one dtype");
            Sealed::wrap(select(c, x, y, &shape))
        });
        Tensor::from_op(out, Op::Where, &[&cond.detach(), &a, &b])
    }
}

fn select<T: Element>(
    c: &ArcArray<bool, IxDyn>,
    a: &ArcArray<T, IxDyn>,
    b: &ArcArray<T, IxDyn>,
    shape: &[usize],
) -> ArcArray<T, IxDyn> {
    let s = IxDyn(shape);
    let (cv, av, bv) = (c.broadcast(s.clone()).unwrap(), a.broadcast(s.clone()).unwrap(), b.broadcast(s).unwrap());
    Zip::from(&cv).and(&av).and(&bv).map_collect(|&k, &x, &y| if k { x } else { y }).into_shared()
}

/// Gradients of `where_(cond, a, b)`.
/// The tangent of `where_(cond, a, b)`: the chosen branch's tangent.
pub(crate) fn where_tangent(inputs: &[Tensor], y: &Tensor, tangents: &[Option<Tensor>]) -> Result<Tensor> {
    let zero = y.zeros_like();
    let ta = tangents[1].as_ref().unwrap_or(&zero);
    let tb = tangents[2].as_ref().unwrap_or(&zero);
    Tensor::where_(&inputs[0], ta, tb)?.broadcast_to(y.shape())
}

pub(crate) fn where_backward(g: &Tensor, inputs: &[Tensor], needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
    let (cond, a, b) = (&inputs[0], &inputs[1], &inputs[2]);
    let zero = g.zeros_like();
    let ga = if needs[1] { Some(Tensor::where_(cond, g, &zero)?.sum_to(a.shape())?) } else { None };
    let gb = if needs[2] { Some(Tensor::where_(cond, &zero, g)?.sum_to(b.shape())?) } else { None };
    Ok(vec![None, ga, gb])
}

// ----- operators: shorthands that panic where the methods return Err -----

macro_rules! operator {
    ($Trait:ident, $fn:ident, $method:ident) => {
        impl std::ops::$Trait<&Tensor> for &Tensor {
            type Output = Tensor;
            /// # Panics
            /// Where the method of the same name returns an error.
            #[track_caller]
            fn $fn(self, rhs: &Tensor) -> Tensor {
                self.$method(rhs).unwrap_or_else(|e| panic!("{e}"))
            }
        }
        impl std::ops::$Trait<Tensor> for Tensor {
            type Output = Tensor;
            #[track_caller]
            fn $fn(self, rhs: Tensor) -> Tensor {
                std::ops::$Trait::$fn(&self, &rhs)
            }
        }
        impl std::ops::$Trait<&Tensor> for Tensor {
            type Output = Tensor;
            #[track_caller]
            fn $fn(self, rhs: &Tensor) -> Tensor {
                std::ops::$Trait::$fn(&self, rhs)
            }
        }
        impl std::ops::$Trait<f64> for &Tensor {
            type Output = Tensor;
            #[track_caller]
            fn $fn(self, rhs: f64) -> Tensor {
                std::ops::$Trait::$fn(self, &self.weak_scalar(rhs))
            }
        }
        impl std::ops::$Trait<f64> for Tensor {
            type Output = Tensor;
            #[track_caller]
            fn $fn(self, rhs: f64) -> Tensor {
                std::ops::$Trait::$fn(&self, rhs)
            }
        }
    };
}
operator!(Add, add, add);
operator!(Sub, sub, sub);
operator!(Mul, mul, mul);
operator!(Div, div, div);

impl std::ops::Neg for &Tensor {
    type Output = Tensor;
    #[track_caller]
    fn neg(self) -> Tensor {
        Tensor::neg(self).unwrap_or_else(|e| panic!("{e}"))
    }
}
impl std::ops::Neg for Tensor {
    type Output = Tensor;
    #[track_caller]
    fn neg(self) -> Tensor {
        Tensor::neg(&self).unwrap_or_else(|e| panic!("{e}"))
    }
}

#[cfg(test)]
mod tests {
    use crate::{DType, Tensor};

    #[test]
    fn broadcast_arithmetic_matches_hand_values() -> crate::Result<()> {
        let a = Tensor::from_vec(vec![1.0f64, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3])?;
        let col = Tensor::from_vec(vec![10.0f64, 20.0], &[2, 1])?;
        assert_eq!(a.add(&col)?.to_vec::<f64>()?, vec![11.0, 12.0, 13.0, 24.0, 25.0, 26.0]);
        assert_eq!(a.sub(&col)?.to_vec::<f64>()?, vec![-9.0, -8.0, -7.0, -16.0, -15.0, -14.0]);
        assert_eq!(a.mul(&col)?.to_vec::<f64>()?, vec![10.0, 20.0, 30.0, 80.0, 100.0, 120.0]);
        assert_eq!(col.div(&a)?.to_vec::<f64>()?, vec![10.0, 5.0, 10.0 / 3.0, 5.0, 4.0, 20.0 / 6.0]);
        assert_eq!(a.powf(2.0)?.to_vec::<f64>()?, vec![1.0, 4.0, 9.0, 16.0, 25.0, 36.0]);
        let t = a.transpose(0, 1)?; // [3, 2], non-contiguous
        let row = Tensor::from_vec(vec![100.0f64, 200.0], &[2])?;
        assert_eq!(t.add(&row)?.to_vec::<f64>()?, vec![101.0, 204.0, 102.0, 205.0, 103.0, 206.0]);
        assert!(a.add(&Tensor::zeros(&[4], DType::F64)?).is_err());
        Ok(())
    }

    #[test]
    fn promotion_and_ints() -> crate::Result<()> {
        let h = Tensor::from_vec(vec![half::f16::from_f32(1.5)], &[1])?;
        let f = Tensor::from_vec(vec![2.0f32], &[1])?;
        let i = Tensor::from_vec(vec![3i64], &[1])?;
        assert_eq!(h.add(&f)?.dtype(), DType::F32);
        assert_eq!(h.add(&i)?.dtype(), DType::F16);
        assert_eq!(i.mul(&i)?.to_vec::<i64>()?, vec![9]);
        assert!(i.div(&i).is_err());
        Ok(())
    }

    #[test]
    fn maximum_minimum_nan_and_where_clamp() -> crate::Result<()> {
        let a = Tensor::from_vec(vec![1.0f32, f32::NAN, 3.0], &[3])?;
        let b = Tensor::from_vec(vec![2.0f32, 0.0, 3.0], &[3])?;
        let m = a.maximum(&b)?.to_vec::<f32>()?;
        assert_eq!(m[0], 2.0);
        assert!(m[1].is_nan());
        assert_eq!(m[2], 3.0);
        assert_eq!(a.minimum(&b)?.to_vec::<f32>()?[0], 1.0);
        let x = Tensor::from_vec(vec![-2.0f32, 0.5, 7.0], &[3])?;
        assert_eq!(x.clamp(-1.0, 1.0)?.to_vec::<f32>()?, vec![-1.0, 0.5, 1.0]);
        assert!(x.clamp(1.0, -1.0).is_err());
        assert_eq!(a.equal(&b)?.to_vec::<bool>()?, vec![false, false, true]);
        assert_eq!(a.not_equal(&b)?.to_vec::<bool>()?, vec![true, true, false]);
        assert!(Tensor::where_(&x, &x, &x).is_err(), "cond must be bool");
        Ok(())
    }
}
