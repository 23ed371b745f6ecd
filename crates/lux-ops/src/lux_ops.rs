//! Lux's `LuxOps`: small helpers used across layers and losses, with Lux's
//! semantics translated to batch-first layout.
//!
//! | Lux | here |
//! |---|---|
//! | `eachslice(x, Val(d))` | [`eachslice`]`(x, axis)` |
//! | `foldl_init(op, x, init)` | [`foldl_init`]`(op, xs, init)` |
//! | `getproperty(x, Val(:f))` | [`getproperty`]`(tree, "f")` → `Option` |
//! | `xlogx(x)`, `xlogy(x, y)` | [`xlogx`], [`xlogy`] |
//! | `istraining(st)` | [`istraining`]`(&st)` |
//! | `multigate(x, Val(n))` | [`multigate`]`(x, n)` |

use crate::util::promote_floats;
use lux_core::{CustomOp, FloatData, LuxError, Real, Result, Tensor, Tree, broadcast_shapes, normalize_axis};
use ndarray::{ArcArray, IxDyn, Zip};
use std::sync::Arc;

/// The slices of `x` along `axis`, each without that axis: for a sequence
/// batch `[batch, time, features]`, `eachslice(&x, 1)` gives the `time`
/// steps as `[batch, features]` tensors (Lux: `eachslice(x, Val(2))` on
/// `(features, time, batch)`). Slices are views (no copy); gradients flow
/// back into `x`.
///
/// ```
/// use lux_core::Tensor;
/// use lux_ops::lux_ops::eachslice;
/// let x = Tensor::from_vec((0..6).map(|v| v as f32).collect(), &[2, 3])?;
/// let cols = eachslice(&x, -1)?;
/// assert_eq!(cols.len(), 3);
/// assert_eq!(cols[1].to_vec::<f32>()?, vec![1.0, 4.0]);
/// # Ok::<(), lux_core::LuxError>(())
/// ```
///
/// # Errors
/// `axis` is out of range for `x`'s shape.
pub fn eachslice(x: &Tensor, axis: isize) -> Result<Vec<Tensor>> {
    let a = normalize_axis("eachslice", axis, x.shape())?;
    (0..x.shape()[a]).map(|i| x.narrow(a as isize, i, 1)?.squeeze(a as isize)).collect()
}

/// A left fold that starts from an explicit `init`:
/// `op(…op(op(init, &xs[0]), &xs[1])…, &xs[n-1])`, and `init` itself for no
/// elements. Written with differentiable ops, the gradient flows into
/// `init`, every element and whatever `op` captures (e.g. a recurrence's
/// parameters). Lux's 2-argument form seeds with `nothing`; in Rust, make
/// `A` an `Option`.
///
/// ```
/// use lux_core::Tensor;
/// use lux_ops::lux_ops::foldl_init;
/// let xs: Vec<Tensor> = (1..=3).map(|v| Tensor::scalar(v as f64)).collect();
/// let s = foldl_init(|acc: Tensor, x: &Tensor| acc.mul_scalar(10.0)?.add(x), &xs, Tensor::scalar(0.0f64))?;
/// assert_eq!(s.to_scalar::<f64>()?, 123.0);
/// # Ok::<(), lux_core::LuxError>(())
/// ```
///
/// # Errors
/// The first error `op` returns.
pub fn foldl_init<A, X>(mut op: impl FnMut(A, &X) -> Result<A>, xs: &[X], init: A) -> Result<A> {
    xs.iter().try_fold(init, &mut op)
}

/// The field `name` of a map tree, or `None` when it is absent or `tree` is
/// not a map (never an error) — Lux's `getproperty(x, Val(:name))`, used
/// for optional parameters such as a bias.
///
/// ```
/// use lux_core::{Tensor, tree};
/// use lux_ops::lux_ops::getproperty;
/// let ps = tree! { weight: Tensor::zeros(&[2, 2], lux_core::DType::F32)? };
/// assert!(getproperty(&ps, "weight").is_some());
/// assert!(getproperty(&ps, "bias").is_none());
/// # Ok::<(), lux_core::LuxError>(())
/// ```
pub fn getproperty<'a>(tree: &'a Tree, name: &str) -> Option<&'a Tree> {
    match tree {
        Tree::Map(_) => tree.get(name).ok(),
        _ => None,
    }
}

/// `true` iff `st` says training: a `Bool(true)` leaf, or a map whose
/// top-level `training` entry is `Bool(true)`. Lux's `istraining`; like
/// Lux it does not look into nested maps.
///
/// ```
/// use lux_core::{Tree, tree};
/// use lux_ops::lux_ops::istraining;
/// assert!(istraining(&tree! { training: true }));
/// assert!(!istraining(&tree! { training: false }));
/// assert!(!istraining(&tree! { no_training: 1i64 }));
/// assert!(istraining(&Tree::Bool(true)));
/// # Ok::<(), lux_core::LuxError>(())
/// ```
pub fn istraining(st: &Tree) -> bool {
    match st {
        Tree::Bool(b) => *b,
        Tree::Map(_) => matches!(st.get("training"), Ok(Tree::Bool(true))),
        _ => false,
    }
}

