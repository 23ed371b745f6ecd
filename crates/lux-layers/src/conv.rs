//! Convolution layers: [`Conv`] and [`ConvTranspose`] (Lux's
//! `src/layers/conv.jl`), 1-d, 2-d and 3-d (any number of spatial dims).
//!
//! **Layout.** Inputs are batch-first, channels second: `[N, C, L]`,
//! `[N, C, H, W]`, `[N, C, D, H, W]` — Lux's `(W, H, C, N)` seen
//! transposed. Kernel sizes, strides, dilations and paddings are given in
//! this axis order (`[kh, kw]` for images) and printed in it. Weights:
//!
//! | layer | weight | bias | Lux's weight |
//! |---|---|---|---|
//! | `Conv(k, in => out; groups)` | `[out, in/groups, k…]` | `[out]` | `(k…, in÷groups, out)` |
//! | `ConvTranspose(k, in => out; groups)` | `[in, out/groups, k…]` | `[out]` | `(k…, out÷groups, in)` |
//!
//! (PyTorch's layouts; the same memory as Lux's column-major arrays.)
//!
//! **Convolution vs cross-correlation.** As in Lux, the default
//! `cross_correlation = false` is a true convolution: the kernel is flipped
//! along every spatial axis. `cross_correlation(true)` gives PyTorch's and
//! JAX's `Conv` semantics.
//!
//! **Defaults, from Lux 1.x:** `Conv`'s weight is
//! [`Init::kaiming_uniform`] with gain [`calculate_gain`]`(activation)`
//! (PyTorch's default), its bias uniform in `±1/√fan_in` with
//! `fan_in = Πk · in/groups`; `ConvTranspose`'s weight is
//! [`Init::glorot_uniform`] and its bias zeros. Stride 1, no padding,
//! dilation 1, one group, a bias.
//!
//! **Padding** is a [`Padding`]: `(before, after)` per spatial dim (one pair
//! for every dim, or one per dim) or [`Padding::Same`] (Lux's `SamePad()`,
//! resolved when the layer is built, as Lux does, so that it prints as
//! numbers: `Conv((3, 3), 1 => 6, pad=1)`).

use crate::init::{Init, calculate_gain, fans};
use crate::util::{float_input, in_layer, julia_tuple};
use lux_core::{DType, Layer, LuxError, Result, Tensor, Tree};
use lux_ops::conv::{ConvOptions, Padding, conv};
use lux_ops::{Activation, conv_transpose};
use lux_precision::match_eltype;
use rand::Rng;

/// Lux's `PrettyPrinting.tuple_string`: a single value when all are equal.
pub(crate) fn tuple_string<T: std::fmt::Display + PartialEq>(v: &[T]) -> String {
    match v.first() {
        Some(first) if v.iter().all(|x| x == first) => first.to_string(),
        _ => julia_tuple(v),
    }
}

/// Flat `(before, after, before, after, …)` padding, as Lux stores it.
fn flat_pad(pad: &[(usize, usize)]) -> Vec<usize> {
    pad.iter().flat_map(|&(b, a)| [b, a]).collect()
}

/// The input as a float tensor of rank `spatial + 2`, or an `Err` naming
/// the layer and the shapes.
pub(crate) fn spatial_input<'a>(x: &'a Tree, spatial: usize, describe: &dyn Fn() -> String) -> Result<&'a Tensor> {
    let x = float_input(x, describe)?;
    if x.ndim() != spatial + 2 {
        let dims = if spatial == 1 { "[N, C, L]".to_string() } else { format!("[N, C, {spatial} spatial dims]") };
        return Err(LuxError::shape(
            &describe(),
            format!("input has shape {:?} (rank {}), expected rank {} ({dims})", x.shape(), x.ndim(), spatial + 2),
        ));
    }
    Ok(x)
}

/// The parameter `key` of `ps`, checked against its expected shape.
fn param<'a>(ps: &'a Tree, key: &str, shape: &[usize], describe: &dyn Fn() -> String) -> Result<&'a Tensor> {
    let t = ps.tensor(key).map_err(|e| LuxError::Structure {
        path: key.to_string(),
        msg: format!("{}: the parameters have no `{key}` tensor ({e})", describe()),
    })?;
    if t.shape() != shape {
        return Err(LuxError::shape(
            &describe(),
            format!("parameter `{key}` has shape {:?}, expected {shape:?}", t.shape()),
        ));
    }
    Ok(t)
}

