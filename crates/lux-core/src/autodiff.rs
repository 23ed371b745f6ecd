//! The reverse-mode autodiff record.
//!
//! A tensor produced by a differentiable op carries a node only when at
//! least one of the op's inputs is *tracked*, i.e. depends on the inputs of a
//! gradient call that is under way. Plain inference never creates a node.
//!
//! Every gradient call ([`GradCall`]) has a process-unique id. A node records
//! the set of calls whose inputs it depends on. The backward pass of call `c`
//! visits only nodes that depend on `c`, in reverse creation order (node ids
//! grow monotonically, so a node's inputs always have smaller ids than the
//! node itself). Backward rules are written with the same differentiable
//! tensor ops; the saved tensors they use keep their record only if they also
//! depend on some *other* call, so a first-order gradient builds no graph,
//! while a gradient taken inside another gradient call is itself recorded for
//! the outer call (nested AD, no perturbation confusion).
//!
//! There is no global switch: the record hangs off the tensors and belongs to
//! the gradient calls that made it; two threads taking gradients never see
//! each other's nodes.

use crate::dtype::Data;
use crate::forward::Tangents;
use crate::ops::{binary::BinaryOp, matmul, reduce::ReduceOp, shape::ShapeOp, unary::UnaryOp};
use crate::{DType, LuxError, Result, Tensor, Tree};
use std::collections::{BinaryHeap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Source of node ids and call ids: both only need to grow monotonically.
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

pub(crate) fn next_id() -> u64 {
    NEXT_ID.fetch_add(1, Ordering::Relaxed)
}

/// The ids of the gradient calls that still exist (a [`GradCall`] registers
/// itself when made and leaves when dropped). Values computed during a call
/// keep its id in their records after it ends; only a live call can still
/// differentiate them, so a finished call's id is ignored where it would
/// otherwise keep a record alive or fill a [`CallSet`]. Consulted only in
/// nested situations (a record with more than one call), never on the
/// first-order path.
static LIVE_CALLS: std::sync::Mutex<Vec<u64>> = std::sync::Mutex::new(Vec::new());

fn live_calls() -> std::sync::MutexGuard<'static, Vec<u64>> {
    LIVE_CALLS.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// How many gradient calls one value may depend on at once (nesting depth).
pub const MAX_NESTING: usize = 8;

/// The set of gradient calls a node depends on (small, sorted, inline).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct CallSet {
    ids: [u64; MAX_NESTING],
    len: u8,
}

impl CallSet {
    fn single(id: u64) -> Self {
        let mut s = CallSet::default();
        s.ids[0] = id;
        s.len = 1;
        s
    }
    fn as_slice(&self) -> &[u64] {
        &self.ids[..self.len as usize]
    }
    pub(crate) fn contains(&self, id: u64) -> bool {
        self.as_slice().contains(&id)
    }
    fn has_other_than(&self, id: u64) -> bool {
        self.as_slice().iter().any(|&x| x != id)
    }
    /// Whether a call other than `id` that still exists is in the set.
    fn has_live_other_than(&self, id: u64) -> bool {
        self.has_other_than(id) && {
            let live = live_calls();
            self.as_slice().iter().any(|&x| x != id && live.contains(&x))
        }
    }
    /// Drops the ids of calls that no longer exist.
    fn prune(&mut self) {
        let live = live_calls();
        let kept: Vec<u64> = self.as_slice().iter().copied().filter(|x| live.contains(x)).collect();
        drop(live);
        *self = CallSet::default();
        for x in kept {
            self.ids[self.len as usize] = x;
            self.len += 1;
        }
    }
    fn insert(&mut self, id: u64) -> Result<()> {
        if self.contains(id) {
            return Ok(());
        }
        if self.len as usize == MAX_NESTING {
            self.prune();
        }
        if self.len as usize == MAX_NESTING {
            return Err(LuxError::Unsupported(format!(
                "a value depends on more than {MAX_NESTING} nested gradient calls"
            )));
        }
        self.ids[self.len as usize] = id;
        self.len += 1;
        Ok(())
    }
    fn union(&mut self, other: &CallSet) -> Result<()> {
        for &id in other.as_slice() {
            self.insert(id)?;
        }
        Ok(())
    }
    fn without(&self, id: u64) -> CallSet {
        let mut s = CallSet::default();
        for &x in self.as_slice() {
            if x != id {
                s.ids[s.len as usize] = x;
                s.len += 1;
            }
        }
        s
    }
}

