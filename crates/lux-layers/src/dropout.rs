//! Dropout layers: [`Dropout`], [`AlphaDropout`], [`VariationalHiddenDropout`]
//! (Lux's `src/layers/dropout.jl`).
//!
//! Each keeps an [`RngState`] and a `training` flag in its state. In
//! training mode a call draws its mask from the state's generator and
//! returns the advanced generator in the new state, so the same state
//! always gives the same output and the returned state gives a new mask;
//! in test mode ([`lux_core::test_mode`]) the layers are the identity.
//!
//! Constructors: `new(p)` with Lux's defaults, or `builder(p)` … `build()`
//! for the options; both return `Err` for `p` outside `[0, 1]` (or NaN).
//!
//! Departures from Lux, forced by Rust's types: Lux's `Dropout(0)` (and
//! `VariationalHiddenDropout(0)`, `AlphaDropout(0)`) is a `NoOpLayer` and
//! `AlphaDropout(1)` a `WrappedFunction` returning zeros; here they stay
//! dropout layers (with their state) that compute the same values: the
//! identity for `p = 0`, zeros for `p = 1`.

use crate::util::{float_input, in_layer};
use lux_core::julia_float;
use lux_core::{Layer, LuxError, Result, RngState, Tensor, Tree, tree};
use lux_ops::dropout::{alpha_dropout, dropout_dims, dropout_mask};
use rand::Rng;

/// Checks a dropout probability (`0 ≤ p ≤ 1`, not NaN).
fn check_p(layer: &str, p: f64) -> Result<()> {
    if (0.0..=1.0).contains(&p) {
        Ok(())
    } else {
        Err(LuxError::invalid_argument(layer, format!("the dropout probability p must be in [0, 1], got {p}")))
    }
}

/// A list of axes as Julia prints a `dims` value: `1` for one axis,
/// `(0, 1)` for several.
pub(crate) fn julia_dims(dims: &[isize]) -> String {
    match dims {
        [d] => d.to_string(),
        _ => format!("({})", dims.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", ")),
    }
}

/// The `rng` and `training` leaves of a dropout layer's state.
fn rng_and_mode(st: &Tree) -> Result<(&RngState, bool)> {
    Ok((st.get("rng")?.as_rng()?, st.get("training")?.as_bool()?))
}

// ----- Dropout -----------------------------------------------------------------------

/// Inverted dropout (Lux's `Dropout(p; dims)`): in training mode each
/// element is zeroed with probability `p` and the kept ones are scaled by
/// `1/(1 − p)`, so `E[y] = x`; in test mode `y = x`.
///
/// With [`dims`](DropoutBuilder::dims) the mask varies only along the given
/// axes (signed, `-1` = last) and is shared along the others, e.g.
/// `dims(vec![0, 1])` on `[N, C, H, W]` input drops whole channels
/// ("2-D dropout"; Lux's `dims = (3, 4)` on WHCN input).
///
/// * Parameters: none. State: `rng` (an [`RngState`] drawn from the setup
///   generator), `training` (`true`).
/// * Input: any float tensor; output: the same shape and dtype.
///
/// ```
/// use lux_core::*;
/// use lux_layers::*;
/// let layer = Dropout::new(0.5)?;
/// assert_eq!(layer.describe(), "Dropout(0.5)");
/// let (ps, st) = setup(&mut RngState::seed_from_u64(0), &layer)?;
/// assert_eq!(layer.state_count(), 2); // rng and training
/// let x = Tensor::ones(&[4, 100], DType::F32)?;
/// let (y, st1) = apply_tensor(&layer, &x, &ps, &st)?;
/// // kept elements are scaled by 1/(1 − p) = 2, the others are zero
/// assert!(y.to_vec::<f32>()?.iter().all(|&v| v == 0.0 || v == 2.0));
/// // the state's generator has advanced: the next call draws a new mask
/// let (y2, _) = apply_tensor(&layer, &x, &ps, &st1)?;
/// assert_ne!(y, y2);
/// // test mode: the identity
/// let (y, _) = apply_tensor(&layer, &x, &ps, &test_mode(&st))?;
/// assert_eq!(y, x);
/// assert!(Dropout::new(1.5).is_err());
/// # Ok::<(), lux_core::LuxError>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Dropout {
    p: f64,
    dims: Option<Vec<isize>>,
}

