//! Running a cell over a sequence: [`Recurrence`] (the whole sequence in one
//! call) and [`StatefulRecurrentCell`] (one step per call, the carry kept in
//! the state).

use super::RecurrentCell;
use lux_core::{Children, Layer, LuxError, Result, Tensor, Tree, tree};
use lux_ops::eachslice;
use rand::Rng;

/// Where the time axis of a `[.., time, ..]` sequence tensor is (Lux's
/// `ordering`, translated to batch-first layout).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SequenceOrdering {
    /// `[batch, time, features]` (Lux's default `BatchLastIndex()` on
    /// `(features, time, batch)`).
    #[default]
    BatchFirst,
    /// `[time, batch, features]` (Lux's `TimeLastIndex()` on
    /// `(features, batch, time)`).
    TimeFirst,
}

/// A sequence input: its steps, and where to stack outputs (`None`: the
/// input was a `Tree::Seq`).
pub(super) fn sequence_steps(
    x: &Tree,
    ordering: SequenceOrdering,
    describe: &impl Fn() -> String,
) -> Result<(Vec<Tree>, Option<usize>)> {
    let (steps, axis) = match x {
        Tree::Tensor(t) => {
            let axis = match (t.ndim(), ordering) {
                (3, SequenceOrdering::BatchFirst) => 1,
                (3, SequenceOrdering::TimeFirst) | (2, _) => 0,
                _ => {
                    return Err(LuxError::shape(
                        &describe(),
                        format!(
                            "a sequence tensor must be [batch, time, features] (or [time, features]), got shape {:?}",
                            t.shape()
                        ),
                    ));
                }
            };
            (eachslice(t, axis as isize)?.into_iter().map(Tree::Tensor).collect(), Some(axis))
        }
        Tree::Seq(items) => (items.clone(), None),
        other => {
            return Err(LuxError::Structure {
                path: lux_core::ROOT.into(),
                msg: format!(
                    "{}: expects a sequence tensor or a sequence of tensors, got a {}",
                    describe(),
                    other.kind_name()
                ),
            });
        }
    };
    if steps.is_empty() {
        return Err(LuxError::shape(&describe(), "the sequence has no time steps"));
    }
    Ok((steps, axis))
}

/// `(y, carry)` from a cell's output.
fn split_cell_output(out: Tree, describe: &impl Fn() -> String) -> Result<(Tensor, Tree)> {
    if let Tree::Seq(mut items) = out {
        if items.len() == 2 {
            let carry = items.pop().expect("two items");
            if let Some(Tree::Tensor(y)) = items.pop() {
                return Ok((y, carry));
            }
        }
    }
    Err(LuxError::Structure {
        path: lux_core::ROOT.into(),
        msg: format!("{}: the cell must return the pair (y, carry) with y a tensor", describe()),
    })
}

/// Runs `cell` over `steps`, threading the carry; every output when `all`,
/// else only the last.
pub(super) fn run_cell(
    cell: &dyn Layer,
    steps: &[Tree],
    ps: &Tree,
    st: &Tree,
    all: bool,
    describe: &impl Fn() -> String,
) -> Result<(Vec<Tensor>, Tree)> {
    let mut outputs = Vec::with_capacity(if all { steps.len() } else { 1 });
    let (out, mut st) = cell.forward(&steps[0], ps, st)?;
    let (mut y, mut carry) = split_cell_output(out, describe)?;
    for x in &steps[1..] {
        if all {
            outputs.push(y);
        }
        let (out, st_next) = cell.forward(&Tree::Seq(vec![x.clone(), carry]), ps, &st)?;
        (y, carry) = split_cell_output(out, describe)?;
        st = st_next;
    }
    outputs.push(y);
    Ok((outputs, st))
}

/// Outputs as a stacked tensor (on `axis`) or a sequence.
pub(super) fn collect_outputs(outputs: Vec<Tensor>, axis: Option<usize>) -> Result<Tree> {
    match axis {
        Some(axis) => Ok(Tensor::stack(&outputs, axis as isize)?.into()),
        None => Ok(Tree::Seq(outputs.into_iter().map(Tree::Tensor).collect())),
    }
}

// ----- Recurrence --------------------------------------------------------------------

