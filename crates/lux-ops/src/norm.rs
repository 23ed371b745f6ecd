//! Normalisation: batch, layer, group and instance normalisation (LuxLib's
//! `batchnorm`, `layernorm`, `groupnorm`, `instancenorm`), batch-first.
//!
//! The channel axis is **1** (`[N, C]`, `[N, C, L]`, `[N, C, H, W]`, …), the
//! batch axis is 0. Every op computes
//!
//! ```text
//! y = (x − μ) / √(σ² + ε) · scale + bias
//! ```
//!
//! with the (biased) mean `μ` and variance `σ²` taken over the axes the op
//! normalises, and differs only in those axes:
//!
//! | op | statistics over | one statistic per | `scale`/`bias` |
//! |---|---|---|---|
//! | [`batch_norm`] | every axis but 1 | channel | `[C]` |
//! | [`instance_norm`] | axes 2.. (spatial) | sample × channel | `[C]` |
//! | [`group_norm`] | channels of a group × spatial | sample × group | `[C]` |
//! | [`layer_norm`] | the `axes` given | every other position | broadcast against `x` |
//!
//! `scale` and `bias` are each optional (Lux's `affine=false` passes
//! neither). Every op takes its arguments in one order: `x`, `scale`,
//! `bias`, then what is particular to the op (the running statistics of
//! [`batch_norm`] and [`instance_norm_with_stats`], the `axes` of
//! [`layer_norm`], the `groups` of [`group_norm`]; [`instance_norm`] has
//! none), then `&`[`NormOptions`]: ε, the momentum of the running
//! statistics and the training mode, with Lux's layer defaults
//! ([`DEFAULT_EPSILON`] = 1e-5, [`DEFAULT_MOMENTUM`] = 0.1, training).
//!
//! ```
//! use lux_core::{DType, Tensor};
//! use lux_ops::norm::{NormOptions, RunningStats, batch_norm, group_norm, layer_norm};
//! let x = Tensor::from_vec(vec![1.0f64, 3.0, 10.0, 20.0], &[2, 2])?;
//! let opts = NormOptions::new().epsilon(0.0);
//! // per row: [1, 3] → [-1, 1], [10, 20] → [-1, 1]
//! assert_eq!(layer_norm(&x, None, None, &[-1], &opts)?.to_vec::<f64>()?, vec![-1.0, 1.0, -1.0, 1.0]);
//! // per channel (column): [1, 10] and [3, 20]
//! let (y, _) = batch_norm(&x, None, None, Some(RunningStats::new(2, DType::F64)?), &opts)?;
//! assert_eq!(y.to_vec::<f64>()?, vec![-1.0, -1.0, 1.0, 1.0]);
//! // one group of both channels per sample is the layer norm of each row
//! assert_eq!(group_norm(&x, None, None, 1, &opts)?.to_vec::<f64>()?, vec![-1.0, 1.0, -1.0, 1.0]);
//! # Ok::<(), lux_core::LuxError>(())
//! ```
//!
//! Each op is one fused kernel: one pass over `x` for the statistics
//! (accumulated in f64) and one pass for normalise + affine (in the compute
//! type: f32 for f16/bf16/f32 inputs, rounded once); its backward rule is
//! the closed form
//! `dx = (1/σ)(ĝ − mean(ĝ) − x̂·mean(ĝ⊙x̂))` with `ĝ = g⊙scale`,
//! `dscale = Σ g⊙x̂`, `dbias = Σ g`, and, when the gradient is itself
//! differentiated, the vector-Jacobian product of the same function written
//! with primitive ops (the composite definition beside the kernel).
//! Running statistics are never differentiated.

use crate::util::{any_tracked, check_float, check_unit_interval, promote_floats};
use lux_core::{CustomOp, DType, Element, FloatData, LuxError, Real, Result, Tensor, normalize_axis};
use ndarray::{ArcArray, ArrayD, IxDyn, Slice};
use rayon::prelude::*;
use std::sync::Arc;

/// Lux's default `epsilon` for its normalisation layers (`1f-5`; LuxLib's bare
/// ops default to `eps(T)^(5/7)` instead).
///
/// ```
/// use lux_ops::norm::{DEFAULT_EPSILON, NormOptions};
/// assert_eq!(DEFAULT_EPSILON, 1e-5);
/// assert_eq!(NormOptions::default().epsilon, DEFAULT_EPSILON);
/// ```
pub const DEFAULT_EPSILON: f64 = 1e-5;

/// Lux's default `momentum` for running statistics (`0.1f0`).
///
/// ```
/// use lux_ops::norm::{DEFAULT_MOMENTUM, NormOptions};
/// assert_eq!(DEFAULT_MOMENTUM, 0.1);
/// assert_eq!(NormOptions::default().momentum, DEFAULT_MOMENTUM);
/// ```
pub const DEFAULT_MOMENTUM: f64 = 0.1;

/// The options of the normalisation ops: ε, the momentum of running
/// statistics and the training mode. `Default` (= [`NormOptions::new`]) is
/// Lux's: ε = [`DEFAULT_EPSILON`] (1e-5), momentum = [`DEFAULT_MOMENTUM`]
/// (0.1), training mode (a fresh Lux state is in training mode). Set fields
/// with the builder methods, so ε and momentum cannot be swapped by
/// position.
///
/// `momentum` and `training` matter only to the ops that keep running
/// statistics ([`batch_norm`], [`instance_norm_with_stats`]); the others
/// read `epsilon` alone.
///
/// ```
/// use lux_ops::norm::NormOptions;
/// let o = NormOptions::new().epsilon(1e-3).momentum(0.01).training(false);
/// assert_eq!((o.epsilon, o.momentum, o.training), (1e-3, 0.01, false));
/// assert_eq!(NormOptions::default(), NormOptions { epsilon: 1e-5, momentum: 0.1, training: true });
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NormOptions {
    /// Added to the variance before the square root; finite and ≥ 0
    /// (default [`DEFAULT_EPSILON`]).
    pub epsilon: f64,
    /// Weight of the batch statistics when the running statistics are
    /// updated, `(1 − momentum)·old + momentum·batch`; in `[0, 1]` (default
    /// [`DEFAULT_MOMENTUM`]).
    pub momentum: f64,
    /// Training mode (default `true`): normalise with the batch statistics
    /// and update the running ones; `false` (Lux's test mode) normalises
    /// with the running statistics when they are given.
    pub training: bool,
}

impl Default for NormOptions {
    fn default() -> Self {
        NormOptions { epsilon: DEFAULT_EPSILON, momentum: DEFAULT_MOMENTUM, training: true }
    }
}

impl NormOptions {
    /// ε = 1e-5, momentum = 0.1, training mode.
    ///
    /// ```
    /// use lux_ops::norm::NormOptions;
    /// assert!(NormOptions::new().training);
    /// ```
    pub fn new() -> Self {
        Self::default()
    }
    /// Sets ε.
    ///
    /// ```
    /// use lux_ops::norm::NormOptions;
    /// assert_eq!(NormOptions::new().epsilon(0.0).epsilon, 0.0);
    /// ```
    pub fn epsilon(mut self, epsilon: f64) -> Self {
        self.epsilon = epsilon;
        self
    }
    /// Sets the momentum of the running statistics.
    ///
    /// ```
    /// use lux_ops::norm::NormOptions;
    /// assert_eq!(NormOptions::new().momentum(0.5).momentum, 0.5);
    /// ```
    pub fn momentum(mut self, momentum: f64) -> Self {
        self.momentum = momentum;
        self
    }
    /// Sets the mode: `true` for training, `false` for test mode (e.g.
    /// from the layer state, `lux_ops::istraining(st)`).
    ///
    /// ```
    /// use lux_ops::norm::NormOptions;
    /// assert!(!NormOptions::new().training(false).training);
    /// ```
    pub fn training(mut self, training: bool) -> Self {
        self.training = training;
        self
    }
}

