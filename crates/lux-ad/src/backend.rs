//! AD backend types: the Rust reading of Lux's ADTypes table.

use crate::check::finite_difference_gradient;
use crate::drivers::{value_and_gradient, value_and_gradient_aux};
use crate::untrack_tree;
use lux_core::{LuxError, Result, Tensor, Tree};

/// A way of computing `f(x)` and `∇f(x)` for a scalar `f` over a [`Tree`].
///
/// Lux's training API takes such a backend (`AutoZygote()`, …); here the
/// backend values are [`AutoTape`], [`AutoCompiledTape`], [`AutoForward`]
/// (and its [`AutoForward::chunked`]) and [`AutoFiniteDiff`]. A backend that cannot serve a request returns
/// [`LuxError::Unsupported`], never a wrong answer.
pub trait AdBackend: Send + Sync {
    /// The name used in messages, e.g. `"AutoTape"`.
    fn name(&self) -> &'static str;

    /// `f(x)` and its gradient shaped like `x`.
    ///
    /// # Errors
    /// `f` fails, its output is not a single value, or the backend does not
    /// support the request.
    ///
    /// The provided method calls
    /// [`value_and_gradient_aux`](AdBackend::value_and_gradient_aux) with an
    /// empty auxiliary tree; a backend overrides it when a plain objective
    /// has a cheaper path.
    fn value_and_gradient(&self, f: &dyn Fn(&Tree) -> Result<Tensor>, x: &Tree) -> Result<(Tensor, Tree)> {
        let ((value, _), grads) = self.value_and_gradient_aux(&|t: &Tree| Ok((f(t)?, Tree::new())), x)?;
        Ok((value, grads))
    }

    /// As [`value_and_gradient`](AdBackend::value_and_gradient) for an
    /// objective that also returns an auxiliary tree (a training
    /// objective's new state and statistics): `((f(x), aux), ∇f(x))`, with
    /// `aux` holding plain (untracked) tensors.
    ///
    /// ```
    /// use lux_ad::{AdBackend, AutoFiniteDiff, AutoTape};
    /// use lux_core::{tree, Result, Tensor, Tree};
    /// let ps = tree! { w: Tensor::from_vec(vec![3.0f64], &[1])? };
    /// let f = |p: &Tree| -> Result<(Tensor, Tree)> {
    ///     let w2 = p.tensor("w")?.square()?;
    ///     Ok((w2.sum_all()?, tree! { w2: w2 }))
    /// };
    /// for backend in [&AutoTape as &dyn AdBackend, &AutoFiniteDiff::default()] {
    ///     let ((loss, aux), g) = backend.value_and_gradient_aux(&f, &ps)?;
    ///     assert_eq!(loss.to_scalar::<f64>()?, 9.0);
    ///     assert_eq!(aux.tensor("w2")?.to_vec::<f64>()?, vec![9.0]);
    ///     assert!(!aux.tensor("w2")?.is_tracked());
    ///     assert!((g.tensor("w")?.to_vec::<f64>()?[0] - 6.0).abs() < 1e-6);
    /// }
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// The default takes `aux` from one plain evaluation of `f` at `x` and
    /// differentiates the loss alone with
    /// [`value_and_gradient`](AdBackend::value_and_gradient) (so a
    /// user's backend gets it for free); reverse mode overrides it with a
    /// single pass.
    ///
    /// # Errors
    /// As [`value_and_gradient`](AdBackend::value_and_gradient).
    fn value_and_gradient_aux(
        &self,
        f: &dyn Fn(&Tree) -> Result<(Tensor, Tree)>,
        x: &Tree,
    ) -> Result<((Tensor, Tree), Tree)> {
        let (_, aux) = f(x)?;
        let (value, grads) = self.value_and_gradient(&|t: &Tree| Ok(f(t)?.0), x)?;
        Ok(((value, aux), grads))
    }

    /// `false` for a backend that, like Lux's compiled ReverseDiff tape,
    /// does not carry a model's state or an objective's statistics through
    /// its record: the training API then rejects a model with a non-empty
    /// state and an objective with non-empty statistics (Lux's errors)
    /// instead of training with them. Default `true`.
    ///
    /// ```
    /// use lux_ad::{AdBackend, AutoCompiledTape, AutoTape};
    /// assert!(AutoTape.carries_state() && !AutoCompiledTape::new().carries_state());
    /// ```
    fn carries_state(&self) -> bool {
        true
    }
}

/// Reverse mode, graph recorded afresh on every call (Lux's `AutoZygote`).
/// The default backend.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AutoTape;

