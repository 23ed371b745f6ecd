//! A reverse-mode record kept across calls: the engine under `lux-ad`'s
//! `AutoCompiledTape` (Lux's `AutoReverseDiff(compile = true)`).
//!
//! [`GradCall`](crate::GradCall) builds a graph on every call: a reference-counted node per
//! op, call sets for nested AD, and a priority queue and hash maps in the
//! backward pass. A [`CompiledTape`] instead marks each input with a slot
//! number and records every op that reaches a marked value as one entry of a
//! flat list (its op, its inputs' slots, its output's shape). The backward
//! pass is a reverse sweep over that list into an array of slots.
//!
//! The first call records the list; later calls *replay* it: the function
//! runs again, each op is checked against its entry (same op kind, output
//! shape and dtype, and inputs from the same slots), and the backward sweep
//! runs with the new values. Any difference — another input shape, another
//! branch taken — makes that call record afresh, so a replay never applies
//! a stale record. Because the function itself runs, values computed outside
//! differentiable ops (label encodings, masks, random numbers) are always
//! the current ones.
//!
//! After the sweep the run's buffers go to the [`pool`], so the next call's
//! outputs of the same sizes reuse them instead of faulting in fresh pages.
//!
//! Limits: first order only (a gradient or forward call inside the function
//! on recorded values, or a compiled tape inside a gradient call, is an
//! `Err`); one thread (ops the function runs on other threads are not
//! seen — their results count as constants).

use crate::autodiff::{Op, accumulate_slice, backward_rule, fit_gradient};
use crate::dtype::Data;
use crate::ops::shape::ShapeOp;
use crate::{DType, LuxError, Result, Tensor, pool};
use std::cell::RefCell;
use std::sync::atomic::{AtomicU32, Ordering};

/// A tensor's place in a running record: the run, and the slot (inputs
/// first, then one slot per recorded op).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Mark {
    run: u32,
    slot: u32,
}

/// Run ids, so a value marked by a finished run counts as a constant.
static NEXT_RUN: AtomicU32 = AtomicU32::new(1);

/// Where an op's input comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Source {
    Slot(u32),
    Constant,
}

/// An op's kind: the primitive family, or a custom op's name.
#[derive(Clone, Debug, PartialEq)]
enum Kind {
    Primitive(std::mem::Discriminant<Op>),
    Custom(String),
}

impl Kind {
    fn of(op: &Op) -> Kind {
        match op {
            Op::Custom(c) => Kind::Custom(c.name().to_string()),
            other => Kind::Primitive(std::mem::discriminant(other)),
        }
    }
    fn matches(&self, op: &Op) -> bool {
        match (self, op) {
            (Kind::Custom(name), Op::Custom(c)) => name == c.name(),
            (Kind::Primitive(d), op) => !matches!(op, Op::Custom(_)) && *d == std::mem::discriminant(op),
            _ => false,
        }
    }
}

/// What a replayed op must match.
#[derive(Clone, Debug, PartialEq)]
struct Entry {
    kind: Kind,
    shape: Vec<usize>,
    dtype: DType,
    sources: Vec<Source>,
}

/// One op of the current run, as the backward sweep needs it.
struct Captured {
    op: Op,
    /// Range into [`Active::inputs`].
    inputs: (usize, usize),
    output: Data,
}

/// The recorded list: the inputs' signature, one entry per op, the loss's
/// slot.
#[derive(Clone, Debug)]
struct Program {
    leaves: Vec<(Vec<usize>, DType)>,
    entries: Vec<Entry>,
    loss: Source,
}

enum Mode {
    Record(Vec<Entry>),
    Replay { program: Program, mismatch: Option<String> },
}

/// A tape's working vectors, kept empty between calls so that a replay
/// allocates none of them again.
#[derive(Default)]
struct Spare {
    captured: Vec<Captured>,
    inputs: Vec<Tensor>,
    marked: Vec<Tensor>,
    grads: Vec<Option<Tensor>>,
    slots: Vec<Option<usize>>,
    needs: Vec<bool>,
}

impl std::fmt::Debug for Spare {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Spare")
    }
}

