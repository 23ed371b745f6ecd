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

// ----- connections -------------------------------------------------------------------

type ConnFn = dyn Fn(&[Tree]) -> Result<Tree> + Send + Sync;

/// A named function combining several trees into one: the `connection` of
/// [`SkipConnection`], [`Parallel`], [`PairwiseFusion`] and the `fusion` of
/// [`BranchLayer`] (Lux passes a Julia function such as `+` or `vcat`).
/// It prints as its name (`connection = +,`) and has no parameters.
///
/// As a [`Layer`] it applies the function to the entries of a tuple input
/// (or to the input alone).
///
/// ```
/// use lux_core::{Layer, Tensor, Tree};
/// use lux_layers::Func;
/// let a = Tensor::from_vec(vec![1.0f32, 2.0], &[1, 2])?;
/// let b = Tensor::from_vec(vec![10.0f32, 20.0], &[1, 2])?;
/// let sum = Func::add().call(&[a.clone().into(), b.clone().into()])?;
/// assert_eq!(sum.as_tensor()?.to_vec::<f32>()?, vec![11.0, 22.0]);
/// let cat = Func::vcat().call(&[a.into(), b.into()])?;
/// assert_eq!(cat.as_tensor()?.shape(), &[1, 4]);
/// let first = Func::new("first", |xs: &[Tree]| Ok(xs[0].clone()))?;
/// assert_eq!(first.describe(), "first");
/// # Ok::<(), lux_core::LuxError>(())
/// ```
#[derive(Clone)]
pub struct Func {
    name: String,
    f: Arc<ConnFn>,
}

impl std::fmt::Debug for Func {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Func({})", self.name)
    }
}

impl Func {
    /// A connection computing `f(args)`, printed as `name`.
    ///
    /// ```
    /// use lux_core::Tree;
    /// let count = lux_layers::Func::new("count", |xs: &[Tree]| Ok(Tree::Int(xs.len() as i64)))?;
    /// assert_eq!(count.call(&[Tree::None, Tree::None])?, Tree::Int(2));
    /// assert!(lux_layers::Func::new("", |xs: &[Tree]| Ok(xs[0].clone())).is_err());
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// An empty `name`.
    pub fn new(name: impl Into<String>, f: impl Fn(&[Tree]) -> Result<Tree> + Send + Sync + 'static) -> Result<Func> {
        let name = name.into();
        if name.is_empty() {
            return Err(LuxError::invalid_argument("Func", "the name is empty"));
        }
        Ok(Func { name, f: Arc::new(f) })
    }

    /// A connection of exactly two trees, `f(a, b)` — e.g. a
    /// [`SkipConnection`]'s `(layer(x), x)` — printed as `name`.
    ///
    /// ```
    /// use lux_core::{Tensor, Tree};
    /// let sub = lux_layers::Func::binary("-", |y: &Tree, x: &Tree| Ok(y.as_tensor()?.sub(x.as_tensor()?)?.into()))?;
    /// let (a, b) = (Tensor::from_vec(vec![5.0f32], &[1])?, Tensor::from_vec(vec![2.0f32], &[1])?);
    /// assert_eq!(sub.call(&[a.clone().into(), b.into()])?.as_tensor()?.to_vec::<f32>()?, vec![3.0]);
    /// let err = sub.call(&[a.into()]).unwrap_err();
    /// assert_eq!(err.to_string(), "-: invalid argument: takes 2 arguments, got 1");
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// An empty `name`.
    pub fn binary(
        name: impl Into<String>,
        f: impl Fn(&Tree, &Tree) -> Result<Tree> + Send + Sync + 'static,
    ) -> Result<Func> {
        let name = name.into();
        let op = name.clone();
        Func::new(name, move |xs: &[Tree]| match xs {
            [a, b] => f(a, b),
            _ => Err(LuxError::invalid_argument(&op, format!("takes 2 arguments, got {}", xs.len()))),
        })
    }

    /// Julia's `+`: the elementwise sum of tensors of one shape (no
    /// broadcasting, as `+` on Julia arrays). Prints as `+`.
    ///
    /// ```
    /// use lux_core::{DType, Tensor};
    /// let add = lux_layers::Func::add();
    /// let a = Tensor::ones(&[2, 3], DType::F32)?;
    /// let err = add.call(&[a.clone().into(), Tensor::ones(&[2, 1], DType::F32)?.into()]).unwrap_err();
    /// assert_eq!(err.to_string(), "+: shapes [2, 3] and [2, 1] differ");
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn add() -> Func {
        Func {
            name: "+".into(),
            f: Arc::new(|xs: &[Tree]| {
                let tensors = tensor_args("+", xs)?;
                let mut acc = tensors[0].clone();
                for t in &tensors[1..] {
                    if t.shape() != acc.shape() {
                        return Err(LuxError::shape(
                            "+",
                            format!("shapes {:?} and {:?} differ", acc.shape(), t.shape()),
                        ));
                    }
                    acc = acc.add(t)?;
                }
                Ok(acc.into())
            }),
        }
    }

