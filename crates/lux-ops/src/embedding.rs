//! Embedding lookup and one-hot encoding.
//!
//! Lux's `Embedding(in_dims => out_dims)` stores its weight as
//! `(out_dims, in_dims)` in Julia's column-major order, which is the same
//! memory as `[vocab, dim]` row-major here: row `i` is the vector of token
//! `i`. Indices are **0-based** i64 (Julia's are 1-based).

use crate::util::{check_float, filled};
use lux_core::{DType, Element, LuxError, Result, Tensor};

/// Looks up rows of `weight` (`[vocab, dim]`): the output has shape
/// `[indices.shape()…, dim]` with `out[…, :] = weight[indices[…], :]`.
///
/// Differentiable w.r.t. `weight` (to any order): the gradient adds each
/// output row's cotangent into row `indices[…]` (repeated indices
/// accumulate). Built on [`Tensor::index_select`] / [`Tensor::index_add`].
///
/// ```
/// use lux_core::Tensor;
/// use lux_ops::embedding::embedding;
/// let w = Tensor::from_vec(vec![0.0f32, 0.5, 1.0, 1.5, 2.0, 2.5], &[3, 2])?; // vocab 3, dim 2
/// let idx = Tensor::from_vec(vec![2i64, 0, 2, 1], &[2, 2])?;
/// let y = embedding(&w, &idx)?;
/// assert_eq!(y.shape(), &[2, 2, 2]);
/// assert_eq!(y.to_vec::<f32>()?, vec![2.0, 2.5, 0.0, 0.5, 2.0, 2.5, 1.0, 1.5]);
/// # Ok::<(), lux_core::LuxError>(())
/// ```
///
/// # Errors
/// `weight` is not a 2-d float tensor; `indices` is not i64; an index is
/// negative or ≥ vocab (the message names the index, the vocabulary size
/// and both shapes).
pub fn embedding(weight: &Tensor, indices: &Tensor) -> Result<Tensor> {
    const OP: &str = "embedding";
    if weight.ndim() != 2 {
        return Err(LuxError::shape(
            OP,
            format!("weight must be [vocab, dim], got shape {:?} (indices {:?})", weight.shape(), indices.shape()),
        ));
    }
    check_float(OP, weight)?;
    let (vocab, dim) = (weight.shape()[0], weight.shape()[1]);
    let idx = checked_indices(OP, indices, vocab, &|i| {
        format!(
            "index {i} is out of range for a vocabulary of {vocab} (weight {:?}, indices {:?})",
            weight.shape(),
            indices.shape()
        )
    })?;
    let flat = Tensor::from_vec(idx, &[indices.len()])?;
    let mut shape = indices.shape().to_vec();
    shape.push(dim);
    weight.index_select(0, &flat)?.reshape(&shape)
}

/// One-hot encoding: `[indices.shape()…, num_classes]` of `dtype`, 1 at
/// position `indices[…]` of the last axis and 0 elsewhere (the class axis is
/// last, Lux's first axis seen batch-first). Not differentiable (a
/// constant).
///
/// ```
/// use lux_core::{DType, Tensor};
/// use lux_ops::embedding::one_hot;
/// let y = one_hot(&Tensor::from_vec(vec![2i64, 0], &[2])?, 3, DType::F32)?;
/// assert_eq!(y.to_vec::<f32>()?, vec![0.0, 0.0, 1.0, 1.0, 0.0, 0.0]);
/// # Ok::<(), lux_core::LuxError>(())
/// ```
///
/// # Errors
/// `indices` is not i64; an index is negative or ≥ `num_classes`; the
/// output is too large to allocate (the message names its shape and size).
pub fn one_hot(indices: &Tensor, num_classes: usize, dtype: DType) -> Result<Tensor> {
    const OP: &str = "one_hot";
    let idx = checked_indices(OP, indices, num_classes, &|i| {
        format!("index {i} is out of range for {num_classes} classes (indices {:?})", indices.shape())
    })?;
    let mut shape = indices.shape().to_vec();
    shape.push(num_classes);
    match dtype {
        DType::Bool => encode(&idx, &shape, false, true),
        DType::I64 => encode(&idx, &shape, 0i64, 1),
        DType::F64 => encode(&idx, &shape, 0.0f64, 1.0),
        _ => encode(&idx, &shape, 0.0f32, 1.0)?.to_dtype(dtype),
    }
}

/// The one-hot tensor of `shape` (`[indices…, classes]`): `one` at each
/// checked index of the last axis, `zero` elsewhere.
fn encode<T: Element>(idx: &[i64], shape: &[usize], zero: T, one: T) -> Result<Tensor> {
    let classes = shape[shape.len() - 1];
    let mut v = filled("one_hot", "output", shape, zero)?;
    idx.iter().enumerate().for_each(|(j, &i)| v[j * classes + i as usize] = one);
    Tensor::from_vec(v, shape)
}

/// The i64 values of `indices` (row-major), each checked to lie in
/// `0..bound`; `out_of_range(i)` words the error.
fn checked_indices(op: &str, indices: &Tensor, bound: usize, out_of_range: &dyn Fn(i64) -> String) -> Result<Vec<i64>> {
    if indices.dtype() != DType::I64 {
        return Err(LuxError::DType { op: op.into(), expected: "i64 (integer indices)".into(), got: indices.dtype() });
    }
    let idx = indices.to_vec::<i64>()?;
    match idx.iter().find(|&&i| i < 0 || i as u64 >= bound as u64) {
        Some(&i) => Err(LuxError::invalid_argument(op, out_of_range(i))),
        None => Ok(idx),
    }
}
