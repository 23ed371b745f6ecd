//! Lux's Training API: [`TrainState`], [`compute_gradients`],
//! [`apply_gradients`] / [`apply_gradients_mut`], [`single_train_step`] /
//! [`single_train_step_mut`], and the [`Objective`] they differentiate.

use crate::rule::{Hyper, Rule};
use crate::state::OptState;
use lux_ad::AdBackend;
use lux_core::{DType, Layer, LuxError, Result, Tensor, Tree, display_model};
use std::fmt;
use std::sync::Arc;

/// A training objective (Lux's `objective_function(model, ps, st, data)`):
/// `(loss, new state, stats)`. Any closure of that shape is one, and so is
/// every loss of lux-losses with data `(x, y)`.
///
/// ```
/// use lux_core::{Layer, Result, Tensor, Tree};
/// use lux_losses::MSELoss;
/// use lux_train::Objective;
/// fn check<M: Layer, D, O: Objective<M, D>>(_: &O) {}
/// struct Id;
/// impl Layer for Id {
///     fn forward(&self, x: &Tree, _: &Tree, st: &Tree) -> Result<(Tree, Tree)> { Ok((x.clone(), st.clone())) }
/// }
/// check::<Id, (Tensor, Tensor), _>(&MSELoss::default());
/// check::<Id, f64, _>(&|_: &Id, _: &Tree, st: &Tree, d: &f64| -> Result<(Tensor, Tree, Tree)> {
///     Ok((Tensor::scalar(*d), st.clone(), Tree::new()))
/// });
/// ```
pub trait Objective<M, D: ?Sized> {
    /// `(loss, st', stats)` of `model` with parameters `ps` and state `st`
    /// on `data`.
    ///
    /// # Errors
    /// Whatever the objective fails with.
    fn evaluate(&self, model: &M, ps: &Tree, st: &Tree, data: &D) -> Result<(Tensor, Tree, Tree)>;
}

impl<M, D: ?Sized, F> Objective<M, D> for F
where
    F: Fn(&M, &Tree, &Tree, &D) -> Result<(Tensor, Tree, Tree)>,
{
    fn evaluate(&self, model: &M, ps: &Tree, st: &Tree, data: &D) -> Result<(Tensor, Tree, Tree)> {
        self(model, ps, st, data)
    }
}

macro_rules! loss_objectives {
    ($($loss:ident),*) => {$(
        impl<M: Layer> Objective<M, (Tensor, Tensor)> for lux_losses::$loss {
            fn evaluate(&self, model: &M, ps: &Tree, st: &Tree, data: &(Tensor, Tensor)) -> Result<(Tensor, Tree, Tree)> {
                lux_losses::LossFunction::objective(self, model, ps, st, (&Tree::Tensor(data.0.clone()), &data.1))
            }
        }
        impl<M: Layer> Objective<M, (Tree, Tensor)> for lux_losses::$loss {
            fn evaluate(&self, model: &M, ps: &Tree, st: &Tree, data: &(Tree, Tensor)) -> Result<(Tensor, Tree, Tree)> {
                lux_losses::LossFunction::objective(self, model, ps, st, (&data.0, &data.1))
            }
        }
    )*};
}
loss_objectives!(
    MSELoss,
    MAELoss,
    MSLELoss,
    HuberLoss,
    PoissonLoss,
    CrossEntropyLoss,
    BinaryCrossEntropyLoss,
    BinaryFocalLoss,
    FocalLoss,
    KLDivergenceLoss,
    HingeLoss,
    SquaredHingeLoss,
    DiceCoeffLoss,
    SiameseContrastiveLoss,
    GenericLossFunction
);