/// The state of the run under way on this thread.
struct Active {
    run: u32,
    leaves: u32,
    mode: Mode,
    captured: Vec<Captured>,
    /// Every captured op's inputs, unmarked, back to back.
    inputs: Vec<Tensor>,
}

thread_local! {
    static ACTIVE: RefCell<Option<Active>> = const { RefCell::new(None) };
}

fn source_in(run: u32, t: &Tensor) -> Source {
    match t.mark {
        Some(m) if m.run == run => Source::Slot(m.slot),
        _ => Source::Constant,
    }
}

fn source(active: &Active, t: &Tensor) -> Source {
    source_in(active.run, t)
}

fn unmarked(t: &Tensor) -> Tensor {
    Tensor { data: t.data.clone(), node: None, tangents: None, mark: None }
}

/// Called by `Tensor::from_op` when an input is marked: records the op in
/// the run under way and returns its marked output, or `None` when no run
/// of this thread owns the marks (stale values: the op is an ordinary one).
pub(crate) fn record_op(output: &Data, op: &Op, inputs: &[&Tensor]) -> Result<Option<Tensor>> {
    ACTIVE.with(|cell| {
        let mut guard = cell.borrow_mut();
        let Some(active) = guard.as_mut() else { return Ok(None) };
        if inputs.iter().all(|t| source(active, t) == Source::Constant) {
            return Ok(None);
        }
        if inputs.iter().any(|t| t.node.is_some() || t.tangents.is_some()) {
            return Err(LuxError::Unsupported(format!(
                "AutoCompiledTape: {:?} mixes recorded values with values of another gradient or forward call \
                 (nested AD is not supported by the compiled tape; use AutoTape)",
                Kind::of(op)
            )));
        }
        let index = active.captured.len();
        let run = active.run;
        match &mut active.mode {
            Mode::Record(entries) => entries.push(Entry {
                kind: Kind::of(op),
                shape: output.shape().to_vec(),
                dtype: output.dtype(),
                sources: inputs.iter().map(|t| source_in(run, t)).collect(),
            }),
            Mode::Replay { program, mismatch } => {
                // Compared field by field: a replayed op allocates nothing here.
                let same = program.entries.get(index).is_some_and(|e| {
                    e.kind.matches(op)
                        && e.shape == output.shape()
                        && e.dtype == output.dtype()
                        && e.sources.len() == inputs.len()
                        && e.sources.iter().zip(inputs).all(|(s, t)| *s == source_in(run, t))
                });
                if !same {
                    let text = match program.entries.get(index) {
                        Some(old) => format!(
                            "op {index} is {:?} → {:?} {:?}, recorded as {:?} → {:?} {:?}",
                            Kind::of(op),
                            output.dtype(),
                            output.shape(),
                            old.kind,
                            old.dtype,
                            old.shape
                        ),
                        None => format!("op {index} is past the {} recorded ops", program.entries.len()),
                    };
                    *mismatch = Some(text.clone());
                    return Err(LuxError::Unsupported(format!(
                        "AutoCompiledTape: the function no longer matches its record ({text}); it is recorded again"
                    )));
                }
            }
        }
        let start = active.inputs.len();
        active.inputs.extend(inputs.iter().map(|t| unmarked(t)));
        active.captured.push(Captured { op: op.clone(), inputs: (start, active.inputs.len()), output: output.clone() });
        let slot = u32::try_from(active.leaves as usize + index)
            .map_err(|_| LuxError::Unsupported("AutoCompiledTape: more than 2³² recorded ops".into()))?;
        Ok(Some(Tensor {
            data: output.clone(),
            node: None,
            tangents: None,
            mark: Some(Mark { run: active.run, slot }),
        }))
    })
}

/// An `Err` when `x` belongs to a compiled-tape run under way: gradient and
/// forward calls on recorded values would escape the record.
pub(crate) fn refuse_nested(what: &str, x: &Tensor) -> Result<()> {
    let Some(mark) = x.mark else { return Ok(()) };
    let current = ACTIVE.with(|cell| cell.borrow().as_ref().is_some_and(|a| a.run == mark.run));
    if current {
        return Err(LuxError::Unsupported(format!(
            "AutoCompiledTape: {what} on a recorded value (nested AD is not supported by the compiled tape; use AutoTape)"
        )));
    }
    Ok(())
}

