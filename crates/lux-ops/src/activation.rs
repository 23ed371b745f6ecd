//! Activation functions: the [`Activation`] enum (what layers store) and one
//! free function per activation.
//!
//! TODO(issue 3, activation helper): implement the bodies below.

use lux_core::{Real, Result, Tensor};

/// An elementwise activation function, as stored by layers (`Dense`,
/// `Conv`, …) and fused into kernels such as [`crate::dense::dense`].
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
    /// The activation applied elementwise to a float tensor (differentiable).
    ///
    /// # Errors
    /// `x` is not a float tensor.
    pub fn apply(self, x: &Tensor) -> Result<Tensor> {
        let _ = x;
        todo!()
    }

    /// The scalar function (the fast kernel).
    pub(crate) fn f<T: Real>(self, x: T) -> T {
        let _ = x;
        todo!()
    }

    /// The derivative at `x`, given `y = f(x)` (whichever is cheaper).
    pub(crate) fn df<T: Real>(self, x: T, y: T) -> T {
        let _ = (x, y);
        todo!()
    }

    /// `true` when [`Self::df`] only reads `y`, so a fused kernel need not
    /// keep the pre-activation values.
    pub(crate) fn derivative_from_output(self) -> bool {
        todo!()
    }

    /// The same function written with differentiable primitive ops, used
    /// when a backward rule is itself differentiated (nested AD).
    pub(crate) fn composite(self, x: &Tensor) -> Result<Tensor> {
        let _ = x;
        todo!()
    }
}
