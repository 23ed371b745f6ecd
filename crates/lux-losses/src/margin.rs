//! Margin and overlap losses: [`HingeLoss`], [`SquaredHingeLoss`],
//! [`DiceCoeffLoss`], [`SiameseContrastiveLoss`], and
//! [`GenericLossFunction`] (a user's elementwise loss).

use crate::util::{non_negative, prepare};
use crate::{Agg, LossFunction};
use lux_core::{Result, Tensor, broadcast_shapes};
use std::fmt;
use std::sync::Arc;

/// The hinge loss (Lux's `HingeLoss`): `agg(max(0, 1 − ŷ·y))`, `agg` = mean
/// by default, for targets `y` in {−1, 1} (float or integer).
///
/// Unlike Lux (whose hand-written rule drops the factor `y`), the gradient
/// is the true derivative `−y·[ŷ·y < 1]`.
///
/// ```
/// use lux_core::Tensor;
/// use lux_losses::{HingeLoss, LossFunction};
/// let y_true = Tensor::from_vec(vec![1i64, -1, 1, 1], &[4])?;
/// let y_pred = Tensor::from_vec(vec![0.1f64, 0.3, 1.0, 1.5], &[4])?;
/// assert!((HingeLoss::new().call(&y_pred, &y_true)?.to_scalar::<f64>()? - 0.55).abs() < 1e-12);
/// # Ok::<(), lux_core::LuxError>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct HingeLoss {
    agg: Agg,
}

impl HingeLoss {
    /// The loss with Lux's defaults (`agg` = mean).
    pub fn new() -> HingeLoss {
        HingeLoss::default()
    }

    /// The aggregation (default mean).
    pub fn agg(mut self, agg: Agg) -> HingeLoss {
        self.agg = agg;
        self
    }
}

impl LossFunction for HingeLoss {
    fn name(&self) -> &'static str {
        "HingeLoss"
    }

    fn call(&self, y_pred: &Tensor, y: &Tensor) -> Result<Tensor> {
        let y = prepare(self.name(), y_pred, y)?;
        self.agg.apply(&lux_ops::relu(&y_pred.mul(&y)?.neg()?.add_scalar(1.0)?)?)
    }
}

/// The squared hinge loss (Lux's `SquaredHingeLoss`):
/// `agg(max(0, 1 − ŷ·y)²)`, `agg` = mean by default, for targets `y` in
/// {−1, 1} (float or integer).
///
/// Unlike Lux (whose hand-written rule drops the factor `y`), the gradient
/// is the true derivative `−2y·(1 − ŷ·y)·[ŷ·y < 1]`.
///
/// ```
/// use lux_core::Tensor;
/// use lux_losses::{LossFunction, SquaredHingeLoss};
/// let y_true = Tensor::from_vec(vec![1i64, -1, 1, 1], &[4])?;
/// let y_pred = Tensor::from_vec(vec![0.1f64, 0.3, 1.0, 1.5], &[4])?;
/// assert!((SquaredHingeLoss::new().call(&y_pred, &y_true)?.to_scalar::<f64>()? - 0.625).abs() < 1e-12);
/// # Ok::<(), lux_core::LuxError>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct SquaredHingeLoss {
    agg: Agg,
}

impl SquaredHingeLoss {
    /// The loss with Lux's defaults (`agg` = mean).
    pub fn new() -> SquaredHingeLoss {
        SquaredHingeLoss::default()
    }

    /// The aggregation (default mean).
    pub fn agg(mut self, agg: Agg) -> SquaredHingeLoss {
        self.agg = agg;
        self
    }
}

impl LossFunction for SquaredHingeLoss {
    fn name(&self) -> &'static str {
        "SquaredHingeLoss"
    }

    fn call(&self, y_pred: &Tensor, y: &Tensor) -> Result<Tensor> {
        let y = prepare(self.name(), y_pred, y)?;
        self.agg.apply(&lux_ops::relu(&y_pred.mul(&y)?.neg()?.add_scalar(1.0)?)?.square()?)
    }
}

