//! Activation functions: the [`Activation`] enum (what layers store) and one
//! free function per activation.
//!
//! Definitions follow NNlib.jl, including the derivative taken at kinks
//! (`relu'(0) = 0`, `relu6'(6) = 0`, `hardtanh'(±1) = 0`, `elu'(0) = 1`,
//! `selu'(0) = λα`, …) and the `gelu` = tanh approximation. Every
//! activation is one fused op: a single elementwise forward kernel and a
//! single fused backward pass `dx = g ⊙ f'(x)`; a gradient of a gradient
//! goes through [`Activation`]'s composite definition (primitive ops).
//!
//! All activations are numerically stable for every finite input, forward
//! and backward (no overflow to `inf`, no `NaN`): e.g. `softplus(1000) =
//! 1000`, `logsigmoid(-1000) = -1000`, `sigmoid'(±1e4) = 0`. A `NaN` input
//! gives a `NaN` output.
//!
//! ```
//! use lux_core::Tensor;
//! use lux_ops::activation::{relu, softplus, Activation};
//! let x = Tensor::from_vec(vec![-1000.0f32, -1.0, 0.0, 2.0, 1000.0], &[5])?;
//! assert_eq!(relu(&x)?.to_vec::<f32>()?, vec![0.0, 0.0, 0.0, 2.0, 1000.0]);
//! let sp = softplus(&x)?.to_vec::<f32>()?;
//! assert_eq!((sp[0], sp[4]), (0.0, 1000.0));
//! assert_eq!(Activation::LeakyRelu(0.1).apply(&x)?.to_vec::<f32>()?[1], -0.1);
//! # Ok::<(), lux_core::LuxError>(())
//! ```

use crate::util::check_float;
use lux_core::{CustomOp, FloatData, LuxError, Real, Result, Tensor};
use ndarray::{ArcArray, IxDyn};
use rayon::prelude::*;
use std::sync::Arc;

/// Elementwise loops with at least this many elements run on rayon.
const PAR_THRESHOLD: usize = 1 << 16;

/// SELU's scale λ (Klambauer et al. 2017; NNlib's `selu_λ`).
const SELU_LAMBDA: f64 = 1.050_700_987_355_480_5;
/// SELU's α (NNlib's `selu_α`).
const SELU_ALPHA: f64 = 1.673_263_242_354_377_3;
/// `√(2/π)`, the tanh-GELU scale.
const GELU_LAMBDA: f64 = 0.797_884_560_802_865_4;
/// The cubic coefficient of the tanh-GELU.
const GELU_CUBIC: f64 = 0.044_715;
/// `1/√2`.
const FRAC_1_SQRT_2: f64 = std::f64::consts::FRAC_1_SQRT_2;
/// `1/√(2π)`, the standard normal density at 0.
const FRAC_1_SQRT_2PI: f64 = 0.398_942_280_401_432_7;

/// An elementwise activation function, as stored by layers (`Dense`,
/// `Conv`, …) and fused into kernels such as [`dense`](fn@crate::dense).
///
/// [`Activation::apply`] evaluates it on a tensor (differentiably);
/// `Display` prints its NNlib name, as Lux prints it in a layer summary
/// (`Dense(2 => 3, relu)`).
///
/// ```
/// use lux_core::Tensor;
/// use lux_ops::Activation;
/// let x = Tensor::from_vec(vec![-2.0f64, 0.5], &[2])?;
/// assert_eq!(Activation::Relu6.apply(&x)?.to_vec::<f64>()?, vec![0.0, 0.5]);
/// assert_eq!(Activation::Elu(1.0).to_string(), "elu");
/// # Ok::<(), lux_core::LuxError>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Activation {
    /// `x` (no activation).
    #[default]
    Identity,
    /// `max(x, 0)`.
    Relu,
    /// `min(max(x, 0), 6)`.
    Relu6,
    /// `x` for `x ≥ 0`, `a·x` otherwise.
    LeakyRelu(f64),
    /// `x` for `x ≥ 0`, `a·(eˣ − 1)` otherwise.
    Elu(f64),
    /// GELU, tanh approximation (NNlib's `gelu`).
    Gelu,
    /// GELU, exact form `x·Φ(x)` with the error function (NNlib's `gelu_erf`).
    GeluErf,
    /// `1/(1 + e⁻ˣ)`.
    Sigmoid,
    /// `clamp((x + 3)/6, 0, 1)`.
    HardSigmoid,
    /// `log σ(x) = −softplus(−x)`.
    LogSigmoid,
    /// `tanh x`.
    Tanh,
    /// `clamp(x, −1, 1)`.
    HardTanh,
    /// `log(1 + eˣ)`.
    Softplus,
    /// `x/(1 + |x|)`.
    Softsign,
    /// `x·σ(x)` (also called SiLU).
    Swish,
    /// `x·tanh(softplus(x))`.
    Mish,
    /// `λ·x` for `x > 0`, `λ·α·(eˣ − 1)` otherwise (λ ≈ 1.0507, α ≈ 1.6733).
    Selu,
    /// `max(0, x) + min(0, a·(e^{x/a} − 1))`.
    Celu(f64),
}

impl Activation {
    /// The activation applied elementwise to a float tensor (differentiable,
    /// to any order). f16/bf16 inputs are computed in f32 and rounded once.
    ///
    /// ```
    /// use lux_core::Tensor;
    /// use lux_ops::Activation;
    /// let x = Tensor::from_vec(vec![-1.0f32, 0.0, 1.0], &[3])?;
    /// let y = Activation::Sigmoid.apply(&x)?.to_vec::<f32>()?;
    /// assert_eq!(y[1], 0.5);
    /// assert!((y[2] - 0.7310586).abs() < 1e-6);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// `x` is not a float tensor ([`LuxError::UnsupportedDType`]); the
    /// parameter of `LeakyRelu`, `Elu` or `Celu` is not finite, or `Celu`'s
    /// is 0 ([`LuxError::InvalidArgument`]).
    pub fn apply(self, x: &Tensor) -> Result<Tensor> {
        self.validate()?;
        check_float(self.name(), x)?;
        if self == Activation::Identity {
            return Ok(x.clone());
        }
        let y = lux_core::map_float!(x.compute_data(self.name())?, a => forward_kernel(self, &a));
        Tensor::from_custom_op(y.into_tensor(x.dtype()), Arc::new(ActivationOp(self)), &[x])
    }