/// What a step does with a gradient that holds NaN or ±∞ anywhere.
///
/// ```
/// use lux_core::{setup, tree, RngState, Tensor};
/// use lux_layers::Dense;
/// use lux_ops::Activation;
/// use lux_train::*;
/// let model = Dense::new(1, 1, Activation::Identity)?;
/// let (ps, st) = setup(&mut RngState::seed_from_u64(0), &model)?;
/// let nan = tree! { weight: Tensor::from_vec(vec![f32::NAN], &[1, 1])?, bias: Tensor::from_vec(vec![0.0f32], &[1])? };
/// let mut ts = TrainState::new(model, ps, st, Adam::default())?;
/// assert!(apply_gradients_mut(&mut ts, &nan).is_err()); // Error: the default
/// let mut ts = ts.with_non_finite(NonFinite::Skip);
/// apply_gradients_mut(&mut ts, &nan)?;
/// assert_eq!((ts.step(), ts.skipped_steps()), (0, 1));
/// # Ok::<(), lux_core::LuxError>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum NonFinite {
    /// An `Err`; the train state is left as it was (the default).
    #[default]
    Error,
    /// The step is skipped (parameters, optimiser state and `step` are
    /// unchanged) and counted in [`TrainState::skipped_steps`], as
    /// mixed-precision loss scalers do.
    Skip,
    /// The update is applied anyway.
    Apply,
}

/// Lux's `TrainState`: the model, its parameters and states, the
/// optimiser and its state, and the step count.
///
/// ```
/// use lux_core::{setup, Layer, Result, RngState, Tensor, Tree, tree};
/// use lux_train::{Adam, TrainState};
/// struct Scale;
/// impl Layer for Scale {
///     fn init_params(&self, _: &mut dyn lux_core::__private::rand::Rng) -> Result<Tree> {
///         Ok(tree! { w: Tensor::from_vec(vec![1.0f32, 2.0], &[2])? })
///     }
///     fn forward(&self, x: &Tree, ps: &Tree, st: &Tree) -> Result<(Tree, Tree)> {
///         Ok((x.as_tensor()?.mul(ps.tensor("w")?)?.into(), st.clone()))
///     }
/// }
/// let (ps, st) = setup(&mut RngState::seed_from_u64(0), &Scale)?;
/// let ts = TrainState::new(Scale, ps, st, Adam::default())?;
/// assert_eq!(ts.step(), 0);
/// assert_eq!(ts.to_string(), "TrainState(\n    Scale,  # 2 parameters\n    number of parameters: 2\n    number of states: 0\n    optimizer: Adam(eta=0.001, beta=(0.9, 0.999), epsilon=1.0e-8)\n    step: 0\n)");
/// # Ok::<(), lux_core::LuxError>(())
/// ```
pub struct TrainState<M> {
    model: Arc<M>,
    pub(crate) parameters: Tree,
    pub(crate) states: Tree,
    pub(crate) optimizer_state: OptState,
    step: u64,
    skipped_steps: u64,
    pub(crate) non_finite: NonFinite,
    pub(crate) mixed: Option<crate::mixed::MixedPrecision>,
}

impl<M> Clone for TrainState<M> {
    fn clone(&self) -> TrainState<M> {
        TrainState {
            model: Arc::clone(&self.model),
            parameters: self.parameters.clone(),
            states: self.states.clone(),
            optimizer_state: self.optimizer_state.clone(),
            step: self.step,
            skipped_steps: self.skipped_steps,
            non_finite: self.non_finite,
            mixed: self.mixed.clone(),
        }
    }
}

impl<M: Layer> TrainState<M> {
    /// Lux's `TrainState(model, ps, st, rule)`: sets up the optimiser state
    /// for `ps`; `step` is 0.
    ///
    /// # Errors
    /// The rule's hyper-parameters are invalid.
    pub fn new(model: M, ps: Tree, st: Tree, rule: impl Rule + 'static) -> Result<TrainState<M>> {
        TrainState::with_rule(model, ps, st, Box::new(rule))
    }

    /// As [`new`](TrainState::new), with a boxed rule.
    ///
    /// # Errors
    /// As [`new`](TrainState::new).
    pub fn with_rule(model: M, ps: Tree, st: Tree, rule: Box<dyn Rule>) -> Result<TrainState<M>> {
        let optimizer_state = OptState::new(rule, &ps)?;
        Ok(TrainState {
            model: Arc::new(model),
            parameters: ps,
            states: st,
            optimizer_state,
            step: 0,
            skipped_steps: 0,
            non_finite: NonFinite::Error,
            mixed: None,
        })
    }
}

