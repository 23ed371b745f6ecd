//! # lux-train
//!
//! Training for lux-rs: Optimisers.jl's rules over parameter trees, and
//! Lux's Training API.
//!
//! | module | contents |
//! |---|---|
//! | [`rule`] | the [`Rule`] trait (write your own), [`Hyper`] values |
//! | [`rules`] | the built-in rules, Optimisers.jl v0.4's formulas and defaults |
//! | [`state`] | [`setup`], [`OptState`]: update (in place or not), adjust, freeze/thaw |
//! | [`schedule`] | learning-rate [`Schedule`]s (constant, step, exponential, cosine with warm-up) |
//! | [`checkpoint`] | checkpoints in safetensors: [`save_checkpoint`] / [`load_checkpoint`], [`save_trees`] / [`load_trees`], [`read_safetensors`] |
//! | [`mixed`] | mixed-precision training ([`MixedPrecision`]) and `f16(&ts)`, `f32(&ts)`, … of a [`TrainState`] |
//! | [`train`] | Lux's Training API: [`TrainState`], [`compute_gradients`], [`apply_gradients_mut`], [`single_train_step_mut`], … |
//!
//! ```
//! use lux_core::{tree, Tensor};
//! use lux_train::{setup, Adam};
//! let mut ps = tree! { w: Tensor::from_vec(vec![1.0f32, -1.0], &[2])? };
//! let mut opt = setup(Adam::new(0.01), &ps)?;
//! for _ in 0..100 {
//!     // the gradient of Σ w²
//!     let g = tree! { w: ps.tensor("w")?.mul_scalar(2.0)? };
//!     opt.update_mut(&mut ps, &g)?;
//! }
//! assert!(ps.tensor("w")?.to_vec::<f32>()?.iter().all(|w| w.abs() < 0.5));
//! # Ok::<(), lux_core::LuxError>(())
//! ```
#![doc(test(attr(deny(warnings))))]

pub mod checkpoint;
pub mod mixed;
pub mod rule;
pub mod rules;
pub mod schedule;
pub mod state;
pub mod train;

pub use checkpoint::{
    load_checkpoint, load_metadata, load_trees, read_safetensors, save_checkpoint, save_checkpoint_with_metadata,
    save_trees,
};
pub use mixed::MixedPrecision;
pub use rule::{Hyper, HyperField, HyperSlot, LeafInfo, Rule, set_field};
pub use rules::adam::{AMSGrad, AdaBelief, AdaMax, Adam, AdamW, Lion, NAdam, OAdam, RAdam};
pub use rules::adaptive::{AdaDelta, AdaGrad, RMSProp};
pub use rules::sgd::{Descent, Momentum, Nesterov, Rprop, Signum};
pub use rules::transform::{AccumGrad, ClipGrad, ClipNorm, OptimiserChain, SignDecay, WeightDecay};
pub use schedule::Schedule;
pub use state::{OptState, setup};
pub use train::{
    NonFinite, Objective, StepOutput, TrainState, apply_gradients, apply_gradients_mut, compute_gradients,
    single_train_step, single_train_step_mut,
};
