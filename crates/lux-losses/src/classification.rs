//! The classification losses: cross-entropy (multi-class and binary),
//! focal losses and the Kullback–Leibler divergence.

use crate::fused::{CeTarget, cast_to, composite_cross_entropy, fused_target, logit_cross_entropy, smooth};
use crate::util::{epsilon_for, float_predictions, non_negative, prepare, unit_interval};
use crate::{Agg, LossFunction};
use lux_core::{DType, LuxError, Result, Tensor, normalize_axis};
use std::sync::Arc;

/// Class-index targets: for an i64 `y` with one axis fewer than `y_pred`,
/// the labels in row-major order (one per lane of the class axis `axis`),
/// each checked to lie in `0..classes`; `None` for any other `y`.
fn class_labels(loss: &str, y_pred: &Tensor, y: &Tensor, axis: usize) -> Result<Option<Vec<usize>>> {
    if y.dtype() != DType::I64 || y.ndim() + 1 != y_pred.ndim() {
        return Ok(None);
    }
    let mut expected = y_pred.shape().to_vec();
    let classes = expected.remove(axis);
    if y.shape() != expected.as_slice() {
        return Err(LuxError::shape(
            loss,
            format!(
                "class-index targets y of shape {:?} do not match predictions ŷ of shape {:?} without the class axis {axis} (expected {expected:?})",
                y.shape(),
                y_pred.shape()
            ),
        ));
    }
    let labels = y.to_vec::<i64>()?;
    if let Some(&bad) = labels.iter().find(|&&l| l < 0 || l as usize >= classes) {
        return Err(LuxError::invalid_argument(
            loss,
            format!("label {bad} is out of range for {classes} classes (valid labels 0..{classes})"),
        ));
    }
    Ok(Some(labels.into_iter().map(|l| l as usize).collect()))
}

/// The one-hot encoding of checked i64 `labels` with the classes on `axis`
/// (`labels`' shape with `classes` inserted at `axis`).
pub(crate) fn one_hot_along(labels: &Tensor, classes: usize, axis: usize, dtype: DType) -> Result<Tensor> {
    let hot = lux_ops::one_hot(labels, classes, dtype)?;
    let n = labels.ndim() + 1;
    let axes: Vec<usize> = (0..n)
        .map(|k| {
            if k < axis {
                k
            } else if k == axis {
                n - 1
            } else {
                k - 1
            }
        })
        .collect();
    hot.permute(&axes)
}

/// Multi-class cross-entropy (Lux's `CrossEntropyLoss`), reduced along the
/// class axis `dims` and then aggregated over the remaining elements:
///
/// * probabilities (`logits = false`, the default):
///   `agg(−Σ_dims ỹ·log(ŷ + ε))`;
/// * logits (`logits = true`): `agg(−Σ_dims ỹ·logsoftmax(ŷ, dims))`, with no
///   ε, finite for logits as large as ±1e4;
///
/// where `ỹ = (1 − α)·y + α / size(ŷ, dims)` with `α = label_smoothing`
/// (default 0; Lux documents the division by the size of the `dims` axis,
/// see `DESIGN.md`). Defaults: `dims = -1` (the class axis is last in
/// batch-first layout, Lux's `dims = 1`), `epsilon = None` (the machine
/// epsilon of the promoted dtype of ŷ and y), `agg = mean`. With
/// [`Agg::None`] the result is the per-sample loss, `ŷ`'s shape without
/// the `dims` axis.
///
/// Targets are float, integer or bool tensors of ŷ's shape (or broadcasting
/// to it), or **class indices**: an i64 tensor of ŷ's shape without the
/// `dims` axis (any `dims`), equivalent to its one-hot encoding along
/// `dims`. An out-of-range label is an `Err` naming the label and the class
/// count.
///
/// Lux's example, transposed to batch-first (5 samples, 3 classes):
/// ```
/// use lux_core::{DType, Tensor};
/// use lux_losses::{Agg, CrossEntropyLoss, LossFunction};
/// use lux_ops::softmax;
/// let y = Tensor::from_vec(vec![1.0f32, 0., 0., 0., 1., 0., 0., 0., 1., 0., 1., 0., 1., 0., 0.], &[5, 3])?;
/// let y_model = softmax(&Tensor::arange(-7.0, 8.0, 1.0, DType::F32)?.reshape(&[5, 3])?, -1)?;
/// let l = CrossEntropyLoss::new().call(&y_model, &y)?.to_scalar::<f32>()?;
/// assert!((l - 1.6076053).abs() < 1e-5);
/// let s = CrossEntropyLoss::new().agg(Agg::Sum).call(&y_model, &y)?.to_scalar::<f32>()?;
/// assert!((s - 5.0 * 1.6076053).abs() < 1e-4);
/// let ls = CrossEntropyLoss::new().label_smoothing(0.15).call(&y_model, &y)?.to_scalar::<f32>()?;
/// assert!((ls - 1.5776052).abs() < 1e-5);
/// // The same targets as class indices, and the logit form.
/// let labels = Tensor::from_vec(vec![0i64, 1, 2, 1, 0], &[5])?;
/// let li = CrossEntropyLoss::new().call(&y_model, &labels)?.to_scalar::<f32>()?;
/// assert!((li - 1.6076053).abs() < 1e-5);
/// let logits = Tensor::arange(-7.0, 8.0, 1.0, DType::F32)?.reshape(&[5, 3])?;
/// let ll = CrossEntropyLoss::new().logits(true).call(&logits, &labels)?.to_scalar::<f32>()?;
/// assert!((ll - 1.6076053).abs() < 1e-5);
/// # Ok::<(), lux_core::LuxError>(())
/// ```
#[derive(Clone, Debug)]
pub struct CrossEntropyLoss {
    agg: Agg,
    dims: isize,
    epsilon: Option<f64>,
    logits: bool,
    label_smoothing: f64,
    fused: bool,
}