impl<M> TrainState<M> {
    /// The model.
    pub fn model(&self) -> &M {
        &self.model
    }
    /// The parameters.
    pub fn parameters(&self) -> &Tree {
        &self.parameters
    }
    /// The states (the last objective call's new state).
    pub fn states(&self) -> &Tree {
        &self.states
    }
    /// The optimiser rule.
    pub fn optimizer(&self) -> &dyn Rule {
        self.optimizer_state.rule()
    }
    /// The optimiser state.
    pub fn optimizer_state(&self) -> &OptState {
        &self.optimizer_state
    }
    /// The optimiser state, mutably (to freeze subtrees, or restore it).
    pub fn optimizer_state_mut(&mut self) -> &mut OptState {
        &mut self.optimizer_state
    }
    /// How many updates have been applied.
    pub fn step(&self) -> u64 {
        self.step
    }
    /// How many steps [`NonFinite::Skip`] has skipped.
    pub fn skipped_steps(&self) -> u64 {
        self.skipped_steps
    }
    /// Restores the skipped-step count (checkpoint loading).
    pub(crate) fn set_skipped_steps(&mut self, skipped: u64) {
        self.skipped_steps = skipped;
    }
    /// The non-finite-gradient policy.
    pub fn non_finite(&self) -> NonFinite {
        self.non_finite
    }

    /// Sets the non-finite-gradient policy (builder style).
    pub fn with_non_finite(mut self, policy: NonFinite) -> TrainState<M> {
        self.non_finite = policy;
        self
    }

    /// Replaces parameters, states, optimiser state and step together (a
    /// checkpoint restore); the trees must have the structure of the
    /// current ones.
    ///
    /// # Errors
    /// A tree of another structure; nothing is changed then.
    pub fn restore(&mut self, ps: Tree, st: Tree, opt: OptState, step: u64) -> Result<()> {
        self.parameters.structure_check(&ps)?;
        self.states.structure_check(&st)?;
        self.optimizer_state.tree().structure_check(opt.tree())?;
        self.parameters = ps;
        self.states = st;
        self.optimizer_state = opt;
        self.step = step;
        Ok(())
    }

    /// Optimisers.jl's `adjust!(ts, …)` on the train state: sets the rule's
    /// hyper-parameter `name` (`"eta"` for the learning rate).
    ///
    /// # Errors
    /// As [`OptState::adjust_mut`].
    pub fn adjust_mut(&mut self, name: &str, value: impl Into<Hyper>) -> Result<()> {
        self.optimizer_state.adjust_mut(name, value)
    }

    /// Optimisers.jl's `adjust(ts, …)`: a copy with the hyper-parameter set.
    ///
    /// # Errors
    /// As [`OptState::adjust_mut`].
    pub fn adjust(&self, name: &str, value: impl Into<Hyper>) -> Result<TrainState<M>> {
        let mut next = self.clone();
        next.adjust_mut(name, value)?;
        Ok(next)
    }
}

impl<M: Layer> fmt::Display for TrainState<M> {
    /// As Lux shows a `TrainState`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "TrainState(")?;
        let model = display_model(self.model.as_ref());
        let model = if self.model.children_count() == 0 {
            format!("{},  # {} parameters", self.model.describe(), thousands(self.model.param_count()))
        } else {
            model
        };
        for line in model.lines() {
            writeln!(f, "    {line}")?;
        }
        writeln!(f, "    number of parameters: {}", self.parameters.param_count())?;
        writeln!(f, "    number of states: {}", self.states.state_count())?;
        writeln!(f, "    optimizer: {}", self.optimizer_state.rule())?;
        write!(f, "    step: {}\n)", self.step)
    }
}

/// `1234567` → `1_234_567`, as Lux prints counts.
fn thousands(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push('_');
        }
        out.push(c);
    }
    out
}

trait ChildrenCount {
    fn children_count(&self) -> usize;
}
impl<M: Layer> ChildrenCount for M {
    fn children_count(&self) -> usize {
        match self.children() {
            lux_core::Children::None => 0,
            lux_core::Children::Named(c) => c.len(),
            lux_core::Children::Wrapped(_) => 1,
        }
    }
}

