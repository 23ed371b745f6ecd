//! Low precision and mixed precision end to end: the tiny MLP (4 → 16 →
//! 16 → 1, tanh, MSE, batch 64, Adam) trains in f16 and bf16, and with
//! mixed precision in both, close to f32 training.

use lux_ad::AutoTape;
use lux_core::{DType, RngState, Tensor, Tree, apply_tensor, setup};
use lux_layers::{Chain, Dense};
use lux_losses::{LossFunction, MSELoss};
use lux_ops::Activation;
use lux_precision::{ToPrecision, to_dtype};
use lux_train::{Adam, MixedPrecision, TrainState, single_train_step_mut};

type Mlp = Chain<(Dense, Dense, Dense)>;

fn mlp() -> Mlp {
    let d = |i, o, a| Dense::new(i, o, a).unwrap();
    Chain::new((d(4, 16, Activation::Tanh), d(16, 16, Activation::Tanh), d(16, 1, Activation::Identity))).unwrap()
}

/// A smooth target of four features: y = sin(x₁) + x₂·x₃/2 − x₄/4.
fn data() -> (Tensor, Tensor) {
    let x = Tensor::randn(&mut RngState::seed_from_u64(7), &[64, 4], DType::F32).unwrap();
    let v = x.to_vec::<f32>().unwrap();
    let y: Vec<f32> = v.chunks(4).map(|r| r[0].sin() + 0.5 * r[1] * r[2] - 0.25 * r[3]).collect();
    (x, Tensor::from_vec(y, &[64, 1]).unwrap())
}

const STEPS: usize = 400;
const EVERY: usize = 50;

/// The f32 loss of `ps` (evaluated in f32 whatever `ps`'s dtype).
fn f32_loss(model: &Mlp, ps: &Tree, st: &Tree, (x, y): &(Tensor, Tensor)) -> f64 {
    let ps = to_dtype(ps, DType::F32).unwrap();
    let (yhat, _) = apply_tensor(model, x, &ps, st).unwrap();
    MSELoss::default().call(&yhat, y).unwrap().to_dtype(DType::F64).unwrap().to_scalar::<f64>().unwrap()
}

/// Trains with parameters in `storage`, batches in `data_dtype` and the
/// optional policy; returns the f32 loss every `EVERY` steps (step 0 first)
/// and the train state.
fn train(storage: DType, data_dtype: DType, policy: Option<MixedPrecision>) -> (Vec<f64>, TrainState<Mlp>) {
    let model = mlp();
    let (ps, st) = setup(&mut RngState::seed_from_u64(0), &model).unwrap();
    let (ps, st) = (to_dtype(&ps, storage).unwrap(), to_dtype(&st, storage).unwrap());
    let mut ts = TrainState::new(mlp(), ps, st, Adam::new(0.01)).unwrap();
    if let Some(p) = policy {
        ts = ts.with_mixed_precision(p);
    }
    let full = data();
    // Targets stay f32 in mixed precision (the loss is f32); in pure low
    // precision everything is in the storage dtype.
    let batch = (
        full.0.to_precision(data_dtype).unwrap(),
        full.1.to_precision(if ts.mixed_precision().is_some() { DType::F32 } else { data_dtype }).unwrap(),
    );
    let mut curve = vec![f32_loss(&model, ts.parameters(), ts.states(), &full)];
    for step in 1..=STEPS {
        let out = single_train_step_mut(&AutoTape, &MSELoss::default(), &batch, &mut ts, false).unwrap();
        assert!(out.loss.to_dtype(DType::F64).unwrap().to_scalar::<f64>().unwrap().is_finite());
        if step % EVERY == 0 {
            curve.push(f32_loss(&model, ts.parameters(), ts.states(), &full));
        }
    }
    (curve, ts)
}

fn assert_falls(curve: &[f64], factor: f64, what: &str) {
    let (first, last) = (curve[0], *curve.last().unwrap());
    assert!(last * factor <= first, "{what}: loss {first} → {last} fell less than {factor}×: {curve:?}");
}

#[test]
fn low_precision_trains_end_to_end() {
    let (c32, _) = train(DType::F32, DType::F32, None);
    assert_falls(&c32, 10.0, "f32");
    for dtype in [DType::F16, DType::BF16] {
        let (c, ts) = train(dtype, dtype, None);
        eprintln!("{dtype}: {c:?}");
        assert_falls(&c, 10.0, dtype.name());
        // Parameters and Adam's moments stay in the storage dtype.
        assert!(ts.parameters().tensors().iter().all(|(_, t)| t.dtype() == dtype));
        assert_eq!(ts.optimizer_state().tree().tensor("layer_1.weight.m").unwrap().dtype(), dtype);
    }
}