    /// The NNlib name of the function, as Lux prints it in a layer
    /// (`Dense(2 => 3, relu)`): `identity`, `relu`, `relu6`, `leakyrelu`,
    /// `elu`, `gelu`, `gelu_erf`, `sigmoid`, `hardsigmoid`, `logsigmoid`,
    /// `tanh`, `hardtanh`, `softplus`, `softsign`, `swish`, `mish`, `selu`,
    /// `celu`.
    ///
    /// ```
    /// assert_eq!(lux_ops::Activation::GeluErf.name(), "gelu_erf");
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            Activation::Identity => "identity",
            Activation::Relu => "relu",
            Activation::Relu6 => "relu6",
            Activation::LeakyRelu(_) => "leakyrelu",
            Activation::Elu(_) => "elu",
            Activation::Gelu => "gelu",
            Activation::GeluErf => "gelu_erf",
            Activation::Sigmoid => "sigmoid",
            Activation::HardSigmoid => "hardsigmoid",
            Activation::LogSigmoid => "logsigmoid",
            Activation::Tanh => "tanh",
            Activation::HardTanh => "hardtanh",
            Activation::Softplus => "softplus",
            Activation::Softsign => "softsign",
            Activation::Swish => "swish",
            Activation::Mish => "mish",
            Activation::Selu => "selu",
            Activation::Celu(_) => "celu",
        }
    }

    /// The name Lux prints for the function (Julia's name of the NNlib
    /// function): as [`name`](Activation::name) except `σ` (sigmoid),
    /// `hardσ`, `logσ` and `gelu_tanh` (NNlib's `gelu`), and the
    /// parameterised activations with their parameter when it is not
    /// NNlib's default (`leakyrelu(x, 0.2)` prints as `leakyrelu(0.2)`).
    ///
    /// ```
    /// use lux_ops::Activation;
    /// assert_eq!(Activation::Sigmoid.julia_name(), "σ");
    /// assert_eq!(Activation::Gelu.julia_name(), "gelu_tanh");
    /// assert_eq!(Activation::LeakyRelu(0.01).julia_name(), "leakyrelu");
    /// assert_eq!(Activation::LeakyRelu(0.2).julia_name(), "leakyrelu(0.2)");
    /// ```
    pub fn julia_name(self) -> String {
        let with_param = |name: &str, a: f64, default: f64| {
            if a == default { name.to_string() } else { format!("{name}({a:?})") }
        };
        match self {
            Activation::Sigmoid => "σ".into(),
            Activation::HardSigmoid => "hardσ".into(),
            Activation::LogSigmoid => "logσ".into(),
            Activation::Gelu => "gelu_tanh".into(),
            Activation::LeakyRelu(a) => with_param("leakyrelu", a, 0.01),
            Activation::Elu(a) => with_param("elu", a, 1.0),
            Activation::Celu(a) => with_param("celu", a, 1.0),
            other => other.name().into(),
        }
    }

    /// Checks the parameter of a parameterised activation.
    pub(crate) fn validate(self) -> Result<()> {
        let (a, ok) = match self {
            Activation::LeakyRelu(a) | Activation::Elu(a) => (a, a.is_finite()),
            Activation::Celu(a) => (a, a.is_finite() && a != 0.0),
            _ => return Ok(()),
        };
        if ok {
            Ok(())
        } else {
            let need = if matches!(self, Activation::Celu(_)) { "finite and non-zero" } else { "finite" };
            Err(LuxError::invalid_argument(self.name(), format!("the parameter must be {need}, got {a}")))
        }
    }

    /// The scalar function (the fast kernel).
    #[inline(always)]
    pub(crate) fn f<T: Real>(self, x: T) -> T {
        let zero = T::zero();
        let one = T::one();
        match self {
            Activation::Identity => x,
            // `x < 0` is false for NaN, which passes through.
            Activation::Relu => {
                if x < zero {
                    zero
                } else {
                    x
                }
            }
            Activation::Relu6 => clamp_nan(x, zero, T::c(6.0)),
            Activation::LeakyRelu(a) => {
                if x > zero {
                    x
                } else {
                    T::c(a) * x
                }
            }
            Activation::Elu(a) => {
                if x >= zero {
                    x
                } else {
                    T::c(a) * expm1_neg(non_positive(x))
                }
            }
            // x/2·(1 + tanh z) = x·σ(2z): the same function, with no
            // cancellation for x ≪ 0. An overflowing x³ gives σ(±inf) ∈ {0, 1}.
            Activation::Gelu => x * gelu_2z(x).sigmoid_k(),
            Activation::GeluErf => x * normal_cdf(x),
            Activation::Sigmoid => x.sigmoid_k(),
            Activation::HardSigmoid => clamp_nan((x + T::c(3.0)) / T::c(6.0), zero, one),
            Activation::LogSigmoid => -softplus_k(-x),
            Activation::Tanh => x.tanh_k(),
            Activation::HardTanh => clamp_nan(x, -one, one),
            Activation::Softplus => softplus_k(x),
            Activation::Softsign => x / (one + x.abs()),
            Activation::Swish => x * x.sigmoid_k(),
            Activation::Mish => x * softplus_k(x).tanh_k(),
            Activation::Selu => {
                let v = if x > zero { x } else { T::c(SELU_ALPHA) * expm1_neg(non_positive(x)) };
                T::c(SELU_LAMBDA) * v
            }
            Activation::Celu(a) => {
                if x >= zero {
                    x
                } else if a > 0.0 {
                    let a = T::c(a);
                    a * expm1_neg(non_positive(x / a))
                } else {
                    let a = T::c(a);
                    a * (x / a).exp_m1()
                }
            }
        }
    }

    /// The derivative at `x`, given `y = f(x)` (whichever is cheaper). When
    /// [`Self::derivative_from_output`] is true, `x` is not read.
    #[inline(always)]
    pub(crate) fn df<T: Real>(self, x: T, y: T) -> T {
        let zero = T::zero();
        let one = T::one();
        let step = |c: bool, v: T| if c { v } else { zero };
        match self {
            Activation::Identity => one,
            Activation::Relu => step(y > zero, one),
            Activation::Relu6 => step(y > zero && y < T::c(6.0), one),
            Activation::LeakyRelu(a) => {
                // For a ≥ 0, y > 0 exactly when x > 0.
                let pos = if a >= 0.0 { y > zero } else { x > zero };
                if pos { one } else { T::c(a) }
            }
            Activation::Elu(a) => {
                if a > 0.0 {
                    // y + a = a·eˣ on the negative side.
                    if y >= zero { one } else { y + T::c(a) }
                } else if x >= zero {
                    one
                } else {
                    T::c(a) * x.exp_k()
                }
            }
            Activation::Gelu => {
                let s = gelu_2z(x).sigmoid_k();
                // Beyond |x| = 1e3, s(1 − s) is exactly 0; clamping keeps the
                // polynomial finite so that 0·inf never happens.
                let xc = x.max(T::c(-1e3)).min(T::c(1e3));
                let dz = T::c(2.0 * GELU_LAMBDA) * (one + T::c(3.0 * GELU_CUBIC) * xc * xc);
                s + xc * (s * (one - s)) * dz
            }
            Activation::GeluErf => normal_cdf(x) + x * normal_pdf(x),
            Activation::Sigmoid => y * (one - y),
            Activation::HardSigmoid => step(y > zero && y < one, one / T::c(6.0)),
            Activation::LogSigmoid => (-x).sigmoid_k(),
            Activation::Tanh => one - y * y,
            Activation::HardTanh => step(y > -one && y < one, one),
            Activation::Softplus => x.sigmoid_k(),
            Activation::Softsign => {
                let d = one / (one + x.abs());
                d * d
            }
            // σ + x·σ(1 − σ), factored so that nothing cancels or overflows.
            Activation::Swish => {
                let s = x.sigmoid_k();
                s * (one + x * (one - s))
            }
            Activation::Mish => {
                let t = softplus_k(x).tanh_k();
                t + x * (one - t * t) * x.sigmoid_k()
            }
            Activation::Selu => {
                if y > zero {
                    T::c(SELU_LAMBDA)
                } else {
                    y + T::c(SELU_LAMBDA * SELU_ALPHA)
                }
            }
            // y/a + 1 = e^{x/a} on the negative side; y > 0 ⇔ x > 0 for a ≠ 0.
            Activation::Celu(a) => {
                if y > zero {
                    one
                } else {
                    y / T::c(a) + one
                }
            }
        }
    }

    /// `true` when [`Self::df`] only reads `y`, so a fused kernel need not
    /// keep the pre-activation values.
    pub(crate) fn derivative_from_output(self) -> bool {
        match self {
            Activation::Identity
            | Activation::Relu
            | Activation::Relu6
            | Activation::Sigmoid
            | Activation::HardSigmoid
            | Activation::Tanh
            | Activation::HardTanh
            | Activation::Selu
            | Activation::Celu(_) => true,
            Activation::LeakyRelu(a) => a >= 0.0,
            Activation::Elu(a) => a > 0.0,
            Activation::Gelu
            | Activation::GeluErf
            | Activation::LogSigmoid
            | Activation::Softplus
            | Activation::Softsign
            | Activation::Swish
            | Activation::Mish => false,
        }
    }

    /// The same function written with differentiable primitive ops, used
    /// when a backward rule is itself differentiated (nested AD). Stable for
    /// every finite input; the derivative at kinks matches [`Self::df`].
    pub(crate) fn composite(self, x: &Tensor) -> Result<Tensor> {
        let zero = x.scalar_like(0.0);
        let gt = |c: f64| x.greater(&x.scalar_like(c));
        let lt = |c: f64| x.less(&x.scalar_like(c));
        match self {
            Activation::Identity => Ok(x.clone()),
            Activation::Relu => Tensor::where_(&gt(0.0)?, x, &zero),
            Activation::Relu6 => Tensor::where_(&gt(0.0)?.logical_and(&lt(6.0)?)?, x, &x.detach().clamp(0.0, 6.0)?),
            Activation::LeakyRelu(a) => Tensor::where_(&gt(0.0)?, x, &x.mul_scalar(a)?),
            Activation::Elu(a) => {
                let neg = Tensor::where_(&lt(0.0)?, x, &zero)?;
                let ge = x.greater_equal(&zero)?;
                Tensor::where_(&ge, x, &neg.expm1()?.mul_scalar(a)?)
            }
            Activation::Gelu => {
                // x/2·(1 + tanh z); the cubic uses x clamped to ±1e3, where
                // tanh' is already exactly 0, so nothing overflows.
                let xc = x.clamp(-1e3, 1e3)?;
                let z = x.add(&xc.mul(&xc)?.mul(&xc)?.mul_scalar(GELU_CUBIC)?)?.mul_scalar(GELU_LAMBDA)?;
                x.mul_scalar(0.5)?.mul(&z.tanh()?.add_scalar(1.0)?)
            }
            Activation::GeluErf => x.mul(&normal_cdf_op(x)?),
            Activation::Sigmoid => sigmoid_composite(x),
            Activation::HardSigmoid => {
                let u = x.add_scalar(3.0)?.div(&x.scalar_like(6.0))?;
                let inside = u.greater(&zero)?.logical_and(&u.less(&x.scalar_like(1.0))?)?;
                Tensor::where_(&inside, &u, &u.detach().clamp(0.0, 1.0)?)
            }
            Activation::LogSigmoid => softplus_composite(&x.neg()?)?.neg(),
            Activation::Tanh => x.tanh(),
            Activation::HardTanh => {
                Tensor::where_(&gt(-1.0)?.logical_and(&lt(1.0)?)?, x, &x.detach().clamp(-1.0, 1.0)?)
            }
            Activation::Softplus => softplus_composite(x),
            Activation::Softsign => x.div(&x.abs()?.add_scalar(1.0)?),
            Activation::Swish => x.mul(&sigmoid_composite(x)?),
            Activation::Mish => x.mul(&softplus_composite(x)?.tanh()?),
            Activation::Selu => {
                let pos = gt(0.0)?;
                let neg = Tensor::where_(&pos, &zero, x)?;
                let v = Tensor::where_(&pos, x, &neg.expm1()?.mul_scalar(SELU_ALPHA)?)?;
                v.mul_scalar(SELU_LAMBDA)
            }
            Activation::Celu(a) => {
                let neg = Tensor::where_(&lt(0.0)?, x, &zero)?;
                let ge = x.greater_equal(&zero)?;
                Tensor::where_(&ge, x, &neg.mul_scalar(1.0 / a)?.expm1()?.mul_scalar(a)?)
            }
        }
    }
}

