//! [`Tensor`]: a dtype-dynamic, shared, n-dimensional array.

use crate::DType;
use crate::autodiff::Node;
use crate::dtype::{Data, Element, exact_i64, same_type, with_data};
use crate::error::{LuxError, Result, arg_err, shape_err};
use crate::forward::Tangents;
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
    /// Forward-mode tangents, `None` outside a forward call.
    pub(crate) tangents: Option<Tangents>,
    /// Its slot in a running [`CompiledTape`](crate::CompiledTape) record,
    /// `None` outside one.
    pub(crate) mark: Option<crate::compiled::Mark>,
}

/// Elements above which elementwise kernels and reductions use rayon.
pub(crate) const PAR_THRESHOLD: usize = 1 << 16;

impl Tensor {
    pub(crate) fn from_data(data: Data) -> Tensor {
        Tensor { data, node: None, tangents: None, mark: None }
    }

    // ----- construction -------------------------------------------------

    /// The largest buffer one tensor may hold: 2^40 bytes (1 TiB).
    ///
    /// Constructors and ops whose output would be larger return an `Err` naming
    /// the shape and byte size instead of asking the allocator. Below the limit,
    /// buffers are reserved fallibly (`Vec::try_reserve_exact`), so a request the
    /// allocator refuses is an `Err` too. (An operating system that overcommits
    /// memory unconditionally, such as Linux with `vm.overcommit_memory = 1`,
    /// grants requests it cannot back; those are only caught by the limit.)
    ///
    /// ```
    /// use lux_core::{DType, Tensor};
    /// let n = Tensor::MAX_BUFFER_BYTES / 4 + 1; // one f32 too many
    /// assert!(Tensor::zeros(&[n], DType::F32).is_err());
    /// ```
    pub const MAX_BUFFER_BYTES: usize = 1 << 40;

    /// A tensor of `shape` holding `values` in row-major order.
    ///
    /// ```
    /// use lux_core::Tensor;
    /// let t = Tensor::from_vec(vec![1i64, 2, 3, 4, 5, 6], &[2, 3])?;
    /// assert_eq!(t.shape(), &[2, 3]);
    /// assert!(Tensor::from_vec(vec![1i64, 2], &[3]).is_err());
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// `values.len()` differs from the number of elements of `shape`, or
    /// `shape` is not a valid shape (see [`Tensor::zeros`]).
    pub fn from_vec<T: Element>(values: Vec<T>, shape: &[usize]) -> Result<Tensor> {
        let n = checked_len("Tensor::from_vec", shape)?;
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
    ///
    /// ```
    /// use lux_core::Tensor;
    /// let t = Tensor::from_slice(&[1.0f32, 2.0, 3.0, 4.0], &[2, 2])?;
    /// assert_eq!(t.to_vec::<f32>()?, vec![1.0, 2.0, 3.0, 4.0]);
    /// assert!(Tensor::from_slice(&[1i64, 2], &[3]).is_err());
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn from_slice<T: Element>(values: &[T], shape: &[usize]) -> Result<Tensor> {
        Tensor::from_vec(values.to_vec(), shape)
    }

    /// Wraps an ndarray without copying.
    ///
    /// ```
    /// use lux_core::Tensor;
    /// let t = Tensor::from_ndarray(ndarray::array![[1.0f64, 2.0], [3.0, 4.0]]);
    /// assert_eq!(t.shape(), &[2, 2]);
    /// assert_eq!(t.to_vec::<f64>()?, vec![1.0, 2.0, 3.0, 4.0]);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
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
    ///
    /// ```
    /// use lux_core::{DType, Tensor};
    /// let t = Tensor::full(&[2, 2], 1.5, DType::F64)?;
    /// assert_eq!(t.to_vec::<f64>()?, vec![1.5; 4]);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// As for [`zeros`](Tensor::zeros).
    pub fn full(shape: &[usize], value: f64, dtype: DType) -> Result<Tensor> {
        Tensor::filled("Tensor::full", shape, value, dtype)
    }

    /// [`full`](Tensor::full) for `op` (named in the error).
    pub(crate) fn filled(op: &str, shape: &[usize], value: f64, dtype: DType) -> Result<Tensor> {
        fn make<T: Element>(op: &str, shape: &[usize], v: f64) -> Result<Data> {
            let (mut values, n) = alloc_vec::<T>(op, shape)?;
            values.resize(n, T::from_f64(v));
            Ok(T::wrap(ArcArray::from_shape_vec(IxDyn(shape), values).expect("one value per element")))
        }
        Ok(Tensor::from_data(match dtype {
            DType::Bool => make::<bool>(op, shape, value)?,
            DType::I64 => make::<i64>(op, shape, value)?,
            DType::F16 => make::<f16>(op, shape, value)?,
            DType::BF16 => make::<bf16>(op, shape, value)?,
            DType::F32 => make::<f32>(op, shape, value)?,
            DType::F64 => make::<f64>(op, shape, value)?,
        }))
    }

    /// Zeros of `shape` and `dtype`.
    ///
    /// A shape is valid when the product of its non-zero axis lengths fits
    /// in `isize` (ndarray's rule), so `[0, 1 << 62]` is a valid empty shape
    /// and `[0, usize::MAX]` is not. No tensor buffer exceeds
    /// [`MAX_BUFFER_BYTES`](Tensor::MAX_BUFFER_BYTES), and buffers are
    /// reserved fallibly, so a request the machine cannot hold is an `Err`
    /// naming the shape and the byte size, not an abort.
    ///
    /// ```
    /// use lux_core::{DType, Tensor};
    /// assert_eq!(Tensor::zeros(&[2], DType::I64)?.to_vec::<i64>()?, vec![0, 0]);
    /// assert_eq!(Tensor::zeros(&[0, 1 << 62], DType::F32)?.len(), 0);
    /// assert!(Tensor::zeros(&[0, usize::MAX], DType::F32).is_err());
    /// let e = Tensor::zeros(&[1 << 40], DType::F32).unwrap_err().to_string();
    /// assert!(e.contains("[1099511627776]") && e.contains("4398046511104 bytes"), "{e}");
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// `shape` is not valid, or its buffer exceeds the limit or cannot be
    /// allocated.
    pub fn zeros(shape: &[usize], dtype: DType) -> Result<Tensor> {
        Tensor::full(shape, 0.0, dtype)
    }

    /// Ones of `shape` and `dtype`.
    ///
    /// ```
    /// use lux_core::{DType, Tensor};
    /// assert_eq!(Tensor::ones(&[3], DType::F32)?.to_vec::<f32>()?, vec![1.0; 3]);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// As for [`zeros`](Tensor::zeros).
    pub fn ones(shape: &[usize], dtype: DType) -> Result<Tensor> {
        Tensor::full(shape, 1.0, dtype)
    }

    /// Zeros with this tensor's shape and dtype (a constant).
    ///
    /// ```
    /// use lux_core::{DType, Tensor};
    /// let z = Tensor::from_vec(vec![1i64, 2, 3], &[3])?.zeros_like();
    /// assert_eq!(z.dtype(), DType::I64);
    /// assert_eq!(z.to_vec::<i64>()?, vec![0, 0, 0]);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn zeros_like(&self) -> Tensor {
        Tensor::full(self.shape(), 0.0, self.dtype()).expect("shape of an existing tensor is valid")
    }

