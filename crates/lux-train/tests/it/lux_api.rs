//! Lux's own Training API test (`test/misc/helpers/training_api_tests.jl`),
//! batch-first: `Chain(Dense(4 => 32, tanh), BatchNorm(32), Dense(32 => 32,
//! tanh), BatchNorm(32), Dense(32 => 4))`, MSE, Adam(0.001), 1000 epochs
//! over four mini-batches of 8, through each entry point; the total loss
//! must fall more than 100×.

use lux_ad::AutoTape;
use lux_core::{DType, Layer, RngState, Tensor, setup};
use lux_layers::{BatchNorm, Chain, Dense};
use lux_losses::MSELoss;
use lux_ops::Activation;
use lux_train::*;

type Model = Box<dyn Layer>;

fn model() -> Model {
    Box::new(
        Chain::new((
            Dense::new(4, 32, Activation::Tanh).unwrap(),
            BatchNorm::new(32).unwrap(),
            Dense::new(32, 32, Activation::Tanh).unwrap(),
            BatchNorm::new(32).unwrap(),
            Dense::new(32, 4, Activation::Identity).unwrap(),
        ))
        .unwrap(),
    )
}

/// x ~ N(0, 1) of shape [32, 4]; y = (1 + 2x + 3x²) − (5 + 2x), scaled to [0, 1]; four batches of 8.
fn dataset() -> Vec<(Tensor, Tensor)> {
    let x = Tensor::randn(&mut RngState::seed_from_u64(12345), &[32, 4], DType::F32).unwrap().to_vec::<f32>().unwrap();
    let y: Vec<f32> = x.iter().map(|&v| (1.0 + 2.0 * v + 3.0 * v * v) - (5.0 + 2.0 * v)).collect();
    let (lo, hi) = y.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(l, h), &v| (l.min(v), h.max(v)));
    let y: Vec<f32> = y.iter().map(|v| (v - lo) / (hi - lo)).collect();
    (0..4)
        .map(|b| {
            let rows = b * 8 * 4..(b + 1) * 8 * 4;
            (Tensor::from_slice(&x[rows.clone()], &[8, 4]).unwrap(), Tensor::from_slice(&y[rows], &[8, 4]).unwrap())
        })
        .collect()
}

fn total_loss(ts: &TrainState<Model>, data: &[(Tensor, Tensor)]) -> f32 {
    data.iter()
        .map(|d| {
            let (loss, _, _) = MSELoss::default().evaluate(ts.model(), ts.parameters(), ts.states(), d).unwrap();
            loss.to_scalar::<f32>().unwrap()
        })
        .sum()
}

fn fresh() -> TrainState<Model> {
    let model = model();
    let (ps, st) = setup(&mut RngState::seed_from_u64(0), &model).unwrap();
    TrainState::new(model, ps, st, Adam::new(0.001)).unwrap()
}

#[test]
fn compute_gradients_and_apply_gradients_mut() {
    let data = dataset();
    let mut ts = fresh();
    let initial = total_loss(&ts, &data);
    for _ in 0..1000 {
        for d in &data {
            let (grads, _, _, next) = compute_gradients(&AutoTape, &MSELoss::default(), d, &ts).unwrap();
            ts = next;
            apply_gradients_mut(&mut ts, &grads).unwrap();
        }
    }
    let last = total_loss(&ts, &data);
    assert!(last * 100.0 < initial, "{last} vs {initial}");
}

#[test]
fn single_train_step_mut_trains() {
    let data = dataset();
    let mut ts = fresh();
    let initial = total_loss(&ts, &data);
    for _ in 0..1000 {
        for d in &data {
            single_train_step_mut(&AutoTape, &MSELoss::default(), d, &mut ts, false).unwrap();
        }
    }
    assert_eq!(ts.step(), 4000);
    let last = total_loss(&ts, &data);
    assert!(last * 100.0 < initial, "{last} vs {initial}");
}

#[test]
fn single_train_step_trains() {
    let data = dataset();
    let mut ts = fresh();
    let initial = total_loss(&ts, &data);
    for _ in 0..1000 {
        for d in &data {
            ts = single_train_step(&AutoTape, &MSELoss::default(), d, &ts, true).unwrap().1;
        }
    }
    let last = total_loss(&ts, &data);
    assert!(last * 100.0 < initial, "{last} vs {initial}");
    // apply_gradients: one step, a new state
    let (grads, _, _, _) = compute_gradients(&AutoTape, &MSELoss::default(), &data[0], &ts).unwrap();
    let next = apply_gradients(&ts, &grads).unwrap();
    assert_eq!(next.step(), ts.step() + 1);
    assert_ne!(next.parameters(), ts.parameters());
}
