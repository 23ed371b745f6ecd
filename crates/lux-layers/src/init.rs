//! Weight initialisers (Lux's WeightInitializers), with an explicit rng.
//!
//! An [`Init`] is a cloneable value describing how to fill a parameter
//! tensor: layers store one for each parameter (`init_weight`,
//! `init_bias`, …) and call [`Init::init`] at setup with the rng, the shape
//! and the dtype. Each initialiser also exists as a free function in Lux's
//! form (`init::glorot_uniform(rng, &shape, dtype)`).
//!
//! **Fans.** Shapes are lux-rs's row-major layouts: a Dense weight is
//! `[out, in]` and a convolution kernel `[out, in, k…]`, so a shape
//! `[out, in, k…]` has `fan_in = in·∏k` and `fan_out = out·∏k` (the same
//! numbers Lux computes for its `(out, in)` / `(k…, in, out)` arrays). A
//! 1-d shape `[n]` is treated as Lux treats a vector (an `n × 1` matrix:
//! `fan_in = 1`, `fan_out = n`), a 0-d shape has both fans 1. See
//! [`fans`].
//!
//! **Sampling.** Values are drawn in f64 from the rng, one draw per element
//! in row-major order, and rounded once to the requested dtype (f16, bf16,
//! f32 or f64; [`Init::zeros`] and [`Init::ones`] accept every dtype). The
//! same rng state gives the same tensor; Julia's random streams cannot be
//! reproduced, so values differ from Lux's while the distributions agree.
//!
//! **Errors.** Invalid options (a NaN or non-positive gain or std, a
//! sparsity outside `[0, 1)`, `lo ≥ hi`, …) are an `Err` from the setter
//! that sets them ([`Init::with_gain`], …) and from [`Init::init`]; so is
//! a shape the initialiser cannot fill (orthogonal of a 1-d shape, sparse of
//! a shape that is not 2-d, identity of a 0-d shape) and an integer dtype
//! for a random initialiser.
//!
//! ```
//! use lux_core::DType;
//! use lux_layers::init::Init;
//! use rand::SeedableRng;
//! let mut rng = rand::rngs::StdRng::seed_from_u64(0);
//! let init = Init::glorot_uniform().with_gain(2.0)?;
//! assert_eq!(init.to_string(), "glorot_uniform(gain=2)");
//! let w = init.init(&mut rng, &[16, 4], DType::F32)?;
//! let bound = 2.0 * (6.0f64 / (4.0 + 16.0)).sqrt();
//! assert!(w.to_vec::<f32>()?.iter().all(|&v| (v as f64).abs() <= bound));
//! assert!(Init::orthogonal().init(&mut rng, &[3], DType::F32).is_err());
//! # Ok::<(), lux_core::LuxError>(())
//! ```

use lux_core::{DType, LuxError, Result, Tensor};
use lux_ops::Activation;
use rand::Rng;
use rand::seq::SliceRandom;
use std::fmt;
use std::sync::Arc;

/// The signature of a custom initialiser (see [`Init::custom`]).
pub type InitFn = dyn Fn(&mut dyn Rng, &[usize], DType) -> Result<Tensor> + Send + Sync;

/// A weight initialiser: how to fill a parameter tensor of a given shape
/// and dtype from an rng (Lux's WeightInitializers, one value per
/// initialiser with its options).
///
/// `Display` (and `Debug`) print it with its options as Lux's keyword
/// arguments, e.g. `glorot_uniform(gain=1)`,
/// `truncated_normal(mean=0, std=1, lo=-2, hi=2)`. Two inits are equal when
/// they are the same initialiser with the same options (custom ones when
/// they share the same closure).
///
/// ```
/// use lux_core::DType;
/// use lux_layers::init::Init;
/// use rand::SeedableRng;
/// let mut rng = rand::rngs::StdRng::seed_from_u64(1);
/// let w = Init::kaiming_normal().init(&mut rng, &[256, 784], DType::F64)?.to_vec::<f64>()?;
/// let var = w.iter().map(|v| v * v).sum::<f64>() / w.len() as f64;
/// assert!((var - 2.0 / 784.0).abs() < 0.05 * 2.0 / 784.0); // gain √2: var = 2 / fan_in
/// let b = Init::uniform(-0.5, 0.5).init(&mut rng, &[3], DType::F32)?;
/// assert_eq!(b.shape(), &[3]);
/// assert!(Init::normal(0.0, -1.0).init(&mut rng, &[3], DType::F32).is_err());
/// # Ok::<(), lux_core::LuxError>(())
/// ```
#[derive(Clone)]
pub struct Init {
    kind: Kind,
}

#[derive(Clone)]
enum Kind {
    GlorotUniform { gain: f64 },
    GlorotNormal { gain: f64 },
    KaimingUniform { gain: f64 },
    KaimingNormal { gain: f64 },
    TruncatedNormal { mean: f64, std: f64, lo: f64, hi: f64 },
    Orthogonal { gain: f64 },
    Sparse { sparsity: f64, std: f64 },
    Identity { gain: f64, shift: i64 },
    Zeros,
    Ones,
    Uniform { lo: f64, hi: f64 },
    Normal { mean: f64, std: f64 },
    Custom { name: Arc<str>, f: Arc<InitFn> },
}