    /// Ones with this tensor's shape and dtype (a constant).
    ///
    /// ```
    /// use lux_core::Tensor;
    /// let o = Tensor::from_vec(vec![5.0f32, 6.0], &[2, 1])?.ones_like();
    /// assert_eq!(o.shape(), &[2, 1]);
    /// assert_eq!(o.to_vec::<f32>()?, vec![1.0, 1.0]);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
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
    /// `step` is zero or not finite, the bounds are not finite, or the
    /// range holds too many values (see [`zeros`](Tensor::zeros)).
    pub fn arange(start: f64, end: f64, step: f64, dtype: DType) -> Result<Tensor> {
        if !(step.is_finite() && step != 0.0 && start.is_finite() && end.is_finite()) {
            return Err(arg_err(
                "arange",
                format!("need finite bounds and a non-zero step, got {start}..{end} step {step}"),
            ));
        }
        // Never NaN: the bounds and step are finite (the difference may be ±inf).
        let count = ((end - start) / step).ceil().max(0.0);
        // `isize::MAX as f64` rounds up to 2^63, so `>=` keeps `n` in isize.
        if count >= isize::MAX as f64 {
            return Err(shape_err(
                "arange",
                format!("{start}..{end} step {step} holds {count:e} values, more than a tensor can index"),
            ));
        }
        let n = count as usize;
        let (mut values, _) = alloc_vec::<f64>("arange", &[n])?;
        values.extend((0..n).map(|i| start + i as f64 * step));
        Tensor::from_vec(values, &[n])?.to_dtype(dtype)
    }

    /// Uniform samples in `[0, 1)` drawn from `rng`.
    ///
    /// ```
    /// use lux_core::{DType, Tensor};
    /// use rand::SeedableRng;
    /// let mut rng = rand::rngs::StdRng::seed_from_u64(0);
    /// let u = Tensor::rand(&mut rng, &[3], DType::F32)?.to_vec::<f32>()?;
    /// assert!(u.iter().all(|v| (0.0..1.0).contains(v)));
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// `dtype` is not a float type, or as for [`zeros`](Tensor::zeros).
    pub fn rand<R: Rng + ?Sized>(rng: &mut R, shape: &[usize], dtype: DType) -> Result<Tensor> {
        float_dtype("rand", dtype)?;
        let (mut values, n) = alloc_vec::<f64>("rand", shape)?;
        values.extend((0..n).map(|_| rng.random::<f64>()));
        Tensor::from_vec(values, shape)?.to_dtype(dtype)
    }

    /// Standard-normal samples drawn from `rng` (Box–Muller).
    ///
    /// ```
    /// use lux_core::{DType, Tensor};
    /// use rand::SeedableRng;
    /// let mut rng = rand::rngs::StdRng::seed_from_u64(0);
    /// assert_eq!(Tensor::randn(&mut rng, &[2, 3], DType::F64)?.shape(), &[2, 3]);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// `dtype` is not a float type, or as for [`zeros`](Tensor::zeros).
    pub fn randn<R: Rng + ?Sized>(rng: &mut R, shape: &[usize], dtype: DType) -> Result<Tensor> {
        float_dtype("randn", dtype)?;
        let (mut values, n) = alloc_vec::<f64>("randn", shape)?;
        while values.len() < n {
            // 1 - u lies in (0, 1], so the logarithm is finite.
            let u1 = 1.0 - rng.random::<f64>();
            let u2 = rng.random::<f64>();
            let r = (-2.0 * u1.ln()).sqrt();
            let theta = 2.0 * std::f64::consts::PI * u2;
            values.push(r * theta.cos());
            if values.len() < n {
                values.push(r * theta.sin());
            }
        }
        Tensor::from_vec(values, shape)?.to_dtype(dtype)
    }

    // ----- inspection -----------------------------------------------------

