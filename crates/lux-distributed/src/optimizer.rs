//! [`DistributedOptimizer`]: any [`Rule`], with the gradients averaged
//! across ranks first.

use crate::comm::{Backend, ReduceOp, allreduce_mut, live_world};
use lux_core::{DType, LuxError, Result, Tensor, Tree};
use lux_train::{Hyper, LeafInfo, Rule};
use std::collections::VecDeque;
use std::sync::Mutex;

/// Lux's `DistributedOptimizer`: wraps a rule so that every update uses the
/// mean of the gradients over all ranks. With the same parameters and
/// optimiser state on every rank (see [`Backend::synchronize`]) every rank
/// then takes the same step, so the ranks stay identical: data-parallel
/// training with the unchanged training API (`TrainState::new(model, ps,
/// st, DistributedOptimizer::new(&backend, Adam::default()))`, then
/// `single_train_step_mut`).
///
/// **One fused all-reduce per step.** The optimiser state first checks
/// every gradient leaf ([`Rule::check_gradient`]) and only then updates
/// them one by one ([`Rule::update`]). This rule collects the leaves during
/// the checks; the first update then averages all of them with one
/// all-reduce over a flat f32 buffer (f32, and f16/bf16 widened) and one
/// over a flat f64 buffer, runs the wrapped rule's checks on the averages
/// (so ClipNorm's `throw` sees the global gradient, and nothing is updated
/// when it fails), and each update takes its average from the queue.
/// Called in other ways (inside an [`OptimiserChain`](lux_train::OptimiserChain),
/// or [`Rule::apply`] directly), each leaf is averaged on its own: correct,
/// but one all-reduce per leaf — put the `DistributedOptimizer` outermost.
///
/// Every rank must call the update together (as with any collective); a
/// rank that fails before it must end the job
/// ([`Backend::abort_on_error`]). [`NonFinite::Skip`](lux_train::NonFinite)
/// decides on each rank's local gradient, so a skip on one rank alone
/// would leave the others waiting: keep the default
/// [`NonFinite::Error`](lux_train::NonFinite) and abort.
///
/// ```standalone_crate
/// use lux_core::{tree, Tensor};
/// use lux_distributed::{initialize, DistributedOptimizer, MpiBackend};
/// use lux_train::{setup, Descent};
/// let backend = initialize(MpiBackend)?;
/// let mut ps = tree! { w: Tensor::from_vec(vec![0.0f32], &[1])? };
/// let mut opt = setup(DistributedOptimizer::new(&backend, Descent::new(1.0)), &ps)?;
/// // Rank r's gradient is r; the step uses the mean (n − 1)/2 on every rank.
/// let g = tree! { w: Tensor::from_vec(vec![backend.local_rank() as f32], &[1])? };
/// opt.update_mut(&mut ps, &g)?;
/// let n = backend.total_workers() as f32;
/// assert_eq!(ps.tensor("w")?.to_vec::<f32>()?, vec![-(n - 1.0) / 2.0]);
/// # Ok::<(), lux_core::LuxError>(())
/// ```
#[derive(Debug)]
pub struct DistributedOptimizer {
    inner: Box<dyn Rule>,
    pending: Mutex<Pending>,
}

/// The leaves of the step in progress.
#[derive(Debug, Default)]
struct Pending {
    /// Gradients seen by `check_gradient` since the last reduction: path,
    /// storage dtype, gradient (f16/bf16 already widened to f32).
    collected: Vec<(String, DType, Tensor)>,
    /// Averaged gradients not yet used by `update`, in leaf order.
    reduced: VecDeque<(String, Tensor)>,
}

impl DistributedOptimizer {
    /// `rule` with its gradients averaged over the ranks of `backend`.
    pub fn new(backend: &Backend, rule: impl Rule + 'static) -> DistributedOptimizer {
        DistributedOptimizer::boxed(backend, Box::new(rule))
    }

    /// As [`new`](DistributedOptimizer::new), with a boxed rule.
    pub fn boxed(_backend: &Backend, rule: Box<dyn Rule>) -> DistributedOptimizer {
        // The backend is not stored (MPI handles are per process); asking
        // for it ties construction to a running MPI.
        DistributedOptimizer { inner: rule, pending: Mutex::new(Pending::default()) }
    }

