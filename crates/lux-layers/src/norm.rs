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
//! [`describe`](Layer::describe), with the shapes in the message.

use crate::dropout::julia_dims;
use crate::init::Init;
use crate::util::float_input;
use lux_core::{DType, Layer, LuxError, Result, Tensor, Tree, normalize_axis, tree};
use lux_ops::Activation;
use lux_ops::norm::{
    DEFAULT_EPSILON, DEFAULT_MOMENTUM, NormOptions, RunningStats, batch_norm, group_norm, instance_norm_with_stats,
    layer_norm,
};
use rand::Rng;
use std::fmt::Display;

// ----- shared helpers --------------------------------------------------------------

/// Puts the layer's description into the `op` of an error from a kernel.
fn in_layer(err: LuxError, describe: impl FnOnce() -> String) -> LuxError {
    match err {
        LuxError::Shape { msg, .. } => LuxError::Shape { op: describe(), msg },
        LuxError::InvalidArgument { msg, .. } => LuxError::InvalidArgument { op: describe(), msg },
        LuxError::DType { expected, got, .. } => LuxError::DType { op: describe(), expected, got },
        LuxError::UnsupportedDType { dtype, .. } => LuxError::UnsupportedDType { op: describe(), dtype },
        other => other,
    }
}

/// A Julia tuple of the items: `()`, `(3,)`, `(3, 4)`.
fn julia_tuple<T: Display>(items: &[T]) -> String {
    match items {
        [one] => format!("({one},)"),
        _ => format!("({})", items.iter().map(|i| i.to_string()).collect::<Vec<_>>().join(", ")),
    }
}

/// `", act"` for a non-identity activation, as Lux prints it.
fn act_suffix(activation: Activation) -> String {
    if activation == Activation::Identity { String::new() } else { format!(", {}", activation.julia_name()) }
}

/// The checks of the options shared by the layers, at construction.
fn check_options(layer: &str, epsilon: f64, momentum: f64, activation: Activation) -> Result<()> {
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

fn check_chs(layer: &str, chs: usize) -> Result<()> {
    if chs == 0 { Err(LuxError::invalid_argument(layer, "the number of channels must be positive")) } else { Ok(()) }
}

/// `x` has at least `min_rank` axes and `chs` channels on axis 1.
fn check_channels(x: &Tensor, chs: usize, min_rank: usize, describe: impl Fn() -> String) -> Result<()> {
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
fn affine_params(ps: &Tree, affine: bool) -> Result<(Option<&Tensor>, Option<&Tensor>)> {
    if affine { Ok((Some(ps.tensor("scale")?), Some(ps.tensor("bias")?))) } else { Ok((None, None)) }
}

/// The input in the dtype the layer computes in: the parameters' when it
/// has float parameters, else its own.
fn in_param_dtype(x: &Tensor, scale: Option<&Tensor>) -> Result<Tensor> {
    match scale {
        Some(s) if s.dtype().is_float() && s.dtype() != x.dtype() => x.to_dtype(s.dtype()),
        _ => Ok(x.clone()),
    }
}

/// `scale` then `bias`, each `[chs]`, from their initialisers.
fn init_scale_bias(rng: &mut dyn Rng, chs: usize, scale: &Init, bias: &Init) -> Result<Tree> {
    Ok(tree! { scale: scale.init(rng, &[chs], DType::F32)?, bias: bias.init(rng, &[chs], DType::F32)? })
}

/// Lux's initial running statistics (zeros, ones) and the `training` flag.
fn init_running(chs: usize, track_stats: bool) -> Result<Tree> {
    if track_stats {
        let r = RunningStats::new(chs, DType::F32)?;
        Ok(tree! { running_mean: r.mean, running_var: r.var, training: true })
    } else {
        Ok(tree! { training: true })
    }
}

fn running_from(st: &Tree) -> Result<RunningStats> {
    Ok(RunningStats { mean: st.tensor("running_mean")?.clone(), var: st.tensor("running_var")?.clone() })
}

fn running_state(r: RunningStats, training: bool) -> Tree {
    tree! { running_mean: r.mean, running_var: r.var, training: training }
}

// ----- BatchNorm -------------------------------------------------------------------

/// Batch normalisation (Lux's `BatchNorm(chs, activation; epsilon=1f-5,
/// momentum=0.1, affine=true, track_stats=true, init_bias=zeros32,
/// init_scale=ones32)`, Ioffe & Szegedy 2015).
///
/// Normalises every channel (axis 1) with the mean and variance over the
/// batch and spatial axes, then `act(x̂·scale + bias)`.
///
/// * Training (`st.training == true`): the batch statistics (biased
///   variance); with `track_stats`, the state's running statistics come back
///   updated, `mean ← (1 − momentum)·mean + momentum·μ` and
///   `var ← (1 − momentum)·var + momentum·m/(m − 1)·σ²` (`m` values per
///   channel: the running variance is unbiased, as in Lux). A batch of one is
///   an `Err`, as Lux's assertion.
/// * Test mode ([`lux_core::test_mode`]): the running statistics, which are
///   returned unchanged. With `track_stats = false` the batch statistics are
///   used in both modes.
///
/// * Parameters (`affine`): `scale` (ones) and `bias` (zeros), `[chs]`.
///   State: `running_mean` (zeros), `running_var` (ones), `[chs]` (with
///   `track_stats`), and `training` (`true`).
/// * Input: `[N, chs, …]` (at least 2 axes); output: the same shape.
///
/// ```
/// use lux_core::*;
/// use lux_layers::*;
/// let layer = BatchNorm::new(2)?;
/// assert_eq!(layer.describe(), "BatchNorm(2, affine=true, track_stats=true)");
/// assert_eq!((layer.param_count(), layer.state_count()), (4, 5));
/// let (ps, st) = setup(&mut RngState::seed_from_u64(0), &layer)?;
/// // Lux's test, batch-first: 3 samples of 2 features.
/// let x = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0], &[3, 2])?;
/// let (y, st) = apply_tensor(&layer, &x, &ps, &st)?;
/// assert!((y.to_vec::<f32>()?[0] + 1.22474).abs() < 1e-4);
/// let mean = st.tensor("running_mean")?.to_vec::<f32>()?; // 0.9·0 + 0.1·[3, 4]
/// assert!((mean[0] - 0.3).abs() < 1e-6 && (mean[1] - 0.4).abs() < 1e-6);
/// let var = st.tensor("running_var")?.to_vec::<f32>()?; // 0.9·1 + 0.1·(3/2)·(8/3)
/// assert!((var[0] - 1.3).abs() < 1e-6);
/// // test mode: the running statistics
/// let (y, _) = apply_tensor(&layer, &x, &ps, &test_mode(&st))?;
/// assert!((y.to_vec::<f32>()?[0] - (1.0 - 0.3) / (1.3f32 + 1e-5).sqrt()).abs() < 1e-5);
/// // a batch of one in training is an Err
/// let one = Tensor::ones(&[1, 2], DType::F32)?;
/// assert!(apply_tensor(&layer, &one, &ps, &st).is_err());
/// # Ok::<(), lux_core::LuxError>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct BatchNorm {
    chs: usize,
    activation: Activation,
    epsilon: f64,
    momentum: f64,
    affine: bool,
    track_stats: bool,
    init_bias: Init,
    init_scale: Init,
}

/// The options of a [`BatchNorm`] (from [`BatchNorm::builder`]).
#[derive(Clone, Debug, PartialEq)]
pub struct BatchNormBuilder(BatchNorm);

impl BatchNormBuilder {
    /// The activation applied after normalising (default identity).
    ///
    /// ```
    /// use lux_core::Layer;
    /// let l = lux_layers::BatchNorm::builder(3).activation(lux_ops::Activation::Relu).build()?;
    /// assert_eq!(l.describe(), "BatchNorm(3, relu, affine=true, track_stats=true)");
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn activation(mut self, activation: Activation) -> Self {
        self.0.activation = activation;
        self
    }

    /// ε, added to the variance (default 1e-5).
    ///
    /// ```
    /// assert_eq!(lux_layers::BatchNorm::builder(3).epsilon(1e-3).build()?.epsilon(), 1e-3);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn epsilon(mut self, epsilon: f64) -> Self {
        self.0.epsilon = epsilon;
        self
    }

    /// The momentum of the running statistics (default 0.1).
    ///
    /// ```
    /// assert_eq!(lux_layers::BatchNorm::builder(3).momentum(0.5).build()?.momentum(), 0.5);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn momentum(mut self, momentum: f64) -> Self {
        self.0.momentum = momentum;
        self
    }

    /// Whether the layer has `scale` and `bias` (default `true`).
    ///
    /// ```
    /// use lux_core::Layer;
    /// assert_eq!(lux_layers::BatchNorm::builder(3).affine(false).build()?.param_count(), 0);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn affine(mut self, affine: bool) -> Self {
        self.0.affine = affine;
        self
    }

    /// Whether running statistics are kept and used in test mode (default
    /// `true`).
    ///
    /// ```
    /// use lux_core::Layer;
    /// assert_eq!(lux_layers::BatchNorm::builder(3).track_stats(false).build()?.state_count(), 1);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn track_stats(mut self, track_stats: bool) -> Self {
        self.0.track_stats = track_stats;
        self
    }

    /// The initialiser of `bias` (default zeros).
    ///
    /// ```
    /// use lux_core::*;
    /// let l = lux_layers::BatchNorm::builder(2).init_bias(lux_layers::init::Init::ones()).build()?;
    /// let (ps, _) = setup(&mut RngState::seed_from_u64(0), &l)?;
    /// assert_eq!(ps.tensor("bias")?.to_vec::<f32>()?, vec![1.0, 1.0]);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn init_bias(mut self, init: Init) -> Self {
        self.0.init_bias = init;
        self
    }

    /// The initialiser of `scale` (default ones).
    ///
    /// ```
    /// use lux_core::*;
    /// let l = lux_layers::BatchNorm::builder(2).init_scale(lux_layers::init::Init::zeros()).build()?;
    /// let (ps, _) = setup(&mut RngState::seed_from_u64(0), &l)?;
    /// assert_eq!(ps.tensor("scale")?.to_vec::<f32>()?, vec![0.0, 0.0]);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn init_scale(mut self, init: Init) -> Self {
        self.0.init_scale = init;
        self
    }

    /// The layer.
    ///
    /// ```
    /// assert!(lux_layers::BatchNorm::builder(3).momentum(1.5).build().is_err());
    /// assert!(lux_layers::BatchNorm::builder(0).build().is_err());
    /// ```
    ///
    /// # Errors
    /// `chs == 0`; ε negative or not finite; momentum outside `[0, 1]`; an
    /// invalid activation parameter.
    pub fn build(self) -> Result<BatchNorm> {
        let l = self.0;
        check_chs(&l.describe(), l.chs)?;
        check_options(&l.describe(), l.epsilon, l.momentum, l.activation)?;
        Ok(l)
    }
}