    /// The extent of every axis.
    ///
    /// ```
    /// use lux_core::{DType, Tensor};
    /// assert_eq!(Tensor::zeros(&[2, 3], DType::F32)?.shape(), &[2, 3]);
    /// assert_eq!(Tensor::scalar(1.0f32).shape(), &[] as &[usize]);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn shape(&self) -> &[usize] {
        self.data.shape()
    }

    /// The element type.
    ///
    /// ```
    /// use lux_core::{DType, Tensor};
    /// assert_eq!(Tensor::scalar(1i64).dtype(), DType::I64);
    /// assert_eq!(Tensor::from_vec(vec![1.0f32], &[1])?.dtype(), DType::F32);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn dtype(&self) -> DType {
        self.data.dtype()
    }

    /// The number of axes.
    ///
    /// ```
    /// use lux_core::{DType, Tensor};
    /// assert_eq!(Tensor::zeros(&[2, 3, 4], DType::F32)?.ndim(), 3);
    /// assert_eq!(Tensor::scalar(1.0f32).ndim(), 0);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn ndim(&self) -> usize {
        self.shape().len()
    }

    /// The number of elements.
    ///
    /// ```
    /// use lux_core::{DType, Tensor};
    /// assert_eq!(Tensor::zeros(&[2, 3], DType::F32)?.len(), 6);
    /// assert_eq!(Tensor::scalar(1.0f32).len(), 1); // a 0-d tensor has one element
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn len(&self) -> usize {
        self.shape().iter().product()
    }

    /// `true` if the tensor has no elements.
    ///
    /// ```
    /// use lux_core::{DType, Tensor};
    /// assert!(Tensor::zeros(&[2, 0], DType::F32)?.is_empty());
    /// assert!(!Tensor::scalar(0.0f32).is_empty());
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `true` if the elements are stored contiguously in row-major order.
    ///
    /// ```
    /// use lux_core::{DType, Tensor};
    /// let x = Tensor::zeros(&[2, 3], DType::F32)?;
    /// assert!(x.is_contiguous());
    /// assert!(!x.transpose(0, 1)?.is_contiguous());
    /// assert!(x.transpose(0, 1)?.contiguous()?.is_contiguous());
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn is_contiguous(&self) -> bool {
        with_data!(&self.data, a => a.is_standard_layout())
    }

    /// `true` if some element of `self` and some element of `other` lie in
    /// the same memory: one is a clone or a view (transpose, narrow, slice,
    /// broadcast) of the other, or both are views of one buffer whose
    /// address ranges overlap. Empty tensors share nothing.
    ///
    /// ```
    /// use lux_core::Tensor;
    /// let x = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0], &[2, 2])?;
    /// assert!(x.shares_storage_with(&x.clone()));
    /// assert!(x.shares_storage_with(&x.transpose(0, 1)?));
    /// assert!(!x.shares_storage_with(&Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0], &[2, 2])?));
    /// assert!(x.narrow(0, 1, 1)?.shares_storage_with(&x)); // the second row, a view
    /// assert!(!x.narrow(0, 0, 1)?.shares_storage_with(&x.narrow(0, 1, 1)?)); // disjoint rows
    /// let empty = Tensor::zeros(&[0], lux_core::DType::F32)?;
    /// assert!(!empty.shares_storage_with(&empty.clone()));
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn shares_storage_with(&self, other: &Tensor) -> bool {
        /// The byte range `[lo, hi)` a non-empty view's elements occupy.
        fn span<T>(a: &ArcArray<T, IxDyn>) -> Option<(usize, usize)> {
            if a.is_empty() {
                return None;
            }
            let (mut lo, mut hi) = (0isize, 0isize);
            for (&d, &s) in a.shape().iter().zip(a.strides()) {
                let reach = s * (d as isize - 1);
                if reach < 0 { lo += reach } else { hi += reach }
            }
            let (base, size) = (a.as_ptr() as isize, std::mem::size_of::<T>() as isize);
            Some(((base + lo * size) as usize, (base + (hi + 1) * size) as usize))
        }
        with_data!(&self.data, a => same_type(a, &other.data).is_some_and(|b| match (span(a), span(b)) {
            (Some((a_lo, a_hi)), Some((b_lo, b_hi))) => a_lo < b_hi && b_lo < a_hi,
            _ => false,
        }))
    }

    /// The elements in row-major order as one slice: borrowed when the
    /// tensor is contiguous, copied otherwise.
    ///
    /// ```
    /// use lux_core::Tensor;
    /// let x = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0], &[2, 2])?;
    /// assert!(matches!(x.contiguous_slice::<f32>()?, std::borrow::Cow::Borrowed(&[1.0, 2.0, 3.0, 4.0])));
    /// assert_eq!(&*x.transpose(0, 1)?.contiguous_slice::<f32>()?, &[1.0, 3.0, 2.0, 4.0]);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// `T` is not this tensor's dtype.
    pub fn contiguous_slice<T: Element>(&self) -> Result<std::borrow::Cow<'_, [T]>> {
        let a = self.array::<T>("contiguous_slice")?;
        Ok(match a.as_slice() {
            Some(s) => std::borrow::Cow::Borrowed(s),
            None => std::borrow::Cow::Owned(a.iter().copied().collect()),
        })
    }

    /// Copy-on-write mutable access to the elements, in row-major order:
    /// the buffer is written in place when this tensor is its only holder
    /// and it is contiguous; otherwise it is first copied into a fresh
    /// contiguous buffer that only this tensor holds (other holders never
    /// see a change). The flag says whether that copy happened, so that
    /// in-place code (optimiser updates) can check it reuses its buffers.
    ///
    /// ```
    /// use lux_core::Tensor;
    /// let mut x = Tensor::from_vec(vec![1.0f32, 2.0, 3.0], &[3])?;
    /// let (values, copied) = x.make_mut::<f32>()?;
    /// values[0] = 10.0;
    /// assert!(!copied); // the only holder: written in place
    /// let snapshot = x.clone(); // now the buffer is shared
    /// let (values, copied) = x.make_mut::<f32>()?;
    /// values[1] = 20.0;
    /// assert!(copied);
    /// assert_eq!(x.to_vec::<f32>()?, vec![10.0, 20.0, 3.0]);
    /// assert_eq!(snapshot.to_vec::<f32>()?, vec![10.0, 2.0, 3.0]);
    /// assert!(x.make_mut::<f64>().is_err()); // wrong element type
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// `T` is not this tensor's dtype; the tensor is recorded for a gradient
    /// call (writing into it would corrupt the record).
    pub fn make_mut<T: Element>(&mut self) -> Result<(&mut [T], bool)> {
        if self.is_tracked() {
            return Err(LuxError::invalid_argument(
                "Tensor::make_mut",
                "the tensor is recorded for a gradient call; detach it before writing into it",
            ));
        }
        let got = self.dtype();
        let a = T::unwrap_mut(&mut self.data).ok_or_else(|| LuxError::DType {
            op: "Tensor::make_mut".into(),
            expected: T::DTYPE.name().into(),
            got,
        })?;
        let copied = !(a.is_unique() && a.is_standard_layout());
        if copied {
            *a = a.as_standard_layout().into_owned().into_shared();
        }
        let len = a.len();
        match a.as_slice_mut() {
            Some(values) => Ok((values, copied)),
            // Unreachable: the array is unique and in standard layout here.
            None => {
                Err(LuxError::invalid_argument("Tensor::make_mut", format!("cannot view {len} elements as a slice")))
            }
        }
    }

    // ----- read back ------------------------------------------------------

    /// The elements in row-major order.
    ///
    /// ```
    /// use lux_core::Tensor;
    /// let x = Tensor::from_vec(vec![1i64, 2, 3, 4], &[2, 2])?;
    /// assert_eq!(x.transpose(0, 1)?.to_vec::<i64>()?, vec![1, 3, 2, 4]);
    /// assert!(x.to_vec::<f32>().is_err());
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// `T` is not this tensor's dtype.
    pub fn to_vec<T: Element>(&self) -> Result<Vec<T>> {
        Ok(self.array::<T>("to_vec")?.iter().copied().collect())
    }

    /// The elements converted to f64, in row-major order, whatever the dtype.
    ///
    /// ```
    /// use lux_core::Tensor;
    /// assert_eq!(Tensor::from_vec(vec![1i64, -2], &[2])?.to_f64_vec(), vec![1.0, -2.0]);
    /// assert_eq!(Tensor::scalar(true).to_f64_vec(), vec![1.0]);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn to_f64_vec(&self) -> Vec<f64> {
        with_data!(&self.data, a => a.iter().map(|x| x.to_f64()).collect())
    }

    /// The single element of a one-element tensor as a `T`, converted from
    /// this tensor's dtype when the conversion is exact for this value:
    /// widening (f32 → f64, f16 → f32, i64 → f64 below 2⁵³, bool → i64)
    /// always works; narrowing works only when nothing is lost (`2.0f64` →
    /// `2i64`, `0.5f64` → `0.5f32`, NaN and ±∞ between floats) and is an
    /// error otherwise (`2.5f64` → i64, `0.1f64` → f32, `2i64` → bool).
    /// [`item_f64`](Tensor::item_f64) reads any dtype as an f64.
    ///
    /// ```
    /// use lux_core::Tensor;
    /// let loss = Tensor::scalar(0.25f32);
    /// assert_eq!(loss.to_scalar::<f64>()?, 0.25);
    /// assert_eq!(Tensor::scalar(3.0f64).to_scalar::<i64>()?, 3);
    /// assert!(Tensor::scalar(2.5f64).to_scalar::<i64>().is_err());
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// The tensor does not have exactly one element, or its value has no
    /// exact `T` representation.
    pub fn to_scalar<T: Element>(&self) -> Result<T> {
        if let Ok(a) = self.array::<T>("to_scalar") {
            self.one_element("to_scalar")?;
            return Ok(*a.iter().next().expect("one element"));
        }
        let v = self.item_f64()?;
        // Every dtype but i64 converts to f64 exactly; an i64 beyond 2⁵³ may round.
        let exact_source = match &self.data {
            Data::I64(a) => exact_i64(v) == a.iter().next().copied(),
            _ => true,
        };
        let t = T::from_f64(v);
        let exact_target = match T::DTYPE {
            DType::I64 => exact_i64(v).is_some(), // from_f64 saturates: 2⁶³ would pass a round trip
            _ => t.to_f64() == v || (v.is_nan() && t.to_f64().is_nan()),
        };
        if exact_source && exact_target {
            Ok(t)
        } else {
            Err(LuxError::InvalidArgument {
                op: "to_scalar".into(),
                msg: format!(
                    "the {} value {v:?} has no exact {} representation (item_f64() reads it as an f64)",
                    self.dtype(),
                    T::DTYPE
                ),
            })
        }
    }

    /// The single element of a one-element tensor of any dtype as an f64
    /// (PyTorch's `.item()`): exact for f16, bf16, f32, f64 and bool (`true`
    /// → 1), and for i64 values up to 2⁵³ in magnitude (larger ones round
    /// to the nearest f64).
    ///
    /// ```
    /// use lux_core::{DType, Tensor};
    /// let loss = Tensor::full(&[1], 0.1, DType::F32)?;
    /// assert_eq!(loss.item_f64()?, 0.1f32 as f64);
    /// assert_eq!(Tensor::scalar(true).item_f64()?, 1.0);
    /// assert!(Tensor::zeros(&[2], DType::F32)?.item_f64().is_err());
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// The tensor does not have exactly one element.
    pub fn item_f64(&self) -> Result<f64> {
        self.one_element("item_f64")?;
        Ok(with_data!(&self.data, a => a.iter().next().expect("one element").to_f64()))
    }

    fn one_element(&self, op: &str) -> Result<()> {
        if self.len() == 1 {
            Ok(())
        } else {
            Err(shape_err(op, format!("tensor of shape {:?} has {} elements, not 1", self.shape(), self.len())))
        }
    }

    /// A copy as an ndarray.
    ///
    /// ```
    /// use lux_core::Tensor;
    /// let t = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0], &[2, 2])?;
    /// assert_eq!(t.to_ndarray::<f32>()?, ndarray::array![[1.0f32, 2.0], [3.0, 4.0]].into_dyn());
    /// assert!(t.to_ndarray::<f64>().is_err());
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// `T` is not this tensor's dtype.
    pub fn to_ndarray<T: Element>(&self) -> Result<ArrayD<T>> {
        Ok(self.array::<T>("to_ndarray")?.to_owned())
    }

    /// Converts into an ndarray, without copying when the storage is not shared.
    ///
    /// ```
    /// use lux_core::Tensor;
    /// let t = Tensor::from_vec(vec![1i64, 2, 3], &[3])?;
    /// assert_eq!(t.into_ndarray::<i64>()?, ndarray::array![1i64, 2, 3].into_dyn());
    /// assert!(Tensor::scalar(1.0f32).into_ndarray::<i64>().is_err());
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
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

