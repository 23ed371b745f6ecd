//! Per-step time of the tiny MLP (4 → 16 → 16 → 1, tanh, MSE, batch 64,
//! Adam) with f32, bf16 and f16 parameters, and with mixed precision.
//!
//! `cargo run --release -p lux-precision --example step_times`

use lux_ad::AutoTape;
use lux_core::{DType, Result, RngState, Tensor, setup};
use lux_layers::{Chain, Dense};
use lux_losses::MSELoss;
use lux_ops::Activation;
use lux_precision::to_dtype;
use lux_train::{Adam, MixedPrecision, TrainState, single_train_step_mut};
use std::time::Instant;

fn main() -> Result<()> {
    let d = |i, o, a| Dense::new(i, o, a);
    let mlp = || -> Result<_> {
        Chain::new((d(4, 16, Activation::Tanh)?, d(16, 16, Activation::Tanh)?, d(16, 1, Activation::Identity)?))
    };
    let mut rng = RngState::seed_from_u64(1);
    let x = Tensor::randn(&mut rng, &[64, 4], DType::F32)?;
    let y = Tensor::randn(&mut rng, &[64, 1], DType::F32)?;
    let runs: [(&str, DType, Option<MixedPrecision>); 5] = [
        ("f32", DType::F32, None),
        ("bf16", DType::BF16, None),
        ("f16", DType::F16, None),
        ("mixed bf16", DType::F32, Some(MixedPrecision::bf16())),
        ("mixed f16", DType::F32, Some(MixedPrecision::f16())),
    ];
    println!("tiny MLP, batch 64, Adam: median of 15 runs of 200 steps");
    for (name, storage, policy) in runs {
        let model = mlp()?;
        let (ps, st) = setup(&mut RngState::seed_from_u64(0), &model)?;
        let mut ts = TrainState::new(model, to_dtype(&ps, storage)?, to_dtype(&st, storage)?, Adam::new(0.01))?;
        let compute = policy.as_ref().map_or(storage, |p| p.compute_dtype());
        if let Some(p) = policy {
            ts = ts.with_mixed_precision(p);
        }
        let target = if ts.mixed_precision().is_some() { y.clone() } else { y.to_dtype(storage)? };
        let batch = (x.to_dtype(compute)?, target);
        for _ in 0..200 {
            single_train_step_mut(&AutoTape, &MSELoss::default(), &batch, &mut ts, false)?;
        }
        let mut per_step: Vec<f64> = (0..15)
            .map(|_| {
                let t = Instant::now();
                for _ in 0..200 {
                    single_train_step_mut(&AutoTape, &MSELoss::default(), &batch, &mut ts, false)?;
                }
                Ok(t.elapsed().as_secs_f64() / 200.0)
            })
            .collect::<Result<_>>()?;
        per_step.sort_by(f64::total_cmp);
        println!("{name:>11}: {:7.1} µs/step", per_step[7] * 1e6);
    }
    Ok(())
}
