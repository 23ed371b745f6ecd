//! [`Chain`]: layers applied in sequence.

use super::*;

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
