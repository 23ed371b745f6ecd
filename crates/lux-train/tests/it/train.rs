//! The Training API on small models written here: gradients, in-place
//! updates (buffer identity), policies for bad gradients, backends, adjust.

use lux_ad::{AdBackend, AutoFiniteDiff, AutoTape};
use lux_core::{DType, Layer, LuxError, Result, RngState, Tensor, Tree, setup, tree};
use lux_losses::MSELoss;
use lux_train::*;

/// `y = x·Wᵀ + b`, counting its calls in the state.
struct Linear {
    inp: usize,
    out: usize,
    dtype: DType,
}

impl Layer for Linear {
    fn init_params(&self, rng: &mut dyn rand::Rng) -> Result<Tree> {
        Ok(tree! {
            weight: Tensor::randn(rng, &[self.out, self.inp], self.dtype)?.mul_scalar(0.5)?,
            bias: Tensor::zeros(&[self.out], self.dtype)?,
        })
    }
    fn init_state(&self, _: &mut dyn rand::Rng) -> Result<Tree> {
        Ok(tree! { calls: 0i64 })
    }
    fn forward(&self, x: &Tree, ps: &Tree, st: &Tree) -> Result<(Tree, Tree)> {
        let y = x.as_tensor()?.matmul(&ps.tensor("weight")?.transpose(0, 1)?)?.add(ps.tensor("bias")?)?;
        Ok((y.into(), tree! { calls: st.get("calls")?.as_int()? + 1 }))
    }
}

fn problem(dtype: DType) -> (Linear, Tree, Tree, (Tensor, Tensor)) {
    let model = Linear { inp: 3, out: 2, dtype };
    let (ps, st) = setup(&mut RngState::seed_from_u64(1), &model).unwrap();
    let mut rng = RngState::seed_from_u64(2);
    let x = Tensor::randn(&mut rng, &[16, 3], dtype).unwrap();
    // a linear target: y = x·Aᵀ + c
    let a = Tensor::from_vec(vec![1.0, -2.0, 0.5, 0.3, 0.0, 1.5], &[2, 3]).unwrap().to_dtype(dtype).unwrap();
    let c = Tensor::from_vec(vec![0.25, -1.0], &[2]).unwrap().to_dtype(dtype).unwrap();
    let y = x.matmul(&a.transpose(0, 1).unwrap()).unwrap().add(&c).unwrap();
    (model, ps, st, (x, y))
}

fn ptr(t: &Tensor) -> usize {
    t.contiguous_slice::<f32>().unwrap().as_ptr() as usize
}

#[test]
fn compute_gradients_keeps_the_step_and_stores_the_new_state() {
    let (model, ps, st, data) = problem(DType::F64);
    let ts = TrainState::new(model, ps, st, Adam::default()).unwrap();
    let (grads, loss, stats, ts2) = compute_gradients(&AutoTape, &MSELoss::default(), &data, &ts).unwrap();
    assert!(grads.same_structure(ts.parameters()));
    assert!(loss.to_scalar::<f64>().unwrap() > 0.0);
    assert!(stats.is_empty());
    assert_eq!((ts2.step(), ts2.states().get("calls").unwrap().as_int().unwrap()), (0, 1));
    assert_eq!(ts.states().get("calls").unwrap().as_int().unwrap(), 0); // ts unchanged

    let ts3 = apply_gradients(&ts2, &grads).unwrap();
    assert_eq!((ts3.step(), ts2.step()), (1, 0));
    assert_ne!(ts3.parameters(), ts2.parameters());
}

#[test]
fn finite_differences_agree_with_the_tape() {
    let (model, ps, st, data) = problem(DType::F64);
    let ts = TrainState::new(model, ps, st, Descent::default()).unwrap();
    let (g_tape, l_tape, _, _) = compute_gradients(&AutoTape, &MSELoss::default(), &data, &ts).unwrap();
    let (g_fd, l_fd, _, ts_fd) =
        compute_gradients(&AutoFiniteDiff::default(), &MSELoss::default(), &data, &ts).unwrap();
    assert_eq!(l_tape.to_scalar::<f64>().unwrap(), l_fd.to_scalar::<f64>().unwrap());
    for ((path, a), (_, b)) in g_tape.tensors().into_iter().zip(g_fd.tensors()) {
        for (x, y) in a.to_vec::<f64>().unwrap().iter().zip(b.to_vec::<f64>().unwrap()) {
            assert!((x - y).abs() <= 1e-6 * (1.0 + x.abs()), "{path}: {x} vs {y}");
        }
    }
    assert_eq!(ts_fd.states().get("calls").unwrap().as_int().unwrap(), 1);
}

