//! [`CompactLayer`], the layer type `compact!` builds, and the hidden
//! run-time support its generated code calls (`lux::__private::compact`).
//!
//! **How a `compact!` value is classified** (Lux's `@compact` rule, read
//! through Rust's types; the macro applies it with autoref specialisation,
//! most specific first):
//!
//! | value | becomes | bound in the body as |
//! |---|---|---|
//! | `init_fn(\|rng\| …)` / `init_fn(\|rng\| …, state)` | a parameter / a state, built from the `setup` rng | `&Tensor` (parameter) / the value (state) |
//! | `non_trainable(v)` | a state | the value |
//! | an `impl Layer` | a sublayer | `&StatefulLayer` |
//! | a `Vec`/array of layers | numbered sublayers `"1"`, `"2"`, … | `&[StatefulLayer]` |
//! | a `Tensor`; a `Vec`/array/pair/triple of tensors | a parameter | `&Tensor`; `Vec<&Tensor>` / a tuple of `&Tensor` |
//! | `i64`, `f64`, `bool`, a `Tree`, an `RngState`, a `Vec` of those | a state | the value (reassignments persist) |
//! | anything else (`Send + Sync + 'static`: closures, functions, configs) | a constant kept in the layer | `&T` |
//!
//! Departure from Lux: a value a [`Tree`] cannot hold (a closure, a
//! function, a config struct) stays in the layer as a constant instead of
//! being a state leaf, so it counts no state. Activations are layers here
//! (`Activation: Layer`), so `act = Activation::Relu` is a sublayer with no
//! parameters. A tuple mixing layers and non-layers is a compile error.

use crate::rand::Rng;
use lux_core::{COUNT_SEED, Children, DType, Layer, LuxError, RngState, StatefulLayer, Tensor};
#[doc(hidden)]
pub use lux_core::{Result, Tree};
use std::marker::PhantomData;

/// The default `dispatch` marker of a [`CompactLayer`] (Lux's
/// `:₋₋₋no_special_dispatch₋₋₋`).
///
/// ```
/// use lux::{CompactLayer, NoDispatch};
/// fn is_plain<V, F>(_: &CompactLayer<NoDispatch, V, F>) -> bool { true }
/// assert!(is_plain(&lux::compact!(a = 1, |x: i64| Ok(x + a))));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NoDispatch;

/// A layer built by `compact!` (Lux's `CompactLuxLayer{dispatch}`): named
/// values (sublayers, parameters, states, constants) and a forward body.
///
/// `D` is the `dispatch` marker type, so that users can implement their
/// own traits for the layers of one `compact!` call; `V` and `F` are the
/// macro's generated value storage and forward function.
///
/// ```
/// use lux::prelude::*;
/// use lux::CompactLayer;
///
/// /// Layers that know how many inputs they take.
/// trait Arity { fn arity(&self) -> usize; }
/// struct Binary;
/// impl<V, F> Arity for CompactLayer<Binary, V, F> {
///     fn arity(&self) -> usize { 2 }
/// }
///
/// let add = lux::compact!(scale = 2.0, dispatch = Binary, |(a, b): (&Tensor, &Tensor)| {
///     a.add(b)?.mul_scalar(scale)
/// });
/// assert_eq!(add.arity(), 2);
/// let (ps, st) = setup(&mut RngState::seed_from_u64(0), &add)?;
/// let one = Tensor::ones(&[2], DType::F32)?;
/// let (y, _) = apply_tensor(&add, Tree::seq([one.clone(), one]), &ps, &st)?;
/// assert_eq!(y.to_vec::<f32>()?, vec![4.0, 4.0]);
/// # Ok::<(), lux::Error>(())
/// ```
pub struct CompactLayer<D, V, F> {
    values: V,
    /// The printed form of each value (used for those that are not layers).
    shown: Vec<Shown>,
    forward: F,
    name: Option<String>,
    input: &'static str,
    body: &'static str,
    dispatch: PhantomData<fn() -> D>,
}

