//! [`Tensor`]: a dtype-dynamic, shared, n-dimensional array.

use crate::DType;
use crate::autodiff::Node;
use crate::dtype::{Data, Element, same_type, with_data};
use crate::error::{LuxError, Result, arg_err, shape_err};
use half::{bf16, f16};
use ndarray::{ArcArray, ArrayD, IxDyn};
use rand::{Rng, RngExt};
use std::fmt;
use std::sync::Arc;

/// An n-dimensional array of one [`DType`], row-major, with cheap clones.
///
/// Cloning shares the storage (an `Arc`); ops never mutate their inputs.
/// Views produced by [`transpose`](Tensor::transpose), [`permute`](Tensor::permute),
/// [`broadcast_to`](Tensor::broadcast_to) and [`narrow`](Tensor::narrow) share
/// storage too and may be non-contiguous; every op accepts them.
///
/// Ops are methods returning [`Result`]; the operators `+ - * /` and unary `-`
/// are shorthands that **panic** where the method would return an error
/// (shapes that do not broadcast, non-numeric dtypes).
///
/// ```
/// use lux_core::{DType, Tensor};
/// let x = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3])?;
/// let b = Tensor::from_vec(vec![10.0f32, 20.0, 30.0], &[3])?;
/// let y = x.add(&b)?; // broadcasts over the batch axis
/// assert_eq!(y.shape(), &[2, 3]);
/// assert_eq!(y.to_vec::<f32>()?, vec![11.0, 22.0, 33.0, 14.0, 25.0, 36.0]);
/// assert_eq!(y.dtype(), DType::F32);
/// # Ok::<(), lux_core::LuxError>(())
/// ```
#[derive(Clone)]
pub struct Tensor {
    pub(crate) data: Data,
    pub(crate) node: Option<Arc<Node>>,
}

/// Elements above which elementwise kernels and reductions use rayon.
pub(crate) const PAR_THRESHOLD: usize = 1 << 16;

impl Tensor {
    pub(crate) fn from_data(data: Data) -> Tensor {
        Tensor { data, node: None }
    }

    // ----- construction -------------------------------------------------

    /// A tensor of `shape` holding `values` in row-major order.
    ///
    /// # Errors
    /// `values.len()` differs from the product of `shape`.
    pub fn from_vec<T: Element>(values: Vec<T>, shape: &[usize]) -> Result<Tensor> {
        let n: usize = shape.iter().product();
        if n != values.len() {
            return Err(shape_err(
                "Tensor::from_vec",
                format!("{} values do not fill shape {:?} ({} elements)", values.len(), shape, n),
            ));
        }
        let a =
            ArcArray::from_shape_vec(IxDyn(shape), values).map_err(|e| shape_err("Tensor::from_vec", e.to_string()))?;
        Ok(Tensor::from_data(T::wrap(a)))
    }

    /// Like [`from_vec`](Tensor::from_vec), copying from a slice.
    pub fn from_slice<T: Element>(values: &[T], shape: &[usize]) -> Result<Tensor> {
        Tensor::from_vec(values.to_vec(), shape)
    }

    /// Wraps an ndarray without copying.
    pub fn from_ndarray<T: Element, D: ndarray::Dimension>(a: ndarray::Array<T, D>) -> Tensor {
        Tensor::from_data(T::wrap(a.into_dyn().into_shared()))
    }

