//! Forward-mode autodiff: tangents carried beside values.
//!
//! A forward call ([`DualCall`]) has a process-unique id and one or more
//! tangent directions. A tensor may carry tangents of a live forward call;
//! every differentiable op whose input carries one computes its output's
//! tangent in each such direction with the op's *tangent rule* (its
//! pushforward), which sits beside the op's forward kernel and backward
//! rule in the same family file. Nothing is recorded: the tangents are
//! computed on the spot and travel with the value, whose own computation
//! is shared by all directions.
//!
//! Tangent rules are written with the same differentiable tensor ops as the
//! backward rules, so the two modes compose:
//! * reverse-over-forward (the gradient of something computed with a
//!   forward call, e.g. the gradient of a loss that contains a Jacobian):
//!   the tangents are ordinary tracked values of the enclosing
//!   [`GradCall`](crate::GradCall);
//! * forward-over-reverse (the directional derivative of a gradient, e.g. a
//!   Hessian-vector product): the values a recorded node saves keep their
//!   tangents, so the backward rules, run on them, push the tangents on to
//!   the gradient.
//!
//! A value may carry the tangents of **one** live forward call: one op
//! reached by two at once (forward-over-forward) is an error naming the
//! op; nest a gradient instead. A finished call's tangents are ignored
//! wherever they linger (each tangent holds its call's liveness flag).
//!
//! First-order reverse mode pays for all this one `is_none()` per input of
//! an op.

use crate::autodiff::{CustomOp, Op};
use crate::{LuxError, Result, Tensor};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// One direction of a forward call: the call's id, the direction's index
/// in it, and whether the call is still running.
#[derive(Debug)]
pub(crate) struct Tag {
    id: u64,
    dir: usize,
    live: AtomicBool,
}

/// The tangents one value carries: one entry per direction of the live
/// forward call, in direction order (old ones of finished calls are dropped
/// when the next op reads them).
pub(crate) type Tangents = Arc<Vec<(Arc<Tag>, Tensor)>>;

/// One forward-mode (Jacobian-vector product) computation, along one or
/// several tangent directions at once.
///
/// [`seed`](DualCall::seed) attaches a tangent to an input; every op on
/// seeded values then carries the tangent of its result, read off with
/// [`tangent`](DualCall::tangent). This is the low-level engine under
/// `lux-ad`'s `jvp`, `batched_jacobian` and `AutoForward`.
///
/// ```
/// use lux_core::{DualCall, Tensor};
/// let x = Tensor::from_vec(vec![1.0f64, 2.0, 3.0], &[3])?;
/// let call = DualCall::new();
/// let xd = call.seed(&x, &Tensor::from_vec(vec![1.0f64, 0.0, 2.0], &[3])?)?;
/// let y = xd.square()?.sum_all()?; // Σ x², so ẏ = Σ 2x ẋ = 2 + 0 + 12
/// assert_eq!(call.tangent(&y)?.to_scalar::<f64>()?, 14.0);
/// assert_eq!(call.release(&y).to_scalar::<f64>()?, 14.0);
/// # Ok::<(), lux_core::LuxError>(())
/// ```
///
/// A call made by [`with_directions`](DualCall::with_directions) carries
/// `k` independent tangents (ForwardDiff's chunk): each op's value is
/// computed once and its tangent rule runs once per direction present on
/// its inputs. Each direction's tangent is computed exactly as a
/// one-direction call would compute it (the same operations on the same
/// values), so it is bit-for-bit the same; no direction picks up another's
/// (no second-order cross terms).
///
/// ```
/// use lux_core::{DualCall, Tensor};
/// let call = DualCall::with_directions(2)?;
/// let (a, b) = (Tensor::scalar(3.0f64), Tensor::scalar(5.0f64));
/// let a = call.seed_direction(&a, 0, &Tensor::scalar(1.0f64))?; // ∂/∂a
/// let b = call.seed_direction(&b, 1, &Tensor::scalar(1.0f64))?; // ∂/∂b
/// let y = a.square()?.mul(&b)?; // a²·b
/// assert_eq!(call.tangent_direction(&y, 0)?.to_scalar::<f64>()?, 30.0); // 2ab
/// assert_eq!(call.tangent_direction(&y, 1)?.to_scalar::<f64>()?, 9.0); // a²
/// # Ok::<(), lux_core::LuxError>(())
/// ```
#[derive(Debug)]
pub struct DualCall {
    /// One tag per direction, all with the call's id.
    tags: Vec<Arc<Tag>>,
}

