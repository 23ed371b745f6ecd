//! The [`Layer`] trait (LuxCore's `AbstractLuxLayer`) and the functions
//! around it: [`setup`], [`apply`], [`stateless_apply`], [`train_mode`],
//! [`test_mode`], [`update_state`], and model printing ([`display_model`]).

mod display;

pub use display::{ModelDisplay, display_model};

use crate::error::{LuxError, Result};
use crate::tree::{ROOT, RngState, Tree};
use rand::Rng;
use std::sync::Arc;

/// The seed of the generator the default [`Layer::param_count`] and
/// [`Layer::state_count`] materialise parameters with (Lux: `Xoshiro(1234)`).
pub const COUNT_SEED: u64 = 1234;

/// How a layer holds other layers; drives the default parameter and state
/// construction, counts, [`stateless_apply`] and printing.
#[derive(Clone)]
pub enum Children<'a> {
    /// A leaf layer: it holds no layers.
    None,
    /// A container (Lux's `AbstractLuxContainerLayer`): its parameters and
    /// states are maps nesting each child's under the child's name, **even
    /// for a single child**.
    Named(Vec<(String, &'a dyn Layer)>),
    /// A wrapper (Lux's `AbstractLuxWrapperLayer`): its parameters and
    /// states are the wrapped layer's, un-nested.
    Wrapped(&'a dyn Layer),
}

/// A neural-network layer: an immutable description whose trainable
/// parameters `ps` and non-trainable state `st` live outside it, in [`Tree`]s
/// made by [`setup`] and passed to every call (LuxCore's `AbstractLuxLayer`).
///
/// Only [`forward`](Layer::forward) is required. A leaf layer with
/// parameters or state overrides [`init_params`](Layer::init_params) /
/// [`init_state`](Layer::init_state); a layer holding layers returns them
/// from [`children`](Layer::children) and gets both for free.
///
/// **Contract** (what LuxCore tests of every layer):
/// `layer.param_count() == setup(..).0.param_count()` and
/// `layer.state_count() == setup(..).1.state_count()`; `forward` returns a
/// state of the same structure as the one it was given.
///
/// Rust notes: the generator is `&mut dyn Rng` so that the trait stays
/// object-safe (containers hold `&dyn Layer`/`Box<dyn Layer>`); inputs and
/// outputs are [`Tree`]s (a bare tensor converts with `.into()`), so layers
/// taking several inputs or returning tuples need no extra machinery.
///
/// ```
/// use lux_core::{apply, setup, tree, DType, Layer, Result, Tensor, Tree};
///
/// /// y = x ⊙ w, with `w` initialised to ones.
/// struct Scale { dims: usize }
///
/// impl Layer for Scale {
///     fn init_params(&self, _rng: &mut dyn rand::Rng) -> Result<Tree> {
///         Ok(tree! { weight: Tensor::ones(&[self.dims], DType::F32)? })
///     }
///     fn forward(&self, x: &Tree, ps: &Tree, st: &Tree) -> Result<(Tree, Tree)> {
///         let y = x.as_tensor()?.mul(ps.tensor("weight")?)?;
///         Ok((y.into(), st.clone()))
///     }
///     fn describe(&self) -> String { format!("Scale({})", self.dims) }
/// }
///
/// let model = Scale { dims: 3 };
/// let mut rng = lux_core::RngState::seed_from_u64(0);
/// let (ps, st) = setup(&mut rng, &model)?;
/// assert_eq!(model.param_count(), 3);
/// assert_eq!(st, Tree::new());
/// let x = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3])?;
/// let (y, _st) = apply(&model, x, &ps, &st)?;
/// assert_eq!(y.as_tensor()?.to_vec::<f32>()?, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
/// # Ok::<(), lux_core::LuxError>(())
/// ```
pub trait Layer: Send + Sync {
    /// The initial trainable parameters. Default: a map of the children's
    /// (by name) for a container, the wrapped layer's for a wrapper, an
    /// empty map for a leaf layer.
    ///
    /// # Errors
    /// Whatever building the parameters can fail with.
    fn init_params(&self, rng: &mut dyn Rng) -> Result<Tree> {
        match self.children() {
            Children::None => Ok(Tree::new()),
            Children::Named(children) => children
                .into_iter()
                .map(|(name, c)| Ok((name, c.init_params(rng)?)))
                .collect::<Result<_>>()
                .map(Tree::Map),
            Children::Wrapped(inner) => inner.init_params(rng),
        }
    }

    /// The initial state (running statistics, `training` flags, RNGs, …).
    /// Default: as [`init_params`](Layer::init_params).
    ///
    /// # Errors
    /// Whatever building the state can fail with.
    fn init_state(&self, rng: &mut dyn Rng) -> Result<Tree> {
        match self.children() {
            Children::None => Ok(Tree::new()),
            Children::Named(children) => children
                .into_iter()
                .map(|(name, c)| Ok((name, c.init_state(rng)?)))
                .collect::<Result<_>>()
                .map(Tree::Map),
            Children::Wrapped(inner) => inner.init_state(rng),
        }
    }

    /// Runs the layer: `(y, st')` from input `x`, parameters `ps` and state `st`.
    ///
    /// # Errors
    /// Bad input shapes or dtypes, or `ps`/`st` not shaped as this layer
    /// made them; messages should name the layer (its
    /// [`describe`](Layer::describe)) and the shapes involved.
    fn forward(&self, x: &Tree, ps: &Tree, st: &Tree) -> Result<(Tree, Tree)>;

    /// The number of parameter elements (Lux's `parameterlength`).
    /// Default: the sum over the children for containers and wrappers (as
    /// Lux; a container that adds parameters of its own must override
    /// this); for a leaf layer, the count of
    /// [`init_params`](Layer::init_params) materialised with a generator
    /// seeded with [`COUNT_SEED`] (0 if that fails). Override it with a
    /// formula for large layers.
    fn param_count(&self) -> usize {
        match self.children() {
            Children::None => {
                self.init_params(&mut RngState::seed_from_u64(COUNT_SEED)).map_or(0, |ps| ps.param_count())
            }
            Children::Named(children) => children.iter().map(|(_, c)| c.param_count()).sum(),
            Children::Wrapped(inner) => inner.param_count(),
        }
    }

    /// The state size by Lux's `statelength` rule ([`Tree::state_count`]).
    /// Default: as [`param_count`](Layer::param_count), from
    /// [`init_state`](Layer::init_state).
    fn state_count(&self) -> usize {
        match self.children() {
            Children::None => {
                self.init_state(&mut RngState::seed_from_u64(COUNT_SEED)).map_or(0, |st| st.state_count())
            }
            Children::Named(children) => children.iter().map(|(_, c)| c.state_count()).sum(),
            Children::Wrapped(inner) => inner.state_count(),
        }
    }

    /// The name shown when printing a container (`Chain(` …): default, the
    /// type's name without module path or generic arguments.
    fn display_name(&self) -> String {
        short_type_name(std::any::type_name::<Self>()).to_string()
    }

    /// The one-line form used when printing, e.g. `Dense(2 => 16, relu)`.
    /// Default: [`display_name`](Layer::display_name).
    fn describe(&self) -> String {
        self.display_name()
    }

    /// The layers this layer holds. Default: none.
    fn children(&self) -> Children<'_> {
        Children::None
    }
}

/// `a::b::Name<T, U>` → `Name`.
fn short_type_name(full: &str) -> &str {
    let base = full.split('<').next().unwrap_or(full);
    base.rsplit("::").next().unwrap_or(base)
}

macro_rules! forward_layer_impl {
    ($($ptr:ident),*) => {$(
        impl<L: Layer + ?Sized> Layer for $ptr<L> {
            fn init_params(&self, rng: &mut dyn Rng) -> Result<Tree> {
                (**self).init_params(rng)
            }
            fn init_state(&self, rng: &mut dyn Rng) -> Result<Tree> {
                (**self).init_state(rng)
            }
            fn forward(&self, x: &Tree, ps: &Tree, st: &Tree) -> Result<(Tree, Tree)> {
                (**self).forward(x, ps, st)
            }
            fn param_count(&self) -> usize {
                (**self).param_count()
            }
            fn state_count(&self) -> usize {
                (**self).state_count()
            }
            fn display_name(&self) -> String {
                (**self).display_name()
            }
            fn describe(&self) -> String {
                (**self).describe()
            }
            fn children(&self) -> Children<'_> {
                (**self).children()
            }
        }
    )*};
}
forward_layer_impl!(Box, Arc);