    /// A 0-dimensional tensor.
    ///
    /// ```
    /// let s = lux_core::Tensor::scalar(2.5f64);
    /// assert_eq!(s.shape(), &[] as &[usize]);
    /// assert_eq!(s.to_scalar::<f64>()?, 2.5);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn scalar<T: Element>(value: T) -> Tensor {
        Tensor::from_data(T::wrap(ArcArray::from_elem(IxDyn(&[]), value)))
    }

    /// A tensor of `shape` and `dtype` filled with `value` (converted to `dtype`).
    pub fn full(shape: &[usize], value: f64, dtype: DType) -> Result<Tensor> {
        fn make<T: Element>(shape: &[usize], v: f64) -> Data {
            T::wrap(ArcArray::from_elem(IxDyn(shape), T::from_f64(v)))
        }
        checked_len(shape)?;
        Ok(Tensor::from_data(match dtype {
            DType::Bool => make::<bool>(shape, value),
            DType::I64 => make::<i64>(shape, value),
            DType::F16 => make::<f16>(shape, value),
            DType::BF16 => make::<bf16>(shape, value),
            DType::F32 => make::<f32>(shape, value),
            DType::F64 => make::<f64>(shape, value),
        }))
    }

    /// Zeros of `shape` and `dtype`.
    pub fn zeros(shape: &[usize], dtype: DType) -> Result<Tensor> {
        Tensor::full(shape, 0.0, dtype)
    }

    /// Ones of `shape` and `dtype`.
    pub fn ones(shape: &[usize], dtype: DType) -> Result<Tensor> {
        Tensor::full(shape, 1.0, dtype)
    }

    /// Zeros with this tensor's shape and dtype (a constant).
    pub fn zeros_like(&self) -> Tensor {
        Tensor::full(self.shape(), 0.0, self.dtype()).expect("shape of an existing tensor is valid")
    }

    /// Ones with this tensor's shape and dtype (a constant).
    pub fn ones_like(&self) -> Tensor {
        Tensor::full(self.shape(), 1.0, self.dtype()).expect("shape of an existing tensor is valid")
    }

    /// `start, start + step, …` up to but excluding `end`, as a 1-d tensor.
    ///
    /// ```
    /// use lux_core::{DType, Tensor};
    /// let t = Tensor::arange(0.0, 1.0, 0.25, DType::F32)?;
    /// assert_eq!(t.to_vec::<f32>()?, vec![0.0, 0.25, 0.5, 0.75]);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// `step` is zero or not finite, or the bounds are not finite.
    pub fn arange(start: f64, end: f64, step: f64, dtype: DType) -> Result<Tensor> {
        if !(step.is_finite() && step != 0.0 && start.is_finite() && end.is_finite()) {
            return Err(arg_err(
                "arange",
                format!("need finite bounds and a non-zero step, got {start}..{end} step {step}"),
            ));
        }
        let n = ((end - start) / step).ceil().max(0.0) as usize;
        let values: Vec<f64> = (0..n).map(|i| start + i as f64 * step).collect();
        Tensor::from_vec(values, &[n])?.to_dtype(dtype)
    }

    /// Uniform samples in `[0, 1)` drawn from `rng`.
    pub fn rand<R: Rng + ?Sized>(rng: &mut R, shape: &[usize], dtype: DType) -> Result<Tensor> {
        float_dtype("rand", dtype)?;
        let n = checked_len(shape)?;
        let values: Vec<f64> = (0..n).map(|_| rng.random::<f64>()).collect();
        Tensor::from_vec(values, shape)?.to_dtype(dtype)
    }

    /// Standard-normal samples drawn from `rng` (Box–Muller).
    pub fn randn<R: Rng + ?Sized>(rng: &mut R, shape: &[usize], dtype: DType) -> Result<Tensor> {
        float_dtype("randn", dtype)?;
        let n = checked_len(shape)?;
        let mut values = Vec::with_capacity(n + 1);
        while values.len() < n {
            // 1 - u lies in (0, 1], so the logarithm is finite.
            let u1 = 1.0 - rng.random::<f64>();
            let u2 = rng.random::<f64>();
            let r = (-2.0 * u1.ln()).sqrt();
            let theta = 2.0 * std::f64::consts::PI * u2;
            values.push(r * theta.cos());
            values.push(r * theta.sin());
        }
        values.truncate(n);
        Tensor::from_vec(values, shape)?.to_dtype(dtype)
    }

    // ----- inspection -----------------------------------------------------

    /// The extent of every axis.
    pub fn shape(&self) -> &[usize] {
        self.data.shape()
    }

    /// The element type.
    pub fn dtype(&self) -> DType {
        self.data.dtype()
    }

    /// The number of axes.
    pub fn ndim(&self) -> usize {
        self.shape().len()
    }

    /// The number of elements.
    pub fn len(&self) -> usize {
        self.shape().iter().product()
    }

    /// `true` if the tensor has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `true` if the elements are stored contiguously in row-major order.
    pub fn is_contiguous(&self) -> bool {
        with_data!(&self.data, a => a.is_standard_layout())
    }

    /// `true` if `self` and `other` share their storage buffer.
    pub fn shares_storage_with(&self, other: &Tensor) -> bool {
        with_data!(&self.data, a => same_type(a, &other.data).is_some_and(|b| a.as_ptr() == b.as_ptr()))
    }

    // ----- read back ------------------------------------------------------

    /// The elements in row-major order.
    ///
    /// # Errors
    /// `T` is not this tensor's dtype.
    pub fn to_vec<T: Element>(&self) -> Result<Vec<T>> {
        Ok(self.array::<T>("to_vec")?.iter().copied().collect())
    }

    /// The elements converted to f64, in row-major order, whatever the dtype.
    pub fn to_f64_vec(&self) -> Vec<f64> {
        with_data!(&self.data, a => a.iter().map(|x| x.to_f64()).collect())
    }

    /// The single element of a one-element tensor.
    ///
    /// # Errors
    /// `T` is not this tensor's dtype, or the tensor does not have exactly one element.
    pub fn to_scalar<T: Element>(&self) -> Result<T> {
        let a = self.array::<T>("to_scalar")?;
        if a.len() != 1 {
            return Err(shape_err(
                "to_scalar",
                format!("tensor of shape {:?} has {} elements, not 1", a.shape(), a.len()),
            ));
        }
        Ok(*a.iter().next().expect("one element"))
    }

    /// A copy as an ndarray.
    ///
    /// # Errors
    /// `T` is not this tensor's dtype.
    pub fn to_ndarray<T: Element>(&self) -> Result<ArrayD<T>> {
        Ok(self.array::<T>("to_ndarray")?.to_owned())
    }

    /// Converts into an ndarray, without copying when the storage is not shared.
    pub fn into_ndarray<T: Element>(self) -> Result<ArrayD<T>> {
        let a = self.array::<T>("into_ndarray")?.clone();
        drop(self);
        Ok(a.into_owned())
    }

    /// The shared array inside, if `T` is the dtype.
    pub(crate) fn array<T: Element>(&self, op: &str) -> Result<&ArcArray<T, IxDyn>> {
        T::unwrap(&self.data).ok_or_else(|| LuxError::DType {
            op: op.to_string(),
            expected: T::DTYPE.name().into(),
            got: self.dtype(),
        })
    }

    /// The values in the compute type (f16/bf16 widened to f32), for float
    /// tensors. This is how kernels outside lux-core read a tensor: match on
    /// the [`FloatData`] (or use [`map_float!`](crate::map_float)) and write
    /// generic code over [`Real`](crate::Real).
    ///
    /// ```
    /// use lux_core::{DType, Tensor};
    /// let x = Tensor::from_vec(vec![1.0f64, 4.0], &[2])?;
    /// let y = lux_core::map_float!(x.compute_data("sqrt")?, a => a.mapv(|v| v.sqrt()).into_shared());
    /// assert_eq!(y.into_tensor(DType::F64).to_vec::<f64>()?, vec![1.0, 2.0]);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// The tensor is not a float tensor (`op` names the caller in the error).
    pub fn compute_data(&self, op: &str) -> Result<FloatData> {
        Ok(match &self.data {
            Data::F32(a) => FloatData::F32(a.clone()),
            Data::F64(a) => FloatData::F64(a.clone()),
            Data::F16(a) => FloatData::F32(a.mapv(f32::from).into_shared()),
            Data::BF16(a) => FloatData::F32(a.mapv(f32::from).into_shared()),
            _ => return Err(LuxError::UnsupportedDType { op: op.into(), dtype: self.dtype() }),
        })
    }
}