    /// Julia's `vcat` on Lux's column-major arrays, i.e. concatenation
    /// along the **last** axis here (features of `[batch, features]`, the
    /// width of NCHW images). Prints as `vcat`.
    ///
    /// ```
    /// use lux_core::{DType, Tensor};
    /// let y = lux_layers::Func::vcat().call(&[Tensor::ones(&[4, 2], DType::F32)?.into(), Tensor::ones(&[4, 3], DType::F32)?.into()])?;
    /// assert_eq!(y.as_tensor()?.shape(), &[4, 5]);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn vcat() -> Func {
        Func {
            name: "vcat".into(),
            f: Arc::new(|xs: &[Tree]| {
                let tensors = tensor_args("vcat", xs)?;
                Tensor::concat(&tensors, -1).map(Tree::from).map_err(|e| match e {
                    LuxError::Shape { msg, .. } => LuxError::Shape { op: "vcat".into(), msg },
                    other => other,
                })
            }),
        }
    }

    /// Calls the function.
    ///
    /// ```
    /// use lux_core::Tree;
    /// let f = lux_layers::Func::new("second", |xs: &[Tree]| Ok(xs[1].clone()))?;
    /// assert_eq!(f.call(&[Tree::Int(1), Tree::Int(2)])?, Tree::Int(2));
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// Whatever the function returns.
    pub fn call(&self, args: &[Tree]) -> Result<Tree> {
        (self.f)(args)
    }

    /// The name it prints as.
    ///
    /// ```
    /// assert_eq!(lux_layers::Func::add().name(), "+");
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// The tensors among `xs` (at least one), or an `Err` naming `op`.
fn tensor_args(op: &str, xs: &[Tree]) -> Result<Vec<Tensor>> {
    if xs.is_empty() {
        return Err(LuxError::invalid_argument(op, "needs at least one argument"));
    }
    xs.iter()
        .map(|x| match x {
            Tree::Tensor(t) => Ok(t.clone()),
            other => Err(LuxError::invalid_argument(op, format!("expects tensors, got a {}", other.kind_name()))),
        })
        .collect()
}

impl Layer for Func {
    fn param_shapes(&self) -> Option<Vec<Vec<usize>>> {
        Some(vec![])
    }
    fn state_shapes(&self) -> Option<Vec<Vec<usize>>> {
        Some(vec![])
    }
    fn forward(&self, x: &Tree, _ps: &Tree, st: &Tree) -> Result<(Tree, Tree)> {
        let y = match x {
            Tree::Seq(xs) => self.call(xs)?,
            other => self.call(std::slice::from_ref(other))?,
        };
        Ok((y, st.clone()))
    }
    fn display_name(&self) -> String {
        self.name.clone()
    }
    fn describe(&self) -> String {
        self.name.clone()
    }
}

/// How a container combines its outputs: a [`Func`] (no parameters, not
/// in the parameter tree) or a layer (with its own parameters and state,
/// under the key `connection`, or `fusion` for [`BranchLayer`]), which
/// receives the outputs as a tuple ([`Tree::Seq`]).
///
/// ```
/// use lux_layers::{Connection, Func, NoOpLayer};
/// let f: Connection = Func::add().into();
/// assert!(matches!(f, Connection::Func(_)));
/// assert!(matches!(Connection::layer(NoOpLayer), Connection::Layer(_)));
/// ```
pub enum Connection {
    /// A function of the outputs.
    Func(Func),
    /// A layer applied to the tuple of outputs.
    Layer(Box<dyn Layer>),
}

impl Connection {
    /// A layer as the connection.
    ///
    /// ```
    /// let c = lux_layers::Connection::layer(lux_layers::NoOpLayer);
    /// assert_eq!(c.as_layer().describe(), "NoOpLayer()");
    /// ```
    pub fn layer(layer: impl Layer + 'static) -> Connection {
        Connection::Layer(Box::new(layer))
    }

    /// The connection as a layer (a [`Func`] is a layer too).
    ///
    /// ```
    /// assert_eq!(lux_layers::Connection::from(lux_layers::Func::vcat()).as_layer().describe(), "vcat");
    /// ```
    pub fn as_layer(&self) -> &dyn Layer {
        match self {
            Connection::Func(f) => f,
            Connection::Layer(l) => &**l,
        }
    }
}

impl From<Func> for Connection {
    fn from(f: Func) -> Self {
        Connection::Func(f)
    }
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Connection::Func(func) => write!(f, "Connection::Func({})", func.name),
            Connection::Layer(l) => write!(f, "Connection::Layer({})", l.describe()),
        }
    }
}

// ----- Chain -------------------------------------------------------------------------

/// Layers applied in sequence (Lux's `Chain`): `y = layer_n(…layer_1(x))`,
/// each with its own parameters and state under its name (`layer_1`, …,
/// or given names).
///
/// * From a tuple (typed, no boxing): `Chain::new((a, b, c))`; from a
///   `Vec<Box<dyn Layer>>` (built at run time): `Chain::new(vec)`; with
///   names: [`Chain::named`] or [`with_names`](Chain::with_names).
/// * [`len`](Chain::len), [`get`](Chain::get) (Lux's `c[i]`, 0-based),
///   [`get_named`](Chain::get_named) (Lux's `c.layer_1` / `c.encoder`),
///   [`layers`](Chain::layers) for the typed tuple.
/// * An empty chain is the identity with empty parameters (Lux's `Chain()`
///   holds one `NoOpLayer` instead).
///
/// ```
/// use lux_core::*;
/// use lux_layers::*;
/// use lux_ops::Activation;
/// let model = Chain::new((ReshapeLayer::new(vec![2, 2])?, FlattenLayer::new(), Activation::Relu))?;
/// assert_eq!(model.len(), 3);
/// assert_eq!(model.get(2).unwrap().describe(), "WrappedFunction(relu)");
/// let (ps, st) = setup(&mut RngState::seed_from_u64(0), &model)?;
/// assert_eq!(st, tree! { layer_1: Tree::new(), layer_2: Tree::new(), layer_3: Tree::new() });
/// let x = Tensor::from_vec(vec![1.0f32, -2.0, 3.0, -4.0], &[1, 4])?;
/// let (y, _) = apply_tensor(&model, &x, &ps, &st)?;
/// assert_eq!(y.to_vec::<f32>()?, vec![1.0, 0.0, 3.0, 0.0]);
///
/// // Built at run time, with names.
/// let dynamic = Chain::named([
///     ("enc", Box::new(Activation::Tanh) as Box<dyn Layer>),
///     ("dec", Box::new(NoOpLayer)),
/// ])?;
/// assert_eq!(setup(&mut RngState::seed_from_u64(0), &dynamic)?.0, tree! { enc: Tree::new(), dec: Tree::new() });
/// assert_eq!(display_model(&dynamic), "\
/// Chain(
///     enc = WrappedFunction(tanh),
///     dec = NoOpLayer(),
/// )         # Total: 0 parameters,\n          #        plus 0 states.");
/// # Ok::<(), lux_core::LuxError>(())
/// ```
pub struct Chain<T> {
    group: Group<T>,
    name: Option<String>,
}