#[test]
fn the_three_entry_points_train() {
    type Step = fn(TrainState<Linear>, &(Tensor, Tensor)) -> TrainState<Linear>;
    let entry_points: [(&str, Step); 3] = [
        ("compute_gradients + apply_gradients_mut", |mut ts, d| {
            let (g, _, _, ts2) = compute_gradients(&AutoTape, &MSELoss::default(), d, &ts).unwrap();
            ts = ts2;
            apply_gradients_mut(&mut ts, &g).unwrap();
            ts
        }),
        ("single_train_step_mut", |mut ts, d| {
            single_train_step_mut(&AutoTape, &MSELoss::default(), d, &mut ts, false).unwrap();
            ts
        }),
        ("single_train_step", |ts, d| single_train_step(&AutoTape, &MSELoss::default(), d, &ts, true).unwrap().1),
    ];
    for (name, step) in entry_points {
        let (model, ps, st, data) = problem(DType::F32);
        let mut ts = TrainState::new(model, ps, st, Adam::new(0.05)).unwrap();
        let loss = |ts: &TrainState<Linear>| {
            MSELoss::default()
                .evaluate(ts.model(), ts.parameters(), ts.states(), &data)
                .unwrap()
                .0
                .to_scalar::<f32>()
                .unwrap()
        };
        let initial = loss(&ts);
        for _ in 0..400 {
            ts = step(ts, &data);
        }
        assert_eq!(ts.step(), 400, "{name}");
        assert!(loss(&ts) * 100.0 < initial, "{name}: {} vs {initial}", loss(&ts));
    }
}

#[test]
fn in_place_steps_reuse_every_parameter_and_moment_buffer() {
    let (model, ps, st, data) = problem(DType::F32);
    let mut ts = TrainState::new(model, ps, st, Adam::default()).unwrap();
    let buffers = |ts: &TrainState<Linear>| {
        let mut v: Vec<usize> = ts.parameters().tensors().iter().map(|(_, t)| ptr(t)).collect();
        v.extend(ts.optimizer_state().tree().tensors().iter().map(|(_, t)| ptr(t)));
        v
    };
    let before = buffers(&ts);
    assert_eq!(before.len(), 6); // weight, bias and two moments each
    for _ in 0..3 {
        single_train_step_mut(&AutoTape, &MSELoss::default(), &data, &mut ts, false).unwrap();
    }
    assert_eq!(buffers(&ts), before);
    // A snapshot shares the buffers: the next in-place step copies instead of
    // writing under it, and the snapshot keeps its values.
    let snapshot = ts.parameters().clone();
    single_train_step_mut(&AutoTape, &MSELoss::default(), &data, &mut ts, false).unwrap();
    assert_ne!(ts.parameters(), &snapshot);
    assert_ne!(buffers(&ts)[0], before[0]);
}

#[test]
fn bad_gradients_leave_the_train_state_untouched() {
    let (model, ps, st, _) = problem(DType::F64);
    let mut ts = TrainState::new(model, ps, st, Adam::default()).unwrap();
    let good = ts.parameters().map(|_, t| t.ones_like());
    let snapshot = ts.clone();
    let same = |a: &TrainState<Linear>, b: &TrainState<Linear>| {
        a.parameters() == b.parameters()
            && a.optimizer_state().tree() == b.optimizer_state().tree()
            && a.step() == b.step()
    };

    let missing = tree! { weight: good.tensor("weight").unwrap().clone() };
    let err = apply_gradients_mut(&mut ts, &missing).unwrap_err().to_string();
    assert!(err.contains("the gradients do not match the parameters"), "{err}");
    assert!(same(&ts, &snapshot));

    let mut nan = good.clone();
    *nan.tensor_mut("bias").unwrap() = Tensor::from_vec(vec![f64::NAN, 1.0], &[2]).unwrap();
    let err = apply_gradients_mut(&mut ts, &nan).unwrap_err().to_string();
    assert!(err.contains("NaN or infinite"), "{err}");
    assert!(same(&ts, &snapshot));

    let mut ts = ts.with_non_finite(NonFinite::Skip);
    apply_gradients_mut(&mut ts, &nan).unwrap();
    assert_eq!((ts.skipped_steps(), ts.step()), (1, 0));
    assert!(same(&ts, &snapshot));

    let mut ts = ts.with_non_finite(NonFinite::Apply);
    apply_gradients_mut(&mut ts, &nan).unwrap();
    assert_eq!(ts.step(), 1);
    assert!(ts.parameters().tensor("bias").unwrap().to_vec::<f64>().unwrap()[0].is_nan());
}

