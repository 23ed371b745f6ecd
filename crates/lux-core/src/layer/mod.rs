//! The [`Layer`] trait (LuxCore's `AbstractLuxLayer`) and the functions
//! around it: [`setup`], [`apply`], [`apply_tensor`], [`stateless_apply`],
//! [`train_mode`], [`test_mode`], [`update_state`], and model printing
//! ([`display_model`]).

mod display;
mod stateful;

pub use display::{ModelDisplay, display_model, julia_float};
pub use stateful::StatefulLayer;

use crate::Tensor;
use crate::error::{LuxError, Result};
use crate::tree::{ROOT, RngState, Tree};
use rand::Rng;
use std::sync::Arc;

/// The seed of the generator the default [`Layer::param_count`] and
/// [`Layer::state_count`] materialise parameters with when a leaf layer
/// declares no [`param_shapes`](Layer::param_shapes) /
/// [`state_shapes`](Layer::state_shapes) (Lux: `Xoshiro(1234)`).
pub const COUNT_SEED: u64 = 1234;

/// The element count of a list of leaf shapes (saturating: a count past
/// `usize::MAX` cannot be materialised anyway).
fn count_shapes(shapes: &[Vec<usize>]) -> usize {
    shapes.iter().fold(0usize, |acc, s| {
        acc.saturating_add(s.iter().try_fold(1usize, |n, &d| n.checked_mul(d)).unwrap_or(usize::MAX))
    })
}

