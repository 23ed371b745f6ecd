//! [`BatchNorm`].

use super::{
    act_suffix, affine_params, check_channels, check_chs, check_options, in_layer, in_param_dtype, init_running,
    init_scale_bias, running_from, running_state,
};
use crate::init::Init;
use crate::util::float_input;
use lux_core::{Layer, LuxError, Result, Tree, tree};
use lux_ops::Activation;
use lux_ops::norm::{DEFAULT_EPSILON, DEFAULT_MOMENTUM, NormOptions, batch_norm};
use lux_precision::match_eltype;
use rand::Rng;

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
        let x = match_eltype(self, ps, st, x)?;
        let x = float_input(&x, describe)?;
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
