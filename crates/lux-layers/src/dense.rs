//! The dense family (Lux's `src/layers/basic.jl`): [`Dense`], [`Bilinear`]
//! and [`Scale`].
//!
//! Batch-first: a `Dense(in => out)` takes `[batch, in]` (or `[in]`, or
//! `[.., in]` with any leading axes; Lux's first axis is the last one
//! here) and keeps its weight as `[out, in]`, so `y = act(x·Wᵀ + b)`.
//!
//! **Dtypes.** The layers compute in the dtype of their parameters (f32 by
//! default, or what the `dtype` option / a custom initialiser makes): a
//! float input of another dtype is converted to it first (Lux's
//! `match_eltype` in its `convert` mode, without the warning), so the
//! output has the parameters' dtype. Integer and bool inputs are an `Err`.
//!
//! **Errors.** Bad input is an `Err` whose `op` is the layer's
//! [`describe`](Layer::describe), with the shapes in the message:
//! `Dense(784 => 256): input has 783 features, expected 784 (input shape
//! [32, 783])`. So are parameters that do not belong to the layer (a
//! missing, extra or wrongly shaped `weight`/`bias`).

use crate::init::{Init, calculate_gain};
use crate::util::float_input;
use lux_core::{DType, Layer, LuxError, Result, Tensor, Tree};
use lux_ops::Activation;
use lux_ops::dense::dense;
use rand::Rng;

// ----- shared helpers (also used by embedding.rs) ------------------------------------

/// Puts the layer's name into the `op` of an error raised by an op it
/// called (the op's own name is dropped: the layer is what the user built).
pub(crate) fn in_layer(err: LuxError, describe: impl FnOnce() -> String) -> LuxError {
    match err {
        LuxError::Shape { msg, .. } => LuxError::Shape { op: describe(), msg },
        LuxError::InvalidArgument { msg, .. } => LuxError::InvalidArgument { op: describe(), msg },
        LuxError::DType { expected, got, .. } => LuxError::DType { op: describe(), expected, got },
        LuxError::UnsupportedDType { dtype, .. } => LuxError::UnsupportedDType { op: describe(), dtype },
        other => other,
    }
}

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

/// `x` converted to `dtype` (no copy when it already is).
pub(crate) fn to_param_dtype(x: &Tensor, dtype: DType) -> Result<Tensor> {
    if x.dtype() == dtype { Ok(x.clone()) } else { x.to_dtype(dtype) }
}

/// Checks an activation's parameter (e.g. `Celu(0.0)` is invalid) when the
/// layer is built rather than at its first call.
fn check_activation(activation: Activation, describe: impl FnOnce() -> String) -> Result<()> {
    activation.apply(&Tensor::zeros(&[0], DType::F32)?).map(|_| ()).map_err(|e| in_layer(e, describe))
}

/// Checks that a size given to a constructor is positive.
fn check_positive(what: &str, n: usize, describe: impl FnOnce() -> String) -> Result<()> {
    if n == 0 {
        Err(LuxError::invalid_argument(&describe(), format!("{what} must be positive, got 0")))
    } else {
        Ok(())
    }
}

/// `, act` and `, use_bias=false` as Lux's `show` appends them.
fn show_suffix(activation: Activation, use_bias: bool) -> String {
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
fn linear_bias_init(fan_in: usize) -> Init {
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
        let x = self.checked_input(x)?;
        let describe = || self.describe();
        let keys: &[&str] = if self.use_bias { &["weight", "bias"] } else { &["weight"] };
        check_param_keys(ps, keys, describe)?;
        let w = param(ps, "weight", &[self.out_dims, self.in_dims], describe)?;
        let b = if self.use_bias { Some(param(ps, "bias", &[self.out_dims], describe)?) } else { None };
        let x = to_param_dtype(x, w.dtype())?;
        let y = dense(&x, w, b, self.activation).map_err(|e| in_layer(e, describe))?;
        Ok((y.into(), st.clone()))
    }

    fn describe(&self) -> String {
        format!("Dense({} => {}{})", self.in_dims, self.out_dims, show_suffix(self.activation, self.use_bias))
    }
}

