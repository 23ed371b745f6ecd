//! Reverse-mode drivers on the tape, and the reverse-mode Jacobian.

use crate::output::{AdOutput, float_outputs, matched};
use crate::{track_tree, untrack_tree};
use lux_core::{GradCall, LuxError, Release, Result, Tensor, Tree};

/// `f(x)` and its gradient with respect to every float leaf of `x`
/// (reverse mode, [`AutoTape`](crate::AutoTape)). `f` must return a
/// single-element float tensor.
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
/// Whatever `f` returns; `f`'s result does not have exactly one element, or
/// is not a float tensor (the gradient of an `argmax` or a comparison is an
/// error, not zeros).
pub fn value_and_gradient<F>(f: F, x: &Tree) -> Result<(Tensor, Tree)>
where
    F: Fn(&Tree) -> Result<Tensor>,
{
    let ((y, ()), g) = reverse("value_and_gradient", |t| Ok((f(t)?, ())), x, None)?;
    Ok((y, g))
}

/// The gradient of a scalar `f` at `x`; see [`value_and_gradient`].
///
/// ```
/// use lux_ad::gradient;
/// use lux_core::{tree, Tensor};
/// let ps = tree! {
///     w: Tensor::from_vec(vec![1.0f64, -2.0], &[2])?,
///     b: Tensor::from_vec(vec![0.5f64], &[1])?,
/// };
/// // f = Σ (w·3 + b)²: ∂f/∂w = 6(3w + b), ∂f/∂b = Σ 2(3w + b)
/// let g = gradient(|p| p.tensor("w")?.mul_scalar(3.0)?.add(p.tensor("b")?)?.square()?.sum_all(), &ps)?;
/// assert_eq!(g.tensor("w")?.to_vec::<f64>()?, vec![21.0, -33.0]);
/// assert_eq!(g.tensor("b")?.to_vec::<f64>()?, vec![-4.0]);
/// // The gradient of an integer output is an error, not zeros.
/// let err = gradient(|p| p.tensor("w")?.argmax(0, false), &ps).unwrap_err();
/// assert!(err.to_string().contains("got i64"), "{err}");
/// # Ok::<(), lux_core::LuxError>(())
/// ```
///
/// # Errors
/// As for [`value_and_gradient`].
pub fn gradient<F>(f: F, x: &Tree) -> Result<Tree>
where
    F: Fn(&Tree) -> Result<Tensor>,
{
    Ok(reverse("gradient", |t| Ok((f(t)?, ())), x, None)?.1)
}

/// [`value_and_gradient`] of an objective that also returns an auxiliary
/// value (JAX's `has_aux`): `f(x) = (loss, aux)` gives `((loss, aux), ∇loss)`.
/// `aux` is anything [`Release`] (a [`Tree`] of new state, statistics,
/// tuples of those, plain numbers, …): tensors in it come out untracked like
/// the loss, so an objective returns Lux's `(loss, st', stats)` without a
/// `RefCell`. Only the loss is differentiated.
///
/// ```
/// use lux_ad::value_and_gradient_aux;
/// use lux_core::{tree, Tensor, Tree};
/// let ps = tree! { w: Tensor::from_vec(vec![1.0f64, 2.0], &[2])? };
/// let st = tree! { calls: 0i64 };
/// let ((loss, (st, stats)), g) = value_and_gradient_aux(
///     |p| {
///         let y = p.tensor("w")?.square()?;
///         let loss = y.sum_all()?;
///         let st = tree! { calls: st.get("calls")?.as_int()? + 1 };
///         Ok((loss, (st, tree! { y: y })))
///     },
///     &ps,
/// )?;
/// assert_eq!(loss.to_scalar::<f64>()?, 5.0);
/// assert_eq!(st, tree! { calls: 1i64 });
/// assert_eq!(stats.tensor("y")?.to_vec::<f64>()?, vec![1.0, 4.0]);
/// assert!(!stats.tensor("y")?.is_tracked());
/// assert_eq!(g.tensor("w")?.to_vec::<f64>()?, vec![2.0, 4.0]);
/// # let _: Tree = st;
/// # Ok::<(), lux_core::LuxError>(())
/// ```
///
/// # Errors
/// As for [`value_and_gradient`].
pub fn value_and_gradient_aux<F, A>(f: F, x: &Tree) -> Result<((Tensor, A), Tree)>
where
    F: Fn(&Tree) -> Result<(Tensor, A)>,
    A: Release,
{
    reverse("value_and_gradient_aux", f, x, None)
}

/// [`gradient`] of an objective that also returns an auxiliary value: the
/// gradient of the loss and the released `aux`; see
/// [`value_and_gradient_aux`].
///
/// ```
/// use lux_ad::gradient_aux;
/// use lux_core::{tree, Tensor};
/// let ps = tree! { w: Tensor::from_vec(vec![3.0f32], &[1])? };
/// let (g, w2) = gradient_aux(|p| { let w2 = p.tensor("w")?.square()?; Ok((w2.sum_all()?, w2)) }, &ps)?;
/// assert_eq!((g.tensor("w")?.to_vec::<f32>()?, w2.to_vec::<f32>()?), (vec![6.0], vec![9.0]));
/// # Ok::<(), lux_core::LuxError>(())
/// ```
///
/// # Errors
/// As for [`value_and_gradient`].
pub fn gradient_aux<F, A>(f: F, x: &Tree) -> Result<(Tree, A)>
where
    F: Fn(&Tree) -> Result<(Tensor, A)>,
    A: Release,
{
    let ((_, aux), g) = reverse("gradient_aux", f, x, None)?;
    Ok((g, aux))
}