impl<T: LayerList> Chain<T> {
    /// The chain of `layers`, named `layer_1 … layer_n`.
    ///
    /// ```
    /// let c = lux_layers::Chain::new((lux_layers::NoOpLayer, lux_layers::NoOpLayer))?;
    /// assert_eq!(c.names(), ["layer_1", "layer_2"]);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// None for a list of layers; a `Result` for the constructors' common
    /// form.
    pub fn new(layers: T) -> Result<Chain<T>> {
        Ok(Chain { group: Group::new(layers), name: None })
    }

    /// The same chain with its layers named `names` (Lux's keyword form
    /// `Chain(; encoder, decoder)`).
    ///
    /// ```
    /// use lux_layers::{Chain, NoOpLayer};
    /// let c = Chain::new((NoOpLayer, NoOpLayer))?.with_names(["encoder", "decoder"])?;
    /// assert_eq!(c.names(), ["encoder", "decoder"]);
    /// assert!(Chain::new((NoOpLayer, NoOpLayer))?.with_names(["a", "a"]).is_err());
    /// assert!(Chain::new((NoOpLayer,))?.with_names(["a", "b"]).is_err());
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// Not one name per layer, a repeated or empty name, or a name with `.`.
    pub fn with_names(mut self, names: impl IntoIterator<Item = impl Into<String>>) -> Result<Chain<T>> {
        self.group.rename("Chain", names.into_iter().map(Into::into).collect())?;
        Ok(self)
    }

    /// The same chain, printed as `name(` … `)` instead of `Chain(`
    /// (Lux's `name` keyword).
    ///
    /// ```
    /// use lux_core::Layer;
    /// let c = lux_layers::Chain::new((lux_layers::NoOpLayer,))?.with_display_name("Encoder");
    /// assert_eq!(c.display_name(), "Encoder");
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn with_display_name(mut self, name: impl Into<String>) -> Chain<T> {
        self.name = Some(name.into());
        self
    }

    /// The number of layers (Lux's `length(c)`).
    ///
    /// ```
    /// assert_eq!(lux_layers::Chain::new(Vec::<lux_layers::NoOpLayer>::new())?.len(), 0);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn len(&self) -> usize {
        self.group.layers.len()
    }

    /// Whether the chain has no layers.
    ///
    /// ```
    /// assert!(!lux_layers::Chain::new((lux_layers::NoOpLayer,))?.is_empty());
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Layer `i`, 0-based (Lux's `c[i + 1]`).
    ///
    /// ```
    /// let c = lux_layers::Chain::new((lux_layers::NoOpLayer, lux_ops::Activation::Relu))?;
    /// assert_eq!(c.get(1).unwrap().describe(), "WrappedFunction(relu)");
    /// assert!(c.get(2).is_none());
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn get(&self, i: usize) -> Option<&dyn Layer> {
        self.group.layers.layer(i)
    }

    /// The layer called `name` (Lux's `c.layer_1`, `c.encoder`).
    ///
    /// ```
    /// let c = lux_layers::Chain::new((lux_layers::NoOpLayer, lux_ops::Activation::Relu))?;
    /// assert_eq!(c.get_named("layer_2").unwrap().describe(), "WrappedFunction(relu)");
    /// assert!(c.get_named("encoder").is_none());
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn get_named(&self, name: &str) -> Option<&dyn Layer> {
        self.group.get_named(name)
    }

    /// The layers' names, in order.
    ///
    /// ```
    /// assert_eq!(lux_layers::Chain::new((lux_layers::NoOpLayer,))?.names(), ["layer_1"]);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn names(&self) -> &[String] {
        &self.group.names
    }

    /// The layers as given (e.g. the typed tuple).
    ///
    /// ```
    /// use lux_layers::{Chain, ReshapeLayer, NoOpLayer};
    /// let c = Chain::new((ReshapeLayer::new(vec![4])?, NoOpLayer))?;
    /// assert_eq!(c.layers().0.dims(), &[4]);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn layers(&self) -> &T {
        &self.group.layers
    }
}

impl<L: Layer> Chain<Vec<L>> {
    /// A chain of named layers (Lux's `Chain(; name_1 = l1, …)`), e.g. of
    /// `Box<dyn Layer>`s built at run time.
    ///
    /// ```
    /// use lux_layers::{Chain, NoOpLayer};
    /// let c = Chain::named([("a", NoOpLayer), ("b", NoOpLayer)])?;
    /// assert_eq!(c.names(), ["a", "b"]);
    /// assert!(Chain::named([("a.b", NoOpLayer)]).is_err());
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// A repeated or empty name, or a name with `.`.
    pub fn named(layers: impl IntoIterator<Item = (impl Into<String>, L)>) -> Result<Chain<Vec<L>>> {
        let (names, layers): (Vec<String>, Vec<L>) = layers.into_iter().map(|(n, l)| (n.into(), l)).unzip();
        Chain::new(layers)?.with_names(names)
    }
}