/// The Dice coefficient loss (Lux's `DiceCoeffLoss`), per sample:
/// `1 − (2·Σ y·ŷ + α) / (Σ ŷ² + Σ y² + α)` with `α = smooth` (default 1),
/// then `agg` (mean by default) over the samples.
///
/// The sums run over every axis of a 1-d input (one sample: the result
/// before `agg` is 0-d), and over every axis but the first (the batch axis;
/// Lux's `1:N−1` in column-major order) otherwise: the result before `agg`
/// (what [`Agg::None`] returns) has shape `[batch]`. ŷ and y are
/// broadcast to their common shape first.
///
/// ```
/// use lux_core::Tensor;
/// use lux_losses::{DiceCoeffLoss, LossFunction};
/// let y_pred = Tensor::from_vec(vec![1.1f64, 2.1, 3.1], &[3])?;
/// let y = Tensor::from_vec(vec![1i64, 2, 3], &[3])?;
/// let l = DiceCoeffLoss::new().call(&y_pred, &y)?.to_scalar::<f64>()?;
/// assert!((l - 0.000992391663909964).abs() < 1e-12);
/// assert!((1.0 - l - 0.99900760833609).abs() < 1e-12);
/// // one sample of three features, batch-first
/// let l = DiceCoeffLoss::new().call(&y_pred.reshape(&[1, 3])?, &y.reshape(&[1, 3])?)?;
/// assert!((l.to_scalar::<f64>()? - 0.000992391663909964).abs() < 1e-12);
/// # Ok::<(), lux_core::LuxError>(())
/// ```
#[derive(Clone, Debug)]
pub struct DiceCoeffLoss {
    agg: Agg,
    smooth: f64,
}

impl Default for DiceCoeffLoss {
    fn default() -> DiceCoeffLoss {
        DiceCoeffLoss { agg: Agg::Mean, smooth: 1.0 }
    }
}

impl DiceCoeffLoss {
    /// The loss with Lux's defaults (`smooth` = 1, `agg` = mean).
    pub fn new() -> DiceCoeffLoss {
        DiceCoeffLoss::default()
    }

    /// The aggregation over the per-sample losses (default mean).
    pub fn agg(mut self, agg: Agg) -> DiceCoeffLoss {
        self.agg = agg;
        self
    }

    /// The smoothing term α added to numerator and denominator (default 1;
    /// must be finite and ≥ 0, checked in `call`).
    pub fn smooth(mut self, smooth: f64) -> DiceCoeffLoss {
        self.smooth = smooth;
        self
    }
}

impl LossFunction for DiceCoeffLoss {
    fn name(&self) -> &'static str {
        "DiceCoeffLoss"
    }

    fn call(&self, y_pred: &Tensor, y: &Tensor) -> Result<Tensor> {
        let smooth = non_negative(self.name(), "smooth", self.smooth)?;
        let y = prepare(self.name(), y_pred, y)?;
        let shape = broadcast_shapes(y_pred.shape(), y.shape())?;
        let (y_pred, y) = (y_pred.broadcast_to(&shape)?, y.broadcast_to(&shape)?);
        let axes: Vec<isize> =
            if shape.len() <= 1 { (0..shape.len() as isize).collect() } else { (1..shape.len() as isize).collect() };
        let num = y.mul(&y_pred)?.sum(&axes, false)?.mul_scalar(2.0)?.add_scalar(smooth)?;
        let den = y_pred.square()?.sum(&axes, false)?.add(&y.square()?.sum(&axes, false)?)?.add_scalar(smooth)?;
        self.agg.apply(&num.div(&den)?.neg()?.add_scalar(1.0)?)
    }
}

/// The contrastive loss for Siamese networks (Lux's
/// `SiameseContrastiveLoss`): `agg((1 − y)·ŷ² + y·max(0, margin − ŷ)²)`,
/// `agg` = mean by default, `margin` = 1 by default (must be finite and ≥ 0,
/// checked in `call`).
///
/// ```
/// use lux_core::Tensor;
/// use lux_losses::{LossFunction, SiameseContrastiveLoss};
/// let y_pred = Tensor::from_vec(vec![0.5f64, 1.5, 2.5], &[3])?;
/// let y = Tensor::from_vec(vec![1i64, 2, 3], &[3])?;
/// let l = SiameseContrastiveLoss::new().call(&y_pred, &y)?.to_scalar::<f64>()?;
/// assert!((l - -4.833333333333333).abs() < 1e-12);
/// let l = SiameseContrastiveLoss::new().margin(2.0).call(&y_pred, &y)?.to_scalar::<f64>()?;
/// assert!((l - -4.0).abs() < 1e-12);
/// # Ok::<(), lux_core::LuxError>(())
/// ```
#[derive(Clone, Debug)]
pub struct SiameseContrastiveLoss {
    agg: Agg,
    margin: f64,
}

