//! The dense family (Lux's `src/layers/basic.jl`): [`Dense`], [`Bilinear`]
//! and [`Scale`].
//!
//! Batch-first: a `Dense(in => out)` takes `[batch, in]` (or `[in]`, or
//! `[.., in]` with any leading axes; Lux's first axis is the last one
//! here) and keeps its weight as `[out, in]`, so `y = act(x·Wᵀ + b)`.
//!
//! **Dtypes.** The parameters have the dtype they were built with (f32 by
//! default, or what the `dtype` option / a custom initialiser makes). Each
//! forward starts with Lux's [`lux_precision::match_eltype`]:
//! in its default mode `none` a float input of another dtype meets the
//! parameters by promotion (f32 parameters and f64 input give f64, f16
//! parameters and f32 input give f32), as in Lux; the `convert` mode
//! converts the input to the parameters' dtype instead, `warn` warns once
//! and `error` refuses. Integer and bool inputs are an `Err`.
//!
//! **Errors.** Bad input is an `Err` whose `op` is the layer's
//! [`describe`](Layer::describe), with the shapes in the message:
//! `Dense(784 => 256): input has 783 features, expected 784 (input shape
//! [32, 783])`. So are parameters that do not belong to the layer (a
//! missing, extra or wrongly shaped `weight`/`bias`).

use crate::init::{Init, calculate_gain};
use crate::util::{float_input, in_layer};
use lux_core::{DType, Layer, LuxError, Result, Tensor, Tree};
use lux_ops::Activation;
use lux_ops::dense::dense;
use lux_precision::match_eltype;
use rand::Rng;

mod bilinear;
mod scale;

pub use bilinear::*;
pub use scale::*;

// ----- shared helpers (also used by embedding.rs) ------------------------------------

/// Checks that `ps` is a map holding exactly the keys `expected` (in any
/// order); the message names the layer and both key lists.
pub(crate) fn check_param_keys(ps: &Tree, expected: &[&str], describe: impl FnOnce() -> String) -> Result<()> {
    let fits = match ps {
        Tree::Map(entries) => {
            entries.len() == expected.len() && entries.iter().all(|(k, _)| expected.contains(&k.as_str()))
        }
        _ => false,
    };
    if fits {
        return Ok(());
    }
    let got = match ps {
        Tree::Map(entries) => format!("{:?}", entries.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>()),
        other => format!("a {}", other.kind_name()),
    };
    Err(LuxError::Structure {
        path: lux_core::ROOT.into(),
        msg: format!("{}: the parameters must hold {expected:?}, got {got}", describe()),
    })
}

/// The float parameter `key` of `ps`, checked to have `shape`.
pub(crate) fn param<'a>(ps: &'a Tree, key: &str, shape: &[usize], describe: impl Fn() -> String) -> Result<&'a Tensor> {
    let t = ps.get(key)?.as_tensor().map_err(|_| LuxError::Structure {
        path: key.into(),
        msg: format!(
            "{}: the parameter `{key}` must be a tensor, got a {}",
            describe(),
            ps.get(key).map_or("?", Tree::kind_name)
        ),
    })?;
    if t.shape() != shape {
        return Err(LuxError::shape(
            &describe(),
            format!("the parameter `{key}` has shape {:?}, expected {shape:?}", t.shape()),
        ));
    }
    if !t.dtype().is_float() {
        return Err(LuxError::DType { op: describe(), expected: format!("a float `{key}`"), got: t.dtype() });
    }
    Ok(t)
}

/// Checks an activation's parameter (e.g. `Celu(0.0)` is invalid) when the
/// layer is built rather than at its first call.
pub(crate) fn check_activation(activation: Activation, describe: impl FnOnce() -> String) -> Result<()> {
    activation.apply(&Tensor::zeros(&[0], DType::F32)?).map(|_| ()).map_err(|e| in_layer(e, describe))
}

/// Checks that a size given to a constructor is positive.
pub(crate) fn check_positive(what: &str, n: usize, describe: impl FnOnce() -> String) -> Result<()> {
    if n == 0 {
        Err(LuxError::invalid_argument(&describe(), format!("{what} must be positive, got 0")))
    } else {
        Ok(())
    }
}