/// The number of elements of `shape`, by ndarray's rule: the product of
/// the non-zero axis lengths must fit in `isize` (so `[0, 1 << 62]` is a
/// valid empty shape and `[0, usize::MAX]` is not). Every constructor and
/// shape op checks new shapes with it; `op` names the caller in the error.
pub(crate) fn checked_len(op: &str, shape: &[usize]) -> Result<usize> {
    let nonzero = shape.iter().filter(|&&d| d != 0).try_fold(1usize, |acc, &d| acc.checked_mul(d));
    match nonzero {
        Some(n) if n <= isize::MAX as usize => Ok(if shape.contains(&0) { 0 } else { n }),
        _ => Err(shape_err(
            op,
            format!(
                "shape {shape:?} has too many elements (the product of its non-zero axis lengths exceeds isize::MAX)"
            ),
        )),
    }
}

/// Output buffers from this size on that ndarray allocates itself
/// (infallibly) are first reserved fallibly by [`check_alloc`].
const PROBE_BYTES: usize = 1 << 30;

/// Names a tensor buffer in allocation errors ("f32 tensor") without
/// formatting a string on every op that allocates.
struct TensorOf(DType);

impl fmt::Display for TensorOf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} tensor", self.0)
    }
}

fn too_large(op: &str, what: &dyn fmt::Display, shape: &[usize], why: std::fmt::Arguments<'_>) -> LuxError {
    shape_err(op, format!("the {what} of shape {shape:?} is too large: {why}"))
}

