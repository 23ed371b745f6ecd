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

/// A user's own layer, written as a user would: `y = x·Wᵀ + b` with `W`
/// `[out, in]` and `b` `[out]` drawn from a normal distribution; a wrong
/// feature count is an `Err` naming the layer.
pub(crate) struct Affine {
    pub inp: usize,
    pub out: usize,
}

impl Layer for Affine {
    fn init_params(&self, rng: &mut dyn rand::Rng) -> Result<Tree> {
        Ok(lux_core::tree! {
            weight: Tensor::randn(rng, &[self.out, self.inp], DType::F32)?,
            bias: Tensor::randn(rng, &[self.out], DType::F32)?,
        })
    }
    fn param_shapes(&self) -> Option<Vec<Vec<usize>>> {
        Some(vec![vec![self.out, self.inp], vec![self.out]])
    }
    fn forward(&self, x: &Tree, ps: &Tree, st: &Tree) -> Result<(Tree, Tree)> {
        let x = x.as_tensor()?;
        let got = x.shape().last().copied().unwrap_or(0);
        if got != self.inp {
            return Err(lux_core::LuxError::shape(
                &self.describe(),
                format!("input has {got} features, expected {}", self.inp),
            ));
        }
        let w = ps.tensor("weight")?;
        let y = x.matmul(&w.transpose(0, 1)?)?.add(ps.tensor("bias")?)?;
        Ok((y.into(), st.clone()))
    }
    fn describe(&self) -> String {
        format!("Affine({} => {})", self.inp, self.out)
    }
}

/// A user's stateful layer: the identity, counting its calls in `count`.
pub(crate) struct Counter;

impl Layer for Counter {
    fn init_state(&self, _: &mut dyn rand::Rng) -> Result<Tree> {
        Ok(lux_core::tree! { count: 0i64 })
    }
    fn forward(&self, x: &Tree, _: &Tree, st: &Tree) -> Result<(Tree, Tree)> {
        Ok((x.clone(), lux_core::tree! { count: st.get("count")?.as_int()? + 1 }))
    }
}

/// The values of a float tensor as f64.
pub(crate) fn vals64(t: &Tensor) -> Vec<f64> {
    t.to_dtype(DType::F64).unwrap().to_vec::<f64>().unwrap()
}

/// A naive f64 reference of `x·Wᵀ + b` for `x` `[n, in]` (row-major values).
pub(crate) fn affine_ref(x: &[f64], n: usize, w: &Tensor, b: &Tensor) -> Vec<f64> {
    let (out, inp) = (w.shape()[0], w.shape()[1]);
    let (w, b) = (vals64(w), vals64(b));
    let mut y = vec![0.0; n * out];
    for i in 0..n {
        for o in 0..out {
            let mut acc = b[o];
            for k in 0..inp {
                acc += x[i * inp + k] * w[o * inp + k];
            }
            y[i * out + o] = acc;
        }
    }
    y
}

/// Asserts two slices agree to a relative tolerance.
pub(crate) fn assert_close(got: &[f64], want: &[f64], tol: f64) {
    assert_eq!(got.len(), want.len(), "lengths differ: {got:?} vs {want:?}");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!((g - w).abs() <= tol * w.abs().max(1.0), "entry {i}: {g} vs {w}");
    }
}