/// Takes the run back out of the thread on every exit, panics included.
struct RunGuard;
impl Drop for RunGuard {
    fn drop(&mut self) {
        let _ = ACTIVE.try_with(|cell| cell.borrow_mut().take());
    }
}

/// A reverse-mode record reused across calls of the same function.
///
/// [`value_and_gradient`](CompiledTape::value_and_gradient) records the
/// function's ops on the first call and replays the record afterwards (see
/// the [module documentation](self)); the gradients are the ones
/// [`GradCall`](crate::GradCall) gives — the same backward rules in the same
/// order, so bit for bit.
///
/// ```
/// use lux_core::{CompiledTape, Tensor};
/// let mut tape = CompiledTape::new();
/// let f = |p: &[Tensor]| -> lux_core::Result<(Tensor, ())> { Ok((p[0].square()?.sum_all()?, ())) };
/// for (x, n) in [(vec![1.0f64, 2.0], 1), (vec![3.0, -1.0], 1), (vec![1.0, 2.0, 3.0], 2)] {
///     let w = Tensor::from_vec(x.clone(), &[x.len()])?;
///     let ((loss, ()), grads) = tape.value_and_gradient(&[w], f)?;
///     assert_eq!(loss.to_scalar::<f64>()?, x.iter().map(|v| v * v).sum::<f64>());
///     assert_eq!(grads[0].to_vec::<f64>()?, x.iter().map(|v| 2.0 * v).collect::<Vec<_>>());
///     assert_eq!(tape.recordings(), n); // a new shape records again
/// }
/// # Ok::<(), lux_core::LuxError>(())
/// ```
#[derive(Debug, Default)]
pub struct CompiledTape {
    program: Option<Program>,
    recordings: usize,
    replays: usize,
    spare: Spare,
}

impl CompiledTape {
    /// An empty tape: the first call records.
    pub fn new() -> CompiledTape {
        CompiledTape::default()
    }

    /// How many times a record was made (the first call, and every call
    /// whose ops differed from the record).
    pub fn recordings(&self) -> usize {
        self.recordings
    }

    /// How many calls replayed the record.
    pub fn replays(&self) -> usize {
        self.replays
    }

    /// The number of ops in the current record (0 before the first call).
    pub fn len(&self) -> usize {
        self.program.as_ref().map_or(0, |p| p.entries.len())
    }

