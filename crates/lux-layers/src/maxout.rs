//! [`Maxout`]: the elementwise maximum over several layers applied to the
//! same input (Lux's `Maxout` in `src/layers/containers.jl`).

use lux_core::{Children, Layer, LuxError, Result, Tensor, Tree, forward_child};
use std::fmt;

/// Runs each of its layers on the same input and returns the elementwise
/// maximum of their outputs (Lux's `Maxout(layers...)`,
/// Goodfellow et al. 2013): `y = max(f₁(x), f₂(x), …, fₙ(x))`.
///
/// * Parameters and state: the children's, nested under their names
///   (`layer_1`, `layer_2`, … or the names given to [`Maxout::named`]),
///   as Lux's `ps.layer_1`…
/// * Input: whatever the children take; their outputs must be tensors whose
///   shapes broadcast together (normally all the same). Output: the maximum,
///   broadcast.
/// * Gradient: flows to the child with the largest output at each element;
///   ties split it evenly (so equal branches each get their share).
///
/// ```
/// use lux_core::*;
/// use lux_layers::{Dense, Maxout};
/// use lux_ops::Activation;
/// let model = Maxout::repeat(Dense::new(2, 4, Activation::Identity)?, 3)?;
/// let (ps, st) = setup(&mut RngState::seed_from_u64(0), &model)?;
/// assert_eq!(ps.keys().collect::<Vec<_>>(), vec!["layer_1", "layer_2", "layer_3"]);
/// assert_eq!(model.param_count(), 3 * 12);
/// let x = Tensor::ones(&[5, 2], DType::F32)?;
/// let (y, _) = apply_tensor(&model, &x, &ps, &st)?;
/// assert_eq!(y.shape(), &[5, 4]);
/// // each element is the largest of the three Dense outputs
/// let outs: Vec<Vec<f32>> = ["layer_1", "layer_2", "layer_3"]
///     .iter()
///     .map(|k| apply_tensor(&Dense::new(2, 4, Activation::Identity)?, &x, ps.get(k)?, &Tree::new())?.0.to_vec::<f32>())
///     .collect::<Result<_>>()?;
/// for (i, v) in y.to_vec::<f32>()?.iter().enumerate() {
///     assert_eq!(*v, outs[0][i].max(outs[1][i]).max(outs[2][i]));
/// }
/// # Ok::<(), lux_core::LuxError>(())
/// ```
pub struct Maxout {
    layers: Vec<(String, Box<dyn Layer>)>,
}

impl Maxout {
    /// `Maxout(layers...)`: the layers are named `layer_1`, `layer_2`, ….
    ///
    /// ```
    /// use lux_core::*;
    /// use lux_layers::Maxout;
    /// use lux_ops::Activation;
    /// // max(relu(x), tanh(x)): activations are layers too
    /// let m = Maxout::new(vec![Box::new(Activation::Relu), Box::new(Activation::Tanh)])?;
    /// let x = Tensor::from_vec(vec![-1.0f64, 0.5, 2.0], &[3])?;
    /// let (ps, st) = setup(&mut RngState::seed_from_u64(0), &m)?;
    /// let (y, _) = apply_tensor(&m, &x, &ps, &st)?;
    /// let want = [0.0, 0.5f64.tanh().max(0.5), 2.0];
    /// assert_eq!(y.to_vec::<f64>()?, want);
    /// assert!(Maxout::new(vec![]).is_err());
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// No layers (the maximum of nothing is undefined).
    pub fn new(layers: Vec<Box<dyn Layer>>) -> Result<Maxout> {
        let layers = layers.into_iter().enumerate().map(|(i, l)| (format!("layer_{}", i + 1), l)).collect();
        Self::named(layers)
    }

