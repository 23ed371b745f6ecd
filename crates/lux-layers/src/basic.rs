//! Parameter-free basic layers (Lux's `src/layers/basic.jl`):
//! [`WrappedFunction`], [`NoOpLayer`], [`FlattenLayer`], [`ReshapeLayer`],
//! [`SelectDim`].
//!
//! None of them has parameters or state: `setup` gives two empty maps.
//! Plain activations ([`lux_ops::Activation`]) are layers too (they print
//! as `WrappedFunction(relu)`, as Lux wraps a bare function in a `Chain`).
//!
//! Layout: batch first. Lux's column-major `(features…, batch)` is
//! `[batch, …features]` here, so the per-sample dimensions of
//! [`ReshapeLayer`] are listed in row-major order and its print shows the
//! batch axis `:` first; [`SelectDim`] and [`FlattenLayer`] take signed
//! row-major axes (`-1` = last) and 0-based indices.

use crate::util::in_layer;
use lux_core::{Layer, LuxError, Result, Tensor, Tree, normalize_axis};

/// `x` as a tensor of any dtype, or an `Err` naming the layer.
fn tensor_input(x: &Tree, describe: impl FnOnce() -> String) -> Result<&Tensor> {
    match x {
        Tree::Tensor(t) => Ok(t),
        other => Err(LuxError::Structure {
            path: lux_core::ROOT.into(),
            msg: format!("{}: expects a tensor input, got a {}", describe(), other.kind_name()),
        }),
    }
}

// ----- WrappedFunction ---------------------------------------------------------------

/// A function as a layer (Lux's `WrappedFunction(f)`): `y = f(x)`, no
/// parameters, no state. The name is what the layer prints as
/// (`WrappedFunction(name)`), since a Rust closure has no printable name.
///
/// The function takes and returns a [`Tree`], so it can take tuples
/// ([`Tree::Seq`]) apart or build them. Its errors are returned as they
/// are.
///
/// ```
/// use lux_core::*;
/// use lux_layers::WrappedFunction;
/// let double = WrappedFunction::new("double", |x: &Tree| Ok(x.as_tensor()?.mul_scalar(2.0)?.into()))?;
/// assert_eq!(double.describe(), "WrappedFunction(double)");
/// let (ps, st) = setup(&mut RngState::seed_from_u64(0), &double)?;
/// assert_eq!((double.param_count(), double.state_count()), (0, 0));
/// let (y, _) = apply_tensor(&double, Tensor::from_vec(vec![1.0f32, -2.0], &[1, 2])?, &ps, &st)?;
/// assert_eq!(y.to_vec::<f32>()?, vec![2.0, -4.0]);
/// # Ok::<(), lux_core::LuxError>(())
/// ```
pub struct WrappedFunction<F> {
    name: String,
    f: F,
}

impl<F: Fn(&Tree) -> Result<Tree> + Send + Sync> WrappedFunction<F> {
    /// `WrappedFunction(f)`, printed with `name`.
    ///
    /// ```
    /// use lux_core::Tree;
    /// let id = lux_layers::WrappedFunction::new("identity", |x: &Tree| Ok(x.clone()))?;
    /// assert_eq!(id.name(), "identity");
    /// assert!(lux_layers::WrappedFunction::new("", |x: &Tree| Ok(x.clone())).is_err());
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// An empty `name`.
    pub fn new(name: impl Into<String>, f: F) -> Result<Self> {
        let name = name.into();
        if name.is_empty() {
            return Err(LuxError::invalid_argument("WrappedFunction", "the name is empty"));
        }
        Ok(WrappedFunction { name, f })
    }

    /// The name the function prints as.
    ///
    /// ```
    /// let f = lux_layers::WrappedFunction::new("f", |x: &lux_core::Tree| Ok(x.clone()))?;
    /// assert_eq!(f.name(), "f");
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl<F> std::fmt::Debug for WrappedFunction<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "WrappedFunction({})", self.name)
    }
}

