//! Recurrent layers (Lux's `src/layers/recurrent.jl`): the cells
//! [`RNNCell`], [`LSTMCell`], [`GRUCell`], and the layers that run a cell
//! over a sequence: [`Recurrence`], [`StatefulRecurrentCell`],
//! [`BidirectionalRNN`].
//!
//! **Cells.** A cell takes one time step. Called on `x` alone (`[batch, in]`,
//! or an unbatched `[in]`) it makes its carry first: zeros by default, drawn
//! with `init_state` / `init_memory` from a copy of the `rng` in its state
//! (so the state is returned unchanged), or, with `train_state` /
//! `train_memory`, the parameters `hidden_state` / `memory` repeated over
//! the batch. Called on the pair `Tree::seq([x, Tree::seq([h])])` (an LSTM:
//! `Tree::seq([x, Tree::seq([h, c])])`) it uses the given carry. Either way
//! it returns the pair `Tree::seq([y, carry′])`, as Lux returns `(y, carry)`.
//!
//! Parameters are Lux's, in Lux's layouts (batch-first rows, so the same
//! memory): `weight_ih` `[gates·out, in]`, `weight_hh` `[gates·out, out]`,
//! `bias_ih`, `bias_hh` `[gates·out]` (without `use_bias(false)`), and
//! `hidden_state` / `memory` `[out]` when trained. Gate order: LSTM
//! `input, forget, cell, output`; GRU `reset, update, new`. Each gate's
//! block is initialised on its own `[out, in]` shape (so fans are per gate,
//! as in Lux).
//!
//! Departures from Lux: `Recurrence(…; return_sequence=true)` on a tensor
//! returns the outputs stacked on the time axis (`[batch, time, out]`)
//! rather than a vector of `[batch, out]` tensors, so that it feeds the next
//! layer directly (on a `Tree::Seq` input it returns a `Tree::Seq`, as Lux);
//! Lux's default recurrent initialiser at the time of writing draws
//! `randn` values shifted by 0.5 although its documentation says uniform:
//! here it is the documented `uniform(−1/√out, 1/√out)`;
//! [`BidirectionalRNN`]'s parameters are `{forward_cell, backward_cell}`
//! (Lux nests them inside its internal `Parallel`/`Chain`); per-gate tuples
//! of initialisers are not supported (one initialiser for every gate).

use crate::init::Init;
use crate::util::float_input;
use lux_core::{DType, Layer, LuxError, Result, RngState, Tensor, Tree, tree};
use lux_ops::activation::{sigmoid, tanh};
use lux_ops::{Activation, dense, multigate};
use lux_precision::match_eltype;
use rand::Rng;

mod bidirectional;
mod sequence;

pub use bidirectional::{BidirectionalRNN, MergeMode};
pub use sequence::{Recurrence, SequenceOrdering, StatefulRecurrentCell};

// ----- the shared cell machinery -----------------------------------------------------

/// What distinguishes the three cells.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Rnn(Activation),
    Lstm,
    Gru,
}

impl Kind {
    fn gates(self) -> usize {
        match self {
            Kind::Rnn(_) => 1,
            Kind::Lstm => 4,
            Kind::Gru => 3,
        }
    }
    /// Tensors in the carry: `(h,)` or `(h, c)`.
    fn carry_len(self) -> usize {
        if self == Kind::Lstm { 2 } else { 1 }
    }
}

/// A cell's sizes and options (every cell is one of these).
#[derive(Clone, Debug, PartialEq)]
struct Spec {
    kind: Kind,
    in_dims: usize,
    out_dims: usize,
    use_bias: bool,
    train_state: bool,
    train_memory: bool,
    init_weight: Init,
    init_recurrent_weight: Init,
    init_bias: Init,
    init_state: Init,
    init_memory: Init,
}

impl Spec {
    fn new(kind: Kind, in_dims: usize, out_dims: usize) -> Spec {
        // Lux: `nothing` → uniform(−1/√out, 1/√out) for RNN and LSTM; GRU
        // uses glorot_uniform weights and zero biases.
        let bound = 1.0 / (out_dims.max(1) as f64).sqrt();
        let uniform = Init::uniform(-bound, bound);
        let (weight, bias) = match kind {
            Kind::Gru => (Init::glorot_uniform(), Init::zeros()),
            _ => (uniform.clone(), uniform),
        };
        Spec {
            kind,
            in_dims,
            out_dims,
            use_bias: true,
            train_state: false,
            train_memory: false,
            init_weight: weight.clone(),
            init_recurrent_weight: weight,
            init_bias: bias,
            init_state: Init::zeros(),
            init_memory: Init::zeros(),
        }
    }

