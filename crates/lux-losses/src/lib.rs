//! # lux-losses
//!
//! Lux.jl's loss functions as values: each loss is a small struct with
//! Lux's defaults and builder setters for its options, and implements
//! [`LossFunction`], which gives both of Lux's call forms:
//!
//! * [`call`](LossFunction::call)`(ŷ, y)`: the aggregated loss (a 0-d tensor
//!   unless the aggregation is [`Agg::None`]);
//! * [`objective`](LossFunction::objective)`(model, ps, st, (x, y))`: runs the
//!   model on `x` and returns `(loss, st', stats)`, so a loss value can be
//!   handed to the training API as its objective.
//!
//! Conventions (see `docs/conventions.md`): batch-first layout, so Lux's
//! class axis `dims = 1` is the **last** axis here (`dims = -1`); gradients
//! flow to `ŷ` only (targets are constants); bad input is an `Err` naming
//! the loss and the shapes.
//!
//! | family | losses |
//! |---|---|
//! | regression | [`MSELoss`], [`MAELoss`], [`MSLELoss`], [`HuberLoss`], [`PoissonLoss`] |
//! | margin, segmentation, generic | [`HingeLoss`], [`SquaredHingeLoss`], [`SiameseContrastiveLoss`], [`DiceCoeffLoss`], [`GenericLossFunction`] |
//! | classification | [`CrossEntropyLoss`] (also class-index targets), [`BinaryCrossEntropyLoss`], [`BinaryFocalLoss`], [`FocalLoss`], [`KLDivergenceLoss`] |
//!
//! Logit cross-entropy ([`CrossEntropyLoss`] with `logits = true`, dense or
//! class-index targets) and [`MSELoss`] run fused kernels: one pass forward,
//! one pass backward, no softmax, one-hot or difference tensor (their
//! `fused(false)` option selects the composite form, for comparison). All
//! other losses are composites of differentiable tensor ops (the logit
//! forms use `logsoftmax`/`logsigmoid`). Every loss nests under AD: inside
//! a gradient of a gradient, the fused kernels are differentiated through
//! their composite definitions. See `docs/losses.md` for the table of
//! losses, options, defaults and departures from Lux.
#![doc(test(attr(deny(warnings))))]

mod agg;
mod classification;
mod fused;
mod margin;
mod regression;
mod util;

pub use agg::{Agg, AggFn};
pub use classification::{BinaryCrossEntropyLoss, BinaryFocalLoss, CrossEntropyLoss, FocalLoss, KLDivergenceLoss};
pub use margin::{
    DiceCoeffLoss, ElementwiseLoss, GenericLossFunction, HingeLoss, SiameseContrastiveLoss, SquaredHingeLoss,
};
pub use regression::{HuberLoss, MAELoss, MSELoss, MSLELoss, PoissonLoss};

use lux_core::{Layer, Result, Tensor, Tree};

/// A loss function: `call(ŷ, y)` for values, `objective` for training.
///
/// ```
/// use lux_core::{Result, Tensor};
/// use lux_losses::{Agg, LossFunction};
///
/// /// Σ|ŷ − y|, written as a user's own loss.
/// struct L1Sum;
/// impl LossFunction for L1Sum {
///     fn name(&self) -> &'static str { "L1Sum" }
///     fn call(&self, y_pred: &Tensor, y: &Tensor) -> Result<Tensor> {
///         Agg::Sum.apply(&y_pred.sub(y)?.abs()?)
///     }
/// }
/// let y_pred = Tensor::from_vec(vec![1.0f32, 2.5], &[2])?;
/// let y = Tensor::from_vec(vec![1.5f32, 2.0], &[2])?;
/// assert_eq!(L1Sum.call(&y_pred, &y)?.to_scalar::<f32>()?, 1.0);
/// # Ok::<(), lux_core::LuxError>(())
/// ```
pub trait LossFunction {
    /// The loss's name, as used in error messages (e.g. `"MSELoss"`).
    fn name(&self) -> &'static str;

    /// The loss of predictions `y_pred` (ŷ) against targets `y`, aggregated.
    ///
    /// # Errors
    /// The shapes do not match or broadcast, a dtype is not accepted, or an
    /// option is invalid; the message names the loss and the shapes.
    fn call(&self, y_pred: &Tensor, y: &Tensor) -> Result<Tensor>;

    /// The training-objective form, Lux's `loss(model, ps, st, (x, y))`:
    /// runs `model.forward(x, ps, st)` (not `apply`, as Lux), and returns
    /// `(loss, new state, empty stats)`.
    ///
    /// ```
    /// use lux_core::{Layer, Result, Tensor, Tree, tree};
    /// use lux_losses::{Agg, LossFunction};
    ///
    /// struct Double; // y = 2x, no parameters
    /// impl Layer for Double {
    ///     fn init_params(&self, _: &mut dyn rand::Rng) -> Result<Tree> { Ok(Tree::new()) }
    ///     fn forward(&self, x: &Tree, _: &Tree, st: &Tree) -> Result<(Tree, Tree)> {
    ///         Ok((x.as_tensor()?.mul_scalar(2.0)?.into(), st.clone()))
    ///     }
    /// }
    /// struct SumLoss;
    /// impl LossFunction for SumLoss {
    ///     fn name(&self) -> &'static str { "SumLoss" }
    ///     fn call(&self, y_pred: &Tensor, y: &Tensor) -> Result<Tensor> {
    ///         Agg::Sum.apply(&y_pred.sub(y)?)
    ///     }
    /// }
    /// let x = Tensor::from_vec(vec![1.0f32, 2.0], &[2])?;
    /// let y = Tensor::from_vec(vec![0.5f32, 0.5], &[2])?;
    /// let (loss, st, stats) = SumLoss.objective(&Double, &Tree::new(), &tree! { n: 1i64 }, (&x.into(), &y))?;
    /// assert_eq!(loss.to_scalar::<f32>()?, 5.0); // (2 − 0.5) + (4 − 0.5)
    /// assert_eq!(st.get("n")?.as_int()?, 1);
    /// assert!(stats.is_empty());
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// The model fails, returns something other than a tensor, or
    /// [`call`](LossFunction::call) fails.
    fn objective(
        &self,
        model: &dyn Layer,
        ps: &Tree,
        st: &Tree,
        data: (&Tree, &Tensor),
    ) -> Result<(Tensor, Tree, Tree)> {
        let (y_pred, st_new) = model.forward(data.0, ps, st)?;
        let y_pred = y_pred.into_tensor().map_err(|e| util::context(self.name(), "the model's output", e))?;
        Ok((self.call(&y_pred, data.1)?, st_new, Tree::new()))
    }
}