/// What the generated value storage of a `compact!` call gives its layer:
/// its values in order, by name.
#[doc(hidden)]
pub trait Values: Send + Sync {
    /// `(name, value)` in the order of the macro's arguments.
    fn entries(&self) -> Vec<(&'static str, &dyn Entry)>;
}

impl<D, V, F> CompactLayer<D, V, F>
where
    V: Values,
    F: Fn(&V, &Tree, &Tree, &Tree) -> Result<(Tree, Tree)> + Send + Sync,
{
    #[doc(hidden)]
    pub fn __new(values: V, forward: F, name: Option<String>, input: &'static str, body: &'static str) -> Self {
        let shown = values.entries().iter().map(|(_, e)| Shown(e.descriptor())).collect();
        CompactLayer { values, shown, forward, name, input, body, dispatch: PhantomData }
    }

    /// The `name = "…"` given to `compact!`, if any.
    ///
    /// ```
    /// let named = lux::compact!(a = 1, name = "Offset", |x: i64| Ok(x + a));
    /// assert_eq!(named.name(), Some("Offset"));
    /// let plain = lux::compact!(a = 1, |x: i64| {
    ///     let y = x + a;
    ///     Ok(y)
    /// });
    /// assert_eq!((plain.name(), plain.body_text()), (None, "let y = x + a;\nOk(y)"));
    /// ```
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// The forward body's source text, as printed.
    pub fn body_text(&self) -> &str {
        self.body
    }

    fn sublayers(&self) -> Vec<(String, &dyn Layer)> {
        self.values.entries().into_iter().filter_map(|(k, e)| e.layer().map(|l| (k.to_string(), l))).collect()
    }

    /// Sublayers' trees first, then the values' (as Lux).
    fn init(&self, rng: &mut dyn Rng, state: bool) -> Result<Tree> {
        let entries = self.values.entries();
        let mut out = Vec::with_capacity(entries.len());
        for (k, e) in &entries {
            if let Some(l) = e.layer() {
                out.push((k.to_string(), if state { l.init_state(rng)? } else { l.init_params(rng)? }));
            }
        }
        for (k, e) in &entries {
            if let Some(t) = if state { e.init_state(rng)? } else { e.init_param(rng)? } {
                out.push((k.to_string(), t));
            }
        }
        Ok(Tree::Map(out))
    }
}

impl<D, V, F> Layer for CompactLayer<D, V, F>
where
    V: Values,
    F: Fn(&V, &Tree, &Tree, &Tree) -> Result<(Tree, Tree)> + Send + Sync,
{
    fn init_params(&self, rng: &mut dyn Rng) -> Result<Tree> {
        self.init(rng, false)
    }
    fn init_state(&self, rng: &mut dyn Rng) -> Result<Tree> {
        self.init(rng, true)
    }
    fn forward(&self, x: &Tree, ps: &Tree, st: &Tree) -> Result<(Tree, Tree)> {
        (self.forward)(&self.values, x, ps, st)
    }
    fn param_count(&self) -> usize {
        self.values.entries().iter().map(|(_, e)| e.layer().map_or_else(|| e.param_count(), |l| l.param_count())).sum()
    }
    fn state_count(&self) -> usize {
        self.values.entries().iter().map(|(_, e)| e.layer().map_or_else(|| e.state_count(), |l| l.state_count())).sum()
    }
    fn display_name(&self) -> String {
        self.name.clone().unwrap_or_else(|| "compact!".into())
    }
    fn describe(&self) -> String {
        match &self.name {
            Some(n) => n.clone(),
            None => {
                let names: Vec<&str> = self.values.entries().into_iter().map(|(k, _)| k).collect();
                format!("compact!({}) do {}", names.join(", "), self.input)
            }
        }
    }
    fn children(&self) -> Children<'_> {
        Children::Named(self.sublayers())
    }
    fn printable_children(&self) -> Option<Vec<(String, &dyn Layer)>> {
        if self.name.is_some() {
            // A named layer prints collapsed, as one line with its count.
            return Some(Vec::new());
        }
        let entries = self.values.entries();
        Some(
            entries
                .into_iter()
                .zip(&self.shown)
                .map(|((k, e), shown)| (k.to_string(), e.layer().unwrap_or(shown)))
                .collect(),
        )
    }
    fn display_close(&self) -> Option<String> {
        if self.name.is_some() {
            return None;
        }
        let mut s = format!(") do {}\n", self.input);
        for line in self.body.lines() {
            s.push_str(&format!("    {line}\n"));
        }
        s.push_str("end");
        Some(s)
    }
}

/// How a value that is not a layer prints among a `compact!` layer's
/// children (`w = f32[3],`): a leaf with no parameters, never called.
struct Shown(String);

impl Layer for Shown {
    fn forward(&self, _: &Tree, _: &Tree, _: &Tree) -> Result<(Tree, Tree)> {
        Err(LuxError::InvalidArgument {
            op: "compact! value".into(),
            msg: format!("`{}` is a value of a compact! layer, not a layer", self.0),
        })
    }
    fn param_count(&self) -> usize {
        0
    }
    fn state_count(&self) -> usize {
        0
    }
    fn describe(&self) -> String {
        self.0.clone()
    }
}

// ----- the values -------------------------------------------------------------------