/// Running mean and variance of a [`batch_norm`] (or
/// [`instance_norm_with_stats`]) layer, one value per channel (`[C]` each).
///
/// These are state, not parameters: the ops return updated copies and never
/// differentiate through them.
///
/// ```
/// use lux_core::Tensor;
/// use lux_ops::norm::{batch_norm, NormOptions, RunningStats};
/// // one channel with running mean 1 and variance 4
/// let stats = RunningStats { mean: Tensor::from_vec(vec![1.0f64], &[1])?, var: Tensor::from_vec(vec![4.0f64], &[1])? };
/// let x = Tensor::from_vec(vec![3.0f64, 5.0], &[2, 1])?;
/// // test mode: (x − 1)/√4
/// let opts = NormOptions::new().epsilon(0.0).training(false);
/// let (y, same) = batch_norm(&x, None, None, Some(stats.clone()), &opts)?;
/// assert_eq!(y.to_vec::<f64>()?, vec![1.0, 2.0]);
/// assert_eq!(same, Some(stats));
/// # Ok::<(), lux_core::LuxError>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct RunningStats {
    /// Running mean, `[C]`.
    pub mean: Tensor,
    /// Running (unbiased) variance, `[C]`.
    pub var: Tensor,
}

impl RunningStats {
    /// Lux's initial statistics: mean zeros, variance ones, shape `[channels]`.
    ///
    /// ```
    /// use lux_core::DType;
    /// use lux_ops::norm::RunningStats;
    /// let s = RunningStats::new(3, DType::F32)?;
    /// assert_eq!(s.var.to_vec::<f32>()?, vec![1.0; 3]);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// `dtype` is not a float type.
    pub fn new(channels: usize, dtype: DType) -> Result<RunningStats> {
        if !dtype.is_float() {
            return Err(LuxError::UnsupportedDType { op: "RunningStats::new".into(), dtype });
        }
        Ok(RunningStats { mean: Tensor::zeros(&[channels], dtype)?, var: Tensor::ones(&[channels], dtype)? })
    }
}

// ----- public ops -------------------------------------------------------------

/// Batch normalisation over every axis but the channel axis 1 (LuxLib's
/// `batchnorm`).
///
/// * `opts.training == true`: normalises with the batch statistics (biased
///   variance). If `running` is given, also returns it updated:
///   `mean ← (1 − momentum)·mean + momentum·μ`,
///   `var ← (1 − momentum)·var + momentum·m/(m − 1)·σ²`, where `m` is the
///   number of values per channel (the running variance is unbiased, as in
///   LuxLib). The running statistics keep their own dtype.
/// * `opts.training == false` with `running` given: normalises with the
///   running statistics and returns them unchanged (Lux's test mode).
/// * `running == None` (Lux's `track_stats=false`): batch statistics in both
///   modes, and `None` is returned.
///
/// `scale`/`bias` are `[C]`. Running statistics are never differentiated
/// (the returned ones are detached).
///
/// ```
/// use lux_core::Tensor;
/// use lux_ops::norm::{batch_norm, NormOptions, RunningStats};
/// // [N = 2, C = 1]: the channel holds 1 and 3 → μ = 2, σ² = 1.
/// let x = Tensor::from_vec(vec![1.0f64, 3.0], &[2, 1])?;
/// let running = RunningStats::new(1, lux_core::DType::F64)?;
/// let opts = NormOptions::new().epsilon(0.0); // momentum 0.1, training
/// let (y, st) = batch_norm(&x, None, None, Some(running), &opts)?;
/// assert_eq!(y.to_vec::<f64>()?, vec![-1.0, 1.0]);
/// let st = st.unwrap();
/// assert!((st.mean.to_vec::<f64>()?[0] - 0.2).abs() < 1e-12); // 0.9·0 + 0.1·2
/// assert!((st.var.to_vec::<f64>()?[0] - 1.1).abs() < 1e-12); // 0.9·1 + 0.1·(2/1)·1
/// // test mode: (x − 0.2)/√1.1
/// let (y, _) = batch_norm(&x, None, None, Some(st), &opts.training(false))?;
/// let want = [(1.0 - 0.2) / 1.1f64.sqrt(), (3.0 - 0.2) / 1.1f64.sqrt()];
/// assert!(y.to_vec::<f64>()?.iter().zip(want).all(|(a, b)| (a - b).abs() < 1e-12));
/// # Ok::<(), lux_core::LuxError>(())
/// ```
///
/// # Errors
/// `x` has fewer than 2 axes or is not float; `scale`, `bias` or the running
/// statistics are not `[C]`; `momentum` outside `[0, 1]` or `epsilon`
/// negative; updating running statistics from fewer than 2 values per
/// channel (the unbiased variance is undefined).
pub fn batch_norm(
    x: &Tensor,
    scale: Option<&Tensor>,
    bias: Option<&Tensor>,
    running: Option<RunningStats>,
    opts: &NormOptions,
) -> Result<(Tensor, Option<RunningStats>)> {
    const OP: &str = "batch_norm";
    let &NormOptions { epsilon, momentum, training } = opts;
    let c = check_running_op(OP, x, 2, scale, bias, running.as_ref(), opts)?;
    let layout = Layout::channels(x.shape(), c, true);
    match running {
        Some(r) if !training => normalize_with_running(OP, x, scale, bias, r, c, epsilon),
        running => {
            let axes: Vec<usize> = (0..x.ndim()).filter(|&d| d != 1).collect();
            let m = layout.count_per_stat();
            if running.is_some() && m < 2 {
                return Err(LuxError::shape(
                    OP,
                    format!(
                        "cannot update running statistics from {m} value(s) per channel (input {:?}); \
                         the unbiased variance needs at least 2",
                        x.shape()
                    ),
                ));
            }
            let (y, stats) = normalize(OP, x, scale, bias, layout, Kind::Axes(axes), epsilon)?;
            let updated = match running {
                Some(r) => Some(update_running(&r, &stats.mean, &stats.var, m, momentum)?),
                None => None,
            };
            Ok((y, updated))
        }
    }
}