pub(crate) fn float_dtype(op: &str, dtype: DType) -> Result<()> {
    if dtype.is_float() { Ok(()) } else { Err(LuxError::UnsupportedDType { op: op.into(), dtype }) }
}

pub(crate) fn checked_len(shape: &[usize]) -> Result<usize> {
    shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .filter(|&n| n <= isize::MAX as usize / 8)
        .ok_or_else(|| shape_err("tensor", format!("shape {shape:?} has too many elements")))
}

/// Float values in their compute type: f32 (also for f16/bf16 tensors) or
/// f64. Produced by [`Tensor::compute_data`]; turned back into a tensor by
/// [`FloatData::into_tensor`].
#[derive(Clone, Debug)]
pub enum FloatData {
    /// f32 values (from an f16, bf16 or f32 tensor).
    F32(ArcArray<f32, IxDyn>),
    /// f64 values.
    F64(ArcArray<f64, IxDyn>),
}

/// Runs the same generic code on the array inside a [`FloatData`] whatever
/// its element type, and re-wraps the result: `map_float!(data, a => expr)`
/// where `expr` yields an `ArcArray<T, IxDyn>` of the same `T` as `a`.
/// See [`Tensor::compute_data`] for an example.
#[macro_export]
macro_rules! map_float {
    ($fd:expr, $a:ident => $body:expr) => {
        match $fd {
            $crate::FloatData::F32($a) => $crate::FloatData::F32($body),
            $crate::FloatData::F64($a) => $crate::FloatData::F64($body),
        }
    };
}