impl BatchNorm {
    /// `BatchNorm(chs)` with Lux's defaults.
    ///
    /// ```
    /// assert_eq!(lux_layers::BatchNorm::new(16)?.chs(), 16);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// `chs == 0`.
    pub fn new(chs: usize) -> Result<BatchNorm> {
        Self::builder(chs).build()
    }

    /// The options of `BatchNorm(chs)`.
    ///
    /// ```
    /// use lux_core::Layer;
    /// let l = lux_layers::BatchNorm::builder(4).affine(false).track_stats(false).build()?;
    /// assert_eq!(l.describe(), "BatchNorm(4, affine=false, track_stats=false)");
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn builder(chs: usize) -> BatchNormBuilder {
        BatchNormBuilder(BatchNorm {
            chs,
            activation: Activation::Identity,
            epsilon: DEFAULT_EPSILON,
            momentum: DEFAULT_MOMENTUM,
            affine: true,
            track_stats: true,
            init_bias: Init::zeros(),
            init_scale: Init::ones(),
        })
    }

    /// The number of channels.
    ///
    /// ```
    /// assert_eq!(lux_layers::BatchNorm::new(3)?.chs(), 3);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn chs(&self) -> usize {
        self.chs
    }

    /// ε.
    ///
    /// ```
    /// assert_eq!(lux_layers::BatchNorm::new(3)?.epsilon(), 1e-5);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn epsilon(&self) -> f64 {
        self.epsilon
    }

    /// The momentum of the running statistics.
    ///
    /// ```
    /// assert_eq!(lux_layers::BatchNorm::new(3)?.momentum(), 0.1);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn momentum(&self) -> f64 {
        self.momentum
    }

    fn options(&self, training: bool) -> NormOptions {
        NormOptions::new().epsilon(self.epsilon).momentum(self.momentum).training(training)
    }
}

impl Layer for BatchNorm {
    fn init_params(&self, rng: &mut dyn Rng) -> Result<Tree> {
        if self.affine { init_scale_bias(rng, self.chs, &self.init_scale, &self.init_bias) } else { Ok(Tree::new()) }
    }

    fn init_state(&self, _rng: &mut dyn Rng) -> Result<Tree> {
        init_running(self.chs, self.track_stats)
    }

    fn param_shapes(&self) -> Option<Vec<Vec<usize>>> {
        Some(if self.affine { vec![vec![self.chs]; 2] } else { vec![] })
    }

    fn state_shapes(&self) -> Option<Vec<Vec<usize>>> {
        Some(if self.track_stats { vec![vec![self.chs], vec![self.chs], vec![]] } else { vec![vec![]] })
    }

