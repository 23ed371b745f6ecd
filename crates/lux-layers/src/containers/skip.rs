//! [`SkipConnection`]: a layer and its input, combined.

use super::*;

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