impl Default for CrossEntropyLoss {
    fn default() -> CrossEntropyLoss {
        CrossEntropyLoss { agg: Agg::Mean, dims: -1, epsilon: None, logits: false, label_smoothing: 0.0, fused: true }
    }
}

impl CrossEntropyLoss {
    /// Lux's defaults: `dims = -1`, `epsilon = None`, `logits = false`,
    /// `label_smoothing = 0`, `agg = mean`.
    pub fn new() -> CrossEntropyLoss {
        CrossEntropyLoss::default()
    }
    /// The aggregation over the per-sample losses (default mean).
    pub fn agg(mut self, agg: Agg) -> CrossEntropyLoss {
        self.agg = agg;
        self
    }
    /// The class axis, signed (default −1, the last axis).
    pub fn dims(mut self, dims: isize) -> CrossEntropyLoss {
        self.dims = dims;
        self
    }
    /// The ε added to ŷ in the probability form (default: the machine
    /// epsilon); must be finite and ≥ 0, checked in `call`.
    pub fn epsilon(mut self, epsilon: f64) -> CrossEntropyLoss {
        self.epsilon = Some(epsilon);
        self
    }
    /// Whether ŷ holds logits (default false: probabilities).
    pub fn logits(mut self, logits: bool) -> CrossEntropyLoss {
        self.logits = logits;
        self
    }
    /// The label smoothing α in [0, 1] (default 0), checked in `call`.
    pub fn label_smoothing(mut self, alpha: f64) -> CrossEntropyLoss {
        self.label_smoothing = alpha;
        self
    }
    /// Whether the logit form (`logits = true`) runs the fused kernel
    /// (default `true`): one pass forward, one pass backward, no softmax or
    /// one-hot tensor. `false` computes the same function as a composite of
    /// differentiable ops (`logsoftmax`, `mul`, `sum`), for comparison; the
    /// values agree to rounding. The probability form is always a composite.
    ///
    /// ```
    /// use lux_core::Tensor;
    /// use lux_losses::{CrossEntropyLoss, LossFunction};
    /// let logits = Tensor::from_vec(vec![2.0f64, -1.0, 0.5, 0.0, 3.0, -2.0], &[2, 3])?;
    /// let labels = Tensor::from_vec(vec![0i64, 1], &[2])?;
    /// let fused = CrossEntropyLoss::new().logits(true).call(&logits, &labels)?.to_scalar::<f64>()?;
    /// let composite = CrossEntropyLoss::new().logits(true).fused(false).call(&logits, &labels)?.to_scalar::<f64>()?;
    /// assert!((fused - composite).abs() < 1e-14);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn fused(mut self, fused: bool) -> CrossEntropyLoss {
        self.fused = fused;
        self
    }
}