/// The options shared by [`Conv`] and [`ConvTranspose`], validated.
#[derive(Clone, Debug, PartialEq)]
struct Geometry {
    kernel: Vec<usize>,
    in_chs: usize,
    out_chs: usize,
    stride: Vec<usize>,
    pad: Vec<(usize, usize)>,
    dilation: Vec<usize>,
    groups: usize,
}

/// What a convolution builder collects.
#[derive(Clone, Debug)]
struct Options {
    kernel: Vec<usize>,
    in_chs: usize,
    out_chs: usize,
    activation: Activation,
    stride: Vec<usize>,
    padding: Padding,
    dilation: Vec<usize>,
    groups: usize,
    output_padding: Vec<usize>,
    use_bias: bool,
    cross_correlation: bool,
    init_weight: Option<Init>,
    init_bias: Option<Init>,
}

impl Options {
    fn new(kernel: &[usize], in_chs: usize, out_chs: usize) -> Options {
        Options {
            kernel: kernel.to_vec(),
            in_chs,
            out_chs,
            activation: Activation::Identity,
            stride: vec![],
            padding: Padding::default(),
            dilation: vec![],
            groups: 1,
            output_padding: vec![],
            use_bias: true,
            cross_correlation: false,
            init_weight: None,
            init_bias: None,
        }
    }

    /// Expands the per-dim lists and resolves `Same` padding (`transpose`:
    /// Lux's ConvTranspose rule, the padding of a `k − stride + 1` kernel).
    fn geometry(&self, name: &str, transpose: bool) -> Result<Geometry> {
        let d = self.kernel.len();
        let ctx = || format!("{name}({}, {} => {})", julia_tuple(&self.kernel), self.in_chs, self.out_chs);
        if d == 0 || self.kernel.contains(&0) {
            return Err(LuxError::invalid_argument(
                &ctx(),
                format!("the kernel size {:?} must be non-empty with positive entries", self.kernel),
            ));
        }
        let expand = |what: &str, v: &[usize], default: usize| -> Result<Vec<usize>> {
            let v = match v.len() {
                0 => vec![default; d],
                1 => vec![v[0]; d],
                n if n == d => v.to_vec(),
                n => {
                    return Err(LuxError::invalid_argument(
                        &ctx(),
                        format!("{what} has {n} entries, expected 1 or {d} (one per spatial dim)"),
                    ));
                }
            };
            Ok(v)
        };
        let stride = expand("stride", &self.stride, 1)?;
        let dilation = expand("dilation", &self.dilation, 1)?;
        if stride.contains(&0) || dilation.contains(&0) || self.groups == 0 {
            return Err(LuxError::invalid_argument(
                &ctx(),
                format!("stride {stride:?}, dilation {dilation:?} and groups {} must be positive", self.groups),
            ));
        }
        if self.in_chs == 0 || self.out_chs == 0 {
            return Err(LuxError::invalid_argument(&ctx(), "the channel counts must be positive"));
        }
        if self.in_chs % self.groups != 0 || self.out_chs % self.groups != 0 {
            return Err(LuxError::shape(
                &ctx(),
                format!(
                    "the channels {} => {} must both be divisible by groups={}",
                    self.in_chs, self.out_chs, self.groups
                ),
            ));
        }
        let pad = match &self.padding {
            Padding::Explicit(p) => match p.len() {
                0 => vec![(0, 0); d],
                1 => vec![p[0]; d],
                n if n == d => p.clone(),
                n => {
                    return Err(LuxError::invalid_argument(
                        &ctx(),
                        format!(
                            "padding has {n} entries, expected 1 or {d} (one (before, after) pair per spatial dim)"
                        ),
                    ));
                }
            },
            Padding::Same => {
                let mut pad = Vec::with_capacity(d);
                for i in 0..d {
                    let k = if transpose {
                        if self.kernel[i] < stride[i] {
                            return Err(LuxError::invalid_argument(
                                &ctx(),
                                format!(
                                    "Same padding needs a kernel at least as large as the stride, got kernel {:?} and stride {stride:?}",
                                    self.kernel
                                ),
                            ));
                        }
                        self.kernel[i] - stride[i] + 1
                    } else {
                        self.kernel[i]
                    };
                    let total = dilation[i] * (k - 1);
                    pad.push((total.div_ceil(2), total / 2));
                }
                pad
            }
        };
        Ok(Geometry {
            kernel: self.kernel.clone(),
            in_chs: self.in_chs,
            out_chs: self.out_chs,
            stride,
            pad,
            dilation,
            groups: self.groups,
        })
    }