    /// `true` before the first call.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `f(leaves)` — a scalar loss and an auxiliary value — and the
    /// gradient of the loss with respect to each leaf.
    ///
    /// `f` receives the leaves marked for the record and must compute with
    /// them (values it gets any other way are constants). The loss and the
    /// aux value come back as returned; tensors in `aux` that depend on the
    /// leaves still carry their mark — pass them through
    /// [`CompiledTape::release`] (lux-ad's backend does this for trees).
    ///
    /// # Errors
    /// A leaf is not a float tensor or is tracked by a gradient or forward
    /// call; a compiled tape is already running on this thread; `f` fails;
    /// the loss is not a single float value; a backward rule fails.
    pub fn value_and_gradient<A>(
        &mut self,
        leaves: &[Tensor],
        f: impl Fn(&[Tensor]) -> Result<(Tensor, A)>,
    ) -> Result<((Tensor, A), Vec<Tensor>)> {
        const OP: &str = "AutoCompiledTape";
        for x in leaves {
            if !x.dtype().is_float() {
                return Err(LuxError::UnsupportedDType { op: format!("{OP} input"), dtype: x.dtype() });
            }
            if x.node.is_some() || x.tangents.is_some() {
                return Err(LuxError::Unsupported(format!(
                    "{OP}: an input is tracked by an enclosing gradient or forward call (nested AD is not \
                     supported by the compiled tape; use AutoTape)"
                )));
            }
        }
        if ACTIVE.with(|cell| cell.borrow().is_some()) {
            return Err(LuxError::Unsupported(format!("{OP}: a compiled tape is already recording on this thread")));
        }
        let signature: Vec<(Vec<usize>, DType)> = leaves.iter().map(|t| (t.shape().to_vec(), t.dtype())).collect();
        if let Some(program) = self.program.take().filter(|p| p.leaves == signature) {
            let loss_slot = program.loss;
            let (result, active) = run(leaves, Mode::Replay { program, mismatch: None }, &f, &mut self.spare);
            let matched = matches!(&active.mode, Mode::Replay { mismatch: None, .. });
            if matched {
                let (loss, aux) = match result {
                    Ok(out) => out,
                    Err(e) => {
                        self.spare.take_back(active.captured, active.inputs);
                        if let Mode::Replay { program, .. } = active.mode {
                            self.program = Some(program); // the record still holds
                        }
                        return Err(e);
                    }
                };
                if source(&active, &loss) == loss_slot {
                    let out = finish(OP, &active, loss, aux, leaves, &mut self.spare);
                    let Active { mode, captured, inputs, .. } = active;
                    if let Mode::Replay { program, .. } = mode {
                        self.program = Some(program);
                    }
                    self.spare.recycle_run(captured, inputs);
                    self.replays += 1;
                    return out;
                }
            }
            self.spare.take_back(active.captured, active.inputs);
            // The function took another path: record it afresh below.
        }
        let (result, active) = run(leaves, Mode::Record(Vec::new()), &f, &mut self.spare);
        let (loss, aux) = match result {
            Ok(out) => out,
            Err(e) => {
                self.spare.take_back(active.captured, active.inputs);
                return Err(e);
            }
        };
        let loss_slot = source(&active, &loss);
        let out = finish(OP, &active, loss, aux, leaves, &mut self.spare);
        let Active { mode, captured, inputs, .. } = active;
        if out.is_ok()
            && let Mode::Record(entries) = mode
        {
            self.program = Some(Program { leaves: signature, entries, loss: loss_slot });
            self.recordings += 1;
        }
        self.spare.recycle_run(captured, inputs);
        out
    }

    /// `t` without its record mark: a plain value, as every tensor leaving
    /// [`value_and_gradient`](CompiledTape::value_and_gradient) should be.
    ///
    /// ```
    /// use lux_core::{CompiledTape, Tensor};
    /// let mut tape = CompiledTape::new();
    /// let w = Tensor::scalar(3.0f64);
    /// let ((_, aux), _) = tape.value_and_gradient(&[w], |p| Ok((p[0].square()?, p[0].mul_scalar(2.0)?)))?;
    /// assert!(aux.is_tracked() && !CompiledTape::release(&aux).is_tracked());
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn release(t: &Tensor) -> Tensor {
        if t.mark.is_some() { Tensor { mark: None, ..t.clone() } } else { t.clone() }
    }
}

/// Runs `f` on the marked leaves with `mode` installed on this thread; the
/// run's vectors come from `spare`.
fn run<A>(
    leaves: &[Tensor],
    mode: Mode,
    f: &impl Fn(&[Tensor]) -> Result<(Tensor, A)>,
    spare: &mut Spare,
) -> (Result<(Tensor, A)>, Active) {
    let run = NEXT_RUN.fetch_add(1, Ordering::Relaxed);
    let capacity = match &mode {
        Mode::Replay { program, .. } => program.entries.len(),
        Mode::Record(_) => 0,
    };
    let mut marked = std::mem::take(&mut spare.marked);
    marked.extend(
        leaves.iter().enumerate().map(|(i, t)| Tensor { mark: Some(Mark { run, slot: i as u32 }), ..unmarked(t) }),
    );
    let (mut captured, mut inputs) = (std::mem::take(&mut spare.captured), std::mem::take(&mut spare.inputs));
    captured.reserve(capacity);
    inputs.reserve(2 * capacity);
    let active = Active { run, leaves: leaves.len() as u32, mode, captured, inputs };
    ACTIVE.with(|cell| *cell.borrow_mut() = Some(active));
    let guard = RunGuard;
    let result = f(&marked);
    let active = ACTIVE.with(|cell| cell.borrow_mut().take()).expect("the run stays installed while f runs");
    drop(guard);
    marked.clear();
    spare.marked = marked;
    (result, active)
}