    fn forward(&self, x: &Tree, ps: &Tree, st: &Tree) -> Result<(Tree, Tree)> {
        let describe = || self.describe();
        let x = float_input(x, describe)?;
        check_channels(x, self.chs, 2, describe)?;
        let training = st.get("training")?.as_bool()?;
        if training && x.shape()[0] == 1 {
            return Err(LuxError::shape(
                &describe(),
                format!(
                    "the batch size cannot be 1 in training mode (input shape {:?}); use test_mode for single samples",
                    x.shape()
                ),
            ));
        }
        let (scale, bias) = affine_params(ps, self.affine)?;
        let x = in_param_dtype(x, scale)?;
        let running = if self.track_stats { Some(running_from(st)?) } else { None };
        let (y, running) =
            batch_norm(&x, scale, bias, running, &self.options(training)).map_err(|e| in_layer(e, describe))?;
        let y = self.activation.apply(&y)?;
        let st = match running {
            Some(r) => running_state(r, training),
            None => tree! { training: training },
        };
        Ok((y.into(), st))
    }

    fn describe(&self) -> String {
        format!(
            "BatchNorm({}{}, affine={}, track_stats={})",
            self.chs,
            act_suffix(self.activation),
            self.affine,
            self.track_stats
        )
    }
}

// ----- GroupNorm -------------------------------------------------------------------

/// Group normalisation (Lux's `GroupNorm(chs, groups, activation;
/// epsilon=1f-5, affine=true, init_bias=zeros32, init_scale=ones32)`, Wu &
/// He 2018): the `chs` channels are split into `groups` consecutive groups,
/// and each sample's group is normalised over its channels and the spatial
/// axes; the same in training and test mode.
///
/// * Parameters (`affine`): `scale` (ones), `bias` (zeros), `[chs]`.
///   State: none (as Lux: `# plus 0 states`).
/// * Input: `[N, chs, …]` (at least 2 axes); output: the same shape.
///
/// ```
/// use lux_core::*;
/// use lux_layers::*;
/// let layer = GroupNorm::new(4, 2)?;
/// assert_eq!(layer.describe(), "GroupNorm(4, 2, affine=true)");
/// let (ps, st) = setup(&mut RngState::seed_from_u64(0), &layer)?;
/// // one sample, channels {1, 3} and {5, 9}, length 1
/// let x = Tensor::from_vec(vec![1.0f32, 3.0, 5.0, 9.0], &[1, 4, 1])?;
/// let (y, _) = apply_tensor(&layer, &x, &ps, &st)?;
/// let want = [-1.0, 1.0, -1.0, 1.0];
/// assert!(y.to_vec::<f32>()?.iter().zip(want).all(|(a, b)| (a - b).abs() < 1e-4));
/// assert!(GroupNorm::new(5, 2).is_err()); // 2 does not divide 5
/// # Ok::<(), lux_core::LuxError>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct GroupNorm {
    chs: usize,
    groups: usize,
    activation: Activation,
    epsilon: f64,
    affine: bool,
    init_bias: Init,
    init_scale: Init,
}

/// The options of a [`GroupNorm`] (from [`GroupNorm::builder`]).
#[derive(Clone, Debug, PartialEq)]
pub struct GroupNormBuilder(GroupNorm);

impl GroupNormBuilder {
    /// The activation applied after normalising (default identity).
    ///
    /// ```
    /// use lux_core::Layer;
    /// let l = lux_layers::GroupNorm::builder(4, 2).activation(lux_ops::Activation::Sigmoid).build()?;
    /// assert_eq!(l.describe(), "GroupNorm(4, 2, σ, affine=true)");
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn activation(mut self, activation: Activation) -> Self {
        self.0.activation = activation;
        self
    }

    /// ε, added to the variance (default 1e-5).
    ///
    /// ```
    /// assert_eq!(lux_layers::GroupNorm::builder(4, 2).epsilon(0.0).build()?.epsilon(), 0.0);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn epsilon(mut self, epsilon: f64) -> Self {
        self.0.epsilon = epsilon;
        self
    }

    /// Whether the layer has `scale` and `bias` (default `true`).
    ///
    /// ```
    /// use lux_core::Layer;
    /// assert_eq!(lux_layers::GroupNorm::builder(4, 2).affine(false).build()?.param_count(), 0);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn affine(mut self, affine: bool) -> Self {
        self.0.affine = affine;
        self
    }

    /// The initialiser of `bias` (default zeros).
    ///
    /// ```
    /// use lux_core::*;
    /// let l = lux_layers::GroupNorm::builder(2, 1).init_bias(lux_layers::init::Init::ones()).build()?;
    /// let (ps, _) = setup(&mut RngState::seed_from_u64(0), &l)?;
    /// assert_eq!(ps.tensor("bias")?.to_vec::<f32>()?, vec![1.0, 1.0]);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn init_bias(mut self, init: Init) -> Self {
        self.0.init_bias = init;
        self
    }

    /// The initialiser of `scale` (default ones).
    ///
    /// ```
    /// use lux_core::*;
    /// let l = lux_layers::GroupNorm::builder(2, 1).init_scale(lux_layers::init::Init::zeros()).build()?;
    /// let (ps, _) = setup(&mut RngState::seed_from_u64(0), &l)?;
    /// assert_eq!(ps.tensor("scale")?.to_vec::<f32>()?, vec![0.0, 0.0]);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn init_scale(mut self, init: Init) -> Self {
        self.0.init_scale = init;
        self
    }

    /// The layer.
    ///
    /// ```
    /// let err = lux_layers::GroupNorm::builder(5, 2).build().unwrap_err();
    /// assert_eq!(
    ///     err.to_string(),
    ///     "GroupNorm(5, 2, affine=true): invalid argument: the number of groups (2) must divide the number of channels (5)"
    /// );
    /// ```
    ///
    /// # Errors
    /// `chs == 0`; `groups` zero or not dividing `chs`; ε negative or not
    /// finite; an invalid activation parameter.
    pub fn build(self) -> Result<GroupNorm> {
        let l = self.0;
        check_chs(&l.describe(), l.chs)?;
        if l.groups == 0 || l.chs % l.groups != 0 {
            return Err(LuxError::invalid_argument(
                &l.describe(),
                format!("the number of groups ({}) must divide the number of channels ({})", l.groups, l.chs),
            ));
        }
        check_options(&l.describe(), l.epsilon, 0.0, l.activation)?;
        Ok(l)
    }
}

impl GroupNorm {
    /// `GroupNorm(chs, groups)` with Lux's defaults.
    ///
    /// ```
    /// let l = lux_layers::GroupNorm::new(6, 3)?;
    /// assert_eq!((l.chs(), l.groups()), (6, 3));
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// `chs == 0`, or `groups` zero or not dividing `chs` (Lux's assertion).
    pub fn new(chs: usize, groups: usize) -> Result<GroupNorm> {
        Self::builder(chs, groups).build()
    }

    /// The options of `GroupNorm(chs, groups)`.
    ///
    /// ```
    /// use lux_core::Layer;
    /// assert_eq!(lux_layers::GroupNorm::builder(4, 4).affine(false).build()?.describe(), "GroupNorm(4, 4, affine=false)");
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn builder(chs: usize, groups: usize) -> GroupNormBuilder {
        GroupNormBuilder(GroupNorm {
            chs,
            groups,
            activation: Activation::Identity,
            epsilon: DEFAULT_EPSILON,
            affine: true,
            init_bias: Init::zeros(),
            init_scale: Init::ones(),
        })
    }