    fn conv_options(&self, g: &Geometry) -> ConvOptions {
        ConvOptions::new()
            .stride(&g.stride)
            .padding(Padding::Explicit(g.pad.clone()))
            .dilation(&g.dilation)
            .groups(g.groups)
            .flip_kernel(!self.cross_correlation)
    }
}

/// The builder methods shared by [`ConvBuilder`] and [`ConvTransposeBuilder`].
macro_rules! builder_methods {
    ($builder:ident, $layer:literal) => {
        impl $builder {
            #[doc = concat!("The activation applied to the output (default identity).\n\n```\nuse lux_core::Layer;\nuse lux_ops::Activation;\nlet l = lux_layers::", $layer, "::builder(&[3, 3], 1, 6).activation(Activation::Relu).build()?;\nassert!(l.describe().contains(\"relu\"));\n# Ok::<(), lux_core::LuxError>(())\n```")]
            pub fn activation(mut self, activation: Activation) -> Self {
                self.0.activation = activation;
                self
            }
            #[doc = concat!("The stride, one value or one per spatial dim (default 1).\n\n```\nuse lux_core::Layer;\nlet l = lux_layers::", $layer, "::builder(&[3, 3], 1, 6).stride(&[2]).build()?;\nassert!(l.describe().ends_with(\"stride=2)\"));\n# Ok::<(), lux_core::LuxError>(())\n```")]
            pub fn stride(mut self, stride: &[usize]) -> Self {
                self.0.stride = stride.to_vec();
                self
            }
            #[doc = concat!("The padding (default none); `Padding::Same` is Lux's `SamePad()`.\n\n```\nuse lux_core::Layer;\nuse lux_ops::Padding;\nlet l = lux_layers::", $layer, "::builder(&[3, 3], 1, 6).padding(Padding::Explicit(vec![(1, 2), (0, 1)])).build()?;\nassert!(l.describe().ends_with(\"pad=(1, 2, 0, 1))\"));\n# Ok::<(), lux_core::LuxError>(())\n```")]
            pub fn padding(mut self, padding: Padding) -> Self {
                self.0.padding = padding;
                self
            }
            #[doc = concat!("Symmetric padding, one value or one per spatial dim.\n\n```\nuse lux_core::Layer;\nlet l = lux_layers::", $layer, "::builder(&[3, 3], 1, 6).pad(&[1]).build()?;\nassert!(l.describe().ends_with(\"pad=1)\"));\n# Ok::<(), lux_core::LuxError>(())\n```")]
            pub fn pad(self, pad: &[usize]) -> Self {
                self.padding(Padding::symmetric(pad))
            }
            #[doc = concat!("The dilation, one value or one per spatial dim (default 1).\n\n```\nuse lux_core::Layer;\nlet l = lux_layers::", $layer, "::builder(&[3], 1, 6).dilation(&[2]).build()?;\nassert!(l.describe().ends_with(\"dilation=2)\"));\n# Ok::<(), lux_core::LuxError>(())\n```")]
            pub fn dilation(mut self, dilation: &[usize]) -> Self {
                self.0.dilation = dilation.to_vec();
                self
            }
            #[doc = concat!("The number of channel groups (default 1); both channel counts must be divisible by it.\n\n```\nuse lux_core::Layer;\nlet l = lux_layers::", $layer, "::builder(&[3], 4, 6).groups(2).build()?;\nassert!(l.describe().ends_with(\"groups=2)\"));\nassert!(lux_layers::", $layer, "::builder(&[3], 3, 6).groups(2).build().is_err());\n# Ok::<(), lux_core::LuxError>(())\n```")]
            pub fn groups(mut self, groups: usize) -> Self {
                self.0.groups = groups;
                self
            }
            #[doc = concat!("Whether the layer has a bias (default true).\n\n```\nuse lux_core::Layer;\nlet l = lux_layers::", $layer, "::builder(&[3], 1, 6).use_bias(false).build()?;\nassert_eq!(l.param_count(), 18);\n# Ok::<(), lux_core::LuxError>(())\n```")]
            pub fn use_bias(mut self, use_bias: bool) -> Self {
                self.0.use_bias = use_bias;
                self
            }
            #[doc = concat!("`true`: cross-correlation (PyTorch's semantics); `false` (Lux's default): true convolution, the kernel flipped.\n\n```\nuse lux_core::Layer;\nlet l = lux_layers::", $layer, "::builder(&[3], 1, 6).cross_correlation(true).build()?;\nassert!(l.describe().ends_with(\"cross_correlation=true)\"));\n# Ok::<(), lux_core::LuxError>(())\n```")]
            pub fn cross_correlation(mut self, cross_correlation: bool) -> Self {
                self.0.cross_correlation = cross_correlation;
                self
            }
            #[doc = concat!("The weight initialiser (default: see the [module docs](crate::conv)).\n\n```\nuse lux_core::{setup, RngState};\nuse lux_layers::init::Init;\nlet l = lux_layers::", $layer, "::builder(&[3], 1, 2).init_weight(Init::ones()).build()?;\nlet (ps, _) = setup(&mut RngState::seed_from_u64(0), &l)?;\nassert!(ps.tensor(\"weight\")?.to_vec::<f32>()?.iter().all(|&v| v == 1.0));\n# Ok::<(), lux_core::LuxError>(())\n```")]
            pub fn init_weight(mut self, init: Init) -> Self {
                self.0.init_weight = Some(init);
                self
            }
            #[doc = concat!("The bias initialiser (default: see the [module docs](crate::conv)).\n\n```\nuse lux_core::{setup, RngState};\nuse lux_layers::init::Init;\nlet l = lux_layers::", $layer, "::builder(&[3], 1, 2).init_bias(Init::ones()).build()?;\nlet (ps, _) = setup(&mut RngState::seed_from_u64(0), &l)?;\nassert_eq!(ps.tensor(\"bias\")?.to_vec::<f32>()?, vec![1.0, 1.0]);\n# Ok::<(), lux_core::LuxError>(())\n```")]
            pub fn init_bias(mut self, init: Init) -> Self {
                self.0.init_bias = Some(init);
                self
            }
        }
    };
}