/// `(fan_in, fan_out)` of a parameter shape, by Lux's rule translated to
/// lux-rs's layouts: `[out, in, k…]` → `(in·∏k, out·∏k)`, `[out, in]` →
/// `(in, out)`, `[n]` → `(1, n)`, `[]` → `(1, 1)`. Products saturate
/// instead of overflowing (such a shape has too many elements anyway).
///
/// ```
/// use lux_layers::init::fans;
/// assert_eq!(fans(&[256, 784]), (784, 256));
/// assert_eq!(fans(&[8, 3, 5, 5]), (75, 200)); // Conv((5, 5), 3 => 8)
/// assert_eq!(fans(&[10]), (1, 10));
/// assert_eq!(fans(&[]), (1, 1));
/// ```
pub fn fans(shape: &[usize]) -> (usize, usize) {
    match shape {
        [] => (1, 1),
        [n] => (1, *n),
        [out, inp, rest @ ..] => {
            let k = rest.iter().fold(1usize, |acc, &d| acc.saturating_mul(d));
            (inp.saturating_mul(k), out.saturating_mul(k))
        }
    }
}

/// The gain Lux 1.x uses for the default (PyTorch-style) weight of `Dense`
/// and `Conv` with this activation: `Utils.calculate_gain(σ, √5)`. That is
/// 1 for identity, sigmoid and every activation without a rule, 2 for relu
/// (Lux's value; PyTorch's is √2), 5/3 for tanh, 3/4 for selu and
/// `√(2/(1 + 5)) = 1/√3` for leakyrelu (Lux passes √5 as the slope,
/// whatever the layer's slope is). The default weight is then
/// [`Init::kaiming_uniform`] with this gain, i.e. uniform in
/// `±gain·√(3/fan_in)`.
///
/// ```
/// use lux_layers::init::calculate_gain;
/// use lux_ops::Activation;
/// assert_eq!(calculate_gain(Activation::Identity), 1.0);
/// assert_eq!(calculate_gain(Activation::Relu), 2.0);
/// assert_eq!(calculate_gain(Activation::Tanh), 5.0 / 3.0);
/// assert_eq!(calculate_gain(Activation::Gelu), 1.0);
/// ```
pub fn calculate_gain(activation: Activation) -> f64 {
    match activation {
        Activation::Relu => 2.0,
        Activation::Tanh => 5.0 / 3.0,
        Activation::Selu => 3.0 / 4.0,
        Activation::LeakyRelu(_) => (2.0f64 / (1.0 + 5.0)).sqrt(),
        _ => 1.0,
    }
}

impl Init {
    /// Glorot (Xavier) uniform: `U(−a, a)` with
    /// `a = gain·√(6/(fan_in + fan_out))`; `gain = 1`.
    pub fn glorot_uniform() -> Init {
        Init { kind: Kind::GlorotUniform { gain: 1.0 } }
    }

    /// Glorot (Xavier) normal: `N(0, σ²)` with
    /// `σ = gain·√(2/(fan_in + fan_out))`; `gain = 1`.
    pub fn glorot_normal() -> Init {
        Init { kind: Kind::GlorotNormal { gain: 1.0 } }
    }

    /// Kaiming (He) uniform: `U(−b, b)` with `b = gain·√(3/fan_in)`;
    /// `gain = √2`.
    pub fn kaiming_uniform() -> Init {
        Init { kind: Kind::KaimingUniform { gain: std::f64::consts::SQRT_2 } }
    }

    /// Kaiming (He) normal: `N(0, σ²)` with `σ = gain/√fan_in`;
    /// `gain = √2`.
    pub fn kaiming_normal() -> Init {
        Init { kind: Kind::KaimingNormal { gain: std::f64::consts::SQRT_2 } }
    }

    /// The normal `N(mean, std²)` truncated to `[lo, hi]`, sampled by the
    /// inverse CDF as Lux does (`mean = 0`, `std = 1`, `lo = −2`,
    /// `hi = 2`; set them with [`with_mean`](Init::with_mean),
    /// [`with_std`](Init::with_std) and [`with_bounds`](Init::with_bounds)).
    /// The bounds must be finite, and `[lo, hi]` must carry a probability
    /// that f64 can resolve (an interval 40 standard deviations out is an
    /// `Err`, where Lux warns and returns the bound).
    pub fn truncated_normal() -> Init {
        Init { kind: Kind::TruncatedNormal { mean: 0.0, std: 1.0, lo: -2.0, hi: 2.0 } }
    }

    /// A (semi-)orthogonal matrix times `gain` (`gain = 1`; Saxe et al.
    /// 2014): the shape `[rows, rest…]` is filled as a `rows × ∏rest`
    /// matrix whose rows (when `rows ≤ ∏rest`) or columns (otherwise) are
    /// orthonormal, from the QR decomposition (in f64) of a standard-normal
    /// matrix with the signs of `R`'s diagonal moved into `Q`. A 0-d or
    /// 1-d shape is an `Err`.
    pub fn orthogonal() -> Init {
        Init { kind: Kind::Orthogonal { gain: 1.0 } }
    }