    fn validate(&self, describe: &str) -> Result<()> {
        if self.in_dims == 0 || self.out_dims == 0 {
            return Err(LuxError::invalid_argument(
                describe,
                format!("the sizes must be positive, got {} => {}", self.in_dims, self.out_dims),
            ));
        }
        for init in
            [&self.init_weight, &self.init_recurrent_weight, &self.init_bias, &self.init_state, &self.init_memory]
        {
            init.validate().map_err(|e| LuxError::invalid_argument(describe, e.to_string()))?;
        }
        if let Kind::Rnn(a) = self.kind {
            a.apply(&Tensor::zeros(&[1], DType::F32)?)
                .map_err(|e| LuxError::invalid_argument(describe, e.to_string()))?;
        }
        Ok(())
    }

    /// `Name(in => out[, activation][, use_bias=false][, train_state=true][, train_memory=true])`.
    fn describe(&self) -> String {
        let mut s = match self.kind {
            Kind::Rnn(Activation::Identity) => format!("RNNCell({} => {}", self.in_dims, self.out_dims),
            Kind::Rnn(a) => format!("RNNCell({} => {}, {}", self.in_dims, self.out_dims, a.julia_name()),
            Kind::Lstm => format!("LSTMCell({} => {}", self.in_dims, self.out_dims),
            Kind::Gru => format!("GRUCell({} => {}", self.in_dims, self.out_dims),
        };
        if !self.use_bias {
            s.push_str(", use_bias=false");
        }
        if self.train_state {
            s.push_str(", train_state=true");
        }
        if self.train_memory {
            s.push_str(", train_memory=true");
        }
        s.push(')');
        s
    }

    fn param_shapes(&self) -> Vec<Vec<usize>> {
        let (g, i, o) = (self.kind.gates(), self.in_dims, self.out_dims);
        let mut shapes = vec![vec![g * o, i], vec![g * o, o]];
        if self.use_bias {
            shapes.extend([vec![g * o], vec![g * o]]);
        }
        if self.train_state {
            shapes.push(vec![o]);
        }
        if self.train_memory {
            shapes.push(vec![o]);
        }
        shapes
    }

    fn init_params(&self, rng: &mut dyn Rng) -> Result<Tree> {
        let (g, i, o) = (self.kind.gates(), self.in_dims, self.out_dims);
        let gated = |rng: &mut dyn Rng, init: &Init, shape: &[usize]| -> Result<Tensor> {
            let blocks = (0..g).map(|_| init.init(rng, shape, DType::F32)).collect::<Result<Vec<_>>>()?;
            if blocks.len() == 1 {
                Ok(blocks.into_iter().next().expect("one block"))
            } else {
                Tensor::concat(&blocks, 0)
            }
        };
        let mut ps = Tree::new();
        ps.insert("weight_ih", gated(rng, &self.init_weight, &[o, i])?)?;
        ps.insert("weight_hh", gated(rng, &self.init_recurrent_weight, &[o, o])?)?;
        if self.use_bias {
            ps.insert("bias_ih", gated(rng, &self.init_bias, &[o])?)?;
            ps.insert("bias_hh", gated(rng, &self.init_bias, &[o])?)?;
        }
        if self.train_state {
            ps.insert("hidden_state", self.init_state.init(rng, &[o], DType::F32)?)?;
        }
        if self.train_memory {
            ps.insert("memory", self.init_memory.init(rng, &[o], DType::F32)?)?;
        }
        Ok(ps)
    }

    /// One step: the new carry (its first tensor is the output).
    fn forward(&self, x: &Tree, ps: &Tree, st: &Tree, describe: impl Fn() -> String) -> Result<(Tree, Tree)> {
        let (x, given) = split_cell_input(x, self.kind.carry_len(), &describe)?;
        let x = float_input(x, &describe)?;
        let unbatched = x.ndim() == 1;
        if !(1..=2).contains(&x.ndim()) {
            return Err(LuxError::shape(
                &describe(),
                format!("input must be [batch, {0}] or [{0}], got shape {1:?}", self.in_dims, x.shape()),
            ));
        }
        let features = x.shape()[x.ndim() - 1];
        if features != self.in_dims {
            return Err(LuxError::shape(
                &describe(),
                format!("input has {features} features, expected {}", self.in_dims),
            ));
        }
        let w = self.weights(ps, &describe)?;
        let dtype = w.ih.dtype();
        let x = if unbatched { x.unsqueeze(0)? } else { x.clone() };
        let x = if x.dtype() != dtype { x.to_dtype(dtype)? } else { x };
        let batch = x.shape()[0];
        let carry: Vec<Tensor> = match given {
            Some(carry) => carry
                .iter()
                .enumerate()
                .map(|(k, c)| self.check_carry(c, k, batch, unbatched, dtype, &describe))
                .collect::<Result<_>>()?,
            None => self.initial_carry(ps, st, batch, dtype, &describe)?,
        };
        let new = self.step(&x, &carry, &w)?;
        let new = if unbatched { new.iter().map(|t| t.squeeze(0)).collect::<Result<Vec<_>>>()? } else { new };
        let y = new[0].clone();
        Ok((Tree::seq([Tree::Tensor(y), Tree::seq(new)]), st.clone()))
    }