// ----- Scale -------------------------------------------------------------------------

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
/// [`Dense`], with a weight and a bias of shape `dims` broadcast against the
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
        let x = float_input(x, describe)?;
        let keys: &[&str] = if self.use_bias { &["weight", "bias"] } else { &["weight"] };
        check_param_keys(ps, keys, describe)?;
        let w = param(ps, "weight", &self.dims, describe)?;
        if lux_core::broadcast_shapes(x.shape(), &self.dims).is_err() {
            return Err(LuxError::shape(
                &describe(),
                format!("input of shape {:?} does not broadcast with the parameters' shape {:?}", x.shape(), self.dims),
            ));
        }
        let x = to_param_dtype(x, w.dtype())?;
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

// ----- Bilinear ----------------------------------------------------------------------

/// A bilinear layer of two inputs (Lux's
/// `Bilinear((in1, in2) => out, act; init_weight, init_bias, use_bias)`):
///
/// `z[b, o] = act(Σᵢⱼ x[b, i]·W[o, i, j]·y[b, j] + bias[o])`.
///
/// * Parameters: `weight` `[out, in1, in2]`, and `bias` `[out]` unless
///   [`use_bias(false)`](BilinearBuilder::use_bias). State: none.
/// * Input: a sequence of two float tensors `(x, y)`
///   ([`Tree::seq`]) with `x` `[.., in1]` and `y` `[.., in2]` and the same
///   leading axes, or a single tensor used as both (then `in1 = in2`);
///   output: `[.., out]` (a pair of single samples `[in1]`, `[in2]` gives
///   `[out]`, where Lux returns an `(out, 1)` matrix).
/// * Defaults, as Lux 1.x: weight `(N(0, 1) − 0.5)·2/√in1`, i.e.
///   [`Init::normal`] with mean `−1/√in1` and std `2/√in1` (Lux's quirk,
///   kept); bias uniform in `±1/√in1`; f32.
///
/// ```
/// use lux_core::*;
/// use lux_layers::Bilinear;
/// use lux_ops::Activation;
/// let layer = Bilinear::new((3, 2), 4, Activation::Identity)?;
/// assert_eq!(layer.describe(), "Bilinear((3, 2) => 4)");
/// let (ps, st) = setup(&mut RngState::seed_from_u64(0), &layer)?;
/// assert_eq!(ps.tensor("weight")?.shape(), &[4, 3, 2]);
/// let x = Tensor::ones(&[5, 3], DType::F32)?;
/// let y = Tensor::ones(&[5, 2], DType::F32)?;
/// let (z, _) = apply_tensor(&layer, Tree::seq([x, y]), &ps, &st)?;
/// assert_eq!(z.shape(), &[5, 4]);
/// # Ok::<(), lux_core::LuxError>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Bilinear {
    in1_dims: usize,
    in2_dims: usize,
    out_dims: usize,
    activation: Activation,
    use_bias: bool,
    init_weight: Option<Init>,
    init_bias: Option<Init>,
    dtype: DType,
}

/// The options of a [`Bilinear`] (from [`Bilinear::builder`]).
#[derive(Clone, Debug, PartialEq)]
pub struct BilinearBuilder {
    layer: Bilinear,
}

impl BilinearBuilder {
    /// The activation (default: identity).
    ///
    /// ```
    /// use lux_core::Layer;
    /// let b = lux_layers::Bilinear::builder((2, 2), 3).activation(lux_ops::Activation::Relu).build()?;
    /// assert_eq!(b.describe(), "Bilinear((2, 2) => 3, relu)");
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
    /// let b = lux_layers::Bilinear::builder((2, 2), 3).use_bias(false).build()?;
    /// assert_eq!((b.describe().as_str(), b.param_count()), ("Bilinear((2, 2) => 3, use_bias=false)", 12));
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn use_bias(mut self, use_bias: bool) -> Self {
        self.layer.use_bias = use_bias;
        self
    }