/// Runs a recurrent cell over a whole sequence (Lux's
/// `Recurrence(cell; return_sequence=false, ordering)`): the first step
/// starts the cell's carry, every later step continues it.
///
/// * Parameters and state: the cell's (a wrapper: not nested).
/// * Input: a `[batch, time, features]` tensor (`[time, batch, features]`
///   with [`SequenceOrdering::TimeFirst`]; an unbatched `[time, features]`),
///   or a `Tree::Seq` of `[batch, features]` tensors, one per step.
/// * Output: the last step's output `[batch, out]`; with
///   [`return_sequence(true)`](Recurrence::return_sequence) every step's,
///   stacked on the time axis (`[batch, time, out]`) for a tensor input, a
///   `Tree::Seq` for a sequence input.
///
/// ```
/// use lux_core::*;
/// use lux_layers::*;
/// let model = Recurrence::new(LSTMCell::new(3, 5)?);
/// assert_eq!(model.describe(), "Recurrence(LSTMCell(3 => 5))");
/// let (ps, st) = setup(&mut RngState::seed_from_u64(0), &model)?;
/// assert!(ps.contains_key("weight_ih")); // the cell's parameters, not nested
/// let x = Tensor::ones(&[2, 7, 3], DType::F32)?; // batch 2, 7 steps
/// let (y, _) = apply_tensor(&model, &x, &ps, &st)?;
/// assert_eq!(y.shape(), &[2, 5]);
/// let seq = model.clone().return_sequence(true);
/// let (ys, _) = apply_tensor(&seq, &x, &ps, &st)?;
/// assert_eq!(ys.shape(), &[2, 7, 5]);
/// assert_eq!(ys.narrow(1, 6, 1)?.squeeze(1)?, y); // the last step is the last output
/// # Ok::<(), lux_core::LuxError>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Recurrence<C> {
    cell: C,
    return_sequence: bool,
    ordering: SequenceOrdering,
}

impl<C: RecurrentCell> Recurrence<C> {
    /// `Recurrence(cell)`: the last output, batch-first sequences.
    ///
    /// ```
    /// let r = lux_layers::Recurrence::new(lux_layers::GRUCell::new(2, 2)?);
    /// assert!(!r.returns_sequence());
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn new(cell: C) -> Self {
        Recurrence { cell, return_sequence: false, ordering: SequenceOrdering::BatchFirst }
    }

    /// Whether to return every step's output (Lux's `return_sequence`).
    ///
    /// ```
    /// use lux_core::Layer;
    /// let r = lux_layers::Recurrence::new(lux_layers::GRUCell::new(2, 2)?).return_sequence(true);
    /// assert_eq!(r.describe(), "Recurrence(GRUCell(2 => 2); return_sequence=true)");
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn return_sequence(mut self, on: bool) -> Self {
        self.return_sequence = on;
        self
    }

    /// Where the time axis of a rank-3 input is.
    ///
    /// ```
    /// use lux_core::*;
    /// use lux_layers::*;
    /// let r = Recurrence::new(RNNCell::new(3, 4)?).ordering(SequenceOrdering::TimeFirst);
    /// let (ps, st) = setup(&mut RngState::seed_from_u64(0), &r)?;
    /// let (y, _) = apply_tensor(&r, Tensor::ones(&[6, 2, 3], DType::F32)?, &ps, &st)?; // 6 steps, batch 2
    /// assert_eq!(y.shape(), &[2, 4]);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn ordering(mut self, ordering: SequenceOrdering) -> Self {
        self.ordering = ordering;
        self
    }

    /// Whether every step's output is returned.
    ///
    /// ```
    /// let r = lux_layers::Recurrence::new(lux_layers::GRUCell::new(2, 2)?);
    /// assert!(r.return_sequence(true).returns_sequence());
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn returns_sequence(&self) -> bool {
        self.return_sequence
    }

    /// The cell.
    ///
    /// ```
    /// let r = lux_layers::Recurrence::new(lux_layers::GRUCell::new(2, 3)?);
    /// assert_eq!(lux_layers::RecurrentCell::out_dims(r.cell()), 3);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn cell(&self) -> &C {
        &self.cell
    }
}

impl<C: RecurrentCell> Layer for Recurrence<C> {
    fn forward(&self, x: &Tree, ps: &Tree, st: &Tree) -> Result<(Tree, Tree)> {
        let describe = || self.describe();
        let (steps, axis) = sequence_steps(x, self.ordering, &describe)?;
        let (mut outputs, st) = run_cell(&self.cell, &steps, ps, st, self.return_sequence, &describe)?;
        let y = if self.return_sequence {
            collect_outputs(outputs, axis)?
        } else {
            Tree::Tensor(outputs.pop().expect("one output"))
        };
        Ok((y, st))
    }

    fn children(&self) -> Children<'_> {
        Children::Wrapped(&self.cell)
    }

    /// Lux prints the wrapped cell under its field name, `cell`.
    fn printable_children(&self) -> Option<Vec<(String, &dyn Layer)>> {
        Some(vec![("cell".into(), &self.cell as &dyn Layer)])
    }

    fn describe(&self) -> String {
        let mut opts = Vec::new();
        if self.return_sequence {
            opts.push("return_sequence=true");
        }
        if self.ordering == SequenceOrdering::TimeFirst {
            opts.push("ordering=TimeLastIndex()");
        }
        if opts.is_empty() {
            format!("Recurrence({})", self.cell.describe())
        } else {
            format!("Recurrence({}; {})", self.cell.describe(), opts.join(", "))
        }
    }
}

// ----- StatefulRecurrentCell ---------------------------------------------------------

