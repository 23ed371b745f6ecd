//! Forward-mode drivers on lux-core's [`DualCall`]: `jvp`, `hvp`
//! (forward-over-reverse), `batched_jacobian`, and the forward-mode
//! gradient behind [`AutoForward`](crate::AutoForward).

use crate::drivers::reverse;
use crate::output::{AdOutput, float_outputs, matched};
use crate::{AdBackend, AutoForward, AutoForwardChunked};
use lux_core::{DualCall, LuxError, Result, Tensor, Tree};

/// `x` with every float leaf carrying its tangent from `vs` (one per
/// tensor leaf of `x`, in order) for `call`; other leaves are constants.
fn seed_tree(call: &DualCall, x: &Tree, vs: &[&Tensor]) -> Result<Tree> {
    let mut it = vs.iter();
    x.try_map(|path, t| {
        let v = it.next().ok_or_else(|| LuxError::Unsupported(format!("internal: no tangent for {path}")))?;
        if t.dtype().is_float() { call.seed(t, v) } else { Ok(t.clone()) }
    })
}

/// `y` without `call`'s tangents (a value leaving the call).
fn release_output<Y: AdOutput>(call: &DualCall, y: &Y) -> Result<Y> {
    y.ad_rebuild(y.ad_tensors().into_iter().map(|(_, t)| call.release(t)).collect())
}

/// Jacobian-vector product: `f(x)` and `(∂f/∂x) · v`, where the tangent `v`
/// has `x`'s structure and shapes. `f` returns a [`Tensor`] or a [`Tree`]
/// ([`AdOutput`]); `J·v` has the output's structure.
///
/// Forward mode: one pass of `f` in which every op also computes its
/// output's tangent (about two to three times the cost of `f` alone, no
/// graph kept). It nests: inside a gradient call the tangents are tracked
/// (reverse-over-forward), and a `jvp` of a function that takes a gradient
/// is forward-over-reverse. Tangents of non-float leaves of `x` are ignored
/// (those leaves are constants).
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
/// // A tangent that does not match the input names the path.
/// let bad = tree! { x: Tensor::from_vec(vec![1.0f64], &[1])? };
/// let err = jvp(|t| t.tensor("x")?.square(), &x, &bad).unwrap_err();
/// assert_eq!(err.to_string(), "jvp: tangent at x has shape [1], the input has [2]");
/// # Ok::<(), lux_core::LuxError>(())
/// ```
///
/// # Errors
/// `f` fails; an output leaf is not a float tensor; `tangent`'s structure
/// or a leaf's shape differs from `x`'s (naming the path); `x` already
/// carries the tangent of an enclosing `jvp` (forward-over-forward is not
/// supported).
pub fn jvp<F, Y>(f: F, x: &Tree, tangent: &Tree) -> Result<(Y, Y)>
where
    F: Fn(&Tree) -> Result<Y>,
    Y: AdOutput,
{
    let tangents = matched("jvp", "tangent", "input", x, tangent)?;
    let call = DualCall::new();
    let y = f(&seed_tree(&call, x, &tangents)?)?;
    let jv = float_outputs("jvp", &y)?.into_iter().map(|(_, t)| call.tangent(t)).collect::<Result<Vec<_>>>()?;
    Ok((release_output(&call, &y)?, y.ad_rebuild(jv)?))
}