/// The options of a [`Dropout`] (from [`Dropout::builder`]).
#[derive(Clone, Debug, PartialEq)]
pub struct DropoutBuilder {
    p: f64,
    dims: Option<Vec<isize>>,
}

impl DropoutBuilder {
    /// The axes the mask varies along (signed; the mask is shared along the
    /// others). Default: every axis (Lux's `dims = :`).
    ///
    /// ```
    /// use lux_layers::Dropout;
    /// assert_eq!(Dropout::builder(0.1).dims(vec![0, 1]).build()?.dims(), Some(&[0, 1][..]));
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn dims(mut self, dims: Vec<isize>) -> Self {
        self.dims = Some(dims);
        self
    }

    /// The layer.
    ///
    /// ```
    /// use lux_layers::Dropout;
    /// assert!(Dropout::builder(f64::NAN).build().is_err());
    /// ```
    ///
    /// # Errors
    /// `p` outside `[0, 1]` or NaN; `dims` empty or with a repeated axis.
    pub fn build(self) -> Result<Dropout> {
        let layer = Dropout { p: self.p, dims: self.dims };
        check_p(&layer.describe(), layer.p)?;
        check_dims(&layer.describe(), layer.dims.as_deref())?;
        Ok(layer)
    }
}

/// `dims` must be non-empty and without repeats (ranges are checked
/// against the input at run time).
fn check_dims(layer: &str, dims: Option<&[isize]>) -> Result<()> {
    let Some(dims) = dims else { return Ok(()) };
    if dims.is_empty() {
        return Err(LuxError::invalid_argument(
            layer,
            "dims is empty (leave it unset to vary the mask along every axis)",
        ));
    }
    if dims.iter().enumerate().any(|(i, d)| dims[..i].contains(d)) {
        return Err(LuxError::invalid_argument(layer, format!("dims {dims:?} repeats an axis")));
    }
    Ok(())
}

impl Dropout {
    /// `Dropout(p)`: the mask varies along every axis.
    ///
    /// ```
    /// use lux_layers::Dropout;
    /// assert_eq!(Dropout::new(0.25)?.p(), 0.25);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// `p` outside `[0, 1]` or NaN.
    pub fn new(p: f64) -> Result<Dropout> {
        Self::builder(p).build()
    }

    /// The options of `Dropout(p)`, to set [`dims`](DropoutBuilder::dims).
    ///
    /// ```
    /// use lux_core::Layer;
    /// use lux_layers::Dropout;
    /// assert_eq!(Dropout::builder(0.5).dims(vec![0, 1]).build()?.describe(), "Dropout(0.5, dims=(0, 1))");
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn builder(p: f64) -> DropoutBuilder {
        DropoutBuilder { p, dims: None }
    }

    /// The dropout probability.
    ///
    /// ```
    /// assert_eq!(lux_layers::Dropout::new(0.5)?.p(), 0.5);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn p(&self) -> f64 {
        self.p
    }

    /// The axes the mask varies along (`None`: every axis).
    ///
    /// ```
    /// assert_eq!(lux_layers::Dropout::new(0.5)?.dims(), None);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn dims(&self) -> Option<&[isize]> {
        self.dims.as_deref()
    }
}

impl Layer for Dropout {
    fn init_state(&self, rng: &mut dyn Rng) -> Result<Tree> {
        Ok(tree! { rng: RngState::from_rng(rng), training: true })
    }

    fn state_shapes(&self) -> Option<Vec<Vec<usize>>> {
        Some(vec![vec![], vec![]])
    }

    fn param_shapes(&self) -> Option<Vec<Vec<usize>>> {
        Some(vec![])
    }

