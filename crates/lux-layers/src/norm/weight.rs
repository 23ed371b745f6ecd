//! [`WeightNorm`].

use super::julia_tuple;
use lux_core::{DType, Layer, LuxError, Result, Tensor, Tree, normalize_axis, tree};
use rand::Rng;

/// Weight normalisation (Lux's `WeightNorm(layer, which_params, dims)`,
/// Salimans & Kingma 2016): the parameters `which` of the wrapped layer are
/// reparameterised as `w = g · v/(‖v‖ + eps)`, with the direction `v`
/// and the magnitude `g` trained instead of `w`.
///
/// `‖v‖` is the 2-norm over every axis of `v` but one, kept: by default
/// axis 0 (the output axis of a Dense `[out, in]` or Conv `[out, in, k…]`
/// weight, i.e. Lux's last axis of its column-major arrays), or the axis
/// given per parameter with [`with_dims`](WeightNorm::with_dims). `g` has
/// the shape of that norm (size 1 on the reduced axes, e.g. `[out, 1]`) and
/// starts as `‖w‖`, `v` as `w`, so the wrapped layer starts with its own
/// parameters. `eps` is the machine epsilon of `v`'s dtype (as Lux).
///
/// * Parameters: `normalized` (`{name}_g`, `{name}_v` for each normalised
///   parameter, in the wrapped layer's order) and `unnormalized` (the
///   wrapped layer's other parameters). State: the wrapped layer's.
/// * Input and output: the wrapped layer's.
///
/// Setup is an `Err` if a normalised parameter is all zeros (its gradients
/// would be NaN), as in Lux (e.g. a zero-initialised bias).
///
/// ```
/// use lux_core::*;
/// use lux_layers::*;
///
/// /// y = x·Wᵀ with W = [[3, 4]].
/// struct Linear;
/// impl Layer for Linear {
///     fn init_params(&self, _: &mut dyn rand::Rng) -> Result<Tree> {
///         Ok(tree! { weight: Tensor::from_vec(vec![3.0f64, 4.0], &[1, 2])? })
///     }
///     fn forward(&self, x: &Tree, ps: &Tree, st: &Tree) -> Result<(Tree, Tree)> {
///         let w = ps.tensor("weight")?;
///         Ok((x.as_tensor()?.matmul(&w.transpose(0, 1)?)?.into(), st.clone()))
///     }
///     fn describe(&self) -> String { "Linear".into() }
/// }
///
/// let wn = WeightNorm::new(Linear, &["weight"])?;
/// assert_eq!(wn.describe(), "WeightNorm(Linear, dims = nothing, normalized_parameters = (:weight,))");
/// let (ps, st) = setup(&mut RngState::seed_from_u64(0), &wn)?;
/// assert_eq!(ps.tensor("normalized.weight_g")?.to_vec::<f64>()?, vec![5.0]); // ‖[3, 4]‖
/// assert_eq!(ps.tensor("normalized.weight_v")?.to_vec::<f64>()?, vec![3.0, 4.0]);
/// // doubling g doubles the weight
/// let mut ps2 = ps.clone();
/// *ps2.tensor_mut("normalized.weight_g")? = Tensor::from_vec(vec![10.0f64], &[1, 1])?;
/// let x = Tensor::from_vec(vec![1.0f64, 1.0], &[1, 2])?;
/// let (y, _) = apply_tensor(&wn, &x, &ps2, &st)?;
/// assert!((y.to_vec::<f64>()?[0] - 14.0).abs() < 1e-9);
/// # Ok::<(), lux_core::LuxError>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct WeightNorm<L> {
    layer: L,
    which: Vec<String>,
    g_keys: Vec<String>,
    v_keys: Vec<String>,
    dims: Option<Vec<isize>>,
}

impl<L: Layer> WeightNorm<L> {
    /// Normalises the parameters `which` of `layer`, each with its norm
    /// over every axis but axis 0.
    ///
    /// ```
    /// let inner = lux_layers::LayerNorm::new(&[2])?;
    /// let wn = lux_layers::WeightNorm::new(inner, &["scale"])?;
    /// assert_eq!(wn.which(), &["scale".to_string()]);
    /// assert!(lux_layers::WeightNorm::new(lux_layers::LayerNorm::new(&[2])?, &[]).is_err());
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// `which` empty or naming a parameter twice. (A name the layer does
    /// not have is an `Err` at setup.)
    pub fn new(layer: L, which: &[&str]) -> Result<WeightNorm<L>> {
        Self::build(layer, which, None)
    }

