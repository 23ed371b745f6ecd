//! Small helpers shared by the op modules.

use lux_core::{DType, LuxError, Result, Tensor};

/// Casts float tensors to their common (promoted) float dtype, as one op's
/// operands; a non-float operand is an `Err` naming `op`.
pub(crate) fn promote_floats(op: &str, xs: &[&Tensor]) -> Result<(DType, Vec<Tensor>)> {
    let mut dtype: Option<DType> = None;
    for x in xs {
        check_float(op, x)?;
        dtype = Some(dtype.map_or(x.dtype(), |d| DType::promote(d, x.dtype())));
    }
    let dtype = dtype.unwrap_or(DType::F32);
    let cast = xs.iter().map(|x| if x.dtype() == dtype { Ok((*x).clone()) } else { x.to_dtype(dtype) });
    Ok((dtype, cast.collect::<Result<Vec<_>>>()?))
}

/// `Err(UnsupportedDType)` naming `op` unless `x` is a float tensor.
pub(crate) fn check_float(op: &str, x: &Tensor) -> Result<()> {
    if x.dtype().is_float() { Ok(()) } else { Err(LuxError::UnsupportedDType { op: op.into(), dtype: x.dtype() }) }
}

/// `Err(InvalidArgument)` naming `op` and `what` unless `v` lies in `[0, 1]`
/// (NaN does not).
pub(crate) fn check_unit_interval(op: &str, what: &str, v: f64) -> Result<()> {
    if (0.0..=1.0).contains(&v) {
        Ok(())
    } else {
        Err(LuxError::invalid_argument(op, format!("{what} must lie in [0, 1], got {v}")))
    }
}

/// `true` when any saved value of a backward rule is tracked, i.e. the
/// rule itself is being differentiated and must use composite ops.
pub(crate) fn any_tracked(xs: &[Tensor]) -> bool {
    xs.iter().any(Tensor::is_tracked)
}

/// A buffer of `shape`'s element count, every element `value`, allocated
/// fallibly through [`lux_core::alloc_buffer`]: the guard of every buffer an
/// op sizes from its arguments rather than from an existing tensor's storage
/// (conv and pool outputs and column buffers, one-hot outputs, dropout masks).
/// An absurd size is an `Err(Shape)` naming `op`, `what`, the shape and the
/// size, never a panic or an abort.
pub(crate) fn filled<T: Clone + 'static>(op: &str, what: &str, shape: &[usize], value: T) -> Result<Vec<T>> {
    let mut v = lux_core::alloc_buffer(op, what, shape)?;
    v.resize(shape.iter().product(), value);
    Ok(v)
}