impl<F: Fn(&Tree) -> Result<Tree> + Send + Sync> Layer for WrappedFunction<F> {
    fn param_shapes(&self) -> Option<Vec<Vec<usize>>> {
        Some(vec![])
    }
    fn state_shapes(&self) -> Option<Vec<Vec<usize>>> {
        Some(vec![])
    }
    fn forward(&self, x: &Tree, _ps: &Tree, st: &Tree) -> Result<(Tree, Tree)> {
        Ok(((self.f)(x)?, st.clone()))
    }
    fn display_name(&self) -> String {
        "WrappedFunction".into()
    }
    fn describe(&self) -> String {
        format!("WrappedFunction({})", self.name)
    }
}

// ----- NoOpLayer ---------------------------------------------------------------------

/// The identity (Lux's `NoOpLayer()`): `y = x` for any input, no
/// parameters, no state.
///
/// ```
/// use lux_core::*;
/// use lux_layers::NoOpLayer;
/// assert_eq!(NoOpLayer.describe(), "NoOpLayer()");
/// let x = Tree::seq([Tree::Float(1.0), Tree::Int(2)]);
/// assert_eq!(stateless_apply(&NoOpLayer, x.clone(), &Tree::new())?, x);
/// # Ok::<(), lux_core::LuxError>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NoOpLayer;

impl Layer for NoOpLayer {
    fn param_shapes(&self) -> Option<Vec<Vec<usize>>> {
        Some(vec![])
    }
    fn state_shapes(&self) -> Option<Vec<Vec<usize>>> {
        Some(vec![])
    }
    fn forward(&self, x: &Tree, _ps: &Tree, st: &Tree) -> Result<(Tree, Tree)> {
        Ok((x.clone(), st.clone()))
    }
    fn describe(&self) -> String {
        "NoOpLayer()".into()
    }
}

// ----- FlattenLayer ------------------------------------------------------------------

/// Flattens the axes from `start_axis` on into one (Lux's `FlattenLayer`):
/// `[b, d1, …, dk]` → `[b, d1·…·dk]` by default (`start_axis = 1`: every axis
/// but the batch axis), or `[d0, …, d(s−1), ds·…·dk]` from axis `s`.
///
/// Row-major flattening of `[N, C, H, W]` gives the same features as Lux's
/// column-major flattening of `(W, H, C, N)`, in the same memory order.
/// Lux's `FlattenLayer(; N)` keeps Lux's first `N` dimensions together,
/// i.e. the last `N` axes here: on inputs of rank `r` it is
/// `FlattenLayer::from_axis(r − N)`. A flatten is a reshape (no copy for a
/// contiguous input).
///
/// * Parameters and state: none.
/// * Input: a tensor of rank ≥ 2 (and > the start axis); output: rank
///   `start_axis + 1`.
///
/// ```
/// use lux_core::*;
/// use lux_layers::FlattenLayer;
/// let layer = FlattenLayer::new();
/// assert_eq!(layer.describe(), "FlattenLayer{Nothing}(nothing)");
/// let x = Tensor::zeros(&[2, 3, 4, 5], DType::F32)?;
/// assert_eq!(stateless_apply(&layer, &x, &Tree::new())?.as_tensor()?.shape(), &[2, 60]);
/// let keep_channels = FlattenLayer::from_axis(2)?;
/// assert_eq!(stateless_apply(&keep_channels, &x, &Tree::new())?.as_tensor()?.shape(), &[2, 3, 20]);
/// # Ok::<(), lux_core::LuxError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlattenLayer {
    start_axis: isize,
}

impl Default for FlattenLayer {
    fn default() -> Self {
        FlattenLayer::new()
    }
}

impl FlattenLayer {
    /// Flattens every axis but the batch axis (Lux's `FlattenLayer()`).
    ///
    /// ```
    /// assert_eq!(lux_layers::FlattenLayer::new().start_axis(), 1);
    /// ```
    pub fn new() -> FlattenLayer {
        FlattenLayer { start_axis: 1 }
    }