/// What produced a node, with the non-tensor data its backward rule needs.
#[derive(Debug, Clone)]
pub(crate) enum Op {
    /// An input of gradient call `call`; its optional input is the tensor it
    /// stands for (tracked by outer calls), to which it is the identity.
    Leaf {
        call: u64,
    },
    /// Identity; used to drop a finished call from a result's call set.
    Identity,
    Unary(UnaryOp),
    Binary(BinaryOp),
    Reduce(ReduceOp),
    Shape(ShapeOp),
    Matmul,
    Where,
    Cast(DType),
    /// An op defined outside lux-core, with its own backward rule.
    Custom(Arc<dyn CustomOp>),
}

/// A differentiable op defined outside lux-core: a fused kernel (softmax,
/// convolution, a dense layer, …) with a hand-written backward rule.
///
/// The forward pass is any code that computes the output values; wrap them
/// with [`Tensor::from_custom_op`]. An op supplies the ways to
/// differentiate it:
/// * [`backward`](CustomOp::backward), the fast rule, used for a
///   first-order gradient: its cotangent and saved values are plain numbers
///   (untracked), so it may run any kernel on the raw data;
/// * [`composite`](CustomOp::composite), the same function written with
///   differentiable tensor ops. When the backward pass is itself being
///   differentiated (nested AD: the cotangent, the output or an input is
///   tracked), the engine takes the vector-Jacobian product of `composite`
///   instead, so the op nests. An op without a composite (the default)
///   must write `backward` with differentiable ops, which are then
///   differentiated directly;
/// * [`tangent`](CustomOp::tangent) (required), the forward-mode rule used
///   by [`DualCall`](crate::DualCall) (`jvp`, `AutoForward`).
///
/// ```
/// use lux_core::{CustomOp, GradCall, Result, Tensor};
/// use std::sync::Arc;
///
/// /// `y = 3x`, computed by a "kernel".
/// #[derive(Debug)]
/// struct Triple;
/// impl CustomOp for Triple {
///     fn name(&self) -> &str { "triple" }
///     fn backward(&self, g: &Tensor, _: &[Tensor], _: &Tensor, _: &[bool]) -> Result<Vec<Option<Tensor>>> {
///         Ok(vec![Some(g.mul_scalar(3.0)?)])
///     }
///     fn tangent(&self, _: &[Tensor], _: &Tensor, t: &[Option<Tensor>]) -> Result<Tensor> {
///         t[0].as_ref().expect("one input, so its tangent is given").mul_scalar(3.0)
///     }
///     fn composite(&self, inputs: &[Tensor]) -> Result<Option<Tensor>> {
///         Ok(Some(inputs[0].mul_scalar(3.0)?))
///     }
/// }
/// fn triple(x: &Tensor) -> Result<Tensor> {
///     let values = x.detach().mul_scalar(3.0)?; // any kernel
///     Tensor::from_custom_op(values, Arc::new(Triple), &[x])
/// }
///
/// let mut call = GradCall::new();
/// let x = call.track(&Tensor::from_vec(vec![1.0f64, 2.0], &[2])?)?;
/// let y = triple(&x)?.sum_all()?;
/// assert_eq!(call.backward(&y, None)?[0].to_vec::<f64>()?, vec![3.0, 3.0]);
/// # Ok::<(), lux_core::LuxError>(())
/// ```
pub trait CustomOp: Send + Sync + std::fmt::Debug {
    /// The op's name, for error messages.
    fn name(&self) -> &str;

    /// The cotangents of the inputs, given the output's cotangent `grad`.
    /// `inputs` and `output` are the values the forward pass saw and made;
    /// unless the op has no [`composite`](CustomOp::composite), `grad`,
    /// `inputs` and `output` are untracked here (a first-order gradient).
    /// Return one entry per input, of the input's shape; an entry may be
    /// `None` (no gradient) where `needs[i]` is false.
    fn backward(
        &self,
        grad: &Tensor,
        inputs: &[Tensor],
        output: &Tensor,
        needs: &[bool],
    ) -> Result<Vec<Option<Tensor>>>;

    /// The tangent (pushforward) of the output, given the inputs' tangents
    /// (`tangents[i]` is `None` where input `i` carries none: a zero
    /// tangent); of the output's shape. Used by forward mode
    /// ([`DualCall`](crate::DualCall)). Write it with differentiable tensor
    /// ops (so it can be differentiated again); `inputs` and `output` carry
    /// no tangent of the forward call. There is deliberately no default: an
    /// op with a [`composite`](CustomOp::composite) and no faster rule says
    /// so with [`composite_tangent`](crate::forward::composite_tangent).
    ///
    /// # Errors
    /// The tangent cannot be computed.
    fn tangent(&self, inputs: &[Tensor], output: &Tensor, tangents: &[Option<Tensor>]) -> Result<Tensor>;

    /// The op's output recomputed from `inputs` with differentiable tensor
    /// ops, differentiated in place of [`backward`](CustomOp::backward)
    /// when a gradient of a gradient is taken; `Ok(None)` (the default)
    /// when `backward` is itself differentiable.
    fn composite(&self, _inputs: &[Tensor]) -> Result<Option<Tensor>> {
        Ok(None)
    }
}