    fn forward(&self, x: &Tree, _ps: &Tree, st: &Tree) -> Result<(Tree, Tree)> {
        let x = float_input(x, || self.describe())?;
        let (rng, training) = rng_and_mode(st)?;
        let (y, rng) = dropout_dims(rng, x, self.p, training, self.dims.as_deref())
            .map_err(|e| in_layer(e, || self.describe()))?;
        Ok((y.into(), tree! { rng: rng, training: training }))
    }

    fn describe(&self) -> String {
        match &self.dims {
            None => format!("Dropout({})", julia_float(self.p)),
            Some(d) => format!("Dropout({}, dims={})", julia_float(self.p), julia_dims(d)),
        }
    }
}

// ----- AlphaDropout ------------------------------------------------------------------

/// Alpha-dropout for self-normalising (SELU) networks (Lux's
/// `AlphaDropout(p)`, Klambauer et al. 2017): in training mode each element
/// is kept with probability `1 − p`, dropped ones are set to
/// `α′ = −λα ≈ −1.7581` (SELU's negative saturation value), and the result
/// is mapped by `y = A·z + B` with `A = 1/√((1 − p)(1 + p·α′²))` and
/// `B = −A·α′·p`, which keeps zero mean and unit variance; in test mode
/// `y = x`. `p = 1` gives zeros.
///
/// * Parameters: none. State: `rng`, `training`.
/// * Input: any float tensor; output: the same shape and dtype.
///
/// ```
/// use lux_core::*;
/// use lux_layers::*;
/// let layer = AlphaDropout::new(0.2)?;
/// assert_eq!(layer.describe(), "AlphaDropout(0.2)");
/// let (ps, st) = setup(&mut RngState::seed_from_u64(0), &layer)?;
/// let x = Tensor::zeros(&[1000], DType::F64)?;
/// let (y, _) = apply_tensor(&layer, &x, &ps, &st)?;
/// // kept zeros become B, dropped ones A·α′ + B (Lux's constants for p = 0.2)
/// let (a, b) = (0.8789035834435328, 0.30903996214409446);
/// let dropped = a * -1.7580993408473766 + b;
/// assert!(y.to_vec::<f64>()?.iter().all(|&v| (v - b).abs() < 1e-12 || (v - dropped).abs() < 1e-12));
/// let (y, _) = apply_tensor(&layer, &x, &ps, &test_mode(&st))?;
/// assert_eq!(y, x);
/// # Ok::<(), lux_core::LuxError>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct AlphaDropout {
    p: f64,
}

impl AlphaDropout {
    /// `AlphaDropout(p)`.
    ///
    /// ```
    /// assert_eq!(lux_layers::AlphaDropout::new(0.5)?.p(), 0.5);
    /// assert!(lux_layers::AlphaDropout::new(-0.1).is_err());
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// `p` outside `[0, 1]` or NaN.
    pub fn new(p: f64) -> Result<AlphaDropout> {
        let layer = AlphaDropout { p };
        check_p(&layer.describe(), p)?;
        Ok(layer)
    }

    /// The dropout probability.
    ///
    /// ```
    /// assert_eq!(lux_layers::AlphaDropout::new(0.25)?.p(), 0.25);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn p(&self) -> f64 {
        self.p
    }
}

impl Layer for AlphaDropout {
    fn init_state(&self, rng: &mut dyn Rng) -> Result<Tree> {
        Ok(tree! { rng: RngState::from_rng(rng), training: true })
    }

    fn state_shapes(&self) -> Option<Vec<Vec<usize>>> {
        Some(vec![vec![], vec![]])
    }

    fn param_shapes(&self) -> Option<Vec<Vec<usize>>> {
        Some(vec![])
    }

    fn forward(&self, x: &Tree, _ps: &Tree, st: &Tree) -> Result<(Tree, Tree)> {
        let x = float_input(x, || self.describe())?;
        let (rng, training) = rng_and_mode(st)?;
        let (y, rng) = alpha_dropout(rng, x, self.p, training).map_err(|e| in_layer(e, || self.describe()))?;
        Ok((y.into(), tree! { rng: rng, training: training }))
    }

    fn describe(&self) -> String {
        format!("AlphaDropout({})", julia_float(self.p))
    }
}

// ----- VariationalHiddenDropout ----------------------------------------------------