impl std::fmt::Display for Activation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The recorded op of [`Activation::apply`]: backward is one fused pass
/// `dx = g ⊙ f'(x)`; nested AD differentiates [`Activation::composite`].
#[derive(Debug)]
struct ActivationOp(Activation);

impl CustomOp for ActivationOp {
    fn name(&self) -> &str {
        self.0.name()
    }

    fn backward(&self, grad: &Tensor, inputs: &[Tensor], output: &Tensor, _: &[bool]) -> Result<Vec<Option<Tensor>>> {
        Ok(vec![Some(times_derivative(self.0, grad, &inputs[0], output)?)])
    }

    /// `f'(x) ⊙ ẋ`: the Jacobian is diagonal, so the fused backward kernel
    /// with the tangent in place of the cotangent, when nothing is tracked;
    /// forward mode through the composite otherwise (nested AD).
    fn tangent(&self, inputs: &[Tensor], output: &Tensor, tangents: &[Option<Tensor>]) -> Result<Tensor> {
        match &tangents[0] {
            Some(t) if !t.is_tracked() && !inputs[0].is_tracked() && !output.is_tracked() => {
                times_derivative(self.0, t, &inputs[0], output)
            }
            _ => lux_core::forward::composite_tangent(self, inputs, tangents),
        }
    }