    /// Flattens the axes from `start_axis` on (signed: `-2` flattens the
    /// last two axes). The axis is checked against each input: it must
    /// leave the batch axis alone (resolve to ≥ 1).
    ///
    /// ```
    /// assert_eq!(lux_layers::FlattenLayer::from_axis(-2)?.start_axis(), -2);
    /// assert!(lux_layers::FlattenLayer::from_axis(0).is_err());
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// `start_axis == 0` (that would flatten the batch axis away).
    pub fn from_axis(start_axis: isize) -> Result<FlattenLayer> {
        if start_axis == 0 {
            return Err(LuxError::invalid_argument(
                "FlattenLayer",
                "start_axis 0 would flatten the batch axis; use 1 (the default) or later",
            ));
        }
        Ok(FlattenLayer { start_axis })
    }

    /// The first axis flattened.
    ///
    /// ```
    /// assert_eq!(lux_layers::FlattenLayer::from_axis(2)?.start_axis(), 2);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn start_axis(&self) -> isize {
        self.start_axis
    }
}

impl Layer for FlattenLayer {
    fn param_shapes(&self) -> Option<Vec<Vec<usize>>> {
        Some(vec![])
    }
    fn state_shapes(&self) -> Option<Vec<Vec<usize>>> {
        Some(vec![])
    }
    fn forward(&self, x: &Tree, _ps: &Tree, st: &Tree) -> Result<(Tree, Tree)> {
        let x = tensor_input(x, || self.describe())?;
        let shape = x.shape();
        let needs_batch = || {
            LuxError::shape(
                &self.describe(),
                format!(
                    "input of shape {shape:?}: needs a batch axis and at least one axis to flatten from axis {}",
                    self.start_axis
                ),
            )
        };
        if shape.len() < 2 {
            return Err(needs_batch());
        }
        let ax = normalize_axis("FlattenLayer", self.start_axis, shape).map_err(|_| {
            LuxError::shape(
                &self.describe(),
                format!("start axis {} is out of range for an input of shape {shape:?}", self.start_axis),
            )
        })?;
        if ax == 0 {
            return Err(needs_batch());
        }
        let mut out = shape[..ax].to_vec();
        out.push(shape[ax..].iter().product());
        Ok((x.reshape(&out).map_err(|e| in_layer(e, || self.describe()))?.into(), st.clone()))
    }
    fn describe(&self) -> String {
        if self.start_axis == 1 {
            "FlattenLayer{Nothing}(nothing)".into()
        } else {
            format!("FlattenLayer(start_axis = {})", self.start_axis)
        }
    }
}

// ----- ReshapeLayer ------------------------------------------------------------------

/// Reshapes each sample, keeping the batch axis (Lux's
/// `ReshapeLayer(dims)`): `[b, …]` → `[b, dims…]`, where `dims` are the
/// per-sample dimensions in row-major order.
///
/// Lux's `ReshapeLayer((2, 3))` on column-major `(…, batch)` arrays is
/// `ReshapeLayer::new(vec![3, 2])` here (same memory order); it prints as
/// Lux's print read batch first: `ReshapeLayer(output_dims = (:, 3, 2))`.
///
/// * Parameters and state: none.
/// * Input: a tensor of rank ≥ 1 whose samples hold `dims.iter().product()`
///   elements; output: `[batch, dims…]`.
///
/// ```
/// use lux_core::*;
/// use lux_layers::ReshapeLayer;
/// let layer = ReshapeLayer::new(vec![3, 2])?;
/// assert_eq!(layer.describe(), "ReshapeLayer(output_dims = (:, 3, 2))");
/// let x = Tensor::from_vec((0..12).map(|v| v as f32).collect(), &[2, 6])?;
/// let y = stateless_apply(&layer, &x, &Tree::new())?;
/// assert_eq!(y.as_tensor()?.shape(), &[2, 3, 2]);
/// let err = stateless_apply(&layer, Tensor::zeros(&[2, 5], DType::F32)?, &Tree::new()).unwrap_err();
/// assert_eq!(err.to_string(), "ReshapeLayer(output_dims = (:, 3, 2)): input of shape [2, 5] has 5 elements per sample, the output dims (3, 2) hold 6");
/// # Ok::<(), lux_core::LuxError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReshapeLayer {
    dims: Vec<usize>,
}