    fn weights<'a>(&self, ps: &'a Tree, describe: &impl Fn() -> String) -> Result<Weights<'a>> {
        let (g, i, o) = (self.kind.gates(), self.in_dims, self.out_dims);
        let get = |name: &str, shape: &[usize]| -> Result<&'a Tensor> {
            let t = ps.tensor(name)?;
            if t.shape() != shape || !t.dtype().is_float() {
                return Err(LuxError::shape(
                    &describe(),
                    format!(
                        "parameter {name} is a {} tensor of shape {:?}, expected a float tensor of shape {shape:?}",
                        t.dtype(),
                        t.shape()
                    ),
                ));
            }
            Ok(t)
        };
        let ih = get("weight_ih", &[g * o, i])?;
        let hh = get("weight_hh", &[g * o, o])?;
        let (b_ih, b_hh) = if self.use_bias {
            (Some(get("bias_ih", &[g * o])?), Some(get("bias_hh", &[g * o])?))
        } else {
            (None, None)
        };
        Ok(Weights { ih, hh, b_ih, b_hh })
    }

    /// A given carry tensor, checked (`k`: 0 = hidden state, 1 = memory).
    fn check_carry(
        &self,
        c: &Tree,
        k: usize,
        batch: usize,
        unbatched: bool,
        dtype: DType,
        describe: &impl Fn() -> String,
    ) -> Result<Tensor> {
        let what = if k == 0 { "hidden state" } else { "memory" };
        let c = float_input(c, || format!("{} ({what})", describe()))?;
        let want: Vec<usize> = if unbatched { vec![self.out_dims] } else { vec![batch, self.out_dims] };
        if c.shape() != want.as_slice() {
            return Err(LuxError::shape(&describe(), format!("{what} has shape {:?}, expected {want:?}", c.shape())));
        }
        let c = if unbatched { c.unsqueeze(0)? } else { c.clone() };
        if c.dtype() != dtype { c.to_dtype(dtype) } else { Ok(c) }
    }

    /// The carry a call on `x` alone starts from.
    fn initial_carry(
        &self,
        ps: &Tree,
        st: &Tree,
        batch: usize,
        dtype: DType,
        describe: &impl Fn() -> String,
    ) -> Result<Vec<Tensor>> {
        let shape = [batch, self.out_dims];
        let mut rng: Option<RngState> = None;
        let mut make = |trained: bool, name: &str, init: &Init| -> Result<Tensor> {
            if trained {
                let p = ps.tensor(name)?;
                if p.shape() != [self.out_dims] {
                    return Err(LuxError::shape(
                        &describe(),
                        format!("parameter {name} has shape {:?}, expected [{}]", p.shape(), self.out_dims),
                    ));
                }
                let p = if p.dtype() != dtype { p.to_dtype(dtype)? } else { p.clone() };
                return p.broadcast_to(&shape);
            }
            if rng.is_none() {
                rng = Some(st.get("rng")?.as_rng()?.clone());
            }
            init.init(rng.as_mut().expect("set above"), &shape, dtype)
        };
        let mut carry = vec![make(self.train_state, "hidden_state", &self.init_state)?];
        if self.kind == Kind::Lstm {
            carry.push(make(self.train_memory, "memory", &self.init_memory)?);
        }
        Ok(carry)
    }

    fn step(&self, x: &Tensor, carry: &[Tensor], w: &Weights<'_>) -> Result<Vec<Tensor>> {
        let h = &carry[0];
        let zx = dense(x, w.ih, w.b_ih, Activation::Identity)?;
        let zh = dense(h, w.hh, w.b_hh, Activation::Identity)?;
        match self.kind {
            Kind::Rnn(a) => Ok(vec![a.apply(&zx.add(&zh)?)?]),
            Kind::Lstm => {
                // c' = σ(a_f)·c + σ(a_i)·tanh(a_g), h' = σ(a_o)·tanh(c'), fused.
                let (h, c) = lux_ops::lstm_cell(&zx.add(&zh)?, &carry[1])?;
                Ok(vec![h, c])
            }
            Kind::Gru => {
                let gx = multigate(&zx, 3)?;
                let gh = multigate(&zh, 3)?;
                let r = sigmoid(&gx[0].add(&gh[0])?)?;
                let z = sigmoid(&gx[1].add(&gh[1])?)?;
                let n = tanh(&gx[2].add(&r.mul(&gh[2])?)?)?;
                // (1 − z)·n + z·h = n + z·(h − n)
                Ok(vec![n.add(&z.mul(&h.sub(&n)?)?)?])
            }
        }
    }
}