/// Hessian-vector product `∇²f(x) · v` of a scalar `f`, with `v` shaped
/// like `x`; the result is shaped like `x` (zeros for non-float leaves).
///
/// Computed forward-over-reverse (Lux's automatic switch for the JVP of a
/// gradient): `x` carries the tangent `v` through one reverse gradient
/// pass, whose result's tangent is `H·v`. About one gradient's cost times
/// three, never forming the Hessian; the answer agrees with the
/// reverse-over-reverse `∇⟨∇f(x), v⟩`.
///
/// ```
/// use lux_ad::hvp;
/// use lux_core::{tree, Tensor};
/// // f(a, b) = a²·b: H = [[2b, 2a], [2a, 0]]
/// let x = tree! { a: Tensor::scalar(3.0f64), b: Tensor::scalar(5.0f64) };
/// let v = tree! { a: Tensor::scalar(1.0f64), b: Tensor::scalar(2.0f64) };
/// let hv = hvp(|t| t.tensor("a")?.square()?.mul(t.tensor("b")?), &x, &v)?;
/// // H·v = [2·5·1 + 2·3·2, 2·3·1] = [22, 6]
/// assert_eq!(hv.tensor("a")?.to_scalar::<f64>()?, 22.0);
/// assert_eq!(hv.tensor("b")?.to_scalar::<f64>()?, 6.0);
/// # Ok::<(), lux_core::LuxError>(())
/// ```
///
/// # Errors
/// As for [`gradient`](crate::gradient); `v`'s structure or a leaf's shape
/// differs from `x`'s (naming the path).
pub fn hvp<F>(f: F, x: &Tree, v: &Tree) -> Result<Tree>
where
    F: Fn(&Tree) -> Result<Tensor>,
{
    matched("hvp", "v", "input", x, v)?;
    let grad = |t: &Tree| -> Result<Tree> { Ok(reverse("hvp", |u| Ok((f(u)?, ())), t, None)?.1) };
    Ok(jvp(grad, x, v)?.1)
}