    /// The weight's initialiser, called with the shape `[out, in1, in2]`.
    ///
    /// ```
    /// use lux_core::*;
    /// let b = lux_layers::Bilinear::builder((2, 1), 3).init_weight(lux_layers::init::Init::zeros()).build()?;
    /// assert_eq!(setup(&mut RngState::seed_from_u64(0), &b)?.0.tensor("weight")?.to_vec::<f32>()?, vec![0.0; 6]);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn init_weight(mut self, init: Init) -> Self {
        self.layer.init_weight = Some(init);
        self
    }

    /// The bias's initialiser, called with the shape `[out]`.
    ///
    /// ```
    /// use lux_core::*;
    /// let b = lux_layers::Bilinear::builder((2, 1), 3).init_bias(lux_layers::init::Init::zeros()).build()?;
    /// assert_eq!(setup(&mut RngState::seed_from_u64(0), &b)?.0.tensor("bias")?.to_vec::<f32>()?, vec![0.0; 3]);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn init_bias(mut self, init: Init) -> Self {
        self.layer.init_bias = Some(init);
        self
    }

    /// The dtype of the parameters (default f32).
    ///
    /// ```
    /// use lux_core::*;
    /// let b = lux_layers::Bilinear::builder((2, 1), 3).dtype(DType::F64).build()?;
    /// assert_eq!(setup(&mut RngState::seed_from_u64(0), &b)?.0.tensor("bias")?.dtype(), DType::F64);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn dtype(mut self, dtype: DType) -> Self {
        self.layer.dtype = dtype;
        self
    }

    /// The layer.
    ///
    /// ```
    /// assert!(lux_layers::Bilinear::builder((2, 0), 3).build().is_err());
    /// ```
    ///
    /// # Errors
    /// A size is 0; the dtype is not a float dtype; the activation's
    /// parameter or an initialiser's options are invalid.
    pub fn build(self) -> Result<Bilinear> {
        let layer = self.layer;
        let describe = || layer.describe();
        check_positive("the first input size", layer.in1_dims, describe)?;
        check_positive("the second input size", layer.in2_dims, describe)?;
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

impl Bilinear {
    /// `Bilinear((in1, in2) => out, activation)` with Lux's defaults. Lux's
    /// `Bilinear(n => out)` is `Bilinear::new((n, n), out, ..)`.
    ///
    /// ```
    /// use lux_core::Layer;
    /// let b = lux_layers::Bilinear::new((2, 2), 3, lux_ops::Activation::Identity)?;
    /// assert_eq!(b.param_count(), 3 * 2 * 2 + 3);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// As [`BilinearBuilder::build`].
    pub fn new(in_dims: (usize, usize), out_dims: usize, activation: Activation) -> Result<Bilinear> {
        Self::builder(in_dims, out_dims).activation(activation).build()
    }

    /// The options of `Bilinear((in1, in2) => out)`.
    ///
    /// ```
    /// let b = lux_layers::Bilinear::builder((3, 2), 1).use_bias(false).build()?;
    /// assert_eq!(b.in_dims(), (3, 2));
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn builder(in_dims: (usize, usize), out_dims: usize) -> BilinearBuilder {
        BilinearBuilder {
            layer: Bilinear {
                in1_dims: in_dims.0,
                in2_dims: in_dims.1,
                out_dims,
                activation: Activation::Identity,
                use_bias: true,
                init_weight: None,
                init_bias: None,
                dtype: DType::F32,
            },
        }
    }

    /// The sizes of the two inputs.
    ///
    /// ```
    /// assert_eq!(lux_layers::Bilinear::new((3, 2), 1, Default::default())?.in_dims(), (3, 2));
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn in_dims(&self) -> (usize, usize) {
        (self.in1_dims, self.in2_dims)
    }

    /// The output size.
    ///
    /// ```
    /// assert_eq!(lux_layers::Bilinear::new((3, 2), 1, Default::default())?.out_dims(), 1);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn out_dims(&self) -> usize {
        self.out_dims
    }

    /// The activation.
    ///
    /// ```
    /// use lux_ops::Activation;
    /// assert_eq!(lux_layers::Bilinear::new((3, 2), 1, Activation::Tanh)?.activation(), Activation::Tanh);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn activation(&self) -> Activation {
        self.activation
    }

    /// Whether the layer has a bias.
    ///
    /// ```
    /// assert!(lux_layers::Bilinear::new((3, 2), 1, Default::default())?.use_bias());
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn use_bias(&self) -> bool {
        self.use_bias
    }

    /// The weight initialiser in use: the one set, or Lux's default
    /// `normal(mean = −1/√in1, std = 2/√in1)`.
    ///
    /// ```
    /// let b = lux_layers::Bilinear::new((4, 2), 1, Default::default())?;
    /// assert_eq!(b.weight_init().to_string(), "normal(mean=-0.5, std=1)");
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn weight_init(&self) -> Init {
        match &self.init_weight {
            Some(init) => init.clone(),
            None => {
                let bound = 1.0 / (self.in1_dims as f64).sqrt();
                Init::normal(-bound, 2.0 * bound)
            }
        }
    }

    /// The bias initialiser in use: the one set, or Lux's default uniform
    /// in `±1/√in1`.
    ///
    /// ```
    /// let b = lux_layers::Bilinear::new((4, 2), 1, Default::default())?;
    /// assert_eq!(b.bias_init().to_string(), "uniform(lo=-0.5, hi=0.5)");
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn bias_init(&self) -> Init {
        self.init_bias.clone().unwrap_or_else(|| linear_bias_init(self.in1_dims))
    }

    /// The two inputs, checked.
    fn inputs<'a>(&self, x: &'a Tree) -> Result<(&'a Tensor, &'a Tensor)> {
        let describe = || self.describe();
        let (x, y) = match x {
            Tree::Seq(items) if items.len() == 2 => {
                (float_input(&items[0], describe)?, float_input(&items[1], describe)?)
            }
            Tree::Seq(items) => {
                return Err(LuxError::Structure {
                    path: lux_core::ROOT.into(),
                    msg: format!(
                        "{}: expects a pair (x, y) or one tensor, got a sequence of {}",
                        describe(),
                        items.len()
                    ),
                });
            }
            single => {
                let t = float_input(single, describe)?;
                (t, t)
            }
        };
        let features = |t: &Tensor| t.shape().last().copied();
        if features(x) != Some(self.in1_dims) || features(y) != Some(self.in2_dims) {
            return Err(LuxError::shape(
                &describe(),
                format!(
                    "inputs of shapes {:?} and {:?}, expected [.., {}] and [.., {}]",
                    x.shape(),
                    y.shape(),
                    self.in1_dims,
                    self.in2_dims
                ),
            ));
        }
        if x.shape()[..x.ndim() - 1] != y.shape()[..y.ndim() - 1] {
            return Err(LuxError::shape(
                &describe(),
                format!("inputs of shapes {:?} and {:?} differ in their leading (batch) axes", x.shape(), y.shape()),
            ));
        }
        Ok((x, y))
    }
}