impl<T: LayerList> Layer for Chain<T> {
    fn forward(&self, x: &Tree, ps: &Tree, st: &Tree) -> Result<(Tree, Tree)> {
        let mut h = Cow::Borrowed(x);
        let mut sts = Vec::with_capacity(self.len());
        for (name, layer) in self.group.iter() {
            let (y, s) = forward_child(name, layer, &h, ps, st)?;
            sts.push((name.to_string(), s));
            h = Cow::Owned(y);
        }
        Ok((h.into_owned(), Tree::Map(sts)))
    }
    fn children(&self) -> Children<'_> {
        Children::Named(self.group.named_children())
    }
    fn display_name(&self) -> String {
        self.name.clone().unwrap_or_else(|| "Chain".into())
    }
}

// ----- SkipConnection ----------------------------------------------------------------

/// `connection(layer(x), x)` (Lux's `SkipConnection(layer, connection)`);
/// `SkipConnection::new(layer, Func::add())` is a residual block.
///
/// * With a [`Func`] connection it is a wrapper: its parameters and state
///   are the layer's, un-nested.
/// * With a layer connection (applied to the tuple `(layer(x), x)`), they
///   are `{layers: …, connection: …}`, as in Lux.
/// * Prints its connection first, then the layer, as Lux does.
///
/// ```
/// use lux_core::*;
/// use lux_layers::*;
/// use lux_ops::Activation;
/// let res = SkipConnection::new(Activation::Relu, Func::add())?;
/// let (ps, st) = setup(&mut RngState::seed_from_u64(0), &res)?;
/// let x = Tensor::from_vec(vec![-1.0f32, 2.0], &[1, 2])?;
/// let (y, _) = apply_tensor(&res, &x, &ps, &st)?;
/// assert_eq!(y.to_vec::<f32>()?, vec![-1.0, 4.0]); // relu(x) + x
/// assert_eq!(display_model(&res), "\
/// SkipConnection(
///     connection = +,
///     layers = WrappedFunction(relu),
/// )         # Total: 0 parameters,\n          #        plus 0 states.");
/// # Ok::<(), lux_core::LuxError>(())
/// ```
pub struct SkipConnection<L> {
    layers: L,
    connection: Connection,
    name: Option<String>,
}

impl<L: Layer> SkipConnection<L> {
    /// `SkipConnection(layer, connection)`.
    ///
    /// ```
    /// use lux_layers::{Connection, Func, NoOpLayer, SkipConnection};
    /// let by_fn = SkipConnection::new(NoOpLayer, Func::vcat())?;
    /// let by_layer = SkipConnection::new(NoOpLayer, Connection::layer(Func::add()))?;
    /// assert_eq!(by_fn.layer().describe(), "NoOpLayer()");
    /// # use lux_core::Layer;
    /// # let _ = by_layer;
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// None today; a `Result` for the constructors' common form.
    pub fn new(layer: L, connection: impl Into<Connection>) -> Result<SkipConnection<L>> {
        Ok(SkipConnection { layers: layer, connection: connection.into(), name: None })
    }

    /// Prints as `name(` instead of `SkipConnection(`.
    ///
    /// ```
    /// use lux_core::Layer;
    /// let s = lux_layers::SkipConnection::new(lux_layers::NoOpLayer, lux_layers::Func::add())?.with_display_name("Residual");
    /// assert_eq!(s.display_name(), "Residual");
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn with_display_name(mut self, name: impl Into<String>) -> SkipConnection<L> {
        self.name = Some(name.into());
        self
    }

    /// The layer on the main path.
    ///
    /// ```
    /// let s = lux_layers::SkipConnection::new(lux_layers::NoOpLayer, lux_layers::Func::add())?;
    /// assert_eq!(*s.layer(), lux_layers::NoOpLayer);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn layer(&self) -> &L {
        &self.layers
    }

    /// The connection.
    ///
    /// ```
    /// let s = lux_layers::SkipConnection::new(lux_layers::NoOpLayer, lux_layers::Func::add())?;
    /// assert_eq!(s.connection().as_layer().describe(), "+");
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn connection(&self) -> &Connection {
        &self.connection
    }
}

impl<L: Layer> Layer for SkipConnection<L> {
    fn forward(&self, x: &Tree, ps: &Tree, st: &Tree) -> Result<(Tree, Tree)> {
        match &self.connection {
            Connection::Func(f) => {
                let (mx, st) = self.layers.forward(x, ps, st)?;
                Ok((f.call(&[mx, x.clone()]).map_err(|e| nest("connection", e))?, st))
            }
            Connection::Layer(c) => {
                let (mx, st1) = forward_child("layers", &self.layers, x, ps, st)?;
                let (y, st2) = forward_child("connection", &**c, &Tree::Seq(vec![mx, x.clone()]), ps, st)?;
                Ok((y, Tree::Map(vec![("layers".into(), st1), ("connection".into(), st2)])))
            }
        }
    }
    fn children(&self) -> Children<'_> {
        match &self.connection {
            Connection::Func(_) => Children::Wrapped(&self.layers),
            Connection::Layer(c) => {
                Children::Named(vec![("layers".into(), &self.layers as &dyn Layer), ("connection".into(), &**c)])
            }
        }
    }
    fn printable_children(&self) -> Option<Vec<(String, &dyn Layer)>> {
        Some(vec![("connection".into(), self.connection.as_layer()), ("layers".into(), &self.layers as &dyn Layer)])
    }
    fn display_name(&self) -> String {
        self.name.clone().unwrap_or_else(|| "SkipConnection".into())
    }
}

// ----- Parallel ----------------------------------------------------------------------