/// A cell that keeps its carry in its state between calls (Lux's
/// `StatefulRecurrentCell(cell)`, like `Flux.Recur`): each call takes one
/// step and returns only the output. The state is `{cell, carry}`, with
/// `carry` `Tree::None` until the first call; reset it with
/// [`reset_carry`](StatefulRecurrentCell::reset_carry) before a new sequence
/// (Lux: `update_state(st, :carry, nothing)`; lux-core's
/// [`update_state`](lux_core::update_state) replaces only leaves, and a carry
/// is a sequence). Because the carry changes from `None` to tensors,
/// [`preserves_state_type`](Layer::preserves_state_type) is `false`.
///
/// ```
/// use lux_core::*;
/// use lux_layers::*;
/// let model = StatefulRecurrentCell::new(RNNCell::new(2, 3)?);
/// assert_eq!(model.describe(), "StatefulRecurrentCell(RNNCell(2 => 3, tanh))");
/// let (ps, st) = setup(&mut RngState::seed_from_u64(0), &model)?;
/// assert_eq!(st.get("carry")?, &Tree::None);
/// let x = Tensor::ones(&[4, 2], DType::F32)?;
/// let (y1, st) = apply_tensor(&model, &x, &ps, &st)?;
/// let (y2, st) = apply_tensor(&model, &x, &ps, &st)?; // continues from y1
/// assert_ne!(y1, y2);
/// assert_eq!(st.at("carry.0")?.as_tensor()?, &y2);
/// let (y1_again, _) = apply_tensor(&model, &x, &ps, &model.reset_carry(&st)?)?;
/// assert_eq!(y1_again, y1);
/// # Ok::<(), lux_core::LuxError>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct StatefulRecurrentCell<C> {
    cell: C,
}

impl<C: RecurrentCell> StatefulRecurrentCell<C> {
    /// `StatefulRecurrentCell(cell)`.
    ///
    /// ```
    /// let s = lux_layers::StatefulRecurrentCell::new(lux_layers::LSTMCell::new(2, 3)?);
    /// assert_eq!(lux_core::Layer::state_count(&s), 2); // the cell's rng and the carry
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn new(cell: C) -> Self {
        StatefulRecurrentCell { cell }
    }

    /// `st` with its carry reset to `Tree::None`, so that the next call
    /// starts a new sequence.
    ///
    /// ```
    /// use lux_core::*;
    /// let s = lux_layers::StatefulRecurrentCell::new(lux_layers::LSTMCell::new(2, 3)?);
    /// let (ps, st0) = setup(&mut RngState::seed_from_u64(0), &s)?;
    /// let (_, st1) = apply(&s, Tensor::ones(&[1, 2], DType::F32)?, &ps, &st0)?;
    /// assert_ne!(st1, st0);
    /// assert_eq!(s.reset_carry(&st1)?, st0);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// `st` is not a map (not this layer's state).
    pub fn reset_carry(&self, st: &Tree) -> Result<Tree> {
        let mut st = st.clone();
        st.insert("carry", Tree::None)?;
        Ok(st)
    }

    /// The cell.
    ///
    /// ```
    /// let s = lux_layers::StatefulRecurrentCell::new(lux_layers::LSTMCell::new(2, 3)?);
    /// assert_eq!(lux_layers::RecurrentCell::out_dims(s.cell()), 3);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn cell(&self) -> &C {
        &self.cell
    }
}

impl<C: RecurrentCell> Layer for StatefulRecurrentCell<C> {
    fn init_state(&self, rng: &mut dyn Rng) -> Result<Tree> {
        Ok(tree! { cell: self.cell.init_state(rng)?, carry: Tree::None })
    }

    fn state_count(&self) -> usize {
        self.cell.state_count() + 1
    }

    fn state_shapes(&self) -> Option<Vec<Vec<usize>>> {
        let mut shapes = self.cell.state_shapes()?;
        shapes.push(vec![]);
        Some(shapes)
    }

    fn preserves_state_type(&self) -> bool {
        false
    }

    fn forward(&self, x: &Tree, ps: &Tree, st: &Tree) -> Result<(Tree, Tree)> {
        let (cell_st, carry) = (st.get("cell")?, st.get("carry")?);
        let (out, cell_st) = match carry {
            Tree::None => self.cell.forward(x, ps, cell_st)?,
            carry => self.cell.forward(&Tree::Seq(vec![x.clone(), carry.clone()]), ps, cell_st)?,
        };
        let (y, carry) = split_cell_output(out, &|| self.describe())?;
        Ok((Tree::Tensor(y), tree! { cell: cell_st, carry: carry }))
    }

    fn children(&self) -> Children<'_> {
        Children::Wrapped(&self.cell)
    }

    /// Lux prints the wrapped cell under its field name, `cell`.
    fn printable_children(&self) -> Option<Vec<(String, &dyn Layer)>> {
        Some(vec![("cell".into(), &self.cell as &dyn Layer)])
    }

    fn describe(&self) -> String {
        format!("StatefulRecurrentCell({})", self.cell.describe())
    }
}
