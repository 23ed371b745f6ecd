//! Regression losses: [`MSELoss`], [`MAELoss`], [`MSLELoss`], [`HuberLoss`],
//! [`PoissonLoss`] (Lux's `GenericLossFunction` family: an elementwise
//! formula, broadcast, then `agg`).

use crate::fused::{Reduce, cast_to, composite_squared_error, fused_target, squared_error};
use crate::util::{epsilon_for, non_negative, prepare};
use crate::{Agg, LossFunction};
use lux_core::{Result, Tensor};

/// Mean squared error (Lux's `MSELoss`, alias `L2Loss`):
/// `agg((ŷ − y)²)`, `agg` = mean by default.
///
/// ```
/// use lux_core::Tensor;
/// use lux_losses::{Agg, LossFunction, MSELoss};
/// let y_model = Tensor::from_vec(vec![1.1f64, 1.9, 3.1], &[3])?;
/// let y = Tensor::from_vec(vec![1i64, 2, 3], &[3])?;
/// assert!((MSELoss::new().call(&y_model, &y)?.to_scalar::<f64>()? - 0.01).abs() < 1e-12);
/// assert!((MSELoss::new().agg(Agg::Sum).call(&y_model, &y)?.to_scalar::<f64>()? - 0.03).abs() < 1e-12);
/// # Ok::<(), lux_core::LuxError>(())
/// ```
#[derive(Clone, Debug)]
pub struct MSELoss {
    agg: Agg,
    fused: bool,
}

impl Default for MSELoss {
    fn default() -> MSELoss {
        MSELoss { agg: Agg::Mean, fused: true }
    }
}

impl MSELoss {
    /// The loss with Lux's defaults (`agg` = mean).
    pub fn new() -> MSELoss {
        MSELoss::default()
    }

    /// The aggregation (default mean).
    pub fn agg(mut self, agg: Agg) -> MSELoss {
        self.agg = agg;
        self
    }

    /// Whether to run the fused kernel (default `true`): one pass forward
    /// (`Σ (ŷ − y)²`, or the elementwise squares for [`Agg::None`] and
    /// custom aggregations) and one pass backward (`2·(ŷ − y)·g`), with no
    /// difference tensor. `false` computes the same function as a composite
    /// of differentiable ops (`sub`, `square`, `mean_all`), for comparison;
    /// the values agree to rounding.
    ///
    /// ```
    /// use lux_core::Tensor;
    /// use lux_losses::{LossFunction, MSELoss};
    /// let y_model = Tensor::from_vec(vec![1.1f64, 1.9, 3.1], &[3])?;
    /// let y = Tensor::from_vec(vec![1.0f64, 2.0, 3.0], &[3])?;
    /// let fused = MSELoss::new().call(&y_model, &y)?.to_scalar::<f64>()?;
    /// let composite = MSELoss::new().fused(false).call(&y_model, &y)?.to_scalar::<f64>()?;
    /// assert!((fused - composite).abs() < 1e-15);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn fused(mut self, fused: bool) -> MSELoss {
        self.fused = fused;
        self
    }
}

impl LossFunction for MSELoss {
    fn name(&self) -> &'static str {
        "MSELoss"
    }

    fn call(&self, y_pred: &Tensor, y: &Tensor) -> Result<Tensor> {
        let y = prepare(self.name(), y_pred, y)?;
        let reduce = match self.agg {
            Agg::Mean => Reduce::Mean,
            Agg::Sum => Reduce::Sum,
            Agg::None | Agg::Custom(_) => Reduce::None,
        };
        let x = cast_to(y_pred, y.dtype())?;
        let loss = match fused_target(&x, &y)? {
            Some(y) if self.fused => squared_error(&x, &y, reduce)?,
            _ => composite_squared_error(&x, &y, reduce)?,
        };
        match &self.agg {
            Agg::Custom(f) => f(&loss),
            _ => Ok(loss),
        }
    }
}

