//! Helpers shared by the layer tests.

use lux_core::{Children, DType, Layer, Result, RngState, Tensor, Tree, test_mode};

/// A standard-normal tensor from a fixed seed.
pub(crate) fn randn(seed: u64, shape: &[usize], dtype: DType) -> Tensor {
    Tensor::randn(&mut RngState::seed_from_u64(seed), shape, dtype).unwrap()
}

/// Runs a layer with its state switched to test mode from the start, so
/// that `check_layer` (which checks gradients in the setup state) covers
/// the test-mode path too.
pub(crate) struct InTestMode<L>(pub L);

impl<L: Layer> Layer for InTestMode<L> {
    fn init_params(&self, rng: &mut dyn rand::Rng) -> Result<Tree> {
        self.0.init_params(rng)
    }
    fn init_state(&self, rng: &mut dyn rand::Rng) -> Result<Tree> {
        Ok(test_mode(&self.0.init_state(rng)?))
    }
    fn forward(&self, x: &Tree, ps: &Tree, st: &Tree) -> Result<(Tree, Tree)> {
        self.0.forward(x, ps, st)
    }
    fn param_count(&self) -> usize {
        self.0.param_count()
    }
    fn state_count(&self) -> usize {
        self.0.state_count()
    }
    fn preserves_state_type(&self) -> bool {
        self.0.preserves_state_type()
    }
    fn describe(&self) -> String {
        format!("{} (test mode)", self.0.describe())
    }
    fn children(&self) -> Children<'_> {
        Children::None
    }
}