/// One recorded op application.
pub(crate) struct Node {
    id: u64,
    calls: CallSet,
    op: Op,
    inputs: Vec<Tensor>,
    output: Data,
    /// The output's tangents (forward mode), kept so that a backward rule
    /// using the output pushes them on (forward-over-reverse).
    output_tangents: std::sync::OnceLock<Tangents>,
}

impl Drop for Node {
    // Long chains (e.g. a recurrence over many steps) would otherwise be
    // dropped recursively and could overflow the stack.
    fn drop(&mut self) {
        let mut stack: Vec<Tensor> = std::mem::take(&mut self.inputs);
        while let Some(mut t) = stack.pop() {
            if let Some(node) = t.node.take() {
                if let Ok(mut inner) = Arc::try_unwrap(node) {
                    stack.append(&mut inner.inputs);
                }
            }
        }
    }
}

impl Tensor {
    /// Builds the result of a differentiable op: records a node only when an
    /// input is tracked.
    pub(crate) fn from_op(output: Data, op: Op, inputs: &[&Tensor]) -> Result<Tensor> {
        let mut calls = CallSet::default();
        let mut tracked = false;
        let mut dual = false;
        let mut marked = false;
        for t in inputs {
            if let Some(n) = &t.node {
                tracked = true;
                calls.union(&n.calls)?;
            }
            dual |= t.tangents.is_some();
            marked |= t.mark.is_some();
        }
        // A compiled-tape run takes the op into its flat record instead.
        if marked {
            if let Some(y) = crate::compiled::record_op(&output, &op, inputs)? {
                return Ok(y);
            }
        }
        if !tracked && !dual {
            return Ok(Tensor { data: output, node: None, tangents: None, mark: None });
        }
        // Forward mode needs the op after the node has taken it.
        let op_for_tangent = if dual && tracked { Some(op.clone()) } else { None };
        let mut y = if tracked {
            let node = Node {
                id: next_id(),
                calls,
                op,
                inputs: inputs.iter().map(|t| (*t).clone()).collect(),
                output: output.clone(),
                output_tangents: std::sync::OnceLock::new(),
            };
            Tensor { data: output, node: Some(Arc::new(node)), tangents: None, mark: None }
        } else {
            let y = Tensor { data: output, node: None, tangents: None, mark: None };
            y.tangents_from(&op, inputs)?
        };
        if let Some(op) = op_for_tangent {
            y = y.tangents_from(&op, inputs)?;
            if let (Some(node), Some(t)) = (&y.node, &y.tangents) {
                let _ = node.output_tangents.set(t.clone());
            }
        }
        Ok(y)
    }

    /// `self` (an op's output, with its record) given the tangents the op's
    /// tangent rule computes from `inputs`'.
    fn tangents_from(mut self, op: &Op, inputs: &[&Tensor]) -> Result<Tensor> {
        self.tangents = crate::forward::push(op, inputs, &self)?;
        Ok(self)
    }

    /// The result of a [`CustomOp`] applied to `inputs`: `output`'s values,
    /// recorded with `op`'s backward rule when an input is tracked (any
    /// record `output` itself has is replaced).
    ///
    /// ```
    /// use lux_core::{CustomOp, GradCall, Result, Tensor};
    /// use std::sync::Arc;
    /// #[derive(Debug)]
    /// struct Double; // y = 2x, backward written with differentiable ops
    /// impl CustomOp for Double {
    ///     fn name(&self) -> &str { "double" }
    ///     fn backward(&self, g: &Tensor, _: &[Tensor], _: &Tensor, _: &[bool]) -> Result<Vec<Option<Tensor>>> {
    ///         Ok(vec![Some(g.mul_scalar(2.0)?)])
    ///     }
    ///     fn tangent(&self, _: &[Tensor], _: &Tensor, t: &[Option<Tensor>]) -> Result<Tensor> {
    ///         t[0].as_ref().expect("one input, so its tangent is given").mul_scalar(2.0)
    ///     }
    /// }
    /// let mut call = GradCall::new();
    /// let x = call.track(&Tensor::from_vec(vec![1.0f64, 2.0], &[2])?)?;
    /// let y = Tensor::from_custom_op(x.detach().mul_scalar(2.0)?, Arc::new(Double), &[&x])?;
    /// assert_eq!(call.backward(&y.sum_all()?, None)?[0].to_vec::<f64>()?, vec![2.0, 2.0]);
    /// let c = Tensor::scalar(1.0f64);
    /// assert!(!Tensor::from_custom_op(c.mul_scalar(2.0)?, Arc::new(Double), &[&c])?.is_tracked());
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// Nesting deeper than [`MAX_NESTING`]; an output dtype the inputs do
    /// not promote to while the ops stability check is in `error` mode
    /// ([`stability`](crate::stability)).
    pub fn from_custom_op(output: Tensor, op: Arc<dyn CustomOp>, inputs: &[&Tensor]) -> Result<Tensor> {
        crate::stability::check_op_output(op.name(), inputs, &output)?;
        Tensor::from_op(output.data, Op::Custom(op), inputs)
    }

