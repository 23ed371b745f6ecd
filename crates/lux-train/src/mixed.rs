//! Mixed-precision training (beyond Lux) and the precision conversion of a
//! [`TrainState`].
//!
//! [`TrainState::with_mixed_precision`] turns it on: the train state keeps
//! its parameters, states and optimiser state as they are (the f32
//! *master* copy), and every [`compute_gradients`](crate::compute_gradients)
//! / [`single_train_step_mut`](crate::single_train_step_mut) runs the
//! objective's forward and backward on a copy of the parameters and states
//! in the compute dtype (bf16 or f16). The gradients come back converted
//! to the master parameters' dtypes, the new state to the master states',
//! and the optimiser updates the master copy in f32.
//!
//! For f16 the loss is scaled before the backward pass and the gradients
//! unscaled after it (dynamic loss scaling, as PyTorch's `GradScaler`): a
//! step whose gradients hold NaN or ±∞ is skipped and halves the scale
//! (the training API's [`NonFinite::Skip`] policy, which f16 turns on);
//! after `growth_interval` clean steps in a row the scale doubles. bf16 has
//! f32's range and needs no scaling.
//!
//! The data is passed to the objective as it is: give the batches in the
//! compute dtype (`lux_precision::bf16(&x)`) so that the first layer
//! computes in it too; an f32 input meeting bf16 weights promotes to f32
//! (Lux's rule), which is correct but not faster.

use crate::train::{NonFinite, TrainState};
use lux_core::{DType, LuxError, Result, Tree};
use lux_precision::ToPrecision;

/// A mixed-precision policy: the compute dtype and, for f16, the dynamic
/// loss scale.
///
/// ```
/// use lux_core::DType;
/// use lux_train::MixedPrecision;
/// let bf = MixedPrecision::bf16();
/// assert_eq!((bf.compute_dtype(), bf.loss_scale()), (DType::BF16, None));
/// let h = MixedPrecision::f16().growth_interval(100)?;
/// assert_eq!(h.loss_scale(), Some(65536.0));
/// assert!(MixedPrecision::new(DType::I64).is_err());
/// # Ok::<(), lux_core::LuxError>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct MixedPrecision {
    compute: DType,
    scaler: Option<LossScaler>,
}

/// The dynamic loss scale of f16 training.
#[derive(Clone, Debug, PartialEq)]
struct LossScaler {
    scale: f64,
    growth_interval: u64,
    clean_steps: u64,
}

/// PyTorch's `GradScaler` defaults: 2¹⁶, ×2 after 2000 clean steps, ×½ on overflow.
const INIT_SCALE: f64 = 65536.0;
const GROWTH_INTERVAL: u64 = 2000;

impl MixedPrecision {
    /// Forward and backward in bfloat16, no loss scaling.
    ///
    /// ```
    /// let p = lux_train::MixedPrecision::bf16();
    /// assert_eq!(p.loss_scale(), None);
    /// ```
    pub fn bf16() -> MixedPrecision {
        MixedPrecision { compute: DType::BF16, scaler: None }
    }

    /// Forward and backward in f16 with dynamic loss scaling (initial
    /// scale 2¹⁶, doubled after 2000 clean steps, halved on overflow).
    ///
    /// ```
    /// use lux_core::DType;
    /// let p = lux_train::MixedPrecision::f16();
    /// assert_eq!((p.compute_dtype(), p.loss_scale()), (DType::F16, Some(65536.0)));
    /// ```
    pub fn f16() -> MixedPrecision {
        MixedPrecision {
            compute: DType::F16,
            scaler: Some(LossScaler { scale: INIT_SCALE, growth_interval: GROWTH_INTERVAL, clean_steps: 0 }),
        }
    }

    /// The policy for `compute`: [`bf16`](MixedPrecision::bf16),
    /// [`f16`](MixedPrecision::f16), or (f32/f64) the compute dtype alone.
    ///
    /// ```
    /// use lux_core::DType;
    /// use lux_train::MixedPrecision;
    /// assert_eq!(MixedPrecision::new(DType::BF16)?, MixedPrecision::bf16());
    /// assert_eq!(MixedPrecision::new(DType::F64)?.loss_scale(), None);
    /// assert!(MixedPrecision::new(DType::Bool).is_err());
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// A non-float dtype.
    pub fn new(compute: DType) -> Result<MixedPrecision> {
        match compute {
            DType::F16 => Ok(MixedPrecision::f16()),
            DType::BF16 => Ok(MixedPrecision::bf16()),
            DType::F32 | DType::F64 => Ok(MixedPrecision { compute, scaler: None }),
            other => Err(LuxError::invalid_argument(
                "MixedPrecision",
                format!("the compute dtype must be a float dtype, got {other}"),
            )),
        }
    }

