//! [`RepeatedLayer`]: one layer applied repeatedly.

use super::*;

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