    /// Lux's `sparse_init` (Martens 2010) for a 2-d shape `[rows, cols]`:
    /// `N(0, std²)` entries (`std = 0.01`), of which exactly
    /// `⌈sparsity·rows⌉` in every column are zero, at positions shuffled
    /// per column. `sparsity` must be in `[0, 1)`.
    pub fn sparse(sparsity: f64) -> Init {
        Init { kind: Kind::Sparse { sparsity, std: 0.01 } }
    }

    /// An identity mapping times `gain` (`gain = 1`, `shift = 0`), as Lux's
    /// `identity_init`: a 1-d shape gives zeros (a bias); `[rows, cols]`
    /// gives `gain` at `[(i + shift) mod rows, i]` for
    /// `i < min(rows, cols)` (Lux's `circshift` along the first axis); a
    /// kernel `[out, in, k…]` gives `gain` at
    /// `[(i + shift) mod out, (i + shift) mod in, c…]` with `c` the centre
    /// of each spatial axis (`(k − 1) / 2`), zeros elsewhere. A 0-d shape is
    /// an `Err`.
    pub fn identity() -> Init {
        Init { kind: Kind::Identity { gain: 1.0, shift: 0 } }
    }

    /// All zeros (any dtype).
    pub fn zeros() -> Init {
        Init { kind: Kind::Zeros }
    }

    /// All ones (any dtype).
    pub fn ones() -> Init {
        Init { kind: Kind::Ones }
    }

    /// Uniform in `[lo, hi)`; `lo < hi`, both finite.
    pub fn uniform(lo: f64, hi: f64) -> Init {
        Init { kind: Kind::Uniform { lo, hi } }
    }

    /// Normal `N(mean, std²)`; `mean` finite, `std ≥ 0` finite.
    pub fn normal(mean: f64, std: f64) -> Init {
        Init { kind: Kind::Normal { mean, std } }
    }