    fn composite(&self, inputs: &[Tensor]) -> Result<Option<Tensor>> {
        self.0.composite(&inputs[0]).map(Some)
    }
}

/// Runs `$body` with `$c` bound to a closure that builds `$act`. In each
/// match arm the closure's body names one variant literally, so wherever the
/// closure is inlined (inside a loop, even one running on a rayon worker)
/// the `match` inside [`Activation::f`] / [`Activation::df`] folds away and
/// the loop is specialised (and vectorised) for that one activation.
macro_rules! with_activation {
    ($act:expr, $c:ident => $body:expr) => {{
        use Activation as A;
        match $act {
            A::Identity => {
                let $c = || A::Identity;
                $body
            }
            A::Relu => {
                let $c = || A::Relu;
                $body
            }
            A::Relu6 => {
                let $c = || A::Relu6;
                $body
            }
            A::LeakyRelu(p) => {
                let $c = move || A::LeakyRelu(p);
                $body
            }
            A::Elu(p) => {
                let $c = move || A::Elu(p);
                $body
            }
            A::Gelu => {
                let $c = || A::Gelu;
                $body
            }
            A::GeluErf => {
                let $c = || A::GeluErf;
                $body
            }
            A::Sigmoid => {
                let $c = || A::Sigmoid;
                $body
            }
            A::HardSigmoid => {
                let $c = || A::HardSigmoid;
                $body
            }
            A::LogSigmoid => {
                let $c = || A::LogSigmoid;
                $body
            }
            A::Tanh => {
                let $c = || A::Tanh;
                $body
            }
            A::HardTanh => {
                let $c = || A::HardTanh;
                $body
            }
            A::Softplus => {
                let $c = || A::Softplus;
                $body
            }
            A::Softsign => {
                let $c = || A::Softsign;
                $body
            }
            A::Swish => {
                let $c = || A::Swish;
                $body
            }
            A::Mish => {
                let $c = || A::Mish;
                $body
            }
            A::Selu => {
                let $c = || A::Selu;
                $body
            }
            A::Celu(p) => {
                let $c = move || A::Celu(p);
                $body
            }
        }
    }};
}

/// Elements per rayon task of the slice kernels.
const CHUNK: usize = 8192;

impl Activation {
    /// `y[i] = f(x[i])`: one loop specialised for this activation, on rayon
    /// when large. For fused kernels (e.g. dense) that own their buffers.
    ///
    /// # Panics
    /// If the slices differ in length (an internal bug).
    pub(crate) fn forward_slice<T: Real>(self, x: &[T], y: &mut [T]) {
        assert_eq!(x.len(), y.len(), "activation forward_slice: length mismatch");
        with_activation!(self, mk => {
            let run = move |xs: &[T], ys: &mut [T]| forward_run(mk, xs, ys);
            if x.len() >= PAR_THRESHOLD {
                x.par_chunks(CHUNK).zip(y.par_chunks_mut(CHUNK)).for_each(|(xs, ys)| run(xs, ys));
            } else {
                run(x, y);
            }
        })
    }

    /// `z ← f(z + bias)` row by row on a row-major `[_, bias.len()]`
    /// buffer, in place: the one bias + activation pass of fused kernels
    /// such as dense; on rayon when large.
    pub(crate) fn bias_forward_rows<T: Real>(self, z: &mut [T], bias: &[T]) {
        let n = bias.len();
        if n == 0 {
            return;
        }
        with_activation!(self, mk => {
            let run = move |rows: &mut [T]| bias_forward_run(mk, rows, bias);
            if z.len() >= PAR_THRESHOLD {
                let rows_per_task = CHUNK.div_ceil(n);
                z.par_chunks_mut(rows_per_task * n).for_each(run);
            } else {
                run(z);
            }
        })
    }

    /// `dx[i] = g[i]·f'(x[i])` given `y = f(x)`; `x` is not read (and may
    /// be empty) when [`Self::derivative_from_output`] is true.
    ///
    /// # Panics
    /// If the slices differ in length (an internal bug).
    pub(crate) fn backward_slice<T: Real>(self, g: &[T], x: &[T], y: &[T], dx: &mut [T]) {
        let n = g.len();
        assert!(y.len() == n && dx.len() == n, "activation backward_slice: length mismatch");
        let from_y = self.derivative_from_output();
        assert!(from_y || x.len() == n, "activation backward_slice: length mismatch");
        with_activation!(self, mk => {
            let run = move |gs: &[T], xs: &[T], ys: &[T], ds: &mut [T]| backward_run(mk, from_y, gs, xs, ys, ds);
            if n >= PAR_THRESHOLD {
                let xs: Vec<&[T]> = if from_y { vec![&[]; n.div_ceil(CHUNK)] } else { x.chunks(CHUNK).collect() };
                g.par_chunks(CHUNK)
                    .zip(y.par_chunks(CHUNK))
                    .zip(dx.par_chunks_mut(CHUNK))
                    .zip(xs)
                    .for_each(|(((gs, ys), ds), xs)| run(gs, xs, ys, ds));
            } else {
                run(g, x, y, dx);
            }
        })
    }
}

// The loops of the three slice kernels, each compiled for the widest
// vector unit found at run time (`mk` yields the activation as a constant,
// so each instantiation has one scalar function inlined).
lux_core::with_simd! {
    fn forward_run<T: Real, F: Fn() -> Activation>(mk: F, xs: &[T], ys: &mut [T]) {
        for (o, &v) in ys.iter_mut().zip(xs) {
            *o = mk().f(v);
        }
    }
}

lux_core::with_simd! {
    fn bias_forward_run<T: Real, F: Fn() -> Activation>(mk: F, rows: &mut [T], bias: &[T]) {
        for row in rows.chunks_mut(bias.len()) {
            for (v, &b) in row.iter_mut().zip(bias) {
                *v = mk().f(*v + b);
            }
        }
    }
}

lux_core::with_simd! {
    fn backward_run<T: Real, F: Fn() -> Activation>(mk: F, from_y: bool, gs: &[T], xs: &[T], ys: &[T], ds: &mut [T]) {
        if from_y {
            for ((d, &g), &y) in ds.iter_mut().zip(gs).zip(ys) {
                *d = g * mk().df(y, y);
            }
        } else {
            for (((d, &g), &x), &y) in ds.iter_mut().zip(gs).zip(xs).zip(ys) {
                *d = g * mk().df(x, y);
            }
        }
    }
}

/// The values of `a` as a standard-layout slice (copied only when `a` is
/// not already in standard layout).
fn standard<T: Real>(a: &ArcArray<T, IxDyn>) -> ndarray::CowArray<'_, T, IxDyn> {
    a.as_standard_layout()
}

