//! How a loss reduces its per-element (or per-sample) values.

use lux_core::{Result, Tensor};
use std::fmt;
use std::sync::Arc;

/// A user aggregation: a function of the unreduced loss tensor.
pub type AggFn = Arc<dyn Fn(&Tensor) -> Result<Tensor> + Send + Sync>;

/// The aggregation of a loss (Lux's `agg`): [`Mean`](Agg::Mean) (the
/// default), [`Sum`](Agg::Sum), [`None`](Agg::None) (the unreduced tensor),
/// or a user function of the unreduced tensor ([`Agg::custom`]).
///
/// ```
/// use lux_core::Tensor;
/// use lux_losses::Agg;
/// let l = Tensor::from_vec(vec![1.0f64, 2.0, 6.0], &[3])?;
/// assert_eq!(Agg::Mean.apply(&l)?.to_scalar::<f64>()?, 3.0);
/// assert_eq!(Agg::Sum.apply(&l)?.to_scalar::<f64>()?, 9.0);
/// assert_eq!(Agg::None.apply(&l)?, l);
/// let max = Agg::custom(|t| t.max_all());
/// assert_eq!(max.apply(&l)?.to_scalar::<f64>()?, 6.0);
/// # Ok::<(), lux_core::LuxError>(())
/// ```
#[derive(Clone, Default)]
pub enum Agg {
    /// The mean of all elements.
    #[default]
    Mean,
    /// The sum of all elements.
    Sum,
    /// No reduction: the per-element (or per-sample) loss tensor.
    None,
    /// A user function of the unreduced loss tensor.
    Custom(AggFn),
}

impl Agg {
    /// A custom aggregation; `f` receives the unreduced loss tensor.
    pub fn custom(f: impl Fn(&Tensor) -> Result<Tensor> + Send + Sync + 'static) -> Agg {
        Agg::Custom(Arc::new(f))
    }

    /// Aggregates the unreduced loss tensor `loss`.
    ///
    /// # Errors
    /// Whatever a custom function returns.
    pub fn apply(&self, loss: &Tensor) -> Result<Tensor> {
        match self {
            Agg::Mean => loss.mean_all(),
            Agg::Sum => loss.sum_all(),
            Agg::None => Ok(loss.clone()),
            Agg::Custom(f) => f(loss),
        }
    }
}

impl fmt::Debug for Agg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Agg::Mean => "mean",
            Agg::Sum => "sum",
            Agg::None => "none",
            Agg::Custom(_) => "custom",
        })
    }
}