/// Layer normalisation: statistics over `axes` of `x` (LuxLib's
/// `layernorm`), separately for every position along the other axes.
///
/// `axes` are signed (`-1` = last). LuxLib's `layernorm` default, "every
/// axis but the batch axis", is `&[1, 2, …, ndim − 1]` here (e.g.
/// `&[1, 2, 3]` for NCHW, `&[-1]` for `[batch, features]`); note that Lux's
/// `LayerNorm` *layer* defaults to `dims=Colon()`, i.e. every axis including
/// the batch axis (`&[0, 1, …]`). `scale` and `bias` broadcast against `x`
/// (NumPy rules), e.g. `[C, H, W]`, `[features]` or `[1, C, 1, 1]`.
/// Reads `opts.epsilon` only.
///
/// ```
/// use lux_core::Tensor;
/// use lux_ops::norm::{layer_norm, NormOptions};
/// let x = Tensor::from_vec(vec![1.0f64, 3.0, 10.0, 20.0], &[2, 2])?;
/// let gamma = Tensor::from_vec(vec![1.0f64, 2.0], &[2])?;
/// let beta = Tensor::from_vec(vec![0.0f64, 0.5], &[2])?;
/// let y = layer_norm(&x, Some(&gamma), Some(&beta), &[-1], &NormOptions::new().epsilon(0.0))?;
/// assert_eq!(y.to_vec::<f64>()?, vec![-1.0, 2.5, -1.0, 2.5]);
/// # Ok::<(), lux_core::LuxError>(())
/// ```
///
/// # Errors
/// `axes` empty, repeated or out of range; `scale`/`bias` do not broadcast
/// to `x`'s shape; `x` not float; `epsilon` negative.
pub fn layer_norm(
    x: &Tensor,
    scale: Option<&Tensor>,
    bias: Option<&Tensor>,
    axes: &[isize],
    opts: &NormOptions,
) -> Result<Tensor> {
    const OP: &str = "layer_norm";
    let epsilon = opts.epsilon;
    check_epsilon(OP, epsilon)?;
    check_float(OP, x)?;
    let nd = x.ndim();
    if axes.is_empty() {
        return Err(LuxError::invalid_argument(OP, format!("no axes to normalise over (input {:?})", x.shape())));
    }
    let mut red = Vec::with_capacity(axes.len());
    for &a in axes {
        let ax = normalize_axis(OP, a, x.shape())?;
        if red.contains(&ax) {
            return Err(LuxError::invalid_argument(OP, format!("axis {a} is repeated in {axes:?}")));
        }
        red.push(ax);
    }
    red.sort_unstable();
    for (name, p) in [("scale", scale), ("bias", bias)] {
        if let Some(p) = p {
            let ok = p.ndim() <= nd
                && lux_core::broadcast_shapes(p.shape(), x.shape()).is_ok_and(|s| s.as_slice() == x.shape());
            if !ok {
                return Err(LuxError::shape(
                    OP,
                    format!("{name} of shape {:?} does not broadcast to the input shape {:?}", p.shape(), x.shape()),
                ));
            }
        }
    }
    let lead: Vec<usize> = (0..nd).filter(|d| !red.contains(d)).collect();
    let perm: Vec<usize> = lead.iter().chain(&red).copied().collect();
    let per_a = [scale, bias].into_iter().flatten().any(|p| {
        let off = nd - p.ndim();
        lead.iter().any(|&d| d >= off && p.shape()[d - off] > 1)
    });
    let shape = x.shape();
    let layout = Layout {
        a: lead.iter().map(|&d| shape[d]).product(),
        g: 1,
        k: red.iter().map(|&d| shape[d]).product(),
        b: 1,
        per_channel: false,
        per_a,
        shape: shape.to_vec(),
        perm: if perm.iter().enumerate().all(|(i, &p)| i == p) { None } else { Some(perm) },
        lead_n: lead.len(),
        channel_affine: false,
    };
    Ok(normalize(OP, x, scale, bias, layout, Kind::Axes(red), epsilon)?.0)
}

/// Group normalisation (LuxLib's `groupnorm`): the `C` channels of `x`
/// (`[N, C, …]`) are split into `groups` consecutive groups and every
/// sample's group is normalised over its channels and all spatial positions.
/// `scale`/`bias` are `[C]`. Reads `opts.epsilon` only.
///
/// ```
/// use lux_core::Tensor;
/// use lux_ops::norm::{group_norm, NormOptions};
/// // One sample, 4 channels of length 1, 2 groups: {1, 3} and {5, 9}.
/// let x = Tensor::from_vec(vec![1.0f64, 3.0, 5.0, 9.0], &[1, 4, 1])?;
/// let y = group_norm(&x, None, None, 2, &NormOptions::new().epsilon(0.0))?;
/// assert_eq!(y.to_vec::<f64>()?, vec![-1.0, 1.0, -1.0, 1.0]);
/// # Ok::<(), lux_core::LuxError>(())
/// ```
///
/// # Errors
/// `x` has fewer than 2 axes or is not float; `groups` is 0 or does not
/// divide `C`; `scale`/`bias` are not `[C]`; `epsilon` negative.
pub fn group_norm(
    x: &Tensor,
    scale: Option<&Tensor>,
    bias: Option<&Tensor>,
    groups: usize,
    opts: &NormOptions,
) -> Result<Tensor> {
    const OP: &str = "group_norm";
    let epsilon = opts.epsilon;
    check_epsilon(OP, epsilon)?;
    let c = channels(OP, x, 2)?;
    if groups == 0 || c % groups != 0 {
        return Err(LuxError::shape(
            OP,
            format!("the {c} channels of input {:?} cannot be split into {groups} equal groups", x.shape()),
        ));
    }
    check_channel_param(OP, "scale", scale, c, x)?;
    check_channel_param(OP, "bias", bias, c, x)?;
    let layout = Layout::channels(x.shape(), groups, false);
    Ok(normalize(OP, x, scale, bias, layout, Kind::Group(groups), epsilon)?.0)
}

/// Instance normalisation (LuxLib's `instancenorm` without running
/// statistics): every sample's channel is normalised over its spatial axes
/// 2, 3, …. `x` needs at least 3 axes (`[N, C, L…]`), as in Lux.
/// `scale`/`bias` are `[C]`. Reads `opts.epsilon` only.
///
/// ```
/// use lux_core::Tensor;
/// use lux_ops::norm::{instance_norm, NormOptions};
/// let x = Tensor::from_vec(vec![1.0f64, 3.0, 10.0, 30.0], &[1, 2, 2])?;
/// let y = instance_norm(&x, None, None, &NormOptions::new().epsilon(0.0))?;
/// assert_eq!(y.to_vec::<f64>()?, vec![-1.0, 1.0, -1.0, 1.0]);
/// # Ok::<(), lux_core::LuxError>(())
/// ```
///
/// # Errors
/// `x` has fewer than 3 axes or is not float; `scale`/`bias` not `[C]`;
/// `epsilon` negative.
pub fn instance_norm(x: &Tensor, scale: Option<&Tensor>, bias: Option<&Tensor>, opts: &NormOptions) -> Result<Tensor> {
    Ok(instance_norm_with_stats(x, scale, bias, None, &NormOptions::new().epsilon(opts.epsilon))?.0)
}