    /// A user's initialiser, printed as `name`. [`init`](Init::init)
    /// checks that `f` returns a tensor of the requested shape and dtype.
    ///
    /// ```
    /// use lux_core::{DType, Tensor};
    /// use lux_layers::init::Init;
    /// use rand::SeedableRng;
    /// let halves = Init::custom("halves", |_rng, shape, dtype| Tensor::full(shape, 0.5, dtype));
    /// assert_eq!(halves.to_string(), "halves");
    /// let mut rng = rand::rngs::StdRng::seed_from_u64(0);
    /// assert_eq!(halves.init(&mut rng, &[2], DType::F64)?.to_vec::<f64>()?, vec![0.5, 0.5]);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn custom(
        name: &str,
        f: impl Fn(&mut dyn Rng, &[usize], DType) -> Result<Tensor> + Send + Sync + 'static,
    ) -> Init {
        Init { kind: Kind::Custom { name: name.into(), f: Arc::new(f) } }
    }

    /// Lux's name of the initialiser (`glorot_uniform`, `sparse_init`,
    /// `identity_init`, …; a custom one's own name).
    ///
    /// ```
    /// assert_eq!(lux_layers::init::Init::sparse(0.1).name(), "sparse_init");
    /// ```
    pub fn name(&self) -> &str {
        match &self.kind {
            Kind::GlorotUniform { .. } => "glorot_uniform",
            Kind::GlorotNormal { .. } => "glorot_normal",
            Kind::KaimingUniform { .. } => "kaiming_uniform",
            Kind::KaimingNormal { .. } => "kaiming_normal",
            Kind::TruncatedNormal { .. } => "truncated_normal",
            Kind::Orthogonal { .. } => "orthogonal",
            Kind::Sparse { .. } => "sparse_init",
            Kind::Identity { .. } => "identity_init",
            Kind::Zeros => "zeros",
            Kind::Ones => "ones",
            Kind::Uniform { .. } => "uniform",
            Kind::Normal { .. } => "normal",
            Kind::Custom { name, .. } => name,
        }
    }

    /// The same initialiser with another `gain` (glorot, kaiming,
    /// orthogonal, identity).
    ///
    /// ```
    /// use lux_layers::init::Init;
    /// assert_eq!(Init::kaiming_uniform().with_gain(1.0)?.to_string(), "kaiming_uniform(gain=1)");
    /// assert!(Init::kaiming_uniform().with_gain(f64::NAN).is_err());
    /// assert!(Init::zeros().with_gain(2.0).is_err()); // zeros has no gain
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// The initialiser has no gain, or `gain` is invalid for it (glorot and
    /// kaiming need a finite positive gain, orthogonal and identity a
    /// finite one).
    pub fn with_gain(mut self, gain: f64) -> Result<Init> {
        match &mut self.kind {
            Kind::GlorotUniform { gain: g }
            | Kind::GlorotNormal { gain: g }
            | Kind::KaimingUniform { gain: g }
            | Kind::KaimingNormal { gain: g }
            | Kind::Orthogonal { gain: g }
            | Kind::Identity { gain: g, .. } => *g = gain,
            _ => return Err(self.no_option("gain")),
        }
        self.validate()?;
        Ok(self)
    }

    /// The same initialiser with another standard deviation
    /// (truncated_normal, sparse_init, normal).
    ///
    /// # Errors
    /// The initialiser has no std, or `std` is not finite, negative, or 0
    /// for truncated_normal.
    pub fn with_std(mut self, std: f64) -> Result<Init> {
        match &mut self.kind {
            Kind::TruncatedNormal { std: s, .. } | Kind::Sparse { std: s, .. } | Kind::Normal { std: s, .. } => {
                *s = std
            }
            _ => return Err(self.no_option("std")),
        }
        self.validate()?;
        Ok(self)
    }

    /// The same initialiser with another mean (truncated_normal, normal).
    ///
    /// # Errors
    /// The initialiser has no mean, or `mean` is not finite.
    pub fn with_mean(mut self, mean: f64) -> Result<Init> {
        match &mut self.kind {
            Kind::TruncatedNormal { mean: m, .. } | Kind::Normal { mean: m, .. } => *m = mean,
            _ => return Err(self.no_option("mean")),
        }
        self.validate()?;
        Ok(self)
    }

    /// The same initialiser with other bounds (truncated_normal's `lo`,
    /// `hi`; uniform's `[lo, hi)`).
    ///
    /// ```
    /// use lux_layers::init::Init;
    /// let t = Init::truncated_normal().with_bounds(-1.0, 3.0)?.with_std(0.5)?;
    /// assert_eq!(t.to_string(), "truncated_normal(mean=0, std=0.5, lo=-1, hi=3)");
    /// assert!(t.with_bounds(1.0, 1.0).is_err());
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// The initialiser has no bounds, or not `lo < hi` with both finite.
    pub fn with_bounds(mut self, lo: f64, hi: f64) -> Result<Init> {
        match &mut self.kind {
            Kind::TruncatedNormal { lo: l, hi: h, .. } | Kind::Uniform { lo: l, hi: h } => {
                *l = lo;
                *h = hi;
            }
            _ => return Err(self.no_option("lo/hi")),
        }
        self.validate()?;
        Ok(self)
    }

    /// The same initialiser with another circular `shift` (identity).
    ///
    /// # Errors
    /// The initialiser is not identity.
    pub fn with_shift(mut self, shift: i64) -> Result<Init> {
        match &mut self.kind {
            Kind::Identity { shift: s, .. } => *s = shift,
            _ => return Err(self.no_option("shift")),
        }
        Ok(self)
    }

    /// The same initialiser with another sparsity (sparse_init).
    ///
    /// # Errors
    /// The initialiser is not sparse_init, or `sparsity` is outside `[0, 1)`.
    pub fn with_sparsity(mut self, sparsity: f64) -> Result<Init> {
        match &mut self.kind {
            Kind::Sparse { sparsity: s, .. } => *s = sparsity,
            _ => return Err(self.no_option("sparsity")),
        }
        self.validate()?;
        Ok(self)
    }

    fn no_option(&self, option: &str) -> LuxError {
        LuxError::invalid_argument(&self.to_string(), format!("{} has no option `{option}`", self.name()))
    }

    /// Checks the options (the setters do; [`init`](Init::init) checks
    /// again, since [`sparse`](Init::sparse), [`uniform`](Init::uniform)
    /// and [`normal`](Init::normal) take values unchecked).
    ///
    /// # Errors
    /// [`LuxError::InvalidArgument`] naming the initialiser and the option.
    pub fn validate(&self) -> Result<()> {
        let bad = |msg: String| Err(LuxError::invalid_argument(&self.to_string(), msg));
        match self.kind {
            Kind::GlorotUniform { gain }
            | Kind::GlorotNormal { gain }
            | Kind::KaimingUniform { gain }
            | Kind::KaimingNormal { gain } => {
                if !(gain.is_finite() && gain > 0.0) {
                    return bad(format!("gain must be finite and positive, got {gain}"));
                }
            }
            Kind::Orthogonal { gain } | Kind::Identity { gain, .. } => {
                if !gain.is_finite() {
                    return bad(format!("gain must be finite, got {gain}"));
                }
            }
            Kind::TruncatedNormal { mean, std, lo, hi } => {
                if !mean.is_finite() {
                    return bad(format!("mean must be finite, got {mean}"));
                }
                if !(std.is_finite() && std > 0.0) {
                    return bad(format!("std must be finite and positive, got {std}"));
                }
                if !(lo.is_finite() && hi.is_finite() && lo < hi) {
                    return bad(format!("need finite bounds lo < hi, got lo={lo}, hi={hi}"));
                }
            }
            Kind::Sparse { sparsity, std } => {
                if !(0.0..1.0).contains(&sparsity) {
                    return bad(format!("sparsity must be in [0, 1), got {sparsity}"));
                }
                if !(std.is_finite() && std >= 0.0) {
                    return bad(format!("std must be finite and non-negative, got {std}"));
                }
            }
            Kind::Uniform { lo, hi } => {
                if !(lo < hi && (hi - lo).is_finite()) {
                    return bad(format!("need finite bounds lo < hi, got lo={lo}, hi={hi}"));
                }
            }
            Kind::Normal { mean, std } => {
                if !mean.is_finite() {
                    return bad(format!("mean must be finite, got {mean}"));
                }
                if !(std.is_finite() && std >= 0.0) {
                    return bad(format!("std must be finite and non-negative, got {std}"));
                }
            }
            Kind::Zeros | Kind::Ones | Kind::Custom { .. } => {}
        }
        Ok(())
    }

    /// A tensor of `shape` and `dtype` filled by this initialiser, drawing
    /// from `rng` (one draw per element in row-major order; orthogonal and
    /// sparse_init draw a normal matrix first, then sparse_init shuffles each
    /// column with the same rng).
    ///
    /// # Errors
    /// Invalid options (see [`validate`](Init::validate)); a non-float
    /// `dtype` for anything but zeros and ones
    /// ([`LuxError::UnsupportedDType`]); a shape the initialiser cannot fill
    /// or with too many elements ([`LuxError::Shape`]); a custom
    /// initialiser's own error, or its result having another shape or dtype.
    pub fn init(&self, rng: &mut dyn Rng, shape: &[usize], dtype: DType) -> Result<Tensor> {
        self.validate()?;
        match &self.kind {
            Kind::Zeros => return Tensor::zeros(shape, dtype),
            Kind::Ones => return Tensor::ones(shape, dtype),
            Kind::Custom { name, f } => return check_custom(name, f(rng, shape, dtype)?, shape, dtype),
            _ => {}
        }
        if !dtype.is_float() {
            return Err(LuxError::UnsupportedDType { op: self.to_string(), dtype });
        }
        let n = lux_core::buffer_len::<f64>(self.name(), "parameter", shape)?;
        let (fan_in, fan_out) = fans(shape);
        let (fan_in, fan_sum) = (fan_in as f64, fan_in as f64 + fan_out as f64);
        match self.kind {
            // An empty tensor has a zero fan; it draws nothing either way.
            Kind::GlorotUniform { .. }
            | Kind::GlorotNormal { .. }
            | Kind::KaimingUniform { .. }
            | Kind::KaimingNormal { .. }
                if n == 0 =>
            {
                Tensor::zeros(shape, dtype)
            }
            Kind::GlorotUniform { gain } => {
                let a = gain * (6.0 / fan_sum).sqrt();
                Tensor::uniform(rng, shape, -a, a, dtype)
            }
            Kind::GlorotNormal { gain } => scaled_normal(rng, shape, 0.0, gain * (2.0 / fan_sum).sqrt(), dtype),
            Kind::KaimingUniform { gain } => {
                let b = gain * (3.0 / fan_in).sqrt();
                Tensor::uniform(rng, shape, -b, b, dtype)
            }
            Kind::KaimingNormal { gain } => scaled_normal(rng, shape, 0.0, gain / fan_in.sqrt(), dtype),
            Kind::Uniform { lo, hi } => Tensor::uniform(rng, shape, lo, hi, dtype),
            Kind::Normal { mean, std } => scaled_normal(rng, shape, mean, std, dtype),
            Kind::TruncatedNormal { mean, std, lo, hi } => self.truncated(rng, shape, n, [mean, std, lo, hi], dtype),
            Kind::Orthogonal { gain } => self.orthogonal_init(rng, shape, gain, dtype),
            Kind::Sparse { sparsity, std } => self.sparse_init(rng, shape, sparsity, std, dtype),
            Kind::Identity { gain, shift } => self.identity_init(shape, n, gain, shift, dtype),
            Kind::Zeros | Kind::Ones | Kind::Custom { .. } => unreachable!("handled above"),
        }
    }

    fn truncated(
        &self,
        rng: &mut dyn Rng,
        shape: &[usize],
        n: usize,
        [mean, std, lo, hi]: [f64; 4],
        dtype: DType,
    ) -> Result<Tensor> {
        // Φ(x) = (1 + erf(x/√2))/2 at the standardised bounds.
        let z = Tensor::from_vec(
            vec![
                (lo - mean) / std * std::f64::consts::FRAC_1_SQRT_2,
                (hi - mean) / std * std::f64::consts::FRAC_1_SQRT_2,
            ],
            &[2],
        )?
        .erf()?
        .to_vec::<f64>()?;
        let (l, u) = (0.5 * (1.0 + z[0]), 0.5 * (1.0 + z[1]));
        if u <= l {
            return Err(LuxError::invalid_argument(
                &self.to_string(),
                format!(
                    "[{lo}, {hi}] lies too far in the tail of N({mean}, {std}²) for its probability to be resolved in f64"
                ),
            ));
        }
        if n == 0 {
            return Tensor::zeros(shape, dtype);
        }
        // u ∈ [0, 1) ↦ y ∈ [2l − 1, 2u − 1), erfinv(y)·√2 ∼ N(0, 1) truncated to the bounds.
        let mut y = Tensor::rand(rng, shape, DType::F64)?.to_vec::<f64>()?;
        for v in &mut y {
            *v = *v * 2.0 * (u - l) + (2.0 * l - 1.0);
        }
        let x = erfinv(&y)?;
        let values: Vec<f64> = x.iter().map(|&e| (e * std * std::f64::consts::SQRT_2 + mean).clamp(lo, hi)).collect();
        Tensor::from_vec(values, shape)?.to_dtype(dtype)
    }

    fn orthogonal_init(&self, rng: &mut dyn Rng, shape: &[usize], gain: f64, dtype: DType) -> Result<Tensor> {
        if shape.len() < 2 {
            return Err(LuxError::shape(
                &self.to_string(),
                format!("needs a shape with at least 2 axes, got {shape:?} (Lux does not build orthogonal vectors)"),
            ));
        }
        let rows = shape[0];
        let cols = shape[1..].iter().product::<usize>();
        let q = semi_orthogonal(rng, rows, cols)?;
        let values: Vec<f64> = q.into_iter().map(|v| v * gain).collect();
        Tensor::from_vec(values, shape)?.to_dtype(dtype)
    }

    fn sparse_init(&self, rng: &mut dyn Rng, shape: &[usize], sparsity: f64, std: f64, dtype: DType) -> Result<Tensor> {
        let &[rows, cols] = shape else {
            return Err(LuxError::shape(
                &self.to_string(),
                format!("only 2-d shapes [rows, cols] are supported, got {shape:?}"),
            ));
        };
        // Lux: ⌈sparsity·rows⌉ zeros per column, computed in f64.
        let zeros = ((sparsity * rows as f64).ceil() as usize).min(rows);
        let mut values = Tensor::randn(rng, shape, DType::F64)?.to_vec::<f64>()?;
        let mut column = Vec::with_capacity(rows);
        for j in 0..cols {
            column.clear();
            column.extend((0..rows).map(|i| if i < zeros { 0.0 } else { values[i * cols + j] * std }));
            column.shuffle(rng);
            for (i, &v) in column.iter().enumerate() {
                values[i * cols + j] = v;
            }
        }
        Tensor::from_vec(values, shape)?.to_dtype(dtype)
    }

    fn identity_init(&self, shape: &[usize], n: usize, gain: f64, shift: i64, dtype: DType) -> Result<Tensor> {
        let (out, inp, centres) = match shape {
            [] => {
                return Err(LuxError::shape(
                    &self.to_string(),
                    "needs a shape with at least 1 axis, got [] (a scalar)".to_string(),
                ));
            }
            [_] => return Tensor::zeros(shape, dtype),
            [out, inp, kernel @ ..] => {
                (*out, *inp, kernel.iter().map(|&k| k.saturating_sub(1) / 2).collect::<Vec<_>>())
            }
        };
        let mut values = lux_core::alloc_buffer::<f64>(self.name(), "parameter", shape)?;
        values.resize(n, 0.0);
        if n > 0 {
            // Row-major strides of [out, in, k…].
            let mut strides = vec![1usize; shape.len()];
            for a in (0..shape.len() - 1).rev() {
                strides[a] = strides[a + 1] * shape[a + 1];
            }
            let offset: usize = centres.iter().zip(&strides[2..]).map(|(c, s)| c * s).sum();
            let rotate = |i: usize, len: usize| (i as i128 + shift as i128).rem_euclid(len as i128) as usize;
            for i in 0..out.min(inp) {
                let (o, c) = if shape.len() == 2 { (rotate(i, out), i) } else { (rotate(i, out), rotate(i, inp)) };
                values[o * strides[0] + c * strides[1] + offset] = gain;
            }
        }
        Tensor::from_vec(values, shape)?.to_dtype(dtype)
    }
}

