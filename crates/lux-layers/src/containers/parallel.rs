//! [`Parallel`] and [`BranchLayer`]: several layers on one or several inputs, combined.

use super::*;

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