/// What a training step returns beside the train state.
#[derive(Clone, Debug)]
pub struct StepOutput {
    /// The gradients w.r.t. the parameters (`None` when not asked for).
    pub grads: Option<Tree>,
    /// The loss (a 0-d tensor).
    pub loss: Tensor,
    /// The objective's statistics.
    pub stats: Tree,
}

/// The gradient of the objective at the train state: `(grads, loss,
/// stats, new state)`; nothing in `ts` changes.
fn gradients<M, D: ?Sized, O: Objective<M, D> + ?Sized>(
    ad: &dyn AdBackend,
    objective: &O,
    data: &D,
    ts: &TrainState<M>,
) -> Result<(Tree, Tensor, Tree, Tree)> {
    let model = ts.model.as_ref();
    let stateless_only = !ad.carries_state();
    if stateless_only && ts.states.state_count() != 0 {
        return Err(stateless_error(ad, "models with non-empty state `st`"));
    }
    let mixed = ts.mixed.as_ref().map(|m| m.compute_copies(&ts.parameters, &ts.states)).transpose()?;
    let (ps, st) = mixed.as_ref().map_or((&ts.parameters, &ts.states), |(p, s)| (p, s));
    let scale = ts.mixed.as_ref().map_or(1.0, |m| m.scale());
    let f = |p: &Tree| -> Result<(Tensor, Tree)> {
        let (loss, st_new, stats) = objective.evaluate(model, p, st, data)?;
        let loss = if scale == 1.0 { loss } else { loss.mul_scalar(scale)? };
        if loss.len() != 1 {
            return Err(LuxError::shape(
                "compute_gradients",
                format!("the objective must return a scalar loss, got a tensor of shape {:?}", loss.shape()),
            ));
        }
        Ok((loss, Tree::seq([st_new, stats])))
    };
    let ((loss, aux), grads) = ad.value_and_gradient_aux(&f, ps)?;
    let (st_new, stats) = match aux {
        Tree::Seq(mut v) if v.len() == 2 => {
            let stats = v.pop().unwrap_or_default();
            (v.pop().unwrap_or_default(), stats)
        }
        _ => {
            return Err(LuxError::Structure {
                path: lux_core::ROOT.into(),
                msg: "compute_gradients: lost the objective's state".into(),
            });
        }
    };
    if stateless_only {
        if !stats.is_empty() || stats.state_count() != 0 {
            return Err(stateless_error(ad, "objectives that return non-empty `stats`"));
        }
        if st_new.state_count() != 0 {
            return Err(stateless_error(ad, "models with non-empty state `st`"));
        }
    }
    match &ts.mixed {
        Some(m) => {
            let (grads, st_new) = m.to_master(&grads, &ts.parameters, &st_new, &ts.states)?;
            let loss = if scale == 1.0 { loss } else { loss.mul_scalar(1.0 / scale)? };
            Ok((grads, loss, stats, st_new))
        }
        None => Ok((grads, loss, stats, st_new)),
    }
}

/// Lux's refusal for a backend that cannot carry state or statistics.
fn stateless_error(ad: &dyn AdBackend, what: &str) -> LuxError {
    LuxError::invalid_argument(
        "compute_gradients",
        format!(
            "{} (Lux's AutoReverseDiff(; compile=true)) is not supported for {what}: its record does not carry \
             them from call to call; use AutoTape",
            ad.name()
        ),
    )
}