/// Instance normalisation with optional running statistics (Lux's
/// `InstanceNorm(…; track_stats=true)`).
///
/// * `opts.training == true` or `running == None`: normalises with each
///   instance's statistics (over axes 2..). In training, `running` (if given)
///   is returned updated with the statistics averaged over the batch:
///   `mean ← (1 − momentum)·mean + momentum·avgₙ μ`,
///   `var ← (1 − momentum)·var + momentum·m/(m − 1)·avgₙ σ²`, `m` the number
///   of spatial positions (as LuxLib does).
/// * `opts.training == false` with `running`: normalises every channel with the
///   running statistics, which are returned unchanged.
///
/// ```
/// use lux_core::{DType, Tensor};
/// use lux_ops::norm::{instance_norm_with_stats, NormOptions, RunningStats};
/// let x = Tensor::from_vec(vec![1.0f64, 3.0, 10.0, 30.0], &[2, 1, 2])?;
/// let st = RunningStats::new(1, DType::F64)?;
/// let (_, st) = instance_norm_with_stats(&x, None, None, Some(st), &NormOptions::new().momentum(0.5))?;
/// let st = st.unwrap();
/// assert!((st.mean.to_vec::<f64>()?[0] - 5.5).abs() < 1e-12); // 0.5·0 + 0.5·(2 + 20)/2
/// assert!((st.var.to_vec::<f64>()?[0] - 51.0).abs() < 1e-12); // 0.5·1 + 0.5·(2/1)·(1 + 100)/2
/// # Ok::<(), lux_core::LuxError>(())
/// ```
///
/// # Errors
/// As for [`instance_norm`]; running statistics not `[C]`; `momentum`
/// outside `[0, 1]`; updating running statistics from fewer than 2 spatial
/// positions or an empty batch.
pub fn instance_norm_with_stats(
    x: &Tensor,
    scale: Option<&Tensor>,
    bias: Option<&Tensor>,
    running: Option<RunningStats>,
    opts: &NormOptions,
) -> Result<(Tensor, Option<RunningStats>)> {
    const OP: &str = "instance_norm";
    let &NormOptions { epsilon, momentum, training } = opts;
    let c = check_running_op(OP, x, 3, scale, bias, running.as_ref(), opts)?;
    match running {
        Some(r) if !training => normalize_with_running(OP, x, scale, bias, r, c, epsilon),
        running => {
            let layout = Layout::channels(x.shape(), c, false);
            let m = layout.count_per_stat();
            let n = x.shape()[0];
            if running.is_some() && (m < 2 || n == 0) {
                return Err(LuxError::shape(
                    OP,
                    format!(
                        "cannot update running statistics from input {:?}: needs a non-empty batch and \
                         at least 2 spatial positions for the unbiased variance",
                        x.shape()
                    ),
                ));
            }
            let axes: Vec<usize> = (2..x.ndim()).collect();
            let (y, stats) = normalize(OP, x, scale, bias, layout, Kind::Axes(axes), epsilon)?;
            let updated = match running {
                Some(r) => {
                    // Per-(sample, channel) statistics averaged over the batch.
                    let avg = |v: &[f64]| -> Vec<f64> {
                        (0..c).map(|ch| (0..n).map(|i| v[i * c + ch]).sum::<f64>() / n as f64).collect()
                    };
                    Some(update_running(&r, &avg(&stats.mean), &avg(&stats.var), m, momentum)?)
                }
                None => None,
            };
            Ok((y, updated))
        }
    }
}

/// Inference with running statistics: every channel is normalised with
/// them, and they come back unchanged (detached).
fn normalize_with_running(
    op: &'static str,
    x: &Tensor,
    scale: Option<&Tensor>,
    bias: Option<&Tensor>,
    r: RunningStats,
    c: usize,
    epsilon: f64,
) -> Result<(Tensor, Option<RunningStats>)> {
    let running = RunningStats { mean: r.mean.detach(), var: r.var.detach() };
    let kind = Kind::Fixed { mean: running.mean.clone(), var: running.var.clone() };
    let (y, _) = normalize(op, x, scale, bias, Layout::channels(x.shape(), c, true), kind, epsilon)?;
    Ok((y, Some(running)))
}

// ----- validation -------------------------------------------------------------

/// The checks of the ops that keep running statistics; returns the channel
/// count.
fn check_running_op(
    op: &str,
    x: &Tensor,
    min_rank: usize,
    scale: Option<&Tensor>,
    bias: Option<&Tensor>,
    running: Option<&RunningStats>,
    opts: &NormOptions,
) -> Result<usize> {
    check_epsilon(op, opts.epsilon)?;
    check_unit_interval(op, "momentum", opts.momentum)?;
    let c = channels(op, x, min_rank)?;
    check_channel_param(op, "scale", scale, c, x)?;
    check_channel_param(op, "bias", bias, c, x)?;
    if let Some(r) = running {
        check_running(op, r, c, x)?;
    }
    Ok(c)
}

fn check_epsilon(op: &str, eps: f64) -> Result<()> {
    if eps.is_finite() && eps >= 0.0 {
        Ok(())
    } else {
        Err(LuxError::invalid_argument(op, format!("epsilon must be finite and ≥ 0, got {eps}")))
    }
}

/// The channel count (axis 1) of a float `x` with at least `min_rank` axes.
fn channels(op: &str, x: &Tensor, min_rank: usize) -> Result<usize> {
    check_float(op, x)?;
    if x.ndim() < min_rank {
        let layout = if min_rank == 2 { "[batch, channels, …]" } else { "[batch, channels, spatial…]" };
        return Err(LuxError::shape(
            op,
            format!("input must have at least {min_rank} axes {layout}, got shape {:?}", x.shape()),
        ));
    }
    Ok(x.shape()[1])
}

fn check_channel_param(op: &str, name: &str, p: Option<&Tensor>, c: usize, x: &Tensor) -> Result<()> {
    match p {
        Some(p) if p.shape() != [c] => Err(LuxError::shape(
            op,
            format!("{name} has shape {:?}, expected [{c}] (one per channel of input {:?})", p.shape(), x.shape()),
        )),
        _ => Ok(()),
    }
}

fn check_running(op: &str, r: &RunningStats, c: usize, x: &Tensor) -> Result<()> {
    for (name, t) in [("running mean", &r.mean), ("running variance", &r.var)] {
        if !t.dtype().is_float() {
            return Err(LuxError::UnsupportedDType { op: format!("{op} ({name})"), dtype: t.dtype() });
        }
        if t.shape() != [c] {
            return Err(LuxError::shape(
                op,
                format!("{name} has shape {:?}, expected [{c}] (one per channel of input {:?})", t.shape(), x.shape()),
            ));
        }
    }
    Ok(())
}

/// `(1 − momentum)·running + momentum·batch`, with the variance corrected
/// by `m/(m − 1)`; computed in f64, stored in the running dtype, detached.
fn update_running(r: &RunningStats, mean: &[f64], var: &[f64], m: usize, momentum: f64) -> Result<RunningStats> {
    let corr = m as f64 / (m as f64 - 1.0);
    let rm = r.mean.to_f64_vec();
    let rv = r.var.to_f64_vec();
    let nm: Vec<f64> = rm.iter().zip(mean).map(|(&a, &b)| (1.0 - momentum) * a + momentum * b).collect();
    let nv: Vec<f64> = rv.iter().zip(var).map(|(&a, &b)| (1.0 - momentum) * a + momentum * corr * b).collect();
    let c = rm.len();
    Ok(RunningStats {
        mean: Tensor::from_vec(nm, &[c])?.to_dtype(r.mean.dtype())?,
        var: Tensor::from_vec(nv, &[c])?.to_dtype(r.var.dtype())?,
    })
}

// ----- composite definitions (nested AD) -------------------------------------

/// Where the statistics come from.
#[derive(Clone, Debug)]
// One value per norm call, moved rarely: boxing the two running tensors
// would only add an allocation.
#[allow(clippy::large_enum_variant)]
enum Kind {
    /// Batch statistics over these (sorted) axes of `x`.
    Axes(Vec<usize>),
    /// Batch statistics per sample and group of channels (axis 1).
    Group(usize),
    /// Given per-channel statistics (running mean and variance, `[C]`).
    Fixed { mean: Tensor, var: Tensor },
}

/// `[1, C, 1, …]` for an input of `shape`.
fn channel_shape(shape: &[usize]) -> Vec<usize> {
    (0..shape.len()).map(|d| if d == 1 { shape[1] } else { 1 }).collect()
}