struct Weights<'a> {
    ih: &'a Tensor,
    hh: &'a Tensor,
    b_ih: Option<&'a Tensor>,
    b_hh: Option<&'a Tensor>,
}

/// `x` alone, or the pair `(x, carry)` with `carry` a sequence of
/// `carry_len` trees.
fn split_cell_input<'a>(
    x: &'a Tree,
    carry_len: usize,
    describe: &impl Fn() -> String,
) -> Result<(&'a Tree, Option<&'a [Tree]>)> {
    match x {
        Tree::Seq(items) => {
            let bad = |msg: String| LuxError::Structure {
                path: lux_core::ROOT.into(),
                msg: format!("{}: {msg}", describe()),
            };
            let [x, carry] = items.as_slice() else {
                return Err(bad(format!("expects x or the pair (x, carry), got a sequence of {} items", items.len())));
            };
            let Tree::Seq(carry) = carry else {
                return Err(bad(format!(
                    "the carry must be a sequence of {carry_len} tensors, got a {}",
                    carry.kind_name()
                )));
            };
            if carry.len() != carry_len {
                let want = if carry_len == 2 { "(h, c)" } else { "(h,)" };
                return Err(bad(format!("the carry must be {want}, got {} tensors", carry.len())));
            }
            Ok((x, Some(carry.as_slice())))
        }
        _ => Ok((x, None)),
    }
}

/// The setup and printing every cell shares.
macro_rules! cell_layer {
    ($ty:ident) => {
        impl Layer for $ty {
            fn init_params(&self, rng: &mut dyn Rng) -> Result<Tree> {
                self.spec.init_params(rng)
            }
            fn init_state(&self, rng: &mut dyn Rng) -> Result<Tree> {
                Ok(tree! { rng: RngState::from_rng(rng) })
            }
            fn param_shapes(&self) -> Option<Vec<Vec<usize>>> {
                Some(self.spec.param_shapes())
            }
            fn state_shapes(&self) -> Option<Vec<Vec<usize>>> {
                Some(vec![vec![]])
            }
            fn forward(&self, x: &Tree, ps: &Tree, st: &Tree) -> Result<(Tree, Tree)> {
                let x = match_eltype(self, ps, st, x)?;
                self.spec.forward(&x, ps, st, || self.describe())
            }
            fn describe(&self) -> String {
                self.spec.describe()
            }
        }

        impl RecurrentCell for $ty {
            fn out_dims(&self) -> usize {
                self.spec.out_dims
            }
        }
    };
}

/// A layer that takes one step of a recurrence (Lux's
/// `AbstractRecurrentCell`): called on `x` it starts its own carry, called on
/// `Tree::seq([x, carry])` it continues one, and it returns
/// `Tree::seq([y, carry′])`. [`Recurrence`], [`StatefulRecurrentCell`] and
/// [`BidirectionalRNN`] accept any such cell, a user's own included.
///
/// ```
/// use lux_layers::{LSTMCell, RecurrentCell};
/// assert_eq!(LSTMCell::new(3, 5)?.out_dims(), 5);
/// # Ok::<(), lux_core::LuxError>(())
/// ```
pub trait RecurrentCell: Layer {
    /// The size of the output (the hidden state).
    fn out_dims(&self) -> usize;
}

/// A boxed cell is a cell, so that the cell of a [`Recurrence`] can be
/// chosen at run time.
///
/// ```
/// use lux_core::*;
/// use lux_layers::*;
/// let cell: Box<dyn RecurrentCell> = if true { Box::new(GRUCell::new(2, 3)?) } else { Box::new(LSTMCell::new(2, 3)?) };
/// let model = Recurrence::new(cell);
/// assert_eq!(model.describe(), "Recurrence(GRUCell(2 => 3))");
/// let (ps, st) = setup(&mut RngState::seed_from_u64(0), &model)?;
/// assert_eq!(apply_tensor(&model, Tensor::ones(&[1, 4, 2], DType::F32)?, &ps, &st)?.0.shape(), &[1, 3]);
/// # Ok::<(), lux_core::LuxError>(())
/// ```
impl<C: RecurrentCell + ?Sized> RecurrentCell for Box<C> {
    fn out_dims(&self) -> usize {
        (**self).out_dims()
    }
}