/// One value of a `compact!` call, seen by its layer (object-safe).
#[doc(hidden)]
pub trait Entry: Send + Sync {
    /// The sublayer (or layer list) this value is, if any.
    fn layer(&self) -> Option<&dyn Layer> {
        None
    }
    /// The parameter this value initialises, if it is one.
    fn init_param(&self, _rng: &mut dyn Rng) -> Result<Option<Tree>> {
        Ok(None)
    }
    /// The state this value initialises, if it is one.
    fn init_state(&self, _rng: &mut dyn Rng) -> Result<Option<Tree>> {
        Ok(None)
    }
    /// The parameter elements of a value parameter.
    fn param_count(&self) -> usize {
        0
    }
    /// The state count of a value state.
    fn state_count(&self) -> usize {
        0
    }
    /// How the value prints in the `compact!(` … `)` form.
    fn descriptor(&self) -> String;
}

/// How the generated forward body binds one value: `hold` builds what the
/// call owns (a [`StatefulLayer`] for a sublayer), `view` is what the
/// body's name is bound to, `store` the state written back after the body.
#[doc(hidden)]
pub trait Slot: Entry {
    type Held<'a>
    where
        Self: 'a;
    type Bound<'h, 'a>
    where
        Self: 'a,
        'a: 'h;
    /// # Errors
    /// A missing key in `ps`/`st`, or a leaf of the wrong kind.
    fn hold<'a>(&'a self, name: &str, ps: &'a Tree, st: &'a Tree) -> Result<Self::Held<'a>>;
    fn view<'h, 'a: 'h>(&self, held: &'h Self::Held<'a>) -> Self::Bound<'h, 'a>;
    fn store<'h, 'a: 'h>(&self, held: &Self::Held<'a>, bound: Self::Bound<'h, 'a>) -> Option<Tree>;
}

/// The wrapper classification starts from.
#[doc(hidden)]
pub struct Wrap<T>(pub T);

/// The classification tags (one per row of the module's table).
#[doc(hidden)]
pub mod kinds {
    use super::{ConstSlot, LayerListSlot, LayerSlot, ParamSlot, ParamValue, StateSlot, StateValue, Wrap};
    use lux_core::Layer;

    pub struct LayerTag;
    pub struct LayerListTag;
    pub struct LayerTupleTag;
    pub struct ParamTag;
    pub struct StateTag;
    pub struct ConstTag;

    pub trait ViaLayer {
        fn __compact_kind(&self) -> LayerTag {
            LayerTag
        }
    }
    impl<L: Layer> ViaLayer for &&&&Wrap<L> {}

    pub trait ViaLayerList {
        fn __compact_kind(&self) -> LayerListTag {
            LayerListTag
        }
    }
    impl<L: Layer> ViaLayerList for &&&Wrap<Vec<L>> {}
    impl<L: Layer, const N: usize> ViaLayerList for &&&Wrap<[L; N]> {}

    pub trait ViaLayerTuple {
        fn __compact_kind(&self) -> LayerTupleTag {
            LayerTupleTag
        }
    }
    impl<A: Layer, B: Layer> ViaLayerTuple for &&&Wrap<(A, B)> {}
    impl<A: Layer, B: Layer, C: Layer> ViaLayerTuple for &&&Wrap<(A, B, C)> {}
    impl<A: Layer, B: Layer, C: Layer, D: Layer> ViaLayerTuple for &&&Wrap<(A, B, C, D)> {}

    pub trait ViaParam {
        fn __compact_kind(&self) -> ParamTag {
            ParamTag
        }
    }
    impl<P: ParamValue> ViaParam for &&Wrap<P> {}

    pub trait ViaState {
        fn __compact_kind(&self) -> StateTag {
            StateTag
        }
    }
    impl<S: StateValue> ViaState for &Wrap<S> {}

    pub trait ViaConst {
        fn __compact_kind(&self) -> ConstTag {
            ConstTag
        }
    }
    impl<T> ViaConst for Wrap<T> {}