    /// The number of channels.
    ///
    /// ```
    /// assert_eq!(lux_layers::GroupNorm::new(4, 2)?.chs(), 4);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn chs(&self) -> usize {
        self.chs
    }

    /// The number of groups.
    ///
    /// ```
    /// assert_eq!(lux_layers::GroupNorm::new(4, 2)?.groups(), 2);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn groups(&self) -> usize {
        self.groups
    }

    /// ε.
    ///
    /// ```
    /// assert_eq!(lux_layers::GroupNorm::new(4, 2)?.epsilon(), 1e-5);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn epsilon(&self) -> f64 {
        self.epsilon
    }
}

impl Layer for GroupNorm {
    fn init_params(&self, rng: &mut dyn Rng) -> Result<Tree> {
        if self.affine { init_scale_bias(rng, self.chs, &self.init_scale, &self.init_bias) } else { Ok(Tree::new()) }
    }

    fn param_shapes(&self) -> Option<Vec<Vec<usize>>> {
        Some(if self.affine { vec![vec![self.chs]; 2] } else { vec![] })
    }

    fn state_shapes(&self) -> Option<Vec<Vec<usize>>> {
        Some(vec![])
    }

    fn forward(&self, x: &Tree, ps: &Tree, st: &Tree) -> Result<(Tree, Tree)> {
        let describe = || self.describe();
        let x = float_input(x, describe)?;
        check_channels(x, self.chs, 2, describe)?;
        let (scale, bias) = affine_params(ps, self.affine)?;
        let x = in_param_dtype(x, scale)?;
        let y = group_norm(&x, scale, bias, self.groups, &NormOptions::new().epsilon(self.epsilon))
            .map_err(|e| in_layer(e, describe))?;
        Ok((self.activation.apply(&y)?.into(), st.clone()))
    }

    fn describe(&self) -> String {
        format!("GroupNorm({}, {}{}, affine={})", self.chs, self.groups, act_suffix(self.activation), self.affine)
    }
}

// ----- InstanceNorm ----------------------------------------------------------------

/// Instance normalisation (Lux's `InstanceNorm(chs, activation;
/// epsilon=1f-5, momentum=0.1, affine=false, track_stats=false,
/// init_bias=zeros32, init_scale=ones32)`, Ulyanov et al. 2016): every
/// sample's channel is normalised over its spatial axes 2, 3, ….
///
/// With `track_stats`, training also updates running statistics (the
/// instance statistics averaged over the batch, unbiased variance, with
/// `momentum`), which test mode then uses; without, the instance statistics
/// are used in both modes.
///
/// * Parameters (`affine`, off by default): `scale` (ones), `bias` (zeros),
///   `[chs]`. State: `running_mean`, `running_var` `[chs]` (with
///   `track_stats`) and `training`.
/// * Input: `[N, chs, spatial…]` (at least 3 axes, as Lux); output: the
///   same shape.
///
/// ```
/// use lux_core::*;
/// use lux_layers::*;
/// let layer = InstanceNorm::new(2)?;
/// assert_eq!(layer.describe(), "InstanceNorm(2, affine=false, track_stats=false)");
/// assert_eq!((layer.param_count(), layer.state_count()), (0, 1));
/// let (ps, st) = setup(&mut RngState::seed_from_u64(0), &layer)?;
/// let x = Tensor::from_vec(vec![1.0f64, 3.0, 10.0, 30.0], &[1, 2, 2])?;
/// let (y, _) = apply_tensor(&layer, &x, &ps, &st)?;
/// let want = [-1.0, 1.0, -1.0, 1.0];
/// assert!(y.to_vec::<f64>()?.iter().zip(want).all(|(a, b)| (a - b).abs() < 1e-4));
/// # Ok::<(), lux_core::LuxError>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct InstanceNorm {
    chs: usize,
    activation: Activation,
    epsilon: f64,
    momentum: f64,
    affine: bool,
    track_stats: bool,
    init_bias: Init,
    init_scale: Init,
}

/// The options of an [`InstanceNorm`] (from [`InstanceNorm::builder`]).
#[derive(Clone, Debug, PartialEq)]
pub struct InstanceNormBuilder(InstanceNorm);

impl InstanceNormBuilder {
    /// The activation applied after normalising (default identity).
    ///
    /// ```
    /// use lux_core::Layer;
    /// let l = lux_layers::InstanceNorm::builder(3).activation(lux_ops::Activation::Tanh).affine(true).build()?;
    /// assert_eq!(l.describe(), "InstanceNorm(3, tanh, affine=true, track_stats=false)");
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn activation(mut self, activation: Activation) -> Self {
        self.0.activation = activation;
        self
    }

    /// ε, added to the variance (default 1e-5).
    ///
    /// ```
    /// assert_eq!(lux_layers::InstanceNorm::builder(3).epsilon(1e-3).build()?.epsilon(), 1e-3);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn epsilon(mut self, epsilon: f64) -> Self {
        self.0.epsilon = epsilon;
        self
    }

    /// The momentum of the running statistics (default 0.1).
    ///
    /// ```
    /// assert_eq!(lux_layers::InstanceNorm::builder(3).momentum(0.2).build()?.momentum(), 0.2);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn momentum(mut self, momentum: f64) -> Self {
        self.0.momentum = momentum;
        self
    }

    /// Whether the layer has `scale` and `bias` (default `false`).
    ///
    /// ```
    /// use lux_core::Layer;
    /// assert_eq!(lux_layers::InstanceNorm::builder(3).affine(true).build()?.param_count(), 6);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn affine(mut self, affine: bool) -> Self {
        self.0.affine = affine;
        self
    }

    /// Whether running statistics are kept and used in test mode (default
    /// `false`).
    ///
    /// ```
    /// use lux_core::Layer;
    /// assert_eq!(lux_layers::InstanceNorm::builder(3).track_stats(true).build()?.state_count(), 7);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn track_stats(mut self, track_stats: bool) -> Self {
        self.0.track_stats = track_stats;
        self
    }

    /// The initialiser of `bias` (default zeros).
    ///
    /// ```
    /// use lux_core::*;
    /// let l = lux_layers::InstanceNorm::builder(2).affine(true).init_bias(lux_layers::init::Init::ones()).build()?;
    /// let (ps, _) = setup(&mut RngState::seed_from_u64(0), &l)?;
    /// assert_eq!(ps.tensor("bias")?.to_vec::<f32>()?, vec![1.0, 1.0]);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn init_bias(mut self, init: Init) -> Self {
        self.0.init_bias = init;
        self
    }

    /// The initialiser of `scale` (default ones).
    ///
    /// ```
    /// use lux_core::*;
    /// let l = lux_layers::InstanceNorm::builder(2).affine(true).init_scale(lux_layers::init::Init::zeros()).build()?;
    /// let (ps, _) = setup(&mut RngState::seed_from_u64(0), &l)?;
    /// assert_eq!(ps.tensor("scale")?.to_vec::<f32>()?, vec![0.0, 0.0]);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn init_scale(mut self, init: Init) -> Self {
        self.0.init_scale = init;
        self
    }

    /// The layer.
    ///
    /// ```
    /// assert!(lux_layers::InstanceNorm::builder(3).epsilon(-1.0).build().is_err());
    /// ```
    ///
    /// # Errors
    /// `chs == 0`; ε negative or not finite; momentum outside `[0, 1]`; an
    /// invalid activation parameter.
    pub fn build(self) -> Result<InstanceNorm> {
        let l = self.0;
        check_chs(&l.describe(), l.chs)?;
        check_options(&l.describe(), l.epsilon, l.momentum, l.activation)?;
        Ok(l)
    }
}

