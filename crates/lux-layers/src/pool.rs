//! Pooling layers (Lux's `src/layers/pooling.jl`): windowed [`MaxPool`],
//! [`MeanPool`], [`LPPool`]; global [`GlobalMaxPool`], [`GlobalMeanPool`],
//! [`GlobalLPPool`]; adaptive [`AdaptiveMaxPool`], [`AdaptiveMeanPool`],
//! [`AdaptiveLPPool`].
//!
//! Inputs are `[N, C, spatial…]` (NCL, NCHW, NCDHW: Lux's `(…, C, N)` seen
//! transposed); window sizes, strides, paddings and output sizes are in
//! this axis order. None of the layers has parameters or state. The
//! semantics are those of [`lux_ops::pool`]: the stride defaults to the
//! window; max pooling ignores padding, mean pooling counts padded zeros
//! in its divisor (NNlib), Lp pooling computes `(Σ x^p)^(1/p)` (NNlib's
//! `lpnormpool`, `p = 2` by default); global pools keep the spatial dims as
//! size 1; adaptive pools use Lux's windows (`stride = in ÷ out`,
//! `window = in − (out − 1)·stride`). `Padding::Same` is resolved when the
//! layer is built (Lux's `SamePad()`), so it prints as numbers.
//!
//! Printing follows Lux, including its quirk for a global Lp pool with
//! `p ≠ 2`: `GlobalLPPool(, p=3)`.

use crate::conv::{spatial_input, tuple_string};
use crate::util::float_input;
use crate::util::{in_layer, julia_tuple};
use lux_core::{Layer, LuxError, Result, Tensor, Tree};
use lux_ops::conv::Padding;
use lux_ops::pool::{
    PoolOptions, adaptive_lp_pool, adaptive_max_pool, adaptive_mean_pool, global_lp_pool, global_max_pool,
    global_mean_pool, lp_pool, max_pool, mean_pool,
};

/// A number as Julia prints the `p` a user passes (`3`, `2.5`).
fn julia_number(p: f64) -> String {
    if p.fract() == 0.0 && p.abs() < 1e15 { format!("{}", p as i64) } else { format!("{p}") }
}

/// Checks a norm exponent.
fn check_p(name: &str, p: f64) -> Result<()> {
    if p.is_finite() && p > 0.0 {
        Ok(())
    } else {
        Err(LuxError::invalid_argument(name, format!("the norm exponent p must be a positive finite number, got {p}")))
    }
}

/// The resolved window of a windowed pool.
#[derive(Clone, Debug, PartialEq)]
struct PoolWindow {
    window: Vec<usize>,
    stride: Vec<usize>,
    pad: Vec<(usize, usize)>,
    dilation: Vec<usize>,
}

impl PoolWindow {
    fn resolve(name: &str, window: &[usize], stride: &[usize], padding: &Padding, dilation: &[usize]) -> Result<Self> {
        let d = window.len();
        let ctx = || format!("{name}({})", julia_tuple(window));
        if d == 0 || window.contains(&0) {
            return Err(LuxError::invalid_argument(
                &ctx(),
                format!("the window {window:?} must be non-empty with positive entries"),
            ));
        }
        let expand = |what: &str, v: &[usize], default: &[usize]| -> Result<Vec<usize>> {
            match v.len() {
                0 => Ok(default.to_vec()),
                1 => Ok(vec![v[0]; d]),
                n if n == d => Ok(v.to_vec()),
                n => Err(LuxError::invalid_argument(
                    &ctx(),
                    format!("{what} has {n} entries, expected 1 or {d} (one per spatial dim)"),
                )),
            }
        };
        let stride = expand("stride", stride, window)?;
        let dilation = expand("dilation", dilation, &vec![1; d])?;
        if stride.contains(&0) || dilation.contains(&0) {
            return Err(LuxError::invalid_argument(
                &ctx(),
                format!("stride {stride:?} and dilation {dilation:?} must be positive"),
            ));
        }
        let pad = match padding {
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
            Padding::Same => (0..d)
                .map(|i| {
                    let total = dilation[i] * (window[i] - 1);
                    (total.div_ceil(2), total / 2)
                })
                .collect(),
        };
        Ok(PoolWindow { window: window.to_vec(), stride, pad, dilation })
    }