/// Prints the options after `Name(k, in => out` in Lux's order.
fn describe_common(name: &str, o: &Options, g: &Geometry, outpad: Option<&[usize]>) -> String {
    let mut s = format!("{name}({}, {} => {}", julia_tuple(&g.kernel), g.in_chs, g.out_chs);
    if o.activation != Activation::Identity {
        s += &format!(", {}", o.activation.julia_name());
    }
    if g.pad.iter().any(|&(b, a)| b != 0 || a != 0) {
        s += &format!(", pad={}", tuple_string(&flat_pad(&g.pad)));
    }
    if g.stride.iter().any(|&v| v != 1) {
        s += &format!(", stride={}", tuple_string(&g.stride));
    }
    if g.dilation.iter().any(|&v| v != 1) {
        s += &format!(", dilation={}", tuple_string(&g.dilation));
    }
    if g.groups != 1 {
        s += &format!(", groups={}", g.groups);
    }
    if let Some(op) = outpad {
        if op.iter().any(|&v| v != 0) {
            s += &format!(", outpad={}", tuple_string(op));
        }
    }
    if !o.use_bias {
        s += ", use_bias=false";
    }
    if o.cross_correlation {
        s += ", cross_correlation=true";
    }
    s + ")"
}

/// The input checked against the layer (rank and channels); a float dtype
/// other than the parameters' promotes in the kernel, as in Lux.
fn conv_input<'x>(x: &'x Tree, g: &Geometry, describe: &dyn Fn() -> String) -> Result<&'x Tensor> {
    let x = spatial_input(x, g.kernel.len(), describe)?;
    if x.shape()[1] != g.in_chs {
        return Err(LuxError::shape(
            &describe(),
            format!("input has {} channels, expected {} (input shape {:?})", x.shape()[1], g.in_chs, x.shape()),
        ));
    }
    Ok(x)
}