impl AdBackend for AutoTape {
    fn name(&self) -> &'static str {
        "AutoTape"
    }
    fn value_and_gradient(&self, f: &dyn Fn(&Tree) -> Result<Tensor>, x: &Tree) -> Result<(Tensor, Tree)> {
        value_and_gradient(f, x)
    }
    fn value_and_gradient_aux(
        &self,
        f: &dyn Fn(&Tree) -> Result<(Tensor, Tree)>,
        x: &Tree,
    ) -> Result<((Tensor, Tree), Tree)> {
        value_and_gradient_aux(f, x)
    }
}

/// Reverse mode that records the function's ops once and replays the
/// record on later calls (Lux's `AutoReverseDiff(compile = true)`), built on
/// [`lux_core::CompiledTape`].
///
/// The value owns its record, so make one per training loop and pass it to
/// every step; a call whose ops differ from the record (a new input shape,
/// another branch) records afresh, so reusing a backend is never wrong, only
/// slower. Replay builds no graph: the function runs again, each op is
/// checked against its recorded entry, and the backward pass is a reverse
/// sweep over the flat record. The gradients are [`AutoTape`]'s, bit for
/// bit (the same rules in the same order).
///
/// Lux's limits hold: first order only (no nested AD inside the function),
/// and in the training API a model with a non-empty state or an objective
/// with non-empty statistics is an `Err` ([`AdBackend::carries_state`]).
///
/// ```
/// use lux_ad::{AdBackend, AutoCompiledTape, AutoTape};
/// use lux_core::{tree, Tensor, Tree};
/// let backend = AutoCompiledTape::new();
/// let f = |p: &Tree| p.tensor("w")?.tanh()?.sum_all();
/// for w in [vec![0.5f32, -1.0], vec![2.0, 0.25]] {
///     let ps = tree! { w: Tensor::from_vec(w, &[2])? };
///     let (v, g) = backend.value_and_gradient(&f, &ps)?;
///     let (v0, g0) = AutoTape.value_and_gradient(&f, &ps)?;
///     assert_eq!(v.to_vec::<f32>()?, v0.to_vec::<f32>()?);
///     assert_eq!(g.tensor("w")?.to_vec::<f32>()?, g0.tensor("w")?.to_vec::<f32>()?);
/// }
/// assert_eq!((backend.recordings(), backend.replays()), (1, 1));
/// # Ok::<(), lux_core::LuxError>(())
/// ```
#[derive(Debug, Default)]
pub struct AutoCompiledTape {
    tape: std::sync::Mutex<lux_core::CompiledTape>,
}

impl Clone for AutoCompiledTape {
    /// A backend with an empty record (records are not shared).
    fn clone(&self) -> Self {
        AutoCompiledTape::new()
    }
}

impl AutoCompiledTape {
    /// A backend with an empty record: its first call records.
    pub fn new() -> AutoCompiledTape {
        AutoCompiledTape::default()
    }

    fn tape(&self) -> std::sync::MutexGuard<'_, lux_core::CompiledTape> {
        self.tape.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// How many calls recorded (the first, and each whose ops differed).
    pub fn recordings(&self) -> usize {
        self.tape().recordings()
    }

    /// How many calls replayed the record.
    pub fn replays(&self) -> usize {
        self.tape().replays()
    }
}

impl AdBackend for AutoCompiledTape {
    fn name(&self) -> &'static str {
        "AutoCompiledTape"
    }
    fn value_and_gradient_aux(
        &self,
        f: &dyn Fn(&Tree) -> Result<(Tensor, Tree)>,
        x: &Tree,
    ) -> Result<((Tensor, Tree), Tree)> {
        let mut leaves = Vec::new();
        x.visit(|_, leaf| {
            if let Tree::Tensor(t) = leaf
                && t.dtype().is_float()
            {
                leaves.push(t.clone());
            }
        });
        let with_leaves = |marked: &[Tensor]| -> Result<(Tensor, Tree)> {
            let mut it = marked.iter();
            let p = x.try_map(|path, t| {
                if t.dtype().is_float() {
                    it.next().cloned().ok_or_else(|| LuxError::Unsupported(format!("internal: no leaf for {path}")))
                } else {
                    Ok(t.clone())
                }
            })?;
            f(&p)
        };
        // A call made while another holds the record (from inside the
        // function, or another thread) records on a tape of its own.
        let mut own = lux_core::CompiledTape::new();
        let ((loss, aux), grads) = match self.tape.try_lock() {
            Ok(mut tape) => tape.value_and_gradient(&leaves, with_leaves)?,
            Err(std::sync::TryLockError::Poisoned(p)) => p.into_inner().value_and_gradient(&leaves, with_leaves)?,
            Err(std::sync::TryLockError::WouldBlock) => own.value_and_gradient(&leaves, with_leaves)?,
        };
        let mut aux = aux;
        aux.visit_mut(|_, leaf| {
            if let Tree::Tensor(t) = leaf {
                *t = lux_core::CompiledTape::release(t);
            }
        });
        Ok(((loss, aux), untrack_tree(x, grads)?))
    }
    fn carries_state(&self) -> bool {
        false
    }
}