#[test]
fn non_scalar_losses_and_unsupported_backends_are_errors() {
    let (model, ps, st, data) = problem(DType::F64);
    let mut ts = TrainState::new(model, ps, st, Adam::default()).unwrap();
    let snapshot = ts.parameters().clone();
    let per_element = |m: &Linear, ps: &Tree, st: &Tree, d: &(Tensor, Tensor)| -> Result<(Tensor, Tree, Tree)> {
        let (y, st) = m.forward(&d.0.clone().into(), ps, st)?;
        Ok((y.into_tensor()?.sub(&d.1)?.square()?, st, Tree::new()))
    };
    let err = single_train_step_mut(&AutoTape, &per_element, &data, &mut ts, false).unwrap_err().to_string();
    assert!(err.contains("the objective must return a scalar loss, got a tensor of shape [16, 2]"), "{err}");
    /// A backend that serves nothing.
    struct Refusing;
    impl AdBackend for Refusing {
        fn name(&self) -> &'static str {
            "Refusing"
        }
        fn value_and_gradient(&self, _: &dyn Fn(&Tree) -> Result<Tensor>, _: &Tree) -> Result<(Tensor, Tree)> {
            Err(LuxError::Unsupported("Refusing computes no gradients".into()))
        }
    }
    let err = single_train_step_mut(&Refusing, &MSELoss::default(), &data, &mut ts, false).unwrap_err();
    assert!(matches!(err, LuxError::Unsupported(_)), "{err}");
    assert!(err.to_string().contains("Refusing computes no gradients"), "{err}");
    assert_eq!((ts.parameters(), ts.step()), (&snapshot, 0));
}

#[test]
fn adjust_sets_the_learning_rate_as_lux_tests() {
    let (model, ps, st, _) = problem(DType::F32);
    let ts = TrainState::new(model, ps, st, Adam::new(0.001)).unwrap();
    let eta = |ts: &TrainState<Linear>| ts.optimizer_state().hyperparameter("eta").unwrap();
    let ts = ts.adjust("eta", 0.1).unwrap();
    assert_eq!(eta(&ts), Hyper::Scalar(0.1));
    let mut ts = ts.adjust("eta", 0.5).unwrap();
    assert_eq!(eta(&ts), Hyper::Scalar(0.5));
    ts.adjust_mut("eta", 0.01).unwrap();
    assert_eq!(eta(&ts), Hyper::Scalar(0.01));
    ts.adjust_mut("eta", 0.11).unwrap();
    assert_eq!(eta(&ts), Hyper::Scalar(0.11));
    assert_eq!(ts.optimizer().to_string(), "Adam(eta=0.11, beta=(0.9, 0.999), epsilon=1.0e-8)");
}

#[test]
fn schedules_drive_the_learning_rate_from_the_step() {
    let (model, ps, st, data) = problem(DType::F64);
    let mut ts = TrainState::new(model, ps, st, Descent::new(1.0)).unwrap();
    let schedule = Schedule::Step { eta: 0.1, decay: 0.5, every: 2 };
    let mut seen = Vec::new();
    for _ in 0..5 {
        schedule.apply(&mut ts).unwrap();
        seen.push(ts.optimizer_state().hyperparameter("eta").unwrap());
        single_train_step_mut(&AutoTape, &MSELoss::default(), &data, &mut ts, false).unwrap();
    }
    let want: Vec<Hyper> = [0.1, 0.1, 0.05, 0.05, 0.025].into_iter().map(Hyper::Scalar).collect();
    assert_eq!(seen, want);
    assert!(Schedule::Cosine { eta_max: 1.0, eta_min: 0.0, warmup: 5, period: 5 }.eta(0).is_err());
    // A rule without a learning rate cannot follow a schedule.
    let mut opt = lux_train::setup(ClipGrad::default(), ts.parameters()).unwrap();
    assert!(Schedule::Constant(0.1).apply_to(&mut opt, 0).is_err());
}

#[test]
fn train_state_prints_as_lux() {
    let (model, ps, st, _) = problem(DType::F32);
    let ts = TrainState::new(model, ps, st, Descent::default()).unwrap();
    let text = ts.to_string();
    assert!(text.starts_with("TrainState(\n    Linear,  # 8 parameters\n"), "{text}");
    assert!(
        text.ends_with(
            "    number of parameters: 8\n    number of states: 1\n    optimizer: Descent(eta=0.1)\n    step: 0\n)"
        ),
        "{text}"
    );
}
