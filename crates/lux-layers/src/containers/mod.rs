//! Container layers (Lux's `src/layers/containers.jl`): [`Chain`],
//! [`SkipConnection`], [`Parallel`], [`BranchLayer`], [`PairwiseFusion`],
//! [`RepeatedLayer`], and the connection functions they combine outputs
//! with ([`Func`], [`Connection`]).
//!
//! **Parameter naming, as in Lux.** A container's parameters and states are
//! maps with one entry per child: `layer_1`, `layer_2`, … by default, or the
//! names given with `with_names` / [`Chain::named`]. A container whose
//! connection is itself a layer nests the children one level deeper, as
//! Lux does: `{layers: {layer_1, …}, connection: …}` (`fusion` for
//! [`BranchLayer`]). [`SkipConnection`] with a function connection and
//! [`RepeatedLayer`] are wrappers: they have exactly their child's
//! parameters and state, un-nested.
//!
//! **Holding layers.** A container holds a [`LayerList`]: a tuple of layers
//! (`(a, b, c)`, typed, no boxing), an array `[L; N]`, or a `Vec` — e.g.
//! `Vec<Box<dyn Layer>>` for models built at run time. Any [`Layer`] fits,
//! a user's own included, and so do plain activations
//! ([`lux_ops::Activation`]).
//!
//! **Errors.** A child's error names where it happened: `Dense(784 => 256)
//! at layer_2: …`, `… at layer_2.layer_1` for nested containers (through
//! [`lux_core::forward_child`]); `ps`/`st` trees without a child's key give
//! `missing key `layer_2` at …`. Paths are only built when an error happens.
//!
//! **Departure** (documented behaviour kept over Lux's code): Lux's
//! `RepeatedLayer` without input injection feeds the *original* input to
//! every repetition in its generated code, while its documentation says
//! `res = model(res)`; here each repetition takes the previous output, as
//! documented.

use lux_core::{Children, Layer, LuxError, Result, Tensor, Tree, forward_child};
use std::borrow::Cow;
use std::sync::Arc;

mod chain;
mod connection;
mod pairwise;
mod parallel;
mod repeated;
mod skip;

pub use chain::*;
pub use connection::*;
pub use pairwise::*;
pub use parallel::*;
pub use repeated::*;
pub use skip::*;

// ----- holding layers ----------------------------------------------------------------

/// An ordered list of layers a container holds: tuples of up to 12 layers
/// (each its own type, no boxing), arrays `[L; N]` and `Vec<L>` (e.g.
/// `Vec<Box<dyn Layer>>`).
///
/// ```
/// use lux_core::Layer;
/// use lux_layers::{LayerList, NoOpLayer};
/// use lux_ops::Activation;
/// let typed = (NoOpLayer, Activation::Relu);
/// assert_eq!(typed.len(), 2);
/// assert_eq!(typed.layer(1).unwrap().describe(), "WrappedFunction(relu)");
/// let boxed: Vec<Box<dyn Layer>> = vec![Box::new(NoOpLayer), Box::new(Activation::Tanh)];
/// assert_eq!(boxed.layer(1).unwrap().describe(), "WrappedFunction(tanh)");
/// assert!(boxed.layer(2).is_none());
/// ```
pub trait LayerList: Send + Sync {
    /// The number of layers.
    fn len(&self) -> usize;

    /// Layer `i` (0-based), `None` past the end.
    fn layer(&self, i: usize) -> Option<&dyn Layer>;

    /// Whether there are no layers.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<L: Layer> LayerList for Vec<L> {
    fn len(&self) -> usize {
        Vec::len(self)
    }
    fn layer(&self, i: usize) -> Option<&dyn Layer> {
        self.get(i).map(|l| l as &dyn Layer)
    }
}

impl<L: Layer, const N: usize> LayerList for [L; N] {
    fn len(&self) -> usize {
        N
    }
    fn layer(&self, i: usize) -> Option<&dyn Layer> {
        self.get(i).map(|l| l as &dyn Layer)
    }
}