/// The element count of a buffer of `shape` holding `elem_bytes`-byte
/// elements, and its size in bytes: `shape` is valid (see [`checked_len`])
/// and the bytes are within [`Tensor::MAX_BUFFER_BYTES`].
fn buffer_size(op: &str, what: &dyn fmt::Display, shape: &[usize], elem_bytes: usize) -> Result<(usize, usize)> {
    let n = checked_len(op, shape).map_err(|_| {
        too_large(
            op,
            what,
            shape,
            format_args!("too many elements (its non-zero axis lengths multiply past isize::MAX)"),
        )
    })?;
    match n.checked_mul(elem_bytes) {
        Some(bytes) if bytes <= Tensor::MAX_BUFFER_BYTES => Ok((n, bytes)),
        bytes => Err(too_large(
            op,
            what,
            shape,
            format_args!(
                "{} bytes, more than the {}-byte limit of one buffer (Tensor::MAX_BUFFER_BYTES)",
                bytes.map_or_else(|| format!("{n}×{elem_bytes}"), |b| b.to_string()),
                Tensor::MAX_BUFFER_BYTES
            ),
        )),
    }
}

/// An empty `Vec` with room for the elements of a buffer of `shape` (exactly,
/// or up to twice as many when it comes from the [`pool`](crate::pool)),
/// reserved fallibly: the one allocation path for buffers sized from an op's
/// arguments rather than from an existing tensor (op outputs, masks, column
/// buffers, tables), in lux-core and in kernels built on it.
///
/// ```
/// let v = lux_core::alloc_buffer::<f32>("my_op", "output", &[2, 3])?;
/// assert!(v.is_empty() && v.capacity() >= 6);
/// let e = lux_core::alloc_buffer::<f32>("my_op", "output", &[1 << 40, 1 << 20]).unwrap_err().to_string();
/// assert!(e.starts_with("my_op: the output of shape [1099511627776, 1048576] is too large"), "{e}");
/// # Ok::<(), lux_core::LuxError>(())
/// ```
///
/// # Errors
/// `shape`'s non-zero axis lengths multiply past `isize::MAX`, the buffer
/// exceeds [`Tensor::MAX_BUFFER_BYTES`], or the allocator refuses it; the
/// message names `op`, `what`, the shape and the size.
pub fn alloc_buffer<T: 'static>(op: &str, what: &str, shape: &[usize]) -> Result<Vec<T>> {
    Ok(reserve(op, &what, shape)?.0)
}

/// The element count of a buffer of `shape` holding `T`s, checked as
/// [`alloc_buffer`] checks it but without allocating (for kernels that
/// size several buffers before making any).
///
/// ```
/// assert_eq!(lux_core::buffer_len::<f64>("my_op", "table", &[3, 0, 1 << 60])?, 0);
/// assert!(lux_core::buffer_len::<f64>("my_op", "table", &[1 << 38]).is_err()); // 2 TiB
/// # Ok::<(), lux_core::LuxError>(())
/// ```
///
/// # Errors
/// As [`alloc_buffer`], but for the allocator's refusal.
pub fn buffer_len<T>(op: &str, what: &str, shape: &[usize]) -> Result<usize> {
    Ok(buffer_size(op, &what, shape, std::mem::size_of::<T>())?.0)
}

fn reserve<T: 'static>(op: &str, what: &dyn fmt::Display, shape: &[usize]) -> Result<(Vec<T>, usize)> {
    let (n, bytes) = buffer_size(op, what, shape, std::mem::size_of::<T>())?;
    if let Some(v) = crate::pool::take::<T>(n) {
        return Ok((v, n));
    }
    let mut v = Vec::new();
    v.try_reserve_exact(n).map_err(|_| too_large(op, what, shape, format_args!("cannot allocate {bytes} bytes")))?;
    Ok((v, n))
}

/// [`alloc_buffer`] for a tensor of `T`, with its element count.
pub(crate) fn alloc_vec<T: Element>(op: &str, shape: &[usize]) -> Result<(Vec<T>, usize)> {
    reserve(op, &TensorOf(T::DTYPE), shape)
}