/// The backward sweep of a finished run: the loss (unmarked), the aux value
/// and the leaves' gradients.
fn finish<A>(
    op: &str,
    active: &Active,
    loss: Tensor,
    aux: A,
    leaves: &[Tensor],
    spare: &mut Spare,
) -> Result<((Tensor, A), Vec<Tensor>)> {
    if !loss.dtype().is_float() || loss.len() != 1 {
        return Err(crate::error::shape_err(
            op,
            format!("the function must return a single float value, got {} {:?}", loss.dtype(), loss.shape()),
        ));
    }
    let n_leaves = active.leaves as usize;
    let mut grads = std::mem::take(&mut spare.grads);
    grads.clear();
    grads.resize(n_leaves + active.captured.len(), None);
    let (slots, needs) = (&mut spare.slots, &mut spare.needs);
    if let Source::Slot(s) = source(active, &loss) {
        grads[s as usize] = Some(loss.ones_like());
    }
    for (index, c) in active.captured.iter().enumerate().rev() {
        let Some(g) = grads[n_leaves + index].take() else { continue };
        let inputs = &active.inputs[c.inputs.0..c.inputs.1];
        slots.clear();
        slots.extend(entry_sources(active, index).iter().map(|s| match s {
            Source::Slot(s) => Some(*s as usize),
            Source::Constant => None,
        }));
        needs.clear();
        needs.extend(slots.iter().map(Option::is_some));
        // A slice's cotangent goes straight into its input's buffer.
        if let (Op::Shape(ShapeOp::Narrow { axis, start, .. }), Some(s)) = (&c.op, slots[0]) {
            if accumulate_slice(&mut grads[s], &inputs[0], &g, *axis, *start)? {
                pool::recycle(g);
                continue;
            }
        }
        let output = Tensor { data: c.output.clone(), node: None, tangents: None, mark: None };
        let input_grads = backward_rule(&c.op, &g, inputs, &output, needs)?;
        pool::recycle(g);
        for (i, gi) in input_grads.into_iter().enumerate() {
            let (Some(gi), Some(s)) = (gi, slots[i]) else { continue };
            let gi = fit_gradient(&c.op, gi, &inputs[i])?;
            grads[s] = Some(match grads[s].take() {
                Some(acc) => {
                    let sum = acc.add(&gi)?;
                    pool::recycle(acc);
                    pool::recycle(gi);
                    sum
                }
                None => gi,
            });
        }
    }
    let leaf_grads = grads
        .drain(..n_leaves)
        .zip(leaves)
        .map(|(g, leaf)| match g {
            Some(g) => Ok(g),
            None => Tensor::zeros(leaf.shape(), leaf.dtype()),
        })
        .collect::<Result<Vec<_>>>();
    grads.clear();
    spare.grads = grads;
    Ok(((CompiledTape::release(&loss), aux), leaf_grads?))
}

impl Spare {
    /// Hands a finished run's buffers to the [`pool`] (the inputs first,
    /// so that an output they shared is unique by the time its turn
    /// comes) and keeps the emptied vectors.
    fn recycle_run(&mut self, mut captured: Vec<Captured>, mut inputs: Vec<Tensor>) {
        inputs.drain(..).for_each(pool::recycle);
        for c in captured.drain(..) {
            pool::recycle(Tensor { data: c.output, node: None, tangents: None, mark: None });
        }
        self.take_back(captured, inputs);
    }

    /// Keeps a run's vectors, emptied, for the next run.
    fn take_back(&mut self, mut captured: Vec<Captured>, mut inputs: Vec<Tensor>) {
        captured.clear();
        inputs.clear();
        self.captured = captured;
        self.inputs = inputs;
    }
}

/// The input sources of captured op `index`.
fn entry_sources(active: &Active, index: usize) -> &[Source] {
    match &active.mode {
        Mode::Record(entries) => &entries[index].sources,
        Mode::Replay { program, .. } => &program.entries[index].sources,
    }
}
