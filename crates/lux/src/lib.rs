//! # lux
//!
//! lux-rs, explicit-parameter deep learning in the style of Lux.jl. This
//! crate only re-exports the workspace crates; `use lux::prelude::*;` is
//! enough for the examples.
//!
//! | crate | holds |
//! |---|---|
//! | [`core`] (`lux-core`) | `Tensor`, autodiff record, `Tree`, `Layer`, `setup`/`apply` |
//! | [`ops`] (`lux-ops`) | activations, softmax, fused dense, conv, pooling, norms, dropout, embedding, LuxOps |
//! | [`ad`] (`lux-ad`) | `gradient`, `value_and_gradient_aux`, `vjp`, `jvp`, `hvp`, `jacobian`, backends, `check_gradients` |
//! | [`layers`] (`lux-layers`) | Lux's standard layers (`Dense`, `Chain`, `Conv`, `BatchNorm`, `LSTMCell`, …) and weight initialisers |
//! | [`losses`] (`lux-losses`) | Lux's loss functions as values (`MSELoss`, `CrossEntropyLoss`, …), `Agg`, `LossFunction` |
//! | [`precision`] (`lux-precision`) | `f16`/`bf16`/`f32`/`f64` conversion, `match_eltype`, stability checks |
//! | [`train`] (`lux-train`) | Optimisers.jl's rules, `OptState`, schedules, `TrainState` and the Training API |
//! | [`data`] (`lux-data`) | the bundled UCI digits, seeded train/test splits and mini-batches |
//! | [`compact!`] (`lux-compact-macro`) | layers written inline (Lux's `@compact`), as [`CompactLayer`]s; see `docs/writing-layers.md` |
//! | `distributed` (`lux-distributed`, feature `mpi`) | data-parallel training on MPI (Lux's `DistributedUtils`); see `docs/distributed.md` |
//! | [`rand`] | the `rand` crate, in the version the `Layer` trait uses |
//!
//! ```
//! use lux::prelude::*;
//! let ps = tree! { w: Tensor::from_vec(vec![3.0f32], &[1])? };
//! let g = gradient(|p| p.tensor("w")?.square()?.sum_all(), &ps)?;
//! assert_eq!(g.tensor("w")?.to_vec::<f32>()?, vec![6.0]);
//! # Ok::<(), lux::Error>(())
//! ```
#![doc(test(attr(deny(warnings))))]

/// The README's examples, compiled and run as doctests so they stay true.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;

/// The training guide's examples (`docs/training.md`), compiled as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/training.md")]
pub struct TrainingGuideDoctests;

/// The precision guide's examples (`docs/precision.md`), compiled as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/precision.md")]
pub struct PrecisionGuideDoctests;

/// The guide to writing layers (`docs/writing-layers.md`), compiled as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/writing-layers.md")]
pub struct WritingLayersGuideDoctests;

#[doc(hidden)]
pub mod compact_support;

pub use compact_support::{CompactLayer, FromInput, NoDispatch};
pub use lux_ad as ad;
pub use lux_compact_macro::compact;
pub use lux_core as core;
/// The `rand` crate, in the version the [`Layer`](lux_core::Layer) trait's
/// generators come from: `lux::rand::SeedableRng`, `lux::rand::rngs::StdRng`.
#[doc(no_inline)]
pub use lux_core::__private::rand;
pub use lux_core::tree;
pub use lux_data as data;
#[cfg(feature = "mpi")]
pub use lux_distributed as distributed;
pub use lux_layers as layers;
pub use lux_losses as losses;
pub use lux_ops as ops;
pub use lux_precision as precision;
pub use lux_train as train;

/// The run-time support of the code `compact!` generates (not a public API).
#[doc(hidden)]
pub mod __private {
    pub use crate::compact_support as compact;
}

/// The error type of every lux-rs crate.
pub type Error = lux_core::LuxError;

/// The names most programs need.
///
/// ```
/// use lux::prelude::*;
/// // A model, its state, and a training-style objective returning (loss, st').
/// struct Scale;
/// impl Layer for Scale {
///     fn init_params(&self, _: &mut dyn lux::rand::Rng) -> Result<Tree> {
///         Ok(tree! { w: Tensor::full(&[2], 2.0, DType::F32)? })
///     }
///     fn init_state(&self, _: &mut dyn lux::rand::Rng) -> Result<Tree> { Ok(tree! { training: true }) }
///     fn forward(&self, x: &Tree, ps: &Tree, st: &Tree) -> Result<(Tree, Tree)> {
///         Ok((x.as_tensor()?.mul(ps.tensor("w")?)?.into(), st.clone()))
///     }
/// }
/// let (ps, st) = setup(&mut RngState::seed_from_u64(0), &Scale)?;
/// let x = Tensor::from_vec(vec![1.0f32, 3.0], &[2])?;
/// // loss = Σ (x ⊙ w)², ∂loss/∂w = 2 x² w
/// let ((loss, st), grads) = value_and_gradient_aux(|p| {
///     let (y, st) = apply_tensor(&Scale, &x, p, &st)?;
///     Ok((y.square()?.sum_all()?, st))
/// }, &ps)?;
/// assert_eq!(loss.to_scalar::<f32>()?, 40.0);
/// assert_eq!(grads.tensor("w")?.to_vec::<f32>()?, vec![4.0, 36.0]);
/// assert_eq!(test_mode(&st), tree! { training: false });
/// # Ok::<(), lux::Error>(())
/// ```
pub mod prelude {
    pub use crate::compact;
    pub use lux_ad::{
        AdBackend, AutoCompiledTape, AutoFiniteDiff, AutoTape, Tolerances, check_gradients, gradient, hvp, jacobian,
        jvp, value_and_gradient, value_and_gradient_aux, vjp,
    };
    pub use lux_core::tree;
    pub use lux_core::{
        Children, DType, Layer, LuxError, Result, RngState, StatefulLayer, Tensor, Tree, apply, apply_tensor,
        display_model, forward_child, setup, stateless_apply, test_mode, train_mode,
    };
    pub use lux_layers::*;
    pub use lux_losses::*;
    pub use lux_ops::Activation;
    pub use lux_precision::{EltypeMismatch, ToPrecision, match_eltype, set_eltype_mismatch_handling};
    pub use lux_train::rules::adam::*;
    pub use lux_train::rules::adaptive::*;
    pub use lux_train::rules::sgd::*;
    pub use lux_train::rules::transform::*;
    pub use lux_train::{
        Hyper, MixedPrecision, NonFinite, Objective, OptState, Rule, Schedule, StepOutput, TrainState, apply_gradients,
        apply_gradients_mut, compute_gradients, single_train_step, single_train_step_mut,
    };
}