    /// `true` if this tensor is recorded for an ongoing gradient call or
    /// carries a forward-mode tangent (either way, kernels that bypass the
    /// differentiable ops must not be used on it).
    ///
    /// ```
    /// use lux_core::{GradCall, Tensor};
    /// let x = Tensor::scalar(2.0f64);
    /// assert!(!x.mul(&x)?.is_tracked()); // plain inference records nothing
    /// let mut call = GradCall::new();
    /// let xt = call.track(&x)?;
    /// assert!(xt.mul(&xt)?.is_tracked() && !x.is_tracked());
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn is_tracked(&self) -> bool {
        self.node.is_some() || self.tangents.is_some() || self.mark.is_some()
    }

    /// The same values and tangents without the gradient record: what a
    /// backward rule computes with, so forward mode reaches through it.
    fn without_record(&self) -> Tensor {
        Tensor { data: self.data.clone(), node: None, tangents: self.tangents.clone(), mark: None }
    }

    /// The same values, cut off from any gradient record (a constant).
    ///
    /// ```
    /// use lux_core::{GradCall, Tensor};
    /// let mut call = GradCall::new();
    /// let x = call.track(&Tensor::from_vec(vec![3.0f64], &[1])?)?;
    /// let y = x.mul(&x.detach())?.sum_all()?; // x · c with c = 3 held constant
    /// assert_eq!(call.backward(&y, None)?[0].to_vec::<f64>()?, vec![3.0]); // not 2x = 6
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn detach(&self) -> Tensor {
        Tensor { data: self.data.clone(), node: None, tangents: None, mark: None }
    }
}

/// One reverse-mode gradient computation: its inputs (leaves) and its id.
///
/// This is the low-level engine under `lux-ad`'s `gradient`, `vjp`, …; most
/// code uses those instead.
///
/// ```
/// use lux_core::{GradCall, Tensor};
/// let x = Tensor::from_vec(vec![1.0f64, 2.0, 3.0], &[3])?;
/// let mut call = GradCall::new();
/// let xt = call.track(&x)?;
/// let y = xt.mul(&xt)?.sum_all()?; // Σ x²
/// let g = call.backward(&y, None)?;
/// assert_eq!(g[0].to_vec::<f64>()?, vec![2.0, 4.0, 6.0]);
/// # Ok::<(), lux_core::LuxError>(())
/// ```
pub struct GradCall {
    id: u64,
    leaves: Vec<Tensor>,
}

impl Drop for GradCall {
    fn drop(&mut self) {
        let mut live = live_calls();
        if let Some(i) = live.iter().position(|&x| x == self.id) {
            live.swap_remove(i);
        }
    }
}

impl Default for GradCall {
    fn default() -> Self {
        Self::new()
    }
}

#[derive(PartialEq, Eq)]
struct ById(Arc<Node>);
impl PartialEq for Node {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}
impl Eq for Node {}
impl Ord for ById {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.id.cmp(&other.0.id)
    }
}
impl PartialOrd for ById {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl GradCall {
    /// Starts a gradient call with a fresh id.
    ///
    /// ```
    /// use lux_core::{GradCall, Tensor};
    /// let call = GradCall::new(); // nothing tracked yet: no gradients to return
    /// assert!(call.backward(&Tensor::scalar(1.0f64), None)?.is_empty());
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn new() -> Self {
        let id = next_id();
        live_calls().push(id);
        GradCall { id, leaves: Vec::new() }
    }