    impl LayerTag {
        pub fn slot<L: Layer>(self, v: L) -> LayerSlot<L> {
            LayerSlot(v)
        }
    }
    impl LayerListTag {
        pub fn slot<L: Layer>(self, v: impl IntoIterator<Item = L>) -> LayerListSlot<L> {
            LayerListSlot::new(v.into_iter().collect())
        }
    }
    impl LayerTupleTag {
        pub fn slot<T: LayerTuple>(self, v: T) -> T {
            v
        }
    }
    /// Tuples of layers are not sublayers (no impls: the bound is the error).
    #[diagnostic::on_unimplemented(
        message = "a tuple of layers cannot be a `compact!` value",
        label = "use an array `[a, b]` or a `Vec` of layers",
        note = "layers of different types can be boxed: `vec![Box::new(a) as Box<dyn Layer>, Box::new(b)]`"
    )]
    pub trait LayerTuple {}

    impl ParamTag {
        pub fn slot<P: ParamValue>(self, v: P) -> ParamSlot<P> {
            ParamSlot(v)
        }
    }
    impl StateTag {
        pub fn slot<S: StateValue>(self, v: S) -> StateSlot<S> {
            StateSlot { value: v, non_trainable: false }
        }
    }
    impl ConstTag {
        pub fn slot<T: super::ConstValue>(self, v: T) -> ConstSlot<T> {
            ConstSlot(v)
        }
    }

    /// Tags of values that are not layers (for the mixed-tuple check: a
    /// layer in a tuple of non-layers fails this bound).
    #[diagnostic::on_unimplemented(
        message = "A container is found which combines Lux layers with non-Lux layers. This is not supported.",
        label = "this tuple mixes layers and non-layers",
        note = "a `compact!` value that holds layers must hold only layers (a Vec or an array of layers)"
    )]
    pub trait NotLayer {}
    impl NotLayer for LayerListTag {}
    impl NotLayer for ParamTag {}
    impl NotLayer for StateTag {}
    impl NotLayer for ConstTag {}

    /// A tuple of values is all layers or no layers.
    pub trait NoLayerMix {}
    macro_rules! no_mix {
        ($($t:ident),+) => {
            impl NoLayerMix for ($(no_mix!(@layer $t),)+) {}
            impl<$($t: NotLayer),+> NoLayerMix for ($($t,)+) {}
        };
        (@layer $t:ident) => { LayerTag };
    }
    no_mix!(A, B);
    no_mix!(A, B, C);
    no_mix!(A, B, C, D);
    no_mix!(A, B, C, D, E);
    no_mix!(A, B, C, D, E, G);
    /// Checks a tuple's element tags.
    pub fn assert_no_layer_mix<T: NoLayerMix>(_: T) {}
}

/// A value that can be a constant of a `compact!` layer.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a `compact!` value",
    label = "not a layer, a tensor, a state value (i64, f64, bool, Tree, RngState) or a Send + Sync + 'static constant",
    note = "wrap a state in `non_trainable(..)`, or build a parameter with `init_fn(|rng| ..)`"
)]
#[doc(hidden)]
pub trait ConstValue: Send + Sync + 'static {}
impl<T: Send + Sync + 'static> ConstValue for T {}

/// Puts the value's name into the path of an error about its tree.
fn at(name: &str) -> impl FnOnce(LuxError) -> LuxError + '_ {
    move |e| match e {
        LuxError::Structure { path, msg } if path.is_empty() || path == lux_core::ROOT => {
            LuxError::Structure { path: name.into(), msg }
        }
        other => other,
    }
}

/// The short name of a type, for printing constants.
fn short_name<T: ?Sized>() -> &'static str {
    let full = std::any::type_name::<T>();
    let base = full.split('<').next().unwrap_or(full);
    base.rsplit("::").next().unwrap_or(base)
}

/// `f32[3, 5]`.
fn tensor_descriptor(t: &Tensor) -> String {
    format!("{}{:?}", t.dtype(), t.shape())
}

// --- sublayers

#[doc(hidden)]
pub struct LayerSlot<L>(L);

impl<L: Layer> Entry for LayerSlot<L> {
    fn layer(&self) -> Option<&dyn Layer> {
        Some(&self.0)
    }
    fn descriptor(&self) -> String {
        self.0.describe()
    }
}

impl<L: Layer> Slot for LayerSlot<L> {
    type Held<'a>
        = StatefulLayer<&'a L>
    where
        L: 'a;
    type Bound<'h, 'a>
        = &'h StatefulLayer<&'a L>
    where
        L: 'a,
        'a: 'h;
    fn hold<'a>(&'a self, name: &str, ps: &'a Tree, st: &'a Tree) -> Result<StatefulLayer<&'a L>> {
        Ok(StatefulLayer::new(&self.0, ps.get(name)?.clone(), st.get(name)?.clone()))
    }
    fn view<'h, 'a: 'h>(&self, held: &'h StatefulLayer<&'a L>) -> &'h StatefulLayer<&'a L> {
        held
    }
    fn store<'h, 'a: 'h>(&self, held: &StatefulLayer<&'a L>, _: &'h StatefulLayer<&'a L>) -> Option<Tree> {
        Some(held.state())
    }
}

/// Numbered sublayers `"1"`, `"2"`, … (a `Vec` or an array of layers);
/// prints as Lux's `NamedTuple(` of them.
#[doc(hidden)]
pub struct LayerListSlot<L> {
    layers: Vec<L>,
    names: Vec<String>,
}