    /// Sets the initial loss scale (f16 only).
    ///
    /// ```
    /// use lux_train::MixedPrecision;
    /// assert_eq!(MixedPrecision::f16().init_scale(1024.0)?.loss_scale(), Some(1024.0));
    /// assert!(MixedPrecision::bf16().init_scale(1024.0).is_err()); // bf16 does not scale
    /// assert!(MixedPrecision::f16().init_scale(0.0).is_err());
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// No loss scaling in this policy, or a scale that is not a positive
    /// finite number.
    pub fn init_scale(mut self, scale: f64) -> Result<MixedPrecision> {
        if !(scale.is_finite() && scale > 0.0) {
            return Err(LuxError::invalid_argument(
                "MixedPrecision",
                format!("the loss scale must be positive and finite, got {scale}"),
            ));
        }
        self.scaler_mut()?.scale = scale;
        Ok(self)
    }

    /// Sets how many clean steps in a row double the loss scale (f16 only).
    ///
    /// ```
    /// use lux_train::MixedPrecision;
    /// assert!(MixedPrecision::f16().growth_interval(500).is_ok());
    /// assert!(MixedPrecision::f16().growth_interval(0).is_err());
    /// ```
    ///
    /// # Errors
    /// No loss scaling in this policy, or `n == 0`.
    pub fn growth_interval(mut self, n: u64) -> Result<MixedPrecision> {
        if n == 0 {
            return Err(LuxError::invalid_argument("MixedPrecision", "the growth interval must be positive"));
        }
        self.scaler_mut()?.growth_interval = n;
        Ok(self)
    }

    fn scaler_mut(&mut self) -> Result<&mut LossScaler> {
        let compute = self.compute;
        self.scaler.as_mut().ok_or_else(|| {
            LuxError::invalid_argument("MixedPrecision", format!("{compute} compute uses no loss scaling"))
        })
    }

    /// The dtype forward and backward run in.
    ///
    /// ```
    /// assert_eq!(lux_train::MixedPrecision::bf16().compute_dtype(), lux_core::DType::BF16);
    /// ```
    pub fn compute_dtype(&self) -> DType {
        self.compute
    }

    /// The current loss scale (`None` without loss scaling).
    ///
    /// ```
    /// assert_eq!(lux_train::MixedPrecision::f16().loss_scale(), Some(65536.0));
    /// ```
    pub fn loss_scale(&self) -> Option<f64> {
        self.scaler.as_ref().map(|s| s.scale)
    }

    /// The parameters and states in the compute dtype.
    pub(crate) fn compute_copies(&self, ps: &Tree, st: &Tree) -> Result<(Tree, Tree)> {
        Ok((ps.to_precision(self.compute)?, st.to_precision(self.compute)?))
    }

    /// The factor the loss is multiplied by before the backward pass.
    pub(crate) fn scale(&self) -> f64 {
        self.loss_scale().unwrap_or(1.0)
    }

    /// Gradients unscaled and in the master parameters' dtypes, and the new
    /// state in the master states' dtypes.
    pub(crate) fn to_master(&self, grads: &Tree, ps: &Tree, st_new: &Tree, st: &Tree) -> Result<(Tree, Tree)> {
        let inv = 1.0 / self.scale();
        let grads = grads.zip_map(ps, |_, g, p| {
            let g = g.to_dtype(p.dtype())?;
            if inv == 1.0 { Ok(g) } else { g.mul_scalar(inv) }
        })?;
        let st_new = st_new.zip_map(st, |_, s, m| s.to_dtype(m.dtype()))?;
        Ok((grads, st_new))
    }