impl InstanceNorm {
    /// `InstanceNorm(chs)` with Lux's defaults (no affine parameters, no
    /// running statistics).
    ///
    /// ```
    /// assert_eq!(lux_layers::InstanceNorm::new(3)?.chs(), 3);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// `chs == 0`.
    pub fn new(chs: usize) -> Result<InstanceNorm> {
        Self::builder(chs).build()
    }

    /// The options of `InstanceNorm(chs)`.
    ///
    /// ```
    /// use lux_core::Layer;
    /// let l = lux_layers::InstanceNorm::builder(3).affine(true).track_stats(true).build()?;
    /// assert_eq!(l.describe(), "InstanceNorm(3, affine=true, track_stats=true)");
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn builder(chs: usize) -> InstanceNormBuilder {
        InstanceNormBuilder(InstanceNorm {
            chs,
            activation: Activation::Identity,
            epsilon: DEFAULT_EPSILON,
            momentum: DEFAULT_MOMENTUM,
            affine: false,
            track_stats: false,
            init_bias: Init::zeros(),
            init_scale: Init::ones(),
        })
    }

    /// The number of channels.
    ///
    /// ```
    /// assert_eq!(lux_layers::InstanceNorm::new(5)?.chs(), 5);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn chs(&self) -> usize {
        self.chs
    }

    /// ε.
    ///
    /// ```
    /// assert_eq!(lux_layers::InstanceNorm::new(5)?.epsilon(), 1e-5);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn epsilon(&self) -> f64 {
        self.epsilon
    }

    /// The momentum of the running statistics.
    ///
    /// ```
    /// assert_eq!(lux_layers::InstanceNorm::new(5)?.momentum(), 0.1);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn momentum(&self) -> f64 {
        self.momentum
    }
}

impl Layer for InstanceNorm {
    fn init_params(&self, rng: &mut dyn Rng) -> Result<Tree> {
        if self.affine { init_scale_bias(rng, self.chs, &self.init_scale, &self.init_bias) } else { Ok(Tree::new()) }
    }

    fn init_state(&self, _rng: &mut dyn Rng) -> Result<Tree> {
        init_running(self.chs, self.track_stats)
    }

    fn param_shapes(&self) -> Option<Vec<Vec<usize>>> {
        Some(if self.affine { vec![vec![self.chs]; 2] } else { vec![] })
    }

    fn state_shapes(&self) -> Option<Vec<Vec<usize>>> {
        Some(if self.track_stats { vec![vec![self.chs], vec![self.chs], vec![]] } else { vec![vec![]] })
    }

    fn forward(&self, x: &Tree, ps: &Tree, st: &Tree) -> Result<(Tree, Tree)> {
        let describe = || self.describe();
        let x = float_input(x, describe)?;
        check_channels(x, self.chs, 3, describe)?;
        let training = st.get("training")?.as_bool()?;
        let (scale, bias) = affine_params(ps, self.affine)?;
        let x = in_param_dtype(x, scale)?;
        let running = if self.track_stats { Some(running_from(st)?) } else { None };
        let opts = NormOptions::new().epsilon(self.epsilon).momentum(self.momentum).training(training);
        let (y, running) =
            instance_norm_with_stats(&x, scale, bias, running, &opts).map_err(|e| in_layer(e, describe))?;
        let y = self.activation.apply(&y)?;
        let st = match running {
            Some(r) => running_state(r, training),
            None => tree! { training: training },
        };
        Ok((y.into(), st))
    }

    fn describe(&self) -> String {
        format!(
            "InstanceNorm({}{}, affine={}, track_stats={})",
            self.chs,
            act_suffix(self.activation),
            self.affine,
            self.track_stats
        )
    }
}

// ----- LayerNorm -------------------------------------------------------------------

/// Layer normalisation (Lux's `LayerNorm(shape, activation; epsilon=1f-5,
/// dims=Colon(), affine=true, init_bias=zeros32, init_scale=ones32)`, Ba et
/// al. 2016): the mean and variance over the axes `dims`, separately for
/// every position along the other axes, then `act(x̂·scale + bias)`.
///
/// **The default `dims` is Lux's `Colon()`: every axis, the batch axis
/// included**, i.e. one mean and variance for the whole input (Lux's
/// documented behaviour, kept). For the usual per-sample layer norm pass the
/// feature axes, e.g. `dims(vec![-1])` for `[batch, features]` or
/// `dims(vec![1, 2, 3])` for NCHW.
///
/// * `shape`: the shape of the parameters, which broadcast against the
///   input's trailing axes (NumPy rules), e.g. `[C, H, W]`, `[1, C, 1]` or
///   `[features]` (Lux's `(shape..., 1)` in Julia's order).
/// * Parameters (`affine`): `bias` (zeros) and `scale` (ones) of `shape`, in
///   Lux's order. State: none.
/// * Input: any float tensor whose trailing axes `shape` broadcasts to;
///   output: the same shape.
///
/// ```
/// use lux_core::*;
/// use lux_layers::*;
/// let layer = LayerNorm::builder(&[2]).dims(vec![-1]).epsilon(0.0).build()?;
/// assert_eq!(layer.describe(), "LayerNorm((2,), affine=true, dims=-1)");
/// let (ps, st) = setup(&mut RngState::seed_from_u64(0), &layer)?;
/// let x = Tensor::from_vec(vec![1.0f32, 3.0, 10.0, 20.0], &[2, 2])?;
/// let (y, _) = apply_tensor(&layer, &x, &ps, &st)?;
/// assert_eq!(y.to_vec::<f32>()?, vec![-1.0, 1.0, -1.0, 1.0]); // per row
/// // the default normalises the whole array
/// let all = LayerNorm::new(&[2])?;
/// assert_eq!(all.describe(), "LayerNorm((2,), affine=true, dims=Colon())");
/// let (y, _) = apply_tensor(&all, &x, &ps, &st)?;
/// assert!(y.to_vec::<f32>()?.iter().sum::<f32>().abs() < 1e-5);
/// # Ok::<(), lux_core::LuxError>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct LayerNorm {
    shape: Vec<usize>,
    activation: Activation,
    epsilon: f64,
    dims: Option<Vec<isize>>,
    affine: bool,
    init_bias: Init,
    init_scale: Init,
}