/// The options every cell's builder shares.
macro_rules! builder_options {
    ($builder:ident, $cell:ident) => {
        impl $builder {
            /// Whether the cell has the biases `bias_ih` and `bias_hh` (default `true`).
            ///
            /// ```
            #[doc = concat!("use lux_layers::", stringify!($cell), ";")]
            #[doc = concat!("let cell = ", stringify!($cell), "::builder(2, 3).use_bias(false).build()?;")]
            /// let (ps, _) = lux_core::setup(&mut lux_core::RngState::seed_from_u64(0), &cell)?;
            /// assert!(!ps.contains_key("bias_ih") && !ps.contains_key("bias_hh"));
            /// # Ok::<(), lux_core::LuxError>(())
            /// ```
            pub fn use_bias(mut self, on: bool) -> Self {
                self.spec.use_bias = on;
                self
            }

            /// Whether the initial hidden state is a parameter `hidden_state`
            /// (`[out]`, repeated over the batch) instead of drawn with
            /// `init_state` (default `false`).
            ///
            /// ```
            #[doc = concat!("use lux_layers::", stringify!($cell), ";")]
            #[doc = concat!("let cell = ", stringify!($cell), "::builder(2, 3).train_state(true).build()?;")]
            /// assert!(lux_core::Layer::describe(&cell).ends_with(", train_state=true)"));
            /// # Ok::<(), lux_core::LuxError>(())
            /// ```
            pub fn train_state(mut self, on: bool) -> Self {
                self.spec.train_state = on;
                self
            }

            /// The initialiser of every gate's block of `weight_ih` (and of
            /// `weight_hh` unless [`init_recurrent_weight`](Self::init_recurrent_weight)
            /// is set after it).
            ///
            /// ```
            /// use lux_layers::init::Init;
            #[doc = concat!("use lux_layers::", stringify!($cell), ";")]
            #[doc = concat!("let cell = ", stringify!($cell), "::builder(2, 3).init_weight(Init::zeros()).build()?;")]
            /// let (ps, _) = lux_core::setup(&mut lux_core::RngState::seed_from_u64(0), &cell)?;
            /// assert!(ps.tensor("weight_hh")?.to_vec::<f32>()?.iter().all(|&v| v == 0.0));
            /// # Ok::<(), lux_core::LuxError>(())
            /// ```
            pub fn init_weight(mut self, init: Init) -> Self {
                self.spec.init_weight = init.clone();
                self.spec.init_recurrent_weight = init;
                self
            }

            /// The initialiser of every gate's block of `weight_hh`.
            ///
            /// ```
            /// use lux_layers::init::Init;
            #[doc = concat!("use lux_layers::", stringify!($cell), ";")]
            #[doc = concat!("let cell = ", stringify!($cell), "::builder(2, 3).init_recurrent_weight(Init::ones()).build()?;")]
            /// let (ps, _) = lux_core::setup(&mut lux_core::RngState::seed_from_u64(0), &cell)?;
            /// assert!(ps.tensor("weight_hh")?.to_vec::<f32>()?.iter().all(|&v| v == 1.0));
            /// # Ok::<(), lux_core::LuxError>(())
            /// ```
            pub fn init_recurrent_weight(mut self, init: Init) -> Self {
                self.spec.init_recurrent_weight = init;
                self
            }

            /// The initialiser of both biases.
            ///
            /// ```
            /// use lux_layers::init::Init;
            #[doc = concat!("use lux_layers::", stringify!($cell), ";")]
            #[doc = concat!("let cell = ", stringify!($cell), "::builder(2, 3).init_bias(Init::ones()).build()?;")]
            /// let (ps, _) = lux_core::setup(&mut lux_core::RngState::seed_from_u64(0), &cell)?;
            /// assert!(ps.tensor("bias_ih")?.to_vec::<f32>()?.iter().all(|&v| v == 1.0));
            /// # Ok::<(), lux_core::LuxError>(())
            /// ```
            pub fn init_bias(mut self, init: Init) -> Self {
                self.spec.init_bias = init;
                self
            }

            /// The initialiser of the hidden state (default zeros), drawn
            /// `[batch, out]` from a copy of the state's `rng` on every call on
            /// `x` alone, or `[out]` once at setup with `train_state(true)`.
            ///
            /// ```
            /// use lux_layers::init::Init;
            #[doc = concat!("use lux_layers::", stringify!($cell), ";")]
            #[doc = concat!("let cell = ", stringify!($cell), "::builder(2, 3).train_state(true).init_state(Init::ones()).build()?;")]
            /// let (ps, _) = lux_core::setup(&mut lux_core::RngState::seed_from_u64(0), &cell)?;
            /// assert_eq!(ps.tensor("hidden_state")?.to_vec::<f32>()?, vec![1.0; 3]);
            /// # Ok::<(), lux_core::LuxError>(())
            /// ```
            pub fn init_state(mut self, init: Init) -> Self {
                self.spec.init_state = init;
                self
            }

            /// The cell.
            ///
            /// ```
            #[doc = concat!("use lux_layers::", stringify!($cell), ";")]
            #[doc = concat!("assert!(", stringify!($cell), "::builder(0, 3).build().is_err());")]
            /// ```
            ///
            /// # Errors
            /// A size is 0, or an initialiser's options are invalid.
            pub fn build(self) -> Result<$cell> {
                let cell = $cell { spec: self.spec };
                cell.spec.validate(&cell.spec.describe())?;
                Ok(cell)
            }
        }

        impl $cell {
            /// The input size.
            ///
            /// ```
            #[doc = concat!("assert_eq!(lux_layers::", stringify!($cell), "::new(2, 3)?.in_dims(), 2);")]
            /// # Ok::<(), lux_core::LuxError>(())
            /// ```
            pub fn in_dims(&self) -> usize {
                self.spec.in_dims
            }

            /// The number of parameter elements, from the sizes alone (the
            /// same as [`Layer::param_count`]).
            ///
            /// ```
            #[doc = concat!("let cell = lux_layers::", stringify!($cell), "::new(2, 3)?;")]
            /// assert_eq!(cell.param_shapes_count(), lux_core::Layer::param_count(&cell));
            /// # Ok::<(), lux_core::LuxError>(())
            /// ```
            pub fn param_shapes_count(&self) -> usize {
                self.spec.param_shapes().iter().map(|s| s.iter().product::<usize>()).sum()
            }
        }
    };
}