fn scaled_normal(rng: &mut dyn Rng, shape: &[usize], mean: f64, std: f64, dtype: DType) -> Result<Tensor> {
    let mut v = Tensor::randn(rng, shape, DType::F64)?.to_vec::<f64>()?;
    for x in &mut v {
        *x = *x * std + mean;
    }
    Tensor::from_vec(v, shape)?.to_dtype(dtype)
}

fn check_custom(name: &str, t: Tensor, shape: &[usize], dtype: DType) -> Result<Tensor> {
    if t.shape() != shape {
        return Err(LuxError::shape(
            name,
            format!("the custom initialiser returned shape {:?}, expected {shape:?}", t.shape()),
        ));
    }
    if t.dtype() != dtype {
        return Err(LuxError::DType {
            op: format!("{name} (custom initialiser)"),
            expected: dtype.to_string(),
            got: t.dtype(),
        });
    }
    Ok(t)
}

/// A row-major `rows × cols` matrix with orthonormal columns (`rows ≥
/// cols`) or rows (`rows < cols`, the transpose of the `cols × rows`
/// case, as Lux does): Householder QR of a standard-normal matrix in f64,
/// `Q·sign(diag R)`.
fn semi_orthogonal(rng: &mut dyn Rng, rows: usize, cols: usize) -> Result<Vec<f64>> {
    if rows < cols {
        let t = semi_orthogonal(rng, cols, rows)?;
        let mut out = vec![0.0; rows * cols];
        for i in 0..cols {
            for j in 0..rows {
                out[j * cols + i] = t[i * rows + j];
            }
        }
        return Ok(out);
    }
    let (m, n) = (rows, cols);
    let mut a = Tensor::randn(rng, &[m, n], DType::F64)?.to_vec::<f64>()?;
    // Householder vectors v_k (length m − k, stored from row k) with their squared norms.
    let mut reflectors: Vec<(Vec<f64>, f64)> = Vec::with_capacity(n);
    let mut signs = vec![1.0f64; n];
    let mut dots = vec![0.0f64; n];
    for k in 0..n {
        let norm = (k..m).map(|i| a[i * n + k] * a[i * n + k]).sum::<f64>().sqrt();
        if norm == 0.0 {
            reflectors.push((Vec::new(), 0.0));
            continue;
        }
        let alpha = if a[k * n + k] > 0.0 { -norm } else { norm };
        let mut v: Vec<f64> = (k..m).map(|i| a[i * n + k]).collect();
        v[0] -= alpha;
        let vv = v.iter().map(|x| x * x).sum::<f64>();
        reflect(&mut a, n, k, k, &v, vv, &mut dots);
        signs[k] = if alpha < 0.0 { -1.0 } else { 1.0 };
        reflectors.push((v, vv));
    }
    // Q = H_0 ⋯ H_{n−1} applied to the first n columns of the identity.
    let mut q = vec![0.0f64; m * n];
    for j in 0..n {
        q[j * n + j] = 1.0;
    }
    for (k, (v, vv)) in reflectors.iter().enumerate().rev() {
        if *vv > 0.0 {
            reflect(&mut q, n, k, 0, v, *vv, &mut dots);
        }
    }
    for row in q.chunks_mut(n.max(1)) {
        for (x, s) in row.iter_mut().zip(&signs) {
            *x *= s;
        }
    }
    Ok(q)
}