/// Checks that an output of `shape` and `dtype` that an ndarray routine is
/// about to allocate (infallibly) can be: `shape` is valid, within
/// [`Tensor::MAX_BUFFER_BYTES`], and, from 1 GiB on, first reserved fallibly (and
/// released) so that a buffer the machine cannot hold is an `Err`, not an
/// abort.
pub(crate) fn check_alloc(op: &str, shape: &[usize], dtype: DType) -> Result<()> {
    let what = TensorOf(dtype);
    let (_, bytes) = buffer_size(op, &what, shape, dtype.size_in_bytes())?;
    if bytes >= PROBE_BYTES {
        Vec::<u8>::new()
            .try_reserve_exact(bytes)
            .map_err(|_| too_large(op, &what, shape, format_args!("cannot allocate {bytes} bytes")))?;
    }
    Ok(())
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
    ///
    /// ```
    /// use lux_core::{DType, Tensor};
    /// let half = Tensor::from_vec(vec![0.5f32, 1.5], &[2])?.to_dtype(DType::F16)?;
    /// let t = half.compute_data("example")?.into_tensor(DType::F16); // f32 values back to f16
    /// assert_eq!((t.dtype(), t.to_f64_vec()), (DType::F16, vec![0.5, 1.5]));
    /// let d = Tensor::scalar(1.0f64).compute_data("example")?;
    /// assert_eq!(d.into_tensor(DType::F32).dtype(), DType::F64); // f64 storage is moved as is
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
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
    ///
    /// ```
    /// use lux_core::{DType, Tensor};
    /// let d = Tensor::zeros(&[2, 3], DType::F16)?.compute_data("example")?;
    /// assert_eq!(d.shape(), &[2, 3]);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn shape(&self) -> &[usize] {
        match self {
            FloatData::F32(a) => a.shape(),
            FloatData::F64(a) => a.shape(),
        }
    }
}

// ----- printing --------------------------------------------------------------------

/// Tensors with more elements than this print summarised (NumPy's threshold).
const SUMMARY_THRESHOLD: usize = 1000;
/// Entries kept at each end of a summarised axis.
const EDGE_ITEMS: usize = 3;

/// Writes the values as nested `[..]` lists on one line, each element with
/// its `Debug` form (floats exactly, `1.0`, `1e-7`; the formatter's
/// precision, as in `{:.3}`, applies to them). With `summarise`, an axis
/// longer than `2 · EDGE_ITEMS` shows its first and last `EDGE_ITEMS`
/// entries around `...`.
fn write_values<T: fmt::Debug>(
    f: &mut fmt::Formatter<'_>,
    a: ndarray::ArrayViewD<'_, T>,
    summarise: bool,
) -> fmt::Result {
    if a.ndim() == 0 {
        return fmt::Debug::fmt(a.iter().next().expect("a 0-d array has one element"), f);
    }
    let n = a.len_of(ndarray::Axis(0));
    let cut = summarise && n > 2 * EDGE_ITEMS;
    f.write_str("[")?;
    for i in 0..n {
        if cut && (EDGE_ITEMS..n - EDGE_ITEMS).contains(&i) {
            if i == EDGE_ITEMS {
                f.write_str("..., ")?;
            }
            continue;
        }
        write_values(f, a.index_axis(ndarray::Axis(0), i), summarise)?;
        if i + 1 < n {
            f.write_str(", ")?;
        }
    }
    f.write_str("]")
}

impl Tensor {
    /// The values as nested lists, summarised above the threshold.
    pub(crate) fn write_values(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let summarise = self.len() > SUMMARY_THRESHOLD;
        with_data!(&self.data, a => write_values(f, a.view(), summarise))
    }

    /// `Tensor<dtype>[shape]`, ` (tracked)` if asked and recorded, then the values.
    fn write_summary(&self, f: &mut fmt::Formatter<'_>, mark_tracked: bool) -> fmt::Result {
        write!(f, "Tensor<{}>{:?}", self.dtype(), self.shape())?;
        if mark_tracked && self.is_tracked() {
            f.write_str(" (tracked)")?;
        }
        f.write_str(" ")?;
        self.write_values(f)
    }
}

impl fmt::Debug for Tensor {
    /// As [`Display`](fmt::Display), with ` (tracked)` after the shape when
    /// the tensor is recorded for a gradient call.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write_summary(f, true)
    }
}

impl fmt::Display for Tensor {
    /// Dtype, shape and values on one line: `Tensor<f32>[2, 3] [[1.0, 2.0,
    /// 3.0], [4.0, 5.0, 6.0]]`. Floats print exactly (`0.1`, `1e-7`), or
    /// with the precision asked for (`{:.2}`). Tensors of more than 1000
    /// elements are summarised: every axis longer than 6 shows its first and
    /// last 3 entries around `...`.
    ///
    /// ```
    /// use lux_core::{DType, Tensor};
    /// let t = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3])?;
    /// assert_eq!(t.to_string(), "Tensor<f32>[2, 3] [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]");
    /// assert_eq!(format!("{:.2}", Tensor::scalar(1.0f64 / 3.0)), "Tensor<f64>[] 0.33");
    /// let big = Tensor::arange(0.0, 2000.0, 1.0, DType::I64)?.reshape(&[2, 1000])?;
    /// assert_eq!(big.to_string(), "Tensor<i64>[2, 1000] [[0, 1, 2, ..., 997, 998, 999], [1000, 1001, 1002, ..., 1997, 1998, 1999]]");
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write_summary(f, false)
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

/// One float of a serialised tensor, as the f64 it exactly equals. Finite
/// values are numbers; in human-readable formats (JSON, YAML, TOML, …),
/// which have no number for them, NaN and ±∞ are the strings `"NaN"`,
/// `"inf"` and `"-inf"` (binary formats get the plain f64).
struct Float(f64);

impl serde::Serialize for Float {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self.0 {
            x if x.is_finite() || !s.is_human_readable() => s.serialize_f64(x),
            x if x.is_nan() => s.serialize_str("NaN"),
            x if x > 0.0 => s.serialize_str("inf"),
            _ => s.serialize_str("-inf"),
        }
    }
}