    /// Marks `x` as an input of this call and returns the tracked value to
    /// compute with. `x` may itself be tracked by an enclosing call.
    ///
    /// ```
    /// use lux_core::{GradCall, Tensor};
    /// let mut call = GradCall::new();
    /// let x = call.track(&Tensor::from_vec(vec![1.0f32, 2.0], &[2])?)?;
    /// assert!(x.is_tracked());
    /// assert!(call.track(&Tensor::from_vec(vec![1i64], &[1])?).is_err()); // not a float tensor
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// `x` is not a float tensor, or nesting is deeper than [`MAX_NESTING`].
    pub fn track(&mut self, x: &Tensor) -> Result<Tensor> {
        if !x.dtype().is_float() {
            return Err(LuxError::UnsupportedDType { op: "gradient input".into(), dtype: x.dtype() });
        }
        crate::compiled::refuse_nested("a gradient call (GradCall::track)", x)?;
        let mut calls = CallSet::single(self.id);
        let inputs = match &x.node {
            Some(n) => {
                calls.union(&n.calls)?;
                vec![x.clone()]
            }
            None => Vec::new(),
        };
        let output_tangents = std::sync::OnceLock::new();
        if let Some(t) = &x.tangents {
            let _ = output_tangents.set(t.clone());
        }
        let node = Node {
            id: next_id(),
            calls,
            op: Op::Leaf { call: self.id },
            inputs,
            output: x.data.clone(),
            output_tangents,
        };
        let t = Tensor { data: x.data.clone(), node: Some(Arc::new(node)), tangents: x.tangents.clone(), mark: None };
        self.leaves.push(t.clone());
        Ok(t)
    }

    /// The gradients of `output` with respect to every tracked input, in the
    /// order they were tracked (zeros for inputs `output` does not depend on).
    ///
    /// `seed` is the cotangent of `output` (same shape); `None` means ones,
    /// which requires `output` to have exactly one element.
    ///
    /// The results carry records only for enclosing gradient calls.
    ///
    /// ```
    /// use lux_core::{GradCall, Tensor};
    /// let mut call = GradCall::new();
    /// let x = call.track(&Tensor::from_vec(vec![1.0f64, 2.0], &[2])?)?;
    /// let y = x.mul_scalar(3.0)?; // two elements: needs a seed
    /// let u = Tensor::from_vec(vec![1.0f64, -1.0], &[2])?;
    /// assert_eq!(call.backward(&y, Some(&u))?[0].to_vec::<f64>()?, vec![3.0, -3.0]);
    /// assert!(call.backward(&y, None).is_err());
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// `output` is not a float tensor (an `argmax`, a comparison: there is
    /// no derivative to take), `seed`'s shape differs from `output`'s, or
    /// `seed` is `None` and `output` has more than one element.
    pub fn backward(&self, output: &Tensor, seed: Option<&Tensor>) -> Result<Vec<Tensor>> {
        let ones;
        let seed = match seed {
            Some(s) => s,
            None => {
                if output.len() != 1 {
                    return Err(crate::error::shape_err(
                        "gradient",
                        format!("the function must return a single value, got shape {:?}", output.shape()),
                    ));
                }
                ones = Tensor::ones(output.shape(), output.dtype())?;
                &ones
            }
        };
        self.backward_many(&[(output, seed)])
    }

    /// The gradients of several outputs at once: with `roots` =
    /// `[(y₁, u₁), (y₂, u₂), …]`, the gradient of `Σᵢ ⟨yᵢ, uᵢ⟩` with respect
    /// to every tracked input, in one backward pass (a vector-Jacobian
    /// product of a function with several outputs). The same output may
    /// appear twice; its cotangents add.
    ///
    /// ```
    /// use lux_core::{GradCall, Tensor};
    /// let mut call = GradCall::new();
    /// let x = call.track(&Tensor::from_vec(vec![1.0f64, 2.0], &[2])?)?;
    /// let (a, b) = (x.square()?, x.mul_scalar(3.0)?);
    /// let (ua, ub) = (Tensor::from_vec(vec![1.0f64, 0.5], &[2])?, Tensor::from_vec(vec![2.0f64, 1.0], &[2])?);
    /// // ∂/∂x (⟨x², ua⟩ + ⟨3x, ub⟩) = 2x ⊙ ua + 3 ub
    /// let g = call.backward_many(&[(&a, &ua), (&b, &ub)])?;
    /// assert_eq!(g[0].to_vec::<f64>()?, vec![8.0, 5.0]);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// An output is not a float tensor, or a cotangent's shape differs
    /// from its output's.
    pub fn backward_many(&self, roots: &[(&Tensor, &Tensor)]) -> Result<Vec<Tensor>> {
        let mut seeds: Vec<(Arc<Node>, Tensor)> = Vec::with_capacity(roots.len());
        for &(output, seed) in roots {
            check_float_output("backward", output)?;
            if seed.shape() != output.shape() {
                return Err(crate::error::shape_err(
                    "backward",
                    format!("cotangent shape {:?} differs from output shape {:?}", seed.shape(), output.shape()),
                ));
            }
            if let Some(root) = output.node.as_ref().filter(|n| n.calls.contains(self.id)) {
                seeds.push((root.clone(), seed.to_dtype(output.dtype())?));
            }
        }
        let mut leaf_grads: HashMap<u64, Tensor> = HashMap::new();
        if !seeds.is_empty() {
            self.propagate(seeds, &mut leaf_grads)?;
        }
        self.leaves
            .iter()
            .map(|leaf| {
                let node = leaf.node.as_ref().expect("leaves are tracked");
                match leaf_grads.remove(&node.id) {
                    Some(g) => self.release(&g),
                    None => Tensor::zeros(leaf.shape(), leaf.dtype()),
                }
            })
            .collect()
    }