/// The normalisation written with primitive differentiable ops: the
/// definition the fused kernel implements, used for gradients of gradients.
fn composite(
    kind: &Kind,
    channel_affine: bool,
    eps: f64,
    x: &Tensor,
    scale: Option<&Tensor>,
    bias: Option<&Tensor>,
) -> Result<Tensor> {
    let standardize = |x: &Tensor, axes: &[isize]| -> Result<Tensor> {
        let mu = x.mean(axes, true)?;
        let d = x.sub(&mu)?;
        let var = d.square()?.mean(axes, true)?;
        d.div(&var.add_scalar(eps)?.sqrt()?)
    };
    let cs = channel_shape(x.shape());
    let xhat = match kind {
        Kind::Axes(axes) => standardize(x, &axes.iter().map(|&a| a as isize).collect::<Vec<_>>())?,
        Kind::Group(groups) => {
            let s = x.shape();
            let xr = x.reshape(&[s[0], *groups, x.len() / (s[0] * groups).max(1)])?;
            standardize(&xr, &[2])?.reshape(s)?
        }
        Kind::Fixed { mean, var } => x.sub(&mean.reshape(&cs)?)?.div(&var.add_scalar(eps)?.sqrt()?.reshape(&cs)?)?,
    };
    let param = |p: &Tensor| if channel_affine { p.reshape(&cs) } else { Ok(p.clone()) };
    let y = match scale {
        Some(s) => xhat.mul(&param(s)?)?,
        None => xhat,
    };
    match bias {
        Some(b) => y.add(&param(b)?),
        None => Ok(y),
    }
}

// ----- the fused kernel -------------------------------------------------------

/// `x` seen (after an optional axis permutation, as a row-major copy) as
/// `[A, G, K, B]`; a *row* is one `(a, g)` block of `K·B` contiguous values.
/// Statistics are per row (`per_channel == false`) or per `g` over all `a`
/// (batch norm). Scale/bias are read from tables indexed by `(g, k)` (or
/// `(a, g, k)` when `per_a`) and broadcast along `B`.
#[derive(Clone, Debug)]
struct Layout {
    a: usize,
    g: usize,
    k: usize,
    b: usize,
    per_channel: bool,
    per_a: bool,
    /// Shape of `x`.
    shape: Vec<usize>,
    /// Axis permutation applied to `x` first (layer norm over non-trailing axes).
    perm: Option<Vec<usize>>,
    /// Number of leading (non-normalised) axes after `perm` (layer norm).
    lead_n: usize,
    /// `scale`/`bias` are `[C]` on axis 1 (otherwise they broadcast against `x`).
    channel_affine: bool,
}

impl Layout {
    /// `[N, C, L…]` as `[N, groups, C/groups, L]`.
    fn channels(shape: &[usize], groups: usize, per_channel: bool) -> Layout {
        let (n, c) = (shape[0], shape[1]);
        Layout {
            a: n,
            g: groups,
            k: c.checked_div(groups).unwrap_or(0),
            b: shape[2..].iter().product(),
            per_channel,
            per_a: false,
            shape: shape.to_vec(),
            perm: None,
            lead_n: 0,
            channel_affine: true,
        }
    }
    fn rows(&self) -> usize {
        self.a * self.g
    }
    fn row_len(&self) -> usize {
        self.k * self.b
    }
    fn n_stats(&self) -> usize {
        if self.per_channel { self.g } else { self.rows() }
    }
    fn stat_of_row(&self, r: usize) -> usize {
        if self.per_channel { r % self.g } else { r }
    }
    fn count_per_stat(&self) -> usize {
        if self.per_channel { self.a * self.row_len() } else { self.row_len() }
    }
    fn table_len(&self) -> usize {
        if self.per_a { self.rows() * self.k } else { self.g * self.k }
    }
    fn table_offset(&self, r: usize) -> usize {
        if self.per_a { r * self.k } else { (r % self.g) * self.k }
    }
    fn permuted_shape(&self) -> Vec<usize> {
        match &self.perm {
            Some(p) => p.iter().map(|&d| self.shape[d]).collect(),
            None => self.shape.clone(),
        }
    }
    fn inverse_perm(&self) -> Option<Vec<usize>> {
        self.perm.as_ref().map(|p| {
            let mut inv = vec![0; p.len()];
            for (i, &d) in p.iter().enumerate() {
                inv[d] = i;
            }
            inv
        })
    }

    /// A scale/bias tensor as a table of `table_len()` f64 values.
    fn table(&self, p: &Tensor) -> Result<Vec<f64>> {
        if self.channel_affine {
            return Ok(p.to_f64_vec());
        }
        let nd = self.shape.len();
        let mut pshape = vec![1; nd - p.ndim()];
        pshape.extend_from_slice(p.shape());
        let arr = ArrayD::from_shape_vec(IxDyn(&pshape), p.to_f64_vec()).map_err(|e| internal(&e.to_string()))?;
        let full = arr.broadcast(IxDyn(&self.shape)).ok_or_else(|| internal("scale does not broadcast"))?;
        let full = match &self.perm {
            Some(perm) => full.permuted_axes(IxDyn(perm)),
            None => full,
        };
        if self.per_a {
            Ok(full.iter().copied().collect())
        } else {
            let lead = self.lead_n;
            let v = full.slice_each_axis(|ax| if ax.axis.index() < lead { Slice::from(0..1) } else { Slice::from(..) });
            Ok(v.iter().copied().collect())
        }
    }

    /// A table of gradients back to the shape of the parameter `p`.
    fn untable(&self, t: Vec<f64>, p: &Tensor) -> Result<Tensor> {
        if self.channel_affine {
            return Tensor::from_vec(t, p.shape());
        }
        let mut tshape = self.permuted_shape();
        if !self.per_a {
            tshape[..self.lead_n].iter_mut().for_each(|d| *d = 1);
        }
        let tt = Tensor::from_vec(t, &tshape)?;
        let tt = match self.inverse_perm() {
            Some(inv) => tt.permute(&inv)?,
            None => tt,
        };
        tt.sum_to(p.shape())
    }
}

fn internal(msg: &str) -> LuxError {
    LuxError::Unsupported(format!("internal error in a normalisation kernel: {msg}"))
}

#[inline(always)]
fn f<T: Real>(v: T) -> f64 {
    Element::to_f64(v)
}

/// Elements per rayon task (below this, one thread does the work).
const PAR_GRAIN: usize = 1 << 15;

fn min_len(items_len: usize) -> usize {
    (PAR_GRAIN / items_len.max(1)).max(1)
}

/// `(Σ uᵢ, Σ vᵢ)` over `(uᵢ, vᵢ) = term(i)`, `i < n`, with 8 independent
/// f64 accumulators (so the additions pipeline and vectorise).
#[inline(always)]
fn lane_sums(n: usize, term: impl Fn(usize) -> (f64, f64)) -> (f64, f64) {
    const L: usize = 8;
    let (mut a, mut b) = ([0.0f64; L], [0.0f64; L]);
    let full = n / L * L;
    let mut i = 0;
    while i < full {
        for j in 0..L {
            let (u, v) = term(i + j);
            a[j] += u;
            b[j] += v;
        }
        i += L;
    }
    let (mut s, mut t): (f64, f64) = (a.iter().sum(), b.iter().sum());
    for i in full..n {
        let (u, v) = term(i);
        s += u;
        t += v;
    }
    (s, t)
}