/// Dropout whose mask is kept in the state and reused (Lux's
/// `VariationalHiddenDropout(p; dims)`), e.g. the same mask at every time
/// step of a recurrent network.
///
/// State: `rng`, `training`, `update_mask` (`true`) and `mask` (`None`
/// until the first training call). In training mode:
///
/// * if `update_mask` is `true` (or there is no mask yet), a new mask is
///   drawn from `rng` (values `1/(1 − p)` or 0, of shape `x.shape()` with
///   size 1 on the axes not in `dims`), applied, and stored; the returned
///   state has `update_mask = false` and the advanced `rng`;
/// * otherwise the stored mask is applied again (the `rng` is not used);
///   a mask that does not fit the input is an `Err`.
///
/// To draw a new mask, set `update_mask` again:
/// `lux_core::update_state(&st, "update_mask", true)`. In test mode the
/// layer is the identity and returns its state unchanged.
///
/// Lux differences: Lux also sets `update_mask = false` in test mode and
/// stores the *input* as the mask when it has none (after which a training
/// call multiplies by that input); here a test-mode call leaves the state
/// alone and a missing mask is always drawn. Because `mask` starts as
/// `None` and becomes a tensor, the layer does not preserve its state's
/// type ([`Layer::preserves_state_type`] is `false`, as in Lux).
///
/// ```
/// use lux_core::*;
/// use lux_layers::*;
/// let layer = VariationalHiddenDropout::new(0.5)?;
/// assert_eq!(layer.describe(), "VariationalHiddenDropout(0.5)");
/// let (ps, st) = setup(&mut RngState::seed_from_u64(0), &layer)?;
/// assert_eq!(st.get("mask")?, &Tree::None);
/// let x = Tensor::ones(&[2, 50], DType::F32)?;
/// let (y1, st1) = apply_tensor(&layer, &x, &ps, &st)?;
/// let (y2, st2) = apply_tensor(&layer, &x, &ps, &st1)?;
/// assert_eq!(y1, y2); // the stored mask is reused
/// assert_eq!(st2.get("update_mask")?, &Tree::Bool(false));
/// let (y3, _) = apply_tensor(&layer, &x, &ps, &update_state(&st2, "update_mask", true))?;
/// assert_ne!(y3, y1); // a new mask
/// # Ok::<(), lux_core::LuxError>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct VariationalHiddenDropout {
    p: f64,
    dims: Option<Vec<isize>>,
}

/// The options of a [`VariationalHiddenDropout`] (from
/// [`VariationalHiddenDropout::builder`]).
#[derive(Clone, Debug, PartialEq)]
pub struct VariationalHiddenDropoutBuilder {
    p: f64,
    dims: Option<Vec<isize>>,
}

impl VariationalHiddenDropoutBuilder {
    /// The axes the mask varies along (signed; shared along the others).
    /// Default: every axis.
    ///
    /// ```
    /// use lux_layers::VariationalHiddenDropout;
    /// let l = VariationalHiddenDropout::builder(0.1).dims(vec![-1]).build()?;
    /// assert_eq!(l.dims(), Some(&[-1][..]));
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn dims(mut self, dims: Vec<isize>) -> Self {
        self.dims = Some(dims);
        self
    }

    /// The layer.
    ///
    /// ```
    /// assert!(lux_layers::VariationalHiddenDropout::builder(2.0).build().is_err());
    /// ```
    ///
    /// # Errors
    /// `p` outside `[0, 1]` or NaN; `dims` empty or with a repeated axis.
    pub fn build(self) -> Result<VariationalHiddenDropout> {
        let layer = VariationalHiddenDropout { p: self.p, dims: self.dims };
        check_p(&layer.describe(), layer.p)?;
        check_dims(&layer.describe(), layer.dims.as_deref())?;
        Ok(layer)
    }
}

impl VariationalHiddenDropout {
    /// `VariationalHiddenDropout(p)`: the mask varies along every axis.
    ///
    /// ```
    /// assert_eq!(lux_layers::VariationalHiddenDropout::new(0.3)?.p(), 0.3);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// `p` outside `[0, 1]` or NaN.
    pub fn new(p: f64) -> Result<VariationalHiddenDropout> {
        Self::builder(p).build()
    }