impl<'de> serde::Deserialize<'de> for Float {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Float;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(r#"a number or one of "NaN", "inf", "-inf""#)
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> std::result::Result<Float, E> {
                Ok(Float(v))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> std::result::Result<Float, E> {
                Ok(Float(v as f64))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> std::result::Result<Float, E> {
                Ok(Float(v as f64))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> std::result::Result<Float, E> {
                match v {
                    "NaN" => Ok(Float(f64::NAN)),
                    "inf" => Ok(Float(f64::INFINITY)),
                    "-inf" => Ok(Float(f64::NEG_INFINITY)),
                    _ => Err(E::invalid_value(serde::de::Unexpected::Str(v), &self)),
                }
            }
        }
        d.deserialize_any(Visitor)
    }
}

/// The [`Float`] encoding for a lone f64, for `#[serde(with = ..)]` (the
/// `Float` leaf of a [`Tree`](crate::Tree)).
pub(crate) mod serde_f64 {
    use serde::{Deserialize, Serialize};

    pub(crate) fn serialize<S: serde::Serializer>(x: &f64, s: S) -> Result<S::Ok, S::Error> {
        super::Float(*x).serialize(s)
    }

    pub(crate) fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        super::Float::deserialize(d).map(|x| x.0)
    }
}

/// Data tagged by dtype; half and single precision values are stored as the
/// f64 numbers they exactly equal.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(tag = "dtype", content = "data", rename_all = "lowercase")]
enum Payload {
    Bool(Vec<bool>),
    I64(Vec<i64>),
    F16(Vec<Float>),
    BF16(Vec<Float>),
    F32(Vec<Float>),
    F64(Vec<Float>),
}

#[derive(serde::Serialize, serde::Deserialize)]
struct TensorRepr {
    shape: Vec<usize>,
    #[serde(flatten)]
    payload: Payload,
}

impl serde::Serialize for Tensor {
    /// `{"shape": [2, 3], "dtype": "f32", "data": [..]}` with the elements
    /// in row-major order (the autodiff record is not kept). Float elements
    /// of every width are written as the f64 they exactly equal, so they
    /// read back bit-exactly (with serde_json, enable its `float_roundtrip`
    /// feature for exact parsing); in human-readable formats NaN, ∞ and −∞
    /// are the strings `"NaN"`, `"inf"` and `"-inf"` among the numbers
    /// (JSON has no numbers for them), so they survive too. A NaN reads back
    /// as a NaN, without its sign or payload bits.
    ///
    /// Reading checks the shape: an element count that overflows or does
    /// not match the data is an error.
    ///
    /// ```
    /// use lux_core::Tensor;
    /// let t = Tensor::from_vec(vec![0.1f64, f64::NAN, f64::NEG_INFINITY], &[3])?;
    /// let json = serde_json::to_string(&t).unwrap();
    /// assert_eq!(json, r#"{"shape":[3],"dtype":"f64","data":[0.1,"NaN","-inf"]}"#);
    /// let back: Tensor = serde_json::from_str(&json).unwrap();
    /// let v = back.to_vec::<f64>()?;
    /// assert!(v[0] == 0.1 && v[1].is_nan() && v[2] == f64::NEG_INFINITY);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let floats = || self.to_f64_vec().into_iter().map(Float).collect();
        let payload = match &self.data {
            Data::Bool(a) => Payload::Bool(a.iter().copied().collect()),
            Data::I64(a) => Payload::I64(a.iter().copied().collect()),
            Data::F16(_) => Payload::F16(floats()),
            Data::BF16(_) => Payload::BF16(floats()),
            Data::F32(_) => Payload::F32(floats()),
            Data::F64(_) => Payload::F64(floats()),
        };
        TensorRepr { shape: self.shape().to_vec(), payload }.serialize(s)
    }
}

impl<'de> serde::Deserialize<'de> for Tensor {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        use serde::de::Error;
        let TensorRepr { shape, payload } = TensorRepr::deserialize(d)?;
        // `from_vec` checks the shape (it may claim more elements than any data could hold).
        let floats = |v: Vec<Float>, dt: DType| {
            Tensor::from_vec(v.into_iter().map(|x| x.0).collect::<Vec<f64>>(), &shape).and_then(|t| t.to_dtype(dt))
        };
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
        assert_eq!(s.to_scalar::<f32>()?, 3.0, "an exact conversion");
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
    fn formatting_shows_dtype_shape_and_values() -> Result<()> {
        let t = Tensor::from_vec(vec![1.0f32, 2.5, -3.0, 0.1, 1e-7, 6.0], &[2, 3])?;
        let expect = "Tensor<f32>[2, 3] [[1.0, 2.5, -3.0], [0.1, 1e-7, 6.0]]";
        assert_eq!(format!("{t}"), expect);
        assert_eq!(format!("{t:?}"), expect, "Debug shows values, not ndarray's layout dump");
        assert_eq!(format!("{:.1}", Tensor::from_vec(vec![0.25f64, 2.0], &[2])?), "Tensor<f64>[2] [0.2, 2.0]");
        // Every dtype, 0-d and empty tensors, and a non-contiguous view (values in logical order).
        assert_eq!(Tensor::scalar(true).to_string(), "Tensor<bool>[] true");
        assert_eq!(Tensor::from_vec(vec![-3i64, 4], &[2])?.to_string(), "Tensor<i64>[2] [-3, 4]");
        let h = Tensor::from_vec(vec![0.5f32, -2.0], &[2])?;
        assert_eq!(h.to_dtype(DType::F16)?.to_string(), "Tensor<f16>[2] [0.5, -2.0]");
        assert_eq!(h.to_dtype(DType::BF16)?.to_string(), "Tensor<bf16>[2] [0.5, -2.0]");
        assert_eq!(Tensor::zeros(&[2, 0], DType::F32)?.to_string(), "Tensor<f32>[2, 0] [[], []]");
        assert_eq!(t.transpose(0, 1)?.to_string(), "Tensor<f32>[3, 2] [[1.0, 0.1], [2.5, 1e-7], [-3.0, 6.0]]");
        // A tracked tensor says so in Debug only.
        let mut call = crate::GradCall::new();
        let x = call.track(&Tensor::scalar(2.0f64))?;
        assert_eq!(format!("{x:?}"), "Tensor<f64>[] (tracked) 2.0");
        assert_eq!(format!("{x}"), "Tensor<f64>[] 2.0");
        Ok(())
    }