impl ReshapeLayer {
    /// Reshapes each sample to `dims` (row-major).
    ///
    /// ```
    /// assert_eq!(lux_layers::ReshapeLayer::new(vec![4, 4])?.dims(), &[4, 4]);
    /// assert!(lux_layers::ReshapeLayer::new(vec![]).is_err());
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// `dims` empty, or its product overflows.
    pub fn new(dims: Vec<usize>) -> Result<ReshapeLayer> {
        if dims.is_empty() {
            return Err(LuxError::invalid_argument("ReshapeLayer", "dims is empty"));
        }
        if dims.iter().try_fold(1usize, |n, &d| n.checked_mul(d)).is_none() {
            return Err(LuxError::invalid_argument(
                "ReshapeLayer",
                format!("dims {dims:?} hold more than usize::MAX elements"),
            ));
        }
        Ok(ReshapeLayer { dims })
    }

    /// The per-sample output dimensions.
    ///
    /// ```
    /// assert_eq!(lux_layers::ReshapeLayer::new(vec![2, 8])?.dims(), &[2, 8]);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn dims(&self) -> &[usize] {
        &self.dims
    }
}

fn tuple_string(dims: &[usize]) -> String {
    match dims {
        [d] => format!("({d},)"),
        _ => format!("({})", dims.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", ")),
    }
}

impl Layer for ReshapeLayer {
    fn param_shapes(&self) -> Option<Vec<Vec<usize>>> {
        Some(vec![])
    }
    fn state_shapes(&self) -> Option<Vec<Vec<usize>>> {
        Some(vec![])
    }
    fn forward(&self, x: &Tree, _ps: &Tree, st: &Tree) -> Result<(Tree, Tree)> {
        let x = tensor_input(x, || self.describe())?;
        let shape = x.shape();
        let want: usize = self.dims.iter().product();
        let per_sample = shape.get(1..).map(|s| s.iter().product::<usize>());
        if per_sample != Some(want) {
            return Err(LuxError::shape(
                &self.describe(),
                match per_sample {
                    None => "input is 0-d, it needs a batch axis".to_string(),
                    Some(n) => format!(
                        "input of shape {shape:?} has {n} elements per sample, the output dims {} hold {want}",
                        tuple_string(&self.dims)
                    ),
                },
            ));
        }
        let mut out = Vec::with_capacity(self.dims.len() + 1);
        out.push(shape[0]);
        out.extend_from_slice(&self.dims);
        Ok((x.reshape(&out).map_err(|e| in_layer(e, || self.describe()))?.into(), st.clone()))
    }
    fn describe(&self) -> String {
        let dims: Vec<String> = self.dims.iter().map(|d| d.to_string()).collect();
        format!("ReshapeLayer(output_dims = (:, {}))", dims.join(", "))
    }
}

// ----- SelectDim ---------------------------------------------------------------------

/// What a [`SelectDim`] picks.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Selection {
    /// One index: the axis is dropped.
    One(usize),
    /// Several indices: the axis is kept, with one entry per index.
    Many(Vec<usize>),
}

/// Selects along one axis (Lux's `SelectDim(dim, index)`, i.e.
/// `selectdim(x, dim, index)`): with one index the axis is dropped
/// (`[b, c, t]` with axis 2, index 0 → `[b, c]`); with a list of indices it
/// is kept, holding the chosen entries in order (repeats allowed).
///
/// Axes are signed row-major axes (`-1` = last), indices 0-based. Lux's
/// `SelectDim(1, i)` on `(features, batch)` arrays is
/// `SelectDim::new(-1, i − 1)` here.
///
/// * Parameters and state: none.
/// * Input: a tensor with the axis and the indices in range.
///
/// ```
/// use lux_core::*;
/// use lux_layers::SelectDim;
/// let layer = SelectDim::new(1, 2)?;
/// assert_eq!(layer.describe(), "SelectDim(dim = 1, index = 2)");
/// let x = Tensor::from_vec((0..8).map(|v| v as f32).collect(), &[2, 4])?;
/// let y = stateless_apply(&layer, &x, &Tree::new())?;
/// assert_eq!(y.as_tensor()?.to_vec::<f32>()?, vec![2.0, 6.0]); // column 2 of each row
/// let keep = SelectDim::indices(-1, vec![3, 0])?;
/// assert_eq!(stateless_apply(&keep, &x, &Tree::new())?.as_tensor()?.to_vec::<f32>()?, vec![3.0, 0.0, 7.0, 4.0]);
/// # Ok::<(), lux_core::LuxError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SelectDim {
    axis: isize,
    index: Selection,
}