// ----- Conv ---------------------------------------------------------------------------

/// Convolution layer (Lux's `Conv(k, in => out, activation; stride, pad,
/// dilation, groups, use_bias, cross_correlation, init_weight, init_bias)`):
/// `y = activation(conv(x, weight) + bias)`.
///
/// * Parameters: `weight` `[out, in/groups, k…]`, `bias` `[out]` (when
///   `use_bias`). State: none.
/// * Input `[N, in, spatial…]` with `k.len()` spatial dims; output
///   `[N, out, o…]` with `o = (i + pad_before + pad_after − dilation·(k − 1) − 1) ÷ stride + 1`.
///
/// ```
/// use lux_core::*;
/// use lux_layers::Conv;
/// use lux_ops::{Activation, Padding};
/// let layer = Conv::builder(&[3, 3], 1, 6).activation(Activation::Relu).padding(Padding::Same).build()?;
/// assert_eq!(layer.describe(), "Conv((3, 3), 1 => 6, relu, pad=1)");
/// assert_eq!(layer.param_count(), 6 * 9 + 6);
/// let (ps, st) = setup(&mut RngState::seed_from_u64(0), &layer)?;
/// assert_eq!(ps.tensor("weight")?.shape(), &[6, 1, 3, 3]);
/// let x = Tensor::randn(&mut RngState::seed_from_u64(1), &[2, 1, 28, 28], DType::F32)?;
/// let (y, _) = apply_tensor(&layer, &x, &ps, &st)?;
/// assert_eq!(y.shape(), &[2, 6, 28, 28]);
/// // wrong channel count: an error naming the layer and the shapes
/// let bad = Tensor::zeros(&[2, 3, 28, 28], DType::F32)?;
/// let err = apply_tensor(&layer, &bad, &ps, &st).unwrap_err().to_string();
/// assert!(err.contains("Conv((3, 3), 1 => 6, relu, pad=1)") && err.contains("input has 3 channels, expected 1"));
/// # Ok::<(), lux_core::LuxError>(())
/// ```
#[derive(Clone, Debug)]
pub struct Conv {
    opts: Options,
    geom: Geometry,
}

/// The options of a [`Conv`] (from [`Conv::builder`]).
#[derive(Clone, Debug)]
pub struct ConvBuilder(Options);

builder_methods!(ConvBuilder, "Conv");

impl ConvBuilder {
    /// The layer.
    ///
    /// ```
    /// use lux_layers::Conv;
    /// assert!(Conv::builder(&[2, 2], 3, 10).groups(2).build().is_err()); // Lux: DimensionMismatch
    /// assert!(Conv::builder(&[2, 2], 2, 9).groups(2).build().is_err());
    /// assert!(Conv::builder(&[2, 2], 1, 1).stride(&[1, 1, 1]).build().is_err());
    /// ```
    ///
    /// # Errors
    /// A zero or empty kernel size, stride, dilation, group or channel
    /// count; an option list whose length is neither 1 nor the number of
    /// spatial dims; channels not divisible by `groups`.
    pub fn build(self) -> Result<Conv> {
        let geom = self.0.geometry("Conv", false)?;
        Ok(Conv { opts: self.0, geom })
    }
}

impl Conv {
    /// `Conv(k, in => out, activation)` with Lux's defaults for the rest.
    ///
    /// ```
    /// use lux_core::Layer;
    /// use lux_ops::Activation;
    /// let l = lux_layers::Conv::new(&[5], 32, 32, Activation::Tanh)?;
    /// assert_eq!(l.describe(), "Conv((5,), 32 => 32, tanh)");
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// As for [`ConvBuilder::build`].
    pub fn new(kernel: &[usize], in_chs: usize, out_chs: usize, activation: Activation) -> Result<Conv> {
        Self::builder(kernel, in_chs, out_chs).activation(activation).build()
    }

