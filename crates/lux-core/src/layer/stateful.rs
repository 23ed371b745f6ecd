//! [`StatefulLayer`]: a model with its parameters and current state, called
//! like a function (LuxCore's `StatefulLuxLayer`).

use super::{Layer, update_state};
use crate::error::{LuxError, Result};
use crate::tree::{ROOT, Tree};
use crate::{Tensor, layer};
use std::cell::RefCell;
use std::fmt;

/// A model together with (optionally) its parameters and its current
/// state, called like a function: [`call`](StatefulLayer::call) runs the
/// model, keeps the new state and returns only the output (LuxCore's
/// `StatefulLuxLayer{FT}`; like Lux's, it is **not** a [`Layer`]).
///
/// It is what a `compact!` body calls its sublayers through, and what a
/// loss that differentiates through a model's input (nested AD) holds:
/// gradients flow to the parameters passed in, never to the state (the
/// stored state is detached from any gradient record).
///
/// The *fixed-state-type* flag (Lux's `FT`) defaults to the model's
/// [`Layer::preserves_state_type`]. When it is set, a call whose new state
/// differs in structure, leaf kinds, dtypes or shapes from the stored one is
/// an `Err`: construct the layer with
/// [`with_fixed_state_type(.., false)`](StatefulLayer::with_fixed_state_type).
///
/// ```
/// use lux_core::{setup, tree, DType, Layer, Result, RngState, StatefulLayer, Tensor, Tree};
///
/// /// y = x ⊙ w, counting its calls.
/// struct Scale;
/// impl Layer for Scale {
///     fn init_params(&self, _: &mut dyn rand::Rng) -> Result<Tree> {
///         Ok(tree! { w: Tensor::full(&[2], 3.0, DType::F32)? })
///     }
///     fn init_state(&self, _: &mut dyn rand::Rng) -> Result<Tree> { Ok(tree! { calls: 0i64 }) }
///     fn forward(&self, x: &Tree, ps: &Tree, st: &Tree) -> Result<(Tree, Tree)> {
///         let y = x.as_tensor()?.mul(ps.tensor("w")?)?;
///         Ok((y.into(), tree! { calls: st.get("calls")?.as_int()? + 1 }))
///     }
/// }
///
/// let (ps, st) = setup(&mut RngState::seed_from_u64(0), &Scale)?;
/// let model = StatefulLayer::new(Scale, ps, st);
/// let x = Tensor::from_vec(vec![1.0f32, -2.0], &[2])?;
/// assert_eq!(model.call_tensor(&x)?.to_vec::<f32>()?, vec![3.0, -6.0]);
/// model.call(&x)?;
/// assert_eq!(model.state().get("calls")?.as_int()?, 2); // the state is kept
/// assert_eq!(model.to_string(), "StatefulLayer{true}(Scale)");
///
/// // Without parameters, they are passed at each call.
/// let bare = StatefulLayer::new(Scale, None, tree! { calls: 0i64 });
/// let err = bare.call(&x).unwrap_err();
/// assert!(err.to_string().contains("parameters are not set; pass them explicitly"), "{err}");
/// let other = tree! { w: Tensor::full(&[2], 0.5, DType::F32)? };
/// assert_eq!(bare.call_tensor_with(&x, &other)?.to_vec::<f32>()?, vec![0.5, -1.0]);
/// # Ok::<(), lux_core::LuxError>(())
/// ```
pub struct StatefulLayer<M> {
    model: M,
    ps: Option<Tree>,
    st: RefCell<Tree>,
    fixed_state_type: bool,
}

impl<M: Layer> StatefulLayer<M> {
    /// A stateful layer with the fixed-state-type flag taken from the model
    /// ([`Layer::preserves_state_type`]). `ps` may be `None` (then every call
    /// passes parameters with [`call_with`](StatefulLayer::call_with)).
    pub fn new(model: M, ps: impl Into<Option<Tree>>, st: Tree) -> Self {
        let fixed = model.preserves_state_type();
        StatefulLayer::with_fixed_state_type(model, ps, st, fixed)
    }

    /// A stateful layer with an explicit fixed-state-type flag (Lux's
    /// `StatefulLuxLayer{FT}`): `false` accepts a model whose state changes
    /// type from call to call.
    ///
    /// ```
    /// use lux_core::{tree, Layer, Result, StatefulLayer, Tree};
    /// /// Starts from an empty state and returns `{s: 1}` (Lux's `NotFixedStateModel`).
    /// struct Grows;
    /// impl Layer for Grows {
    ///     fn forward(&self, x: &Tree, _: &Tree, _: &Tree) -> Result<(Tree, Tree)> {
    ///         Ok((x.clone(), tree! { s: 1i64 }))
    ///     }
    /// }
    /// let loose = StatefulLayer::with_fixed_state_type(Grows, Tree::new(), Tree::new(), false);
    /// assert_eq!(loose.call(1.0)?, Tree::Float(1.0));
    /// assert_eq!(loose.state(), tree! { s: 1i64 });
    ///
    /// let fixed = StatefulLayer::new(Grows, Tree::new(), Tree::new()); // flag from the model: true
    /// let err = fixed.call(1.0).unwrap_err().to_string();
    /// assert!(err.contains("with_fixed_state_type(.., false)"), "{err}");
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn with_fixed_state_type(model: M, ps: impl Into<Option<Tree>>, st: Tree, fixed: bool) -> Self {
        StatefulLayer { model, ps: ps.into(), st: RefCell::new(detached(&st)), fixed_state_type: fixed }
    }