    /// As [`new`](WeightNorm::new), keeping axis `dims[i]` (signed) of the
    /// `i`-th parameter of `which` out of its norm.
    ///
    /// ```
    /// use lux_core::*;
    /// let inner = lux_layers::LayerNorm::new(&[2, 3])?;
    /// let wn = lux_layers::WeightNorm::with_dims(inner, &["scale"], &[-1])?;
    /// assert_eq!(wn.describe(), "WeightNorm(LayerNorm((2, 3), affine=true, dims=Colon()), dims = (-1,), normalized_parameters = (:scale,))");
    /// let (ps, _) = setup(&mut RngState::seed_from_u64(0), &wn)?;
    /// assert_eq!(ps.tensor("normalized.scale_g")?.shape(), &[1, 3]);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// As [`new`](WeightNorm::new); `dims` not one axis per parameter.
    pub fn with_dims(layer: L, which: &[&str], dims: &[isize]) -> Result<WeightNorm<L>> {
        Self::build(layer, which, Some(dims.to_vec()))
    }

    fn build(layer: L, which: &[&str], dims: Option<Vec<isize>>) -> Result<WeightNorm<L>> {
        let wn = WeightNorm {
            layer,
            which: which.iter().map(|s| s.to_string()).collect(),
            g_keys: which.iter().map(|s| format!("{s}_g")).collect(),
            v_keys: which.iter().map(|s| format!("{s}_v")).collect(),
            dims,
        };
        if which.is_empty() {
            return Err(LuxError::invalid_argument(&wn.describe(), "no parameters to normalise"));
        }
        if which.iter().enumerate().any(|(i, w)| which[..i].contains(w)) {
            return Err(LuxError::invalid_argument(&wn.describe(), format!("{which:?} names a parameter twice")));
        }
        if let Some(d) = &wn.dims {
            if d.len() != which.len() {
                return Err(LuxError::invalid_argument(
                    &wn.describe(),
                    format!("{} dims for {} normalised parameters", d.len(), which.len()),
                ));
            }
        }
        Ok(wn)
    }

    /// The wrapped layer.
    ///
    /// ```
    /// let wn = lux_layers::WeightNorm::new(lux_layers::LayerNorm::new(&[2])?, &["scale"])?;
    /// assert_eq!(wn.layer().shape(), &[2]);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn layer(&self) -> &L {
        &self.layer
    }

    /// The names of the normalised parameters.
    ///
    /// ```
    /// let wn = lux_layers::WeightNorm::new(lux_layers::LayerNorm::new(&[2])?, &["scale", "bias"])?;
    /// assert_eq!(wn.which(), &["scale".to_string(), "bias".to_string()]);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn which(&self) -> &[String] {
        &self.which
    }

    /// The axis kept out of the norm of each parameter (`None`: axis 0 for all).
    ///
    /// ```
    /// let wn = lux_layers::WeightNorm::with_dims(lux_layers::LayerNorm::new(&[2])?, &["scale"], &[0])?;
    /// assert_eq!(wn.dims(), Some(&[0][..]));
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn dims(&self) -> Option<&[isize]> {
        self.dims.as_deref()
    }

    /// The axis of the `i`-th parameter kept out of its norm.
    fn kept_axis(&self, i: usize, v: &Tensor) -> Result<usize> {
        let axis = self.dims.as_ref().map_or(0, |d| d[i]);
        if v.ndim() == 0 {
            return Err(LuxError::shape(
                &self.describe(),
                format!("parameter `{}` is a 0-d tensor and has no axis to keep", self.which[i]),
            ));
        }
        normalize_axis(&self.describe(), axis, v.shape())
    }
}

/// The 2-norm of `v` over every axis but `keep` (kept as size 1).
fn norm_except(v: &Tensor, keep: usize) -> Result<Tensor> {
    let axes: Vec<isize> = (0..v.ndim()).filter(|&a| a != keep).map(|a| a as isize).collect();
    if axes.is_empty() { v.square()?.sqrt() } else { v.square()?.sum(&axes, true)?.sqrt() }
}