/// `f` over every element, by [`Activation::forward_slice`]; the result is
/// in standard layout.
fn forward_kernel<T: Real>(act: Activation, a: &ArcArray<T, IxDyn>) -> ArcArray<T, IxDyn> {
    let x = standard(a);
    let x = x.as_slice().expect("standard layout");
    let mut y = vec![T::zero(); x.len()];
    act.forward_slice(x, &mut y);
    ArcArray::from_shape_vec(a.raw_dim(), y).expect("one value per element")
}

/// `g ⊙ f'(x)` in one fused pass over `g`, `x` and `y = f(x)` (same
/// shape); `x` is `None` when the derivative reads only `y`.
fn backward_kernel<T: Real>(
    act: Activation,
    g: &ArcArray<T, IxDyn>,
    x: Option<&ArcArray<T, IxDyn>>,
    y: &ArcArray<T, IxDyn>,
) -> ArcArray<T, IxDyn> {
    let (gs, ys) = (standard(g), standard(y));
    let (gs, ys) = (gs.as_slice().expect("standard layout"), ys.as_slice().expect("standard layout"));
    let mut dx = vec![T::zero(); gs.len()];
    match x {
        Some(x) if !act.derivative_from_output() => {
            let xs = standard(x);
            act.backward_slice(gs, xs.as_slice().expect("standard layout"), ys, &mut dx);
        }
        _ => act.backward_slice(gs, &[], ys, &mut dx),
    }
    ArcArray::from_shape_vec(g.raw_dim(), dx).expect("one value per element")
}

/// `g ⊙ f'(x)` for `y = f(x)` by the fused kernel on plain values (`x` is
/// not read when the derivative needs only `y`): the activation's backward
/// rule, and its tangent rule (the Jacobian is diagonal).
pub(crate) fn times_derivative(act: Activation, g: &Tensor, x: &Tensor, y: &Tensor) -> Result<Tensor> {
    let name = act.name();
    let g = if g.dtype() == x.dtype() { g.clone() } else { g.to_dtype(x.dtype())? };
    // Activations whose derivative reads only y never widen x.
    let xd = if act.derivative_from_output() { None } else { Some(x.compute_data(name)?) };
    let dx = match (g.compute_data(name)?, xd, y.compute_data(name)?) {
        (FloatData::F32(g), x, FloatData::F32(y)) if matches!(x, None | Some(FloatData::F32(_))) => {
            FloatData::F32(backward_kernel(act, &g, x.as_ref().and_then(FloatData::array), &y))
        }
        (FloatData::F64(g), x, FloatData::F64(y)) if matches!(x, None | Some(FloatData::F64(_))) => {
            FloatData::F64(backward_kernel(act, &g, x.as_ref().and_then(FloatData::array), &y))
        }
        _ => {
            return Err(LuxError::DType { op: name.into(), expected: x.dtype().name().into(), got: y.dtype() });
        }
    };
    Ok(dx.into_tensor(x.dtype()))
}

/// `f` over every element of `a` (for the helper ops), in standard layout.
fn map_kernel<T: Real>(a: &ArcArray<T, IxDyn>, f: impl Fn(T) -> T + Sync + Send) -> ArcArray<T, IxDyn> {
    let x = standard(a);
    let x = x.as_slice().expect("standard layout");
    let y: Vec<T> = if x.len() >= PAR_THRESHOLD {
        x.par_iter().with_min_len(CHUNK).map(|&v| f(v)).collect()
    } else {
        x.iter().map(|&v| f(v)).collect()
    };
    ArcArray::from_shape_vec(a.raw_dim(), y).expect("one value per element")
}

/// `x` limited to `[lo, hi]`, NaN passing through (NNlib's `clamp`).
#[inline(always)]
fn clamp_nan<T: Real>(x: T, lo: T, hi: T) -> T {
    if x > hi {
        hi
    } else if x < lo {
        lo
    } else {
        x
    }
}

/// `log(1 + eˣ) = max(x, 0) + log1p(e^{−|x|})`: no overflow for either
/// sign, branch-free.
#[inline(always)]
fn softplus_k<T: Real>(x: T) -> T {
    let pos = if x > T::zero() { x } else { T::zero() };
    pos + log1p_unit((-x.abs()).exp_k())
}

/// `log(1 + e)` for `e ∈ [0, 1]`. In f32, branch-free (vectorisable,
/// unlike libm's `log1p`; within 2.5 ulp): `2·atanh(u)` with
/// `u = e/(2 + e) ∈ [0, 1/3]`, by the series `2u·Σₖ u²ᵏ/(2k + 1)` truncated
/// where the rest is below 1.5e-10 of the sum. In f64, `ln_1p` (f64 `exp`
/// is a libm call anyway, and this keeps 1-ulp accuracy).
#[inline(always)]
fn log1p_unit<T: Real>(e: T) -> T {
    if T::epsilon() < T::c(1e-10) {
        return e.ln_1p();
    }
    let u = e / (T::c(2.0) + e);
    let u2 = u * u;
    const TERMS: usize = 9;
    let mut p = T::c(1.0 / (2 * TERMS - 1) as f64);
    for k in (0..TERMS - 1).rev() {
        p = p * u2 + T::c(1.0 / (2 * k + 1) as f64);
    }
    T::c(2.0) * u * p
}

/// `x` for `x ≤ 0` or NaN, else 0: the argument of a negative-side branch,
/// kept harmless for the lanes that do not take it.
#[inline(always)]
fn non_positive<T: Real>(x: T) -> T {
    if x > T::zero() { T::zero() } else { x }
}

/// `eˣ − 1` for `x ≤ 0`, accurate near 0 and branch-free:
/// `2t/(1 − t)` with `t = tanh(x/2) ∈ (−1, 0]` (no cancellation).
#[inline(always)]
fn expm1_neg<T: Real>(x: T) -> T {
    let t = (x * T::c(0.5)).tanh_k();
    T::c(2.0) * t / (T::one() - t)
}

/// `2z = 2√(2/π)·(x + 0.044715·x³)`, the argument of σ in the tanh-GELU.
#[inline(always)]
fn gelu_2z<T: Real>(x: T) -> T {
    T::c(2.0 * GELU_LAMBDA) * (x + T::c(GELU_CUBIC) * x * x * x)
}

/// The standard normal density `e^{−x²/2}/√(2π)` (0 for huge `|x|`).
#[inline(always)]
fn normal_pdf<T: Real>(x: T) -> T {
    T::c(FRAC_1_SQRT_2PI) * (-(x * x) * T::c(0.5)).exp_k()
}

