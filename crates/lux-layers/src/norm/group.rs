//! [`GroupNorm`].

use super::{
    act_suffix, affine_params, check_channels, check_chs, check_options, in_layer, in_param_dtype, init_scale_bias,
};
use crate::init::Init;
use crate::util::float_input;
use lux_core::{Layer, LuxError, Result, Tree};
use lux_ops::Activation;
use lux_ops::norm::{DEFAULT_EPSILON, NormOptions, group_norm};
use lux_precision::match_eltype;
use rand::Rng;

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
        let x = match_eltype(self, ps, st, x)?;
        let x = float_input(&x, describe)?;
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