/// Runs each layer on the input, or on its own entry of a tuple input,
/// and combines the outputs (Lux's `Parallel(connection, layers…)`):
/// `connection(layer_1(x), …, layer_n(x))`, or with a tuple input
/// `connection(layer_1(x_1), …, layer_n(x_n))`.
///
/// * [`Parallel::tuple`] (Lux's `connection = nothing`) returns the tuple
///   of outputs ([`Tree::Seq`]).
/// * Parameters/state: `{layer_1, …}` (or given names); with a layer
///   connection `{layers: {layer_1, …}, connection: …}`, as Lux.
/// * A tuple input must have one entry per layer.
///
/// ```
/// use lux_core::*;
/// use lux_layers::*;
/// use lux_ops::Activation;
/// let par = Parallel::new(Func::vcat(), (Activation::Relu, NoOpLayer))?;
/// let (ps, st) = setup(&mut RngState::seed_from_u64(0), &par)?;
/// let x = Tensor::from_vec(vec![-1.0f32, 2.0], &[1, 2])?;
/// let (y, _) = apply_tensor(&par, &x, &ps, &st)?;
/// assert_eq!(y.to_vec::<f32>()?, vec![0.0, 2.0, -1.0, 2.0]);
/// // One input per branch, outputs as a tuple.
/// let pair = Parallel::tuple((Activation::Relu, NoOpLayer))?;
/// let x2 = Tensor::from_vec(vec![5.0f32], &[1, 1])?;
/// let (y, _) = apply(&pair, Tree::seq([&x, &x2]), &ps, &st)?;
/// assert_eq!(y.as_seq()?[1].as_tensor()?.to_vec::<f32>()?, vec![5.0]);
/// # Ok::<(), lux_core::LuxError>(())
/// ```
pub struct Parallel<T> {
    connection: Option<Connection>,
    group: Group<T>,
    name: Option<String>,
}

impl<T: LayerList> Parallel<T> {
    /// `Parallel(connection, layers…)`.
    ///
    /// ```
    /// let p = lux_layers::Parallel::new(lux_layers::Func::add(), (lux_layers::NoOpLayer, lux_layers::NoOpLayer))?;
    /// assert_eq!(p.len(), 2);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// No layers.
    pub fn new(connection: impl Into<Connection>, layers: T) -> Result<Parallel<T>> {
        Self::build(Some(connection.into()), layers)
    }

    /// `Parallel(nothing, layers…)`: the output is the tuple of the layers'
    /// outputs.
    ///
    /// ```
    /// assert!(lux_layers::Parallel::tuple(Vec::<lux_layers::NoOpLayer>::new()).is_err());
    /// ```
    ///
    /// # Errors
    /// No layers.
    pub fn tuple(layers: T) -> Result<Parallel<T>> {
        Self::build(None, layers)
    }

    fn build(connection: Option<Connection>, layers: T) -> Result<Parallel<T>> {
        if layers.is_empty() {
            return Err(LuxError::invalid_argument("Parallel", "needs at least one layer"));
        }
        Ok(Parallel { connection, group: Group::new(layers), name: None })
    }

    /// The same layer with its branches named `names`.
    ///
    /// ```
    /// let p = lux_layers::Parallel::tuple((lux_layers::NoOpLayer, lux_layers::NoOpLayer))?.with_names(["a", "b"])?;
    /// assert_eq!(p.names(), ["a", "b"]);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// As [`Chain::with_names`].
    pub fn with_names(mut self, names: impl IntoIterator<Item = impl Into<String>>) -> Result<Parallel<T>> {
        self.group.rename("Parallel", names.into_iter().map(Into::into).collect())?;
        Ok(self)
    }

    /// Prints as `name(` instead of `Parallel(`.
    ///
    /// ```
    /// use lux_core::Layer;
    /// let p = lux_layers::Parallel::tuple((lux_layers::NoOpLayer,))?.with_display_name("Heads");
    /// assert_eq!(p.display_name(), "Heads");
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn with_display_name(mut self, name: impl Into<String>) -> Parallel<T> {
        self.name = Some(name.into());
        self
    }

    /// The number of branches.
    ///
    /// ```
    /// assert_eq!(lux_layers::Parallel::tuple((lux_layers::NoOpLayer,))?.len(), 1);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn len(&self) -> usize {
        self.group.layers.len()
    }

    /// Always `false`: a `Parallel` has at least one branch.
    ///
    /// ```
    /// assert!(!lux_layers::Parallel::tuple((lux_layers::NoOpLayer,))?.is_empty());
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The branches' names.
    ///
    /// ```
    /// assert_eq!(lux_layers::Parallel::tuple((lux_layers::NoOpLayer,))?.names(), ["layer_1"]);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn names(&self) -> &[String] {
        &self.group.names
    }

    /// Branch `i` (0-based).
    ///
    /// ```
    /// assert!(lux_layers::Parallel::tuple((lux_layers::NoOpLayer,))?.get(0).is_some());
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn get(&self, i: usize) -> Option<&dyn Layer> {
        self.group.layers.layer(i)
    }
}

impl<T: LayerList> Layer for Parallel<T> {
    fn forward(&self, x: &Tree, ps: &Tree, st: &Tree) -> Result<(Tree, Tree)> {
        let split = matches!(x, Tree::Seq(_));
        let op = || self.display_name();
        match &self.connection {
            Some(Connection::Layer(c)) => {
                let (ys, st_layers) = self
                    .group
                    .fan_out(op, x, split, ps.get("layers")?, st.get("layers")?)
                    .map_err(|e| nest("layers", e))?;
                let (y, st_c) = forward_child("connection", &**c, &Tree::Seq(ys), ps, st)?;
                Ok((y, Tree::Map(vec![("layers".into(), st_layers), ("connection".into(), st_c)])))
            }
            Some(Connection::Func(f)) => {
                let (ys, st) = self.group.fan_out(op, x, split, ps, st)?;
                Ok((f.call(&ys).map_err(|e| nest("connection", e))?, st))
            }
            None => {
                let (ys, st) = self.group.fan_out(op, x, split, ps, st)?;
                Ok((Tree::Seq(ys), st))
            }
        }
    }
    fn children(&self) -> Children<'_> {
        match &self.connection {
            Some(Connection::Layer(c)) => {
                Children::Named(vec![("layers".into(), &self.group as &dyn Layer), ("connection".into(), &**c)])
            }
            _ => Children::Named(self.group.named_children()),
        }
    }
    fn printable_children(&self) -> Option<Vec<(String, &dyn Layer)>> {
        let mut out = Vec::with_capacity(self.len() + 1);
        if let Some(c) = &self.connection {
            out.push(("connection".to_string(), c.as_layer()));
        }
        out.extend(self.group.named_children());
        Some(out)
    }
    fn display_name(&self) -> String {
        self.name.clone().unwrap_or_else(|| "Parallel".into())
    }
}