/// Mean absolute error (Lux's `MAELoss`, alias `L1Loss`): `agg(|ŷ − y|)`,
/// `agg` = mean by default. The gradient is `sign(ŷ − y)` (0 at equality).
///
/// ```
/// use lux_core::Tensor;
/// use lux_losses::{LossFunction, MAELoss};
/// let y_model = Tensor::from_vec(vec![1.1f64, 1.9, 3.1], &[3])?;
/// let y = Tensor::from_vec(vec![1i64, 2, 3], &[3])?;
/// assert!((MAELoss::new().call(&y_model, &y)?.to_scalar::<f64>()? - 0.1).abs() < 1e-12);
/// # Ok::<(), lux_core::LuxError>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct MAELoss {
    agg: Agg,
}

impl MAELoss {
    /// The loss with Lux's defaults (`agg` = mean).
    pub fn new() -> MAELoss {
        MAELoss::default()
    }

    /// The aggregation (default mean).
    pub fn agg(mut self, agg: Agg) -> MAELoss {
        self.agg = agg;
        self
    }
}

impl LossFunction for MAELoss {
    fn name(&self) -> &'static str {
        "MAELoss"
    }

    fn call(&self, y_pred: &Tensor, y: &Tensor) -> Result<Tensor> {
        let y = prepare(self.name(), y_pred, y)?;
        self.agg.apply(&y_pred.sub(&y)?.abs()?)
    }
}

/// Mean squared logarithmic error (Lux's `MSLELoss`):
/// `agg(log((ŷ + ε) / (y + ε))²)`, `agg` = mean by default; `epsilon`
/// defaults to the machine epsilon of the promoted dtype of ŷ and y.
///
/// ```
/// use lux_core::Tensor;
/// use lux_losses::{LossFunction, MSLELoss};
/// let y = Tensor::from_vec(vec![1i64, 2, 3], &[3])?;
/// let a = Tensor::from_vec(vec![1.1f32, 2.2, 3.3], &[3])?;
/// assert!((MSLELoss::new().call(&a, &y)?.to_scalar::<f32>()? - 0.009084041).abs() < 1e-6);
/// let b = Tensor::from_vec(vec![0.9f32, 1.8, 2.7], &[3])?;
/// assert!((MSLELoss::new().call(&b, &y)?.to_scalar::<f32>()? - 0.011100831).abs() < 1e-6);
/// # Ok::<(), lux_core::LuxError>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct MSLELoss {
    agg: Agg,
    epsilon: Option<f64>,
}

impl MSLELoss {
    /// The loss with Lux's defaults (`agg` = mean, machine epsilon).
    pub fn new() -> MSLELoss {
        MSLELoss::default()
    }

    /// The aggregation (default mean).
    pub fn agg(mut self, agg: Agg) -> MSLELoss {
        self.agg = agg;
        self
    }

    /// The ε added to ŷ and y (must be finite and ≥ 0; checked in `call`).
    pub fn epsilon(mut self, epsilon: f64) -> MSLELoss {
        self.epsilon = Some(epsilon);
        self
    }
}

impl LossFunction for MSLELoss {
    fn name(&self) -> &'static str {
        "MSLELoss"
    }

    fn call(&self, y_pred: &Tensor, y: &Tensor) -> Result<Tensor> {
        let eps = epsilon_for(self.name(), self.epsilon, y_pred, y)?;
        let y = prepare(self.name(), y_pred, y)?;
        let ratio = y_pred.add_scalar(eps)?.div(&y.add_scalar(eps)?)?;
        self.agg.apply(&ratio.log()?.square()?)
    }
}

/// The Huber loss (Lux's `HuberLoss`): with `d = ŷ − y`, `0.5·d²` where
/// `|d| ≤ δ`, else `δ·(|d| − 0.5·δ)`; then `agg` (mean by default);
/// `delta` defaults to 1.
///
/// ```
/// use lux_core::Tensor;
/// use lux_losses::{HuberLoss, LossFunction};
/// let y_model = Tensor::from_vec(vec![1.1f64, 2.1, 3.1], &[3])?;
/// let y = Tensor::from_vec(vec![1i64, 2, 3], &[3])?;
/// assert!((HuberLoss::new().call(&y_model, &y)?.to_scalar::<f64>()? - 0.005).abs() < 1e-12);
/// let small = HuberLoss::new().delta(0.05);
/// assert!((small.call(&y_model, &y)?.to_scalar::<f64>()? - 0.00375).abs() < 1e-12);
/// # Ok::<(), lux_core::LuxError>(())
/// ```
#[derive(Clone, Debug)]
pub struct HuberLoss {
    agg: Agg,
    delta: f64,
}