    fn propagate(&self, roots: Vec<(Arc<Node>, Tensor)>, leaf_grads: &mut HashMap<u64, Tensor>) -> Result<()> {
        let id = self.id;
        let mut grads: HashMap<u64, Tensor> = HashMap::new();
        let mut heap = BinaryHeap::new();
        for (root, seed) in roots {
            match grads.remove(&root.id) {
                Some(acc) => {
                    grads.insert(root.id, acc.add(&seed)?);
                }
                None => {
                    grads.insert(root.id, seed);
                    heap.push(ById(root));
                }
            }
        }
        while let Some(ById(node)) = heap.pop() {
            let g = grads.remove(&node.id).expect("queued nodes have a gradient");
            if matches!(node.op, Op::Leaf { call } if call == id) {
                leaf_grads.insert(node.id, g);
                continue;
            }
            let needs: Vec<bool> =
                node.inputs.iter().map(|t| t.node.as_ref().is_some_and(|n| n.calls.contains(id))).collect();
            if !needs.iter().any(|&b| b) {
                continue;
            }
            // A slice's cotangent goes straight into its input's buffer
            // (first order only: a tracked cotangent takes the
            // differentiable rule below, so nested AD still records it).
            if let Op::Shape(ShapeOp::Narrow { axis, start, .. }) = &node.op {
                if !g.is_tracked() {
                    let input = &node.inputs[0];
                    let parent = input.node.as_ref().expect("needed inputs are tracked");
                    let mut acc = grads.remove(&parent.id);
                    let fresh = acc.is_none();
                    let done = accumulate_slice(&mut acc, input, &g, *axis, *start)?;
                    if let Some(acc) = acc {
                        grads.insert(parent.id, acc);
                    }
                    if done {
                        if fresh {
                            heap.push(ById(parent.clone()));
                        }
                        continue;
                    }
                }
            }
            // Saved values keep their record only for other (enclosing) calls.
            let keep = |t: &Tensor| match &t.node {
                Some(n) if n.calls.has_live_other_than(id) => t.clone(),
                _ => t.without_record(),
            };
            let inputs: Vec<Tensor> = node.inputs.iter().map(keep).collect();
            let tangents = node.output_tangents.get().cloned();
            let output = if node.calls.has_live_other_than(id) {
                Tensor { data: node.output.clone(), node: Some(node.clone()), tangents, mark: None }
            } else {
                Tensor { data: node.output.clone(), node: None, tangents, mark: None }
            };
            let input_grads = backward_rule(&node.op, &g, &inputs, &output, &needs)?;
            for (i, gi) in input_grads.into_iter().enumerate() {
                let (Some(gi), true) = (gi, needs[i]) else { continue };
                let input = &node.inputs[i];
                let gi = fit_gradient(&node.op, gi, input)?;
                let parent = input.node.as_ref().expect("needed inputs are tracked");
                match grads.remove(&parent.id) {
                    Some(acc) => {
                        grads.insert(parent.id, acc.add(&gi)?);
                    }
                    None => {
                        grads.insert(parent.id, gi);
                        heap.push(ById(parent.clone()));
                    }
                }
            }
        }
        Ok(())
    }

    /// Removes this call from `t`'s record: the value stays tracked only for
    /// enclosing calls. Apply it to everything a gradient call returns.
    ///
    /// ```
    /// use lux_core::{GradCall, Tensor};
    /// let mut call = GradCall::new();
    /// let x = call.track(&Tensor::scalar(2.0f64))?;
    /// let y = call.release(&x.square()?)?;
    /// assert!(!y.is_tracked()); // no enclosing call: a constant now
    /// assert_eq!(y.to_scalar::<f64>()?, 4.0);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn release(&self, t: &Tensor) -> Result<Tensor> {
        match &t.node {
            Some(n) if n.calls.contains(self.id) => {
                let mut calls = n.calls.without(self.id);
                if calls.len > 0 {
                    calls.prune(); // only live enclosing calls can still use the record
                }
                if calls.len == 0 {
                    Ok(t.without_record())
                } else {
                    let output_tangents = std::sync::OnceLock::new();
                    if let Some(ts) = &t.tangents {
                        let _ = output_tangents.set(ts.clone());
                    }
                    let node = Node {
                        id: next_id(),
                        calls,
                        op: Op::Identity,
                        inputs: vec![t.clone()],
                        output: t.data.clone(),
                        output_tangents,
                    };
                    Ok(Tensor {
                        data: t.data.clone(),
                        node: Some(Arc::new(node)),
                        tangents: t.tangents.clone(),
                        mark: None,
                    })
                }
            }
            _ => Ok(t.clone()),
        }
    }
}