impl LossFunction for CrossEntropyLoss {
    fn name(&self) -> &'static str {
        "CrossEntropyLoss"
    }
    fn call(&self, y_pred: &Tensor, y: &Tensor) -> Result<Tensor> {
        let name = self.name();
        let alpha = unit_interval(name, "label_smoothing", self.label_smoothing)?;
        let eps = epsilon_for(name, self.epsilon, y_pred, y)?;
        float_predictions(name, y_pred)?;
        let axis = normalize_axis(name, self.dims, y_pred.shape())?;
        let classes = y_pred.shape()[axis];
        let labels = class_labels(name, y_pred, y, axis)?;
        if self.logits && self.fused {
            let per_sample = match labels {
                Some(labels) => {
                    let target = CeTarget::Index { labels: Arc::new(labels), tensor: y.detach() };
                    logit_cross_entropy(y_pred, target, axis, alpha)?
                }
                None => {
                    let y = prepare(name, y_pred, y)?;
                    let x = cast_to(y_pred, y.dtype())?;
                    match fused_target(&x, &y)? {
                        Some(y) => logit_cross_entropy(&x, CeTarget::Dense(y), axis, alpha)?,
                        None => composite_cross_entropy(&x, &smooth(y, alpha, classes)?, axis)?,
                    }
                }
            };
            return self.agg.apply(&per_sample);
        }
        let y = match labels {
            Some(_) => one_hot_along(y, classes, axis, y_pred.dtype())?,
            None => prepare(name, y_pred, y)?,
        };
        let y = smooth(y, alpha, classes)?;
        let per_sample = if self.logits {
            composite_cross_entropy(y_pred, &y, axis)?
        } else {
            let ax = [axis as isize];
            lux_ops::xlogy(&y, &y_pred.add_scalar(eps)?)?.sum(&ax, false)?.neg()?
        };
        self.agg.apply(&per_sample)
    }
}

/// Binary cross-entropy (Lux's `BinaryCrossEntropyLoss`), elementwise and
/// then aggregated, with `ỹ = (1 − α)·y + α·0.5` (`α = label_smoothing`,
/// default 0):
///
/// * probabilities (`logits = false`, the default):
///   `−ỹ·log(ŷ + ε) − (1 − ỹ)·log(1 − ŷ + ε)` (each term exactly 0 where its
///   weight is 0, as Lux's `xlogy`);
/// * logits (`logits = true`): `(1 − ỹ)·ŷ − logσ(ŷ)`, no ε, finite for
///   logits of ±1e4.
///
/// Defaults: `epsilon = None` (the machine epsilon of the promoted dtype),
/// `agg = mean`. Targets may be float, integer or bool, of ŷ's shape or
/// broadcasting to it.
///
/// Lux's example:
/// ```
/// use lux_core::Tensor;
/// use lux_losses::{BinaryCrossEntropyLoss, LossFunction};
/// use lux_ops::sigmoid;
/// let y_bin = Tensor::from_vec(vec![true, false, true], &[3])?;
/// let y_model = Tensor::from_vec(vec![2.0f32, -1.0, std::f32::consts::PI], &[3])?;
/// let l = BinaryCrossEntropyLoss::new().logits(true).call(&y_model, &y_bin)?.to_scalar::<f32>()?;
/// assert!((l - 0.160832).abs() < 1e-5);
/// let p = BinaryCrossEntropyLoss::new().call(&sigmoid(&y_model)?, &y_bin)?.to_scalar::<f32>()?;
/// assert!((p - 0.16083185).abs() < 1e-5);
/// # Ok::<(), lux_core::LuxError>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct BinaryCrossEntropyLoss {
    agg: Agg,
    epsilon: Option<f64>,
    logits: bool,
    label_smoothing: f64,
}

impl BinaryCrossEntropyLoss {
    /// Lux's defaults: `epsilon = None`, `logits = false`,
    /// `label_smoothing = 0`, `agg = mean`.
    pub fn new() -> BinaryCrossEntropyLoss {
        BinaryCrossEntropyLoss::default()
    }
    /// The aggregation (default mean).
    pub fn agg(mut self, agg: Agg) -> BinaryCrossEntropyLoss {
        self.agg = agg;
        self
    }
    /// The ε of the probability form (default: the machine epsilon); must
    /// be finite and ≥ 0, checked in `call`.
    pub fn epsilon(mut self, epsilon: f64) -> BinaryCrossEntropyLoss {
        self.epsilon = Some(epsilon);
        self
    }
    /// Whether ŷ holds logits (default false: probabilities).
    pub fn logits(mut self, logits: bool) -> BinaryCrossEntropyLoss {
        self.logits = logits;
        self
    }
    /// The label smoothing α in [0, 1] (default 0), checked in `call`.
    pub fn label_smoothing(mut self, alpha: f64) -> BinaryCrossEntropyLoss {
        self.label_smoothing = alpha;
        self
    }
}