/// `, act` and `, use_bias=false` as Lux's `show` appends them.
pub(crate) fn show_suffix(activation: Activation, use_bias: bool) -> String {
    let mut s = String::new();
    if activation != Activation::Identity {
        s.push_str(", ");
        s.push_str(&activation.julia_name());
    }
    if !use_bias {
        s.push_str(", use_bias=false");
    }
    s
}

/// Lux's default bias of `Dense` and `Bilinear` (PyTorch's): uniform in
/// `±1/√fan_in`.
pub(crate) fn linear_bias_init(fan_in: usize) -> Init {
    let bound = 1.0 / (fan_in as f64).sqrt();
    Init::uniform(-bound, bound)
}

// ----- Dense -------------------------------------------------------------------------

/// A fully connected layer, `y = act(x·Wᵀ + b)` (Lux's
/// `Dense(in => out, act; init_weight, init_bias, use_bias)`), computed by
/// the fused [`lux_ops::dense::dense`] kernel.
///
/// * Parameters: `weight` `[out, in]`, and `bias` `[out]` unless
///   [`use_bias(false)`](DenseBuilder::use_bias). State: none.
/// * Input: `[batch, in]`, a single sample `[in]`, or `[.., in]` with any
///   leading axes; output: the same leading axes and `out` features.
/// * Defaults (Lux 1.x, PyTorch style): weight
///   [`Init::kaiming_uniform`] with gain [`calculate_gain`]`(act)`, i.e.
///   uniform in `±gain·√(3/in)`; bias uniform in `±1/√in`; f32.
///
/// ```
/// use lux_core::*;
/// use lux_layers::*;
/// use lux_ops::Activation;
/// let layer = Dense::new(3, 2, Activation::Relu)?;
/// assert_eq!(layer.describe(), "Dense(3 => 2, relu)");
/// assert_eq!(layer.param_count(), 3 * 2 + 2);
/// let (ps, st) = setup(&mut RngState::seed_from_u64(0), &layer)?;
/// assert_eq!(ps.tensor("weight")?.shape(), &[2, 3]);
/// let x = Tensor::ones(&[4, 3], DType::F32)?; // a batch of 4
/// let (y, _) = apply_tensor(&layer, &x, &ps, &st)?;
/// assert_eq!(y.shape(), &[4, 2]);
/// assert!(y.to_vec::<f32>()?.iter().all(|&v| v >= 0.0));
/// // a wrong feature count is an error naming the layer
/// let err = apply_tensor(&layer, &Tensor::ones(&[4, 5], DType::F32)?, &ps, &st).unwrap_err();
/// assert_eq!(err.to_string(), "Dense(3 => 2, relu): input has 5 features, expected 3 (input shape [4, 5])");
/// # Ok::<(), lux_core::LuxError>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Dense {
    in_dims: usize,
    out_dims: usize,
    activation: Activation,
    use_bias: bool,
    init_weight: Option<Init>,
    init_bias: Option<Init>,
    dtype: DType,
}

/// The options of a [`Dense`] (from [`Dense::builder`]).
#[derive(Clone, Debug, PartialEq)]
pub struct DenseBuilder {
    layer: Dense,
}

