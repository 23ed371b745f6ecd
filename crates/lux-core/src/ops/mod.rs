//! Primitive differentiable ops, one file per family; each op's forward
//! kernel and its backward rule sit side by side.
//!
//! Every new shape goes through one check, `tensor::checked_len` (ndarray's
//! rule: the product of the non-zero axis lengths fits in `isize`), and
//! every output buffer through `tensor::alloc_vec` (buffers lux-core fills
//! itself) or `tensor::check_alloc` (buffers an ndarray routine allocates),
//! both capped by [`Tensor::MAX_BUFFER_BYTES`](crate::Tensor::MAX_BUFFER_BYTES)
//! and reserved fallibly: absurd shapes are errors, never a panic or abort.
//!
//! | file | ops |
//! |---|---|
//! | `unary.rs` | neg, exp, log, log1p, expm1, sqrt, abs, sign, sin, cos, tanh, floor, ceil, round, erf, rsqrt, reciprocal, tan, atan, sinh, cosh |
//! | `binary.rs` | add, sub, mul, div, pow, maximum, minimum, comparisons, `where_`, clamp |
//! | `reduce.rs` | sum, mean, max, min, argmax |
//! | `reduce_extra.rs` | prod, var, std (with `correction`), argmin, any, all (over axes and whole) |
//! | `matmul.rs` | matmul (1-d, 2-d, and broadcast batches of any rank) |
//! | `shape.rs` | reshape, permute, broadcast_to, narrow, index_select, gather, concat, stack, cast |
//! | `structural.rs` | flip, cumsum, pad, repeat (tile), repeat_interleave, tril, triu |
//! | `sort.rs` | sort (stable, NaN last), topk — values and i64 indices |
//! | `create.rs` | eye, linspace, and the seeded random uniform, randint, bernoulli, bernoulli_probs |

pub(crate) mod binary;
pub(crate) mod create;
pub(crate) mod math;
pub(crate) mod matmul;
pub(crate) mod reduce;
pub(crate) mod reduce_extra;
pub(crate) mod shape;
pub(crate) mod sort;
pub(crate) mod structural;
pub(crate) mod unary;

use crate::error::shape_err;
use crate::tensor::{PAR_THRESHOLD, check_alloc, checked_len};
use crate::{DType, Result};
use ndarray::{ArcArray, IxDyn, Zip};
use rayon::prelude::*;

/// Elementwise map; contiguous inputs take a plain (and, when large, parallel) loop.
pub(crate) fn map_arr<T, U>(a: &ArcArray<T, IxDyn>, f: impl Fn(T) -> U + Sync + Send) -> ArcArray<U, IxDyn>
where
    T: Copy + Send + Sync,
    U: Clone + Send + Sync,
{
    if let Some(s) = a.as_slice() {
        let v: Vec<U> = if s.len() >= PAR_THRESHOLD {
            s.par_iter().map(|&x| f(x)).collect()
        } else {
            s.iter().map(|&x| f(x)).collect()
        };
        ArcArray::from_shape_vec(a.raw_dim(), v).expect("same number of elements")
    } else {
        a.map(|&x| f(x)).into_shared()
    }
}

/// Elementwise combination with NumPy broadcasting to `out_shape`.
pub(crate) fn zip_arr<A, B, U>(
    a: &ArcArray<A, IxDyn>,
    b: &ArcArray<B, IxDyn>,
    out_shape: &[usize],
    f: impl Fn(A, B) -> U + Sync + Send,
) -> ArcArray<U, IxDyn>
where
    A: Copy + Send + Sync,
    B: Copy + Send + Sync,
    U: Send + Sync + Copy,
{
    let n: usize = out_shape.iter().product();
    if a.shape() == out_shape && b.shape() == out_shape {
        if let (Some(x), Some(y)) = (a.as_slice(), b.as_slice()) {
            let v: Vec<U> = if n >= PAR_THRESHOLD {
                x.par_iter().zip(y.par_iter()).map(|(&p, &q)| f(p, q)).collect()
            } else {
                x.iter().zip(y.iter()).map(|(&p, &q)| f(p, q)).collect()
            };
            return ArcArray::from_shape_vec(IxDyn(out_shape), v).expect("same number of elements");
        }
    }
    if b.len() == 1 && a.shape() == out_shape {
        let q = *b.iter().next().expect("one element");
        return map_arr(a, move |p| f(p, q));
    }
    if a.len() == 1 && b.shape() == out_shape {
        let p = *a.iter().next().expect("one element");
        return map_arr(b, move |q| f(p, q));
    }
    // Row broadcasting (e.g. a bias [n] against [batch, n]): contiguous rows.
    if let (Some(x), Some(y)) = (a.as_slice(), b.as_slice()) {
        if a.shape() == out_shape && is_suffix(b.shape(), out_shape) && !y.is_empty() {
            return rows(x, y, out_shape, &f);
        }
        if b.shape() == out_shape && is_suffix(a.shape(), out_shape) && !x.is_empty() {
            return rows(y, x, out_shape, |q, p| f(p, q));
        }
    }
    let av = a.broadcast(IxDyn(out_shape)).expect("checked broadcast");
    let bv = b.broadcast(IxDyn(out_shape)).expect("checked broadcast");
    let z = Zip::from(&av).and(&bv);
    if n >= PAR_THRESHOLD {
        z.par_map_collect(|&p, &q| f(p, q)).into_shared()
    } else {
        z.map_collect(|&p, &q| f(p, q)).into_shared()
    }
}