impl<L: Layer> LayerListSlot<L> {
    fn new(layers: Vec<L>) -> Self {
        let names = (1..=layers.len()).map(|i| i.to_string()).collect();
        LayerListSlot { layers, names }
    }
}

impl<L: Layer> Layer for LayerListSlot<L> {
    fn forward(&self, _: &Tree, _: &Tree, _: &Tree) -> Result<(Tree, Tree)> {
        Err(LuxError::InvalidArgument {
            op: "compact! layer list".into(),
            msg: "a list of sublayers is not a layer; call its elements".into(),
        })
    }
    fn display_name(&self) -> String {
        "NamedTuple".into()
    }
    fn children(&self) -> Children<'_> {
        Children::Named(self.names.iter().cloned().zip(self.layers.iter().map(|l| l as &dyn Layer)).collect())
    }
}

impl<L: Layer> Entry for LayerListSlot<L> {
    fn layer(&self) -> Option<&dyn Layer> {
        Some(self)
    }
    fn descriptor(&self) -> String {
        self.describe()
    }
}

impl<L: Layer> Slot for LayerListSlot<L> {
    type Held<'a>
        = Vec<StatefulLayer<&'a L>>
    where
        L: 'a;
    type Bound<'h, 'a>
        = &'h [StatefulLayer<&'a L>]
    where
        L: 'a,
        'a: 'h;
    fn hold<'a>(&'a self, name: &str, ps: &'a Tree, st: &'a Tree) -> Result<Vec<StatefulLayer<&'a L>>> {
        let (ps, st) = (ps.get(name)?, st.get(name)?);
        self.layers
            .iter()
            .zip(&self.names)
            .map(|(l, k)| Ok(StatefulLayer::new(l, ps.get(k)?.clone(), st.get(k)?.clone())))
            .collect()
    }
    fn view<'h, 'a: 'h>(&self, held: &'h Vec<StatefulLayer<&'a L>>) -> &'h [StatefulLayer<&'a L>] {
        held
    }
    fn store<'h, 'a: 'h>(&self, held: &Vec<StatefulLayer<&'a L>>, _: &'h [StatefulLayer<&'a L>]) -> Option<Tree> {
        Some(Tree::Map(self.names.iter().cloned().zip(held.iter().map(StatefulLayer::state)).collect()))
    }
}

// --- parameters

/// A value that is a parameter: tensors, and lists of tensors.
#[doc(hidden)]
pub trait ParamValue: Send + Sync + 'static {
    type Bound<'a>: Clone;
    fn to_tree(&self) -> Tree;
    /// # Errors
    /// The tree is not shaped as this value.
    fn bind(tree: &Tree) -> Result<Self::Bound<'_>>;
    fn descriptor(&self) -> String;
}

impl ParamValue for Tensor {
    type Bound<'a> = &'a Tensor;
    fn to_tree(&self) -> Tree {
        Tree::Tensor(self.clone())
    }
    fn bind(tree: &Tree) -> Result<&Tensor> {
        tree.as_tensor()
    }
    fn descriptor(&self) -> String {
        tensor_descriptor(self)
    }
}

impl ParamValue for Vec<Tensor> {
    type Bound<'a> = Vec<&'a Tensor>;
    fn to_tree(&self) -> Tree {
        Tree::seq(self.iter())
    }
    fn bind(tree: &Tree) -> Result<Vec<&Tensor>> {
        tree.as_seq()?.iter().map(Tree::as_tensor).collect()
    }
    fn descriptor(&self) -> String {
        format!("[{}]", self.iter().map(tensor_descriptor).collect::<Vec<_>>().join(", "))
    }
}

impl<const N: usize> ParamValue for [Tensor; N] {
    type Bound<'a> = Vec<&'a Tensor>;
    fn to_tree(&self) -> Tree {
        Tree::seq(self.iter())
    }
    fn bind(tree: &Tree) -> Result<Vec<&Tensor>> {
        <Vec<Tensor>>::bind(tree)
    }
    fn descriptor(&self) -> String {
        format!("[{}]", self.iter().map(tensor_descriptor).collect::<Vec<_>>().join(", "))
    }
}

impl ParamValue for (Tensor, Tensor) {
    type Bound<'a> = (&'a Tensor, &'a Tensor);
    fn to_tree(&self) -> Tree {
        Tree::seq([&self.0, &self.1])
    }
    fn bind(tree: &Tree) -> Result<(&Tensor, &Tensor)> {
        match <Vec<Tensor>>::bind(tree)?.as_slice() {
            [a, b] => Ok((a, b)),
            other => Err(LuxError::Structure {
                path: lux_core::ROOT.into(),
                msg: format!("compact!: a pair of tensors expects 2 parameters, got {}", other.len()),
            }),
        }
    }
    fn descriptor(&self) -> String {
        format!("({}, {})", tensor_descriptor(&self.0), tensor_descriptor(&self.1))
    }
}