/// Splits the feature (last) axis of `x` into `n` equal chunks, e.g. the
/// stacked gates of an LSTM: `[batch, 4h]` → four `[batch, h]` views.
/// Gradients flow back into `x` (absent chunk gradients are zero).
///
/// Unlike Lux, which silently drops the remainder rows, a feature size not
/// divisible by `n` is an error.
///
/// ```
/// use lux_core::Tensor;
/// use lux_ops::lux_ops::multigate;
/// let x = Tensor::from_vec((0..6).map(|v| v as f32).collect(), &[1, 6])?;
/// let gates = multigate(&x, 3)?;
/// assert_eq!(gates[2].to_vec::<f32>()?, vec![4.0, 5.0]);
/// assert!(multigate(&x, 4).is_err());
/// # Ok::<(), lux_core::LuxError>(())
/// ```
///
/// # Errors
/// `x` is 0-d, `n` is 0, or the last axis is not divisible by `n`.
pub fn multigate(x: &Tensor, n: usize) -> Result<Vec<Tensor>> {
    const OP: &str = "multigate";
    let Some(&size) = x.shape().last() else {
        return Err(LuxError::shape(OP, "cannot split a 0-d tensor (shape [])"));
    };
    if n == 0 || size % n != 0 {
        return Err(LuxError::invalid_argument(
            OP,
            format!("the feature axis of shape {:?} has size {size}, which is not divisible into {n} gates", x.shape()),
        ));
    }
    let h = size / n;
    (0..n).map(|i| x.narrow(-1, i * h, h)).collect()
}

/// `x·log(x)`, and exactly `0` at `x == 0` (its limit), with the gradient
/// `log(x) + 1` (zero at `x == 0`, not `-∞`). `NaN` propagates. Negative `x`
/// gives `NaN` (Julia raises a `DomainError` there; Rust's `ln` and
/// PyTorch's `xlogy` return `NaN`).
///
/// ```
/// use lux_core::Tensor;
/// use lux_ops::lux_ops::xlogx;
/// let y = xlogx(&Tensor::from_vec(vec![0.0f64, 1.0, 2.0], &[3])?)?.to_vec::<f64>()?;
/// assert_eq!(y, vec![0.0, 0.0, 2.0 * 2f64.ln()]);
/// # Ok::<(), lux_core::LuxError>(())
/// ```
///
/// # Errors
/// `x` is not a float tensor.
pub fn xlogx(x: &Tensor) -> Result<Tensor> {
    let (dtype, v) = promote_floats("xlogx", &[x])?;
    let out = lux_core::map_float!(v[0].compute_data("xlogx")?, a => a.mapv(|x| xlogy_scalar(x, x)).into_shared());
    Tensor::from_custom_op(out.into_tensor(dtype), Arc::new(XLogY { same: true }), &[&v[0]])
}

/// `x·log(y)`, and exactly `0` when `x == 0`, even for `y == 0`, `NaN` or
/// `∞` (as in Lux and SciPy). `x` and `y` broadcast. Gradients `log(y)`
/// and `x/y`, both exactly zero where `x == 0`. `NaN` in `x` propagates.
///
/// ```
/// use lux_core::Tensor;
/// use lux_ops::lux_ops::xlogy;
/// let x = Tensor::from_vec(vec![0.0f64, 2.0], &[2])?;
/// let y = Tensor::from_vec(vec![0.0f64, 3.0], &[2])?;
/// assert_eq!(xlogy(&x, &y)?.to_vec::<f64>()?, vec![0.0, 2.0 * 3f64.ln()]);
/// # Ok::<(), lux_core::LuxError>(())
/// ```
///
/// # Errors
/// An operand is not a float tensor, or the shapes do not broadcast.
pub fn xlogy(x: &Tensor, y: &Tensor) -> Result<Tensor> {
    const OP: &str = "xlogy";
    let shape = broadcast_shapes(x.shape(), y.shape())
        .map_err(|_| LuxError::shape(OP, format!("shapes {:?} and {:?} do not broadcast", x.shape(), y.shape())))?;
    let (dtype, v) = promote_floats(OP, &[x, y])?;
    let out = match (v[0].compute_data(OP)?, v[1].compute_data(OP)?) {
        (FloatData::F32(a), FloatData::F32(b)) => FloatData::F32(zip_xlogy(&a, &b, &shape)),
        (FloatData::F64(a), FloatData::F64(b)) => FloatData::F64(zip_xlogy(&a, &b, &shape)),
        _ => unreachable!("operands were promoted to one float dtype"),
    };
    Tensor::from_custom_op(out.into_tensor(dtype), Arc::new(XLogY { same: false }), &[&v[0], &v[1]])
}

