//! # lux-ad
//!
//! Differentiation drivers over [`Tree`]s: [`gradient`],
//! [`value_and_gradient`], their auxiliary-output forms
//! [`value_and_gradient_aux`] and [`gradient_aux`] (JAX's `has_aux`),
//! [`vjp`] and [`jvp`] (tensor- or tree-valued functions, see
//! [`AdOutput`]), [`hvp`], [`jacobian`], [`batched_jacobian`], the AD backend types
//! ([`AutoTape`], [`AutoFiniteDiff`], …) and [`check_gradients`].
//!
//! Only float outputs have derivatives: differentiating an integer or bool
//! result (an `argmax`, a comparison) is an error in every driver, while a
//! float output that does not depend on the input has zero gradients.
//!
//! **Key design decision:** there is one reverse-mode engine, the record
//! that `lux-core`'s ops write while a [`GradCall`] is under way. Backward
//! rules are themselves differentiable, so every driver here nests: a
//! function that calls [`gradient`] can be differentiated again (gradient
//! penalties, Hessian-vector products). Forward mode is lux-core's
//! [`DualCall`](lux_core::DualCall): tangents travel with the values, each
//! op pushing them on with its tangent rule; [`jvp`], [`batched_jacobian`]
//! (when inputs are fewer than outputs) and the [`AutoForward`] gradient
//! (in chunks of directions) use it, and
//! [`hvp`] is forward-over-reverse (Lux's automatic switch). The two modes
//! nest in either order. Gradients always come back as a [`Tree`] shaped
//! like the input.
//!
//! [`testing::check_layer`] is the conformance check every layer passes.
#![doc(test(attr(deny(warnings))))]

mod backend;
mod check;
mod drivers;
mod forward;
mod output;
pub mod testing;

pub use backend::{AdBackend, AutoCompiledTape, AutoFiniteDiff, AutoForward, AutoForwardChunked, AutoTape};
pub use check::{GradCheckReport, Tolerances, check_gradients, check_gradients_with, check_jvp};
pub use drivers::{gradient, gradient_aux, jacobian, value_and_gradient, value_and_gradient_aux, vjp};
pub use forward::{batched_jacobian, hvp, jvp};
pub use lux_core::Release;
pub use output::AdOutput;

use lux_core::{GradCall, LuxError, Result, Tensor, Tree};

/// Tracks every float tensor leaf of `x` as an input of `call`; other
/// leaves pass through as constants.
pub(crate) fn track_tree(call: &mut GradCall, x: &Tree) -> Result<Tree> {
    x.try_map(|_, t| if t.dtype().is_float() { call.track(t) } else { Ok(t.clone()) })
}

/// Rebuilds `like`'s structure from `grads` (one per float leaf, in order);
/// non-float leaves get zeros of their own dtype.
pub(crate) fn untrack_tree(like: &Tree, grads: Vec<Tensor>) -> Result<Tree> {
    let mut it = grads.into_iter();
    like.try_map(|path, t| {
        if t.dtype().is_float() {
            it.next().ok_or_else(|| LuxError::Unsupported(format!("internal: no gradient for {path}")))
        } else {
            Ok(t.zeros_like())
        }
    })
}