// ----- RNNCell -----------------------------------------------------------------------

/// An Elman RNN cell (Lux's `RNNCell(in => out, activation=tanh)`):
/// `h′ = activation(x·W_ihᵀ + b_ih + h·W_hhᵀ + b_hh)`; output and carry are `h′`.
///
/// * Parameters: `weight_ih` `[out, in]`, `weight_hh` `[out, out]`,
///   `bias_ih`, `bias_hh` `[out]`, `hidden_state` `[out]` with
///   `train_state(true)`. Default initialiser: uniform(−1/√out, 1/√out).
/// * State: `rng` (draws the initial hidden state with `init_state`).
/// * Input `[batch, in]` (or `[in]`), or `Tree::seq([x, Tree::seq([h])])`;
///   output `Tree::seq([h′, Tree::seq([h′])])`.
///
/// ```
/// use lux_core::*;
/// use lux_layers::*;
/// let cell = RNNCell::new(3, 5)?;
/// assert_eq!(cell.describe(), "RNNCell(3 => 5, tanh)");
/// assert_eq!(cell.param_count(), 5 * 3 + 5 * 5 + 5 + 5);
/// let (ps, st) = setup(&mut RngState::seed_from_u64(0), &cell)?;
/// let x = Tensor::ones(&[2, 3], DType::F32)?;
/// let (out, st) = apply(&cell, &x, &ps, &st)?;
/// let (y, h) = (out.at("0")?.as_tensor()?, out.at("1.0")?.as_tensor()?);
/// assert_eq!((y.shape(), y), (&[2, 5][..], h));
/// // the next step continues from the carry
/// let (out2, _) = apply(&cell, Tree::seq([Tree::from(&x), out.at("1")?.clone()]), &ps, &st)?;
/// assert_ne!(out2.at("0")?, out.at("0")?);
/// # Ok::<(), lux_core::LuxError>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct RNNCell {
    spec: Spec,
}

/// The options of an [`RNNCell`] (from [`RNNCell::builder`]).
#[derive(Clone, Debug, PartialEq)]
pub struct RNNCellBuilder {
    spec: Spec,
}

impl RNNCell {
    /// `RNNCell(in => out)` with `tanh` and Lux's defaults.
    ///
    /// ```
    /// assert_eq!(lux_core::Layer::describe(&lux_layers::RNNCell::new(2, 4)?), "RNNCell(2 => 4, tanh)");
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// A size is 0.
    pub fn new(in_dims: usize, out_dims: usize) -> Result<RNNCell> {
        Self::builder(in_dims, out_dims).build()
    }

