//! [`Scale`]: the elementwise affine layer (Lux's `Scale`).

use super::{check_activation, check_param_keys, param, show_suffix};
use crate::init::Init;
use crate::util::float_input;
use crate::util::in_layer;
use lux_core::{DType, Layer, LuxError, Result, Tree};
use lux_ops::Activation;
use lux_precision::match_eltype;
use rand::Rng;

/// A tuple of sizes as Julia prints it: `(2,)`, `(10, 5)`.
fn julia_tuple(dims: impl Iterator<Item = usize>) -> String {
    let parts: Vec<String> = dims.map(|d| d.to_string()).collect();
    match parts.len() {
        1 => format!("({},)", parts[0]),
        _ => format!("({})", parts.join(", ")),
    }
}

/// An elementwise affine layer, `y = act(x ⊙ w + b)` (Lux's
/// `Scale(dims..., act; init_weight, init_bias, use_bias)`): a diagonal
/// [`Dense`](super::Dense), with a weight and a bias of shape `dims` broadcast against the
/// input.
///
/// * Parameters: `weight` and (unless
///   [`use_bias(false)`](ScaleBuilder::use_bias)) `bias`, both of shape
///   `dims`. State: none.
/// * Input: any float tensor that broadcasts with `dims` (NumPy rules,
///   trailing axes aligned), typically `[batch, dims...]` or `dims` itself;
///   output: the broadcast shape.
/// * Defaults (Lux 1.x): weight [`Init::glorot_uniform`], bias
///   [`Init::zeros`], f32. (Lux's docstring says `ones32` for the weight;
///   its code uses `glorot_uniform`, which is what is done here.)
///
/// **Dims are lux-rs's row-major shape**: `Scale::new(&[5, 10], ..)` has a
/// `[5, 10]` weight and takes `[batch, 5, 10]`, which is Lux's
/// `Scale(10, 5)` on `(10, 5, batch)` arrays. [`describe`](Layer::describe)
/// prints the Lux layer, with the dims in Lux's order: `Scale((10, 5))`.
///
/// ```
/// use lux_core::*;
/// use lux_layers::{init::Init, Scale};
/// use lux_ops::Activation;
/// let layer = Scale::builder(&[2]).init_weight(Init::ones()).init_bias(Init::ones()).build()?;
/// assert_eq!(layer.describe(), "Scale((2,))");
/// let (ps, st) = setup(&mut RngState::seed_from_u64(0), &layer)?;
/// let x = Tensor::from_vec(vec![1.0f32, 3.0, 2.0, 4.0], &[2, 2])?;
/// let (y, _) = apply_tensor(&layer, &x, &ps, &st)?;
/// assert_eq!(y.to_vec::<f32>()?, vec![2.0, 4.0, 3.0, 5.0]); // x·1 + 1
/// assert_eq!(Scale::new(&[5, 10], Activation::Relu)?.describe(), "Scale((10, 5), relu)");
/// # Ok::<(), lux_core::LuxError>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Scale {
    dims: Vec<usize>,
    activation: Activation,
    use_bias: bool,
    init_weight: Init,
    init_bias: Init,
    dtype: DType,
}

/// The options of a [`Scale`] (from [`Scale::builder`]).
#[derive(Clone, Debug, PartialEq)]
pub struct ScaleBuilder {
    layer: Scale,
}

impl ScaleBuilder {
    /// The activation (default: identity).
    ///
    /// ```
    /// use lux_core::Layer;
    /// let s = lux_layers::Scale::builder(&[3]).activation(lux_ops::Activation::Tanh).build()?;
    /// assert_eq!(s.describe(), "Scale((3,), tanh)");
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn activation(mut self, activation: Activation) -> Self {
        self.layer.activation = activation;
        self
    }

    /// Whether the layer has a trainable bias (default `true`).
    ///
    /// ```
    /// use lux_core::Layer;
    /// let s = lux_layers::Scale::builder(&[3]).use_bias(false).build()?;
    /// assert_eq!((s.describe().as_str(), s.param_count()), ("Scale((3,), use_bias=false)", 3));
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn use_bias(mut self, use_bias: bool) -> Self {
        self.layer.use_bias = use_bias;
        self
    }

