//! [`BidirectionalRNN`]: a cell run forwards and another backwards over one
//! sequence, their outputs merged per step.

use super::RecurrentCell;
use super::sequence::SequenceOrdering;
use super::sequence::{collect_outputs, run_cell, sequence_steps};
use lux_core::{Children, Layer, LuxError, Result, Tensor, Tree, forward_child, tree};

/// How [`BidirectionalRNN`] combines the forward and backward outputs of a step.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MergeMode {
    /// Concatenated on the feature axis, forward first (Lux's default `vcat`).
    #[default]
    Concat,
    /// Added elementwise (Lux's `+`).
    Add,
    /// Multiplied elementwise (Lux's `*`).
    Mul,
    /// Not combined: the output is the pair `Tree::seq([forward, backward])`
    /// (Lux's `merge_mode=nothing`).
    None,
}

impl MergeMode {
    fn julia_name(self) -> &'static str {
        match self {
            MergeMode::Concat => "vcat",
            MergeMode::Add => "+",
            MergeMode::Mul => "*",
            MergeMode::None => "nothing",
        }
    }
    fn merge(self, a: &Tensor, b: &Tensor) -> Result<Tensor> {
        match self {
            MergeMode::Concat => Tensor::concat(&[a.clone(), b.clone()], -1),
            MergeMode::Add => a.add(b),
            MergeMode::Mul => a.mul(b),
            MergeMode::None => unreachable!("not merged"),
        }
    }
}

/// A bidirectional recurrent layer (Lux's `BidirectionalRNN(cell,
/// backward_cell=nothing; merge_mode=vcat, ordering)`): the forward cell
/// runs over the sequence, the backward cell over the reversed sequence
/// (its outputs reversed back), and each step's two outputs are merged.
///
/// * Parameters and state: `{forward_cell, backward_cell}`, each the cell's own
///   (with [`new`](BidirectionalRNN::new) the backward cell is a copy of the
///   forward one, with its own parameters).
/// * Input: as [`Recurrence`](super::Recurrence). Output: every step's merged output, stacked
///   on the time axis (`[batch, time, 2·out]` with [`MergeMode::Concat`]),
///   or a `Tree::Seq` for a sequence input; with [`MergeMode::None`] the pair
///   `Tree::seq([forward, backward])`.
///
/// ```
/// use lux_core::*;
/// use lux_layers::*;
/// let model = BidirectionalRNN::new(LSTMCell::new(3, 5)?);
/// assert_eq!(model.describe(), "BidirectionalRNN(LSTMCell(3 => 5), LSTMCell(3 => 5); merge_mode=vcat)");
/// assert_eq!(model.param_count(), 2 * 200);
/// let (ps, st) = setup(&mut RngState::seed_from_u64(0), &model)?;
/// let x = Tensor::ones(&[2, 4, 3], DType::F32)?;
/// let (y, _) = apply_tensor(&model, &x, &ps, &st)?;
/// assert_eq!(y.shape(), &[2, 4, 10]);
/// let pair = BidirectionalRNN::new(LSTMCell::new(3, 5)?).merge_mode(MergeMode::None);
/// let (ys, _) = apply(&pair, &x, &ps, &st)?;
/// assert_eq!(ys.at("1")?.as_tensor()?.shape(), &[2, 4, 5]);
/// # Ok::<(), lux_core::LuxError>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct BidirectionalRNN<F, B = F> {
    forward_cell: F,
    backward_cell: B,
    merge_mode: MergeMode,
    ordering: SequenceOrdering,
}

impl<F: RecurrentCell + Clone> BidirectionalRNN<F, F> {
    /// `BidirectionalRNN(cell)`: the backward cell is a copy of `cell`.
    ///
    /// ```
    /// let b = lux_layers::BidirectionalRNN::new(lux_layers::GRUCell::new(2, 3)?);
    /// assert_eq!(lux_core::Layer::param_count(&b), 2 * lux_core::Layer::param_count(b.forward_cell()));
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn new(cell: F) -> Self {
        Self::with_backward(cell.clone(), cell)
    }
}

impl<F: RecurrentCell, B: RecurrentCell> BidirectionalRNN<F, B> {
    /// `BidirectionalRNN(cell, backward_cell)`.
    ///
    /// ```
    /// use lux_core::Layer;
    /// use lux_layers::*;
    /// let b = BidirectionalRNN::with_backward(LSTMCell::new(3, 5)?, GRUCell::new(3, 5)?);
    /// assert_eq!(b.describe(), "BidirectionalRNN(LSTMCell(3 => 5), GRUCell(3 => 5); merge_mode=vcat)");
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn with_backward(forward_cell: F, backward_cell: B) -> Self {
        BidirectionalRNN {
            forward_cell,
            backward_cell,
            merge_mode: MergeMode::Concat,
            ordering: SequenceOrdering::BatchFirst,
        }
    }