impl FloatData {
    /// Back to storage of `dtype` (rounding to f16/bf16 where asked).
    pub(crate) fn into_data(self, dtype: DType) -> Data {
        match (self, dtype) {
            (FloatData::F32(a), DType::F16) => Data::F16(a.mapv(f16::from_f32).into_shared()),
            (FloatData::F32(a), DType::BF16) => Data::BF16(a.mapv(bf16::from_f32).into_shared()),
            (FloatData::F32(a), _) => Data::F32(a),
            (FloatData::F64(a), _) => Data::F64(a),
        }
    }

    /// An untracked tensor of `dtype` holding these values: f32 values are
    /// rounded once when `dtype` is f16 or bf16; otherwise the storage is
    /// moved, not copied, and `dtype` is ignored.
    pub fn into_tensor(self, dtype: DType) -> Tensor {
        Tensor::from_data(self.into_data(dtype))
    }

    /// The array inside, if its element type is `T`: lets generic kernels
    /// take further operands of the type they were dispatched on.
    ///
    /// ```
    /// use lux_core::Tensor;
    /// let d = Tensor::from_vec(vec![1.0f64], &[1])?.compute_data("example")?;
    /// assert!(d.array::<f64>().is_some() && d.array::<f32>().is_none());
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn array<T: crate::Real>(&self) -> Option<&ArcArray<T, IxDyn>> {
        T::float_array(self)
    }

    /// The shape of the values.
    pub fn shape(&self) -> &[usize] {
        match self {
            FloatData::F32(a) => a.shape(),
            FloatData::F64(a) => a.shape(),
        }
    }
}

impl fmt::Debug for Tensor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Tensor<{}>{:?}", self.dtype(), self.shape())?;
        if self.is_tracked() {
            write!(f, " (tracked)")?;
        }
        write!(f, " ")?;
        with_data!(&self.data, a => fmt::Debug::fmt(&a.view(), f))
    }
}

impl fmt::Display for Tensor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        with_data!(&self.data, a => fmt::Display::fmt(&a.view(), f))
    }
}

