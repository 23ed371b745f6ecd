//! Lux's `f16`, `bf16`, `f32`, `f64`: every float tensor becomes the
//! target type; nothing else changes.

use lux_core::{DType, LuxError, Result, Tensor, Tree};

/// A value whose float tensors can be converted to another float dtype
/// (Lux's `fmap` over the Functors structure with `adapt`).
///
/// **The rule** (Lux's): every tensor with a float dtype (f16, bf16, f32,
/// f64) becomes `dtype`; integer and bool tensors, flags, integers, float
/// *scalar* leaves ([`Tree::Float`], Adapt leaves non-arrays alone), RNG
/// states, `None` and empty containers are untouched, and the structure
/// (keys, order) is kept. Float-to-float conversion rounds to nearest once,
/// so converting to a wider type and back is exact, and it is
/// differentiable (a tracked tensor stays tracked).
///
/// Implement it for your own holders of trees by converting each tree:
///
/// ```
/// use lux_core::{tree, DType, Result, Tensor, Tree};
/// use lux_precision::{bf16, ToPrecision};
/// struct Checkpoint { ps: Tree, note: String }
/// impl ToPrecision for Checkpoint {
///     fn to_precision(&self, dtype: DType) -> Result<Checkpoint> {
///         Ok(Checkpoint { ps: self.ps.to_precision(dtype)?, note: self.note.clone() })
///     }
/// }
/// let c = Checkpoint { ps: tree! { w: Tensor::ones(&[2], DType::F32)? }, note: "epoch 3".into() };
/// assert_eq!(bf16(&c)?.ps.tensor("w")?.dtype(), DType::BF16);
/// # Ok::<(), lux_core::LuxError>(())
/// ```
pub trait ToPrecision: Sized {
    /// A copy with every float tensor converted to `dtype` (a float dtype).
    ///
    /// # Errors
    /// `dtype` is not a float dtype ([`LuxError::InvalidArgument`]).
    fn to_precision(&self, dtype: DType) -> Result<Self>;
}

fn check_target(dtype: DType) -> Result<()> {
    if dtype.is_float() {
        Ok(())
    } else {
        Err(LuxError::invalid_argument(
            "to_dtype",
            format!("the target must be a float dtype (f16, bf16, f32 or f64), got {dtype}"),
        ))
    }
}

impl ToPrecision for Tensor {
    /// ```
    /// use lux_core::{DType, Tensor};
    /// use lux_precision::ToPrecision;
    /// let x = Tensor::from_vec(vec![1.0f64, 2.5], &[2])?;
    /// assert_eq!(x.to_precision(DType::F32)?.to_vec::<f32>()?, vec![1.0, 2.5]);
    /// let labels = Tensor::from_vec(vec![1i64, 2], &[2])?;
    /// assert_eq!(labels.to_precision(DType::F32)?.dtype(), DType::I64); // untouched
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    fn to_precision(&self, dtype: DType) -> Result<Tensor> {
        check_target(dtype)?;
        if self.dtype().is_float() { self.to_dtype(dtype) } else { Ok(self.clone()) }
    }
}

impl ToPrecision for Tree {
    /// ```
    /// use lux_core::{tree, DType, Tensor, Tree};
    /// use lux_precision::ToPrecision;
    /// let st = tree! { mean: Tensor::zeros(&[3], DType::F32)?, training: true, momentum: 0.1, empty: Tree::new() };
    /// let st64 = st.to_precision(DType::F64)?;
    /// assert_eq!(st64.tensor("mean")?.dtype(), DType::F64);
    /// assert_eq!(st64.get("momentum")?, &Tree::Float(0.1)); // scalar leaves are untouched
    /// assert_eq!(st64.get("empty")?, &Tree::new());
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    fn to_precision(&self, dtype: DType) -> Result<Tree> {
        check_target(dtype)?;
        self.try_map(|_, t| t.to_precision(dtype))
    }
}

/// ```
/// use lux_core::{DType, Tensor};
/// let v = lux_precision::f16(&vec![Tensor::ones(&[2], DType::F32)?])?;
/// assert_eq!(v[0].dtype(), DType::F16);
/// # Ok::<(), lux_core::LuxError>(())
/// ```
impl<T: ToPrecision> ToPrecision for Vec<T> {
    fn to_precision(&self, dtype: DType) -> Result<Vec<T>> {
        self.iter().map(|x| x.to_precision(dtype)).collect()
    }
}

/// ```
/// use lux_core::{DType, Tensor};
/// assert_eq!(lux_precision::f64(&Some(Tensor::ones(&[1], DType::F32)?))?.unwrap().dtype(), DType::F64);
/// assert_eq!(lux_precision::f64(&None::<Tensor>)?, None);
/// # Ok::<(), lux_core::LuxError>(())
/// ```
impl<T: ToPrecision> ToPrecision for Option<T> {
    fn to_precision(&self, dtype: DType) -> Result<Option<T>> {
        self.as_ref().map(|x| x.to_precision(dtype)).transpose()
    }
}

impl<A: ToPrecision, B: ToPrecision> ToPrecision for (A, B) {
    /// ```
    /// use lux_core::{DType, Tensor};
    /// use lux_precision::bf16;
    /// let batch = (Tensor::ones(&[4, 2], DType::F32)?, Tensor::from_vec(vec![0i64, 1, 1, 0], &[4])?);
    /// let (x, y) = bf16(&batch)?;
    /// assert_eq!((x.dtype(), y.dtype()), (DType::BF16, DType::I64));
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    fn to_precision(&self, dtype: DType) -> Result<(A, B)> {
        Ok((self.0.to_precision(dtype)?, self.1.to_precision(dtype)?))
    }
}