#[inline]
fn xlogy_scalar<T: Real>(x: T, y: T) -> T {
    if x == T::zero() { T::zero() } else { x * y.ln() }
}

fn zip_xlogy<T: Real>(a: &ArcArray<T, IxDyn>, b: &ArcArray<T, IxDyn>, shape: &[usize]) -> ArcArray<T, IxDyn> {
    let a = a.broadcast(IxDyn(shape)).expect("shapes broadcast");
    let b = b.broadcast(IxDyn(shape)).expect("shapes broadcast");
    Zip::from(&a).and(&b).map_collect(|&x, &y| xlogy_scalar(x, y)).into_shared()
}

/// The record of `xlogx` (`same`: one input used as both x and y) or `xlogy`.
#[derive(Debug)]
struct XLogY {
    same: bool,
}

impl CustomOp for XLogY {
    fn name(&self) -> &str {
        if self.same { "xlogx" } else { "xlogy" }
    }

    fn backward(&self, g: &Tensor, inputs: &[Tensor], output: &Tensor, _needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        let same = self.same;
        let dtype = output.dtype();
        let x = &inputs[0];
        let y = if same { &inputs[0] } else { &inputs[1] };
        let out_shape = output.shape().to_vec();
        let (gx, gy) = match (g.compute_data("xlogy")?, x.compute_data("xlogy")?, y.compute_data("xlogy")?) {
            (FloatData::F32(g), FloatData::F32(x), FloatData::F32(y)) => {
                let (gx, gy) = grads_kernel(&g, &x, &y, &out_shape, same);
                (FloatData::F32(gx), gy.map(FloatData::F32))
            }
            (FloatData::F64(g), FloatData::F64(x), FloatData::F64(y)) => {
                let (gx, gy) = grads_kernel(&g, &x, &y, &out_shape, same);
                (FloatData::F64(gx), gy.map(FloatData::F64))
            }
            _ => return Err(LuxError::Unsupported("xlogy backward: mixed dtypes".into())),
        };
        let gx = gx.into_tensor(dtype).sum_to(x.shape())?;
        if same {
            return Ok(vec![Some(gx)]);
        }
        let gy = gy.expect("computed for xlogy").into_tensor(dtype).sum_to(y.shape())?;
        Ok(vec![Some(gx), Some(gy)])
    }

    /// Forward mode through the composite definition (a few elementwise
    /// and gather passes; no faster rule is worth its code here).
    fn tangent(&self, inputs: &[Tensor], _: &Tensor, tangents: &[Option<Tensor>]) -> Result<Tensor> {
        lux_core::forward::composite_tangent(self, inputs, tangents)
    }

    /// The same function with primitive ops; `where_` sends a zero gradient
    /// to the unselected branch, and the "safe" operands keep that branch
    /// finite, so the gradients at `x == 0` are exactly zero.
    fn composite(&self, inputs: &[Tensor]) -> Result<Option<Tensor>> {
        let (x, y) = (&inputs[0], if self.same { &inputs[0] } else { &inputs[1] });
        let zero = x.zeros_like();
        let is_zero = x.equal(&zero)?;
        let safe_y = Tensor::where_(&is_zero, &y.ones_like(), y)?;
        Tensor::where_(&is_zero, &zero, &x.mul(&safe_y.log()?)?).map(Some)
    }
}

/// Gradients of `x·log y` at the broadcast shape: `g·log y` (or
/// `g·(log x + 1)` for xlogx) and `g·x/y`, zero where `x == 0`.
#[allow(clippy::type_complexity)]
fn grads_kernel<T: Real>(
    g: &ArcArray<T, IxDyn>,
    x: &ArcArray<T, IxDyn>,
    y: &ArcArray<T, IxDyn>,
    shape: &[usize],
    same: bool,
) -> (ArcArray<T, IxDyn>, Option<ArcArray<T, IxDyn>>) {
    let sh = IxDyn(shape);
    let (g, x, y) =
        (g.broadcast(sh.clone()).expect("g"), x.broadcast(sh.clone()).expect("x"), y.broadcast(sh).expect("y"));
    let zero = T::zero();
    if same {
        let gx = Zip::from(&g).and(&x).map_collect(|&g, &x| if x == zero { zero } else { g * (x.ln() + T::one()) });
        return (gx.into_shared(), None);
    }
    let gx = Zip::from(&g).and(&x).and(&y).map_collect(|&g, &x, &y| if x == zero { zero } else { g * y.ln() });
    let gy = Zip::from(&g).and(&x).and(&y).map_collect(|&g, &x, &y| if x == zero { zero } else { g * x / y });
    (gx.into_shared(), Some(gy.into_shared()))
}