    fn options(&self) -> PoolOptions {
        PoolOptions::new().stride(&self.stride).padding(Padding::Explicit(self.pad.clone())).dilation(&self.dilation)
    }

    fn describe(&self, name: &str, p: Option<f64>) -> String {
        let mut s = format!("{name}({}", julia_tuple(&self.window));
        if self.pad.iter().any(|&(b, a)| b != 0 || a != 0) {
            let flat: Vec<usize> = self.pad.iter().flat_map(|&(b, a)| [b, a]).collect();
            s += &format!(", pad={}", tuple_string(&flat));
        }
        if self.stride != self.window {
            s += &format!(", stride={}", tuple_string(&self.stride));
        }
        if self.dilation.iter().any(|&v| v != 1) {
            s += &format!(", dilation={}", tuple_string(&self.dilation));
        }
        if let Some(p) = p.filter(|&p| p != 2.0) {
            s += &format!(", p={}", julia_number(p));
        }
        s + ")"
    }
}

macro_rules! no_params {
    () => {
        fn param_shapes(&self) -> Option<Vec<Vec<usize>>> {
            Some(vec![])
        }
        fn state_shapes(&self) -> Option<Vec<Vec<usize>>> {
            Some(vec![])
        }
    };
}

macro_rules! windowed_pool {
    ($name:ident, $builder:ident, $lux:literal, $doc:literal, $example:literal) => {
        #[doc = $doc]
        ///
        /// * Parameters and state: none.
        /// * Input `[N, C, spatial…]` with `window.len()` spatial dims; output
        ///   `[N, C, o…]` with `o = (i + pad_before + pad_after − dilation·(w − 1) − 1) ÷ stride + 1`.
        ///
        /// ```
        /// use lux_core::*;
        /// use lux_layers::*;
        #[doc = $example]
        /// # Ok::<(), lux_core::LuxError>(())
        /// ```
        #[derive(Clone, Debug, PartialEq)]
        pub struct $name {
            win: PoolWindow,
            p: f64,
        }

        #[doc = concat!("The options of a [`", stringify!($name), "`] (from [`", stringify!($name), "::builder`]).")]
        #[derive(Clone, Debug, PartialEq)]
        pub struct $builder {
            window: Vec<usize>,
            stride: Vec<usize>,
            padding: Padding,
            dilation: Vec<usize>,
            p: f64,
        }

        impl $builder {
            #[doc = concat!("The stride, one value or one per spatial dim (default: the window).\n\n```\nuse lux_core::Layer;\nassert_eq!(lux_layers::", stringify!($name), "::builder(&[3, 3]).stride(&[1]).build()?.describe(), \"", $lux, "((3, 3), stride=1)\");\n# Ok::<(), lux_core::LuxError>(())\n```")]
            pub fn stride(mut self, stride: &[usize]) -> Self {
                self.stride = stride.to_vec();
                self
            }
            #[doc = concat!("The padding (default none); `Padding::Same` is Lux's `SamePad()`.\n\n```\nuse lux_core::Layer;\nuse lux_ops::Padding;\nassert_eq!(lux_layers::", stringify!($name), "::builder(&[5, 5]).padding(Padding::Same).build()?.describe(), \"", $lux, "((5, 5), pad=2)\");\n# Ok::<(), lux_core::LuxError>(())\n```")]
            pub fn padding(mut self, padding: Padding) -> Self {
                self.padding = padding;
                self
            }
            #[doc = concat!("Symmetric padding, one value or one per spatial dim.\n\n```\nuse lux_core::Layer;\nassert_eq!(lux_layers::", stringify!($name), "::builder(&[2]).pad(&[1]).build()?.describe(), \"", $lux, "((2,), pad=1)\");\n# Ok::<(), lux_core::LuxError>(())\n```")]
            pub fn pad(self, pad: &[usize]) -> Self {
                self.padding(Padding::symmetric(pad))
            }
            #[doc = concat!("The dilation, one value or one per spatial dim (default 1).\n\n```\nuse lux_core::Layer;\nassert_eq!(lux_layers::", stringify!($name), "::builder(&[2, 2]).dilation(&[2, 1]).build()?.describe(), \"", $lux, "((2, 2), dilation=(2, 1))\");\n# Ok::<(), lux_core::LuxError>(())\n```")]
            pub fn dilation(mut self, dilation: &[usize]) -> Self {
                self.dilation = dilation.to_vec();
                self
            }
            #[doc = concat!("The layer.\n\n```\nassert!(lux_layers::", stringify!($name), "::builder(&[2, 0]).build().is_err());\nassert!(lux_layers::", stringify!($name), "::builder(&[2, 2]).stride(&[1, 1, 1]).build().is_err());\n```\n\n# Errors\nAn empty window, a zero window size, stride or dilation, an option list whose length is neither 1 nor the number of spatial dims", if_lp!($lux, ", or `p` not a positive finite number"), ".")]
            pub fn build(self) -> Result<$name> {
                let win = PoolWindow::resolve($lux, &self.window, &self.stride, &self.padding, &self.dilation)?;
                check_p($lux, self.p)?;
                Ok($name { win, p: self.p })
            }
        }

        impl $name {
            #[doc = concat!("`", $lux, "(window)` with stride = window, no padding, dilation 1.\n\n```\nuse lux_core::Layer;\nassert_eq!(lux_layers::", stringify!($name), "::new(&[2, 2])?.describe(), \"", $lux, "((2, 2))\");\n# Ok::<(), lux_core::LuxError>(())\n```\n\n# Errors\nAs for the builder's `build`.")]
            pub fn new(window: &[usize]) -> Result<$name> {
                Self::builder(window).build()
            }
            #[doc = concat!("The options of `", $lux, "(window)`.\n\n```\nuse lux_core::Layer;\nlet l = lux_layers::", stringify!($name), "::builder(&[3]).stride(&[2]).build()?;\nassert_eq!(l.describe(), \"", $lux, "((3,), stride=2)\");\n# Ok::<(), lux_core::LuxError>(())\n```")]
            pub fn builder(window: &[usize]) -> $builder {
                $builder { window: window.to_vec(), stride: vec![], padding: Padding::default(), dilation: vec![], p: 2.0 }
            }
            #[doc = concat!("The resolved padding, `(before, after)` per spatial dim.\n\n```\nuse lux_ops::Padding;\nlet l = lux_layers::", stringify!($name), "::builder(&[4]).padding(Padding::Same).build()?;\nassert_eq!(l.padding(), &[(2, 1)]);\n# Ok::<(), lux_core::LuxError>(())\n```")]
            pub fn padding(&self) -> &[(usize, usize)] {
                &self.win.pad
            }
        }
    };
}