impl<M: lux_core::Layer + Clone> ToPrecision for lux_core::StatefulLayer<M> {
    /// The parameters and the current state converted; the model and the
    /// fixed-state-type flag are kept (Lux converts a `StatefulLuxLayer`'s
    /// `ps` and `st` alike).
    ///
    /// ```
    /// use lux_core::{tree, DType, Layer, Result, StatefulLayer, Tensor, Tree};
    /// #[derive(Clone)]
    /// struct Scale;
    /// impl Layer for Scale {
    ///     fn forward(&self, x: &Tree, ps: &Tree, st: &Tree) -> Result<(Tree, Tree)> {
    ///         Ok((x.as_tensor()?.mul(ps.tensor("w")?)?.into(), st.clone()))
    ///     }
    /// }
    /// let ps = tree! { w: Tensor::from_vec(vec![2.0f32], &[1])? };
    /// let st = tree! { mean: Tensor::zeros(&[1], DType::F32)?, count: 3i64 };
    /// let s = lux_precision::f64(&StatefulLayer::new(Scale, ps, st))?;
    /// assert_eq!(s.ps().unwrap().tensor("w")?.dtype(), DType::F64);
    /// assert_eq!(s.state().tensor("mean")?.dtype(), DType::F64);
    /// assert_eq!(s.state().get("count")?, &Tree::Int(3));
    /// let y = s.call_tensor(Tensor::from_vec(vec![1.5f64], &[1])?)?;
    /// assert_eq!((y.dtype(), y.to_vec::<f64>()?), (DType::F64, vec![3.0]));
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    fn to_precision(&self, dtype: DType) -> Result<Self> {
        let ps = self.ps().map(|p| p.to_precision(dtype)).transpose()?;
        let st = self.state().to_precision(dtype)?;
        Ok(lux_core::StatefulLayer::with_fixed_state_type(self.model().clone(), ps, st, self.fixed_state_type()))
    }
}

/// Lux's `f16(x)`: every float tensor of `x` in IEEE half precision.
///
/// ```
/// use lux_core::{DType, Tensor};
/// let x = lux_precision::f16(&Tensor::from_vec(vec![1.0f32, 65504.0, 1e-8], &[3])?)?;
/// assert_eq!(x.dtype(), DType::F16);
/// assert_eq!(x.to_dtype(DType::F32)?.to_vec::<f32>()?, vec![1.0, 65504.0, 0.0]); // 1e-8 underflows
/// # Ok::<(), lux_core::LuxError>(())
/// ```
///
/// # Errors
/// Never for the built-in implementations; as [`ToPrecision::to_precision`].
pub fn f16<T: ToPrecision>(x: &T) -> Result<T> {
    x.to_precision(DType::F16)
}

/// Lux's `bf16(x)`: every float tensor of `x` in bfloat16.
///
/// ```
/// use lux_core::{DType, Tensor};
/// let x = lux_precision::bf16(&Tensor::from_vec(vec![1.0f32, 3.0e38], &[2])?)?;
/// assert_eq!(x.dtype(), DType::BF16);
/// assert!(x.to_dtype(DType::F32)?.to_vec::<f32>()?[1].is_finite()); // bf16 keeps f32's range
/// # Ok::<(), lux_core::LuxError>(())
/// ```
///
/// # Errors
/// As [`f16`](f16()).
pub fn bf16<T: ToPrecision>(x: &T) -> Result<T> {
    x.to_precision(DType::BF16)
}

/// Lux's `f32(x)`: every float tensor of `x` in single precision.
///
/// ```
/// use lux_core::Tensor;
/// let x = lux_precision::f32(&Tensor::from_vec(vec![0.1f64], &[1])?)?;
/// assert_eq!(x.to_vec::<f32>()?, vec![0.1f32]);
/// # Ok::<(), lux_core::LuxError>(())
/// ```
///
/// # Errors
/// As [`f16`](f16()).
pub fn f32<T: ToPrecision>(x: &T) -> Result<T> {
    x.to_precision(DType::F32)
}

/// Lux's `f64(x)`: every float tensor of `x` in double precision.
///
/// ```
/// use lux_core::Tensor;
/// let x = lux_precision::f64(&Tensor::from_vec(vec![0.1f32], &[1])?)?;
/// assert_eq!(x.to_vec::<f64>()?, vec![0.1f32 as f64]); // exact
/// # Ok::<(), lux_core::LuxError>(())
/// ```
///
/// # Errors
/// As [`f16`](f16()).
pub fn f64<T: ToPrecision>(x: &T) -> Result<T> {
    x.to_precision(DType::F64)
}

/// Every float tensor of `x` in `dtype`: [`f16`](f16()), [`bf16`], [`f32`](f32()) or
/// [`f64`](f64()) chosen at run time.
///
/// ```
/// use lux_core::{tree, DType, Tensor};
/// use lux_precision::to_dtype;
/// let ps = tree! { w: Tensor::ones(&[2], DType::F32)? };
/// assert_eq!(to_dtype(&ps, DType::BF16)?.tensor("w")?.dtype(), DType::BF16);
/// let err = to_dtype(&ps, DType::I64).unwrap_err();
/// assert_eq!(err.to_string(), "to_dtype: invalid argument: the target must be a float dtype (f16, bf16, f32 or f64), got i64");
/// # Ok::<(), lux_core::LuxError>(())
/// ```
///
/// # Errors
/// `dtype` is not a float dtype.
pub fn to_dtype<T: ToPrecision>(x: &T, dtype: DType) -> Result<T> {
    x.to_precision(dtype)
}