/// The standard normal distribution function `Φ(x) = erfc(−x/√2)/2`,
/// computed in f64 (relative error ≲ 2e-13; to ~1e-9 for f32 results).
#[inline(always)]
fn normal_cdf<T: Real>(x: T) -> T {
    let tol = if T::epsilon() > T::c(1e-10) { 1e-9 } else { 1e-17 };
    let v = lux_core::Element::to_f64(x);
    T::c(0.5 * erfc(-v * FRAC_1_SQRT_2, tol))
}

/// The complementary error function in f64, to relative accuracy about
/// `tol` (plus ~1e-13 near |x| = 2, from `1 − erf`).
///
/// For `|x| < 2`: `erf x = (2/√π)·e^{−x²}·Σₙ 2ⁿx^{2n+1}/(1·3···(2n+1))`,
/// a series of positive terms. For `x ≥ 2`: Laplace's continued fraction
/// `erfc x = e^{−x²}/√π · 1/(x + ½/(x + 1/(x + (3/2)/(x + …))))`, evaluated
/// with the modified Lentz method. `erfc(−x) = 2 − erfc(x)`.
fn erfc(x: f64, tol: f64) -> f64 {
    const FRAC_2_SQRT_PI: f64 = std::f64::consts::FRAC_2_SQRT_PI;
    if x.is_nan() {
        return x;
    }
    if x < 0.0 {
        return 2.0 - erfc(-x, tol);
    }
    if x < 2.0 {
        let x2 = 2.0 * x * x;
        let (mut term, mut sum) = (x, x);
        for n in 1..200 {
            term *= x2 / (2 * n + 1) as f64;
            sum += term;
            if term <= sum * tol {
                break;
            }
        }
        return 1.0 - FRAC_2_SQRT_PI * (-x * x).exp() * sum;
    }
    if x > 30.0 {
        return 0.0; // below the smallest subnormal
    }
    let (mut f, mut c, mut d) = (x, x, 0.0);
    for k in 1..300 {
        let a = 0.5 * k as f64;
        d = 1.0 / (x + a * d);
        c = x + a / c;
        let delta = c * d;
        f *= delta;
        if (delta - 1.0).abs() <= tol {
            break;
        }
    }
    0.5 * FRAC_2_SQRT_PI * (-x * x).exp() / f
}

/// `Φ(x)` as a differentiable op (for the composite `gelu_erf`): forward by
/// the `erfc` kernel, backward `g·φ(x)` written with primitive ops, so it
/// differentiates to any order.
fn normal_cdf_op(x: &Tensor) -> Result<Tensor> {
    let y = lux_core::map_float!(x.compute_data("gelu_erf")?, a => map_kernel(&a, normal_cdf));
    Tensor::from_custom_op(y.into_tensor(x.dtype()), Arc::new(NormalCdfOp), &[x])
}

#[derive(Debug)]
struct NormalCdfOp;

impl CustomOp for NormalCdfOp {
    fn name(&self) -> &str {
        "normal_cdf"
    }

    fn backward(&self, grad: &Tensor, inputs: &[Tensor], _: &Tensor, _: &[bool]) -> Result<Vec<Option<Tensor>>> {
        let x = &inputs[0];
        let pdf = x.square()?.mul_scalar(-0.5)?.exp()?.mul_scalar(FRAC_1_SQRT_2PI)?;
        Ok(vec![Some(grad.mul(&pdf)?)])
    }

    /// `φ(x) ⊙ ẋ`, the backward rule's product with the tangent (diagonal).
    fn tangent(&self, inputs: &[Tensor], output: &Tensor, tangents: &[Option<Tensor>]) -> Result<Tensor> {
        match &tangents[0] {
            Some(t) => Ok(self.backward(t, inputs, output, &[true])?.remove(0).unwrap_or_else(|| t.zeros_like())),
            None => Ok(output.zeros_like()),
        }
    }
}

/// `σ(x) = (1 + tanh(x/2))/2`, stable for every input.
fn sigmoid_composite(x: &Tensor) -> Result<Tensor> {
    x.mul_scalar(0.5)?.tanh()?.add_scalar(1.0)?.mul_scalar(0.5)
}

/// `softplus(x)`: `log1p(eˣ)` for `x < 0`, `x + log1p(e⁻ˣ)` otherwise, each
/// branch fed only the inputs it is chosen for (so no `exp` overflows) and
/// smooth, so that second derivatives are right at 0 too.
fn softplus_composite(x: &Tensor) -> Result<Tensor> {
    let zero = x.scalar_like(0.0);
    let neg = x.less(&zero)?;
    let xn = Tensor::where_(&neg, x, &zero)?;
    let xp = Tensor::where_(&neg, &zero, x)?;
    let left = xn.exp()?.log1p()?;
    let right = xp.add(&xp.neg()?.exp()?.log1p()?)?;
    Tensor::where_(&neg, &left, &right)
}

// The free functions: each is `Activation::X.apply(x)`.

/// `relu(x) = max(x, 0)`; `relu'(0) = 0`.
///
/// ```
/// use lux_core::Tensor;
/// let x = Tensor::from_vec(vec![-1.0f32, 0.0, 2.0], &[3])?;
/// assert_eq!(lux_ops::activation::relu(&x)?.to_vec::<f32>()?, vec![0.0, 0.0, 2.0]);
/// # Ok::<(), lux_core::LuxError>(())
/// ```
///
/// # Errors
/// `x` is not a float tensor.
pub fn relu(x: &Tensor) -> Result<Tensor> {
    Activation::Relu.apply(x)
}

/// `relu6(x) = min(max(x, 0), 6)`; the derivative is 0 at 0 and 6.
///
/// ```
/// use lux_core::Tensor;
/// let x = Tensor::from_vec(vec![-1.0f32, 3.0, 8.0], &[3])?;
/// assert_eq!(lux_ops::activation::relu6(&x)?.to_vec::<f32>()?, vec![0.0, 3.0, 6.0]);
/// # Ok::<(), lux_core::LuxError>(())
/// ```
///
/// # Errors
/// `x` is not a float tensor.
pub fn relu6(x: &Tensor) -> Result<Tensor> {
    Activation::Relu6.apply(x)
}

/// `leakyrelu(x, a) = x` for `x > 0`, `a·x` otherwise (NNlib's default
/// `a` is 0.01).
///
/// ```
/// use lux_core::Tensor;
/// let x = Tensor::from_vec(vec![-10.0f32, 3.0], &[2])?;
/// assert_eq!(lux_ops::activation::leakyrelu(&x, 0.2)?.to_vec::<f32>()?, vec![-2.0, 3.0]);
/// # Ok::<(), lux_core::LuxError>(())
/// ```
///
/// # Errors
/// `x` is not a float tensor, or `a` is not finite.
pub fn leakyrelu(x: &Tensor, a: f64) -> Result<Tensor> {
    Activation::LeakyRelu(a).apply(x)
}