/// Elementwise sum of two pairs of accumulator vectors (rayon reductions).
fn add_pairs((mut a, mut b): (Vec<f64>, Vec<f64>), (c, d): (Vec<f64>, Vec<f64>)) -> (Vec<f64>, Vec<f64>) {
    a.iter_mut().zip(&c).for_each(|(u, v)| *u += v);
    b.iter_mut().zip(&d).for_each(|(u, v)| *u += v);
    (a, b)
}

/// `Σ (x − shift)` and `Σ (x − shift)²`.
fn shifted_sums<T: Real>(xs: &[T], shift: f64) -> (f64, f64) {
    lane_sums(xs.len(), |i| {
        let d = f(xs[i]) - shift;
        (d, d * d)
    })
}

/// Biased mean and variance per statistic (one pass, f64, shifted by the
/// statistic's first value to avoid cancellation).
fn statistics<T: Real>(xs: &[T], l: &Layout) -> (Vec<f64>, Vec<f64>) {
    let rl = l.row_len();
    let finish = |s1: f64, s2: f64, n: usize, shift: f64| {
        let n = n as f64;
        (shift + s1 / n, ((s2 - s1 * s1 / n) / n).max(0.0))
    };
    let res: Vec<(f64, f64)> = if l.per_channel && rl == 1 {
        // [N, C]: accumulate all channels of a sample at once.
        let c = l.g;
        let shift: Vec<f64> = xs[..c].iter().map(|&v| f(v)).collect();
        let (s1, s2) = xs
            .par_chunks(c)
            .with_min_len(min_len(c))
            .fold(
                || (vec![0.0; c], vec![0.0; c]),
                |(mut s1, mut s2), row| {
                    for ((a, b), (&v, &sh)) in s1.iter_mut().zip(s2.iter_mut()).zip(row.iter().zip(&shift)) {
                        let d = f(v) - sh;
                        *a += d;
                        *b += d * d;
                    }
                    (s1, s2)
                },
            )
            .reduce(|| (vec![0.0; c], vec![0.0; c]), add_pairs);
        (0..c).map(|j| finish(s1[j], s2[j], l.a, shift[j])).collect()
    } else if l.per_channel {
        (0..l.g)
            .into_par_iter()
            .with_min_len(min_len(l.a * rl))
            .map(|c| {
                let shift = f(xs[c * rl]);
                let (mut s1, mut s2) = (0.0, 0.0);
                for a in 0..l.a {
                    let r = a * l.g + c;
                    let (t1, t2) = shifted_sums(&xs[r * rl..(r + 1) * rl], shift);
                    s1 += t1;
                    s2 += t2;
                }
                finish(s1, s2, l.a * rl, shift)
            })
            .collect()
    } else {
        xs.par_chunks(rl)
            .with_min_len(min_len(rl))
            .map(|row| {
                let shift = f(row[0]);
                let (s1, s2) = shifted_sums(row, shift);
                finish(s1, s2, rl, shift)
            })
            .collect()
    };
    res.into_iter().unzip()
}

/// A scale (`default` 1) or bias (`default` 0) table in the compute type.
fn typed_table<T: Real>(l: &Layout, t: Option<&[f64]>, default: f64) -> Vec<T> {
    match t {
        Some(t) => t.iter().map(|&v| T::c(v)).collect(),
        None => vec![T::c(default); l.table_len()],
    }
}

/// Normalise + affine: `y = (x − μ)·rstd·γ + β`, row by row.
fn normalize_kernel<T: Real>(xs: &[T], l: &Layout, gamma: &[T], beta: &[T], mean: &[f64], rstd: &[f64]) -> Vec<T> {
    let (rl, k, b) = (l.row_len(), l.k, l.b);
    let mut y = vec![T::zero(); xs.len()];
    if l.per_channel && rl == 1 {
        // [N, C]: one sample (all channels) at a time.
        let c = l.g;
        let mu: Vec<T> = mean.iter().map(|&m| T::c(m)).collect();
        let sc: Vec<T> = rstd.iter().zip(gamma).map(|(&r, &g)| T::c(r) * g).collect();
        y.par_chunks_mut(c).zip(xs.par_chunks(c)).with_min_len(min_len(c)).for_each(|(ys, xr)| {
            for ((yv, &xv), ((&m, &s), &bb)) in ys.iter_mut().zip(xr).zip(mu.iter().zip(&sc).zip(beta)) {
                *yv = (xv - m) * s + bb;
            }
        });
        return y;
    }
    y.par_chunks_mut(rl).with_min_len(min_len(rl)).enumerate().for_each(|(r, ys)| {
        let xr = &xs[r * rl..(r + 1) * rl];
        let s = l.stat_of_row(r);
        let (mu, rs) = (T::c(mean[s]), T::c(rstd[s]));
        let off = l.table_offset(r);
        let (gt, bt) = (&gamma[off..off + k], &beta[off..off + k]);
        if b == 1 {
            for (((yv, &xv), &gm), &bb) in ys.iter_mut().zip(xr).zip(gt).zip(bt) {
                *yv = (xv - mu) * rs * gm + bb;
            }
        } else {
            for ((yk, xk), (&gm, &bb)) in ys.chunks_exact_mut(b).zip(xr.chunks_exact(b)).zip(gt.iter().zip(bt)) {
                let sc = rs * gm;
                for (yv, &xv) in yk.iter_mut().zip(xk) {
                    *yv = (xv - mu) * sc + bb;
                }
            }
        }
    });
    y
}

