//! [`Bilinear`]: the bilinear layer of two inputs (Lux's `Bilinear`).

use super::{check_activation, check_param_keys, check_positive, in_layer, linear_bias_init, param, show_suffix};
use crate::init::Init;
use crate::util::float_input;
use lux_core::{DType, Layer, LuxError, Result, Tensor, Tree};
use lux_ops::Activation;
use lux_ops::dense::dense;
use lux_precision::match_eltype;
use rand::Rng;

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
        let input = match_eltype(self, ps, st, x)?;
        let (x, y) = self.inputs(&input)?;
        let keys: &[&str] = if self.use_bias { &["weight", "bias"] } else { &["weight"] };
        check_param_keys(ps, keys, describe)?;
        let (o, i, j) = (self.out_dims, self.in1_dims, self.in2_dims);
        let w = param(ps, "weight", &[o, i, j], describe)?;
        let lead = x.shape()[..x.ndim() - 1].to_vec();
        let m: usize = lead.iter().product();
        let x = x.reshape(&[m, 1, i])?;
        let y = y.reshape(&[m, j])?;
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