#[test]
fn mixed_precision_follows_f32_training() {
    let (c32, _) = train(DType::F32, DType::F32, None);
    for policy in [MixedPrecision::bf16(), MixedPrecision::f16().growth_interval(100).unwrap()] {
        let compute = policy.compute_dtype();
        let (c, ts) = train(DType::F32, compute, Some(policy));
        assert_falls(&c, 10.0, compute.name());
        // f32 master parameters and optimiser state.
        assert!(ts.parameters().tensors().iter().all(|(_, t)| t.dtype() == DType::F32));
        assert_eq!(ts.optimizer_state().tree().tensor("layer_1.weight.m").unwrap().dtype(), DType::F32);
        eprintln!("{compute} mixed: {c:?}\nf32: {c32:?}");
        // The first 300 steps (the loss falls > 1000×); past that the
        // 8-bit (bf16) / 11-bit (f16) rounding of the forward pass slows
        // convergence measurably (docs/precision.md quotes the numbers).
        for (i, (a, b)) in c.iter().zip(&c32).enumerate().take(300 / EVERY + 1) {
            let rel = (a - b).abs() / b;
            assert!(
                rel < 0.05,
                "{compute} mixed precision at step {}: loss {a} vs f32 {b} ({:.1} %)",
                i * EVERY,
                rel * 100.0
            );
        }
    }
}

#[test]
fn f16_loss_scale_halves_and_skips_on_overflow_and_grows_when_clean() {
    let model = mlp();
    let (ps, st) = setup(&mut RngState::seed_from_u64(0), &model).unwrap();
    // 2⁴⁰ overflows f16 (max 65504) in the first backward pass.
    let policy = MixedPrecision::f16().init_scale(2f64.powi(40)).unwrap().growth_interval(3).unwrap();
    let mut ts = TrainState::new(model, ps.clone(), st.clone(), Adam::new(0.01)).unwrap().with_mixed_precision(policy);
    let (x, y) = data();
    let batch = (x.to_precision(DType::F16).unwrap(), y);
    let mut scales = vec![];
    let mut skipped = vec![];
    for _ in 0..40 {
        single_train_step_mut(&AutoTape, &MSELoss::default(), &batch, &mut ts, false).unwrap();
        scales.push(ts.mixed_precision().unwrap().loss_scale().unwrap());
        skipped.push(ts.skipped_steps());
    }
    // The first step overflowed: skipped and the scale halved.
    assert_eq!((skipped[0], scales[0]), (1, 2f64.powi(39)));
    // Every later step follows the rule: a skip halves the scale, the third
    // clean step in a row doubles it, anything else keeps it.
    let (mut scale, mut clean, mut prev_skips) = (2f64.powi(39), 0, 1);
    let mut grew = false;
    for i in 1..40 {
        if skipped[i] > prev_skips {
            scale /= 2.0;
            clean = 0;
        } else {
            clean += 1;
            if clean == 3 {
                scale *= 2.0;
                clean = 0;
                grew = true;
            }
        }
        prev_skips = skipped[i];
        assert_eq!(scales[i], scale, "step {i}: {scales:?} {skipped:?}");
    }
    let skips = *skipped.last().unwrap();
    assert!(grew && skips > 1 && ts.step() == 40 - skips, "{skipped:?}");
    // Training went on: the loss after the run is below the first one.
    let (before, after) =
        (f32_loss(&mlp(), &ps, &st, &data()), f32_loss(&mlp(), ts.parameters(), ts.states(), &data()));
    assert!(after < 0.5 * before, "{before} → {after}");
    // The optimiser sees unscaled gradients: one descent step with scale 1
    // and with scale 2⁸ moves the parameters the same (up to f16 rounding);
    // without unscaling the second would move 256× further.
    let one = |scale: f64| {
        let policy = MixedPrecision::f16().init_scale(scale).unwrap();
        let mut ts = TrainState::new(mlp(), ps.clone(), st.clone(), lux_train::Descent::new(0.1))
            .unwrap()
            .with_mixed_precision(policy);
        single_train_step_mut(&AutoTape, &MSELoss::default(), &batch, &mut ts, false).unwrap();
        ts.parameters().clone()
    };
    let (a, b) = (one(1.0), one(256.0));
    let mut moved = 0.0f32;
    for (p, t) in a.tensors() {
        let (u, v) = (t.to_vec::<f32>().unwrap(), b.tensor(&p).unwrap().to_vec::<f32>().unwrap());
        let w0 = ps.tensor(&p).unwrap().to_vec::<f32>().unwrap();
        for ((x, y), w) in u.iter().zip(&v).zip(&w0) {
            assert!((x - y).abs() <= 1e-3 * (1.0 + x.abs()), "{p}: {x} vs {y}");
            moved = moved.max((x - w).abs());
        }
    }
    assert!(moved > 1e-3, "the step moved nothing");
}