impl SelectDim {
    /// Picks entry `index` of `axis`, dropping the axis.
    ///
    /// ```
    /// assert_eq!(lux_layers::SelectDim::new(-1, 0)?.axis(), -1);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// None today (the axis and index are checked against each input); a
    /// `Result` for the constructors' common form.
    pub fn new(axis: isize, index: usize) -> Result<SelectDim> {
        Ok(SelectDim { axis, index: Selection::One(index) })
    }

    /// Picks the entries `indices` of `axis`, keeping the axis.
    ///
    /// ```
    /// assert!(lux_layers::SelectDim::indices(1, vec![]).is_err());
    /// ```
    ///
    /// # Errors
    /// `indices` is empty, or an index exceeds `i64::MAX`.
    pub fn indices(axis: isize, indices: Vec<usize>) -> Result<SelectDim> {
        if indices.is_empty() {
            return Err(LuxError::invalid_argument("SelectDim", "the list of indices is empty"));
        }
        if indices.iter().any(|&i| i64::try_from(i).is_err()) {
            return Err(LuxError::invalid_argument("SelectDim", "an index exceeds i64::MAX"));
        }
        Ok(SelectDim { axis, index: Selection::Many(indices) })
    }

    /// The axis selected along.
    ///
    /// ```
    /// assert_eq!(lux_layers::SelectDim::new(2, 1)?.axis(), 2);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn axis(&self) -> isize {
        self.axis
    }
}

impl Layer for SelectDim {
    fn param_shapes(&self) -> Option<Vec<Vec<usize>>> {
        Some(vec![])
    }
    fn state_shapes(&self) -> Option<Vec<Vec<usize>>> {
        Some(vec![])
    }
    fn forward(&self, x: &Tree, _ps: &Tree, st: &Tree) -> Result<(Tree, Tree)> {
        let x = tensor_input(x, || self.describe())?;
        let shape = x.shape();
        let ax = normalize_axis("SelectDim", self.axis, shape).map_err(|_| {
            LuxError::shape(
                &self.describe(),
                format!("axis {} is out of range for an input of shape {shape:?}", self.axis),
            )
        })?;
        let n = shape[ax];
        let bad = |i: usize| {
            LuxError::shape(
                &self.describe(),
                format!("index {i} is out of range for axis {ax} of length {n} (input shape {shape:?})"),
            )
        };
        let y = match &self.index {
            Selection::One(i) => {
                if *i >= n {
                    return Err(bad(*i));
                }
                x.narrow(ax as isize, *i, 1).and_then(|t| t.squeeze(ax as isize))
            }
            Selection::Many(idx) => {
                if let Some(&i) = idx.iter().find(|&&i| i >= n) {
                    return Err(bad(i));
                }
                let index = Tensor::from_vec(idx.iter().map(|&i| i as i64).collect::<Vec<_>>(), &[idx.len()])?;
                x.index_select(ax as isize, &index)
            }
        };
        Ok((y.map_err(|e| in_layer(e, || self.describe()))?.into(), st.clone()))
    }
    fn describe(&self) -> String {
        match &self.index {
            Selection::One(i) => format!("SelectDim(dim = {}, index = {i})", self.axis),
            Selection::Many(v) => format!(
                "SelectDim(dim = {}, index = [{}])",
                self.axis,
                v.iter().map(|i| i.to_string()).collect::<Vec<_>>().join(", ")
            ),
        }
    }
}
