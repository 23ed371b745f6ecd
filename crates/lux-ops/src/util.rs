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

/// The element count of a buffer of `shape` holding `T`s, checked: the
/// product of the non-zero axis lengths fits in `isize` (ndarray's rule for
/// a shape) and the bytes fit in `isize` (Rust's rule for an allocation).
/// Otherwise `Err(Shape)` naming `op`, `what` and the shape.
pub(crate) fn checked_len<T>(op: &str, what: &str, shape: &[usize]) -> Result<usize> {
    let nonzero = shape.iter().filter(|&&d| d != 0).try_fold(1usize, |n, &d| n.checked_mul(d));
    let len = match nonzero {
        Some(n) if n <= isize::MAX as usize => {
            if shape.contains(&0) {
                0
            } else {
                n
            }
        }
        _ => return Err(too_large(op, what, shape, "more than isize::MAX elements".into())),
    };
    match len.checked_mul(size_of::<T>()) {
        Some(bytes) if bytes <= isize::MAX as usize => Ok(len),
        _ => Err(too_large(
            op,
            what,
            shape,
            format!("{len} elements of {} bytes exceed isize::MAX bytes", size_of::<T>()),
        )),
    }
}

/// A buffer of `shape`'s element count, every element `value`, allocated
/// fallibly: the guard of every buffer an op sizes from its arguments rather
/// than from an existing tensor's storage (conv and pool outputs and column
/// buffers, one-hot outputs, dropout masks). An absurd size is an
/// `Err(Shape)` naming `op`, `what`, the shape and the size
/// ([`checked_len`], or the bytes the allocator refused), never a panic or
/// an abort.
pub(crate) fn filled<T: Clone>(op: &str, what: &str, shape: &[usize], value: T) -> Result<Vec<T>> {
    let len = checked_len::<T>(op, what, shape)?;
    let mut v = Vec::new();
    v.try_reserve_exact(len).map_err(|_| {
        let bytes = len * size_of::<T>();
        too_large(op, what, shape, format!("cannot allocate {bytes} bytes ({len} elements)"))
    })?;
    v.resize(len, value);
    Ok(v)
}

fn too_large(op: &str, what: &str, shape: &[usize], why: String) -> LuxError {
    LuxError::shape(op, format!("the {what} of shape {shape:?} is too large: {why}"))
}