// ----- BranchLayer -------------------------------------------------------------------

/// Runs every layer on the same input (Lux's `BranchLayer(layers…;
/// fusion)`): the tuple `(layer_1(x), …, layer_n(x))`, or
/// `fusion(layer_1(x), …)` with a fusion.
///
/// * Parameters/state: `{layer_1, …}`; with a layer fusion
///   `{layers: {…}, fusion: …}`, as Lux. Prints the layers, then the fusion.
/// * Unlike [`Parallel`], a tuple input is passed whole to every layer.
///
/// ```
/// use lux_core::*;
/// use lux_layers::*;
/// use lux_ops::Activation;
/// let branch = BranchLayer::new((Activation::Relu, NoOpLayer))?;
/// let (ps, st) = setup(&mut RngState::seed_from_u64(0), &branch)?;
/// let x = Tensor::from_vec(vec![-1.0f32, 2.0], &[1, 2])?;
/// let (y, _) = apply(&branch, &x, &ps, &st)?;
/// assert_eq!(y.as_seq()?.len(), 2);
/// let fused = BranchLayer::new((Activation::Relu, NoOpLayer))?.with_fusion(Func::add());
/// let (y, _) = apply_tensor(&fused, &x, &ps, &st)?;
/// assert_eq!(y.to_vec::<f32>()?, vec![-1.0, 4.0]); // relu(x) + x
/// # Ok::<(), lux_core::LuxError>(())
/// ```
pub struct BranchLayer<T> {
    group: Group<T>,
    fusion: Option<Connection>,
    name: Option<String>,
}

impl<T: LayerList> BranchLayer<T> {
    /// `BranchLayer(layers…)` (no fusion: the output is a tuple).
    ///
    /// ```
    /// assert!(lux_layers::BranchLayer::new(Vec::<lux_layers::NoOpLayer>::new()).is_err());
    /// ```
    ///
    /// # Errors
    /// No layers.
    pub fn new(layers: T) -> Result<BranchLayer<T>> {
        if layers.is_empty() {
            return Err(LuxError::invalid_argument("BranchLayer", "needs at least one layer"));
        }
        Ok(BranchLayer { group: Group::new(layers), fusion: None, name: None })
    }

    /// The same layer, with the outputs combined by `fusion`.
    ///
    /// ```
    /// use lux_layers::{BranchLayer, Connection, NoOpLayer};
    /// let b = BranchLayer::new((NoOpLayer, NoOpLayer))?.with_fusion(Connection::layer(NoOpLayer));
    /// # let _ = b;
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn with_fusion(mut self, fusion: impl Into<Connection>) -> BranchLayer<T> {
        self.fusion = Some(fusion.into());
        self
    }

    /// The same layer with its branches named `names`.
    ///
    /// ```
    /// let b = lux_layers::BranchLayer::new((lux_layers::NoOpLayer,))?.with_names(["only"])?;
    /// # let _ = b;
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// As [`Chain::with_names`].
    pub fn with_names(mut self, names: impl IntoIterator<Item = impl Into<String>>) -> Result<BranchLayer<T>> {
        self.group.rename("BranchLayer", names.into_iter().map(Into::into).collect())?;
        Ok(self)
    }

    /// Prints as `name(` instead of `BranchLayer(`.
    ///
    /// ```
    /// use lux_core::Layer;
    /// let b = lux_layers::BranchLayer::new((lux_layers::NoOpLayer,))?.with_display_name("Heads");
    /// assert_eq!(b.display_name(), "Heads");
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn with_display_name(mut self, name: impl Into<String>) -> BranchLayer<T> {
        self.name = Some(name.into());
        self
    }
}

impl<T: LayerList> Layer for BranchLayer<T> {
    fn forward(&self, x: &Tree, ps: &Tree, st: &Tree) -> Result<(Tree, Tree)> {
        let op = || self.display_name();
        match &self.fusion {
            Some(Connection::Layer(c)) => {
                let (ys, st_layers) = self
                    .group
                    .fan_out(op, x, false, ps.get("layers")?, st.get("layers")?)
                    .map_err(|e| nest("layers", e))?;
                let (y, st_f) = forward_child("fusion", &**c, &Tree::Seq(ys), ps, st)?;
                Ok((y, Tree::Map(vec![("layers".into(), st_layers), ("fusion".into(), st_f)])))
            }
            Some(Connection::Func(f)) => {
                let (ys, st) = self.group.fan_out(op, x, false, ps, st)?;
                Ok((f.call(&ys).map_err(|e| nest("fusion", e))?, st))
            }
            None => {
                let (ys, st) = self.group.fan_out(op, x, false, ps, st)?;
                Ok((Tree::Seq(ys), st))
            }
        }
    }
    fn children(&self) -> Children<'_> {
        match &self.fusion {
            Some(Connection::Layer(c)) => {
                Children::Named(vec![("layers".into(), &self.group as &dyn Layer), ("fusion".into(), &**c)])
            }
            _ => Children::Named(self.group.named_children()),
        }
    }
    fn printable_children(&self) -> Option<Vec<(String, &dyn Layer)>> {
        let mut out = self.group.named_children();
        if let Some(f) = &self.fusion {
            out.push(("fusion".to_string(), f.as_layer()));
        }
        Some(out)
    }
    fn display_name(&self) -> String {
        self.name.clone().unwrap_or_else(|| "BranchLayer".into())
    }
}