#[doc(hidden)]
pub struct ParamSlot<P>(P);

impl<P: ParamValue> Entry for ParamSlot<P> {
    fn init_param(&self, _: &mut dyn Rng) -> Result<Option<Tree>> {
        Ok(Some(self.0.to_tree()))
    }
    fn param_count(&self) -> usize {
        self.0.to_tree().param_count()
    }
    fn descriptor(&self) -> String {
        self.0.descriptor()
    }
}

impl<P: ParamValue> Slot for ParamSlot<P> {
    type Held<'a>
        = P::Bound<'a>
    where
        P: 'a;
    type Bound<'h, 'a>
        = P::Bound<'a>
    where
        P: 'a,
        'a: 'h;
    fn hold<'a>(&'a self, name: &str, ps: &'a Tree, _: &'a Tree) -> Result<P::Bound<'a>> {
        P::bind(ps.get(name)?).map_err(at(name))
    }
    fn view<'h, 'a: 'h>(&self, held: &'h P::Bound<'a>) -> P::Bound<'a> {
        held.clone()
    }
    fn store<'h, 'a: 'h>(&self, _: &P::Bound<'a>, _: P::Bound<'a>) -> Option<Tree> {
        None
    }
}

/// A parameter built by `init_fn(|rng| …)` at `setup`.
#[doc(hidden)]
pub struct InitParamSlot<F, P>(F, PhantomData<fn() -> P>);

/// The slot of `init_fn(f)` / `init_fn(f, parameter)`.
#[doc(hidden)]
pub fn init_param<P: ParamValue, F: Fn(&mut dyn Rng) -> Result<P> + Send + Sync>(f: F) -> InitParamSlot<F, P> {
    InitParamSlot(f, PhantomData)
}

impl<P: ParamValue, F: Fn(&mut dyn Rng) -> Result<P> + Send + Sync> Entry for InitParamSlot<F, P> {
    fn init_param(&self, rng: &mut dyn Rng) -> Result<Option<Tree>> {
        Ok(Some((self.0)(rng)?.to_tree()))
    }
    fn param_count(&self) -> usize {
        // Lux's rule: materialise with a fixed generator.
        (self.0)(&mut RngState::seed_from_u64(COUNT_SEED)).map_or(0, |p| p.to_tree().param_count())
    }
    fn descriptor(&self) -> String {
        "init_fn(parameter)".into()
    }
}

impl<P: ParamValue, F: Fn(&mut dyn Rng) -> Result<P> + Send + Sync> Slot for InitParamSlot<F, P> {
    type Held<'a>
        = P::Bound<'a>
    where
        Self: 'a;
    type Bound<'h, 'a>
        = P::Bound<'a>
    where
        Self: 'a,
        'a: 'h;
    fn hold<'a>(&'a self, name: &str, ps: &'a Tree, _: &'a Tree) -> Result<P::Bound<'a>> {
        P::bind(ps.get(name)?).map_err(at(name))
    }
    fn view<'h, 'a: 'h>(&self, held: &'h P::Bound<'a>) -> P::Bound<'a> {
        held.clone()
    }
    fn store<'h, 'a: 'h>(&self, _: &P::Bound<'a>, _: P::Bound<'a>) -> Option<Tree> {
        None
    }
}

// --- states

/// A value that is a state leaf (or a list of them): it converts to and
/// from a [`Tree`], so that the body's reassignments persist.
#[doc(hidden)]
pub trait StateValue: Clone + Send + Sync + 'static {
    fn to_tree(&self) -> Tree;
    /// # Errors
    /// The tree does not hold this kind of value.
    fn from_tree(tree: &Tree) -> Result<Self>;
    fn descriptor(&self) -> String {
        self.to_tree().to_string()
    }
}

macro_rules! state_leaf {
    ($($t:ty => $method:ident),*) => {$(
        impl StateValue for $t {
            fn to_tree(&self) -> Tree {
                Tree::from(*self)
            }
            fn from_tree(tree: &Tree) -> Result<Self> {
                tree.$method()
            }
        }
    )*};
}
state_leaf!(i64 => as_int, f64 => as_float, bool => as_bool);

impl StateValue for Tensor {
    fn to_tree(&self) -> Tree {
        Tree::Tensor(self.clone())
    }
    fn from_tree(tree: &Tree) -> Result<Self> {
        tree.as_tensor().cloned()
    }
    fn descriptor(&self) -> String {
        tensor_descriptor(self)
    }
}