macro_rules! if_lp {
    ("LPPool", $s:literal) => {
        $s
    };
    ($other:literal, $s:literal) => {
        ""
    };
}

windowed_pool!(
    MaxPool,
    MaxPoolBuilder,
    "MaxPool",
    "Max pooling (Lux's `MaxPool(window; stride=window, pad=0, dilation=1)`): the maximum of each window; padding is ignored.",
    "let layer = MaxPool::new(&[2, 2])?;\nassert_eq!(layer.describe(), \"MaxPool((2, 2))\");\nlet (ps, st) = setup(&mut RngState::seed_from_u64(0), &layer)?;\nlet x = Tensor::from_vec((1..=16).map(|v| v as f32).collect(), &[1, 1, 4, 4])?;\nlet (y, _) = apply_tensor(&layer, &x, &ps, &st)?;\nassert_eq!(y.to_vec::<f32>()?, vec![6.0, 8.0, 14.0, 16.0]);"
);
windowed_pool!(
    MeanPool,
    MeanPoolBuilder,
    "MeanPool",
    "Mean pooling (Lux's `MeanPool(window; stride=window, pad=0, dilation=1)`): the mean of each window; padded zeros count in the divisor (NNlib).",
    "let layer = MeanPool::new(&[2])?;\nlet (ps, st) = setup(&mut RngState::seed_from_u64(0), &layer)?;\nlet x = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 5.0], &[1, 1, 4])?;\nassert_eq!(apply_tensor(&layer, &x, &ps, &st)?.0.to_vec::<f32>()?, vec![1.5, 4.0]);"
);
windowed_pool!(
    LPPool,
    LPPoolBuilder,
    "LPPool",
    "Lp-norm pooling (Lux's `LPPool(window; stride=window, pad=0, dilation=1, p=2)`): `(Σ_window x^p)^(1/p)` (NNlib's `lpnormpool`; the power of `x` itself, so a negative value with a non-integer `p` gives NaN).",
    "let layer = LPPool::builder(&[2]).p(3.0).build()?;\nassert_eq!(layer.describe(), \"LPPool((2,), p=3)\");\nlet (ps, st) = setup(&mut RngState::seed_from_u64(0), &layer)?;\nlet x = Tensor::from_vec(vec![1.0f64, 2.0], &[1, 1, 2])?;\nlet y = apply_tensor(&layer, &x, &ps, &st)?.0.to_vec::<f64>()?;\nassert!((y[0] - 9f64.cbrt()).abs() < 1e-12);"
);