/// Lux's `compute_gradients(ad, objective, data, ts)`: the gradients of
/// the objective w.r.t. the parameters (exactly their structure), the
/// loss, the stats, and the train state with the objective's new state
/// (the step is not incremented). `ts` itself is unchanged.
///
/// Backends: [`AutoTape`](lux_ad::AutoTape) (reverse mode),
/// [`AutoCompiledTape`](lux_ad::AutoCompiledTape) (reverse mode replaying
/// a record; keep one value for the whole loop; stateless models and
/// objectives without statistics only, as in Lux),
/// [`AutoForward`](lux_ad::AutoForward) (forward mode, one pass per
/// parameter element: small models) and
/// [`AutoFiniteDiff`](lux_ad::AutoFiniteDiff) (f64 central differences, for
/// checking). The gradient tree is
/// freshly allocated on every call (no buffer is reused behind your back).
///
/// ```
/// use lux_ad::AutoTape;
/// use lux_core::{setup, Layer, Result, RngState, Tensor, Tree, tree};
/// use lux_losses::MSELoss;
/// use lux_train::{compute_gradients, Descent, TrainState};
/// struct Scale;
/// impl Layer for Scale {
///     fn init_params(&self, _: &mut dyn lux_core::__private::rand::Rng) -> Result<Tree> {
///         Ok(tree! { w: Tensor::from_vec(vec![2.0f64], &[1])? })
///     }
///     fn forward(&self, x: &Tree, ps: &Tree, st: &Tree) -> Result<(Tree, Tree)> {
///         Ok((x.as_tensor()?.mul(ps.tensor("w")?)?.into(), st.clone()))
///     }
/// }
/// let (ps, st) = setup(&mut RngState::seed_from_u64(0), &Scale)?;
/// let ts = TrainState::new(Scale, ps, st, Descent::new(0.1))?;
/// let data = (Tensor::from_vec(vec![1.0f64, 2.0], &[2, 1])?, Tensor::from_vec(vec![1.0f64, 2.0], &[2, 1])?);
/// let (grads, loss, _stats, ts2) = compute_gradients(&AutoTape, &MSELoss::default(), &data, &ts)?;
/// // loss = mean((2x − x)²) = (1 + 4)/2; ∂/∂w = mean(2(w−1)x²) = 5
/// assert_eq!(loss.to_scalar::<f64>()?, 2.5);
/// assert_eq!(grads.tensor("w")?.to_vec::<f64>()?, vec![5.0]);
/// assert_eq!(ts2.step(), 0);
/// # Ok::<(), lux_core::LuxError>(())
/// ```
///
/// # Errors
/// The objective fails or returns a non-scalar loss; the backend is not
/// supported.
pub fn compute_gradients<M, D: ?Sized, O: Objective<M, D> + ?Sized>(
    ad: &dyn AdBackend,
    objective: &O,
    data: &D,
    ts: &TrainState<M>,
) -> Result<(Tree, Tensor, Tree, TrainState<M>)> {
    let (grads, loss, stats, st_new) = gradients(ad, objective, data, ts)?;
    let mut next = ts.clone();
    next.states = st_new;
    Ok((grads, loss, stats, next))
}

/// `true` if every float tensor leaf of `t` is finite: one pass per leaf
/// (no early exit inside a block, so the test vectorises; parallel over
/// long leaves), no allocation for contiguous leaves.
pub(crate) fn all_finite(t: &Tree) -> Result<bool> {
    use lux_core::__private::half::{bf16, f16};
    use rayon::prelude::*;
    fn finite<T: Copy + Sync>(values: &[T], ok: impl Fn(T) -> bool + Sync) -> bool {
        let block = |c: &[T]| c.iter().fold(true, |acc, &v| acc & ok(v));
        if values.len() > 1 << 16 { values.par_chunks(1 << 13).all(block) } else { values.chunks(1 << 10).all(block) }
    }
    let mut all = true;
    t.try_visit(|_, leaf| {
        let Tree::Tensor(x) = leaf else { return Ok(()) };
        if all {
            all = match x.dtype() {
                DType::F32 => finite(&x.contiguous_slice::<f32>()?, f32::is_finite),
                DType::F64 => finite(&x.contiguous_slice::<f64>()?, f64::is_finite),
                DType::F16 => finite(&x.contiguous_slice::<f16>()?, f16::is_finite),
                DType::BF16 => finite(&x.contiguous_slice::<bf16>()?, bf16::is_finite),
                _ => true,
            };
        }
        Ok(())
    })?;
    Ok(all)
}