/// `elu(x, a) = x` for `x ≥ 0`, `a·(eˣ − 1)` otherwise (NNlib's default
/// `a` is 1).
///
/// ```
/// use lux_core::Tensor;
/// let x = Tensor::from_vec(vec![-10.0f64, 2.0], &[2])?;
/// let y = lux_ops::activation::elu(&x, 2.0)?.to_vec::<f64>()?;
/// assert!((y[0] - 2.0 * (-10.0f64).exp_m1()).abs() < 1e-15 && y[1] == 2.0);
/// # Ok::<(), lux_core::LuxError>(())
/// ```
///
/// # Errors
/// `x` is not a float tensor, or `a` is not finite.
pub fn elu(x: &Tensor, a: f64) -> Result<Tensor> {
    Activation::Elu(a).apply(x)
}

/// GELU, tanh approximation: `x/2·(1 + tanh(√(2/π)·(x + 0.044715x³)))`
/// (NNlib's `gelu`, also called `gelu_tanh`).
///
/// ```
/// use lux_core::Tensor;
/// let x = Tensor::from_vec(vec![0.0f64, 1.0], &[2])?;
/// let y = lux_ops::activation::gelu(&x)?.to_vec::<f64>()?;
/// let want = 0.5 * (1.0 + ((2.0 / std::f64::consts::PI).sqrt() * 1.044715).tanh());
/// assert!(y[0] == 0.0 && (y[1] - want).abs() < 1e-15);
/// # Ok::<(), lux_core::LuxError>(())
/// ```
///
/// # Errors
/// `x` is not a float tensor.
pub fn gelu(x: &Tensor) -> Result<Tensor> {
    Activation::Gelu.apply(x)
}

/// Exact GELU: `x·Φ(x) = x/2·(1 + erf(x/√2))`.
///
/// ```
/// use lux_core::Tensor;
/// let x = Tensor::from_vec(vec![1.0f64], &[1])?;
/// // Φ(1) = 0.8413447460685429
/// assert!((lux_ops::activation::gelu_erf(&x)?.to_vec::<f64>()?[0] - 0.8413447460685429).abs() < 1e-14);
/// # Ok::<(), lux_core::LuxError>(())
/// ```
///
/// # Errors
/// `x` is not a float tensor.
pub fn gelu_erf(x: &Tensor) -> Result<Tensor> {
    Activation::GeluErf.apply(x)
}

/// The logistic sigmoid `σ(x) = 1/(1 + e⁻ˣ)` (NNlib's `σ`).
///
/// ```
/// use lux_core::Tensor;
/// let x = Tensor::from_vec(vec![0.0f32, -1e4, 1e4], &[3])?;
/// assert_eq!(lux_ops::activation::sigmoid(&x)?.to_vec::<f32>()?, vec![0.5, 0.0, 1.0]);
/// # Ok::<(), lux_core::LuxError>(())
/// ```
///
/// # Errors
/// `x` is not a float tensor.
pub fn sigmoid(x: &Tensor) -> Result<Tensor> {
    Activation::Sigmoid.apply(x)
}

/// `hardsigmoid(x) = clamp((x + 3)/6, 0, 1)` (NNlib's `hardσ`).
///
/// ```
/// use lux_core::Tensor;
/// let x = Tensor::from_vec(vec![-4.0f32, 0.0, 3.0], &[3])?;
/// assert_eq!(lux_ops::activation::hardsigmoid(&x)?.to_vec::<f32>()?, vec![0.0, 0.5, 1.0]);
/// # Ok::<(), lux_core::LuxError>(())
/// ```
///
/// # Errors
/// `x` is not a float tensor.
pub fn hardsigmoid(x: &Tensor) -> Result<Tensor> {
    Activation::HardSigmoid.apply(x)
}

/// `logsigmoid(x) = log σ(x) = −softplus(−x)` (NNlib's `logσ`), stable:
/// `logsigmoid(−1000) = −1000`.
///
/// ```
/// use lux_core::Tensor;
/// let x = Tensor::from_vec(vec![-1000.0f32, 0.0], &[2])?;
/// let y = lux_ops::activation::logsigmoid(&x)?.to_vec::<f32>()?;
/// assert_eq!(y[0], -1000.0);
/// assert!((y[1] + std::f32::consts::LN_2).abs() < 1e-7);
/// # Ok::<(), lux_core::LuxError>(())
/// ```
///
/// # Errors
/// `x` is not a float tensor.
pub fn logsigmoid(x: &Tensor) -> Result<Tensor> {
    Activation::LogSigmoid.apply(x)
}

/// `tanh x`, as an activation (the same values as [`Tensor::tanh`]).
///
/// ```
/// use lux_core::Tensor;
/// let x = Tensor::from_vec(vec![0.0f64, 1.0], &[2])?;
/// assert_eq!(lux_ops::activation::tanh(&x)?.to_vec::<f64>()?, vec![0.0, 1.0f64.tanh()]);
/// # Ok::<(), lux_core::LuxError>(())
/// ```
///
/// # Errors
/// `x` is not a float tensor.
pub fn tanh(x: &Tensor) -> Result<Tensor> {
    Activation::Tanh.apply(x)
}

/// `hardtanh(x) = clamp(x, −1, 1)`; the derivative is 0 at ±1.
///
/// ```
/// use lux_core::Tensor;
/// let x = Tensor::from_vec(vec![-3.0f32, 0.5, 2.0], &[3])?;
/// assert_eq!(lux_ops::activation::hardtanh(&x)?.to_vec::<f32>()?, vec![-1.0, 0.5, 1.0]);
/// # Ok::<(), lux_core::LuxError>(())
/// ```
///
/// # Errors
/// `x` is not a float tensor.
pub fn hardtanh(x: &Tensor) -> Result<Tensor> {
    Activation::HardTanh.apply(x)
}

/// `softplus(x) = log(1 + eˣ)`, computed as `max(x, 0) + log1p(e^{−|x|})`.
///
/// ```
/// use lux_core::Tensor;
/// let x = Tensor::from_vec(vec![-1000.0f64, 0.0, 1000.0], &[3])?;
/// assert_eq!(lux_ops::activation::softplus(&x)?.to_vec::<f64>()?, vec![0.0, 2f64.ln(), 1000.0]);
/// # Ok::<(), lux_core::LuxError>(())
/// ```
///
/// # Errors
/// `x` is not a float tensor.
pub fn softplus(x: &Tensor) -> Result<Tensor> {
    Activation::Softplus.apply(x)
}

/// `softsign(x) = x/(1 + |x|)`.
///
/// ```
/// use lux_core::Tensor;
/// let x = Tensor::from_vec(vec![-3.0f32, 1.0], &[2])?;
/// assert_eq!(lux_ops::activation::softsign(&x)?.to_vec::<f32>()?, vec![-0.75, 0.5]);
/// # Ok::<(), lux_core::LuxError>(())
/// ```
///
/// # Errors
/// `x` is not a float tensor.
pub fn softsign(x: &Tensor) -> Result<Tensor> {
    Activation::Softsign.apply(x)
}