impl LPPoolBuilder {
    /// The norm exponent (default 2).
    ///
    /// ```
    /// use lux_core::Layer;
    /// assert_eq!(lux_layers::LPPool::builder(&[2, 2]).p(2.5).build()?.describe(), "LPPool((2, 2), p=2.5)");
    /// assert!(lux_layers::LPPool::builder(&[2, 2]).p(0.0).build().is_err());
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn p(mut self, p: f64) -> Self {
        self.p = p;
        self
    }
}

macro_rules! windowed_layer {
    ($name:ident, $lux:literal, $p:expr, |$x:ident, $win:ident, $self_:ident| $call:expr) => {
        impl Layer for $name {
            no_params!();
            fn forward(&self, x: &Tree, _ps: &Tree, st: &Tree) -> Result<(Tree, Tree)> {
                let describe = || self.describe();
                let $x = spatial_input(x, self.win.window.len(), &describe)?;
                let $win = &self.win;
                let $self_ = self;
                let y: Result<Tensor> = $call;
                Ok((y.map_err(|e| in_layer(e, describe))?.into(), st.clone()))
            }
            fn describe(&self) -> String {
                let p: Option<f64> = $p(self);
                self.win.describe($lux, p)
            }
        }
    };
}

windowed_layer!(MaxPool, "MaxPool", |_: &MaxPool| None, |x, w, _l| max_pool(x, &w.window, &w.options()));
windowed_layer!(MeanPool, "MeanPool", |_: &MeanPool| None, |x, w, _l| mean_pool(x, &w.window, &w.options()));
windowed_layer!(LPPool, "LPPool", |l: &LPPool| Some(l.p), |x, w, l| lp_pool(x, l.p, &w.window, &w.options()));

// ----- global pools -----------------------------------------------------------------

/// The input of a global or adaptive pool: a float tensor of rank ≥ 3.
fn pool_input<'a>(x: &'a Tree, describe: &dyn Fn() -> String) -> Result<&'a Tensor> {
    let x = float_input(x, describe)?;
    if x.ndim() < 3 {
        return Err(LuxError::shape(
            &describe(),
            format!("input has shape {:?}, expected [N, C, spatial...] with at least one spatial dim", x.shape()),
        ));
    }
    Ok(x)
}