impl DenseBuilder {
    /// The activation (default: identity).
    ///
    /// ```
    /// use lux_core::Layer;
    /// use lux_ops::Activation;
    /// let d = lux_layers::Dense::builder(2, 16).activation(Activation::Sigmoid).build()?;
    /// assert_eq!(d.describe(), "Dense(2 => 16, σ)");
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
    /// let d = lux_layers::Dense::builder(2, 16).use_bias(false).build()?;
    /// assert_eq!(d.describe(), "Dense(2 => 16, use_bias=false)");
    /// assert_eq!(d.param_count(), 32);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn use_bias(mut self, use_bias: bool) -> Self {
        self.layer.use_bias = use_bias;
        self
    }

    /// The weight's initialiser, called with the shape `[out, in]`
    /// (default: kaiming uniform with gain `calculate_gain(act)`).
    ///
    /// ```
    /// use lux_core::*;
    /// use lux_layers::{init::Init, Dense};
    /// let d = Dense::builder(2, 3).init_weight(Init::ones()).build()?;
    /// let (ps, _) = setup(&mut RngState::seed_from_u64(0), &d)?;
    /// assert_eq!(ps.tensor("weight")?.to_vec::<f32>()?, vec![1.0; 6]);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn init_weight(mut self, init: Init) -> Self {
        self.layer.init_weight = Some(init);
        self
    }

    /// The bias's initialiser, called with the shape `[out]` (default:
    /// uniform in `±1/√in`; unused without a bias).
    ///
    /// ```
    /// use lux_core::*;
    /// use lux_layers::{init::Init, Dense};
    /// let d = Dense::builder(2, 3).init_bias(Init::zeros()).build()?;
    /// let (ps, _) = setup(&mut RngState::seed_from_u64(0), &d)?;
    /// assert_eq!(ps.tensor("bias")?.to_vec::<f32>()?, vec![0.0; 3]);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn init_bias(mut self, init: Init) -> Self {
        self.layer.init_bias = Some(init);
        self
    }

    /// The dtype of the parameters the initialisers make (default f32;
    /// f16, bf16, f32 or f64).
    ///
    /// ```
    /// use lux_core::*;
    /// let d = lux_layers::Dense::builder(2, 3).dtype(DType::F64).build()?;
    /// let (ps, _) = setup(&mut RngState::seed_from_u64(0), &d)?;
    /// assert_eq!(ps.tensor("weight")?.dtype(), DType::F64);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn dtype(mut self, dtype: DType) -> Self {
        self.layer.dtype = dtype;
        self
    }

    /// The layer.
    ///
    /// ```
    /// assert!(lux_layers::Dense::builder(0, 3).build().is_err());
    /// ```
    ///
    /// # Errors
    /// `in` or `out` is 0; the dtype is not a float dtype; the activation's
    /// parameter is invalid (e.g. `Celu(0.0)`); an initialiser's options
    /// are invalid.
    pub fn build(self) -> Result<Dense> {
        let layer = self.layer;
        let describe = || layer.describe();
        check_positive("the input size", layer.in_dims, describe)?;
        check_positive("the output size", layer.out_dims, describe)?;
        if !layer.dtype.is_float() {
            return Err(LuxError::UnsupportedDType { op: describe(), dtype: layer.dtype });
        }
        check_activation(layer.activation, describe)?;
        for init in layer.init_weight.iter().chain(&layer.init_bias) {
            init.validate().map_err(|e| in_layer(e, describe))?;
        }
        Ok(layer)
    }
}

impl Dense {
    /// `Dense(in => out, activation)` with Lux's defaults (a bias, the
    /// PyTorch-style initialisers, f32).
    ///
    /// ```
    /// use lux_core::Layer;
    /// use lux_ops::Activation;
    /// let d = lux_layers::Dense::new(784, 256, Activation::Identity)?;
    /// assert_eq!(d.describe(), "Dense(784 => 256)");
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// `in` or `out` is 0, or the activation's parameter is invalid.
    pub fn new(in_dims: usize, out_dims: usize, activation: Activation) -> Result<Dense> {
        Self::builder(in_dims, out_dims).activation(activation).build()
    }

    /// The options of `Dense(in => out)` (activation, `use_bias`,
    /// initialisers, dtype).
    ///
    /// ```
    /// use lux_core::Layer;
    /// use lux_ops::Activation;
    /// let d = lux_layers::Dense::builder(2, 16).activation(Activation::Tanh).use_bias(false).build()?;
    /// assert_eq!(d.describe(), "Dense(2 => 16, tanh, use_bias=false)");
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn builder(in_dims: usize, out_dims: usize) -> DenseBuilder {
        DenseBuilder {
            layer: Dense {
                in_dims,
                out_dims,
                activation: Activation::Identity,
                use_bias: true,
                init_weight: None,
                init_bias: None,
                dtype: DType::F32,
            },
        }
    }