    /// The options of `RNNCell(in => out)`.
    ///
    /// ```
    /// use lux_ops::Activation;
    /// let cell = lux_layers::RNNCell::builder(2, 4).activation(Activation::Relu).use_bias(false).build()?;
    /// assert_eq!(lux_core::Layer::describe(&cell), "RNNCell(2 => 4, relu, use_bias=false)");
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn builder(in_dims: usize, out_dims: usize) -> RNNCellBuilder {
        RNNCellBuilder { spec: Spec::new(Kind::Rnn(Activation::Tanh), in_dims, out_dims) }
    }

    /// The activation.
    ///
    /// ```
    /// assert_eq!(lux_layers::RNNCell::new(2, 4)?.activation(), lux_ops::Activation::Tanh);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn activation(&self) -> Activation {
        match self.spec.kind {
            Kind::Rnn(a) => a,
            _ => unreachable!("an RNNCell's kind is Rnn"),
        }
    }
}

impl RNNCellBuilder {
    /// The activation (default `tanh`; `Activation::Identity` prints none).
    ///
    /// ```
    /// use lux_ops::Activation;
    /// let cell = lux_layers::RNNCell::builder(2, 4).activation(Activation::Identity).build()?;
    /// assert_eq!(lux_core::Layer::describe(&cell), "RNNCell(2 => 4)");
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn activation(mut self, activation: Activation) -> Self {
        self.spec.kind = Kind::Rnn(activation);
        self
    }
}

builder_options!(RNNCellBuilder, RNNCell);
cell_layer!(RNNCell);

// ----- LSTMCell ----------------------------------------------------------------------

/// A long short-term memory cell (Lux's `LSTMCell(in => out)`): with
/// `[i, f, g, o] = x·W_ihᵀ + b_ih + h·W_hhᵀ + b_hh` split into four gates,
/// `c′ = σ(f)⊙c + σ(i)⊙tanh(g)` and `h′ = σ(o)⊙tanh(c′)`; the output is `h′`,
/// the carry `(h′, c′)`.
///
/// * Parameters: `weight_ih` `[4·out, in]`, `weight_hh` `[4·out, out]`,
///   `bias_ih`, `bias_hh` `[4·out]` (gate blocks in the order input, forget,
///   cell, output), `hidden_state` / `memory` `[out]` with
///   `train_state(true)` / `train_memory(true)`. Default initialiser:
///   uniform(−1/√out, 1/√out).
/// * State: `rng`.
/// * Input `[batch, in]` (or `[in]`), or `Tree::seq([x, Tree::seq([h, c])])`;
///   output `Tree::seq([h′, Tree::seq([h′, c′])])`.
///
/// ```
/// use lux_core::*;
/// use lux_layers::*;
/// let cell = LSTMCell::new(3, 5)?;
/// assert_eq!(cell.describe(), "LSTMCell(3 => 5)");
/// assert_eq!(cell.param_count(), 4 * (5 * 3 + 5 * 5 + 5 + 5));
/// let (ps, st) = setup(&mut RngState::seed_from_u64(0), &cell)?;
/// let (out, _) = apply(&cell, Tensor::ones(&[2, 3], DType::F32)?, &ps, &st)?;
/// assert_eq!(out.at("1")?.len(), 2); // (h, c)
/// assert_eq!(out.at("1.1")?.as_tensor()?.shape(), &[2, 5]);
/// # Ok::<(), lux_core::LuxError>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct LSTMCell {
    spec: Spec,
}

/// The options of an [`LSTMCell`] (from [`LSTMCell::builder`]).
#[derive(Clone, Debug, PartialEq)]
pub struct LSTMCellBuilder {
    spec: Spec,
}

impl LSTMCell {
    /// `LSTMCell(in => out)` with Lux's defaults.
    ///
    /// ```
    /// assert_eq!(lux_core::Layer::describe(&lux_layers::LSTMCell::new(2, 4)?), "LSTMCell(2 => 4)");
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// A size is 0.
    pub fn new(in_dims: usize, out_dims: usize) -> Result<LSTMCell> {
        Self::builder(in_dims, out_dims).build()
    }

    /// The options of `LSTMCell(in => out)`.
    ///
    /// ```
    /// let cell = lux_layers::LSTMCell::builder(2, 4).train_state(true).train_memory(true).build()?;
    /// assert_eq!(lux_core::Layer::describe(&cell), "LSTMCell(2 => 4, train_state=true, train_memory=true)");
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn builder(in_dims: usize, out_dims: usize) -> LSTMCellBuilder {
        LSTMCellBuilder { spec: Spec::new(Kind::Lstm, in_dims, out_dims) }
    }
}