impl Default for HuberLoss {
    fn default() -> HuberLoss {
        HuberLoss { agg: Agg::Mean, delta: 1.0 }
    }
}

impl HuberLoss {
    /// The loss with Lux's defaults (`delta` = 1, `agg` = mean).
    pub fn new() -> HuberLoss {
        HuberLoss::default()
    }

    /// The aggregation (default mean).
    pub fn agg(mut self, agg: Agg) -> HuberLoss {
        self.agg = agg;
        self
    }

    /// The threshold δ between the quadratic and linear parts (default 1;
    /// must be finite and ≥ 0, checked in `call`).
    pub fn delta(mut self, delta: f64) -> HuberLoss {
        self.delta = delta;
        self
    }
}

impl LossFunction for HuberLoss {
    fn name(&self) -> &'static str {
        "HuberLoss"
    }

    fn call(&self, y_pred: &Tensor, y: &Tensor) -> Result<Tensor> {
        let delta = non_negative(self.name(), "delta", self.delta)?;
        let y = prepare(self.name(), y_pred, y)?;
        let d = y_pred.sub(&y)?;
        let abs = d.abs()?;
        let quadratic = d.square()?.mul_scalar(0.5)?;
        let linear = abs.add_scalar(-0.5 * delta)?.mul_scalar(delta)?;
        let inside = abs.less_equal(&abs.scalar_like(delta))?;
        self.agg.apply(&Tensor::where_(&inside, &quadratic, &linear)?)
    }
}

/// The Poisson loss (Lux's `PoissonLoss`): `agg(ŷ − xlogy(y, ŷ + ε))`,
/// `agg` = mean by default; `epsilon` defaults to the machine epsilon of
/// ŷ's dtype (as in Lux, ŷ's only).
///
/// ```
/// use lux_core::Tensor;
/// use lux_losses::{LossFunction, PoissonLoss};
/// let y_model = Tensor::from_vec(vec![1.0f64, 3.0, 3.0], &[3])?;
/// let y = Tensor::from_vec(vec![1i64, 2, 3], &[3])?;
/// assert!((PoissonLoss::new().call(&y_model, &y)?.to_scalar::<f64>()? - 0.502312852219817).abs() < 1e-12);
/// # Ok::<(), lux_core::LuxError>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct PoissonLoss {
    agg: Agg,
    epsilon: Option<f64>,
}

impl PoissonLoss {
    /// The loss with Lux's defaults (`agg` = mean, machine epsilon).
    pub fn new() -> PoissonLoss {
        PoissonLoss::default()
    }

    /// The aggregation (default mean).
    pub fn agg(mut self, agg: Agg) -> PoissonLoss {
        self.agg = agg;
        self
    }

    /// The ε added to ŷ inside the logarithm (must be finite and ≥ 0;
    /// checked in `call`).
    pub fn epsilon(mut self, epsilon: f64) -> PoissonLoss {
        self.epsilon = Some(epsilon);
        self
    }
}

impl LossFunction for PoissonLoss {
    fn name(&self) -> &'static str {
        "PoissonLoss"
    }

    fn call(&self, y_pred: &Tensor, y: &Tensor) -> Result<Tensor> {
        let eps = epsilon_for(self.name(), self.epsilon, y_pred, y_pred)?;
        let y = prepare(self.name(), y_pred, y)?;
        let log_term = lux_ops::xlogy(&y, &y_pred.add_scalar(eps)?)?;
        self.agg.apply(&y_pred.sub(&log_term)?)
    }
}