    /// The options of `Conv(k, in => out)`.
    ///
    /// ```
    /// use lux_core::Layer;
    /// let l = lux_layers::Conv::builder(&[3, 3], 6, 2).groups(2).use_bias(false).build()?;
    /// assert_eq!(l.describe(), "Conv((3, 3), 6 => 2, groups=2, use_bias=false)");
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn builder(kernel: &[usize], in_chs: usize, out_chs: usize) -> ConvBuilder {
        ConvBuilder(Options::new(kernel, in_chs, out_chs))
    }

    /// The shape of the weight, `[out, in/groups, k…]`.
    ///
    /// ```
    /// assert_eq!(lux_layers::Conv::builder(&[3], 6, 2).groups(2).build()?.weight_shape(), vec![2, 3, 3]);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn weight_shape(&self) -> Vec<usize> {
        let g = &self.geom;
        let mut s = vec![g.out_chs, g.in_chs / g.groups];
        s.extend(&g.kernel);
        s
    }

    /// The resolved padding, `(before, after)` per spatial dim (`Same`
    /// already computed).
    ///
    /// ```
    /// use lux_ops::Padding;
    /// let l = lux_layers::Conv::builder(&[4, 3], 1, 1).padding(Padding::Same).build()?;
    /// assert_eq!(l.padding(), &[(2, 1), (1, 1)]); // the odd element before, as Lux
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn padding(&self) -> &[(usize, usize)] {
        &self.geom.pad
    }
}

impl Layer for Conv {
    fn init_params(&self, rng: &mut dyn Rng) -> Result<Tree> {
        let shape = self.weight_shape();
        let weight = match &self.opts.init_weight {
            Some(init) => init.init(rng, &shape, DType::F32)?,
            None => Init::kaiming_uniform().with_gain(calculate_gain(self.opts.activation))?.init(
                rng,
                &shape,
                DType::F32,
            )?,
        };
        let ps = Tree::new().with("weight", weight)?;
        if !self.opts.use_bias {
            return Ok(ps);
        }
        let bias = match &self.opts.init_bias {
            Some(init) => init.init(rng, &[self.geom.out_chs], DType::F32)?,
            None => {
                let bound = 1.0 / (fans(&shape).0 as f64).sqrt();
                Init::uniform(-bound, bound).init(rng, &[self.geom.out_chs], DType::F32)?
            }
        };
        ps.with("bias", bias)
    }

    fn param_shapes(&self) -> Option<Vec<Vec<usize>>> {
        let mut s = vec![self.weight_shape()];
        if self.opts.use_bias {
            s.push(vec![self.geom.out_chs]);
        }
        Some(s)
    }

    fn state_shapes(&self) -> Option<Vec<Vec<usize>>> {
        Some(vec![])
    }

    fn forward(&self, x: &Tree, ps: &Tree, st: &Tree) -> Result<(Tree, Tree)> {
        let describe = || self.describe();
        let w = param(ps, "weight", &self.weight_shape(), &describe)?;
        let b = if self.opts.use_bias { Some(param(ps, "bias", &[self.geom.out_chs], &describe)?) } else { None };
        let x = match_eltype(self, ps, st, x)?;
        let x = conv_input(&x, &self.geom, &describe)?;
        let y = conv(x, w, b, &self.opts.conv_options(&self.geom)).map_err(|e| in_layer(e, describe))?;
        Ok((self.opts.activation.apply(&y)?.into(), st.clone()))
    }

    fn describe(&self) -> String {
        describe_common("Conv", &self.opts, &self.geom, None)
    }
}

// ----- ConvTranspose --------------------------------------------------------------------