/// Applies `I − 2vvᵀ/(vᵀv)` to rows `k..` and columns `c0..` of the
/// row-major matrix `a` with `n` columns (`v` starts at row `k`).
fn reflect(a: &mut [f64], n: usize, k: usize, c0: usize, v: &[f64], vv: f64, dots: &mut [f64]) {
    let dots = &mut dots[c0..n];
    dots.fill(0.0);
    for (r, &vi) in v.iter().enumerate() {
        let row = &a[(k + r) * n + c0..(k + r + 1) * n];
        for (d, &x) in dots.iter_mut().zip(row) {
            *d += vi * x;
        }
    }
    for d in dots.iter_mut() {
        *d *= 2.0 / vv;
    }
    for (r, &vi) in v.iter().enumerate() {
        let row = &mut a[(k + r) * n + c0..(k + r + 1) * n];
        for (x, &d) in row.iter_mut().zip(dots.iter()) {
            *x -= d * vi;
        }
    }
}

/// The inverse error function, elementwise: Giles' single-precision
/// approximation ("Approximating the erfinv function", 2010) refined by two
/// Newton steps on `erf` (lux-core's f64 erf), so to about f64 precision.
/// `±1` (and beyond) give `±∞`.
fn erfinv(y: &[f64]) -> Result<Vec<f64>> {
    let mut x: Vec<f64> = y.iter().map(|&v| erfinv_approx(v)).collect();
    let two_over_sqrt_pi = std::f64::consts::FRAC_2_SQRT_PI;
    for _ in 0..2 {
        let finite: Vec<f64> = x.iter().map(|&v| if v.is_finite() { v } else { 0.0 }).collect();
        let e = Tensor::from_vec(finite, &[x.len()])?.erf()?.to_vec::<f64>()?;
        for ((xi, &ei), &yi) in x.iter_mut().zip(&e).zip(y) {
            if xi.is_finite() {
                let slope = two_over_sqrt_pi * (-*xi * *xi).exp();
                if slope > 0.0 {
                    *xi -= (ei - yi) / slope;
                }
            }
        }
    }
    Ok(x)
}