/// Global max pooling (Lux's `GlobalMaxPool()`): the maximum over all
/// spatial positions of each `[n, c]` plane, `[N, C, s…]` → `[N, C, 1…]`.
///
/// ```
/// use lux_core::*;
/// use lux_layers::*;
/// let layer = GlobalMaxPool;
/// assert_eq!(layer.describe(), "GlobalMaxPool()");
/// let (ps, st) = setup(&mut RngState::seed_from_u64(0), &layer)?;
/// let x = Tensor::from_vec(vec![1.0f32, 5.0, 2.0, -1.0], &[1, 1, 2, 2])?;
/// let (y, _) = apply_tensor(&layer, &x, &ps, &st)?;
/// assert_eq!((y.shape(), y.to_vec::<f32>()?), (&[1usize, 1, 1, 1][..], vec![5.0]));
/// # Ok::<(), lux_core::LuxError>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct GlobalMaxPool;

/// Global mean pooling (Lux's `GlobalMeanPool()`): the mean over all
/// spatial positions of each `[n, c]` plane, `[N, C, s…]` → `[N, C, 1…]`.
///
/// ```
/// use lux_core::*;
/// use lux_layers::*;
/// let (ps, st) = setup(&mut RngState::seed_from_u64(0), &GlobalMeanPool)?;
/// let x = Tensor::from_vec(vec![1.0f32, 5.0, 2.0, -4.0], &[1, 1, 4])?;
/// assert_eq!(apply_tensor(&GlobalMeanPool, &x, &ps, &st)?.0.to_vec::<f32>()?, vec![1.0]);
/// assert_eq!(GlobalMeanPool.describe(), "GlobalMeanPool()");
/// # Ok::<(), lux_core::LuxError>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct GlobalMeanPool;

/// Global Lp-norm pooling (Lux's `GlobalLPPool(; p=2)`): `(Σ x^p)^(1/p)`
/// over all spatial positions of each `[n, c]` plane.
///
/// ```
/// use lux_core::*;
/// use lux_layers::*;
/// let layer = GlobalLPPool::new(2.0)?;
/// assert_eq!(layer.describe(), "GlobalLPPool()");
/// assert_eq!(GlobalLPPool::new(3.0)?.describe(), "GlobalLPPool(, p=3)"); // Lux's own format
/// let (ps, st) = setup(&mut RngState::seed_from_u64(0), &layer)?;
/// let x = Tensor::from_vec(vec![3.0f64, 4.0], &[1, 1, 2])?;
/// assert!((apply_tensor(&layer, &x, &ps, &st)?.0.to_vec::<f64>()?[0] - 5.0).abs() < 1e-12);
/// # Ok::<(), lux_core::LuxError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GlobalLPPool {
    p: f64,
}

impl GlobalLPPool {
    /// `GlobalLPPool(; p)`.
    ///
    /// ```
    /// assert!(lux_layers::GlobalLPPool::new(f64::NAN).is_err());
    /// ```
    ///
    /// # Errors
    /// `p` not a positive finite number.
    pub fn new(p: f64) -> Result<GlobalLPPool> {
        check_p("GlobalLPPool", p)?;
        Ok(GlobalLPPool { p })
    }
}

impl Default for GlobalLPPool {
    fn default() -> Self {
        GlobalLPPool { p: 2.0 }
    }
}

impl Layer for GlobalMaxPool {
    no_params!();
    fn forward(&self, x: &Tree, _ps: &Tree, st: &Tree) -> Result<(Tree, Tree)> {
        let describe = || self.describe();
        let y = global_max_pool(pool_input(x, &describe)?).map_err(|e| in_layer(e, describe))?;
        Ok((y.into(), st.clone()))
    }
    fn describe(&self) -> String {
        "GlobalMaxPool()".into()
    }
}

impl Layer for GlobalMeanPool {
    no_params!();
    fn forward(&self, x: &Tree, _ps: &Tree, st: &Tree) -> Result<(Tree, Tree)> {
        let describe = || self.describe();
        let y = global_mean_pool(pool_input(x, &describe)?).map_err(|e| in_layer(e, describe))?;
        Ok((y.into(), st.clone()))
    }
    fn describe(&self) -> String {
        "GlobalMeanPool()".into()
    }
}