impl LSTMCellBuilder {
    /// Whether the initial memory is a parameter `memory` (`[out]`, repeated
    /// over the batch) instead of drawn with `init_memory` (default `false`).
    ///
    /// ```
    /// let cell = lux_layers::LSTMCell::builder(2, 4).train_memory(true).build()?;
    /// assert_eq!(lux_core::Layer::param_count(&cell), 4 * (8 + 16 + 4 + 4) + 4);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn train_memory(mut self, on: bool) -> Self {
        self.spec.train_memory = on;
        self
    }

    /// The initialiser of the memory (default zeros).
    ///
    /// ```
    /// use lux_layers::init::Init;
    /// let cell = lux_layers::LSTMCell::builder(2, 4).init_memory(Init::ones()).build()?;
    /// let (ps, st) = lux_core::setup(&mut lux_core::RngState::seed_from_u64(0), &cell)?;
    /// let (out, _) = lux_core::apply(&cell, lux_core::Tensor::zeros(&[1, 2], lux_core::DType::F32)?, &ps, &st)?;
    /// assert_eq!(out.at("1.1")?.as_tensor()?.shape(), &[1, 4]);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn init_memory(mut self, init: Init) -> Self {
        self.spec.init_memory = init;
        self
    }
}

builder_options!(LSTMCellBuilder, LSTMCell);
cell_layer!(LSTMCell);

// ----- GRUCell -----------------------------------------------------------------------

/// A gated recurrent unit (Lux's `GRUCell(in => out)`): with
/// `[r_x, z_x, n_x] = x·W_ihᵀ + b_ih` and `[r_h, z_h, n_h] = h·W_hhᵀ + b_hh`,
/// `r = σ(r_x + r_h)`, `z = σ(z_x + z_h)`, `n = tanh(n_x + r⊙n_h)` and
/// `h′ = (1 − z)⊙n + z⊙h`; output and carry are `h′`.
///
/// * Parameters: `weight_ih` `[3·out, in]`, `weight_hh` `[3·out, out]`,
///   `bias_ih`, `bias_hh` `[3·out]` (gate blocks reset, update, new),
///   `hidden_state` `[out]` with `train_state(true)`. Default initialisers
///   (Lux's): glorot_uniform per gate block for the weights, zeros for the biases.
/// * State: `rng`.
/// * Input `[batch, in]` (or `[in]`), or `Tree::seq([x, Tree::seq([h])])`.
///
/// ```
/// use lux_core::*;
/// use lux_layers::*;
/// let cell = GRUCell::new(3, 5)?;
/// assert_eq!(cell.describe(), "GRUCell(3 => 5)");
/// assert_eq!(cell.param_count(), 3 * (5 * 3 + 5 * 5 + 5 + 5));
/// let (ps, st) = setup(&mut RngState::seed_from_u64(0), &cell)?;
/// assert!(ps.tensor("bias_ih")?.to_vec::<f32>()?.iter().all(|&b| b == 0.0));
/// let (out, _) = apply(&cell, Tensor::ones(&[3], DType::F32)?, &ps, &st)?; // unbatched
/// assert_eq!(out.at("0")?.as_tensor()?.shape(), &[5]);
/// # Ok::<(), lux_core::LuxError>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct GRUCell {
    spec: Spec,
}

/// The options of a [`GRUCell`] (from [`GRUCell::builder`]).
#[derive(Clone, Debug, PartialEq)]
pub struct GRUCellBuilder {
    spec: Spec,
}

impl GRUCell {
    /// `GRUCell(in => out)` with Lux's defaults.
    ///
    /// ```
    /// assert_eq!(lux_core::Layer::describe(&lux_layers::GRUCell::new(2, 4)?), "GRUCell(2 => 4)");
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// A size is 0.
    pub fn new(in_dims: usize, out_dims: usize) -> Result<GRUCell> {
        Self::builder(in_dims, out_dims).build()
    }

    /// The options of `GRUCell(in => out)`.
    ///
    /// ```
    /// let cell = lux_layers::GRUCell::builder(2, 4).use_bias(false).build()?;
    /// assert_eq!(lux_core::Layer::describe(&cell), "GRUCell(2 => 4, use_bias=false)");
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn builder(in_dims: usize, out_dims: usize) -> GRUCellBuilder {
        GRUCellBuilder { spec: Spec::new(Kind::Gru, in_dims, out_dims) }
    }
}

builder_options!(GRUCellBuilder, GRUCell);
cell_layer!(GRUCell);