    /// The number of input features.
    ///
    /// ```
    /// assert_eq!(lux_layers::Dense::new(3, 2, Default::default())?.in_dims(), 3);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn in_dims(&self) -> usize {
        self.in_dims
    }

    /// The number of output features.
    ///
    /// ```
    /// assert_eq!(lux_layers::Dense::new(3, 2, Default::default())?.out_dims(), 2);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn out_dims(&self) -> usize {
        self.out_dims
    }

    /// The activation.
    ///
    /// ```
    /// use lux_ops::Activation;
    /// assert_eq!(lux_layers::Dense::new(3, 2, Activation::Relu)?.activation(), Activation::Relu);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn activation(&self) -> Activation {
        self.activation
    }

    /// Whether the layer has a bias.
    ///
    /// ```
    /// assert!(lux_layers::Dense::new(3, 2, Default::default())?.use_bias());
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn use_bias(&self) -> bool {
        self.use_bias
    }

    /// The weight initialiser in use: the one set, or Lux's default
    /// `kaiming_uniform(gain = calculate_gain(act))`.
    ///
    /// ```
    /// use lux_ops::Activation;
    /// let d = lux_layers::Dense::new(3, 2, Activation::Relu)?;
    /// assert_eq!(d.weight_init().to_string(), "kaiming_uniform(gain=2)");
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn weight_init(&self) -> Init {
        match &self.init_weight {
            Some(init) => init.clone(),
            None => Init::kaiming_uniform()
                .with_gain(calculate_gain(self.activation))
                .expect("calculate_gain is positive and finite"),
        }
    }

    /// The bias initialiser in use: the one set, or Lux's default uniform
    /// in `±1/√in`.
    ///
    /// ```
    /// let d = lux_layers::Dense::new(4, 2, Default::default())?;
    /// assert_eq!(d.bias_init().to_string(), "uniform(lo=-0.5, hi=0.5)");
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn bias_init(&self) -> Init {
        self.init_bias.clone().unwrap_or_else(|| linear_bias_init(self.in_dims))
    }

    /// The input's float tensor, with its last axis checked.
    fn checked_input<'a>(&self, x: &'a Tree) -> Result<&'a Tensor> {
        let x = float_input(x, || self.describe())?;
        match x.shape().last() {
            Some(&n) if n == self.in_dims => Ok(x),
            Some(&n) => Err(LuxError::shape(
                &self.describe(),
                format!("input has {n} features, expected {} (input shape {:?})", self.in_dims, x.shape()),
            )),
            None => Err(LuxError::shape(
                &self.describe(),
                format!("input is 0-d (a scalar), expected [.., {}] or [{}]", self.in_dims, self.in_dims),
            )),
        }
    }
}

impl Layer for Dense {
    fn init_params(&self, rng: &mut dyn Rng) -> Result<Tree> {
        let weight = self.weight_init().init(rng, &[self.out_dims, self.in_dims], self.dtype)?;
        if !self.use_bias {
            return Ok(lux_core::tree! { weight: weight });
        }
        let bias = self.bias_init().init(rng, &[self.out_dims], self.dtype)?;
        Ok(lux_core::tree! { weight: weight, bias: bias })
    }

    fn param_shapes(&self) -> Option<Vec<Vec<usize>>> {
        let mut shapes = vec![vec![self.out_dims, self.in_dims]];
        if self.use_bias {
            shapes.push(vec![self.out_dims]);
        }
        Some(shapes)
    }

    fn state_shapes(&self) -> Option<Vec<Vec<usize>>> {
        Some(vec![])
    }

    fn forward(&self, x: &Tree, ps: &Tree, st: &Tree) -> Result<(Tree, Tree)> {
        let x = match_eltype(self, ps, st, x)?;
        let x = self.checked_input(&x)?;
        let describe = || self.describe();
        let keys: &[&str] = if self.use_bias { &["weight", "bias"] } else { &["weight"] };
        check_param_keys(ps, keys, describe)?;
        let w = param(ps, "weight", &[self.out_dims, self.in_dims], describe)?;
        let b = if self.use_bias { Some(param(ps, "bias", &[self.out_dims], describe)?) } else { None };
        let y = dense(x, w, b, self.activation).map_err(|e| in_layer(e, describe))?;
        Ok((y.into(), st.clone()))
    }

    fn describe(&self) -> String {
        format!("Dense({} => {}{})", self.in_dims, self.out_dims, show_suffix(self.activation, self.use_bias))
    }
}