// ----- the free functions ---------------------------------------------------------

/// Lux's `setup`: the initial `(ps, st)` of `layer`. All parameters are
/// drawn from `rng` first, then all states.
///
/// # Errors
/// As [`Layer::init_params`] and [`Layer::init_state`].
pub fn setup<L: Layer + ?Sized>(rng: &mut dyn Rng, layer: &L) -> Result<(Tree, Tree)> {
    let ps = layer.init_params(rng)?;
    let st = layer.init_state(rng)?;
    Ok((ps, st))
}

/// Lux's `apply`: runs `layer` on `x` (a [`Tree`], or anything that converts
/// into one, such as a [`Tensor`](crate::Tensor)) and returns `(y, st')`.
///
/// # Errors
/// As [`Layer::forward`].
pub fn apply<L: Layer + ?Sized>(layer: &L, x: impl Into<Tree>, ps: &Tree, st: &Tree) -> Result<(Tree, Tree)> {
    layer.forward(&x.into(), ps, st)
}

/// Lux's `stateless_apply`: runs a layer that keeps no state, with the
/// empty state [`empty_state`] builds, and returns only the output.
///
/// # Errors
/// As [`Layer::forward`]; a layer that needs state fails on the missing keys.
pub fn stateless_apply<L: Layer + ?Sized>(layer: &L, x: impl Into<Tree>, ps: &Tree) -> Result<Tree> {
    Ok(layer.forward(&x.into(), ps, &empty_state(layer))?.0)
}