impl Default for DualCall {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for DualCall {
    fn drop(&mut self) {
        for tag in &self.tags {
            tag.live.store(false, Ordering::Release);
        }
    }
}

impl DualCall {
    /// Starts a forward call with a fresh id and one direction.
    ///
    /// ```
    /// let call = lux_core::DualCall::new();
    /// let c = lux_core::Tensor::scalar(2.0f32);
    /// assert_eq!(call.tangent(&c)?.to_scalar::<f32>()?, 0.0); // a constant
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn new() -> Self {
        Self::make(1)
    }

    /// Starts a forward call with a fresh id and `k` tangent directions,
    /// seeded with [`seed_direction`](DualCall::seed_direction) and read
    /// with [`tangent_direction`](DualCall::tangent_direction).
    ///
    /// ```
    /// let call = lux_core::DualCall::with_directions(4)?;
    /// assert_eq!(call.directions(), 4);
    /// assert!(lux_core::DualCall::with_directions(0).is_err());
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// `k` is zero.
    pub fn with_directions(k: usize) -> Result<Self> {
        if k == 0 {
            return Err(LuxError::invalid_argument("forward call", "it needs at least one tangent direction"));
        }
        Ok(Self::make(k))
    }

    fn make(k: usize) -> Self {
        let id = crate::autodiff::next_id();
        DualCall { tags: (0..k).map(|dir| Arc::new(Tag { id, dir, live: AtomicBool::new(true) })).collect() }
    }

    /// The number of tangent directions this call carries.
    ///
    /// ```
    /// assert_eq!(lux_core::DualCall::new().directions(), 1);
    /// ```
    pub fn directions(&self) -> usize {
        self.tags.len()
    }

    /// `x` carrying the tangent `v` (cast to `x`'s dtype) for this call
    /// (its direction 0). `x` may itself be tracked by a gradient call.
    ///
    /// ```
    /// use lux_core::{DualCall, Tensor};
    /// let call = DualCall::new();
    /// let x = Tensor::from_vec(vec![1.0f32, 2.0], &[2])?;
    /// assert!(call.seed(&x, &Tensor::zeros(&[3], lux_core::DType::F32)?).is_err());
    /// assert!(call.seed(&x, &x)?.is_tracked());
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// `x` is not a float tensor, `v` is not a float tensor of `x`'s shape,
    /// or `x` already carries a tangent of another live forward call.
    pub fn seed(&self, x: &Tensor, v: &Tensor) -> Result<Tensor> {
        self.seed_direction(x, 0, v)
    }