/// Forward mode (Lux's `AutoForwardDiff`): gradients by forward-mode passes
/// that each propagate a chunk of [`AutoForward::DEFAULT_CHUNK`] unit
/// tangents, one per parameter element, so for small models; the results
/// agree with [`AutoTape`]'s. [`AutoForward::chunked`] sets another chunk
/// size. For Jacobian-vector products use [`jvp`](crate::jvp).
///
/// ```
/// use lux_ad::{AdBackend, AutoForward};
/// use lux_core::{tree, Tensor};
/// let ps = tree! { w: Tensor::from_vec(vec![1.0f64, -2.0], &[2])? };
/// let (v, g) = AutoForward.value_and_gradient(&|p| p.tensor("w")?.powf(3.0)?.sum_all(), &ps)?;
/// assert_eq!(v.to_scalar::<f64>()?, -7.0);
/// assert_eq!(g.tensor("w")?.to_vec::<f64>()?, vec![3.0, 12.0]); // 3w²
/// # Ok::<(), lux_core::LuxError>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AutoForward;

impl AutoForward {
    /// Tangent directions per forward pass unless configured: of the chunk
    /// sizes measured in `docs/autodiff.md` (1 to 16), the larger ones are
    /// within noise of each other, and 8 holds the fewest tangents at once
    /// among them (ForwardDiff's own default is at most 12).
    pub const DEFAULT_CHUNK: usize = 8;

    /// Forward mode with `chunk` parameter elements per pass (ForwardDiff's
    /// `Chunk{N}`, ADTypes' `AutoForwardDiff(; chunksize)`). A pass
    /// computes the model's values once and the tangent rules once per
    /// direction, so a larger chunk saves the repeated values at the cost
    /// of `chunk` tangents held at once. A chunk larger than the parameter
    /// count means one pass. The gradient does not depend on the chunk
    /// size: every direction's tangent is computed by the same operations as
    /// in a one-direction pass, so the results are bit-for-bit equal.
    ///
    /// ```
    /// use lux_ad::{AdBackend, AutoForward};
    /// use lux_core::{tree, Tensor};
    /// let ps = tree! { w: Tensor::from_vec(vec![1.0f64, -2.0, 0.5], &[3])? };
    /// let f = |p: &lux_core::Tree| p.tensor("w")?.powf(3.0)?.sum_all();
    /// let (_, g1) = AutoForward::chunked(1)?.value_and_gradient(&f, &ps)?;
    /// let (_, g2) = AutoForward::chunked(2)?.value_and_gradient(&f, &ps)?;
    /// assert_eq!(g1.tensor("w")?.to_vec::<f64>()?, vec![3.0, 12.0, 0.75]);
    /// assert_eq!(g1, g2);
    /// assert!(AutoForward::chunked(0).is_err());
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// `chunk` is zero.
    pub fn chunked(chunk: usize) -> Result<AutoForwardChunked> {
        if chunk == 0 {
            return Err(LuxError::invalid_argument("AutoForward", "the chunk size must be at least 1, got 0"));
        }
        Ok(AutoForwardChunked { chunk })
    }
}

/// [`AutoForward`] with a chosen chunk size, made by
/// [`AutoForward::chunked`]. Its [`name`](AdBackend::name) is also
/// `"AutoForward"`.
///
/// ```
/// let backend = lux_ad::AutoForward::chunked(12)?;
/// assert_eq!(backend.chunk_size(), 12);
/// # Ok::<(), lux_core::LuxError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AutoForwardChunked {
    chunk: usize,
}

impl AutoForwardChunked {
    /// Parameter elements (tangent directions) per forward pass.
    ///
    /// ```
    /// assert_eq!(lux_ad::AutoForward::chunked(4)?.chunk_size(), 4);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn chunk_size(&self) -> usize {
        self.chunk
    }
}

/// Central finite differences computed in f64 (for checking; one pair of
/// evaluations per parameter element). Gradients come back in each leaf's
/// own dtype.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct AutoFiniteDiff {
    /// Relative step; `None` uses `∛ε ≈ 6.1e-6` (times `max(1, |x|)`).
    pub step: Option<f64>,
}

impl AdBackend for AutoFiniteDiff {
    fn name(&self) -> &'static str {
        "AutoFiniteDiff"
    }
    fn value_and_gradient(&self, f: &dyn Fn(&Tree) -> Result<Tensor>, x: &Tree) -> Result<(Tensor, Tree)> {
        let (value, g64) = finite_difference_gradient(f, x, self.step)?;
        let grads = g64.zip_map(x, |_, g, like| g.to_dtype(like.dtype()))?;
        Ok((value, grads))
    }
}