macro_rules! tuple_layer_list {
    ($n:expr; $($t:ident $i:tt),+) => {
        impl<$($t: Layer),+> LayerList for ($($t,)+) {
            fn len(&self) -> usize {
                $n
            }
            fn layer(&self, i: usize) -> Option<&dyn Layer> {
                match i {
                    $($i => Some(&self.$i as &dyn Layer),)+
                    _ => None,
                }
            }
        }
    };
}
tuple_layer_list!(1; A 0);
tuple_layer_list!(2; A 0, B 1);
tuple_layer_list!(3; A 0, B 1, C 2);
tuple_layer_list!(4; A 0, B 1, C 2, D 3);
tuple_layer_list!(5; A 0, B 1, C 2, D 3, E 4);
tuple_layer_list!(6; A 0, B 1, C 2, D 3, E 4, F 5);
tuple_layer_list!(7; A 0, B 1, C 2, D 3, E 4, F 5, G 6);
tuple_layer_list!(8; A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7);
tuple_layer_list!(9; A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8);
tuple_layer_list!(10; A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9);
tuple_layer_list!(11; A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9, K 10);
tuple_layer_list!(12; A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9, K 10, L 11);

/// Lux's default names `layer_1 … layer_n`.
fn default_names(n: usize) -> Vec<String> {
    (1..=n).map(|i| format!("layer_{i}")).collect()
}

/// Checks user-given names: one per layer, non-empty, unique, without `.`
/// (the path separator of [`Tree::at`]).
fn check_names(op: &str, names: &[String], n: usize) -> Result<()> {
    if names.len() != n {
        return Err(LuxError::invalid_argument(op, format!("{} names given for {n} layers", names.len())));
    }
    for (i, name) in names.iter().enumerate() {
        if name.is_empty() || name.contains('.') {
            return Err(LuxError::invalid_argument(op, format!("layer name {name:?} is empty or contains `.`")));
        }
        if names[..i].contains(name) {
            return Err(LuxError::invalid_argument(op, format!("layer name {name:?} is given twice")));
        }
    }
    Ok(())
}

/// Adds `name` to the path of an error raised outside
/// [`forward_child`] (built only when an error happens).
fn nest(name: &str, err: LuxError) -> LuxError {
    struct Fail(LuxError);
    impl Layer for Fail {
        fn forward(&self, _: &Tree, _: &Tree, _: &Tree) -> Result<(Tree, Tree)> {
            Err(self.0.clone())
        }
    }
    let t = Tree::Map(vec![(name.to_string(), Tree::new())]);
    match forward_child(name, &Fail(err), &Tree::None, &t, &t) {
        Err(e) => e,
        Ok(_) => unreachable!("Fail always fails"),
    }
}

/// Layers with their names; the `layers` child of a container whose
/// connection is a layer.
struct Group<T> {
    layers: T,
    names: Vec<String>,
}

impl<T: LayerList> Group<T> {
    fn new(layers: T) -> Group<T> {
        let names = default_names(layers.len());
        Group { layers, names }
    }

    fn rename(&mut self, op: &str, names: Vec<String>) -> Result<()> {
        check_names(op, &names, self.layers.len())?;
        self.names = names;
        Ok(())
    }

    fn iter(&self) -> impl Iterator<Item = (&str, &dyn Layer)> {
        self.names.iter().enumerate().filter_map(|(i, n)| Some((n.as_str(), self.layers.layer(i)?)))
    }

    fn named_children(&self) -> Vec<(String, &dyn Layer)> {
        self.iter().map(|(n, l)| (n.to_string(), l)).collect()
    }

    fn get_named(&self, name: &str) -> Option<&dyn Layer> {
        self.iter().find(|(n, _)| *n == name).map(|(_, l)| l)
    }

    /// Runs every layer: on `x` (`split = false`), or on `x`'s `i`-th entry
    /// (`split = true`, `x` a sequence of one entry per layer).
    fn fan_out(
        &self,
        op: impl Fn() -> String,
        x: &Tree,
        split: bool,
        ps: &Tree,
        st: &Tree,
    ) -> Result<(Vec<Tree>, Tree)> {
        let n = self.layers.len();
        if split {
            let got = x.as_seq()?.len();
            if got != n {
                return Err(LuxError::invalid_argument(
                    &op(),
                    format!("the input is a tuple of {got} entries, expected {n} (one per layer)"),
                ));
            }
        }
        let mut ys = Vec::with_capacity(n);
        let mut sts = Vec::with_capacity(n);
        for (i, (name, layer)) in self.iter().enumerate() {
            let xi = if split { &x.as_seq()?[i] } else { x };
            let (y, s) = forward_child(name, layer, xi, ps, st)?;
            ys.push(y);
            sts.push((name.to_string(), s));
        }
        Ok((ys, Tree::Map(sts)))
    }
}

impl<T: LayerList> Layer for Group<T> {
    fn forward(&self, _: &Tree, _: &Tree, _: &Tree) -> Result<(Tree, Tree)> {
        Err(LuxError::Unsupported("the layers of a container are run by the container".into()))
    }
    fn children(&self) -> Children<'_> {
        Children::Named(self.named_children())
    }
}