/// The options of a [`LayerNorm`] (from [`LayerNorm::builder`]).
#[derive(Clone, Debug, PartialEq)]
pub struct LayerNormBuilder(LayerNorm);

impl LayerNormBuilder {
    /// The activation applied after normalising (default identity).
    ///
    /// ```
    /// use lux_core::Layer;
    /// let l = lux_layers::LayerNorm::builder(&[3, 4]).activation(lux_ops::Activation::Sigmoid).build()?;
    /// assert_eq!(l.describe(), "LayerNorm((3, 4), σ, affine=true, dims=Colon())");
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn activation(mut self, activation: Activation) -> Self {
        self.0.activation = activation;
        self
    }

    /// ε, added to the variance (default 1e-5).
    ///
    /// ```
    /// assert_eq!(lux_layers::LayerNorm::builder(&[3]).epsilon(1e-6).build()?.epsilon(), 1e-6);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn epsilon(mut self, epsilon: f64) -> Self {
        self.0.epsilon = epsilon;
        self
    }

    /// The axes to take the statistics over (signed, `-1` = last).
    /// Default: every axis (Lux's `dims=Colon()`).
    ///
    /// ```
    /// use lux_core::Layer;
    /// let l = lux_layers::LayerNorm::builder(&[3, 8, 8]).dims(vec![1, 2, 3]).build()?;
    /// assert_eq!(l.describe(), "LayerNorm((3, 8, 8), affine=true, dims=(1, 2, 3))");
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn dims(mut self, dims: Vec<isize>) -> Self {
        self.0.dims = Some(dims);
        self
    }

    /// Whether the layer has `bias` and `scale` (default `true`).
    ///
    /// ```
    /// use lux_core::Layer;
    /// assert_eq!(lux_layers::LayerNorm::builder(&[3]).affine(false).build()?.param_count(), 0);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn affine(mut self, affine: bool) -> Self {
        self.0.affine = affine;
        self
    }

    /// The initialiser of `bias` (default zeros).
    ///
    /// ```
    /// use lux_core::*;
    /// let l = lux_layers::LayerNorm::builder(&[2]).init_bias(lux_layers::init::Init::ones()).build()?;
    /// let (ps, _) = setup(&mut RngState::seed_from_u64(0), &l)?;
    /// assert_eq!(ps.tensor("bias")?.to_vec::<f32>()?, vec![1.0, 1.0]);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn init_bias(mut self, init: Init) -> Self {
        self.0.init_bias = init;
        self
    }

    /// The initialiser of `scale` (default ones).
    ///
    /// ```
    /// use lux_core::*;
    /// let l = lux_layers::LayerNorm::builder(&[2]).init_scale(lux_layers::init::Init::zeros()).build()?;
    /// let (ps, _) = setup(&mut RngState::seed_from_u64(0), &l)?;
    /// assert_eq!(ps.tensor("scale")?.to_vec::<f32>()?, vec![0.0, 0.0]);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn init_scale(mut self, init: Init) -> Self {
        self.0.init_scale = init;
        self
    }

    /// The layer.
    ///
    /// ```
    /// assert!(lux_layers::LayerNorm::builder(&[3, 0]).build().is_err());
    /// assert!(lux_layers::LayerNorm::builder(&[3]).dims(vec![1, 1]).build().is_err());
    /// ```
    ///
    /// # Errors
    /// A zero in `shape`; `dims` empty or repeating an axis; ε negative or
    /// not finite; an invalid activation parameter.
    pub fn build(self) -> Result<LayerNorm> {
        let l = self.0;
        if l.shape.contains(&0) {
            return Err(LuxError::invalid_argument(
                &l.describe(),
                format!("the shape {:?} has an axis of size 0", l.shape),
            ));
        }
        if let Some(d) = &l.dims {
            if d.is_empty() {
                return Err(LuxError::invalid_argument(
                    &l.describe(),
                    "dims is empty (leave it unset to normalise over every axis)",
                ));
            }
            if d.iter().enumerate().any(|(i, a)| d[..i].contains(a)) {
                return Err(LuxError::invalid_argument(&l.describe(), format!("dims {d:?} repeats an axis")));
            }
        }
        check_options(&l.describe(), l.epsilon, 0.0, l.activation)?;
        Ok(l)
    }
}

impl LayerNorm {
    /// `LayerNorm(shape)` with Lux's defaults (statistics over every axis).
    ///
    /// ```
    /// use lux_core::Layer;
    /// let l = lux_layers::LayerNorm::new(&[3, 3, 3])?;
    /// assert_eq!(l.shape(), &[3, 3, 3]);
    /// assert_eq!(l.param_count(), 54);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// A zero in `shape`.
    pub fn new(shape: &[usize]) -> Result<LayerNorm> {
        Self::builder(shape).build()
    }

    /// The options of `LayerNorm(shape)`.
    ///
    /// ```
    /// use lux_core::Layer;
    /// let l = lux_layers::LayerNorm::builder(&[4]).affine(false).build()?;
    /// assert_eq!(l.describe(), "LayerNorm((4,), affine=false, dims=Colon())");
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn builder(shape: &[usize]) -> LayerNormBuilder {
        LayerNormBuilder(LayerNorm {
            shape: shape.to_vec(),
            activation: Activation::Identity,
            epsilon: DEFAULT_EPSILON,
            dims: None,
            affine: true,
            init_bias: Init::zeros(),
            init_scale: Init::ones(),
        })
    }

    /// The shape of the parameters.
    ///
    /// ```
    /// assert_eq!(lux_layers::LayerNorm::new(&[1, 3, 1])?.shape(), &[1, 3, 1]);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// The axes the statistics are taken over (`None`: every axis).
    ///
    /// ```
    /// assert_eq!(lux_layers::LayerNorm::new(&[3])?.dims(), None);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn dims(&self) -> Option<&[isize]> {
        self.dims.as_deref()
    }

    /// ε.
    ///
    /// ```
    /// assert_eq!(lux_layers::LayerNorm::new(&[3])?.epsilon(), 1e-5);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn epsilon(&self) -> f64 {
        self.epsilon
    }

    /// `shape` broadcasts to the trailing axes of `x`.
    fn check_input(&self, x: &Tensor) -> Result<()> {
        let xs = x.shape();
        let fits = xs.len() >= self.shape.len()
            && self.shape.iter().zip(&xs[xs.len() - self.shape.len()..]).all(|(&s, &d)| s == 1 || s == d);
        if fits {
            return Ok(());
        }
        Err(LuxError::shape(
            &self.describe(),
            format!(
                "input of shape {xs:?} does not fit the parameter shape {:?} (its trailing axes must equal it, \
                 or be broadcast from its 1s)",
                self.shape
            ),
        ))
    }
}

impl Layer for LayerNorm {
    fn init_params(&self, rng: &mut dyn Rng) -> Result<Tree> {
        if !self.affine {
            return Ok(Tree::new());
        }
        let bias = self.init_bias.init(rng, &self.shape, DType::F32)?;
        Ok(tree! { bias: bias, scale: self.init_scale.init(rng, &self.shape, DType::F32)? })
    }