/// The per-sample Jacobians of a batched function: for `f` mapping
/// `x: [batch, in…]` to `[batch, out…]` with the samples independent
/// (sample `b` of the output depends only on sample `b` of the input), a
/// tensor `[batch, Π out…, Π in…]` whose slice `b` is `∂f(x)_b / ∂x_b`
/// (Lux's `batched_jacobian`, batch axis first).
///
/// The mode follows the shape, so the work is `min(Π in…, Π out…)`
/// directions, each seeding the same feature in every sample at once (never
/// `batch ×` that): forward mode, one tangent direction per input feature,
/// when `Π in… < Π out…`; reverse mode, one backward pass per output
/// feature over a single recorded evaluation of `f`, when `Π out… < Π in…`.
/// Forward directions travel [`AutoForward::DEFAULT_CHUNK`] per
/// evaluation of `f`.
///
/// `backend` ([`AutoForward`] or [`AutoTape`](crate::AutoTape)) is the
/// mode of the first evaluation of `f`, which is also what tells `Π out…`,
/// and the mode of a tie: when the other mode turns out cheaper, that
/// evaluation is spent and `f` is evaluated again in the other mode. So
/// naming the mode that fits saves one evaluation; the result is the same
/// either way (up to round-off). Both modes nest: the result can be
/// differentiated again (a `batched_jacobian` inside a loss). An `f` that
/// mixes samples (a batch norm in training mode, a sum over the batch)
/// breaks the contract and gives sums of cross-sample terms — unsupported,
/// as in Lux.
///
/// ```
/// use lux_ad::{AutoForward, AutoTape, batched_jacobian};
/// use lux_core::Tensor;
/// // f(x)_b = [x_b0 · x_b1, x_b0 + x_b1, x_b1²] per sample: 2 in, 3 out,
/// // so forward mode (two directions, one evaluation of f).
/// let f = |x: &Tensor| -> lux_core::Result<Tensor> {
///     let (a, b) = (x.narrow(1, 0, 1)?, x.narrow(1, 1, 1)?);
///     Tensor::concat(&[a.mul(&b)?, a.add(&b)?, b.square()?], 1)
/// };
/// let x = Tensor::from_vec(vec![1.0f64, 2.0, 3.0, -1.0], &[2, 2])?;
/// let j = batched_jacobian(f, &AutoForward, &x)?;
/// assert_eq!(j.shape(), &[2, 3, 2]);
/// assert_eq!(j.to_vec::<f64>()?, vec![2.0, 1.0, 1.0, 1.0, 0.0, 4.0, -1.0, 3.0, 1.0, 1.0, 0.0, -2.0]);
/// assert_eq!(batched_jacobian(f, &AutoTape, &x)?.to_vec::<f64>()?, j.to_vec::<f64>()?);
/// # Ok::<(), lux_core::LuxError>(())
/// ```
///
/// # Errors
/// `x` is not a float tensor with a batch axis; `f` fails, returns a
/// non-float tensor, or an output whose first axis is not the batch;
/// `backend` is neither [`AutoForward`] nor [`AutoTape`](crate::AutoTape).
pub fn batched_jacobian<F>(f: F, backend: &dyn AdBackend, x: &Tensor) -> Result<Tensor>
where
    F: Fn(&Tensor) -> Result<Tensor>,
{
    const OP: &str = "batched_jacobian";
    if x.ndim() == 0 || !x.dtype().is_float() {
        return Err(LuxError::invalid_argument(
            OP,
            format!("the input must be a float tensor [batch, in…], got {} {:?}", x.dtype(), x.shape()),
        ));
    }
    let forward_first = match backend.name() {
        "AutoForward" => true,
        "AutoTape" => false,
        other => {
            return Err(LuxError::Unsupported(format!(
                "{OP}: backend {other} is not supported; use AutoForward or AutoTape"
            )));
        }
    };
    let batch = x.shape()[0];
    let n_in: usize = x.shape()[1..].iter().product();
    let check_out = |y: &Tensor| -> Result<usize> {
        if y.ndim() == 0 || y.shape()[0] != batch || !y.dtype().is_float() {
            return Err(LuxError::shape(
                OP,
                format!(
                    "f must return a float tensor [batch = {batch}, out…] for an input {:?}, got {} {:?}",
                    x.shape(),
                    y.dtype(),
                    y.shape()
                ),
            ));
        }
        Ok(y.shape()[1..].iter().product())
    };
    // The same feature `i` set in every sample: one direction serves the batch.
    let unit = |features: usize, i: usize, shape: &[usize], dtype| -> Result<Tensor> {
        let mut e = vec![0.0f64; features];
        e[i] = 1.0;
        Tensor::from_vec(e, &[1, features])?.broadcast_to(&[batch, features])?.reshape(shape)?.to_dtype(dtype)
    };
    if n_in == 0 {
        let m = check_out(&f(x)?)?;
        return Tensor::zeros(&[batch, m, 0], x.dtype());
    }
    // One forward evaluation for the input features `lo..hi`: Π out and
    // the Jacobian's columns `[batch, Π out, 1]`.
    let forward = |lo: usize, hi: usize| -> Result<(usize, Vec<Tensor>)> {
        let call = DualCall::with_directions(hi - lo)?;
        let mut seeded = x.clone();
        for i in lo..hi {
            seeded = call.seed_direction(&seeded, i - lo, &unit(n_in, i, x.shape(), x.dtype())?)?;
        }
        let y = f(&seeded)?;
        let m = check_out(&y)?;
        let columns = (0..hi - lo).map(|d| call.tangent_direction(&y, d)?.reshape(&[batch, m, 1]));
        Ok((m, columns.collect::<Result<Vec<_>>>()?))
    };
    let chunk = AutoForward::DEFAULT_CHUNK;
    let forward_rest = |mut columns: Vec<Tensor>| -> Result<Tensor> {
        for lo in (columns.len()..n_in).step_by(chunk) {
            columns.extend(forward(lo, (lo + chunk).min(n_in))?.1);
        }
        Tensor::concat(&columns, 2)
    };
    // Reverse mode over one recorded evaluation: Π out and, unless that is
    // more than Π in (`None`), the Jacobian from one backward pass per
    // output feature.
    let reverse = || -> Result<(usize, Option<Tensor>)> {
        let mut call = lux_core::GradCall::new();
        let xt = call.track(x)?;
        let y = f(&xt)?;
        let m = check_out(&y)?;
        if m > n_in {
            return Ok((m, None));
        }
        let mut rows = Vec::with_capacity(m);
        for i in 0..m {
            let g = call.backward(&y, Some(&unit(m, i, y.shape(), y.dtype())?))?.remove(0);
            rows.push(g.reshape(&[batch, 1, n_in])?);
        }
        let j = if rows.is_empty() { Tensor::zeros(&[batch, 0, n_in], x.dtype())? } else { Tensor::concat(&rows, 1)? };
        Ok((m, Some(j)))
    };
    if forward_first {
        let (m, columns) = forward(0, chunk.min(n_in))?;
        if n_in <= m {
            return forward_rest(columns);
        }
        match reverse()? {
            (_, Some(j)) => Ok(j),
            (m2, None) => Err(LuxError::Unsupported(format!(
                "{OP}: f's output changed size between evaluations ({m} then {m2} features per sample)"
            ))),
        }
    } else {
        match reverse()? {
            (_, Some(j)) => Ok(j),
            (_, None) => forward_rest(Vec::new()),
        }
    }
}