/// The first-order backward kernel: `(dx, dγ table, dβ table)`.
fn backward_kernel<T: Real>(
    xs: &[T],
    gs: &[T],
    l: &Layout,
    gamma: &[T],
    mean: &[f64],
    rstd: &[f64],
    batch_stats: bool,
    need_dx: bool,
) -> (Option<Vec<T>>, Vec<f64>, Vec<f64>) {
    let (rl, k, b) = (l.row_len(), l.k, l.b);
    if l.per_channel && rl == 1 {
        return backward_columns(xs, gs, l.g, gamma, mean, rstd, batch_stats, need_dx);
    }
    // Pass 1: per row, Σ_b g and Σ_b g·x̂ for every k (the parameter
    // gradients), and the row's Σ ĝ and Σ ĝ·x̂ (ĝ = γ·g).
    let row = |r: usize, rs: &mut (f64, f64), dg: &mut [f64], db: &mut [f64]| {
        let (xr, gr) = (&xs[r * rl..(r + 1) * rl], &gs[r * rl..(r + 1) * rl]);
        let s = l.stat_of_row(r);
        let (mu, rsd) = (mean[s], rstd[s]);
        let off = l.table_offset(r);
        let gt = &gamma[off..off + k];
        if b == 1 {
            for (((dgv, dbv), &xv), &gv) in dg.iter_mut().zip(db.iter_mut()).zip(xr).zip(gr) {
                let gv = f(gv);
                *dgv += gv * (f(xv) - mu) * rsd;
                *dbv += gv;
            }
            *rs = lane_sums(k, |i| {
                let gh = f(gt[i]) * f(gr[i]);
                (gh, gh * (f(xr[i]) - mu) * rsd)
            });
        } else {
            let (mut s1, mut s2) = (0.0, 0.0);
            for kk in 0..k {
                let (xk, gk) = (&xr[kk * b..(kk + 1) * b], &gr[kk * b..(kk + 1) * b]);
                let (pg, pgc) = lane_sums(b, |i| {
                    let gv = f(gk[i]);
                    (gv, gv * (f(xk[i]) - mu))
                });
                let pgx = pgc * rsd;
                dg[kk] += pgx;
                db[kk] += pg;
                let gm = f(gt[kk]);
                s1 += gm * pg;
                s2 += gm * pgx;
            }
            *rs = (s1, s2);
        }
    };
    let mut row_sums = vec![(0.0, 0.0); l.rows()];
    let (dgamma, dbeta) = if l.per_a {
        let (mut dg, mut db) = (vec![0.0; l.table_len()], vec![0.0; l.table_len()]);
        row_sums
            .par_iter_mut()
            .zip(dg.par_chunks_mut(k))
            .zip(db.par_chunks_mut(k))
            .with_min_len(min_len(rl))
            .enumerate()
            .for_each(|(r, ((rs, dg), db))| row(r, rs, dg, db));
        (dg, db)
    } else {
        let tl = l.table_len();
        row_sums
            .par_iter_mut()
            .with_min_len(min_len(rl))
            .enumerate()
            .fold(
                || (vec![0.0; tl], vec![0.0; tl]),
                |(mut dg, mut db), (r, rs)| {
                    let off = l.table_offset(r);
                    row(r, rs, &mut dg[off..off + k], &mut db[off..off + k]);
                    (dg, db)
                },
            )
            .reduce(|| (vec![0.0; tl], vec![0.0; tl]), add_pairs)
    };
    if !need_dx {
        return (None, dgamma, dbeta);
    }
    // Σ ĝ and Σ ĝ·x̂ per statistic.
    let stat_sums: Vec<(f64, f64)> = if l.per_channel {
        let mut s = vec![(0.0, 0.0); l.g];
        for (r, &(a, b)) in row_sums.iter().enumerate() {
            s[r % l.g].0 += a;
            s[r % l.g].1 += b;
        }
        s
    } else {
        row_sums
    };
    // Pass 2: dx = rstd·(ĝ − mean(ĝ) − x̂·mean(ĝ·x̂)).
    let n = l.count_per_stat() as f64;
    let mut dx = vec![T::zero(); xs.len()];
    dx.par_chunks_mut(rl).with_min_len(min_len(rl)).enumerate().for_each(|(r, dxs)| {
        let (xr, gr) = (&xs[r * rl..(r + 1) * rl], &gs[r * rl..(r + 1) * rl]);
        let s = l.stat_of_row(r);
        let (mu, rsd) = (T::c(mean[s]), T::c(rstd[s]));
        let (m1, m2) = if batch_stats { (stat_sums[s].0 / n, stat_sums[s].1 / n) } else { (0.0, 0.0) };
        // dx = rsd·γ·g − rsd·m1 − (x − μ)·rsd²·m2
        let (c1, c2) = (T::c(rstd[s] * m1), T::c(rstd[s] * rstd[s] * m2));
        let off = l.table_offset(r);
        let gt = &gamma[off..off + k];
        if b == 1 {
            for (((d, &xv), &gv), &gm) in dxs.iter_mut().zip(xr).zip(gr).zip(gt) {
                *d = rsd * gm * gv - c1 - (xv - mu) * c2;
            }
        } else {
            for (((dk, xk), gk), &gm) in dxs.chunks_exact_mut(b).zip(xr.chunks_exact(b)).zip(gr.chunks_exact(b)).zip(gt)
            {
                let sg = rsd * gm;
                for ((d, &xv), &gv) in dk.iter_mut().zip(xk).zip(gk) {
                    *d = sg * gv - c1 - (xv - mu) * c2;
                }
            }
        }
    });
    (Some(dx), dgamma, dbeta)
}

/// [`backward_kernel`] for per-channel statistics of `[N, C]` input (batch
/// norm of feature vectors): vectorised across the `c` channels of a sample.
fn backward_columns<T: Real>(
    xs: &[T],
    gs: &[T],
    c: usize,
    gamma: &[T],
    mean: &[f64],
    rstd: &[f64],
    batch_stats: bool,
    need_dx: bool,
) -> (Option<Vec<T>>, Vec<f64>, Vec<f64>) {
    // Pass 1: Σ g and Σ g·(x − μ) per channel.
    let (pg, pgc) = xs
        .par_chunks(c)
        .zip(gs.par_chunks(c))
        .with_min_len(min_len(c))
        .fold(
            || (vec![0.0; c], vec![0.0; c]),
            |(mut pg, mut pgc), (xr, gr)| {
                for (((a, b), (&xv, &gv)), &m) in pg.iter_mut().zip(pgc.iter_mut()).zip(xr.iter().zip(gr)).zip(mean) {
                    let gv = f(gv);
                    *a += gv;
                    *b += gv * (f(xv) - m);
                }
                (pg, pgc)
            },
        )
        .reduce(|| (vec![0.0; c], vec![0.0; c]), add_pairs);
    let dgamma: Vec<f64> = pgc.iter().zip(rstd).map(|(&v, &r)| v * r).collect();
    if !need_dx {
        return (None, dgamma, pg);
    }
    // Pass 2: dx = rstd·γ·g − rstd·mean(ĝ) − (x − μ)·rstd²·mean(ĝ·x̂).
    let n = (xs.len() / c) as f64;
    let mu: Vec<T> = mean.iter().map(|&m| T::c(m)).collect();
    let sg: Vec<T> = rstd.iter().zip(gamma).map(|(&r, &g)| T::c(r) * g).collect();
    let (c1, c2): (Vec<T>, Vec<T>) = (0..c)
        .map(|j| {
            if !batch_stats {
                return (T::zero(), T::zero());
            }
            let gm = f(gamma[j]);
            let (m1, m2) = (gm * pg[j] / n, gm * dgamma[j] / n);
            (T::c(rstd[j] * m1), T::c(rstd[j] * rstd[j] * m2))
        })
        .unzip();
    let mut dx = vec![T::zero(); xs.len()];
    dx.par_chunks_mut(c).zip(xs.par_chunks(c).zip(gs.par_chunks(c))).with_min_len(min_len(c)).for_each(
        |(dxs, (xr, gr))| {
            for (j, ((d, &xv), &gv)) in dxs.iter_mut().zip(xr).zip(gr).enumerate() {
                *d = sg[j] * gv - c1[j] - (xv - mu[j]) * c2[j];
            }
        },
    );
    (Some(dx), dgamma, pg)
}

/// `x` as a row-major array in the layout's axis order.
fn in_layout<T: Clone>(a: &ArcArray<T, IxDyn>, perm: Option<&[usize]>) -> ArcArray<T, IxDyn> {
    let v = match perm {
        Some(p) => a.clone().permuted_axes(IxDyn(p)),
        None => a.clone(),
    };
    if v.is_standard_layout() { v } else { v.as_standard_layout().into_owned().into_shared() }
}

/// Values computed in the layout's order, back in `x`'s axis order.
fn from_layout<T: Clone>(v: Vec<T>, l: &Layout) -> Result<ArcArray<T, IxDyn>> {
    let a = ArrayD::from_shape_vec(IxDyn(&l.permuted_shape()), v).map_err(|e| internal(&e.to_string()))?;
    Ok(match l.inverse_perm() {
        Some(inv) => a.permuted_axes(IxDyn(&inv)).into_shared(),
        None => a.into_shared(),
    })
}

fn slice_of<T>(a: &ArcArray<T, IxDyn>) -> Result<&[T]> {
    a.as_slice().ok_or_else(|| internal("expected a row-major array"))
}

/// Per-statistic results of a forward pass (f64; biased variance).
struct Stats {
    mean: Vec<f64>,
    var: Vec<f64>,
}

