//! [`LayerNorm`].

use super::{act_suffix, affine_params, check_options, in_layer, in_param_dtype, julia_tuple};
use crate::dropout::julia_dims;
use crate::init::Init;
use crate::util::float_input;
use lux_core::{DType, Layer, LuxError, Result, Tensor, Tree, tree};
use lux_ops::Activation;
use lux_ops::norm::{DEFAULT_EPSILON, NormOptions, layer_norm};
use lux_precision::match_eltype;
use rand::Rng;

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
        let x = match_eltype(self, ps, st, x)?;
        let x = float_input(&x, describe)?;
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