/// `(f(x), aux)` and `∇f(x)` by forward mode: passes of up to `chunk`
/// directions, each the unit tangent of one float parameter element (so
/// for small models; the cost grows with the parameter count). The value
/// and `aux` come from the first pass, released of its tangents. The
/// gradient is built from the tangents with differentiable ops, so it can
/// itself be differentiated (reverse-over-forward).
pub(crate) fn forward_gradient(
    f: &dyn Fn(&Tree) -> Result<(Tensor, Tree)>,
    x: &Tree,
    chunk: usize,
) -> Result<((Tensor, Tree), Tree)> {
    const OP: &str = "AutoForward gradient";
    let leaves = x.tensors();
    let sizes: Vec<usize> = leaves.iter().map(|(_, t)| if t.dtype().is_float() { t.len() } else { 0 }).collect();
    let n: usize = sizes.iter().sum();
    // Float elements are numbered leaf by leaf; `starts[i]` is leaf i's first.
    let starts: Vec<usize> = sizes.iter().scan(0, |acc, &s| Some(std::mem::replace(acc, *acc + s))).collect();
    let leaf_of = |g: usize| starts.partition_point(|&s| s <= g) - 1;
    // Each element's derivative as a one-element tensor, kept differentiable
    // so the gradient nests inside an enclosing gradient call.
    let mut grads: Vec<Vec<Tensor>> = sizes.iter().map(|&s| Vec::with_capacity(s)).collect();
    let mut first = None;
    for lo in (0..n).step_by(chunk) {
        let hi = (lo + chunk).min(n);
        let call = DualCall::with_directions(hi - lo)?;
        let mut leaf = 0;
        let seeded = x.try_map(|_, t| {
            let (start, len) = (starts[leaf], sizes[leaf]);
            leaf += 1;
            let mut out = t.clone();
            for g in lo.max(start)..hi.min(start + len) {
                let mut e = vec![0.0f64; len];
                e[g - start] = 1.0;
                out = call.seed_direction(&out, g - lo, &Tensor::from_vec(e, t.shape())?)?;
            }
            Ok(out)
        })?;
        let (y, aux) = f(&seeded)?;
        single(OP, &y)?;
        for g in lo..hi {
            grads[leaf_of(g)].push(call.tangent_direction(&y, g - lo)?.reshape(&[1])?);
        }
        if first.is_none() {
            first = Some((call.release(&y), aux.try_map(|_, t| Ok(call.release(t)))?));
        }
    }
    let first = match first {
        Some(first) => first,
        None => {
            let (y, aux) = f(x)?;
            single(OP, &y)?;
            (y, aux)
        }
    };
    let mut it = grads.into_iter().zip(&leaves);
    let grads = x.try_map(|path, _| {
        let (g, (_, leaf)) = it.next().ok_or_else(|| LuxError::Unsupported(format!("internal: {path}")))?;
        if g.is_empty() {
            Ok(leaf.zeros_like())
        } else {
            Tensor::concat(&g, 0)?.reshape(leaf.shape())?.to_dtype(leaf.dtype())
        }
    })?;
    Ok((first, grads))
}

fn single(op: &str, y: &Tensor) -> Result<()> {
    if y.len() != 1 {
        return Err(LuxError::shape(op, format!("the function must return a single value, got shape {:?}", y.shape())));
    }
    if !y.dtype().is_float() {
        return Err(LuxError::DType {
            op: op.into(),
            expected: "a float output (only float outputs can be differentiated)".into(),
            got: y.dtype(),
        });
    }
    Ok(())
}

impl AdBackend for AutoForward {
    fn name(&self) -> &'static str {
        "AutoForward"
    }
    fn value_and_gradient_aux(
        &self,
        f: &dyn Fn(&Tree) -> Result<(Tensor, Tree)>,
        x: &Tree,
    ) -> Result<((Tensor, Tree), Tree)> {
        forward_gradient(f, x, AutoForward::DEFAULT_CHUNK)
    }
}

impl AdBackend for AutoForwardChunked {
    fn name(&self) -> &'static str {
        "AutoForward"
    }
    fn value_and_gradient_aux(
        &self,
        f: &dyn Fn(&Tree) -> Result<(Tensor, Tree)>,
        x: &Tree,
    ) -> Result<((Tensor, Tree), Tree)> {
        forward_gradient(f, x, self.chunk_size())
    }
}
