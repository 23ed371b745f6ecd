//! Reverse-mode drivers on the tape, and JVP/Jacobian built on them.

use crate::{track_tree, untrack_tree};
use lux_core::{DType, GradCall, LuxError, Result, Tensor, Tree};

/// `f(x)` and its gradient with respect to every float leaf of `x`
/// (reverse mode, [`AutoTape`](crate::AutoTape)). `f` must return a
/// single-element tensor.
///
/// The gradient tree has exactly `x`'s structure; a leaf `f` does not touch
/// gets zeros, and integer/bool leaves get zeros of their own dtype.
///
/// ```
/// use lux_ad::value_and_gradient;
/// use lux_core::{tree, Tensor};
/// let x = tree! { w: Tensor::from_vec(vec![1.0f32, 2.0, 3.0], &[3])? };
/// // f(w) = Σ w²  →  ∇ = 2w
/// let (v, g) = value_and_gradient(|t| t.tensor("w")?.square()?.sum_all(), &x)?;
/// assert_eq!(v.to_scalar::<f32>()?, 14.0);
/// assert_eq!(g.tensor("w")?.to_vec::<f32>()?, vec![2.0, 4.0, 6.0]);
/// # Ok::<(), lux_core::LuxError>(())
/// ```
///
/// # Errors
/// Whatever `f` returns, or `f`'s result does not have exactly one element.
pub fn value_and_gradient<F>(f: F, x: &Tree) -> Result<(Tensor, Tree)>
where
    F: Fn(&Tree) -> Result<Tensor>,
{
    pullback(&f, x, None)
}

/// The gradient of a scalar `f` at `x`; see [`value_and_gradient`].
///
/// # Errors
/// As for [`value_and_gradient`].
pub fn gradient<F>(f: F, x: &Tree) -> Result<Tree>
where
    F: Fn(&Tree) -> Result<Tensor>,
{
    Ok(pullback(&f, x, None)?.1)
}

/// Vector-Jacobian product: `f(x)` and `(∂f/∂x)ᵀ · cotangent`, for any
/// output shape (`cotangent` has `f(x)`'s shape).
///
/// # Errors
/// `f` fails, or `cotangent`'s shape differs from the output's.
pub fn vjp<F>(f: F, x: &Tree, cotangent: &Tensor) -> Result<(Tensor, Tree)>
where
    F: Fn(&Tree) -> Result<Tensor>,
{
    pullback(&f, x, Some(cotangent))
}

pub(crate) fn pullback(f: &dyn Fn(&Tree) -> Result<Tensor>, x: &Tree, seed: Option<&Tensor>) -> Result<(Tensor, Tree)> {
    let mut call = GradCall::new();
    let tracked = track_tree(&mut call, x)?;
    let y = f(&tracked)?;
    let grads = call.backward(&y, seed)?;
    Ok((call.release(&y)?, untrack_tree(x, grads)?))
}

/// Jacobian-vector product: `f(x)` and `(∂f/∂x) · tangent`, where `tangent`
/// has `x`'s structure.
///
/// Computed as the derivative of a VJP with respect to its (linear)
/// cotangent, so it costs about three reverse passes and nests like every
/// other driver.
///
/// ```
/// use lux_ad::jvp;
/// use lux_core::{tree, Tensor};
/// let x = tree! { x: Tensor::from_vec(vec![1.0f64, 2.0], &[2])? };
/// let v = tree! { x: Tensor::from_vec(vec![1.0f64, 1.0], &[2])? };
/// // f(x) = x² elementwise: J = diag(2x), J·v = [2, 4]
/// let (y, jv) = jvp(|t| t.tensor("x")?.square(), &x, &v)?;
/// assert_eq!(y.to_vec::<f64>()?, vec![1.0, 4.0]);
/// assert_eq!(jv.to_vec::<f64>()?, vec![2.0, 4.0]);
/// # Ok::<(), lux_core::LuxError>(())
/// ```
///
/// # Errors
/// `f` fails, or `tangent`'s structure or shapes differ from `x`'s.
pub fn jvp<F>(f: F, x: &Tree, tangent: &Tree) -> Result<(Tensor, Tensor)>
where
    F: Fn(&Tree) -> Result<Tensor>,
{
    let mut inner = GradCall::new();
    let tracked = track_tree(&mut inner, x)?;
    let y = f(&tracked)?;
    // u ↦ Jᵀu is linear; its derivative along v is J·v.
    let mut outer = GradCall::new();
    let u = outer.track(&Tensor::zeros(y.shape(), float_or_f32(y.dtype()))?)?;
    let jt_u = untrack_tree(x, inner.backward(&y, Some(&u))?)?;
    let mut dot: Option<Tensor> = None;
    for ((path, g), (_, v)) in jt_u.tensors().into_iter().zip(check_like(x, tangent)?.tensors()) {
        if !g.dtype().is_float() {
            continue;
        }
        let term = g
            .mul(v)
            .map_err(|e| LuxError::Shape { op: "jvp".into(), msg: format!("tangent at {path}: {e}") })?
            .sum_all()?;
        dot = Some(match dot {
            Some(acc) => acc.add(&term)?,
            None => term,
        });
    }
    let jv = match dot {
        Some(s) => outer.backward(&s.to_dtype(u.dtype())?, None)?.remove(0),
        None => u.zeros_like(),
    };
    Ok((inner.release(&y)?, jv.to_dtype(y.dtype())?))
}