    /// `x` carrying the tangent `v` (cast to `x`'s dtype) in direction `dir`
    /// of this call, keeping the tangents `x` already carries in this call's
    /// other directions (a direction already set is replaced).
    ///
    /// ```
    /// use lux_core::{DualCall, Tensor};
    /// let call = DualCall::with_directions(2)?;
    /// let x = Tensor::scalar(2.0f64);
    /// let x = call.seed_direction(&x, 0, &Tensor::scalar(1.0f64))?;
    /// let x = call.seed_direction(&x, 1, &Tensor::scalar(-3.0f64))?;
    /// let y = x.exp()?;
    /// assert_eq!(call.tangent_direction(&y, 1)?.to_scalar::<f64>()?, -3.0 * 2.0f64.exp());
    /// assert!(call.seed_direction(&x, 2, &Tensor::scalar(1.0f64)).is_err());
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// `dir` is not below [`directions`](DualCall::directions); otherwise as
    /// [`seed`](DualCall::seed).
    pub fn seed_direction(&self, x: &Tensor, dir: usize, v: &Tensor) -> Result<Tensor> {
        let tag = self.tag(dir)?;
        if !x.dtype().is_float() {
            return Err(LuxError::UnsupportedDType { op: "forward-mode input".into(), dtype: x.dtype() });
        }
        if !v.dtype().is_float() || v.shape() != x.shape() {
            return Err(crate::error::shape_err(
                "forward-mode seed",
                format!(
                    "the tangent ({} {:?}) must be a float tensor of the input's shape {:?}",
                    v.dtype(),
                    v.shape(),
                    x.shape()
                ),
            ));
        }
        let mut entries = live_entries(x);
        if let Some((other, _)) = entries.iter().find(|(t, _)| t.id != tag.id) {
            return Err(nested_error("forward-mode seed", other.id, tag.id));
        }
        let v = v.to_dtype(x.dtype())?;
        match entries.binary_search_by_key(&dir, |(t, _)| t.dir) {
            Ok(i) => entries[i].1 = v,
            Err(i) => entries.insert(i, (tag.clone(), v)),
        }
        let mut out = x.clone();
        out.tangents = Some(Arc::new(entries));
        Ok(out)
    }

    fn tag(&self, dir: usize) -> Result<&Arc<Tag>> {
        self.tags.get(dir).ok_or_else(|| {
            LuxError::invalid_argument(
                "forward call",
                format!("direction {dir} does not exist: the call has {} direction(s)", self.tags.len()),
            )
        })
    }

    /// The tangent this call gives `y` (its direction 0): zeros of `y`'s
    /// shape and dtype when `y` does not depend on a seeded input, without
    /// this call's own tangent on it.
    ///
    /// ```
    /// use lux_core::{DualCall, Tensor};
    /// let call = DualCall::new();
    /// let x = call.seed(&Tensor::scalar(3.0f64), &Tensor::scalar(1.0f64))?;
    /// assert_eq!(call.tangent(&x.exp()?)?.to_scalar::<f64>()?, 3.0f64.exp());
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// `y` is not a float tensor (an `argmax`, a comparison: no derivative).
    pub fn tangent(&self, y: &Tensor) -> Result<Tensor> {
        self.tangent_direction(y, 0)
    }

    /// The tangent this call gives `y` in direction `dir`, as
    /// [`tangent`](DualCall::tangent) does for direction 0.
    ///
    /// ```
    /// use lux_core::{DualCall, Tensor};
    /// let call = DualCall::with_directions(3)?;
    /// let x = call.seed_direction(&Tensor::scalar(3.0f64), 2, &Tensor::scalar(1.0f64))?;
    /// let y = x.square()?;
    /// assert_eq!(call.tangent_direction(&y, 2)?.to_scalar::<f64>()?, 6.0);
    /// assert_eq!(call.tangent_direction(&y, 0)?.to_scalar::<f64>()?, 0.0); // not seeded
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// `dir` is not below [`directions`](DualCall::directions), or `y` is
    /// not a float tensor.
    pub fn tangent_direction(&self, y: &Tensor, dir: usize) -> Result<Tensor> {
        let tag = self.tag(dir)?;
        if !y.dtype().is_float() {
            return Err(LuxError::DType {
                op: "jvp".into(),
                expected: "a float output (only float outputs can be differentiated)".into(),
                got: y.dtype(),
            });
        }
        match tangent_of(y, tag) {
            Some(t) => Ok(t),
            None => Ok(y.zeros_like()),
        }
    }