/// Lux's `apply_gradients!(ts, grads)`: one optimiser step, writing the
/// parameters and the optimiser state **in place** (no parameter or moment
/// buffer is reallocated while the train state holds them alone), then
/// `step += 1`.
///
/// Nothing is half-applied: gradients whose structure, shapes or dtypes
/// differ from the parameters are an `Err` and `ts` is unchanged; so are
/// non-finite gradients under [`NonFinite::Error`] (the default).
///
/// ```
/// use lux_ad::AutoTape;
/// use lux_core::{setup, DType, RngState, Tensor};
/// use lux_layers::Dense;
/// use lux_losses::MSELoss;
/// use lux_ops::Activation;
/// use lux_train::*;
/// let model = Dense::new(3, 2, Activation::Identity)?;
/// let (ps, st) = setup(&mut RngState::seed_from_u64(0), &model)?;
/// let mut rng = RngState::seed_from_u64(1);
/// let data = (Tensor::randn(&mut rng, &[8, 3], DType::F32)?, Tensor::zeros(&[8, 2], DType::F32)?);
/// let mut ts = TrainState::new(model, ps, st, Descent::new(0.1))?;
/// let (grads, _, _, next) = compute_gradients(&AutoTape, &MSELoss::default(), &data, &ts)?;
/// ts = next;
/// let before = ts.parameters().clone();
/// apply_gradients_mut(&mut ts, &grads)?;
/// assert_eq!(ts.step(), 1);
/// // w ← w − η·g
/// let want = before.tensor("weight")?.sub(&grads.tensor("weight")?.mul_scalar(0.1)?)?;
/// assert_eq!(ts.parameters().tensor("weight")?, &want);
/// # Ok::<(), lux_core::LuxError>(())
/// ```
///
/// # Errors
/// As above.
pub fn apply_gradients_mut<M>(ts: &mut TrainState<M>, grads: &Tree) -> Result<()> {
    if ts.non_finite != NonFinite::Apply && !all_finite(grads)? {
        if ts.non_finite == NonFinite::Skip {
            ts.parameters.structure_check(grads)?;
            ts.skipped_steps += 1;
            if let Some(m) = &mut ts.mixed {
                m.after_step(false);
            }
            return Ok(());
        }
        return Err(LuxError::invalid_argument(
            "apply_gradients",
            "the gradients hold NaN or infinite values; the train state is unchanged (set NonFinite::Skip or NonFinite::Apply on the TrainState to change this)",
        ));
    }
    ts.optimizer_state.update_mut(&mut ts.parameters, grads)?;
    ts.step += 1;
    if let Some(m) = &mut ts.mixed {
        m.after_step(true);
    }
    Ok(())
}

/// Lux's `apply_gradients(ts, grads)`: as [`apply_gradients_mut`] on a
/// copy; `ts` is unchanged (buffers are copied where written).
///
/// ```
/// use lux_ad::AutoTape;
/// use lux_core::{setup, DType, RngState, Tensor};
/// use lux_layers::Dense;
/// use lux_losses::MSELoss;
/// use lux_ops::Activation;
/// use lux_train::*;
/// let model = Dense::new(3, 2, Activation::Identity)?;
/// let (ps, st) = setup(&mut RngState::seed_from_u64(0), &model)?;
/// let mut rng = RngState::seed_from_u64(1);
/// let data = (Tensor::randn(&mut rng, &[8, 3], DType::F32)?, Tensor::zeros(&[8, 2], DType::F32)?);
/// let ts = TrainState::new(model, ps, st, Adam::default())?;
/// let (grads, _, _, ts) = compute_gradients(&AutoTape, &MSELoss::default(), &data, &ts)?;
/// let next = apply_gradients(&ts, &grads)?;
/// assert_eq!((ts.step(), next.step()), (0, 1));
/// assert_ne!(ts.parameters(), next.parameters());
/// # Ok::<(), lux_core::LuxError>(())
/// ```
///
/// # Errors
/// As [`apply_gradients_mut`].
pub fn apply_gradients<M>(ts: &TrainState<M>, grads: &Tree) -> Result<TrainState<M>> {
    let mut next = ts.clone();
    apply_gradients_mut(&mut next, grads)?;
    Ok(next)
}