fn erfinv_approx(x: f64) -> f64 {
    if x.is_nan() {
        return f64::NAN;
    }
    if x <= -1.0 {
        return f64::NEG_INFINITY;
    }
    if x >= 1.0 {
        return f64::INFINITY;
    }
    let mut w = -((1.0 - x) * (1.0 + x)).ln();
    let p = if w < 5.0 {
        w -= 2.5;
        let mut p = 2.810_226_36e-08;
        for c in [
            3.432_739_39e-07,
            -3.523_387_7e-06,
            -4.391_506_54e-06,
            0.000_218_580_87,
            -0.001_253_725_03,
            -0.004_177_681_64,
            0.246_640_727,
            1.501_409_41,
        ] {
            p = c + p * w;
        }
        p
    } else {
        w = w.sqrt() - 3.0;
        let mut p = -0.000_200_214_257;
        for c in [
            0.000_100_950_558,
            0.001_349_343_22,
            -0.003_673_428_44,
            0.005_739_507_73,
            -0.007_622_461_3,
            0.009_438_870_47,
            1.001_674_06,
            2.832_976_82,
        ] {
            p = c + p * w;
        }
        p
    };
    p * x
}

impl fmt::Display for Init {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = self.name();
        match self.kind {
            Kind::GlorotUniform { gain }
            | Kind::GlorotNormal { gain }
            | Kind::KaimingUniform { gain }
            | Kind::KaimingNormal { gain }
            | Kind::Orthogonal { gain } => write!(f, "{name}(gain={gain})"),
            Kind::TruncatedNormal { mean, std, lo, hi } => {
                write!(f, "{name}(mean={mean}, std={std}, lo={lo}, hi={hi})")
            }
            Kind::Sparse { sparsity, std } => write!(f, "{name}(sparsity={sparsity}, std={std})"),
            Kind::Identity { gain, shift } => write!(f, "{name}(gain={gain}, shift={shift})"),
            Kind::Uniform { lo, hi } => write!(f, "{name}(lo={lo}, hi={hi})"),
            Kind::Normal { mean, std } => write!(f, "{name}(mean={mean}, std={std})"),
            Kind::Zeros | Kind::Ones | Kind::Custom { .. } => f.write_str(name),
        }
    }
}