// ----- PairwiseFusion ----------------------------------------------------------------

/// Layers interleaved with a connection (Lux's `PairwiseFusion(connection,
/// layers…)`): with a tuple input `(x_1, …, x_{n+1})`,
/// `y = x_1; y = connection(layer_i(y), x_{i+1})` for `i = 1…n`; with any
/// other input `x`, `y = x; y = connection(layer_i(y), x)`.
///
/// ```text
/// x1 → layer1 → y1 ↘
///                   connection → layer2 → y2 ↘
///               x2 ↗                          connection → y
///                                         x3 ↗
/// ```
///
/// * Parameters/state: `{layer_1, …}` (or given names). Prints the
///   connection, then the layers.
///
/// ```
/// use lux_core::*;
/// use lux_layers::*;
/// use lux_ops::Activation;
/// let fuse = PairwiseFusion::new(Func::add(), (Activation::Relu, NoOpLayer))?;
/// let (ps, st) = setup(&mut RngState::seed_from_u64(0), &fuse)?;
/// let t = |v: f32| Tensor::from_vec(vec![v], &[1, 1]).unwrap();
/// // y1 = relu(-3) + 1 = 1; y = y1 + 10 = 11
/// let (y, _) = apply_tensor(&fuse, Tree::seq([t(-3.0), t(1.0), t(10.0)]), &ps, &st)?;
/// assert_eq!(y.to_vec::<f32>()?, vec![11.0]);
/// # Ok::<(), lux_core::LuxError>(())
/// ```
pub struct PairwiseFusion<T> {
    connection: Func,
    group: Group<T>,
    name: Option<String>,
}

impl<T: LayerList> PairwiseFusion<T> {
    /// `PairwiseFusion(connection, layers…)`.
    ///
    /// ```
    /// assert!(lux_layers::PairwiseFusion::new(lux_layers::Func::add(), Vec::<lux_layers::NoOpLayer>::new()).is_err());
    /// ```
    ///
    /// # Errors
    /// No layers.
    pub fn new(connection: Func, layers: T) -> Result<PairwiseFusion<T>> {
        if layers.is_empty() {
            return Err(LuxError::invalid_argument("PairwiseFusion", "needs at least one layer"));
        }
        Ok(PairwiseFusion { connection, group: Group::new(layers), name: None })
    }

    /// The same layer with its layers named `names`.
    ///
    /// ```
    /// let p = lux_layers::PairwiseFusion::new(lux_layers::Func::add(), (lux_layers::NoOpLayer,))?.with_names(["a"])?;
    /// # let _ = p;
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// As [`Chain::with_names`].
    pub fn with_names(mut self, names: impl IntoIterator<Item = impl Into<String>>) -> Result<PairwiseFusion<T>> {
        self.group.rename("PairwiseFusion", names.into_iter().map(Into::into).collect())?;
        Ok(self)
    }

    /// Prints as `name(` instead of `PairwiseFusion(`.
    ///
    /// ```
    /// use lux_core::Layer;
    /// let p = lux_layers::PairwiseFusion::new(lux_layers::Func::add(), (lux_layers::NoOpLayer,))?.with_display_name("F");
    /// assert_eq!(p.display_name(), "F");
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn with_display_name(mut self, name: impl Into<String>) -> PairwiseFusion<T> {
        self.name = Some(name.into());
        self
    }
}

impl<T: LayerList> Layer for PairwiseFusion<T> {
    fn forward(&self, x: &Tree, ps: &Tree, st: &Tree) -> Result<(Tree, Tree)> {
        let n = self.group.layers.len();
        let inputs = match x {
            Tree::Seq(xs) if xs.len() == n + 1 => Some(xs.as_slice()),
            Tree::Seq(xs) => {
                return Err(LuxError::invalid_argument(
                    &self.display_name(),
                    format!(
                        "the input is a tuple of {} entries, expected {} (one more than the layers)",
                        xs.len(),
                        n + 1
                    ),
                ));
            }
            _ => None,
        };
        let mut y = match inputs {
            Some(xs) => xs[0].clone(),
            None => x.clone(),
        };
        let mut sts = Vec::with_capacity(n);
        for (i, (name, layer)) in self.group.iter().enumerate() {
            let (yi, s) = forward_child(name, layer, &y, ps, st)?;
            sts.push((name.to_string(), s));
            let other = match inputs {
                Some(xs) => xs[i + 1].clone(),
                None => x.clone(),
            };
            y = self.connection.call(&[yi, other]).map_err(|e| nest("connection", e))?;
        }
        Ok((y, Tree::Map(sts)))
    }
    fn children(&self) -> Children<'_> {
        Children::Named(self.group.named_children())
    }
    fn printable_children(&self) -> Option<Vec<(String, &dyn Layer)>> {
        let mut out = vec![("connection".to_string(), &self.connection as &dyn Layer)];
        out.extend(self.group.named_children());
        Some(out)
    }
    fn display_name(&self) -> String {
        self.name.clone().unwrap_or_else(|| "PairwiseFusion".into())
    }
}

// ----- RepeatedLayer -----------------------------------------------------------------