    /// How each step's two outputs are combined (default concatenation).
    ///
    /// ```
    /// use lux_core::Layer;
    /// use lux_layers::*;
    /// let b = BidirectionalRNN::new(RNNCell::new(3, 5)?).merge_mode(MergeMode::Add);
    /// assert!(b.describe().ends_with("; merge_mode=+)"));
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn merge_mode(mut self, mode: MergeMode) -> Self {
        self.merge_mode = mode;
        self
    }

    /// Where the time axis of a rank-3 input is.
    ///
    /// ```
    /// use lux_core::*;
    /// use lux_layers::*;
    /// let b = BidirectionalRNN::new(RNNCell::new(3, 5)?).ordering(SequenceOrdering::TimeFirst);
    /// let (ps, st) = setup(&mut RngState::seed_from_u64(0), &b)?;
    /// let (y, _) = apply_tensor(&b, Tensor::ones(&[4, 2, 3], DType::F32)?, &ps, &st)?;
    /// assert_eq!(y.shape(), &[4, 2, 10]);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn ordering(mut self, ordering: SequenceOrdering) -> Self {
        self.ordering = ordering;
        self
    }

    /// The forward cell.
    ///
    /// ```
    /// let b = lux_layers::BidirectionalRNN::new(lux_layers::GRUCell::new(2, 3)?);
    /// assert_eq!(lux_core::Layer::describe(b.forward_cell()), "GRUCell(2 => 3)");
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn forward_cell(&self) -> &F {
        &self.forward_cell
    }

    /// The backward cell.
    ///
    /// ```
    /// let b = lux_layers::BidirectionalRNN::new(lux_layers::GRUCell::new(2, 3)?);
    /// assert_eq!(lux_core::Layer::describe(b.backward_cell()), "GRUCell(2 => 3)");
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn backward_cell(&self) -> &B {
        &self.backward_cell
    }
}

impl<F: RecurrentCell, B: RecurrentCell> Layer for BidirectionalRNN<F, B> {
    fn forward(&self, x: &Tree, ps: &Tree, st: &Tree) -> Result<(Tree, Tree)> {
        let describe = || self.describe();
        let (steps, axis) = sequence_steps(x, self.ordering, &describe)?;
        let (fwd, st_f) = (|| {
            run_cell(&self.forward_cell, &steps, ps.get("forward_cell")?, st.get("forward_cell")?, true, &describe)
        })()
        .map_err(|e| nest(e, "forward_cell", &self.forward_cell, &steps[0], ps, st))?;
        let reversed: Vec<Tree> = steps.iter().rev().cloned().collect();
        let (mut bwd, st_b) = (|| {
            run_cell(
                &self.backward_cell,
                &reversed,
                ps.get("backward_cell")?,
                st.get("backward_cell")?,
                true,
                &describe,
            )
        })()
        .map_err(|e| nest(e, "backward_cell", &self.backward_cell, &reversed[0], ps, st))?;
        bwd.reverse();
        let y = if self.merge_mode == MergeMode::None {
            Tree::seq([collect_outputs(fwd, axis)?, collect_outputs(bwd, axis)?])
        } else {
            let merged = fwd.iter().zip(&bwd).map(|(a, b)| self.merge_mode.merge(a, b)).collect::<Result<Vec<_>>>()?;
            collect_outputs(merged, axis)?
        };
        Ok((y, tree! { forward_cell: st_f, backward_cell: st_b }))
    }

    fn children(&self) -> Children<'_> {
        Children::Named(vec![
            ("forward_cell".into(), &self.forward_cell as &dyn Layer),
            ("backward_cell".into(), &self.backward_cell as &dyn Layer),
        ])
    }

    fn describe(&self) -> String {
        let mut s = format!(
            "BidirectionalRNN({}, {}; merge_mode={}",
            self.forward_cell.describe(),
            self.backward_cell.describe(),
            self.merge_mode.julia_name()
        );
        if self.ordering == SequenceOrdering::TimeFirst {
            s.push_str(", ordering=TimeLastIndex()");
        }
        s.push(')');
        s
    }
}

/// An error from inside one of the two directions, with that direction's
/// name in its path (as [`forward_child`] gives it): re-running the first
/// step through `forward_child` reproduces missing-key and shape errors with
/// their path; otherwise the error is returned as it is.
fn nest(err: LuxError, name: &str, cell: &dyn Layer, first: &Tree, ps: &Tree, st: &Tree) -> LuxError {
    match forward_child(name, cell, first, ps, st) {
        Err(nested) => nested,
        Ok(_) => err,
    }
}