impl fmt::Debug for Init {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl PartialEq for Init {
    fn eq(&self, other: &Init) -> bool {
        match (&self.kind, &other.kind) {
            (Kind::Custom { name: a, f: fa }, Kind::Custom { name: b, f: fb }) => a == b && Arc::ptr_eq(fa, fb),
            (Kind::Custom { .. }, _) | (_, Kind::Custom { .. }) => false,
            // Every other kind prints all its options exactly (`{}` of an
            // f64 round-trips), so equal text means equal options.
            _ => self.to_string() == other.to_string(),
        }
    }
}

macro_rules! free_fn {
    ($($(#[$doc:meta])* $name:ident => $ctor:ident;)*) => {$(
        $(#[$doc])*
        ///
        /// # Errors
        /// As [`Init::init`].
        pub fn $name(rng: &mut dyn Rng, shape: &[usize], dtype: DType) -> Result<Tensor> {
            Init::$ctor().init(rng, shape, dtype)
        }
    )*};
}

free_fn! {
    /// [`Init::glorot_uniform`] with its defaults, in Lux's form.
    ///
    /// ```
    /// use lux_core::DType;
    /// use rand::SeedableRng;
    /// let mut rng = rand::rngs::StdRng::seed_from_u64(0);
    /// let w = lux_layers::init::glorot_uniform(&mut rng, &[3, 5], DType::F32)?;
    /// assert_eq!(w.shape(), &[3, 5]);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    glorot_uniform => glorot_uniform;
    /// [`Init::glorot_normal`] with its defaults, in Lux's form.
    glorot_normal => glorot_normal;
    /// [`Init::kaiming_uniform`] with its defaults, in Lux's form.
    kaiming_uniform => kaiming_uniform;
    /// [`Init::kaiming_normal`] with its defaults, in Lux's form.
    kaiming_normal => kaiming_normal;
    /// [`Init::truncated_normal`] with its defaults, in Lux's form.
    truncated_normal => truncated_normal;
    /// [`Init::orthogonal`] with its defaults, in Lux's form.
    orthogonal => orthogonal;
    /// [`Init::identity`] with its defaults, in Lux's form.
    identity_init => identity;
    /// [`Init::zeros`], in Lux's form.
    zeros => zeros;
    /// [`Init::ones`], in Lux's form.
    ones => ones;
}

/// [`Init::sparse`] with `std = 0.01`, in Lux's form.
///
/// # Errors
/// As [`Init::init`].
pub fn sparse_init(rng: &mut dyn Rng, shape: &[usize], dtype: DType, sparsity: f64) -> Result<Tensor> {
    Init::sparse(sparsity).init(rng, shape, dtype)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erfinv_inverts_erf_to_f64_precision() -> Result<()> {
        let ys: Vec<f64> = (-999..=999).map(|i| i as f64 / 1000.0).chain([1e-300, -0.999999, 0.9999999999]).collect();
        let x = erfinv(&ys)?;
        let back = Tensor::from_vec(x.clone(), &[x.len()])?.erf()?.to_vec::<f64>()?;
        for (y, b) in ys.iter().zip(&back) {
            assert!((y - b).abs() <= 4.0 * f64::EPSILON, "erf(erfinv({y})) = {b}");
        }
        assert_eq!(erfinv(&[1.0, -1.0, 0.0])?, vec![f64::INFINITY, f64::NEG_INFINITY, 0.0]);
        // erfinv(0.5) = 0.4769362762044699 (mpmath).
        assert!((erfinv(&[0.5])?[0] - 0.476_936_276_204_469_9).abs() < 1e-15);
        Ok(())
    }
}
