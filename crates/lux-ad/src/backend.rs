//! AD backend types: the Rust reading of Lux's ADTypes table.

use crate::check::finite_difference_gradient;
use crate::drivers::value_and_gradient;
use lux_core::{LuxError, Result, Tensor, Tree};

/// A way of computing `f(x)` and `∇f(x)` for a scalar `f` over a [`Tree`].
///
/// Lux's training API takes such a backend (`AutoZygote()`, …); here the
/// backend values are [`AutoTape`], [`AutoCompiledTape`], [`AutoForward`]
/// and [`AutoFiniteDiff`]. A backend that cannot serve a request returns
/// [`LuxError::Unsupported`], never a wrong answer.
pub trait AdBackend: Send + Sync {
    /// The name used in messages, e.g. `"AutoTape"`.
    fn name(&self) -> &'static str;

    /// `f(x)` and its gradient shaped like `x`.
    ///
    /// # Errors
    /// `f` fails, its output is not a single value, or the backend does not
    /// support the request.
    fn value_and_gradient(&self, f: &dyn Fn(&Tree) -> Result<Tensor>, x: &Tree) -> Result<(Tensor, Tree)>;
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
}

/// Reverse mode that records once per input signature and replays
/// (Lux's `AutoReverseDiff(compile = true)`). Not implemented yet: every
/// call returns [`LuxError::Unsupported`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AutoCompiledTape;

impl AdBackend for AutoCompiledTape {
    fn name(&self) -> &'static str {
        "AutoCompiledTape"
    }
    fn value_and_gradient(&self, _: &dyn Fn(&Tree) -> Result<Tensor>, _: &Tree) -> Result<(Tensor, Tree)> {
        Err(LuxError::Unsupported("AutoCompiledTape is not implemented yet; use AutoTape".into()))
    }
}

/// Forward mode (Lux's `AutoForwardDiff`). Not implemented yet as a
/// gradient backend: every call returns [`LuxError::Unsupported`]. (For
/// Jacobian-vector products use [`jvp`](crate::jvp).)
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AutoForward;

impl AdBackend for AutoForward {
    fn name(&self) -> &'static str {
        "AutoForward"
    }
    fn value_and_gradient(&self, _: &dyn Fn(&Tree) -> Result<Tensor>, _: &Tree) -> Result<(Tensor, Tree)> {
        Err(LuxError::Unsupported("AutoForward is not implemented yet; use AutoTape".into()))
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