impl StateValue for Tree {
    fn to_tree(&self) -> Tree {
        self.clone()
    }
    fn from_tree(tree: &Tree) -> Result<Self> {
        Ok(tree.clone())
    }
}

impl StateValue for RngState {
    fn to_tree(&self) -> Tree {
        Tree::Rng(self.clone())
    }
    fn from_tree(tree: &Tree) -> Result<Self> {
        tree.as_rng().cloned()
    }
}

impl<T: StateValue> StateValue for Vec<T> {
    fn to_tree(&self) -> Tree {
        Tree::Seq(self.iter().map(StateValue::to_tree).collect())
    }
    fn from_tree(tree: &Tree) -> Result<Self> {
        tree.as_seq()?.iter().map(T::from_tree).collect()
    }
}

/// A state value; `non_trainable` marks one given with `non_trainable(v)`
/// (for printing).
#[doc(hidden)]
pub struct StateSlot<S> {
    value: S,
    non_trainable: bool,
}

/// The slot of `non_trainable(v)`: `v` goes into the state whatever it is.
#[doc(hidden)]
pub fn non_trainable<S: StateValue>(value: S) -> StateSlot<S> {
    StateSlot { value, non_trainable: true }
}

impl<S: StateValue> Entry for StateSlot<S> {
    fn init_state(&self, _: &mut dyn Rng) -> Result<Option<Tree>> {
        Ok(Some(self.value.to_tree()))
    }
    fn state_count(&self) -> usize {
        self.value.to_tree().state_count()
    }
    fn descriptor(&self) -> String {
        if self.non_trainable { format!("non_trainable({})", self.value.descriptor()) } else { self.value.descriptor() }
    }
}

impl<S: StateValue> Slot for StateSlot<S> {
    type Held<'a>
        = S
    where
        S: 'a;
    type Bound<'h, 'a>
        = S
    where
        S: 'a,
        'a: 'h;
    fn hold<'a>(&'a self, name: &str, _: &'a Tree, st: &'a Tree) -> Result<S> {
        S::from_tree(st.get(name)?).map_err(at(name))
    }
    fn view<'h, 'a: 'h>(&self, held: &'h S) -> S {
        held.clone()
    }
    fn store<'h, 'a: 'h>(&self, _: &S, bound: S) -> Option<Tree> {
        Some(bound.to_tree())
    }
}

/// A state built by `init_fn(|rng| …, state)` at `setup`.
#[doc(hidden)]
pub struct InitStateSlot<F, S>(F, PhantomData<fn() -> S>);

/// The slot of `init_fn(f, state)`.
#[doc(hidden)]
pub fn init_state<S: StateValue, F: Fn(&mut dyn Rng) -> Result<S> + Send + Sync>(f: F) -> InitStateSlot<F, S> {
    InitStateSlot(f, PhantomData)
}

impl<S: StateValue, F: Fn(&mut dyn Rng) -> Result<S> + Send + Sync> Entry for InitStateSlot<F, S> {
    fn init_state(&self, rng: &mut dyn Rng) -> Result<Option<Tree>> {
        Ok(Some((self.0)(rng)?.to_tree()))
    }
    fn state_count(&self) -> usize {
        (self.0)(&mut RngState::seed_from_u64(COUNT_SEED)).map_or(0, |s| s.to_tree().state_count())
    }
    fn descriptor(&self) -> String {
        "init_fn(state)".into()
    }
}

impl<S: StateValue, F: Fn(&mut dyn Rng) -> Result<S> + Send + Sync> Slot for InitStateSlot<F, S> {
    type Held<'a>
        = S
    where
        Self: 'a;
    type Bound<'h, 'a>
        = S
    where
        Self: 'a,
        'a: 'h;
    fn hold<'a>(&'a self, name: &str, _: &'a Tree, st: &'a Tree) -> Result<S> {
        S::from_tree(st.get(name)?).map_err(at(name))
    }
    fn view<'h, 'a: 'h>(&self, held: &'h S) -> S {
        held.clone()
    }
    fn store<'h, 'a: 'h>(&self, _: &S, bound: S) -> Option<Tree> {
        Some(bound.to_tree())
    }
}

// --- constants

#[doc(hidden)]
pub struct ConstSlot<T>(T);

impl<T: ConstValue> Entry for ConstSlot<T> {
    fn descriptor(&self) -> String {
        short_name::<T>().to_string()
    }
}