/// Julia's `eps(T)`: the machine epsilon of a float dtype.
fn machine_epsilon(dtype: DType) -> f64 {
    match dtype {
        DType::F16 => 9.765_625e-4,
        DType::BF16 => 7.812_5e-3,
        DType::F32 => f32::EPSILON as f64,
        _ => f64::EPSILON,
    }
}

impl<L: Layer> Layer for WeightNorm<L> {
    fn init_params(&self, rng: &mut dyn Rng) -> Result<Tree> {
        let inner = self.layer.init_params(rng)?;
        let entries = inner.as_map().map_err(|_| {
            LuxError::invalid_argument(&self.describe(), "the wrapped layer's parameters are not a map of names")
        })?;
        for name in &self.which {
            if !inner.contains_key(name) {
                let names: Vec<&str> = inner.keys().collect();
                return Err(LuxError::invalid_argument(
                    &self.describe(),
                    format!("the wrapped layer has no parameter `{name}` (its parameters: {names:?})"),
                ));
            }
        }
        let (mut normalized, mut unnormalized) = (Vec::new(), Vec::new());
        for (key, value) in entries {
            let Some(i) = self.which.iter().position(|w| w == key) else {
                unnormalized.push((key.clone(), value.clone()));
                continue;
            };
            let v = match value {
                Tree::Tensor(t) if t.dtype().is_float() => t,
                other => {
                    return Err(LuxError::invalid_argument(
                        &self.describe(),
                        format!("parameter `{key}` is a {}, not a float tensor", other.kind_name()),
                    ));
                }
            };
            if v.to_f64_vec().iter().all(|&e| e == 0.0) {
                return Err(LuxError::invalid_argument(
                    &self.describe(),
                    format!(
                        "parameter `{key}` is completely zero, which gives NaN gradients; remove it from the \
                         normalised parameters or initialise it otherwise (e.g. the layer's init_{key})"
                    ),
                ));
            }
            let g = norm_except(v, self.kept_axis(i, v)?)?;
            normalized.push((self.g_keys[i].clone(), Tree::Tensor(g)));
            normalized.push((self.v_keys[i].clone(), Tree::Tensor(v.clone())));
        }
        Ok(tree! { normalized: Tree::Map(normalized), unnormalized: Tree::Map(unnormalized) })
    }

    fn init_state(&self, rng: &mut dyn Rng) -> Result<Tree> {
        self.layer.init_state(rng)
    }

    fn state_count(&self) -> usize {
        self.layer.state_count()
    }

    fn state_shapes(&self) -> Option<Vec<Vec<usize>>> {
        self.layer.state_shapes()
    }

    fn preserves_state_type(&self) -> bool {
        self.layer.preserves_state_type()
    }

    fn forward(&self, x: &Tree, ps: &Tree, st: &Tree) -> Result<(Tree, Tree)> {
        let normalized = ps.get("normalized")?;
        let unnormalized = ps.get("unnormalized")?.as_map()?;
        let mut inner = Vec::with_capacity(self.which.len() + unnormalized.len());
        for (i, name) in self.which.iter().enumerate() {
            let v = normalized.tensor(&self.v_keys[i])?;
            let g = normalized.tensor(&self.g_keys[i])?;
            let norm = norm_except(v, self.kept_axis(i, v)?)?;
            if g.shape() != norm.shape() {
                return Err(LuxError::shape(
                    &self.describe(),
                    format!(
                        "normalized.{} has shape {:?}, expected {:?} for normalized.{} of shape {:?}",
                        self.g_keys[i],
                        g.shape(),
                        norm.shape(),
                        self.v_keys[i],
                        v.shape()
                    ),
                ));
            }
            let w = v.mul(&g.div(&norm.add_scalar(machine_epsilon(v.dtype()))?)?)?;
            inner.push((name.clone(), Tree::Tensor(w)));
        }
        inner.extend(unnormalized.iter().cloned());
        self.layer.forward(x, &Tree::Map(inner), st)
    }

    fn describe(&self) -> String {
        let dims = self.dims.as_deref().map_or_else(|| "nothing".to_string(), julia_tuple);
        let names: Vec<String> = self.which.iter().map(|w| format!(":{w}")).collect();
        format!("WeightNorm({}, dims = {dims}, normalized_parameters = {})", self.layer.describe(), julia_tuple(&names))
    }
}