/// Lux's `get_empty_state`: empty maps mirroring the container/wrapper
/// structure (a container gives a map of its children's empty states, a
/// wrapper its child's, a leaf layer an empty map).
pub fn empty_state<L: Layer + ?Sized>(layer: &L) -> Tree {
    match layer.children() {
        Children::None => Tree::new(),
        Children::Named(children) => Tree::Map(children.into_iter().map(|(name, c)| (name, empty_state(c))).collect()),
        Children::Wrapped(inner) => empty_state(inner),
    }
}

/// Lux's `update_state(st, key, value)`: see [`Tree::replace_key`].
pub fn update_state(st: &Tree, key: &str, value: impl Into<Tree>) -> Tree {
    st.replace_key(key, value.into())
}

/// Lux's `trainmode`: every `training` leaf, at any depth, set to `true`.
///
/// ```
/// use lux_core::{test_mode, train_mode, tree, Tree};
/// let st = tree! { layer_1: tree! { training: true, count: 1i64 }, layer_2: Tree::new() };
/// let st = test_mode(&st);
/// assert_eq!(st.at("layer_1.training")?, &Tree::Bool(false));
/// assert_eq!(train_mode(&st).at("layer_1.training")?, &Tree::Bool(true));
/// # Ok::<(), lux_core::LuxError>(())
/// ```
pub fn train_mode(st: &Tree) -> Tree {
    st.replace_key("training", Tree::Bool(true))
}

/// Lux's `testmode`: every `training` leaf, at any depth, set to `false`.
pub fn test_mode(st: &Tree) -> Tree {
    st.replace_key("training", Tree::Bool(false))
}

/// Runs the child `name` of a container: looks up `ps[name]` and
/// `st[name]`, calls `child.forward`, and puts `name` into the path of any
/// error, so that messages name where in the model it happened
/// (`Dense(784 => 256) at layer_1: …`, `missing key `bias` at layer_2`).
///
/// ```
/// use lux_core::{forward_child, tree, Layer, Result, Tree};
/// struct Id;
/// impl Layer for Id {
///     fn forward(&self, x: &Tree, ps: &Tree, st: &Tree) -> Result<(Tree, Tree)> {
///         ps.get("w")?; // needs a parameter `w`
///         Ok((x.clone(), st.clone()))
///     }
/// }
/// let (ps, st) = (tree! { inner: Tree::new() }, tree! { inner: Tree::new() });
/// let err = forward_child("inner", &Id, &Tree::None, &ps, &st).unwrap_err();
/// assert_eq!(err.to_string(), "missing key `w` at inner");
/// ```
///
/// # Errors
/// [`LuxError::MissingKey`] if `ps` or `st` has no `name`; the child's
/// error, with its path prefixed by `name`.
pub fn forward_child(name: &str, child: &dyn Layer, x: &Tree, ps: &Tree, st: &Tree) -> Result<(Tree, Tree)> {
    child.forward(x, ps.get(name)?, st.get(name)?).map_err(|e| nest_error(e, name))
}

/// Prefixes the path inside `err` with `name` (the path of a child).
fn nest_error(err: LuxError, name: &str) -> LuxError {
    let path = |p: String| if p == ROOT || p.is_empty() { name.to_string() } else { format!("{name}.{p}") };
    let op = |op: String| match op.rfind(" at ") {
        Some(i) => format!("{} at {name}.{}", &op[..i], &op[i + 4..]),
        None => format!("{op} at {name}"),
    };
    match err {
        LuxError::MissingKey { key, path: p } => LuxError::MissingKey { key, path: path(p) },
        LuxError::Structure { path: p, msg } => LuxError::Structure { path: path(p), msg },
        LuxError::Shape { op: o, msg } => LuxError::Shape { op: op(o), msg },
        LuxError::DType { op: o, expected, got } => LuxError::DType { op: op(o), expected, got },
        LuxError::UnsupportedDType { op: o, dtype } => LuxError::UnsupportedDType { op: op(o), dtype },
        LuxError::InvalidArgument { op: o, msg } => LuxError::InvalidArgument { op: op(o), msg },
        other => other,
    }
}