    fn param_shapes(&self) -> Option<Vec<Vec<usize>>> {
        Some(if self.affine { vec![self.shape.clone(); 2] } else { vec![] })
    }

    fn state_shapes(&self) -> Option<Vec<Vec<usize>>> {
        Some(vec![])
    }

    fn forward(&self, x: &Tree, ps: &Tree, st: &Tree) -> Result<(Tree, Tree)> {
        let describe = || self.describe();
        let x = float_input(x, describe)?;
        let (scale, bias) = affine_params(ps, self.affine)?;
        if self.affine {
            self.check_input(x)?;
        }
        let x = in_param_dtype(x, scale)?;
        let opts = NormOptions::new().epsilon(self.epsilon);
        let y = match &self.dims {
            Some(d) => layer_norm(&x, scale, bias, d, &opts),
            None => layer_norm(&x, scale, bias, &(0..x.ndim() as isize).collect::<Vec<_>>(), &opts),
        }
        .map_err(|e| in_layer(e, describe))?;
        Ok((self.activation.apply(&y)?.into(), st.clone()))
    }

    fn describe(&self) -> String {
        let dims = match &self.dims {
            None => "Colon()".to_string(),
            Some(d) => julia_dims(d),
        };
        format!(
            "LayerNorm({}{}, affine={}, dims={dims})",
            julia_tuple(&self.shape),
            act_suffix(self.activation),
            self.affine
        )
    }
}

// ----- WeightNorm ------------------------------------------------------------------

/// Weight normalisation (Lux's `WeightNorm(layer, which_params, dims)`,
/// Salimans & Kingma 2016): the parameters `which` of the wrapped layer are
/// reparameterised as `w = g · v/(‖v‖ + eps)`, with the direction `v`
/// and the magnitude `g` trained instead of `w`.
///
/// `‖v‖` is the 2-norm over every axis of `v` but one, kept: by default
/// axis 0 (the output axis of a Dense `[out, in]` or Conv `[out, in, k…]`
/// weight, i.e. Lux's last axis of its column-major arrays), or the axis
/// given per parameter with [`with_dims`](WeightNorm::with_dims). `g` has
/// the shape of that norm (size 1 on the reduced axes, e.g. `[out, 1]`) and
/// starts as `‖w‖`, `v` as `w`, so the wrapped layer starts with its own
/// parameters. `eps` is the machine epsilon of `v`'s dtype (as Lux).
///
/// * Parameters: `normalized` (`{name}_g`, `{name}_v` for each normalised
///   parameter, in the wrapped layer's order) and `unnormalized` (the
///   wrapped layer's other parameters). State: the wrapped layer's.
/// * Input and output: the wrapped layer's.
///
/// Setup is an `Err` if a normalised parameter is all zeros (its gradients
/// would be NaN), as in Lux (e.g. a zero-initialised bias).
///
/// ```
/// use lux_core::*;
/// use lux_layers::*;
///
/// /// y = x·Wᵀ with W = [[3, 4]].
/// struct Linear;
/// impl Layer for Linear {
///     fn init_params(&self, _: &mut dyn rand::Rng) -> Result<Tree> {
///         Ok(tree! { weight: Tensor::from_vec(vec![3.0f64, 4.0], &[1, 2])? })
///     }
///     fn forward(&self, x: &Tree, ps: &Tree, st: &Tree) -> Result<(Tree, Tree)> {
///         let w = ps.tensor("weight")?;
///         Ok((x.as_tensor()?.matmul(&w.transpose(0, 1)?)?.into(), st.clone()))
///     }
///     fn describe(&self) -> String { "Linear".into() }
/// }
///
/// let wn = WeightNorm::new(Linear, &["weight"])?;
/// assert_eq!(wn.describe(), "WeightNorm(Linear, dims = nothing, normalized_parameters = (:weight,))");
/// let (ps, st) = setup(&mut RngState::seed_from_u64(0), &wn)?;
/// assert_eq!(ps.tensor("normalized.weight_g")?.to_vec::<f64>()?, vec![5.0]); // ‖[3, 4]‖
/// assert_eq!(ps.tensor("normalized.weight_v")?.to_vec::<f64>()?, vec![3.0, 4.0]);
/// // doubling g doubles the weight
/// let mut ps2 = ps.clone();
/// *ps2.tensor_mut("normalized.weight_g")? = Tensor::from_vec(vec![10.0f64], &[1, 1])?;
/// let x = Tensor::from_vec(vec![1.0f64, 1.0], &[1, 2])?;
/// let (y, _) = apply_tensor(&wn, &x, &ps2, &st)?;
/// assert!((y.to_vec::<f64>()?[0] - 14.0).abs() < 1e-9);
/// # Ok::<(), lux_core::LuxError>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct WeightNorm<L> {
    layer: L,
    which: Vec<String>,
    g_keys: Vec<String>,
    v_keys: Vec<String>,
    dims: Option<Vec<isize>>,
}

impl<L: Layer> WeightNorm<L> {
    /// Normalises the parameters `which` of `layer`, each with its norm
    /// over every axis but axis 0.
    ///
    /// ```
    /// let inner = lux_layers::LayerNorm::new(&[2])?;
    /// let wn = lux_layers::WeightNorm::new(inner, &["scale"])?;
    /// assert_eq!(wn.which(), &["scale".to_string()]);
    /// assert!(lux_layers::WeightNorm::new(lux_layers::LayerNorm::new(&[2])?, &[]).is_err());
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// `which` empty or naming a parameter twice. (A name the layer does
    /// not have is an `Err` at setup.)
    pub fn new(layer: L, which: &[&str]) -> Result<WeightNorm<L>> {
        Self::build(layer, which, None)
    }

    /// As [`new`](WeightNorm::new), keeping axis `dims[i]` (signed) of the
    /// `i`-th parameter of `which` out of its norm.
    ///
    /// ```
    /// use lux_core::*;
    /// let inner = lux_layers::LayerNorm::new(&[2, 3])?;
    /// let wn = lux_layers::WeightNorm::with_dims(inner, &["scale"], &[-1])?;
    /// assert_eq!(wn.describe(), "WeightNorm(LayerNorm((2, 3), affine=true, dims=Colon()), dims = (-1,), normalized_parameters = (:scale,))");
    /// let (ps, _) = setup(&mut RngState::seed_from_u64(0), &wn)?;
    /// assert_eq!(ps.tensor("normalized.scale_g")?.shape(), &[1, 3]);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// As [`new`](WeightNorm::new); `dims` not one axis per parameter.
    pub fn with_dims(layer: L, which: &[&str], dims: &[isize]) -> Result<WeightNorm<L>> {
        Self::build(layer, which, Some(dims.to_vec()))
    }