/// Vector-Jacobian product: `f(x)` and `(∂f/∂x)ᵀ · u`, for any output.
///
/// The output is a [`Tensor`] or a [`Tree`] of tensors (anything
/// [`AdOutput`]); the cotangent `u` has the output's structure and shapes.
/// One backward pass, whatever the number of output leaves.
///
/// ```
/// use lux_ad::vjp;
/// use lux_core::{tree, Tensor};
/// let x = tree! { x: Tensor::from_vec(vec![1.0f64, 2.0], &[2])? };
/// // f(x) = x² elementwise: Jᵀu = 2x ⊙ u
/// let u = Tensor::from_vec(vec![1.0f64, -1.0], &[2])?;
/// let (y, g) = vjp(|t| t.tensor("x")?.square(), &x, &u)?;
/// assert_eq!(y.to_vec::<f64>()?, vec![1.0, 4.0]);
/// assert_eq!(g.tensor("x")?.to_vec::<f64>()?, vec![2.0, -4.0]);
///
/// // A tree-valued f: (x², Σx) with a cotangent tree of the same structure.
/// let f = |t: &lux_core::Tree| -> lux_core::Result<lux_core::Tree> {
///     let x = t.tensor("x")?;
///     Ok(tree! { sq: x.square()?, total: x.sum_all()? })
/// };
/// let u = tree! { sq: Tensor::from_vec(vec![1.0f64, 0.0], &[2])?, total: Tensor::scalar(10.0f64) };
/// let (_, g) = vjp(f, &x, &u)?;
/// assert_eq!(g.tensor("x")?.to_vec::<f64>()?, vec![12.0, 10.0]); // 2x ⊙ [1, 0] + 10
/// // A cotangent of the wrong shape names the output leaf.
/// let bad = tree! { sq: Tensor::from_vec(vec![1.0f64], &[1])?, total: Tensor::scalar(1.0f64) };
/// assert!(vjp(f, &x, &bad).unwrap_err().to_string().contains("cotangent at sq"));
/// # Ok::<(), lux_core::LuxError>(())
/// ```
///
/// # Errors
/// `f` fails; an output leaf is not a float tensor; the cotangent's
/// structure or a leaf's shape differs from the output's (naming the path).
pub fn vjp<F, Y>(f: F, x: &Tree, cotangent: &Y) -> Result<(Y, Tree)>
where
    F: Fn(&Tree) -> Result<Y>,
    Y: AdOutput,
{
    let ((y, ()), g) = reverse("vjp", |t| Ok((f(t)?, ())), x, Some(cotangent))?;
    Ok((y, g))
}

/// The one reverse pass under every driver: tracks `x`, runs `f`, seeds the
/// output with `seed` (ones for a single-element output when `None`), and
/// releases the output, the aux value and the gradients.
pub(crate) fn reverse<Y, A>(
    op: &str,
    f: impl FnOnce(&Tree) -> Result<(Y, A)>,
    x: &Tree,
    seed: Option<&Y>,
) -> Result<((Y, A), Tree)>
where
    Y: AdOutput,
    A: Release,
{
    let mut call = GradCall::new();
    let tracked = track_tree(&mut call, x)?;
    let (y, aux) = f(&tracked)?;
    let outputs = float_outputs(op, &y)?;
    let seeds: Vec<Tensor> = match seed {
        Some(u) => matched(op, "cotangent", "output", &y, u)?.into_iter().cloned().collect(),
        None => match outputs.as_slice() {
            [(_, t)] if t.len() == 1 => vec![t.ones_like()],
            _ => {
                let shapes: Vec<&[usize]> = outputs.iter().map(|(_, t)| t.shape()).collect();
                return Err(LuxError::Shape {
                    op: op.into(),
                    msg: format!("the function must return a single value, got shape {}", shapes_text(&shapes)),
                });
            }
        },
    };
    let roots: Vec<(&Tensor, &Tensor)> = outputs.iter().map(|(_, t)| *t).zip(&seeds).collect();
    let grads = call.backward_many(&roots)?;
    Ok(((y.release(&call)?, aux.release(&call)?), untrack_tree(x, grads)?))
}

fn shapes_text(shapes: &[&[usize]]) -> String {
    match shapes {
        [one] => format!("{one:?}"),
        many => format!("{} tensors {many:?}", many.len()),
    }
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
/// `f` fails, or its output is not a float tensor.
pub fn jacobian<F>(f: F, x: &Tree) -> Result<Tree>
where
    F: Fn(&Tree) -> Result<Tensor>,
{
    let mut call = GradCall::new();
    let tracked = track_tree(&mut call, x)?;
    let y = f(&tracked)?;
    float_outputs("jacobian", &y)?;
    let m = y.len();
    let mut rows: Vec<Vec<Tensor>> = Vec::with_capacity(m);
    for i in 0..m {
        let mut e = vec![0.0f64; m];
        e[i] = 1.0;
        let seed = Tensor::from_vec(e, y.shape())?;
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