/// Runs the fused forward kernel and records the op.
fn normalize(
    op: &'static str,
    x: &Tensor,
    scale: Option<&Tensor>,
    bias: Option<&Tensor>,
    layout: Layout,
    kind: Kind,
    eps: f64,
) -> Result<(Tensor, Stats)> {
    let mut operands = vec![x];
    operands.extend(scale);
    operands.extend(bias);
    let (dtype, cast) = promote_floats(op, &operands)?;
    let (has_scale, has_bias) = (scale.is_some(), bias.is_some());
    // Given statistics are constants of the compute dtype (the composite
    // definition must produce the fused kernel's dtype).
    let kind = match kind {
        Kind::Fixed { mean, var } => {
            Kind::Fixed { mean: mean.detach().to_dtype(dtype)?, var: var.detach().to_dtype(dtype)? }
        }
        k => k,
    };
    let xc = &cast[0];
    let sc = has_scale.then(|| &cast[1]);
    let bc = has_bias.then(|| &cast[1 + has_scale as usize]);
    if x.is_empty() {
        let y = composite(&kind, layout.channel_affine, eps, xc, sc, bc)?;
        let nan = vec![f64::NAN; layout.n_stats()];
        return Ok((y, Stats { mean: nan.clone(), var: nan }));
    }
    let gamma = sc.map(|s| layout.table(s)).transpose()?;
    let beta = bc.map(|b| layout.table(b)).transpose()?;
    let fixed = match &kind {
        Kind::Fixed { mean, var } => Some((mean.to_f64_vec(), var.to_f64_vec())),
        _ => None,
    };
    let perm = layout.perm.as_deref();
    let (y, mean, var) = match xc.compute_data(op)? {
        FloatData::F32(a) => {
            let a = in_layout(&a, perm);
            let (y, m, v) = forward_typed(slice_of(&a)?, &layout, gamma.as_deref(), beta.as_deref(), &fixed, eps);
            (FloatData::F32(from_layout(y, &layout)?), m, v)
        }
        FloatData::F64(a) => {
            let a = in_layout(&a, perm);
            let (y, m, v) = forward_typed(slice_of(&a)?, &layout, gamma.as_deref(), beta.as_deref(), &fixed, eps);
            (FloatData::F64(from_layout(y, &layout)?), m, v)
        }
    };
    let y = y.into_tensor(dtype);
    let inputs: Vec<&Tensor> = cast.iter().collect();
    let y = if any_tracked(&cast) {
        let rstd = var.iter().map(|v| 1.0 / (v + eps).sqrt()).collect();
        let node = NormOp { name: op, layout, kind, has_scale, has_bias, eps, mean: mean.clone(), rstd };
        Tensor::from_custom_op(y, Arc::new(node), &inputs)?
    } else {
        y
    };
    Ok((y, Stats { mean, var }))
}

fn forward_typed<T: Real>(
    xs: &[T],
    l: &Layout,
    gamma: Option<&[f64]>,
    beta: Option<&[f64]>,
    fixed: &Option<(Vec<f64>, Vec<f64>)>,
    eps: f64,
) -> (Vec<T>, Vec<f64>, Vec<f64>) {
    let (mean, var) = match fixed {
        Some((m, v)) => (m.clone(), v.clone()),
        None => statistics(xs, l),
    };
    let rstd: Vec<f64> = var.iter().map(|v| 1.0 / (v + eps).sqrt()).collect();
    let (gt, bt) = (typed_table::<T>(l, gamma, 1.0), typed_table::<T>(l, beta, 0.0));
    (normalize_kernel(xs, l, &gt, &bt, &mean, &rstd), mean, var)
}

/// The recorded normalisation: inputs `[x, scale?, bias?]`.
#[derive(Debug)]
struct NormOp {
    name: &'static str,
    layout: Layout,
    kind: Kind,
    has_scale: bool,
    has_bias: bool,
    eps: f64,
    mean: Vec<f64>,
    rstd: Vec<f64>,
}

impl NormOp {
    fn params<'a>(&self, v: &'a [Tensor]) -> (Option<&'a Tensor>, Option<&'a Tensor>) {
        let s = self.has_scale.then(|| &v[1]);
        let b = self.has_bias.then(|| &v[1 + self.has_scale as usize]);
        (s, b)
    }

    /// `(dx, dγ, dβ)` from the input and cotangent arrays, in the kernel's
    /// layout and back.
    #[allow(clippy::type_complexity)]
    fn backward_typed<T: Real>(
        &self,
        xa: &ArcArray<T, IxDyn>,
        ga: &ArcArray<T, IxDyn>,
        gamma: Option<&[f64]>,
        need_dx: bool,
    ) -> Result<(Option<ArcArray<T, IxDyn>>, Vec<f64>, Vec<f64>)> {
        let l = &self.layout;
        let perm = l.perm.as_deref();
        let (xa, ga) = (in_layout(xa, perm), in_layout(ga, perm));
        let batch_stats = !matches!(self.kind, Kind::Fixed { .. });
        let (dx, dg, db) = backward_kernel(
            slice_of(&xa)?,
            slice_of(&ga)?,
            l,
            &typed_table(l, gamma, 1.0),
            &self.mean,
            &self.rstd,
            batch_stats,
            need_dx,
        );
        Ok((dx.map(|d| from_layout(d, l)).transpose()?, dg, db))
    }

    fn fused_backward(&self, grad: &Tensor, inputs: &[Tensor], needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        let l = &self.layout;
        let x = &inputs[0];
        let (scale, bias) = self.params(inputs);
        let gamma = scale.map(|s| l.table(s)).transpose()?;
        let g = grad.to_dtype(x.dtype())?;
        let need_dx = needs[0];
        let (dx, dgamma, dbeta) = match (x.compute_data(self.name)?, g.compute_data(self.name)?) {
            (FloatData::F32(xa), FloatData::F32(ga)) => {
                let (dx, dg, db) = self.backward_typed(&xa, &ga, gamma.as_deref(), need_dx)?;
                (dx.map(FloatData::F32), dg, db)
            }
            (FloatData::F64(xa), FloatData::F64(ga)) => {
                let (dx, dg, db) = self.backward_typed(&xa, &ga, gamma.as_deref(), need_dx)?;
                (dx.map(FloatData::F64), dg, db)
            }
            _ => return Err(internal("input and gradient differ in dtype")),
        };
        let mut out = vec![dx.map(|d| d.into_tensor(x.dtype()))];
        if let Some(s) = scale {
            out.push(Some(l.untable(dgamma, s)?));
        }
        if let Some(b) = bias {
            out.push(Some(l.untable(dbeta, b)?));
        }
        Ok(out)
    }
}

impl CustomOp for NormOp {
    fn name(&self) -> &str {
        self.name
    }

    fn backward(&self, grad: &Tensor, inputs: &[Tensor], _: &Tensor, needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        self.fused_backward(grad, inputs, needs)
    }

    /// Forward mode through the composite definition (a few elementwise
    /// and gather passes; no faster rule is worth its code here).
    fn tangent(&self, inputs: &[Tensor], _: &Tensor, tangents: &[Option<Tensor>]) -> Result<Tensor> {
        lux_core::forward::composite_tangent(self, inputs, tangents)
    }

    fn composite(&self, inputs: &[Tensor]) -> Result<Option<Tensor>> {
        let (s, b) = self.params(inputs);
        composite(&self.kind, self.layout.channel_affine, self.eps, &inputs[0], s, b).map(Some)
    }
}