/// `small`, without leading 1s, is a trailing part of `out`.
fn is_suffix(small: &[usize], out: &[usize]) -> bool {
    let lead = small.iter().take_while(|&&d| d == 1).count();
    let tail = &small[lead..];
    tail.len() <= out.len() && out.ends_with(tail)
}

/// `f(full[i], row[i mod row.len()])` over a contiguous `full`.
fn rows<A, B, U>(full: &[A], row: &[B], out_shape: &[usize], f: impl Fn(A, B) -> U + Sync + Send) -> ArcArray<U, IxDyn>
where
    A: Copy + Send + Sync,
    B: Copy + Send + Sync,
    U: Send + Sync + Copy,
{
    let n = row.len();
    let v: Vec<U> = if full.len() >= PAR_THRESHOLD {
        let block = n * (8192 / n).max(1);
        full.par_chunks(block)
            .flat_map_iter(|b| b.chunks(n).flat_map(|c| c.iter().zip(row).map(|(&p, &q)| f(p, q))).collect::<Vec<U>>())
            .collect()
    } else {
        let mut v = Vec::with_capacity(full.len());
        for chunk in full.chunks(n) {
            v.extend(chunk.iter().zip(row).map(|(&p, &q)| f(p, q)));
        }
        v
    };
    ArcArray::from_shape_vec(IxDyn(out_shape), v).expect("same number of elements")
}

/// The NumPy broadcast of two shapes.
///
/// ```
/// use lux_core::broadcast_shapes;
/// assert_eq!(broadcast_shapes(&[8, 1, 6], &[7, 1])?, vec![8, 7, 6]);
/// assert!(broadcast_shapes(&[3], &[4]).is_err());
/// // The result must be a valid shape: [2^40, 2^40, 0] is empty, but the
/// // product of its non-zero axes overflows isize.
/// assert!(broadcast_shapes(&[1, 1 << 40, 0], &[1 << 40, 1, 0]).is_err());
/// # Ok::<(), lux_core::LuxError>(())
/// ```
///
/// # Errors
/// The shapes do not broadcast, or the result is not a valid shape (the
/// product of its non-zero axis lengths exceeds `isize::MAX`).
pub fn broadcast_shapes(a: &[usize], b: &[usize]) -> Result<Vec<usize>> {
    broadcast_for("broadcast", &[a, b], None)
}

/// The NumPy broadcast of `shapes`, for `op`: the shapes must broadcast,
/// the result must be a valid shape, and with `dtype` given, an output
/// buffer of that shape and dtype must be allocatable ([`check_alloc`]).
/// Every broadcasting op computes its output shape here.
pub(crate) fn broadcast_for(op: &str, shapes: &[&[usize]], dtype: Option<DType>) -> Result<Vec<usize>> {
    let out = broadcast_all(shapes).ok_or_else(|| {
        let list: Vec<String> = shapes.iter().map(|s| format!("{s:?}")).collect();
        let list = match list.split_last() {
            Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
            _ => list.join(""),
        };
        shape_err(op, format!("shapes {list} do not broadcast"))
    })?;
    match dtype {
        Some(dt) => check_alloc(op, &out, dt)?,
        None => {
            checked_len(op, &out)?;
        }
    }
    Ok(out)
}

/// The NumPy broadcast of `shapes` (right-aligned; each axis equal or 1),
/// without a check of the result's size; `None` if they do not broadcast.
pub(crate) fn broadcast_all(shapes: &[&[usize]]) -> Option<Vec<usize>> {
    let n = shapes.iter().map(|s| s.len()).max().unwrap_or(0);
    let mut out = vec![1; n];
    for s in shapes {
        for (o, &d) in out[n - s.len()..].iter_mut().zip(s.iter()) {
            *o = match (*o, d) {
                (x, y) if x == y => x,
                (1, y) => y,
                (x, 1) => x,
                _ => return None,
            };
        }
    }
    Some(out)
}

/// Normalises a signed axis (`-1` = last) of a tensor of `shape`.
///
/// ```
/// assert_eq!(lux_core::normalize_axis("softmax", -1, &[2, 3, 4])?, 2);
/// let e = lux_core::normalize_axis("softmax", 3, &[2, 3, 4]).unwrap_err().to_string();
/// assert!(e.contains("axis 3") && e.contains("[2, 3, 4]"));
/// # Ok::<(), lux_core::LuxError>(())
/// ```
///
/// # Errors
/// The axis is outside `-ndim..ndim`; the message names `op` and `shape`.
pub fn normalize_axis(op: &str, axis: isize, shape: &[usize]) -> Result<usize> {
    axis_index(op, axis, shape.len(), shape)
}

/// A signed axis among `n_axes` positions, for ops on a tensor of `shape`
/// (`n_axes` is `shape.len() + 1` for ops that insert an axis).
pub(crate) fn axis_index(op: &str, axis: isize, n_axes: usize, shape: &[usize]) -> Result<usize> {
    let n = n_axes as isize;
    let a = if axis < 0 { axis + n } else { axis };
    if a < 0 || a >= n {
        return Err(crate::error::arg_err(
            op,
            format!("axis {axis} is out of range for {n_axes} axes (input shape {shape:?})"),
        ));
    }
    Ok(a as usize)
}

#[cfg(test)]
mod props;