impl LossFunction for BinaryCrossEntropyLoss {
    fn name(&self) -> &'static str {
        "BinaryCrossEntropyLoss"
    }
    fn call(&self, y_pred: &Tensor, y: &Tensor) -> Result<Tensor> {
        let name = self.name();
        let alpha = unit_interval(name, "label_smoothing", self.label_smoothing)?;
        let eps = epsilon_for(name, self.epsilon, y_pred, y)?;
        let y = prepare(name, y_pred, y)?;
        let y = if alpha > 0.0 { y.mul_scalar(1.0 - alpha)?.add_scalar(alpha * 0.5)? } else { y };
        let one_minus_y = y.neg()?.add_scalar(1.0)?;
        let loss = if self.logits {
            one_minus_y.mul(y_pred)?.sub(&lux_ops::logsigmoid(y_pred)?)?
        } else {
            let pos = lux_ops::xlogy(&y, &y_pred.add_scalar(eps)?)?;
            let neg = lux_ops::xlogy(&one_minus_y, &y_pred.neg()?.add_scalar(1.0 + eps)?)?;
            pos.add(&neg)?.neg()?
        };
        self.agg.apply(&loss)
    }
}

/// Binary focal loss (Lux's `BinaryFocalLoss`), elementwise and then
/// aggregated: with `ŷε = ŷ + ε` and `p_t = y·ŷε + (1 − y)·(1 − ŷε)`,
/// `−(1 − p_t)^γ · log(p_t)`. Defaults: `gamma = 2` (finite and ≥ 0,
/// checked in `call`), `epsilon = None` (the machine epsilon of the
/// promoted dtype), `agg = mean`. With `gamma = 0` it is the binary
/// cross-entropy of the two-class one-hot targets.
///
/// Lux's example, transposed to batch-first:
/// ```
/// use lux_core::Tensor;
/// use lux_losses::{BinaryFocalLoss, LossFunction};
/// let y = Tensor::from_vec(vec![0i64, 1, 1, 0, 0, 1], &[3, 2])?;
/// let y_hat = Tensor::from_vec(vec![0.268941f64, 0.731059, 0.5, 0.5, 0.268941, 0.731059], &[3, 2])?;
/// let l = BinaryFocalLoss::new().call(&y_hat, &y)?.to_scalar::<f64>()?;
/// assert!((l - 0.0728675615927385).abs() < 1e-9);
/// # Ok::<(), lux_core::LuxError>(())
/// ```
#[derive(Clone, Debug)]
pub struct BinaryFocalLoss {
    agg: Agg,
    gamma: f64,
    epsilon: Option<f64>,
}

impl Default for BinaryFocalLoss {
    fn default() -> BinaryFocalLoss {
        BinaryFocalLoss { agg: Agg::Mean, gamma: 2.0, epsilon: None }
    }
}

impl BinaryFocalLoss {
    /// Lux's defaults: `gamma = 2`, `epsilon = None`, `agg = mean`.
    pub fn new() -> BinaryFocalLoss {
        BinaryFocalLoss::default()
    }
    /// The aggregation (default mean).
    pub fn agg(mut self, agg: Agg) -> BinaryFocalLoss {
        self.agg = agg;
        self
    }
    /// The focusing exponent γ (default 2); finite and ≥ 0, checked in `call`.
    pub fn gamma(mut self, gamma: f64) -> BinaryFocalLoss {
        self.gamma = gamma;
        self
    }
    /// The ε added to ŷ (default: the machine epsilon); finite and ≥ 0,
    /// checked in `call`.
    pub fn epsilon(mut self, epsilon: f64) -> BinaryFocalLoss {
        self.epsilon = Some(epsilon);
        self
    }
}