    #[test]
    fn big_tensors_print_summarised() -> Result<()> {
        // 1000 elements print in full; 1001 are summarised to 3 + 3 per long axis.
        let full = Tensor::arange(0.0, 1000.0, 1.0, DType::I64)?.to_string();
        assert_eq!(full.matches(", ").count(), 999);
        assert!(!full.contains("..."));
        let v = Tensor::arange(0.0, 1001.0, 1.0, DType::I64)?;
        assert_eq!(v.to_string(), "Tensor<i64>[1001] [0, 1, 2, ..., 998, 999, 1000]");
        // Axes of at most 6 entries are shown whole even when summarising.
        let m = Tensor::arange(0.0, 6006.0, 1.0, DType::F64)?.reshape(&[6, 1001])?;
        let expect_row = |r: usize| {
            let b = 1001 * r;
            format!("[{}.0, {}.0, {}.0, ..., {}.0, {}.0, {}.0]", b, b + 1, b + 2, b + 998, b + 999, b + 1000)
        };
        let rows: Vec<String> = (0..6).map(expect_row).collect();
        assert_eq!(m.to_string(), format!("Tensor<f64>[6, 1001] [{}]", rows.join(", ")));
        let tall = Tensor::arange(0.0, 1002.0, 1.0, DType::I64)?.reshape(&[501, 2])?;
        assert_eq!(
            tall.to_string(),
            "Tensor<i64>[501, 2] [[0, 1], [2, 3], [4, 5], ..., [996, 997], [998, 999], [1000, 1001]]"
        );
        Ok(())
    }

    #[test]
    fn to_scalar_converts_only_exactly_and_item_f64_reads_any_dtype() -> Result<()> {
        // Widening always works (the issue's `to_scalar::<f64>()` on an f32 loss).
        assert_eq!(Tensor::scalar(0.1f32).to_scalar::<f64>()?, 0.1f32 as f64);
        assert_eq!(Tensor::scalar(f16::from_f64(0.1)).to_scalar::<f32>()?, f16::from_f64(0.1).to_f32());
        assert_eq!(Tensor::scalar(true).to_scalar::<i64>()?, 1);
        assert_eq!(Tensor::scalar(-7i64).to_scalar::<f64>()?, -7.0);
        // Narrowing works when the value is representable ...
        assert_eq!(Tensor::scalar(-2.0f64).to_scalar::<i64>()?, -2);
        assert_eq!(Tensor::scalar(0.5f64).to_scalar::<f16>()?, f16::from_f32(0.5));
        assert!(Tensor::scalar(f64::NAN).to_scalar::<f32>()?.is_nan());
        assert_eq!(Tensor::scalar(f64::NEG_INFINITY).to_scalar::<bf16>()?, bf16::NEG_INFINITY);
        assert!(Tensor::scalar(1i64).to_scalar::<bool>()?);
        // ... and is an error when it would lose information.
        let err = Tensor::scalar(2.5f64).to_scalar::<i64>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "to_scalar: invalid argument: the f64 value 2.5 has no exact i64 representation (item_f64() reads it as an f64)"
        );
        assert!(Tensor::scalar(0.1f64).to_scalar::<f32>().is_err(), "0.1 is not an f32");
        assert!(Tensor::scalar(70000.0f32).to_scalar::<f16>().is_err(), "beyond f16's range");
        assert!(Tensor::scalar(f64::NAN).to_scalar::<i64>().is_err());
        assert!(Tensor::scalar(f64::INFINITY).to_scalar::<i64>().is_err());
        assert!(Tensor::scalar(2f64.powi(63)).to_scalar::<i64>().is_err(), "2^63 would saturate");
        assert_eq!(Tensor::scalar(-2f64.powi(63)).to_scalar::<i64>()?, i64::MIN);
        assert!(Tensor::scalar(2i64).to_scalar::<bool>().is_err());
        assert!(Tensor::scalar(0.5f32).to_scalar::<bool>().is_err());
        // i64 → f64 rounds beyond 2^53: not exact.
        assert!(Tensor::scalar((1i64 << 53) + 1).to_scalar::<f64>().is_err());
        assert_eq!(Tensor::scalar(1i64 << 60).to_scalar::<f64>()?, 2f64.powi(60));
        assert!(Tensor::scalar(i64::MAX).to_scalar::<f64>().is_err(), "i64::MAX rounds to 2^63");
        // One element of any shape; anything else is a shape error.
        assert_eq!(Tensor::full(&[1, 1], 3.0, DType::F16)?.to_scalar::<f64>()?, 3.0);
        assert!(matches!(Tensor::zeros(&[2], DType::F64)?.to_scalar::<f64>(), Err(LuxError::Shape { .. })));
        assert!(matches!(Tensor::zeros(&[0], DType::F32)?.to_scalar::<f64>(), Err(LuxError::Shape { .. })));

        assert_eq!(Tensor::scalar(bf16::from_f32(1.5)).item_f64()?, 1.5);
        assert_eq!(Tensor::scalar(0.1f64).item_f64()?, 0.1);
        assert_eq!(Tensor::scalar(false).item_f64()?, 0.0);
        assert_eq!(Tensor::scalar(-3i64).item_f64()?, -3.0);
        let err = Tensor::zeros(&[2, 2], DType::I64)?.item_f64().unwrap_err();
        assert_eq!(err.to_string(), "item_f64: tensor of shape [2, 2] has 4 elements, not 1");
        Ok(())
    }
}