    /// The options of `VariationalHiddenDropout(p)`.
    ///
    /// ```
    /// use lux_core::Layer;
    /// let l = lux_layers::VariationalHiddenDropout::builder(0.5).dims(vec![0]).build()?;
    /// assert_eq!(l.describe(), "VariationalHiddenDropout(0.5, dims=0)");
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn builder(p: f64) -> VariationalHiddenDropoutBuilder {
        VariationalHiddenDropoutBuilder { p, dims: None }
    }

    /// The dropout probability.
    ///
    /// ```
    /// assert_eq!(lux_layers::VariationalHiddenDropout::new(0.5)?.p(), 0.5);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn p(&self) -> f64 {
        self.p
    }

    /// The axes the mask varies along (`None`: every axis).
    ///
    /// ```
    /// assert_eq!(lux_layers::VariationalHiddenDropout::new(0.5)?.dims(), None);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn dims(&self) -> Option<&[isize]> {
        self.dims.as_deref()
    }

    /// The stored mask applied to `x` (cast to `x`'s dtype), after checking
    /// that it fits.
    fn apply_mask(&self, x: &Tensor, mask: &Tensor) -> Result<Tensor> {
        let expected: Vec<usize> = match &self.dims {
            None => x.shape().to_vec(),
            Some(dims) => {
                let mut keep = vec![false; x.ndim()];
                for &d in dims {
                    keep[lux_core::normalize_axis(&self.describe(), d, x.shape())?] = true;
                }
                x.shape().iter().zip(&keep).map(|(&s, &k)| if k { s } else { 1 }).collect()
            }
        };
        if mask.shape() != expected.as_slice() {
            return Err(LuxError::shape(
                &self.describe(),
                format!(
                    "the stored mask has shape {:?} but input of shape {:?} needs {expected:?} \
                     (set update_mask to draw a new one)",
                    mask.shape(),
                    x.shape()
                ),
            ));
        }
        if mask.dtype() == x.dtype() { x.mul(mask) } else { x.mul(&mask.to_dtype(x.dtype())?) }
    }
}

impl Layer for VariationalHiddenDropout {
    fn init_state(&self, rng: &mut dyn Rng) -> Result<Tree> {
        Ok(tree! { rng: RngState::from_rng(rng), training: true, update_mask: true, mask: Tree::None })
    }

    fn state_shapes(&self) -> Option<Vec<Vec<usize>>> {
        // rng, training, update_mask, and the mask (`None`: one leaf).
        Some(vec![vec![]; 4])
    }

    fn param_shapes(&self) -> Option<Vec<Vec<usize>>> {
        Some(vec![])
    }

    fn preserves_state_type(&self) -> bool {
        false
    }

    fn forward(&self, x: &Tree, _ps: &Tree, st: &Tree) -> Result<(Tree, Tree)> {
        let x = float_input(x, || self.describe())?;
        let (rng, training) = rng_and_mode(st)?;
        let update = st.get("update_mask")?.as_bool()?;
        let stored = match st.get("mask")? {
            Tree::None => None,
            other => Some(other.as_tensor()?),
        };
        if !training {
            return Ok((x.clone().into(), st.clone()));
        }
        let (y, mask, rng) = match stored {
            Some(mask) if !update => (self.apply_mask(x, mask)?, mask.clone(), rng.clone()),
            _ => {
                let (mask, rng) =
                    dropout_mask(rng, x, self.p, self.dims.as_deref()).map_err(|e| in_layer(e, || self.describe()))?;
                (x.mul(&mask)?, mask, rng)
            }
        };
        Ok((y.into(), tree! { rng: rng, training: true, update_mask: false, mask: mask }))
    }

    fn describe(&self) -> String {
        match &self.dims {
            None => format!("VariationalHiddenDropout({})", julia_float(self.p)),
            Some(d) => format!("VariationalHiddenDropout({}, dims={})", julia_float(self.p), julia_dims(d)),
        }
    }
}