    /// Runs the model on `x` with the stored parameters, keeps the new
    /// state and returns the output.
    ///
    /// # Errors
    /// [`LuxError::InvalidArgument`] when no parameters are stored; the
    /// model's error; [`LuxError::Structure`] when the flag is set and the
    /// new state's type differs from the stored one.
    pub fn call(&self, x: impl Into<Tree>) -> Result<Tree> {
        match &self.ps {
            Some(ps) => self.call_with(x, ps),
            None => Err(LuxError::InvalidArgument {
                op: format!("StatefulLayer({})", self.model.describe()),
                msg: "parameters are not set; pass them explicitly with call_with(x, ps)".into(),
            }),
        }
    }

    /// Runs the model on `x` with parameters `ps` (e.g. the tracked ones of
    /// a gradient call), keeps the new state and returns the output.
    ///
    /// # Errors
    /// As [`call`](StatefulLayer::call), without the missing-parameters case.
    pub fn call_with(&self, x: impl Into<Tree>, ps: &Tree) -> Result<Tree> {
        let (y, st_new) = {
            let st = self.st.borrow();
            let (y, st_new) = self.model.forward(&x.into(), ps, &st)?;
            if self.fixed_state_type {
                self.check_state_type(&st, &st_new)?;
            }
            (y, st_new)
        };
        *self.st.borrow_mut() = detached(&st_new);
        Ok(y)
    }

    /// [`call`](StatefulLayer::call) for a model whose output is one tensor.
    ///
    /// # Errors
    /// As [`call`](StatefulLayer::call); [`LuxError::Structure`] if the
    /// output is not a tensor.
    pub fn call_tensor(&self, x: impl Into<Tree>) -> Result<Tensor> {
        self.output_tensor(self.call(x)?)
    }

    /// [`call_with`](StatefulLayer::call_with) for a model whose output is
    /// one tensor.
    ///
    /// # Errors
    /// As [`call_with`](StatefulLayer::call_with); [`LuxError::Structure`]
    /// if the output is not a tensor.
    pub fn call_tensor_with(&self, x: impl Into<Tree>, ps: &Tree) -> Result<Tensor> {
        self.output_tensor(self.call_with(x, ps)?)
    }

    fn output_tensor(&self, y: Tree) -> Result<Tensor> {
        match y {
            Tree::Tensor(t) => Ok(t),
            other => Err(LuxError::Structure {
                path: ROOT.into(),
                msg: format!(
                    "StatefulLayer({}): expected a tensor output, got a {}",
                    self.model.describe(),
                    other.kind_name()
                ),
            }),
        }
    }

    fn check_state_type(&self, before: &Tree, after: &Tree) -> Result<()> {
        let mismatch = |what: String| LuxError::Structure {
            path: ROOT.into(),
            msg: format!(
                "StatefulLayer({}): the model returned a state of another type than it was given ({what}); \
                 construct it with StatefulLayer::with_fixed_state_type(.., false), and check that \
                 Layer::preserves_state_type is right for every layer in the model",
                self.model.describe()
            ),
        };
        before.structure_check(after).map_err(|e| mismatch(e.to_string()))?;
        for ((path, a), (_, b)) in before.tensors().into_iter().zip(after.tensors()) {
            if a.dtype() != b.dtype() || a.shape() != b.shape() {
                return Err(mismatch(format!(
                    "{path} was {}{:?} and came back {}{:?}",
                    a.dtype(),
                    a.shape(),
                    b.dtype(),
                    b.shape()
                )));
            }
        }
        Ok(())
    }

    /// The model.
    ///
    /// ```
    /// use lux_core::{tree, DType, Layer, Result, StatefulLayer, Tensor, Tree};
    /// struct Scale;
    /// impl Layer for Scale {
    ///     fn init_params(&self, _: &mut dyn rand::Rng) -> Result<Tree> {
    ///         Ok(tree! { w: Tensor::ones(&[2], DType::F32)? })
    ///     }
    ///     fn forward(&self, x: &Tree, ps: &Tree, st: &Tree) -> Result<(Tree, Tree)> {
    ///         Ok((x.as_tensor()?.mul(ps.tensor("w")?)?.into(), st.clone()))
    ///     }
    /// }
    /// let mut s = StatefulLayer::new(Scale, None, Tree::new());
    /// assert_eq!((s.model().describe(), s.ps(), s.param_count()), ("Scale".to_string(), None, 2));
    /// s.set_ps(tree! { w: Tensor::full(&[3], 2.0, DType::F32)? });
    /// assert_eq!(s.param_count(), 3); // the stored parameters' count
    /// s.set_state(tree! { calls: 4i64 });
    /// assert_eq!((s.state(), s.state_count()), (tree! { calls: 4i64 }, 1));
    /// let (_model, ps, st) = s.into_parts();
    /// assert_eq!((ps.map(|p| p.param_count()), st), (Some(3), tree! { calls: 4i64 }));
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn model(&self) -> &M {
        &self.model
    }