/// `swish(x) = x·σ(x)` (also called SiLU; see [`silu`]).
///
/// ```
/// use lux_core::Tensor;
/// let x = Tensor::from_vec(vec![0.0f64, 2.0], &[2])?;
/// let y = lux_ops::activation::swish(&x)?.to_vec::<f64>()?;
/// assert!(y[0] == 0.0 && (y[1] - 2.0 / (1.0 + (-2.0f64).exp())).abs() < 1e-15);
/// # Ok::<(), lux_core::LuxError>(())
/// ```
///
/// # Errors
/// `x` is not a float tensor.
pub fn swish(x: &Tensor) -> Result<Tensor> {
    Activation::Swish.apply(x)
}

/// `silu(x) = x·σ(x)`, the same function as [`swish`].
///
/// ```
/// use lux_core::Tensor;
/// let x = Tensor::from_vec(vec![-1.0f32, 3.0], &[2])?;
/// let (a, b) = (lux_ops::activation::silu(&x)?, lux_ops::activation::swish(&x)?);
/// assert_eq!(a.to_vec::<f32>()?, b.to_vec::<f32>()?);
/// # Ok::<(), lux_core::LuxError>(())
/// ```
///
/// # Errors
/// `x` is not a float tensor.
pub fn silu(x: &Tensor) -> Result<Tensor> {
    Activation::Swish.apply(x)
}

/// `mish(x) = x·tanh(softplus(x))`.
///
/// ```
/// use lux_core::Tensor;
/// let x = Tensor::from_vec(vec![1.0f64], &[1])?;
/// let want = (1.0 + 1f64.exp()).ln().tanh();
/// assert!((lux_ops::activation::mish(&x)?.to_vec::<f64>()?[0] - want).abs() < 1e-15);
/// # Ok::<(), lux_core::LuxError>(())
/// ```
///
/// # Errors
/// `x` is not a float tensor.
pub fn mish(x: &Tensor) -> Result<Tensor> {
    Activation::Mish.apply(x)
}

/// `selu(x) = λ·x` for `x > 0`, `λ·α·(eˣ − 1)` otherwise, with NNlib's
/// constants λ = 1.0507009873554805, α = 1.6732632423543772.
///
/// ```
/// use lux_core::Tensor;
/// let x = Tensor::from_vec(vec![1.0f64, -1e4], &[2])?;
/// let y = lux_ops::activation::selu(&x)?.to_vec::<f64>()?;
/// assert!((y[0] - 1.0507009873554805).abs() < 1e-15);
/// assert!((y[1] + 1.0507009873554805 * 1.6732632423543772).abs() < 1e-15);
/// # Ok::<(), lux_core::LuxError>(())
/// ```
///
/// # Errors
/// `x` is not a float tensor.
pub fn selu(x: &Tensor) -> Result<Tensor> {
    Activation::Selu.apply(x)
}

/// `celu(x, a) = x` for `x ≥ 0`, `a·(e^{x/a} − 1)` otherwise (NNlib's
/// default `a` is 1).
///
/// ```
/// use lux_core::Tensor;
/// let x = Tensor::from_vec(vec![-1e4f32, 2.0], &[2])?;
/// assert_eq!(lux_ops::activation::celu(&x, 0.5)?.to_vec::<f32>()?, vec![-0.5, 2.0]);
/// # Ok::<(), lux_core::LuxError>(())
/// ```
///
/// # Errors
/// `x` is not a float tensor, or `a` is 0 or not finite.
pub fn celu(x: &Tensor, a: f64) -> Result<Tensor> {
    Activation::Celu(a).apply(x)
}

/// An activation is a layer (Lux wraps a bare function in a container as
/// `WrappedFunction(f)`): no parameters or state, `y = f(x)` on a float
/// tensor input.
///
/// ```
/// use lux_core::{apply_tensor, setup, Layer, RngState, Tensor};
/// use lux_ops::Activation;
/// let (ps, st) = setup(&mut RngState::seed_from_u64(0), &Activation::Relu)?;
/// let x = Tensor::from_vec(vec![-1.0f32, 2.0], &[2])?;
/// let (y, _) = apply_tensor(&Activation::Relu, &x, &ps, &st)?;
/// assert_eq!(y.to_vec::<f32>()?, vec![0.0, 2.0]);
/// assert_eq!(Activation::Sigmoid.describe(), "WrappedFunction(σ)");
/// assert_eq!(Activation::Relu.param_count(), 0);
/// # Ok::<(), lux_core::LuxError>(())
/// ```
impl lux_core::Layer for Activation {
    fn forward(
        &self,
        x: &lux_core::Tree,
        _ps: &lux_core::Tree,
        st: &lux_core::Tree,
    ) -> Result<(lux_core::Tree, lux_core::Tree)> {
        let t = x.as_tensor().map_err(|e| match e {
            LuxError::Structure { path, msg } => {
                LuxError::Structure { path, msg: format!("{}: {msg}", lux_core::Layer::describe(self)) }
            }
            other => other,
        })?;
        Ok((self.apply(t)?.into(), st.clone()))
    }
    fn param_shapes(&self) -> Option<Vec<Vec<usize>>> {
        Some(Vec::new())
    }
    fn state_shapes(&self) -> Option<Vec<Vec<usize>>> {
        Some(Vec::new())
    }
    fn display_name(&self) -> String {
        "WrappedFunction".into()
    }
    fn describe(&self) -> String {
        format!("WrappedFunction({})", self.julia_name())
    }
}

#[cfg(test)]
mod tests {
    use super::erfc;

    #[test]
    fn erfc_matches_known_values() {
        // 40-digit references (mpmath), rounded to f64.
        let cases = [
            (0.0, 1.0),
            (0.5, 0.4795001221869535),
            (1.0, 0.15729920705028513),
            (1.9, 0.0072095707647425325),
            (2.0, 0.004677734981047266),
            (2.5, 0.0004069520174449589),
            (3.0, 2.209049699858544e-05),
            (5.0, 1.537459794428035e-12),
            (10.0, 2.088487583762545e-45),
            (-1.0, 1.8427007929497148),
        ];
        for (x, want) in cases {
            let got = erfc(x, 1e-17);
            assert!((got - want).abs() <= 2e-13 * want, "erfc({x}) = {got}, want {want}");
        }
        assert_eq!(erfc(40.0, 1e-17), 0.0);
        assert_eq!(erfc(-40.0, 1e-17), 2.0);
        assert!(erfc(f64::NAN, 1e-17).is_nan());
    }
}
