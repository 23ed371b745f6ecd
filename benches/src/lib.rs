//! Standard workloads shared by the `lux-bench` binary and the criterion
//! benches: [`steps`] holds the full training steps (`tiny`, `mnist`,
//! `wide`, `conv`, `lstm`); [`TinyMlp`] the tiny MLP's loss and gradient
//! written with tensor ops and `lux::ops` kernels (fused and unfused).

pub mod steps;

use lux::ops::Activation;
use lux::prelude::*;
use rand::SeedableRng;
use rand::rngs::StdRng;

/// The `tiny` workload: MLP 4→16→16→1 with tanh, MSE loss, batch 64.
pub struct TinyMlp {
    /// Parameters `{layer_i: {weight [out, in], bias [out]}}`.
    pub ps: Tree,
    /// Inputs `[64, 4]`.
    pub x: Tensor,
    /// Targets `[64, 1]`.
    pub y: Tensor,
}

fn dense_params(rng: &mut StdRng, inp: usize, out: usize) -> Result<Tree> {
    let bound = 1.0 / (inp as f64).sqrt();
    let w = Tensor::rand(rng, &[out, inp], DType::F32)?.mul_scalar(2.0 * bound)?.add_scalar(-bound)?;
    let b = Tensor::rand(rng, &[out], DType::F32)?.mul_scalar(2.0 * bound)?.add_scalar(-bound)?;
    Ok(tree! { weight: w, bias: b })
}

impl TinyMlp {
    /// Deterministic parameters and data.
    pub fn new() -> Result<Self> {
        let mut rng = StdRng::seed_from_u64(0);
        let ps = tree! {
            layer_1: dense_params(&mut rng, 4, 16)?,
            layer_2: dense_params(&mut rng, 16, 16)?,
            layer_3: dense_params(&mut rng, 16, 1)?,
        };
        let x = Tensor::randn(&mut rng, &[64, 4], DType::F32)?;
        let y = x.sum(&[-1], true)?.sin()?;
        Ok(TinyMlp { ps, x, y })
    }

    /// The loss at `ps`, with the fused `dense` kernel of lux-ops.
    pub fn loss(&self, ps: &Tree) -> Result<Tensor> {
        let dense = |h: &Tensor, name: &str, act: Activation| -> Result<Tensor> {
            let p = ps.get(name)?;
            lux::ops::dense::dense(h, p.tensor("weight")?, Some(p.tensor("bias")?), act)
        };
        let h = dense(&self.x, "layer_1", Activation::Tanh)?;
        let h = dense(&h, "layer_2", Activation::Tanh)?;
        dense(&h, "layer_3", Activation::Identity)?.sub(&self.y)?.square()?.mean_all()
    }

    /// The same loss with unfused primitive ops (matmul, add, tanh), for
    /// comparison.
    pub fn loss_unfused(&self, ps: &Tree) -> Result<Tensor> {
        let dense = |h: &Tensor, name: &str| -> Result<Tensor> {
            let p = ps.get(name)?;
            h.matmul(&p.tensor("weight")?.transpose(0, 1)?)?.add(p.tensor("bias")?)
        };
        let h = dense(&self.x, "layer_1")?.tanh()?;
        let h = dense(&h, "layer_2")?.tanh()?;
        dense(&h, "layer_3")?.sub(&self.y)?.square()?.mean_all()
    }

    /// One `value_and_gradient` of the loss.
    pub fn value_and_gradient(&self) -> Result<(Tensor, Tree)> {
        value_and_gradient(|p| self.loss(p), &self.ps)
    }

    /// One `value_and_gradient` of the unfused loss.
    pub fn value_and_gradient_unfused(&self) -> Result<(Tensor, Tree)> {
        value_and_gradient(|p| self.loss_unfused(p), &self.ps)
    }
}
