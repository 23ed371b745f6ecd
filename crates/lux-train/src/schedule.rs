//! Learning-rate schedules: a [`Schedule`] maps the step count to a
//! learning rate, and [`Schedule::apply`] sets it on a train state (or an
//! optimiser state) through `adjust_mut`, so any rule with an `eta` follows
//! it.

use crate::state::OptState;
use crate::train::TrainState;
use lux_core::{LuxError, Result};
use std::f64::consts::PI;

/// A learning-rate schedule, evaluated at the step count (0 before the
/// first update).
///
/// ```
/// use lux_train::Schedule;
/// let s = Schedule::Cosine { eta_max: 1.0, eta_min: 0.0, warmup: 10, period: 110 };
/// assert_eq!(s.eta(0)?, 0.0);
/// assert_eq!(s.eta(5)?, 0.5); // linear warm-up
/// assert_eq!(s.eta(10)?, 1.0);
/// assert!((s.eta(60)? - 0.5).abs() < 1e-12); // half-way down the cosine
/// assert_eq!(s.eta(110)?, 0.0);
/// assert_eq!(Schedule::Step { eta: 0.1, decay: 0.5, every: 100 }.eta(250)?, 0.025);
/// # Ok::<(), lux_core::LuxError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Schedule {
    /// The same rate at every step.
    Constant(f64),
    /// `eta · decay^⌊step / every⌋`.
    Step {
        /// The initial rate.
        eta: f64,
        /// The factor applied every `every` steps.
        decay: f64,
        /// The interval, in steps (≥ 1).
        every: u64,
    },
    /// `eta · decay^step`.
    Exponential {
        /// The initial rate.
        eta: f64,
        /// The factor per step.
        decay: f64,
    },
    /// A linear warm-up from 0 to `eta_max` over `warmup` steps, then a
    /// cosine from `eta_max` down to `eta_min` at step `period`, and
    /// `eta_min` after it.
    Cosine {
        /// The peak rate.
        eta_max: f64,
        /// The final rate.
        eta_min: f64,
        /// Warm-up steps.
        warmup: u64,
        /// The step at which the cosine reaches `eta_min` (> `warmup`).
        period: u64,
    },
}

impl Schedule {
    /// The learning rate at `step`.
    ///
    /// # Errors
    /// An invalid schedule: a negative or NaN rate, `every = 0`, or
    /// `period ≤ warmup`.
    pub fn eta(&self, step: u64) -> Result<f64> {
        self.validate()?;
        Ok(match *self {
            Schedule::Constant(eta) => eta,
            Schedule::Step { eta, decay, every } => eta * decay.powi(i32::try_from(step / every).unwrap_or(i32::MAX)),
            Schedule::Exponential { eta, decay } => eta * decay.powf(step as f64),
            Schedule::Cosine { eta_max, eta_min, warmup, period } => {
                if step < warmup {
                    eta_max * step as f64 / warmup as f64
                } else if step >= period {
                    eta_min
                } else {
                    let progress = (step - warmup) as f64 / (period - warmup) as f64;
                    eta_min + 0.5 * (eta_max - eta_min) * (1.0 + (PI * progress).cos())
                }
            }
        })
    }

    fn validate(&self) -> Result<()> {
        let bad = |msg: String| Err(LuxError::invalid_argument("Schedule", msg));
        let rates: &[f64] = match self {
            Schedule::Constant(eta) => &[*eta],
            Schedule::Step { eta, decay, .. } | Schedule::Exponential { eta, decay } => &[*eta, *decay],
            Schedule::Cosine { eta_max, eta_min, .. } => &[*eta_max, *eta_min],
        };
        if let Some(r) = rates.iter().find(|r| r.is_nan() || **r < 0.0) {
            return bad(format!("rates and decays must be ≥ 0, got {r}"));
        }
        match *self {
            Schedule::Step { every: 0, .. } => bad("`every` must be ≥ 1".into()),
            Schedule::Cosine { warmup, period, .. } if period <= warmup => {
                bad(format!("`period` ({period}) must exceed `warmup` ({warmup})"))
            }
            _ => Ok(()),
        }
    }

    /// Sets the learning rate of `opt` to the schedule's value at `step`.
    ///
    /// # Errors
    /// An invalid schedule, or a rule without an `eta`.
    pub fn apply_to(&self, opt: &mut OptState, step: u64) -> Result<()> {
        opt.adjust_mut("eta", self.eta(step)?)
    }

    /// Sets the learning rate of `ts` to the schedule's value at its step
    /// count; call it before each training step.
    ///
    /// ```
    /// use lux_core::{tree, Layer, Result, Tensor, Tree};
    /// use lux_train::{Adam, Hyper, Schedule, TrainState};
    /// struct Id;
    /// impl Layer for Id {
    ///     fn forward(&self, x: &Tree, _: &Tree, st: &Tree) -> Result<(Tree, Tree)> { Ok((x.clone(), st.clone())) }
    /// }
    /// let ps = tree! { w: Tensor::from_vec(vec![1.0f32], &[1])? };
    /// let mut ts = TrainState::new(Id, ps, Tree::new(), Adam::default())?;
    /// Schedule::Exponential { eta: 0.1, decay: 0.5 }.apply(&mut ts)?;
    /// assert_eq!(ts.optimizer_state().hyperparameter("eta")?, Hyper::Scalar(0.1)); // step 0
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// As [`apply_to`](Schedule::apply_to).
    pub fn apply<M>(&self, ts: &mut TrainState<M>) -> Result<()> {
        let step = ts.step();
        self.apply_to(ts.optimizer_state_mut(), step)
    }
}