impl Layer for GlobalLPPool {
    no_params!();
    fn forward(&self, x: &Tree, _ps: &Tree, st: &Tree) -> Result<(Tree, Tree)> {
        let describe = || self.describe();
        let y = global_lp_pool(pool_input(x, &describe)?, self.p).map_err(|e| in_layer(e, describe))?;
        Ok((y.into(), st.clone()))
    }
    fn describe(&self) -> String {
        if self.p == 2.0 { "GlobalLPPool()".into() } else { format!("GlobalLPPool(, p={})", julia_number(self.p)) }
    }
}

// ----- adaptive pools ---------------------------------------------------------------

macro_rules! adaptive_pool {
    ($name:ident, $lux:literal, $doc:literal, $example:literal) => {
        #[doc = $doc]
        ///
        /// Per spatial dim, Lux's window: `stride = in ÷ out`, `window = in −
        /// (out − 1)·stride`, no padding. Parameters and state: none. Input
        /// `[N, C, spatial…]` with `out_size.len()` spatial dims, each at least
        /// as large as the output's; output `[N, C, out_size…]`.
        ///
        /// ```
        /// use lux_core::*;
        /// use lux_layers::*;
        #[doc = $example]
        /// # Ok::<(), lux_core::LuxError>(())
        /// ```
        #[derive(Clone, Debug, PartialEq)]
        pub struct $name {
            out_size: Vec<usize>,
            p: f64,
        }

        impl $name {
            /// The output size, in the input's axis order.
            ///
            /// ```
            #[doc = concat!("assert_eq!(lux_layers::", stringify!($name), "::new(&[5, 4])?.out_size(), &[5, 4]);")]
            /// # Ok::<(), lux_core::LuxError>(())
            /// ```
            pub fn out_size(&self) -> &[usize] {
                &self.out_size
            }
        }
    };
}

fn check_out_size(name: &str, out_size: &[usize]) -> Result<()> {
    if out_size.is_empty() || out_size.contains(&0) {
        return Err(LuxError::invalid_argument(
            &format!("{name}({})", julia_tuple(out_size)),
            format!("the output size {out_size:?} must be non-empty with positive entries"),
        ));
    }
    Ok(())
}

adaptive_pool!(
    AdaptiveMaxPool,
    "AdaptiveMaxPool",
    "Adaptive max pooling to a fixed spatial output size (Lux's `AdaptiveMaxPool(out)`).",
    "let layer = AdaptiveMaxPool::new(&[5, 5])?;\nassert_eq!(layer.describe(), \"AdaptiveMaxPool((5, 5))\");\nlet (ps, st) = setup(&mut RngState::seed_from_u64(0), &layer)?;\nlet x = Tensor::zeros(&[2, 3, 10, 10], DType::F32)?;\nassert_eq!(apply_tensor(&layer, &x, &ps, &st)?.0.shape(), &[2, 3, 5, 5]);"
);
adaptive_pool!(
    AdaptiveMeanPool,
    "AdaptiveMeanPool",
    "Adaptive mean pooling to a fixed spatial output size (Lux's `AdaptiveMeanPool(out)`).",
    "let layer = AdaptiveMeanPool::new(&[2])?;\nlet (ps, st) = setup(&mut RngState::seed_from_u64(0), &layer)?;\nlet x = Tensor::from_vec(vec![1.0f32, 3.0, 5.0, 7.0], &[1, 1, 4])?;\nassert_eq!(apply_tensor(&layer, &x, &ps, &st)?.0.to_vec::<f32>()?, vec![2.0, 6.0]);"
);
adaptive_pool!(
    AdaptiveLPPool,
    "AdaptiveLPPool",
    "Adaptive Lp-norm pooling to a fixed spatial output size (Lux's `AdaptiveLPPool(out; p=2)`).",
    "let layer = AdaptiveLPPool::with_p(&[1], 3.0)?;\nassert_eq!(layer.describe(), \"AdaptiveLPPool((1,), p=3)\");\nlet (ps, st) = setup(&mut RngState::seed_from_u64(0), &layer)?;\nlet x = Tensor::from_vec(vec![1.0f64, 2.0], &[1, 1, 2])?;\nassert!((apply_tensor(&layer, &x, &ps, &st)?.0.to_vec::<f64>()?[0] - 9f64.cbrt()).abs() < 1e-12);"
);

