//! [`InstanceNorm`].

use super::{
    act_suffix, affine_params, check_channels, check_chs, check_options, in_layer, in_param_dtype, init_running,
    init_scale_bias, running_from, running_state,
};
use crate::init::Init;
use crate::util::float_input;
use lux_core::{Layer, Result, Tree, tree};
use lux_ops::Activation;
use lux_ops::norm::{DEFAULT_EPSILON, DEFAULT_MOMENTUM, NormOptions, instance_norm_with_stats};
use lux_precision::match_eltype;
use rand::Rng;

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
        let x = match_eltype(self, ps, st, x)?;
        let x = float_input(&x, describe)?;
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