impl LossFunction for BinaryFocalLoss {
    fn name(&self) -> &'static str {
        "BinaryFocalLoss"
    }
    fn call(&self, y_pred: &Tensor, y: &Tensor) -> Result<Tensor> {
        let name = self.name();
        let gamma = non_negative(name, "gamma", self.gamma)?;
        let eps = epsilon_for(name, self.epsilon, y_pred, y)?;
        let y = prepare(name, y_pred, y)?;
        let p_eps = y_pred.add_scalar(eps)?;
        let p_t = y.mul(&p_eps)?.add(&y.neg()?.add_scalar(1.0)?.mul(&p_eps.neg()?.add_scalar(1.0)?)?)?;
        let loss = p_t.neg()?.add_scalar(1.0)?.powf(gamma)?.mul(&p_t.log()?)?.neg()?;
        self.agg.apply(&loss)
    }
}

/// Multi-class focal loss (Lux's `FocalLoss`): with `ŷε = ŷ + ε`,
/// `agg(Σ_dims −y·(1 − ŷε)^γ·log(ŷε))`, reduced along the class axis `dims`
/// and then aggregated over the remaining elements. Defaults: `gamma = 2`
/// (finite and ≥ 0, checked in `call`), `dims = -1` (the class axis is last
/// in batch-first layout, Lux's `dims = 1`), `epsilon = None` (the machine
/// epsilon of the promoted dtype), `agg = mean`. With `gamma = 0` it is the
/// cross-entropy. ŷ holds probabilities.
///
/// Lux's example, transposed to batch-first (5 samples, 3 classes):
/// ```
/// use lux_core::{DType, Tensor};
/// use lux_losses::{FocalLoss, LossFunction};
/// use lux_ops::softmax;
/// let y = Tensor::from_vec(vec![1.0f32, 0., 0., 0., 1., 0., 0., 0., 1., 0., 1., 0., 1., 0., 0.], &[5, 3])?;
/// let y_hat = softmax(&Tensor::arange(-7.0, 8.0, 1.0, DType::F32)?.reshape(&[5, 3])?, -1)?;
/// let l = FocalLoss::new().call(&y_hat, &y)?.to_scalar::<f32>()?;
/// assert!((l - 1.1277556).abs() < 1e-5);
/// # Ok::<(), lux_core::LuxError>(())
/// ```
#[derive(Clone, Debug)]
pub struct FocalLoss {
    agg: Agg,
    gamma: f64,
    dims: isize,
    epsilon: Option<f64>,
}

impl Default for FocalLoss {
    fn default() -> FocalLoss {
        FocalLoss { agg: Agg::Mean, gamma: 2.0, dims: -1, epsilon: None }
    }
}

impl FocalLoss {
    /// Lux's defaults: `gamma = 2`, `dims = -1`, `epsilon = None`,
    /// `agg = mean`.
    pub fn new() -> FocalLoss {
        FocalLoss::default()
    }
    /// The aggregation over the per-sample losses (default mean).
    pub fn agg(mut self, agg: Agg) -> FocalLoss {
        self.agg = agg;
        self
    }
    /// The focusing exponent γ (default 2); finite and ≥ 0, checked in `call`.
    pub fn gamma(mut self, gamma: f64) -> FocalLoss {
        self.gamma = gamma;
        self
    }
    /// The class axis, signed (default −1, the last axis).
    pub fn dims(mut self, dims: isize) -> FocalLoss {
        self.dims = dims;
        self
    }
    /// The ε added to ŷ (default: the machine epsilon); finite and ≥ 0,
    /// checked in `call`.
    pub fn epsilon(mut self, epsilon: f64) -> FocalLoss {
        self.epsilon = Some(epsilon);
        self
    }
}

impl LossFunction for FocalLoss {
    fn name(&self) -> &'static str {
        "FocalLoss"
    }
    fn call(&self, y_pred: &Tensor, y: &Tensor) -> Result<Tensor> {
        let name = self.name();
        let gamma = non_negative(name, "gamma", self.gamma)?;
        let eps = epsilon_for(name, self.epsilon, y_pred, y)?;
        let y = prepare(name, y_pred, y)?;
        let axis = normalize_axis(name, self.dims, y_pred.shape())? as isize;
        let p_eps = y_pred.add_scalar(eps)?;
        let weight = p_eps.neg()?.add_scalar(1.0)?.powf(gamma)?;
        let per_sample = y.mul(&weight)?.mul(&p_eps.log()?)?.sum(&[axis], false)?.neg()?;
        self.agg.apply(&per_sample)
    }
}