    fn build(layer: L, which: &[&str], dims: Option<Vec<isize>>) -> Result<WeightNorm<L>> {
        let wn = WeightNorm {
            layer,
            which: which.iter().map(|s| s.to_string()).collect(),
            g_keys: which.iter().map(|s| format!("{s}_g")).collect(),
            v_keys: which.iter().map(|s| format!("{s}_v")).collect(),
            dims,
        };
        if which.is_empty() {
            return Err(LuxError::invalid_argument(&wn.describe(), "no parameters to normalise"));
        }
        if which.iter().enumerate().any(|(i, w)| which[..i].contains(w)) {
            return Err(LuxError::invalid_argument(&wn.describe(), format!("{which:?} names a parameter twice")));
        }
        if let Some(d) = &wn.dims {
            if d.len() != which.len() {
                return Err(LuxError::invalid_argument(
                    &wn.describe(),
                    format!("{} dims for {} normalised parameters", d.len(), which.len()),
                ));
            }
        }
        Ok(wn)
    }

    /// The wrapped layer.
    ///
    /// ```
    /// let wn = lux_layers::WeightNorm::new(lux_layers::LayerNorm::new(&[2])?, &["scale"])?;
    /// assert_eq!(wn.layer().shape(), &[2]);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn layer(&self) -> &L {
        &self.layer
    }

    /// The names of the normalised parameters.
    ///
    /// ```
    /// let wn = lux_layers::WeightNorm::new(lux_layers::LayerNorm::new(&[2])?, &["scale", "bias"])?;
    /// assert_eq!(wn.which(), &["scale".to_string(), "bias".to_string()]);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn which(&self) -> &[String] {
        &self.which
    }

    /// The axis kept out of the norm of each parameter (`None`: axis 0 for all).
    ///
    /// ```
    /// let wn = lux_layers::WeightNorm::with_dims(lux_layers::LayerNorm::new(&[2])?, &["scale"], &[0])?;
    /// assert_eq!(wn.dims(), Some(&[0][..]));
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn dims(&self) -> Option<&[isize]> {
        self.dims.as_deref()
    }

    /// The axis of the `i`-th parameter kept out of its norm.
    fn kept_axis(&self, i: usize, v: &Tensor) -> Result<usize> {
        let axis = self.dims.as_ref().map_or(0, |d| d[i]);
        if v.ndim() == 0 {
            return Err(LuxError::shape(
                &self.describe(),
                format!("parameter `{}` is a 0-d tensor and has no axis to keep", self.which[i]),
            ));
        }
        normalize_axis(&self.describe(), axis, v.shape())
    }
}

/// The 2-norm of `v` over every axis but `keep` (kept as size 1).
fn norm_except(v: &Tensor, keep: usize) -> Result<Tensor> {
    let axes: Vec<isize> = (0..v.ndim()).filter(|&a| a != keep).map(|a| a as isize).collect();
    if axes.is_empty() { v.square()?.sqrt() } else { v.square()?.sum(&axes, true)?.sqrt() }
}

/// Julia's `eps(T)`: the machine epsilon of a float dtype.
fn machine_epsilon(dtype: DType) -> f64 {
    match dtype {
        DType::F16 => 9.765_625e-4,
        DType::BF16 => 7.812_5e-3,
        DType::F32 => f32::EPSILON as f64,
        _ => f64::EPSILON,
    }
}

impl<L: Layer> Layer for WeightNorm<L> {
    fn init_params(&self, rng: &mut dyn Rng) -> Result<Tree> {
        let inner = self.layer.init_params(rng)?;
        let entries = inner.as_map().map_err(|_| {
            LuxError::invalid_argument(&self.describe(), "the wrapped layer's parameters are not a map of names")
        })?;
        for name in &self.which {
            if !inner.contains_key(name) {
                let names: Vec<&str> = inner.keys().collect();
                return Err(LuxError::invalid_argument(
                    &self.describe(),
                    format!("the wrapped layer has no parameter `{name}` (its parameters: {names:?})"),
                ));
            }
        }
        let (mut normalized, mut unnormalized) = (Vec::new(), Vec::new());
        for (key, value) in entries {
            let Some(i) = self.which.iter().position(|w| w == key) else {
                unnormalized.push((key.clone(), value.clone()));
                continue;
            };
            let v = match value {
                Tree::Tensor(t) if t.dtype().is_float() => t,
                other => {
                    return Err(LuxError::invalid_argument(
                        &self.describe(),
                        format!("parameter `{key}` is a {}, not a float tensor", other.kind_name()),
                    ));
                }
            };
            if v.to_f64_vec().iter().all(|&e| e == 0.0) {
                return Err(LuxError::invalid_argument(
                    &self.describe(),
                    format!(
                        "parameter `{key}` is completely zero, which gives NaN gradients; remove it from the \
                         normalised parameters or initialise it otherwise (e.g. the layer's init_{key})"
                    ),
                ));
            }
            let g = norm_except(v, self.kept_axis(i, v)?)?;
            normalized.push((self.g_keys[i].clone(), Tree::Tensor(g)));
            normalized.push((self.v_keys[i].clone(), Tree::Tensor(v.clone())));
        }
        Ok(tree! { normalized: Tree::Map(normalized), unnormalized: Tree::Map(unnormalized) })
    }

    fn init_state(&self, rng: &mut dyn Rng) -> Result<Tree> {
        self.layer.init_state(rng)
    }

    fn state_count(&self) -> usize {
        self.layer.state_count()
    }

    fn state_shapes(&self) -> Option<Vec<Vec<usize>>> {
        self.layer.state_shapes()
    }

    fn preserves_state_type(&self) -> bool {
        self.layer.preserves_state_type()
    }

    fn forward(&self, x: &Tree, ps: &Tree, st: &Tree) -> Result<(Tree, Tree)> {
        let normalized = ps.get("normalized")?;
        let unnormalized = ps.get("unnormalized")?.as_map()?;
        let mut inner = Vec::with_capacity(self.which.len() + unnormalized.len());
        for (i, name) in self.which.iter().enumerate() {
            let v = normalized.tensor(&self.v_keys[i])?;
            let g = normalized.tensor(&self.g_keys[i])?;
            let norm = norm_except(v, self.kept_axis(i, v)?)?;
            if g.shape() != norm.shape() {
                return Err(LuxError::shape(
                    &self.describe(),
                    format!(
                        "normalized.{} has shape {:?}, expected {:?} for normalized.{} of shape {:?}",
                        self.g_keys[i],
                        g.shape(),
                        norm.shape(),
                        self.v_keys[i],
                        v.shape()
                    ),
                ));
            }
            let w = v.mul(&g.div(&norm.add_scalar(machine_epsilon(v.dtype()))?)?)?;
            inner.push((name.clone(), Tree::Tensor(w)));
        }
        inner.extend(unnormalized.iter().cloned());
        self.layer.forward(x, &Tree::Map(inner), st)
    }

    fn describe(&self) -> String {
        let dims = self.dims.as_deref().map_or_else(|| "nothing".to_string(), julia_tuple);
        let names: Vec<String> = self.which.iter().map(|w| format!(":{w}")).collect();
        format!("WeightNorm({}, dims = {dims}, normalized_parameters = {})", self.layer.describe(), julia_tuple(&names))
    }
}