impl Default for SiameseContrastiveLoss {
    fn default() -> SiameseContrastiveLoss {
        SiameseContrastiveLoss { agg: Agg::Mean, margin: 1.0 }
    }
}

impl SiameseContrastiveLoss {
    /// The loss with Lux's defaults (`margin` = 1, `agg` = mean).
    pub fn new() -> SiameseContrastiveLoss {
        SiameseContrastiveLoss::default()
    }

    /// The aggregation (default mean).
    pub fn agg(mut self, agg: Agg) -> SiameseContrastiveLoss {
        self.agg = agg;
        self
    }

    /// The distance beyond which dissimilar pairs cost nothing (default 1;
    /// must be finite and ≥ 0, checked in `call`).
    pub fn margin(mut self, margin: f64) -> SiameseContrastiveLoss {
        self.margin = margin;
        self
    }
}

impl LossFunction for SiameseContrastiveLoss {
    fn name(&self) -> &'static str {
        "SiameseContrastiveLoss"
    }

    fn call(&self, y_pred: &Tensor, y: &Tensor) -> Result<Tensor> {
        let margin = non_negative(self.name(), "margin", self.margin)?;
        let y = prepare(self.name(), y_pred, y)?;
        let similar = y.neg()?.add_scalar(1.0)?.mul(&y_pred.square()?)?;
        let dissimilar = y.mul(&lux_ops::relu(&y_pred.neg()?.add_scalar(margin)?)?.square()?)?;
        self.agg.apply(&similar.add(&dissimilar)?)
    }
}

/// The elementwise function of a [`GenericLossFunction`].
pub type ElementwiseLoss = Arc<dyn Fn(&Tensor, &Tensor) -> Result<Tensor> + Send + Sync>;

/// A user's elementwise loss (Lux's `GenericLossFunction`): `agg(f(ŷ, y))`,
/// `agg` = mean by default, where `f` is built from differentiable tensor
/// ops and applied to ŷ and the targets (cast to ŷ's dtype, broadcast as
/// the ops broadcast).
///
/// ```
/// use lux_core::Tensor;
/// use lux_losses::{GenericLossFunction, LossFunction};
/// let mseloss = GenericLossFunction::new(|y_pred, y| y_pred.sub(y)?.square());
/// let y_model = Tensor::from_vec(vec![1.1f64, 1.9, 3.1], &[3])?;
/// let y = Tensor::from_vec(vec![1i64, 2, 3], &[3])?;
/// assert!((mseloss.call(&y_model, &y)?.to_scalar::<f64>()? - 0.01).abs() < 1e-12);
/// # Ok::<(), lux_core::LuxError>(())
/// ```
#[derive(Clone)]
pub struct GenericLossFunction {
    f: ElementwiseLoss,
    agg: Agg,
}

impl GenericLossFunction {
    /// The loss `agg(f(ŷ, y))` with `agg` = mean.
    pub fn new(f: impl Fn(&Tensor, &Tensor) -> Result<Tensor> + Send + Sync + 'static) -> GenericLossFunction {
        GenericLossFunction { f: Arc::new(f), agg: Agg::Mean }
    }

    /// The aggregation (default mean).
    pub fn agg(mut self, agg: Agg) -> GenericLossFunction {
        self.agg = agg;
        self
    }
}

impl fmt::Debug for GenericLossFunction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GenericLossFunction").field("agg", &self.agg).finish_non_exhaustive()
    }
}

impl LossFunction for GenericLossFunction {
    fn name(&self) -> &'static str {
        "GenericLossFunction"
    }

    fn call(&self, y_pred: &Tensor, y: &Tensor) -> Result<Tensor> {
        let y = prepare(self.name(), y_pred, y)?;
        let elementwise =
            (self.f)(y_pred, &y).map_err(|e| crate::util::context(self.name(), "the loss function", e))?;
        self.agg.apply(&elementwise)
    }
}
