//! Fits a cubic polynomial to noisy samples with `lux-ad` gradients and
//! plain gradient descent, printing the loss as it falls.
//!
//! Run: `cargo run --release --example fit_polynomial`

use lux::prelude::*;
use lux::rand::SeedableRng;
use lux::rand::rngs::StdRng;

const TRUE_COEFFS: [f32; 4] = [0.5, -1.0, 2.0, 0.8]; // c0 + c1 x + c2 x² + c3 x³

fn features(x: &Tensor) -> Result<Tensor> {
    // [n, 4] design matrix: 1, x, x², x³
    Tensor::concat(&[x.ones_like(), x.clone(), x.square()?, x.powf(3.0)?], 1)
}

fn main() -> Result<()> {
    let mut rng = StdRng::seed_from_u64(42);
    let n = 256;
    let x = Tensor::rand(&mut rng, &[n, 1], DType::F32)?.mul_scalar(4.0)?.add_scalar(-2.0)?; // U(-2, 2)
    let phi = features(&x)?;
    let noise = Tensor::randn(&mut rng, &[n, 1], DType::F32)?.mul_scalar(0.05)?;
    let y = phi.matmul(&Tensor::from_vec(TRUE_COEFFS.to_vec(), &[4, 1])?)?.add(&noise)?;

    let mut ps = tree! { coeffs: Tensor::zeros(&[4, 1], DType::F32)? };
    let loss = |p: &Tree| phi.matmul(p.tensor("coeffs")?)?.sub(&y)?.square()?.mean_all();
    let learning_rate = 0.02;
    let mut losses = Vec::new();
    for step in 0..=3000 {
        let (l, g) = value_and_gradient(loss, &ps)?;
        losses.push(l.to_scalar::<f32>()?);
        if step % 500 == 0 {
            println!("step {step:>5}  loss {:.6}", losses[step]);
        }
        ps = ps.axpy(-learning_rate, &g)?; // ps − η·∇loss, leaf by leaf
    }
    let (first, last) = (losses[0], losses[losses.len() - 1]);
    println!("loss fell from {first:.4} to {last:.6} ({:.0}x)", first / last);
    println!("fitted coefficients {:?}", ps.tensor("coeffs")?.to_vec::<f32>()?);
    println!("true coefficients   {TRUE_COEFFS:?}");
    Ok(())
}