/// A value that can leave a gradient call: every tensor in it is
/// [released](GradCall::release) (untracked for the call, still tracked for
/// enclosing ones), everything else passes through.
///
/// This is how `lux-ad`'s `value_and_gradient_aux` hands back an
/// objective's auxiliary output (new state, statistics) next to the loss.
/// It is implemented for [`Tensor`], [`Tree`], `()`, plain numbers, `bool`,
/// `String`, and `Option`s, `Vec`s and tuples (up to four) of such values;
/// implement it for a struct of your own by releasing each field.
///
/// ```
/// use lux_core::{GradCall, Release, Tensor, tree};
/// let mut call = GradCall::new();
/// let x = call.track(&Tensor::from_vec(vec![2.0f64], &[1])?)?;
/// let aux = (tree! { y: x.square()? }, 3usize);
/// assert!(aux.0.tensor("y")?.is_tracked());
/// let (st, n) = aux.release(&call)?;
/// assert!(!st.tensor("y")?.is_tracked());
/// assert_eq!((st.tensor("y")?.to_vec::<f64>()?, n), (vec![4.0], 3));
/// # Ok::<(), lux_core::LuxError>(())
/// ```
pub trait Release: Sized {
    /// `self` with `call` removed from the record of every tensor in it.
    ///
    /// # Errors
    /// Nesting deeper than [`MAX_NESTING`] (from [`GradCall::release`]).
    fn release(self, call: &GradCall) -> Result<Self>;
}

impl Release for Tensor {
    fn release(self, call: &GradCall) -> Result<Self> {
        call.release(&self)
    }
}

impl Release for Tree {
    fn release(self, call: &GradCall) -> Result<Self> {
        self.try_map(|_, t| call.release(t))
    }
}

impl<T: Release> Release for Option<T> {
    fn release(self, call: &GradCall) -> Result<Self> {
        self.map(|v| v.release(call)).transpose()
    }
}

impl<T: Release> Release for Vec<T> {
    fn release(self, call: &GradCall) -> Result<Self> {
        self.into_iter().map(|v| v.release(call)).collect()
    }
}

macro_rules! release_plain {
    ($($t:ty),*) => {$(
        impl Release for $t {
            /// Plain data holds no tensors: returned as is.
            fn release(self, _: &GradCall) -> Result<Self> {
                Ok(self)
            }
        }
    )*};
}
release_plain!((), bool, f32, f64, i32, i64, u32, u64, usize, String);

macro_rules! release_tuple {
    ($($name:ident),+) => {
        impl<$($name: Release),+> Release for ($($name,)+) {
            #[allow(non_snake_case)]
            fn release(self, call: &GradCall) -> Result<Self> {
                let ($($name,)+) = self;
                Ok(($($name.release(call)?,)+))
            }
        }
    };
}
release_tuple!(A);
release_tuple!(A, B);
release_tuple!(A, B, C);
release_tuple!(A, B, C, D);

/// Adds the untracked cotangent `g` of `input.narrow(axis, start, _)` into
/// `slot`, the gradient accumulated for `input`, in place: the accumulator is made
/// (zeros of `input`'s shape) the first time and then owned by the backward
/// pass, so the slices of one tensor cost their own size each, not the whole
/// tensor's (`eachslice` over T steps is linear in T, not quadratic).
/// Returns `false`, having done nothing, when the general rule must run
/// instead: a tracked accumulator (nested AD), or a dtype other than f32/f64.
pub(crate) fn accumulate_slice(
    slot: &mut Option<Tensor>,
    input: &Tensor,
    g: &Tensor,
    axis: usize,
    start: usize,
) -> Result<bool> {
    if !matches!(input.dtype(), DType::F32 | DType::F64) {
        return Ok(false);
    }
    let unusable = |acc: &Tensor| acc.is_tracked() || acc.dtype() != input.dtype() || acc.shape() != input.shape();
    if slot.as_ref().is_some_and(unusable) {
        return Ok(false);
    }
    let g = if g.dtype() != input.dtype() { g.to_dtype(input.dtype())? } else { g.clone() };
    let len = g.shape().get(axis).copied().unwrap_or(0);
    let fits = g.ndim() == input.ndim()
        && start + len <= input.shape()[axis]
        && g.shape().iter().zip(input.shape()).enumerate().all(|(d, (a, b))| d == axis || a == b);
    if !fits {
        return Err(LuxError::Unsupported(format!(
            "internal: a slice cotangent of shape {:?} at {start} on axis {axis} does not fit an input of shape {:?}",
            g.shape(),
            input.shape()
        )));
    }
    let mut acc = match slot.take() {
        Some(acc) => acc,
        None => Tensor::zeros(input.shape(), input.dtype())?,
    };
    fn add_into<T: Copy + std::ops::AddAssign>(
        acc: &mut ndarray::ArcArray<T, ndarray::IxDyn>,
        g: &ndarray::ArcArray<T, ndarray::IxDyn>,
        axis: usize,
        start: usize,
        len: usize,
    ) {
        // `slice_axis_mut` makes the buffer unique first (copy-on-write).
        let mut part = acc.slice_axis_mut(ndarray::Axis(axis), ndarray::Slice::from(start..start + len));
        part.zip_mut_with(g, |a, &b| *a += b);
    }
    match (&mut acc.data, &g.data) {
        (Data::F32(a), Data::F32(b)) => add_into(a, b, axis, start, len),
        (Data::F64(a), Data::F64(b)) => add_into(a, b, axis, start, len),
        _ => unreachable!("both are in the input's dtype, f32 or f64"),
    }
    *slot = Some(acc);
    Ok(true)
}