    /// `y` without this call's tangents, in every direction (a value
    /// leaving the call).
    ///
    /// ```
    /// use lux_core::{DualCall, Tensor};
    /// let call = DualCall::new();
    /// let x = call.seed(&Tensor::scalar(3.0f64), &Tensor::scalar(1.0f64))?;
    /// assert!(x.is_tracked() && !call.release(&x).is_tracked());
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn release(&self, y: &Tensor) -> Tensor {
        without(y, self.tags[0].id)
    }
}

fn nested_error(op: &str, a: u64, b: u64) -> LuxError {
    LuxError::Unsupported(format!(
        "{op}: a value carries the tangents of two forward calls ({a} and {b}); forward-over-forward \
         is not supported — nest a gradient (forward-over-reverse) instead"
    ))
}

/// The tangents of `x` whose calls are still running.
fn live_entries(x: &Tensor) -> Vec<(Arc<Tag>, Tensor)> {
    match &x.tangents {
        Some(ts) => ts.iter().filter(|(t, _)| t.live.load(Ordering::Acquire)).cloned().collect(),
        None => Vec::new(),
    }
}

/// `x`'s tangent in the direction `tag`, if it has one.
fn tangent_of(x: &Tensor, tag: &Arc<Tag>) -> Option<Tensor> {
    x.tangents.as_ref()?.iter().find(|(t, _)| Arc::ptr_eq(t, tag)).map(|(_, v)| v.clone())
}

/// `x` without its tangents for call `id` (and without those of finished calls).
fn without(x: &Tensor, id: u64) -> Tensor {
    let mut out = x.clone();
    if x.tangents.is_some() {
        let kept: Vec<_> = live_entries(x).into_iter().filter(|(t, _)| t.id != id).collect();
        out.tangents = if kept.is_empty() { None } else { Some(Arc::new(kept)) };
    }
    out
}

/// The tangents of an op's output, given its inputs (at least one of which
/// carries tangents) and its output value (with any gradient record, but no
/// tangents): the op's tangent rule run once per direction present on the
/// inputs, each time on the inputs stripped of all of the call's tangents,
/// so directions never mix. `None` when no input carries a live call's
/// tangent.
pub(crate) fn push(op: &Op, inputs: &[&Tensor], output: &Tensor) -> Result<Option<Tangents>> {
    if !output.dtype().is_float() {
        return Ok(None);
    }
    // Per direction (sorted by index): its tag and each input's tangent.
    let mut dirs: Vec<(Arc<Tag>, Vec<Option<Tensor>>)> = Vec::new();
    for (i, t) in inputs.iter().enumerate() {
        let Some(ts) = &t.tangents else { continue };
        for (tg, v) in ts.iter().filter(|(tg, _)| tg.live.load(Ordering::Acquire)) {
            if let Some((first, _)) = dirs.first()
                && first.id != tg.id
            {
                return Err(nested_error(&op_name(op), first.id, tg.id));
            }
            let k = match dirs.binary_search_by_key(&tg.dir, |(d, _)| d.dir) {
                Ok(k) => k,
                Err(k) => {
                    dirs.insert(k, (tg.clone(), vec![None; inputs.len()]));
                    k
                }
            };
            dirs[k].1[i] = Some(v.clone());
        }
    }
    let Some(id) = dirs.first().map(|(tg, _)| tg.id) else { return Ok(None) };
    let plain: Vec<Tensor> = inputs.iter().map(|t| without(t, id)).collect();
    let mut out = Vec::with_capacity(dirs.len());
    for (tag, tans) in dirs {
        let t = tangent_rule(op, &plain, output, &tans)?;
        if t.shape() != output.shape() {
            return Err(LuxError::Unsupported(format!(
                "internal: the tangent rule of {} gave shape {:?} for an output of shape {:?}",
                op_name(op),
                t.shape(),
                output.shape()
            )));
        }
        let t = if t.dtype() != output.dtype() { t.to_dtype(output.dtype())? } else { t };
        out.push((tag, t));
    }
    Ok(Some(Arc::new(out)))
}

fn op_name(op: &Op) -> String {
    match op {
        Op::Custom(c) => format!("custom op `{}`", c.name()),
        other => format!("{other:?}"),
    }
}

/// Dispatches to the tangent rule that sits beside each op's forward.
/// `inputs` carry no tangent of the call; `tangents[i]` is input `i`'s
/// (`None`: zero).
fn tangent_rule(op: &Op, inputs: &[Tensor], output: &Tensor, tangents: &[Option<Tensor>]) -> Result<Tensor> {
    let zero = || output.zeros_like();
    match op {
        Op::Leaf { .. } | Op::Identity => Ok(tangents[0].clone().unwrap_or_else(zero)),
        Op::Unary(u) => match &tangents[0] {
            Some(t) => u.tangent(t, &inputs[0], output),
            None => Ok(zero()),
        },
        Op::Binary(b) => b.tangent(&inputs[0], &inputs[1], output, &tangents[0], &tangents[1]),
        Op::Reduce(r) => match &tangents[0] {
            Some(t) => r.tangent(t, &inputs[0], output),
            None => Ok(zero()),
        },
        Op::Shape(s) => s.tangent(inputs, output, tangents),
        Op::Matmul => crate::ops::matmul::tangent(&inputs[0], &inputs[1], output, &tangents[0], &tangents[1]),
        Op::Where => crate::ops::binary::where_tangent(inputs, output, tangents),
        Op::Cast(_) => match &tangents[0] {
            Some(t) => t.to_dtype(output.dtype()),
            None => Ok(zero()),
        },
        Op::Custom(c) => c.tangent(inputs, output, tangents),
    }
}

/// The tangent of a [`CustomOp`]'s output computed by forward mode through
/// its [`composite`](CustomOp::composite) definition: the way an op with a
/// composite implements [`CustomOp::tangent`] when it has no faster rule.
///
/// ```
/// use lux_core::{forward::composite_tangent, CustomOp, DualCall, Result, Tensor};
/// use std::sync::Arc;
/// #[derive(Debug)]
/// struct Cube; // y = x³
/// impl CustomOp for Cube {
///     fn name(&self) -> &str { "cube" }
///     fn backward(&self, g: &Tensor, x: &[Tensor], _: &Tensor, _: &[bool]) -> Result<Vec<Option<Tensor>>> {
///         Ok(vec![Some(g.mul(&x[0].square()?.mul_scalar(3.0)?)?)])
///     }
///     fn tangent(&self, x: &[Tensor], _: &Tensor, t: &[Option<Tensor>]) -> Result<Tensor> {
///         composite_tangent(self, x, t)
///     }
///     fn composite(&self, x: &[Tensor]) -> Result<Option<Tensor>> {
///         Ok(Some(x[0].square()?.mul(&x[0])?))
///     }
/// }
/// let call = DualCall::new();
/// let x = call.seed(&Tensor::scalar(2.0f64), &Tensor::scalar(1.0f64))?;
/// let y = Tensor::from_custom_op(x.detach().powf(3.0)?, Arc::new(Cube), &[&x])?;
/// assert_eq!(call.tangent(&y)?.to_scalar::<f64>()?, 12.0); // 3x²
/// # Ok::<(), lux_core::LuxError>(())
/// ```
///
/// # Errors
/// The op has no composite, or the composite fails.
pub fn composite_tangent(op: &dyn CustomOp, inputs: &[Tensor], tangents: &[Option<Tensor>]) -> Result<Tensor> {
    let call = DualCall::new();
    let seeded = inputs
        .iter()
        .zip(tangents)
        .map(|(x, t)| match t {
            Some(t) if x.dtype().is_float() => call.seed(x, t),
            _ => Ok(x.clone()),
        })
        .collect::<Result<Vec<_>>>()?;
    let y = op.composite(&seeded)?.ok_or_else(|| {
        LuxError::Unsupported(format!("custom op `{}` has no composite to take a tangent through", op.name()))
    })?;
    call.tangent(&y)
}

/// `t`, or zeros shaped like `like` when there is no tangent: for linear
/// rules that need every input's tangent.
pub(crate) fn or_zeros(t: &Option<Tensor>, like: &Tensor) -> Tensor {
    t.clone().unwrap_or_else(|| like.zeros_like())
}