impl Layer for Bilinear {
    fn init_params(&self, rng: &mut dyn Rng) -> Result<Tree> {
        let shape = [self.out_dims, self.in1_dims, self.in2_dims];
        let weight = self.weight_init().init(rng, &shape, self.dtype)?;
        if !self.use_bias {
            return Ok(lux_core::tree! { weight: weight });
        }
        let bias = self.bias_init().init(rng, &[self.out_dims], self.dtype)?;
        Ok(lux_core::tree! { weight: weight, bias: bias })
    }

    fn param_shapes(&self) -> Option<Vec<Vec<usize>>> {
        let mut shapes = vec![vec![self.out_dims, self.in1_dims, self.in2_dims]];
        if self.use_bias {
            shapes.push(vec![self.out_dims]);
        }
        Some(shapes)
    }

    fn state_shapes(&self) -> Option<Vec<Vec<usize>>> {
        Some(vec![])
    }

    fn forward(&self, x: &Tree, ps: &Tree, st: &Tree) -> Result<(Tree, Tree)> {
        let describe = || self.describe();
        let (x, y) = self.inputs(x)?;
        let keys: &[&str] = if self.use_bias { &["weight", "bias"] } else { &["weight"] };
        check_param_keys(ps, keys, describe)?;
        let (o, i, j) = (self.out_dims, self.in1_dims, self.in2_dims);
        let w = param(ps, "weight", &[o, i, j], describe)?;
        let lead = x.shape()[..x.ndim() - 1].to_vec();
        let m: usize = lead.iter().product();
        let x = to_param_dtype(x, w.dtype())?.reshape(&[m, 1, i])?;
        let y = to_param_dtype(y, w.dtype())?.reshape(&[m, j])?;
        // (W·y)[b, o, i] = Σⱼ W[o, i, j]·y[b, j], then Σᵢ x[b, i]·(W·y)[b, o, i].
        let wy = dense(&y, &w.reshape(&[o * i, j])?, None, Activation::Identity)?.reshape(&[m, o, i])?;
        let mut z = wy.mul(&x)?.sum(&[-1], false)?;
        if self.use_bias {
            z = z.add(param(ps, "bias", &[o], describe)?)?;
        }
        let z = self.activation.apply(&z).map_err(|e| in_layer(e, describe))?;
        let mut out_shape = lead;
        out_shape.push(o);
        Ok((z.reshape(&out_shape)?.into(), st.clone()))
    }

    fn describe(&self) -> String {
        format!(
            "Bilinear(({}, {}) => {}{})",
            self.in1_dims,
            self.in2_dims,
            self.out_dims,
            show_suffix(self.activation, self.use_bias)
        )
    }
}