/// Lux's `single_train_step!`: [`compute_gradients`] then
/// [`apply_gradients_mut`], in place. With `return_gradients = false` the
/// output's `grads` is `None`. On an error, `ts` is unchanged.
///
/// ```
/// use lux_ad::AutoTape;
/// use lux_core::{setup, DType, RngState, Tensor};
/// use lux_layers::Dense;
/// use lux_losses::MSELoss;
/// use lux_ops::Activation;
/// use lux_train::*;
/// let model = Dense::new(3, 2, Activation::Identity)?;
/// let (ps, st) = setup(&mut RngState::seed_from_u64(0), &model)?;
/// let mut rng = RngState::seed_from_u64(1);
/// let data = (Tensor::randn(&mut rng, &[8, 3], DType::F32)?, Tensor::zeros(&[8, 2], DType::F32)?);
/// let mut ts = TrainState::new(model, ps, st, Adam::new(0.05))?;
/// let first = single_train_step_mut(&AutoTape, &MSELoss::default(), &data, &mut ts, true)?;
/// assert!(first.grads.is_some());
/// for _ in 0..100 {
///     single_train_step_mut(&AutoTape, &MSELoss::default(), &data, &mut ts, false)?;
/// }
/// let last = single_train_step_mut(&AutoTape, &MSELoss::default(), &data, &mut ts, false)?;
/// assert!(last.loss.to_scalar::<f32>()? < first.loss.to_scalar::<f32>()? / 10.0);
/// assert_eq!(ts.step(), 102);
/// # Ok::<(), lux_core::LuxError>(())
/// ```
///
/// # Errors
/// As [`compute_gradients`] and [`apply_gradients_mut`].
pub fn single_train_step_mut<M, D: ?Sized, O: Objective<M, D> + ?Sized>(
    ad: &dyn AdBackend,
    objective: &O,
    data: &D,
    ts: &mut TrainState<M>,
    return_gradients: bool,
) -> Result<StepOutput> {
    let (grads, loss, stats, st_new) = gradients(ad, objective, data, ts)?;
    apply_gradients_mut(ts, &grads)?;
    ts.states = st_new;
    let grads = if return_gradients {
        Some(grads)
    } else {
        // Used up: the next step's gradients can take their buffers.
        lux_core::pool::recycle_tree(grads);
        None
    };
    Ok(StepOutput { grads, loss, stats })
}

/// Lux's `single_train_step`: as [`single_train_step_mut`] on a copy;
/// returns the output and the new train state, `ts` is unchanged.
///
/// ```
/// use lux_ad::AutoTape;
/// use lux_core::{setup, DType, RngState, Tensor};
/// use lux_layers::Dense;
/// use lux_losses::MSELoss;
/// use lux_ops::Activation;
/// use lux_train::*;
/// let model = Dense::new(3, 2, Activation::Identity)?;
/// let (ps, st) = setup(&mut RngState::seed_from_u64(0), &model)?;
/// let mut rng = RngState::seed_from_u64(1);
/// let data = (Tensor::randn(&mut rng, &[8, 3], DType::F32)?, Tensor::zeros(&[8, 2], DType::F32)?);
/// let ts = TrainState::new(model, ps, st, Adam::default())?;
/// let (out, next) = single_train_step(&AutoTape, &MSELoss::default(), &data, &ts, false)?;
/// assert!(out.grads.is_none());
/// assert_eq!((ts.step(), next.step()), (0, 1));
/// # Ok::<(), lux_core::LuxError>(())
/// ```
///
/// # Errors
/// As [`single_train_step_mut`].
pub fn single_train_step<M, D: ?Sized, O: Objective<M, D> + ?Sized>(
    ad: &dyn AdBackend,
    objective: &O,
    data: &D,
    ts: &TrainState<M>,
    return_gradients: bool,
) -> Result<(StepOutput, TrainState<M>)> {
    let mut next = ts.clone();
    let out = single_train_step_mut(ad, objective, data, &mut next, return_gradients)?;
    Ok((out, next))
}