    /// The weight's initialiser, called with the shape `dims` (default
    /// [`Init::glorot_uniform`]).
    ///
    /// ```
    /// use lux_core::*;
    /// let s = lux_layers::Scale::builder(&[2]).init_weight(lux_layers::init::Init::ones()).build()?;
    /// let (ps, _) = setup(&mut RngState::seed_from_u64(0), &s)?;
    /// assert_eq!(ps.tensor("weight")?.to_vec::<f32>()?, vec![1.0, 1.0]);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn init_weight(mut self, init: Init) -> Self {
        self.layer.init_weight = init;
        self
    }

    /// The bias's initialiser, called with the shape `dims` (default
    /// [`Init::zeros`]).
    ///
    /// ```
    /// use lux_core::*;
    /// let s = lux_layers::Scale::builder(&[2]).init_bias(lux_layers::init::Init::ones()).build()?;
    /// let (ps, _) = setup(&mut RngState::seed_from_u64(0), &s)?;
    /// assert_eq!(ps.tensor("bias")?.to_vec::<f32>()?, vec![1.0, 1.0]);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn init_bias(mut self, init: Init) -> Self {
        self.layer.init_bias = init;
        self
    }

    /// The dtype of the parameters (default f32).
    ///
    /// ```
    /// use lux_core::*;
    /// let s = lux_layers::Scale::builder(&[2]).dtype(DType::F64).build()?;
    /// assert_eq!(setup(&mut RngState::seed_from_u64(0), &s)?.0.tensor("weight")?.dtype(), DType::F64);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn dtype(mut self, dtype: DType) -> Self {
        self.layer.dtype = dtype;
        self
    }

    /// The layer.
    ///
    /// ```
    /// assert!(lux_layers::Scale::builder(&[]).build().is_err());
    /// assert!(lux_layers::Scale::builder(&[3, 0]).build().is_err());
    /// ```
    ///
    /// # Errors
    /// `dims` is empty or holds a 0; the dtype is not a float dtype; the
    /// activation's parameter or an initialiser's options are invalid.
    pub fn build(self) -> Result<Scale> {
        let layer = self.layer;
        let describe = || layer.describe();
        if layer.dims.is_empty() || layer.dims.contains(&0) {
            return Err(LuxError::invalid_argument(
                &describe(),
                format!("dims must be one or more positive sizes, got {:?}", layer.dims),
            ));
        }
        if !layer.dtype.is_float() {
            return Err(LuxError::UnsupportedDType { op: describe(), dtype: layer.dtype });
        }
        check_activation(layer.activation, describe)?;
        layer.init_weight.validate().map_err(|e| in_layer(e, describe))?;
        layer.init_bias.validate().map_err(|e| in_layer(e, describe))?;
        Ok(layer)
    }
}

impl Scale {
    /// `Scale(dims..., activation)` with Lux's defaults; `dims` is the
    /// row-major shape of the weight and bias (Lux's dims reversed).
    ///
    /// ```
    /// use lux_core::Layer;
    /// let s = lux_layers::Scale::new(&[100, 10], lux_ops::Activation::Identity)?;
    /// assert_eq!(s.param_count(), 2000);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// As [`ScaleBuilder::build`].
    pub fn new(dims: &[usize], activation: Activation) -> Result<Scale> {
        Self::builder(dims).activation(activation).build()
    }

    /// The options of `Scale(dims...)`.
    ///
    /// ```
    /// let s = lux_layers::Scale::builder(&[4]).use_bias(false).build()?;
    /// assert!(!s.use_bias());
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn builder(dims: &[usize]) -> ScaleBuilder {
        ScaleBuilder {
            layer: Scale {
                dims: dims.to_vec(),
                activation: Activation::Identity,
                use_bias: true,
                init_weight: Init::glorot_uniform(),
                init_bias: Init::zeros(),
                dtype: DType::F32,
            },
        }
    }

    /// The shape of the weight and bias (row-major).
    ///
    /// ```
    /// assert_eq!(lux_layers::Scale::new(&[3, 2], Default::default())?.dims(), &[3, 2]);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn dims(&self) -> &[usize] {
        &self.dims
    }

    /// The activation.
    ///
    /// ```
    /// use lux_ops::Activation;
    /// assert_eq!(lux_layers::Scale::new(&[3], Activation::Relu)?.activation(), Activation::Relu);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn activation(&self) -> Activation {
        self.activation
    }

    /// Whether the layer has a bias.
    ///
    /// ```
    /// assert!(lux_layers::Scale::new(&[3], Default::default())?.use_bias());
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn use_bias(&self) -> bool {
        self.use_bias
    }
}

impl Layer for Scale {
    fn init_params(&self, rng: &mut dyn Rng) -> Result<Tree> {
        let weight = self.init_weight.init(rng, &self.dims, self.dtype)?;
        if !self.use_bias {
            return Ok(lux_core::tree! { weight: weight });
        }
        let bias = self.init_bias.init(rng, &self.dims, self.dtype)?;
        Ok(lux_core::tree! { weight: weight, bias: bias })
    }

    fn param_shapes(&self) -> Option<Vec<Vec<usize>>> {
        Some(vec![self.dims.clone(); 1 + usize::from(self.use_bias)])
    }

    fn state_shapes(&self) -> Option<Vec<Vec<usize>>> {
        Some(vec![])
    }

    fn forward(&self, x: &Tree, ps: &Tree, st: &Tree) -> Result<(Tree, Tree)> {
        let describe = || self.describe();
        let x = match_eltype(self, ps, st, x)?;
        let x = float_input(&x, describe)?;
        let keys: &[&str] = if self.use_bias { &["weight", "bias"] } else { &["weight"] };
        check_param_keys(ps, keys, describe)?;
        let w = param(ps, "weight", &self.dims, describe)?;
        if lux_core::broadcast_shapes(x.shape(), &self.dims).is_err() {
            return Err(LuxError::shape(
                &describe(),
                format!("input of shape {:?} does not broadcast with the parameters' shape {:?}", x.shape(), self.dims),
            ));
        }
        let mut z = x.mul(w)?;
        if self.use_bias {
            z = z.add(param(ps, "bias", &self.dims, describe)?)?;
        }
        let y = self.activation.apply(&z).map_err(|e| in_layer(e, describe))?;
        Ok((y.into(), st.clone()))
    }

    fn describe(&self) -> String {
        format!(
            "Scale({}{})",
            julia_tuple(self.dims.iter().rev().copied()),
            show_suffix(self.activation, self.use_bias)
        )
    }
}