impl PartialEq for Tensor {
    /// Same dtype, shape and elements (the autodiff record is ignored).
    fn eq(&self, other: &Self) -> bool {
        self.dtype() == other.dtype()
            && self.shape() == other.shape()
            && with_data!(&self.data, a => same_type(a, &other.data).is_some_and(|b| a == b))
    }
}

impl<T: Element, D: ndarray::Dimension> From<ndarray::Array<T, D>> for Tensor {
    fn from(a: ndarray::Array<T, D>) -> Self {
        Tensor::from_ndarray(a)
    }
}

// ----- serde: {shape, dtype, data} with data as plain numbers ---------------------

/// Data tagged by dtype; half and single precision values are stored as the
/// f64 numbers they exactly equal.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(tag = "dtype", content = "data", rename_all = "lowercase")]
enum Payload {
    Bool(Vec<bool>),
    I64(Vec<i64>),
    F16(Vec<f64>),
    BF16(Vec<f64>),
    F32(Vec<f64>),
    F64(Vec<f64>),
}

#[derive(serde::Serialize, serde::Deserialize)]
struct TensorRepr {
    shape: Vec<usize>,
    #[serde(flatten)]
    payload: Payload,
}

impl serde::Serialize for Tensor {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let payload = match &self.data {
            Data::Bool(a) => Payload::Bool(a.iter().copied().collect()),
            Data::I64(a) => Payload::I64(a.iter().copied().collect()),
            Data::F16(_) => Payload::F16(self.to_f64_vec()),
            Data::BF16(_) => Payload::BF16(self.to_f64_vec()),
            Data::F32(_) => Payload::F32(self.to_f64_vec()),
            Data::F64(a) => Payload::F64(a.iter().copied().collect()),
        };
        TensorRepr { shape: self.shape().to_vec(), payload }.serialize(s)
    }
}