    /// The wrapped rule.
    pub fn rule(&self) -> &dyn Rule {
        self.inner.as_ref()
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Averages everything collected, with one all-reduce per dtype, and
    /// runs the wrapped rule's checks on the averages.
    fn reduce_collected(&self, pending: &mut Pending) -> Result<()> {
        let collected = std::mem::take(&mut pending.collected);
        pending.reduced.clear();
        let world = live_world("DistributedOptimizer")?;
        let mut flat = Tree::seq(collected.iter().map(|(_, _, g)| g.clone()));
        allreduce_mut(&world, &mut flat, ReduceOp::Mean)?;
        let Tree::Seq(averaged) = flat else {
            return Err(LuxError::Structure {
                path: lux_core::ROOT.into(),
                msg: "DistributedOptimizer: lost the averaged gradients".into(),
            });
        };
        for ((path, storage, _), g) in collected.into_iter().zip(averaged) {
            let g = g.into_tensor()?;
            self.inner.check_gradient(&g, LeafInfo { path: &path, storage })?;
            pending.reduced.push_back((path, g));
        }
        Ok(())
    }

    /// The averaged gradient for `leaf`, checked against the leaf it is
    /// used for.
    fn next_average(&self, g: &Tensor, leaf: LeafInfo) -> Result<Option<Tensor>> {
        let mut pending = self.pending();
        if !pending.collected.is_empty() {
            if let Err(e) = self.reduce_collected(&mut pending) {
                pending.reduced.clear();
                return Err(e);
            }
        }
        let Some((path, avg)) = pending.reduced.pop_front() else { return Ok(None) };
        if path != leaf.path || avg.shape() != g.shape() {
            pending.reduced.clear();
            return Err(LuxError::Structure {
                path: leaf.path.into(),
                msg: format!(
                    "DistributedOptimizer: the update visits {} {:?} where the checks saw {path} {:?} \
                     (update the whole tree through OptState::update_mut)",
                    leaf.path,
                    g.shape(),
                    avg.shape()
                ),
            });
        }
        Ok(Some(avg))
    }

    /// One leaf averaged on its own (the unfused path).
    fn average_alone(&self, g: &Tensor) -> Result<Tensor> {
        let world = live_world("DistributedOptimizer")?;
        let mut t = Tree::Tensor(g.clone());
        allreduce_mut(&world, &mut t, ReduceOp::Mean)?;
        t.into_tensor()
    }
}

impl Rule for DistributedOptimizer {
    fn name(&self) -> &'static str {
        "DistributedOptimizer"
    }

    /// None of its own: they are the wrapped rule's (see [`Rule::inner`]).
    fn hyperparameters(&self) -> Vec<(&'static str, Hyper)> {
        Vec::new()
    }

    fn set_hyperparameter(&mut self, name: &str, value: Hyper) -> Result<()> {
        self.inner.set_hyperparameter(name, value)
    }

    fn validate(&self) -> Result<()> {
        self.inner.validate()
    }

    fn init(&self, x: &Tensor) -> Result<Tree> {
        self.inner.init(x)
    }

    /// Collects the gradient for the fused all-reduce; the wrapped rule's
    /// checks run on the averages, at the first update.
    fn check_gradient(&self, g: &Tensor, leaf: LeafInfo) -> Result<()> {
        let mut pending = self.pending();
        // Leftovers of a step that failed half-way belong to no step now.
        pending.reduced.clear();
        if pending.collected.iter().any(|(p, _, _)| p == leaf.path) {
            pending.collected.clear(); // a leaf seen twice: a new step began
        }
        let g = match g.dtype() {
            DType::F16 | DType::BF16 => g.to_dtype(DType::F32)?,
            _ => g.clone(),
        };
        pending.collected.push((leaf.path.to_string(), leaf.storage, g));
        Ok(())
    }

    /// The unfused path: `dx` averaged on its own, then the wrapped rule.
    fn apply(&self, state: &mut Tree, x: &Tensor, dx: &mut Tensor, leaf: LeafInfo) -> Result<bool> {
        *dx = self.average_alone(dx)?;
        self.inner.apply(state, x, dx, leaf)
    }

    fn update(&self, state: &mut Tree, x: &mut Tensor, g: &Tensor, leaf: LeafInfo) -> Result<()> {
        let avg = match self.next_average(g, leaf)? {
            Some(avg) => avg,
            None => self.average_alone(g)?,
        };
        self.inner.update(state, x, &avg, leaf)
    }

    fn boxed_clone(&self) -> Box<dyn Rule> {
        Box::new(DistributedOptimizer { inner: self.inner.clone(), pending: Mutex::new(Pending::default()) })
    }

    fn inner(&self) -> Vec<&dyn Rule> {
        vec![self.inner.as_ref()]
    }
}