    /// The stored parameters, if any.
    pub fn ps(&self) -> Option<&Tree> {
        self.ps.as_ref()
    }

    /// Replaces the stored parameters (Lux's `@set smodel.ps = ps`).
    pub fn set_ps(&mut self, ps: impl Into<Option<Tree>>) {
        self.ps = ps.into();
    }

    /// The current state (a copy; tensors share their buffers).
    pub fn state(&self) -> Tree {
        self.st.borrow().clone()
    }

    /// Replaces the current state.
    pub fn set_state(&self, st: Tree) {
        *self.st.borrow_mut() = detached(&st);
    }

    /// The fixed-state-type flag (Lux's `preserves_state_type(s) = FT`).
    pub fn fixed_state_type(&self) -> bool {
        self.fixed_state_type
    }

    /// The parameter count of the stored parameters, or of the model when
    /// none are stored (Lux's `parameterlength`).
    pub fn param_count(&self) -> usize {
        self.ps.as_ref().map_or_else(|| self.model.param_count(), Tree::param_count)
    }

    /// The state count of the current state (Lux's `statelength`).
    pub fn state_count(&self) -> usize {
        self.st.borrow().state_count()
    }

    /// Splits into the model, the stored parameters and the current state.
    pub fn into_parts(self) -> (M, Option<Tree>, Tree) {
        (self.model, self.ps, self.st.into_inner())
    }

    /// A new stateful layer with the same model, parameters and flag and
    /// the state `st`.
    fn with_state(&self, st: Tree) -> Self
    where
        M: Clone,
    {
        StatefulLayer::with_fixed_state_type(self.model.clone(), self.ps.clone(), st, self.fixed_state_type)
    }

    /// The same layer with every `training` leaf of its state set to `true`.
    ///
    /// ```
    /// use lux_core::{tree, Layer, Result, StatefulLayer, Tree};
    /// #[derive(Clone)]
    /// struct Id;
    /// impl Layer for Id {
    ///     fn forward(&self, x: &Tree, _: &Tree, st: &Tree) -> Result<(Tree, Tree)> { Ok((x.clone(), st.clone())) }
    /// }
    /// let s = StatefulLayer::new(Id, Tree::new(), tree! { inner: tree! { training: true } });
    /// let s = s.test_mode();
    /// assert_eq!(s.state().at("inner.training")?, &Tree::Bool(false));
    /// assert_eq!(s.train_mode().state().at("inner.training")?, &Tree::Bool(true));
    /// let s = s.update_state("training", 2i64);
    /// assert_eq!(s.state().at("inner.training")?, &Tree::Int(2));
    /// assert!(s.fixed_state_type());
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn train_mode(&self) -> Self
    where
        M: Clone,
    {
        self.with_state(layer::train_mode(&self.st.borrow()))
    }

    /// The same layer with every `training` leaf of its state set to
    /// `false`; see [`train_mode`](StatefulLayer::train_mode).
    pub fn test_mode(&self) -> Self
    where
        M: Clone,
    {
        self.with_state(layer::test_mode(&self.st.borrow()))
    }

    /// The same layer with every `key` leaf of its state set to `value`;
    /// see [`train_mode`](StatefulLayer::train_mode).
    pub fn update_state(&self, key: &str, value: impl Into<Tree>) -> Self
    where
        M: Clone,
    {
        self.with_state(update_state(&self.st.borrow(), key, value))
    }
}

impl<M: Layer> fmt::Display for StatefulLayer<M> {
    /// `StatefulLayer{true}(<model>)`, the model in its one-line form
    /// ([`Layer::describe`]).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StatefulLayer{{{}}}({})", self.fixed_state_type, self.model.describe())
    }
}

impl<M: Layer> fmt::Debug for StatefulLayer<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// The state with every tensor cut off from any gradient record: state is
/// never differentiated (Lux's `ignore_derivatives`).
fn detached(st: &Tree) -> Tree {
    st.map(|_, t| if t.is_tracked() { t.detach() } else { t.clone() })
}

/// A borrowed tree converts by cloning (tensors share their buffers), so
/// that [`StatefulLayer::call`] and [`apply`](crate::apply) take `&Tree`
/// inputs as they take `&Tensor` ones.
///
/// ```
/// use lux_core::{tree, Tree};
/// let x = tree! { a: 1i64 };
/// let y: Tree = (&x).into();
/// assert_eq!(x, y);
/// ```
impl From<&Tree> for Tree {
    fn from(t: &Tree) -> Tree {
        t.clone()
    }
}