fn float_or_f32(d: DType) -> DType {
    if d.is_float() { d } else { DType::F32 }
}

fn check_like<'a>(x: &Tree, t: &'a Tree) -> Result<&'a Tree> {
    if !x.same_structure(t) {
        return Err(LuxError::Structure {
            path: "tangent".into(),
            msg: "the tangent's structure differs from the input's".into(),
        });
    }
    for ((path, a), (_, b)) in x.tensors().into_iter().zip(t.tensors()) {
        if a.shape() != b.shape() {
            return Err(LuxError::Shape {
                op: "jvp".into(),
                msg: format!("tangent at {path} has shape {:?}, input has {:?}", b.shape(), a.shape()),
            });
        }
    }
    Ok(t)
}

/// The Jacobian of `f` at `x`: a tree shaped like `x` whose leaf for an
/// input of shape `s` has shape `f(x).shape() ++ s`. One reverse pass per
/// output element: meant for small problems.
///
/// ```
/// use lux_ad::jacobian;
/// use lux_core::{tree, Tensor};
/// let x = tree! { x: Tensor::from_vec(vec![1.0f64, 2.0], &[2])? };
/// // f(x) = [x0·x1, x0 + x1]
/// let j = jacobian(|t| {
///     let x = t.tensor("x")?;
///     let (a, b) = (x.narrow(0, 0, 1)?, x.narrow(0, 1, 1)?);
///     lux_core::Tensor::concat(&[a.mul(&b)?, a.add(&b)?], 0)
/// }, &x)?;
/// assert_eq!(j.tensor("x")?.shape(), &[2, 2]);
/// assert_eq!(j.tensor("x")?.to_vec::<f64>()?, vec![2.0, 1.0, 1.0, 1.0]);
/// # Ok::<(), lux_core::LuxError>(())
/// ```
///
/// # Errors
/// `f` fails.
pub fn jacobian<F>(f: F, x: &Tree) -> Result<Tree>
where
    F: Fn(&Tree) -> Result<Tensor>,
{
    let mut call = GradCall::new();
    let tracked = track_tree(&mut call, x)?;
    let y = f(&tracked)?;
    let m = y.len();
    let dt = float_or_f32(y.dtype());
    let mut rows: Vec<Vec<Tensor>> = Vec::with_capacity(m);
    for i in 0..m {
        let mut e = vec![0.0f64; m];
        e[i] = 1.0;
        let seed = Tensor::from_vec(e, y.shape())?.to_dtype(dt)?;
        rows.push(call.backward(&y, Some(&seed))?);
    }
    let n_leaves = rows.first().map_or(0, Vec::len);
    let mut per_leaf: Vec<Tensor> = Vec::with_capacity(n_leaves);
    for leaf in 0..n_leaves {
        let parts: Vec<Tensor> = rows.iter().map(|r| r[leaf].clone()).collect();
        let shape_in = parts[0].shape().to_vec();
        let stacked = Tensor::stack(&parts, 0)?;
        let mut shape: Vec<usize> = y.shape().to_vec();
        shape.extend(shape_in);
        per_leaf.push(stacked.reshape(&shape)?);
    }
    if m == 0 {
        // An empty output: every Jacobian block is empty.
        return x.try_map(|_, t| {
            let mut shape = y.shape().to_vec();
            shape.extend_from_slice(t.shape());
            Tensor::zeros(&shape, t.dtype())
        });
    }
    let mut it = per_leaf.into_iter();
    x.try_map(|path, t| {
        if t.dtype().is_float() {
            it.next().ok_or_else(|| LuxError::Unsupported(format!("internal: no Jacobian block for {path}")))
        } else {
            let mut shape = y.shape().to_vec();
            shape.extend_from_slice(t.shape());
            Tensor::zeros(&shape, t.dtype())
        }
    })
}