impl AdaptiveMaxPool {
    /// `AdaptiveMaxPool(out_size)`.
    ///
    /// ```
    /// assert!(lux_layers::AdaptiveMaxPool::new(&[0]).is_err());
    /// ```
    ///
    /// # Errors
    /// An empty output size or a zero entry.
    pub fn new(out_size: &[usize]) -> Result<Self> {
        check_out_size("AdaptiveMaxPool", out_size)?;
        Ok(AdaptiveMaxPool { out_size: out_size.to_vec(), p: 2.0 })
    }
}

impl AdaptiveMeanPool {
    /// `AdaptiveMeanPool(out_size)`.
    ///
    /// ```
    /// assert!(lux_layers::AdaptiveMeanPool::new(&[]).is_err());
    /// ```
    ///
    /// # Errors
    /// An empty output size or a zero entry.
    pub fn new(out_size: &[usize]) -> Result<Self> {
        check_out_size("AdaptiveMeanPool", out_size)?;
        Ok(AdaptiveMeanPool { out_size: out_size.to_vec(), p: 2.0 })
    }
}

impl AdaptiveLPPool {
    /// `AdaptiveLPPool(out_size)` with `p = 2`.
    ///
    /// ```
    /// use lux_core::Layer;
    /// assert_eq!(lux_layers::AdaptiveLPPool::new(&[5, 5])?.describe(), "AdaptiveLPPool((5, 5))");
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// An empty output size or a zero entry.
    pub fn new(out_size: &[usize]) -> Result<Self> {
        Self::with_p(out_size, 2.0)
    }

    /// `AdaptiveLPPool(out_size; p)`.
    ///
    /// ```
    /// assert!(lux_layers::AdaptiveLPPool::with_p(&[2], -1.0).is_err());
    /// ```
    ///
    /// # Errors
    /// As [`new`](Self::new); `p` not a positive finite number.
    pub fn with_p(out_size: &[usize], p: f64) -> Result<Self> {
        check_out_size("AdaptiveLPPool", out_size)?;
        check_p("AdaptiveLPPool", p)?;
        Ok(AdaptiveLPPool { out_size: out_size.to_vec(), p })
    }
}

macro_rules! adaptive_layer {
    ($name:ident, $lux:literal, $lp:expr, |$x:ident, $self_:ident| $call:expr) => {
        impl Layer for $name {
            no_params!();
            fn forward(&self, x: &Tree, _ps: &Tree, st: &Tree) -> Result<(Tree, Tree)> {
                let describe = || self.describe();
                let $x = spatial_input(x, self.out_size.len(), &describe)?;
                let $self_ = self;
                let y: Result<Tensor> = $call;
                Ok((y.map_err(|e| in_layer(e, describe))?.into(), st.clone()))
            }
            fn describe(&self) -> String {
                let mut s = format!("{}({}", $lux, julia_tuple(&self.out_size));
                if $lp && self.p != 2.0 {
                    s += &format!(", p={}", julia_number(self.p));
                }
                s + ")"
            }
        }
    };
}

adaptive_layer!(AdaptiveMaxPool, "AdaptiveMaxPool", false, |x, l| adaptive_max_pool(x, &l.out_size));
adaptive_layer!(AdaptiveMeanPool, "AdaptiveMeanPool", false, |x, l| adaptive_mean_pool(x, &l.out_size));
adaptive_layer!(AdaptiveLPPool, "AdaptiveLPPool", true, |x, l| adaptive_lp_pool(x, l.p, &l.out_size));