/// Transposed convolution layer (Lux's `ConvTranspose(k, in => out,
/// activation; stride, pad, outpad, dilation, groups, use_bias,
/// cross_correlation, init_weight, init_bias)`): `y = activation(
/// conv_transpose(x, weight) + bias)`, the adjoint of a convolution from
/// `out` channels to `in` channels (see [`lux_ops::conv_transpose()`]).
///
/// * Parameters: `weight` `[in, out/groups, k…]`, `bias` `[out]` (when
///   `use_bias`). State: none.
/// * Input `[N, in, spatial…]`; output `[N, out, o…]` with
///   `o = (i − 1)·stride + 1 + dilation·(k − 1) − pad_before − pad_after + outpad`;
///   with `Padding::Same` and dilation 1, `o = i · stride`.
///
/// ```
/// use lux_core::*;
/// use lux_layers::ConvTranspose;
/// use lux_ops::Padding;
/// let layer = ConvTranspose::builder(&[3, 3], 2, 4).groups(2).padding(Padding::Same).build()?;
/// assert_eq!(layer.describe(), "ConvTranspose((3, 3), 2 => 4, pad=1, groups=2)");
/// let (ps, st) = setup(&mut RngState::seed_from_u64(0), &layer)?;
/// assert_eq!(ps.tensor("weight")?.shape(), &[2, 2, 3, 3]);
/// let x = Tensor::randn(&mut RngState::seed_from_u64(1), &[3, 2, 10, 10], DType::F32)?;
/// let (y, _) = apply_tensor(&layer, &x, &ps, &st)?;
/// assert_eq!(y.shape(), &[3, 4, 10, 10]);
/// // stride 2 doubles the size
/// let up = ConvTranspose::builder(&[4, 4], 2, 1).stride(&[2]).pad(&[1]).build()?;
/// let (ps, st) = setup(&mut RngState::seed_from_u64(0), &up)?;
/// assert_eq!(apply_tensor(&up, &x, &ps, &st)?.0.shape(), &[3, 1, 20, 20]);
/// # Ok::<(), lux_core::LuxError>(())
/// ```
#[derive(Clone, Debug)]
pub struct ConvTranspose {
    opts: Options,
    geom: Geometry,
    outpad: Vec<usize>,
}

/// The options of a [`ConvTranspose`] (from [`ConvTranspose::builder`]).
#[derive(Clone, Debug)]
pub struct ConvTransposeBuilder(Options);

builder_methods!(ConvTransposeBuilder, "ConvTranspose");

impl ConvTransposeBuilder {
    /// The output padding, one value or one per spatial dim (default 0):
    /// added to the output size (to invert a strided `Conv` whose input
    /// size was not a multiple of the stride); must be smaller than the
    /// stride.
    ///
    /// ```
    /// use lux_core::Layer;
    /// let l = lux_layers::ConvTranspose::builder(&[3, 5], 3, 6).stride(&[3]).output_padding(&[1, 0]).build()?;
    /// assert_eq!(l.describe(), "ConvTranspose((3, 5), 3 => 6, stride=3, outpad=(1, 0))");
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn output_padding(mut self, outpad: &[usize]) -> Self {
        self.0.output_padding = outpad.to_vec();
        self
    }

    /// The layer.
    ///
    /// ```
    /// use lux_layers::ConvTranspose;
    /// assert!(ConvTranspose::builder(&[3], 2, 3).groups(2).build().is_err());
    /// assert!(ConvTranspose::builder(&[3], 2, 2).stride(&[2]).output_padding(&[2]).build().is_err());
    /// ```
    ///
    /// # Errors
    /// As for [`ConvBuilder::build`]; an output padding not smaller than
    /// the stride, or with a wrong number of entries;
    /// `Same` padding with a kernel smaller than the stride.
    pub fn build(self) -> Result<ConvTranspose> {
        let geom = self.0.geometry("ConvTranspose", true)?;
        let d = geom.kernel.len();
        let op = &self.0.output_padding;
        let outpad = match op.len() {
            0 => vec![0; d],
            1 => vec![op[0]; d],
            n if n == d => op.clone(),
            n => {
                return Err(LuxError::invalid_argument(
                    &format!("ConvTranspose({}, {} => {})", julia_tuple(&geom.kernel), geom.in_chs, geom.out_chs),
                    format!("outpad has {n} entries, expected 1 or {d} (one per spatial dim)"),
                ));
            }
        };
        if (0..d).any(|i| outpad[i] >= geom.stride[i]) {
            return Err(LuxError::invalid_argument(
                &format!("ConvTranspose({}, {} => {})", julia_tuple(&geom.kernel), geom.in_chs, geom.out_chs),
                format!("outpad {outpad:?} must be smaller than the stride {:?}", geom.stride),
            ));
        }
        Ok(ConvTranspose { opts: self.0, geom, outpad })
    }
}