    /// The loss-scale update after a step: `finite` gradients count a clean
    /// step (doubling the scale after `growth_interval` of them), others
    /// halve it.
    pub(crate) fn after_step(&mut self, finite: bool) {
        if let Some(s) = &mut self.scaler {
            if finite {
                s.clean_steps += 1;
                if s.clean_steps >= s.growth_interval {
                    s.scale *= 2.0;
                    s.clean_steps = 0;
                }
            } else {
                s.scale = (s.scale * 0.5).max(f64::MIN_POSITIVE);
                s.clean_steps = 0;
            }
        }
    }
}

impl<M> TrainState<M> {
    /// Turns on mixed-precision training with `policy` (see the
    /// [module docs](self)); with loss scaling it also sets
    /// [`NonFinite::Skip`], so that an overflowing step is skipped.
    ///
    /// ```
    /// use lux_ad::AutoTape;
    /// use lux_core::{setup, DType, RngState, Tensor};
    /// use lux_layers::Dense;
    /// use lux_losses::MSELoss;
    /// use lux_ops::Activation;
    /// use lux_train::*;
    /// let model = Dense::new(3, 1, Activation::Identity)?;
    /// let (ps, st) = setup(&mut RngState::seed_from_u64(0), &model)?;
    /// let mut ts = TrainState::new(model, ps, st, Adam::new(0.01))?.with_mixed_precision(MixedPrecision::f16());
    /// let mut rng = RngState::seed_from_u64(1);
    /// let x = Tensor::randn(&mut rng, &[16, 3], DType::F16)?; // batches in the compute dtype
    /// let y = Tensor::zeros(&[16, 1], DType::F32)?;
    /// single_train_step_mut(&AutoTape, &MSELoss::default(), &(x, y), &mut ts, false)?;
    /// assert_eq!(ts.parameters().tensor("weight")?.dtype(), DType::F32); // the f32 master copy
    /// assert_eq!(ts.mixed_precision().unwrap().loss_scale(), Some(65536.0));
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn with_mixed_precision(mut self, policy: MixedPrecision) -> TrainState<M> {
        if policy.scaler.is_some() {
            self.non_finite = NonFinite::Skip;
        }
        self.mixed = Some(policy);
        self
    }

    /// The mixed-precision policy, if on (its loss scale is current).
    ///
    /// ```
    /// use lux_core::{setup, RngState};
    /// use lux_layers::Dense;
    /// use lux_ops::Activation;
    /// use lux_train::{Adam, MixedPrecision, TrainState};
    /// let model = Dense::new(2, 1, Activation::Identity)?;
    /// let (ps, st) = setup(&mut RngState::seed_from_u64(0), &model)?;
    /// let ts = TrainState::new(model, ps, st, Adam::default())?;
    /// assert!(ts.mixed_precision().is_none());
    /// let ts = ts.with_mixed_precision(MixedPrecision::bf16());
    /// assert_eq!(ts.mixed_precision(), Some(&MixedPrecision::bf16()));
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn mixed_precision(&self) -> Option<&MixedPrecision> {
        self.mixed.as_ref()
    }
}

impl<M> ToPrecision for TrainState<M> {
    /// Lux's `f16(ts)`, `f32(ts)`, …: the parameters, states and optimiser
    /// state with every float tensor converted; the model, rule, step
    /// counts and policies are shared.
    ///
    /// ```
    /// use lux_core::{setup, DType, RngState};
    /// use lux_layers::Dense;
    /// use lux_ops::Activation;
    /// use lux_train::{Adam, TrainState};
    /// let model = Dense::new(3, 2, Activation::Identity)?;
    /// let (ps, st) = setup(&mut RngState::seed_from_u64(0), &model)?;
    /// let ts = lux_precision::f64(&TrainState::new(model, ps, st, Adam::default())?)?;
    /// assert_eq!(ts.parameters().tensor("weight")?.dtype(), DType::F64);
    /// assert_eq!(ts.optimizer_state().tree().tensor("weight.m")?.dtype(), DType::F64);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    fn to_precision(&self, dtype: DType) -> Result<TrainState<M>> {
        let mut next = self.clone();
        next.parameters = self.parameters.to_precision(dtype)?;
        next.states = self.states.to_precision(dtype)?;
        *next.optimizer_state.tree_mut() = self.optimizer_state.tree().to_precision(dtype)?;
        Ok(next)
    }
}
