//! [`PairwiseFusion`]: each layer takes the previous output fused with the next input.

use super::*;

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