/// Applies one layer `repeats` times, with the same parameters, threading
/// its state (Lux's `RepeatedLayer(model; repeats, input_injection)`):
/// `res = x; repeat { (res, st) = model(res, ps, st) }`, or with input
/// injection `(res, st) = model((res, x), ps, st)`.
///
/// * A wrapper: its parameters and state are the model's, un-nested.
/// * Defaults (Lux's): 10 repeats, no input injection. Prints as
///   `RepeatedLayer{nrepeats = 10, input_injection = false}(` with the
///   model under `model`.
/// * See the module docs for the one departure from Lux's code.
///
/// ```
/// use lux_core::*;
/// use lux_layers::*;
/// let double = WrappedFunction::new("double", |x: &Tree| Ok(x.as_tensor()?.mul_scalar(2.0)?.into()))?;
/// let rep = RepeatedLayer::builder(double).repeats(3).build()?;
/// let (ps, st) = setup(&mut RngState::seed_from_u64(0), &rep)?;
/// let (y, _) = apply_tensor(&rep, Tensor::from_vec(vec![1.0f32], &[1, 1])?, &ps, &st)?;
/// assert_eq!(y.to_vec::<f32>()?, vec![8.0]); // 2·2·2·1
/// assert_eq!(rep.display_name(), "RepeatedLayer{nrepeats = 3, input_injection = false}");
/// # Ok::<(), lux_core::LuxError>(())
/// ```
pub struct RepeatedLayer<L> {
    model: L,
    repeats: usize,
    input_injection: bool,
}

/// The options of a [`RepeatedLayer`] (from [`RepeatedLayer::builder`]).
pub struct RepeatedLayerBuilder<L> {
    model: L,
    repeats: usize,
    input_injection: bool,
}

impl<L: Layer> RepeatedLayerBuilder<L> {
    /// How many times the model is applied (default 10).
    ///
    /// ```
    /// let r = lux_layers::RepeatedLayer::builder(lux_layers::NoOpLayer).repeats(2).build()?;
    /// assert_eq!(r.repeats(), 2);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn repeats(mut self, repeats: usize) -> Self {
        self.repeats = repeats;
        self
    }

    /// Whether each repetition gets `(res, x)` instead of `res` (default
    /// `false`).
    ///
    /// ```
    /// let r = lux_layers::RepeatedLayer::builder(lux_layers::NoOpLayer).input_injection(true).build()?;
    /// assert!(r.input_injection());
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn input_injection(mut self, input_injection: bool) -> Self {
        self.input_injection = input_injection;
        self
    }

    /// The layer.
    ///
    /// ```
    /// assert!(lux_layers::RepeatedLayer::builder(lux_layers::NoOpLayer).repeats(0).build().is_err());
    /// ```
    ///
    /// # Errors
    /// `repeats == 0`.
    pub fn build(self) -> Result<RepeatedLayer<L>> {
        if self.repeats == 0 {
            return Err(LuxError::invalid_argument("RepeatedLayer", "repeats must be at least 1"));
        }
        Ok(RepeatedLayer { model: self.model, repeats: self.repeats, input_injection: self.input_injection })
    }
}

impl<L: Layer> RepeatedLayer<L> {
    /// `RepeatedLayer(model)` with Lux's defaults (10 repeats, no input
    /// injection).
    ///
    /// ```
    /// assert_eq!(lux_layers::RepeatedLayer::new(lux_layers::NoOpLayer)?.repeats(), 10);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// None with the defaults; a `Result` for the constructors' common form.
    pub fn new(model: L) -> Result<RepeatedLayer<L>> {
        Self::builder(model).build()
    }

    /// The options, to set [`repeats`](RepeatedLayerBuilder::repeats) and
    /// [`input_injection`](RepeatedLayerBuilder::input_injection).
    ///
    /// ```
    /// let r = lux_layers::RepeatedLayer::builder(lux_layers::NoOpLayer).repeats(4).input_injection(true).build()?;
    /// assert_eq!((r.repeats(), r.input_injection()), (4, true));
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn builder(model: L) -> RepeatedLayerBuilder<L> {
        RepeatedLayerBuilder { model, repeats: 10, input_injection: false }
    }

    /// The number of repetitions.
    ///
    /// ```
    /// assert_eq!(lux_layers::RepeatedLayer::new(lux_layers::NoOpLayer)?.repeats(), 10);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn repeats(&self) -> usize {
        self.repeats
    }

    /// Whether the input is injected into every repetition.
    ///
    /// ```
    /// assert!(!lux_layers::RepeatedLayer::new(lux_layers::NoOpLayer)?.input_injection());
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn input_injection(&self) -> bool {
        self.input_injection
    }

    /// The repeated model.
    ///
    /// ```
    /// assert_eq!(*lux_layers::RepeatedLayer::new(lux_layers::NoOpLayer)?.model(), lux_layers::NoOpLayer);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn model(&self) -> &L {
        &self.model
    }
}

impl<L: Layer> Layer for RepeatedLayer<L> {
    fn forward(&self, x: &Tree, ps: &Tree, st: &Tree) -> Result<(Tree, Tree)> {
        let mut res = Cow::Borrowed(x);
        let mut st = Cow::Borrowed(st);
        for _ in 0..self.repeats {
            let (y, s) = if self.input_injection {
                self.model.forward(&Tree::Seq(vec![res.into_owned(), x.clone()]), ps, &st)?
            } else {
                self.model.forward(&res, ps, &st)?
            };
            res = Cow::Owned(y);
            st = Cow::Owned(s);
        }
        Ok((res.into_owned(), st.into_owned()))
    }
    fn children(&self) -> Children<'_> {
        Children::Wrapped(&self.model)
    }
    fn printable_children(&self) -> Option<Vec<(String, &dyn Layer)>> {
        Some(vec![("model".into(), &self.model as &dyn Layer)])
    }
    fn display_name(&self) -> String {
        format!("RepeatedLayer{{nrepeats = {}, input_injection = {}}}", self.repeats, self.input_injection)
    }
}
