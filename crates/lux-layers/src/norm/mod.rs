//! Normalisation layers: [`BatchNorm`], [`GroupNorm`], [`InstanceNorm`],
//! [`LayerNorm`] and the [`WeightNorm`] wrapper (Lux's
//! `src/layers/normalize.jl`), on the fused kernels of [`lux_ops::norm`].
//!
//! Batch-first: the batch axis is 0 and the channel axis is 1
//! (`[batch, features]`, `[N, C, L]`, NCHW, …), where Lux uses the last and
//! second-to-last axes of its column-major arrays (the same memory).
//!
//! | layer | statistics over | parameters | state |
//! |---|---|---|---|
//! | [`BatchNorm`] | batch and spatial axes, per channel | `scale`, `bias` `[C]` | `running_mean`, `running_var` `[C]`, `training` |
//! | [`GroupNorm`] | a sample's group of channels and the spatial axes | `scale`, `bias` `[C]` | none |
//! | [`InstanceNorm`] | a sample's channel over the spatial axes | `scale`, `bias` `[C]` (off by default) | `training` (+ running statistics) |
//! | [`LayerNorm`] | the `dims` given, default every axis (Lux's `dims=Colon()`) | `bias`, `scale` of `shape` | none |
//! | [`WeightNorm`] | — (reparameterises `w = g·v/‖v‖`) | `normalized`, `unnormalized` | the wrapped layer's |
//!
//! Each layer computes `y = act((x − μ)/√(σ² + ε)·scale + bias)`. With
//! parameters, the input is converted to the parameters' dtype first (the
//! layer computes in the dtype of its parameters); without, in the input's.
//! Constructors: `new(..)` with Lux's defaults or `builder(..)` … `build()`
//! for the options; both return `Err` for options Lux would reject or that
//! make no sense (a group count that does not divide the channels, a
//! negative ε, a momentum outside `[0, 1]`, …).
//!
//! A wrong channel count or rank, a non-float input, a batch of one in
//! training ([`BatchNorm`], as Lux), or parameters/state that do not belong
//! to the layer are an `Err` whose `op` is the layer's
//! [`describe`](lux_core::Layer::describe), with the shapes in the message.

use crate::init::Init;
pub(super) use crate::util::{in_layer, julia_tuple};
use lux_core::{DType, LuxError, Result, Tensor, Tree, tree};
use lux_ops::Activation;
use lux_ops::norm::RunningStats;
use rand::Rng;

mod batch;
mod group;
mod instance;
mod layer;
mod weight;

pub use batch::*;
pub use group::*;
pub use instance::*;
pub use layer::*;
pub use weight::*;

/// `", act"` for a non-identity activation, as Lux prints it.
pub(super) fn act_suffix(activation: Activation) -> String {
    if activation == Activation::Identity { String::new() } else { format!(", {}", activation.julia_name()) }
}

/// The checks of the options shared by the layers, at construction.
pub(super) fn check_options(layer: &str, epsilon: f64, momentum: f64, activation: Activation) -> Result<()> {
    if !(epsilon.is_finite() && epsilon >= 0.0) {
        return Err(LuxError::invalid_argument(layer, format!("epsilon must be finite and ≥ 0, got {epsilon}")));
    }
    if !(0.0..=1.0).contains(&momentum) {
        return Err(LuxError::invalid_argument(layer, format!("momentum must be in [0, 1], got {momentum}")));
    }
    // An invalid activation parameter (a NaN slope, celu(0)) fails on any input.
    activation.apply(&Tensor::scalar(0.0f64)).map_err(|e| in_layer(e, || layer.to_string()))?;
    Ok(())
}

pub(super) fn check_chs(layer: &str, chs: usize) -> Result<()> {
    if chs == 0 { Err(LuxError::invalid_argument(layer, "the number of channels must be positive")) } else { Ok(()) }
}

/// `x` has at least `min_rank` axes and `chs` channels on axis 1.
pub(super) fn check_channels(x: &Tensor, chs: usize, min_rank: usize, describe: impl Fn() -> String) -> Result<()> {
    if x.ndim() < min_rank {
        let layout = if min_rank == 2 { "[batch, channels, …]" } else { "[batch, channels, spatial…]" };
        return Err(LuxError::shape(
            &describe(),
            format!("input must have at least {min_rank} axes {layout}, got shape {:?}", x.shape()),
        ));
    }
    if x.shape()[1] != chs {
        return Err(LuxError::shape(
            &describe(),
            format!("input has {} channels (axis 1 of shape {:?}), expected {chs}", x.shape()[1], x.shape()),
        ));
    }
    Ok(())
}

/// `scale` and `bias` of an affine layer (`None` for `affine = false`).
pub(super) fn affine_params(ps: &Tree, affine: bool) -> Result<(Option<&Tensor>, Option<&Tensor>)> {
    if affine { Ok((Some(ps.tensor("scale")?), Some(ps.tensor("bias")?))) } else { Ok((None, None)) }
}

/// The input in the dtype the layer computes in: the parameters' when it
/// has float parameters, else its own.
pub(super) fn in_param_dtype(x: &Tensor, scale: Option<&Tensor>) -> Result<Tensor> {
    match scale {
        Some(s) if s.dtype().is_float() && s.dtype() != x.dtype() => x.to_dtype(s.dtype()),
        _ => Ok(x.clone()),
    }
}

/// `scale` then `bias`, each `[chs]`, from their initialisers.
pub(super) fn init_scale_bias(rng: &mut dyn Rng, chs: usize, scale: &Init, bias: &Init) -> Result<Tree> {
    Ok(tree! { scale: scale.init(rng, &[chs], DType::F32)?, bias: bias.init(rng, &[chs], DType::F32)? })
}

/// Lux's initial running statistics (zeros, ones) and the `training` flag.
pub(super) fn init_running(chs: usize, track_stats: bool) -> Result<Tree> {
    if track_stats {
        let r = RunningStats::new(chs, DType::F32)?;
        Ok(tree! { running_mean: r.mean, running_var: r.var, training: true })
    } else {
        Ok(tree! { training: true })
    }
}

pub(super) fn running_from(st: &Tree) -> Result<RunningStats> {
    Ok(RunningStats { mean: st.tensor("running_mean")?.clone(), var: st.tensor("running_var")?.clone() })
}

pub(super) fn running_state(r: RunningStats, training: bool) -> Tree {
    tree! { running_mean: r.mean, running_var: r.var, training: training }
}