impl<'de> serde::Deserialize<'de> for Tensor {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        use serde::de::Error;
        let TensorRepr { shape, payload } = TensorRepr::deserialize(d)?;
        let floats = |v: Vec<f64>, dt: DType| Tensor::from_vec(v, &shape).and_then(|t| t.to_dtype(dt));
        let t = match payload {
            Payload::Bool(v) => Tensor::from_vec(v, &shape),
            Payload::I64(v) => Tensor::from_vec(v, &shape),
            Payload::F16(v) => floats(v, DType::F16),
            Payload::BF16(v) => floats(v, DType::BF16),
            Payload::F32(v) => floats(v, DType::F32),
            Payload::F64(v) => floats(v, DType::F64),
        };
        t.map_err(D::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    #[test]
    fn constructors() -> Result<()> {
        assert!(Tensor::from_vec(vec![1.0f32; 5], &[2, 3]).is_err());
        assert_eq!(Tensor::full(&[2], 2.5, DType::F64)?.to_vec::<f64>()?, vec![2.5, 2.5]);
        assert_eq!(Tensor::ones(&[2], DType::I64)?.to_vec::<i64>()?, vec![1, 1]);
        assert_eq!(Tensor::zeros(&[1], DType::Bool)?.to_vec::<bool>()?, vec![false]);
        assert_eq!(Tensor::arange(5.0, 0.0, -2.0, DType::I64)?.to_vec::<i64>()?, vec![5, 3, 1]);
        assert!(Tensor::arange(0.0, 1.0, 0.0, DType::F32).is_err());
        assert!(Tensor::full(&[usize::MAX, 2], 0.0, DType::F32).is_err());
        let s = Tensor::scalar(3i64);
        assert_eq!((s.ndim(), s.len()), (0, 1));
        assert!(s.to_scalar::<f32>().is_err(), "dtype mismatch is an error");
        assert!(Tensor::zeros(&[2], DType::F32)?.to_scalar::<f32>().is_err(), "two elements");
        Ok(())
    }

    #[test]
    fn random_tensors_have_the_right_distribution() -> Result<()> {
        let mut rng = StdRng::seed_from_u64(7);
        let u = Tensor::rand(&mut rng, &[20_000], DType::F64)?.to_vec::<f64>()?;
        assert!(u.iter().all(|&v| (0.0..1.0).contains(&v)));
        let mean = u.iter().sum::<f64>() / u.len() as f64;
        assert!((mean - 0.5).abs() < 0.01, "{mean}");
        let n = Tensor::randn(&mut rng, &[20_001], DType::F64)?.to_vec::<f64>()?;
        let m = n.iter().sum::<f64>() / n.len() as f64;
        let var = n.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / n.len() as f64;
        assert!(m.abs() < 0.03 && (var - 1.0).abs() < 0.04, "mean {m}, var {var}");
        // same seed, same values
        let a = Tensor::randn(&mut StdRng::seed_from_u64(1), &[4], DType::F32)?;
        let b = Tensor::randn(&mut StdRng::seed_from_u64(1), &[4], DType::F32)?;
        assert_eq!(a, b);
        assert!(Tensor::rand(&mut rng, &[2], DType::I64).is_err());
        Ok(())
    }

    #[test]
    fn ndarray_round_trip_without_copy() -> Result<()> {
        let a = ndarray::Array2::from_shape_vec((2, 2), vec![1.0f32, 2.0, 3.0, 4.0]).unwrap();
        let ptr = a.as_ptr();
        let t = Tensor::from(a);
        assert_eq!(t.shape(), &[2, 2]);
        let back = t.into_ndarray::<f32>()?;
        assert_eq!(back.as_ptr(), ptr, "unshared storage converts back without a copy");
        assert!(Tensor::scalar(1.0f64).into_ndarray::<f32>().is_err());
        Ok(())
    }

    #[test]
    fn broadcast_to_and_sum_to_are_adjoint_shapes() -> Result<()> {
        let x = Tensor::from_vec(vec![1.0f64, 2.0, 3.0], &[3, 1])?;
        let b = x.broadcast_to(&[2, 3, 2])?;
        assert_eq!(b.to_vec::<f64>()?, vec![1.0, 1.0, 2.0, 2.0, 3.0, 3.0, 1.0, 1.0, 2.0, 2.0, 3.0, 3.0]);
        assert_eq!(b.sum_to(&[3, 1])?.to_vec::<f64>()?, vec![4.0, 8.0, 12.0]);
        assert!(x.broadcast_to(&[3, 2, 2]).is_err());
        assert!(b.sum_to(&[4]).is_err());
        let m = Tensor::from_vec(vec![true, false, true], &[3])?;
        let n = Tensor::from_vec(vec![true, true, false], &[3])?;
        assert_eq!(m.logical_and(&n)?.to_vec::<bool>()?, vec![true, false, false]);
        assert_eq!(m.logical_or(&n)?.to_vec::<bool>()?, vec![true, true, true]);
        assert!(x.logical_not().is_err());
        Ok(())
    }

    #[test]
    fn serde_round_trips_every_dtype() -> Result<()> {
        for dt in [DType::Bool, DType::I64, DType::F16, DType::BF16, DType::F32, DType::F64] {
            let t = Tensor::arange(0.0, 6.0, 1.0, DType::F64)?.mul_scalar(0.3)?.to_dtype(dt)?.reshape(&[2, 3])?;
            let json = serde_json::to_string(&t).unwrap();
            let back: Tensor = serde_json::from_str(&json).unwrap();
            assert_eq!(back, t, "{dt}: {json}");
        }
        let bad = r#"{"shape":[2],"dtype":"f32","data":[1.0]}"#;
        assert!(serde_json::from_str::<Tensor>(bad).is_err());
        Ok(())
    }

    #[test]
    fn formatting_shows_dtype_and_shape() -> Result<()> {
        let t = Tensor::from_vec(vec![1.0f32, 2.0], &[2])?;
        let s = format!("{t:?}");
        assert!(s.starts_with("Tensor<f32>[2]"), "{s}");
        assert_eq!(format!("{t}"), "[1, 2]");
        Ok(())
    }
}