/// Kullback–Leibler divergence (Lux's `KLDivergenceLoss`) of the target
/// distribution `y` from the prediction `ŷ`, both along the class axis
/// `dims`: `agg(Σ_dims y·log y) + CE(ŷ, y)`, where `CE` is
/// [`CrossEntropyLoss`] with the same `dims`, `epsilon`, `label_smoothing`
/// and `agg` (as in Lux, the smoothing applies to the cross-entropy term
/// only, and `0·log 0 = 0`). Defaults: `dims = -1`, `epsilon = None` (the
/// machine epsilon of the promoted dtype), `label_smoothing = 0`,
/// `agg = mean`. Targets are distributions (float, integer or bool, of ŷ's
/// shape or broadcasting to it), not class indices.
///
/// Lux's examples:
/// ```
/// use lux_core::Tensor;
/// use lux_losses::{Agg, KLDivergenceLoss, LossFunction};
/// let p1 = Tensor::from_vec(vec![1.0f64, 0.0, 0.0, 1.0], &[2, 2])?;
/// let p2 = Tensor::full(&[2, 2], 0.5, lux_core::DType::F64)?;
/// let l = KLDivergenceLoss::new().call(&p2, &p1)?.to_scalar::<f64>()?;
/// assert!((l - 2f64.ln()).abs() < 1e-12);
/// let s = KLDivergenceLoss::new().agg(Agg::Sum).call(&p2, &p1)?.to_scalar::<f64>()?;
/// assert!((s - 2.0 * 2f64.ln()).abs() < 1e-12);
/// assert_eq!(KLDivergenceLoss::new().epsilon(0.0).call(&p2, &p2)?.to_scalar::<f64>()?, 0.0);
/// assert_eq!(KLDivergenceLoss::new().epsilon(0.0).call(&p1, &p2)?.to_scalar::<f64>()?, f64::INFINITY);
/// # Ok::<(), lux_core::LuxError>(())
/// ```
#[derive(Clone, Debug)]
pub struct KLDivergenceLoss {
    agg: Agg,
    dims: isize,
    epsilon: Option<f64>,
    label_smoothing: f64,
}

impl Default for KLDivergenceLoss {
    fn default() -> KLDivergenceLoss {
        KLDivergenceLoss { agg: Agg::Mean, dims: -1, epsilon: None, label_smoothing: 0.0 }
    }
}

impl KLDivergenceLoss {
    /// Lux's defaults: `dims = -1`, `epsilon = None`, `label_smoothing = 0`,
    /// `agg = mean`.
    pub fn new() -> KLDivergenceLoss {
        KLDivergenceLoss::default()
    }
    /// The aggregation over the per-sample values (default mean), applied
    /// to each of the two terms.
    pub fn agg(mut self, agg: Agg) -> KLDivergenceLoss {
        self.agg = agg;
        self
    }
    /// The class axis, signed (default −1, the last axis).
    pub fn dims(mut self, dims: isize) -> KLDivergenceLoss {
        self.dims = dims;
        self
    }
    /// The ε of the cross-entropy term (default: the machine epsilon);
    /// finite and ≥ 0, checked in `call`.
    pub fn epsilon(mut self, epsilon: f64) -> KLDivergenceLoss {
        self.epsilon = Some(epsilon);
        self
    }
    /// The label smoothing α in [0, 1] of the cross-entropy term (default
    /// 0), checked in `call`.
    pub fn label_smoothing(mut self, alpha: f64) -> KLDivergenceLoss {
        self.label_smoothing = alpha;
        self
    }
}

impl LossFunction for KLDivergenceLoss {
    fn name(&self) -> &'static str {
        "KLDivergenceLoss"
    }
    fn call(&self, y_pred: &Tensor, y: &Tensor) -> Result<Tensor> {
        let name = self.name();
        unit_interval(name, "label_smoothing", self.label_smoothing)?;
        let eps = epsilon_for(name, self.epsilon, y_pred, y)?;
        let y = prepare(name, y_pred, y)?;
        let axis = normalize_axis(name, self.dims, y_pred.shape())? as isize;
        let entropy = self.agg.apply(&lux_ops::xlogx(&y)?.sum(&[axis], false)?)?;
        let ce = CrossEntropyLoss {
            agg: self.agg.clone(),
            dims: axis,
            epsilon: Some(eps),
            logits: false,
            label_smoothing: self.label_smoothing,
            fused: true,
        };
        entropy.add(&ce.call(y_pred, &y)?)
    }
}