impl ConvTranspose {
    /// `ConvTranspose(k, in => out, activation)` with Lux's defaults.
    ///
    /// ```
    /// use lux_core::Layer;
    /// use lux_ops::Activation;
    /// let l = lux_layers::ConvTranspose::new(&[3, 5], 4, 4, Activation::Tanh)?;
    /// assert_eq!(l.describe(), "ConvTranspose((3, 5), 4 => 4, tanh)");
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// As for [`ConvTransposeBuilder::build`].
    pub fn new(kernel: &[usize], in_chs: usize, out_chs: usize, activation: Activation) -> Result<ConvTranspose> {
        Self::builder(kernel, in_chs, out_chs).activation(activation).build()
    }

    /// The options of `ConvTranspose(k, in => out)`.
    ///
    /// ```
    /// use lux_core::Layer;
    /// let l = lux_layers::ConvTranspose::builder(&[3, 3], 2, 4).groups(2).cross_correlation(true).build()?;
    /// assert_eq!(l.describe(), "ConvTranspose((3, 3), 2 => 4, groups=2, cross_correlation=true)");
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn builder(kernel: &[usize], in_chs: usize, out_chs: usize) -> ConvTransposeBuilder {
        ConvTransposeBuilder(Options::new(kernel, in_chs, out_chs))
    }

    /// The shape of the weight, `[in, out/groups, k…]`.
    ///
    /// ```
    /// assert_eq!(lux_layers::ConvTranspose::builder(&[3], 2, 4).groups(2).build()?.weight_shape(), vec![2, 2, 3]);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn weight_shape(&self) -> Vec<usize> {
        let g = &self.geom;
        let mut s = vec![g.in_chs, g.out_chs / g.groups];
        s.extend(&g.kernel);
        s
    }

    /// The resolved padding, `(before, after)` per spatial dim.
    ///
    /// ```
    /// use lux_ops::Padding;
    /// let l = lux_layers::ConvTranspose::builder(&[3], 2, 1).stride(&[2]).padding(Padding::Same).build()?;
    /// assert_eq!(l.padding(), &[(1, 0)]); // the padding of a k − stride + 1 = 2 kernel
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn padding(&self) -> &[(usize, usize)] {
        &self.geom.pad
    }
}

impl Layer for ConvTranspose {
    fn init_params(&self, rng: &mut dyn Rng) -> Result<Tree> {
        let shape = self.weight_shape();
        let init = self.opts.init_weight.clone().unwrap_or_else(Init::glorot_uniform);
        let ps = Tree::new().with("weight", init.init(rng, &shape, DType::F32)?)?;
        if !self.opts.use_bias {
            return Ok(ps);
        }
        let init = self.opts.init_bias.clone().unwrap_or_else(Init::zeros);
        ps.with("bias", init.init(rng, &[self.geom.out_chs], DType::F32)?)
    }

    fn param_shapes(&self) -> Option<Vec<Vec<usize>>> {
        let mut s = vec![self.weight_shape()];
        if self.opts.use_bias {
            s.push(vec![self.geom.out_chs]);
        }
        Some(s)
    }

    fn state_shapes(&self) -> Option<Vec<Vec<usize>>> {
        Some(vec![])
    }

    fn forward(&self, x: &Tree, ps: &Tree, st: &Tree) -> Result<(Tree, Tree)> {
        let describe = || self.describe();
        let w = param(ps, "weight", &self.weight_shape(), &describe)?;
        let b = if self.opts.use_bias { Some(param(ps, "bias", &[self.geom.out_chs], &describe)?) } else { None };
        let x = match_eltype(self, ps, st, x)?;
        let x = conv_input(&x, &self.geom, &describe)?;
        let opts = self.opts.conv_options(&self.geom);
        let y = conv_transpose(x, w, b, &opts, &self.outpad).map_err(|e| in_layer(e, describe))?;
        Ok((self.opts.activation.apply(&y)?.into(), st.clone()))
    }

    fn describe(&self) -> String {
        describe_common("ConvTranspose", &self.opts, &self.geom, Some(&self.outpad))
    }
}