/// An input's cotangent from a backward rule, in the input's dtype; a rule
/// that returns another shape is a bug, reported rather than propagated.
pub(crate) fn fit_gradient(op: &Op, gi: Tensor, input: &Tensor) -> Result<Tensor> {
    let gi = if gi.dtype() != input.dtype() { gi.to_dtype(input.dtype())? } else { gi };
    if gi.shape() != input.shape() {
        return Err(LuxError::Unsupported(format!(
            "internal: backward of {op:?} gave a gradient of shape {:?} for an input of shape {:?}",
            gi.shape(),
            input.shape()
        )));
    }
    Ok(gi)
}

/// Only float outputs have derivatives: the gradient of an integer or
/// bool result (an `argmax`, a comparison) is an error, not zeros.
fn check_float_output(op: &str, output: &Tensor) -> Result<()> {
    if output.dtype().is_float() {
        return Ok(());
    }
    Err(LuxError::DType {
        op: op.into(),
        expected: "a float output (only float outputs can be differentiated)".into(),
        got: output.dtype(),
    })
}

/// The vector-Jacobian product `gᵀ · ∂composite(inputs)` of a custom op's
/// composite definition (one nested reverse pass over its float inputs), or
/// `None` when the op has no composite.
fn composite_vjp(op: &dyn CustomOp, inputs: &[Tensor], g: &Tensor) -> Result<Option<Vec<Option<Tensor>>>> {
    let mut call = GradCall::new();
    let tracked = inputs
        .iter()
        .map(|x| if x.dtype().is_float() { call.track(x) } else { Ok(x.clone()) })
        .collect::<Result<Vec<_>>>()?;
    let Some(y) = op.composite(&tracked)? else { return Ok(None) };
    let mut grads = call.backward(&y, Some(g))?.into_iter();
    Ok(Some(inputs.iter().map(|x| if x.dtype().is_float() { grads.next() } else { None }).collect()))
}

/// Dispatches to the backward rule that sits beside each op's forward.
pub(crate) fn backward_rule(
    op: &Op,
    g: &Tensor,
    inputs: &[Tensor],
    output: &Tensor,
    needs: &[bool],
) -> Result<Vec<Option<Tensor>>> {
    match op {
        Op::Leaf { .. } | Op::Identity => Ok(vec![Some(g.clone())]),
        Op::Unary(u) => Ok(vec![Some(u.backward(g, &inputs[0], output)?)]),
        Op::Binary(b) => b.backward(g, &inputs[0], &inputs[1], output, needs),
        Op::Reduce(r) => Ok(vec![Some(r.backward(g, &inputs[0], output)?)]),
        Op::Shape(s) => s.backward(g, inputs, needs),
        Op::Matmul => matmul::backward(g, &inputs[0], &inputs[1], needs),
        Op::Where => crate::ops::binary::where_backward(g, inputs, needs),
        Op::Cast(from) => Ok(vec![Some(g.to_dtype(*from)?)]),
        Op::Custom(c) => {
            // A backward pass that is itself differentiated goes through the
            // op's composite definition; a first-order one through its kernel.
            if g.is_tracked() || output.is_tracked() || inputs.iter().any(Tensor::is_tracked) {
                if let Some(grads) = composite_vjp(c.as_ref(), inputs, g)? {
                    return Ok(grads);
                }
            }
            let grads = c.backward(g, inputs, output, needs)?;
            if grads.len() != inputs.len() {
                return Err(LuxError::Unsupported(format!(
                    "backward of custom op `{}` returned {} gradients for {} inputs",
                    c.name(),
                    grads.len(),
                    inputs.len()
                )));
            }
            Ok(grads)
        }
    }
}