impl<T: ConstValue> Slot for ConstSlot<T> {
    type Held<'a>
        = &'a T
    where
        T: 'a;
    type Bound<'h, 'a>
        = &'a T
    where
        T: 'a,
        'a: 'h;
    fn hold<'a>(&'a self, _: &str, _: &'a Tree, _: &'a Tree) -> Result<&'a T> {
        Ok(&self.0)
    }
    fn view<'h, 'a: 'h>(&self, held: &'h &'a T) -> &'a T {
        held
    }
    fn store<'h, 'a: 'h>(&self, _: &&'a T, _: &'a T) -> Option<Tree> {
        None
    }
}

// ----- the forward body's input and output ------------------------------------------

/// What a typed input of a `compact!` body (`|x: &Tensor|`,
/// `|(a, b): (&Tensor, f64)|`) is converted from; an input of another kind
/// is an `Err` naming what was expected.
///
/// ```
/// use lux::prelude::*;
/// let m = lux::compact!(k = 2.0, |(x, s): (&Tensor, f64)| x.mul_scalar(s * k));
/// let (ps, st) = setup(&mut RngState::seed_from_u64(0), &m)?;
/// let x = Tensor::ones(&[2], DType::F32)?;
/// let (y, _) = apply_tensor(&m, Tree::seq([Tree::from(&x), Tree::Float(1.5)]), &ps, &st)?;
/// assert_eq!(y.to_vec::<f32>()?, vec![3.0, 3.0]);
/// assert!(apply(&m, &x, &ps, &st).is_err()); // not a pair
/// # Ok::<(), lux::Error>(())
/// ```
#[diagnostic::on_unimplemented(
    message = "a `compact!` input cannot be bound as `{Self}`",
    note = "use `&Tree` (the default), `&Tensor`, `Tensor`, `f64`, `i64`, `bool`, or a pair/triple of those"
)]
pub trait FromInput<'a>: Sized {
    /// # Errors
    /// The input is not of this kind.
    fn from_input(x: &'a Tree) -> Result<Self>;
}

impl<'a> FromInput<'a> for &'a Tree {
    fn from_input(x: &'a Tree) -> Result<Self> {
        Ok(x)
    }
}
impl<'a> FromInput<'a> for &'a Tensor {
    fn from_input(x: &'a Tree) -> Result<Self> {
        x.as_tensor()
    }
}
impl FromInput<'_> for Tensor {
    fn from_input(x: &Tree) -> Result<Self> {
        x.as_tensor().cloned()
    }
}
impl FromInput<'_> for f64 {
    fn from_input(x: &Tree) -> Result<Self> {
        match x {
            Tree::Tensor(t) if t.shape().is_empty() || t.len() == 1 => {
                t.to_dtype(DType::F64)?.to_vec::<f64>().map(|v| v[0])
            }
            other => other.as_float(),
        }
    }
}
impl FromInput<'_> for i64 {
    fn from_input(x: &Tree) -> Result<Self> {
        x.as_int()
    }
}
impl FromInput<'_> for bool {
    fn from_input(x: &Tree) -> Result<Self> {
        x.as_bool()
    }
}

fn input_items(x: &Tree, n: usize) -> Result<&[Tree]> {
    let items = x.as_seq()?;
    if items.len() != n {
        return Err(LuxError::Structure {
            path: lux_core::ROOT.into(),
            msg: format!("compact!: the body takes a {n}-tuple input, got {} items", items.len()),
        });
    }
    Ok(items)
}
impl<'a, A: FromInput<'a>, B: FromInput<'a>> FromInput<'a> for (A, B) {
    fn from_input(x: &'a Tree) -> Result<Self> {
        let items = input_items(x, 2)?;
        Ok((A::from_input(&items[0])?, B::from_input(&items[1])?))
    }
}
impl<'a, A: FromInput<'a>, B: FromInput<'a>, C: FromInput<'a>> FromInput<'a> for (A, B, C) {
    fn from_input(x: &'a Tree) -> Result<Self> {
        let items = input_items(x, 3)?;
        Ok((A::from_input(&items[0])?, B::from_input(&items[1])?, C::from_input(&items[2])?))
    }
}

/// The body's output as a tree.
#[doc(hidden)]
pub fn output<T: Into<Tree>>(y: T) -> Tree {
    y.into()
}

/// The new state: the given one with each value's written-back state
/// replaced, detached (state is never differentiated).
///
/// # Errors
/// `st` is not a map.
#[doc(hidden)]
pub fn finish(st: &Tree, updates: Vec<(&str, Option<Tree>)>) -> Result<Tree> {
    let mut out = st.clone();
    for (name, t) in updates {
        if let Some(t) = t {
            out.insert(name, t.map(|_, x| if x.is_tracked() { x.detach() } else { x.clone() }))?;
        }
    }
    Ok(out)
}