/// How a layer holds other layers; drives the default parameter and state
/// construction, counts, [`stateless_apply`] and printing.
///
/// A wrapper ([`Children::Wrapped`]) has its child's parameters and state,
/// un-nested, and prints its child under the name `layer`:
///
/// ```
/// use lux_core::{apply, display_model, setup, tree, Children, DType, Layer, Result, RngState, Tensor, Tree};
///
/// struct Scale;
/// impl Layer for Scale {
///     fn init_params(&self, _: &mut dyn rand::Rng) -> Result<Tree> {
///         Ok(tree! { w: Tensor::full(&[2], 3.0, DType::F32)? })
///     }
///     fn forward(&self, x: &Tree, ps: &Tree, st: &Tree) -> Result<(Tree, Tree)> {
///         Ok((x.as_tensor()?.mul(ps.tensor("w")?)?.into(), st.clone()))
///     }
/// }
///
/// /// Runs its child and negates the output.
/// struct Negated<L>(L);
/// impl<L: Layer> Layer for Negated<L> {
///     fn forward(&self, x: &Tree, ps: &Tree, st: &Tree) -> Result<(Tree, Tree)> {
///         let (y, st) = self.0.forward(x, ps, st)?; // the child's own ps and st
///         Ok((y.as_tensor()?.neg()?.into(), st))
///     }
///     fn children(&self) -> Children<'_> { Children::Wrapped(&self.0) }
/// }
///
/// let model = Negated(Scale);
/// let (ps, st) = setup(&mut RngState::seed_from_u64(0), &model)?;
/// assert_eq!(ps.tensor("w")?.to_vec::<f32>()?, vec![3.0, 3.0]); // not nested under a name
/// assert_eq!(model.param_count(), 2);
/// let (y, _) = apply(&model, Tensor::from_vec(vec![1.0f32, -2.0], &[2])?, &ps, &st)?;
/// assert_eq!(y.as_tensor()?.to_vec::<f32>()?, vec![-3.0, 6.0]);
/// assert!(display_model(&model).contains("layer = Scale,"));
/// # Ok::<(), lux_core::LuxError>(())
/// ```
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
///
/// **State and containers.** A layer with state returns its new state from
/// `forward`; a container runs each child with [`forward_child`] and
/// threads the children's new states into its own, under the children's
/// names. Here a counter layer counts its calls and a two-layer container
/// passes the state through:
///
/// ```
/// use lux_core::{apply, forward_child, setup, tree, Children, Layer, Result, RngState, Tree};
///
/// /// Identity that counts its calls in its state.
/// struct Counter;
/// impl Layer for Counter {
///     fn init_state(&self, _: &mut dyn rand::Rng) -> Result<Tree> { Ok(tree! { count: 0i64 }) }
///     fn forward(&self, x: &Tree, _: &Tree, st: &Tree) -> Result<(Tree, Tree)> {
///         Ok((x.clone(), tree! { count: st.get("count")?.as_int()? + 1 }))
///     }
/// }
///
/// /// Runs `a` then `b`; its state is `{a: st_a, b: st_b}`.
/// struct Seq2 { a: Counter, b: Counter }
/// impl Layer for Seq2 {
///     fn forward(&self, x: &Tree, ps: &Tree, st: &Tree) -> Result<(Tree, Tree)> {
///         let (h, st_a) = forward_child("a", &self.a, x, ps, st)?;
///         let (y, st_b) = forward_child("b", &self.b, &h, ps, st)?;
///         Ok((y, tree! { a: st_a, b: st_b }))
///     }
///     fn children(&self) -> Children<'_> {
///         Children::Named(vec![("a".into(), &self.a as &dyn Layer), ("b".into(), &self.b)])
///     }
/// }
///
/// let model = Seq2 { a: Counter, b: Counter };
/// let (ps, st) = setup(&mut RngState::seed_from_u64(0), &model)?;
/// assert_eq!(st, tree! { a: tree! { count: 0i64 }, b: tree! { count: 0i64 } });
/// let (_, st) = apply(&model, 1.5, &ps, &st)?;
/// let (y, st) = apply(&model, 1.5, &ps, &st)?;
/// assert_eq!((y, st.at("b.count")?.as_int()?), (Tree::Float(1.5), 2));
/// assert_eq!(model.state_count(), 2);
/// # Ok::<(), lux_core::LuxError>(())
/// ```
///
/// **Randomness in the state.** A layer that draws at run time (dropout,
/// noise) keeps an [`RngState`] leaf in its state, seeded from the `rng`
/// given to [`setup`], and returns it advanced: the same state gives the
/// same draws, and the state's next call gives new ones.
///
/// ```
/// use lux_core::{apply, setup, tree, Layer, Result, RngState, Tensor, Tree};
/// ///
/// /// Adds uniform noise in [0, 1) to its input.
/// struct Noise;
/// impl Layer for Noise {
///     fn init_state(&self, rng: &mut dyn rand::Rng) -> Result<Tree> {
///         Ok(tree! { rng: RngState::from_rng(rng) })
///     }
///     fn forward(&self, x: &Tree, _: &Tree, st: &Tree) -> Result<(Tree, Tree)> {
///         let mut st = st.clone();
///         let rng = st.get_mut("rng")?.as_rng_mut()?;
///         let x = x.as_tensor()?;
///         let noise = Tensor::rand(rng, x.shape(), x.dtype())?;
///         Ok((x.add(&noise)?.into(), st))
///     }
/// }
///
/// let (ps, st) = setup(&mut RngState::seed_from_u64(7), &Noise)?;
/// let x = Tensor::zeros(&[3], lux_core::DType::F64)?;
/// let (y1, st1) = apply(&Noise, &x, &ps, &st)?;
/// let (y1_again, _) = apply(&Noise, &x, &ps, &st)?;
/// let (y2, _) = apply(&Noise, &x, &ps, &st1)?;
/// assert_eq!(y1, y1_again); // same state, same draw
/// assert_ne!(y1, y2); // the returned state has advanced
/// assert!(y1.as_tensor()?.to_vec::<f64>()?.iter().all(|v| (0.0..1.0).contains(v)));
/// assert_eq!(Noise.state_count(), 1); // an rng leaf counts one, as in Lux
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
    ///
    /// Default, in order: the count of [`param_shapes`](Layer::param_shapes)
    /// when the layer declares them (nothing is built); else the sum over
    /// the children for containers and wrappers (as Lux; a container that
    /// adds parameters of its own must declare shapes or override this);
    /// else, for a leaf layer, the count of [`init_params`](Layer::init_params)
    /// materialised with a generator seeded with [`COUNT_SEED`] (0 if that
    /// fails). A leaf layer with large parameters should declare
    /// `param_shapes` (or override this with a formula): printing a model
    /// asks for counts several times.
    fn param_count(&self) -> usize {
        if let Some(shapes) = self.param_shapes() {
            return count_shapes(&shapes);
        }
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
    /// [`state_shapes`](Layer::state_shapes) or
    /// [`init_state`](Layer::init_state).
    fn state_count(&self) -> usize {
        if let Some(shapes) = self.state_shapes() {
            return count_shapes(&shapes);
        }
        match self.children() {
            Children::None => {
                self.init_state(&mut RngState::seed_from_u64(COUNT_SEED)).map_or(0, |st| st.state_count())
            }
            Children::Named(children) => children.iter().map(|(_, c)| c.state_count()).sum(),
            Children::Wrapped(inner) => inner.state_count(),
        }
    }

    /// The shapes of the tensor leaves [`init_params`](Layer::init_params)
    /// builds, in order, declared without building them, so that
    /// [`param_count`](Layer::param_count) (and printing) costs nothing.
    /// When declared, it covers the whole layer, children included.
    /// Default: `None` (not declared).
    ///
    /// ```
    /// use lux_core::{display_model, tree, DType, Layer, Result, Tensor, Tree};
    /// /// A 65536 × 65536 f32 weight: 16 GiB if it were ever built.
    /// struct Huge;
    /// impl Layer for Huge {
    ///     fn init_params(&self, _: &mut dyn rand::Rng) -> Result<Tree> {
    ///         Ok(tree! { weight: Tensor::zeros(&[1 << 16, 1 << 16], DType::F32)? })
    ///     }
    ///     fn param_shapes(&self) -> Option<Vec<Vec<usize>>> { Some(vec![vec![1 << 16, 1 << 16]]) }
    ///     fn forward(&self, x: &Tree, _: &Tree, st: &Tree) -> Result<(Tree, Tree)> { Ok((x.clone(), st.clone())) }
    /// }
    /// assert_eq!(Huge.param_count(), 1 << 32);
    /// assert!(display_model(&Huge).ends_with("# 4_294_967_296 parameters"));
    /// ```
    fn param_shapes(&self) -> Option<Vec<Vec<usize>>> {
        None
    }

    /// The shapes of the leaves [`init_state`](Layer::init_state) builds,
    /// as for [`param_shapes`](Layer::param_shapes); a non-tensor leaf (a
    /// `training` flag, a counter, an rng) is the shape `[]`: one element,
    /// by Lux's `statelength` rule. Default: `None` (not declared).
    ///
    /// ```
    /// use lux_core::{setup, tree, DType, Layer, Result, RngState, Tensor, Tree};
    /// /// Running mean of 1024 features and a `training` flag.
    /// struct Norm;
    /// impl Layer for Norm {
    ///     fn init_state(&self, _: &mut dyn rand::Rng) -> Result<Tree> {
    ///         Ok(tree! { mean: Tensor::zeros(&[1024], DType::F32)?, training: true })
    ///     }
    ///     fn state_shapes(&self) -> Option<Vec<Vec<usize>>> { Some(vec![vec![1024], vec![]]) }
    ///     fn forward(&self, x: &Tree, _: &Tree, st: &Tree) -> Result<(Tree, Tree)> { Ok((x.clone(), st.clone())) }
    /// }
    /// assert_eq!(Norm.state_count(), 1025);
    /// assert_eq!(setup(&mut RngState::seed_from_u64(0), &Norm)?.1.state_count(), 1025);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    fn state_shapes(&self) -> Option<Vec<Vec<usize>>> {
        None
    }

    /// Whether a call returns a state of the same structure, leaf kinds,
    /// dtypes and shapes as the one it was given (LuxCore's
    /// `preserves_state_type`). Default: `true` for a leaf layer; for a
    /// container or wrapper, whether all its children do. A layer whose
    /// state changes type (e.g. a carry that starts empty and becomes a
    /// tensor) returns `false`; `StatefulLayer` and `check_layer` read it.
    ///
    /// ```
    /// use lux_core::{Children, Layer, Result, Tree};
    /// struct Fixed;
    /// impl Layer for Fixed {
    ///     fn forward(&self, x: &Tree, _: &Tree, st: &Tree) -> Result<(Tree, Tree)> { Ok((x.clone(), st.clone())) }
    /// }
    /// struct Growing;
    /// impl Layer for Growing {
    ///     fn forward(&self, x: &Tree, _: &Tree, _: &Tree) -> Result<(Tree, Tree)> { Ok((x.clone(), x.clone())) }
    ///     fn preserves_state_type(&self) -> bool { false }
    /// }
    /// struct Pair(Fixed, Growing);
    /// impl Layer for Pair {
    ///     fn forward(&self, x: &Tree, _: &Tree, st: &Tree) -> Result<(Tree, Tree)> { Ok((x.clone(), st.clone())) }
    ///     fn children(&self) -> Children<'_> {
    ///         Children::Named(vec![("a".into(), &self.0 as &dyn Layer), ("b".into(), &self.1)])
    ///     }
    /// }
    /// assert!(Fixed.preserves_state_type());
    /// assert!(!Pair(Fixed, Growing).preserves_state_type());
    /// ```
    fn preserves_state_type(&self) -> bool {
        match self.children() {
            Children::None => true,
            Children::Named(children) => children.iter().all(|(_, c)| c.preserves_state_type()),
            Children::Wrapped(inner) => inner.preserves_state_type(),
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

    /// The children shown by [`display_model`] when they differ from the
    /// structural [`children`](Layer::children) (Lux's
    /// `PrettyPrinting.printable_children`), e.g. a container that prints
    /// its connection function beside its layers although the function
    /// holds no parameters. Default: `None` (print the children).
    ///
    /// ```
    /// use lux_core::{display_model, Children, Layer, Result, Tree};
    /// struct Leaf;
    /// impl Layer for Leaf {
    ///     fn forward(&self, x: &Tree, _: &Tree, st: &Tree) -> Result<(Tree, Tree)> { Ok((x.clone(), st.clone())) }
    /// }
    /// struct Wrap(Leaf);
    /// impl Layer for Wrap {
    ///     fn forward(&self, x: &Tree, ps: &Tree, st: &Tree) -> Result<(Tree, Tree)> { self.0.forward(x, ps, st) }
    ///     fn children(&self) -> Children<'_> { Children::Wrapped(&self.0) }
    ///     fn printable_children(&self) -> Option<Vec<(String, &dyn Layer)>> {
    ///         Some(vec![("model".into(), &self.0 as &dyn Layer)])
    ///     }
    /// }
    /// assert!(display_model(&Wrap(Leaf)).contains("    model = Leaf,"));
    /// ```
    fn printable_children(&self) -> Option<Vec<(String, &dyn Layer)>> {
        None
    }

    /// What [`display_model`] prints in place of a container's closing `)`
    /// (lines after the first are indented with the container). Lux's
    /// `@compact` prints `) do x`, its body and `end` there. Such a layer's
    /// children are listed one by one, never grouped into ranges (as Lux's
    /// `@compact` prints them). Default: `None` (a plain `)`).
    ///
    /// ```
    /// use lux_core::{display_model, Children, Layer, Result, Tree};
    /// struct Leaf;
    /// impl Layer for Leaf {
    ///     fn forward(&self, x: &Tree, _: &Tree, st: &Tree) -> Result<(Tree, Tree)> { Ok((x.clone(), st.clone())) }
    /// }
    /// struct Twice(Leaf);
    /// impl Layer for Twice {
    ///     fn forward(&self, x: &Tree, ps: &Tree, st: &Tree) -> Result<(Tree, Tree)> { self.0.forward(x, ps, st) }
    ///     fn children(&self) -> Children<'_> { Children::Named(vec![("f".into(), &self.0 as &dyn Layer)]) }
    ///     fn display_close(&self) -> Option<String> { Some(") do x\n    f(f(x))\nend".into()) }
    /// }
    /// assert_eq!(display_model(&Twice(Leaf)), "Twice(\n    f = Leaf,\n) do x\n    f(f(x))\nend       # Total: 0 parameters,\n          #        plus 0 states.");
    /// ```
    fn display_close(&self) -> Option<String> {
        None
    }
}

/// `a::b::Name<T, U>` → `Name`.
fn short_type_name(full: &str) -> &str {
    let base = full.split('<').next().unwrap_or(full);
    base.rsplit("::").next().unwrap_or(base)
}

/// Smart pointers and references to a layer are layers (`Box<dyn Layer>`
/// for models built at run time; `&L` so that a `StatefulLayer` can run a
/// model it does not own, as `compact!` bodies do with their sublayers).
macro_rules! forward_layer_impl {
    ($($ptr:ty),*) => {$(
        impl<L: Layer + ?Sized> Layer for $ptr {
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
            fn param_shapes(&self) -> Option<Vec<Vec<usize>>> {
                (**self).param_shapes()
            }
            fn state_shapes(&self) -> Option<Vec<Vec<usize>>> {
                (**self).state_shapes()
            }
            fn preserves_state_type(&self) -> bool {
                (**self).preserves_state_type()
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
            fn printable_children(&self) -> Option<Vec<(String, &dyn Layer)>> {
                (**self).printable_children()
            }
            fn display_close(&self) -> Option<String> {
                (**self).display_close()
            }
        }
    )*};
}
forward_layer_impl!(Box<L>, Arc<L>, &L);

// ----- the free functions ---------------------------------------------------------

/// Lux's `setup`: the initial `(ps, st)` of `layer`. All parameters are
/// drawn from `rng` first, then all states, so the same seed gives the
/// same trees.
///
/// ```
/// use lux_core::{setup, tree, DType, Layer, Result, RngState, Tensor, Tree};
/// struct Noisy;
/// impl Layer for Noisy {
///     fn init_params(&self, rng: &mut dyn rand::Rng) -> Result<Tree> {
///         Ok(tree! { w: Tensor::randn(rng, &[3], DType::F32)? })
///     }
///     fn init_state(&self, _: &mut dyn rand::Rng) -> Result<Tree> { Ok(tree! { training: true }) }
///     fn forward(&self, x: &Tree, _: &Tree, st: &Tree) -> Result<(Tree, Tree)> { Ok((x.clone(), st.clone())) }
/// }
/// let (ps, st) = setup(&mut RngState::seed_from_u64(42), &Noisy)?;
/// assert_eq!(ps.tensor("w")?.shape(), &[3]);
/// assert_eq!(st, tree! { training: true });
/// // Same seed, same parameters.
/// assert_eq!(setup(&mut RngState::seed_from_u64(42), &Noisy)?.0, ps);
/// assert_ne!(setup(&mut RngState::seed_from_u64(43), &Noisy)?.0, ps);
/// # Ok::<(), lux_core::LuxError>(())
/// ```
///
/// # Errors
/// As [`Layer::init_params`] and [`Layer::init_state`].
pub fn setup<L: Layer + ?Sized>(rng: &mut dyn Rng, layer: &L) -> Result<(Tree, Tree)> {
    let ps = layer.init_params(rng)?;
    let st = layer.init_state(rng)?;
    Ok((ps, st))
}

/// Lux's `apply`: runs `layer` on `x` (a [`Tree`], or anything that converts
/// into one, such as a [`Tensor`] or a `&Tensor`) and returns `(y, st')`.
///
/// ```
/// use lux_core::{apply, tree, DType, Layer, Result, Tensor, Tree};
/// /// y = x + b, counting calls in the state.
/// struct Shift;
/// impl Layer for Shift {
///     fn forward(&self, x: &Tree, ps: &Tree, st: &Tree) -> Result<(Tree, Tree)> {
///         let y = x.as_tensor()?.add(ps.tensor("b")?)?;
///         Ok((y.into(), tree! { calls: st.get("calls")?.as_int()? + 1 }))
///     }
/// }
/// let (ps, st) = (tree! { b: Tensor::full(&[2], 0.5, DType::F32)? }, tree! { calls: 0i64 });
/// let x = Tensor::from_vec(vec![1.0f32, 2.0], &[2])?;
/// let (y, st) = apply(&Shift, &x, &ps, &st)?;
/// assert_eq!(y.as_tensor()?.to_vec::<f32>()?, vec![1.5, 2.5]);
/// assert_eq!(st.get("calls")?.as_int()?, 1);
/// # Ok::<(), lux_core::LuxError>(())
/// ```
///
/// # Errors
/// As [`Layer::forward`].
pub fn apply<L: Layer + ?Sized>(layer: &L, x: impl Into<Tree>, ps: &Tree, st: &Tree) -> Result<(Tree, Tree)> {
    checked_forward(layer, ROOT, &x.into(), ps, st)
}

/// `layer.forward` followed by the layer stability check
/// ([`stability`](crate::stability)); `path` names the layer in the model.
fn checked_forward<L: Layer + ?Sized>(layer: &L, path: &str, x: &Tree, ps: &Tree, st: &Tree) -> Result<(Tree, Tree)> {
    let (y, st_new) = layer.forward(x, ps, st)?;
    crate::stability::check_layer_call(layer, path, x, ps, st, &y, &st_new)?;
    Ok((y, st_new))
}

/// [`apply`] for a model whose output is a single tensor: `(y, st')` with
/// `y` already unwrapped, so tensor-in/tensor-out code needs no
/// `as_tensor()?`.
///
/// ```
/// use lux_core::{apply_tensor, Layer, Result, Tensor, Tree};
/// struct Double;
/// impl Layer for Double {
///     fn forward(&self, x: &Tree, _: &Tree, st: &Tree) -> Result<(Tree, Tree)> {
///         Ok((x.as_tensor()?.mul_scalar(2.0)?.into(), st.clone()))
///     }
/// }
/// let x = Tensor::from_vec(vec![1.0f32, -3.0], &[2])?;
/// let (y, _) = apply_tensor(&Double, &x, &Tree::new(), &Tree::new())?;
/// assert_eq!(y.to_vec::<f32>()?, vec![2.0, -6.0]);
///
/// /// Returns a pair: not a single tensor.
/// struct Split;
/// impl Layer for Split {
///     fn forward(&self, x: &Tree, _: &Tree, st: &Tree) -> Result<(Tree, Tree)> {
///         Ok((Tree::seq([x.clone(), x.clone()]), st.clone()))
///     }
/// }
/// let err = apply_tensor(&Split, &x, &Tree::new(), &Tree::new()).unwrap_err();
/// assert_eq!(err.to_string(), "structure mismatch at <root>: Split: apply_tensor expects a tensor output, got a sequence");
/// # Ok::<(), lux_core::LuxError>(())
/// ```
///
/// # Errors
/// As [`Layer::forward`]; [`LuxError::Structure`] naming the layer if its
/// output is not a tensor.
pub fn apply_tensor<L: Layer + ?Sized>(layer: &L, x: impl Into<Tree>, ps: &Tree, st: &Tree) -> Result<(Tensor, Tree)> {
    let (y, st) = checked_forward(layer, ROOT, &x.into(), ps, st)?;
    match y {
        Tree::Tensor(t) => Ok((t, st)),
        other => Err(LuxError::Structure {
            path: ROOT.into(),
            msg: format!("{}: apply_tensor expects a tensor output, got a {}", layer.describe(), other.kind_name()),
        }),
    }
}

/// Lux's `stateless_apply`: runs a layer that keeps no state, with the
/// empty state [`empty_state`] builds, and returns only the output.
///
/// ```
/// use lux_core::{stateless_apply, Layer, Result, Tensor, Tree};
/// struct Relu;
/// impl Layer for Relu {
///     fn forward(&self, x: &Tree, _: &Tree, st: &Tree) -> Result<(Tree, Tree)> {
///         Ok((x.as_tensor()?.maximum(&x.as_tensor()?.zeros_like())?.into(), st.clone()))
///     }
/// }
/// let y = stateless_apply(&Relu, Tensor::from_vec(vec![-1.0f32, 2.0], &[2])?, &Tree::new())?;
/// assert_eq!(y.as_tensor()?.to_vec::<f32>()?, vec![0.0, 2.0]);
/// # Ok::<(), lux_core::LuxError>(())
/// ```
///
/// # Errors
/// As [`Layer::forward`]; a layer that needs state fails on the missing keys.
pub fn stateless_apply<L: Layer + ?Sized>(layer: &L, x: impl Into<Tree>, ps: &Tree) -> Result<Tree> {
    Ok(layer.forward(&x.into(), ps, &empty_state(layer))?.0)
}

/// Lux's `get_empty_state`: empty maps mirroring the container/wrapper
/// structure (a container gives a map of its children's empty states, a
/// wrapper its child's, a leaf layer an empty map).
///
/// ```
/// use lux_core::{empty_state, tree, Children, Layer, Result, Tree};
/// struct Leaf;
/// impl Layer for Leaf {
///     fn forward(&self, x: &Tree, _: &Tree, st: &Tree) -> Result<(Tree, Tree)> { Ok((x.clone(), st.clone())) }
/// }
/// struct Both(Leaf, Leaf);
/// impl Layer for Both {
///     fn forward(&self, x: &Tree, _: &Tree, st: &Tree) -> Result<(Tree, Tree)> { Ok((x.clone(), st.clone())) }
///     fn children(&self) -> Children<'_> {
///         Children::Named(vec![("left".into(), &self.0 as &dyn Layer), ("right".into(), &self.1)])
///     }
/// }
/// assert_eq!(empty_state(&Leaf), Tree::new());
/// assert_eq!(empty_state(&Both(Leaf, Leaf)), tree! { left: Tree::new(), right: Tree::new() });
/// ```
pub fn empty_state<L: Layer + ?Sized>(layer: &L) -> Tree {
    match layer.children() {
        Children::None => Tree::new(),
        Children::Named(children) => Tree::Map(children.into_iter().map(|(name, c)| (name, empty_state(c))).collect()),
        Children::Wrapped(inner) => empty_state(inner),
    }
}

/// Lux's `update_state(st, key, value)`: every `key` leaf, at any depth,
/// set to `value` (see [`Tree::replace_key`]).
///
/// ```
/// use lux_core::{tree, update_state};
/// let st = tree! { layer_1: tree! { frozen: false, count: 3i64 }, layer_2: tree! { frozen: false } };
/// let st = update_state(&st, "frozen", true);
/// assert_eq!(st, tree! { layer_1: tree! { frozen: true, count: 3i64 }, layer_2: tree! { frozen: true } });
/// ```
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

/// Lux's `testmode`: every `training` leaf, at any depth, set to `false`
/// (dropout passes its input through, batch norm uses its running
/// statistics).
///
/// ```
/// use lux_core::{test_mode, tree, Tree};
/// let st = tree! { dropout: tree! { training: true }, norm: tree! { training: true, momentum: 0.1 } };
/// let st = test_mode(&st);
/// assert_eq!(st.at("dropout.training")?, &Tree::Bool(false));
/// assert_eq!(st.at("norm.training")?, &Tree::Bool(false));
/// assert_eq!(st.at("norm.momentum")?, &Tree::Float(0.1));
/// # Ok::<(), lux_core::LuxError>(())
/// ```
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
/// let st = tree! { inner: tree! { count: 1i64 } };
/// let ps = tree! { inner: tree! { w: 0.5 } };
/// let (y, st_inner) = forward_child("inner", &Id, &Tree::Float(2.0), &ps, &st)?;
/// assert_eq!((y, st_inner), (Tree::Float(2.0), tree! { count: 1i64 }));
/// // An error inside the child names where it happened.
/// let err = forward_child("inner", &Id, &Tree::None, &tree! { inner: Tree::new() }, &st).unwrap_err();
/// assert_eq!(err.to_string(), "missing key `w` at inner");
/// # Ok::<(), lux_core::LuxError>(())
/// ```
///
/// # Errors
/// [`LuxError::MissingKey`] if `ps` or `st` has no `name`; the child's
/// error, with its path prefixed by `name`.
pub fn forward_child(name: &str, child: &dyn Layer, x: &Tree, ps: &Tree, st: &Tree) -> Result<(Tree, Tree)> {
    checked_forward(child, ROOT, x, ps.get(name)?, st.get(name)?).map_err(|e| nest_error(e, name))
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
        LuxError::Unstable { layer, path: p, msg } => LuxError::Unstable { layer, path: path(p), msg },
        other => other,
    }
}