    /// `Maxout(; name_1 = layer, …)`: the layers under the given names.
    ///
    /// ```
    /// use lux_core::*;
    /// use lux_layers::{Dense, Maxout};
    /// use lux_ops::Activation;
    /// let m = Maxout::named(vec![
    ///     ("a".into(), Box::new(Dense::new(2, 3, Activation::Identity)?) as Box<dyn Layer>),
    ///     ("b".into(), Box::new(Dense::new(2, 3, Activation::Relu)?)),
    /// ])?;
    /// let (ps, _) = setup(&mut RngState::seed_from_u64(0), &m)?;
    /// assert_eq!(ps.keys().collect::<Vec<_>>(), vec!["a", "b"]);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// No layers; a name that is empty, contains `.` or is repeated.
    pub fn named(layers: Vec<(String, Box<dyn Layer>)>) -> Result<Maxout> {
        if layers.is_empty() {
            return Err(LuxError::invalid_argument("Maxout", "needs at least one layer"));
        }
        for (i, (name, _)) in layers.iter().enumerate() {
            if name.is_empty() || name.contains('.') {
                return Err(LuxError::invalid_argument(
                    "Maxout",
                    format!("layer name `{name}` must be non-empty and must not contain `.`"),
                ));
            }
            if layers[..i].iter().any(|(n, _)| n == name) {
                return Err(LuxError::invalid_argument("Maxout", format!("layer name `{name}` is repeated")));
            }
        }
        Ok(Maxout { layers })
    }

    /// `Maxout(f, n)`: `n` copies of one layer, named `layer_1` …
    /// `layer_n`. As in Lux (which calls `f` once), the copies are the same
    /// description; each gets its own parameters at setup.
    ///
    /// ```
    /// use lux_core::*;
    /// use lux_layers::{Dense, Maxout};
    /// let m = Maxout::repeat(Dense::new(2, 4, Default::default())?, 4)?;
    /// assert_eq!(m.len(), 4);
    /// let (ps, _) = setup(&mut RngState::seed_from_u64(0), &m)?;
    /// assert_ne!(ps.at("layer_1.weight")?, ps.at("layer_2.weight")?); // drawn separately
    /// assert!(display_model(&m).contains("layer_(1-4) = Dense(2 => 4),"));
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// `n` is 0.
    pub fn repeat<L: Layer + Clone + 'static>(layer: L, n: usize) -> Result<Maxout> {
        Self::new((0..n).map(|_| Box::new(layer.clone()) as Box<dyn Layer>).collect())
    }

    /// The number of layers.
    ///
    /// ```
    /// let m = lux_layers::Maxout::new(vec![Box::new(lux_ops::Activation::Relu)])?;
    /// assert_eq!(m.len(), 1);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    #[allow(clippy::len_without_is_empty)] // never empty
    pub fn len(&self) -> usize {
        self.layers.len()
    }

    /// The names of the layers, in order.
    ///
    /// ```
    /// let m = lux_layers::Maxout::new(vec![Box::new(lux_ops::Activation::Relu), Box::new(lux_ops::Activation::Tanh)])?;
    /// assert_eq!(m.names().collect::<Vec<_>>(), vec!["layer_1", "layer_2"]);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.layers.iter().map(|(n, _)| n.as_str())
    }
}

impl fmt::Debug for Maxout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut m = f.debug_struct("Maxout");
        for (name, layer) in &self.layers {
            m.field(name, &layer.describe());
        }
        m.finish()
    }
}

/// A child's output as a tensor, or an `Err` naming the child.
fn output_tensor(name: &str, y: Tree) -> Result<Tensor> {
    match y {
        Tree::Tensor(t) => Ok(t),
        other => Err(LuxError::Structure {
            path: name.into(),
            msg: format!("Maxout: the output of `{name}` must be a tensor, got a {}", other.kind_name()),
        }),
    }
}

impl Layer for Maxout {
    fn forward(&self, x: &Tree, ps: &Tree, st: &Tree) -> Result<(Tree, Tree)> {
        let mut states = Vec::with_capacity(self.layers.len());
        let mut acc: Option<Tensor> = None;
        for (name, layer) in &self.layers {
            let (y, s) = forward_child(name, layer.as_ref(), x, ps, st)?;
            let y = output_tensor(name, y)?;
            acc = Some(match acc {
                None => y,
                Some(m) => m.maximum(&y).map_err(|_| {
                    LuxError::shape(
                        "Maxout",
                        format!(
                            "the output of `{name}` has shape {:?}, which does not broadcast with {:?} (the earlier layers')",
                            y.shape(),
                            m.shape()
                        ),
                    )
                })?,
            });
            states.push((name.clone(), s));
        }
        let y = acc.expect("a Maxout has at least one layer");
        Ok((y.into(), Tree::Map(states)))
    }

    fn children(&self) -> Children<'_> {
        Children::Named(self.layers.iter().map(|(n, l)| (n.clone(), l.as_ref())).collect())
    }
}
