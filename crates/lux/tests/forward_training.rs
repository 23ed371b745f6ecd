//! Forward mode on real layers: Lux's forward-diff training test through
//! `compute_gradients` / `single_train_step_mut` / `single_train_step` with
//! `AutoForward`, its agreement with `AutoTape`, and Lux's nested
//! `vjp`/`jvp` and `batched_jacobian` tests on conv and dense models.

use lux::prelude::*;
use lux::train::{apply_gradients_mut, compute_gradients, single_train_step};
use lux_ad::{AutoForward, Tolerances, batched_jacobian, check_gradients, gradient, jacobian, vjp};

/// A scalar loss of `{x, ps}`.
type Loss<'a> = Box<dyn Fn(&Tree) -> Result<Tensor> + 'a>;

fn randn(seed: u64, shape: &[usize], dtype: DType) -> Tensor {
    Tensor::randn(&mut RngState::seed_from_u64(seed), shape, dtype).unwrap()
}

/// Lux's model, `Dense(4 → h, tanh), BatchNorm(h), Dense(h → h, tanh),
/// BatchNorm(h), Dense(h → 4)`.
fn mse_model(h: usize) -> Chain<(Dense, BatchNorm, Dense, BatchNorm, Dense)> {
    Chain::new((
        Dense::new(4, h, Activation::Tanh).unwrap(),
        BatchNorm::new(h).unwrap(),
        Dense::new(h, h, Activation::Tanh).unwrap(),
        BatchNorm::new(h).unwrap(),
        Dense::new(h, 4, Activation::Identity).unwrap(),
    ))
    .unwrap()
}

/// Lux's data: `y = (1 + 2x + 3x²) − (5 + 2x)`, scaled to `[0, 1]`, in four
/// batches of 8 (`[batch, features]` here).
fn dataset() -> Vec<(Tensor, Tensor)> {
    let x = randn(12345, &[32, 4], DType::F32);
    let y = x.square().and_then(|t| t.mul_scalar(3.0)).and_then(|t| t.add_scalar(-4.0)).unwrap();
    let (lo, hi) = (y.min_all().unwrap().to_scalar::<f32>().unwrap(), y.max_all().unwrap().to_scalar::<f32>().unwrap());
    let y = y.add_scalar(-f64::from(lo)).unwrap().mul_scalar(1.0 / f64::from(hi - lo)).unwrap();
    (0..4).map(|i| (x.narrow(0, 8 * i, 8).unwrap(), y.narrow(0, 8 * i, 8).unwrap())).collect()
}

/// `AutoForward` and `AutoTape` give the same loss, state and gradient
/// (f32, to 1e-5) on Lux's model at its full size (h = 32, 1476
/// parameters), batch norm in training mode included; and the chunk size
/// (1, the default, 12, 1476 = one pass) changes nothing, bit for bit.
#[test]
fn autoforward_agrees_with_autotape() {
    let data = dataset();
    let model = mse_model(32);
    let (ps, st) = setup(&mut RngState::seed_from_u64(12345), &model).unwrap();
    let ts = TrainState::new(model, ps, st, Adam::new(0.001)).unwrap();
    let mse = MSELoss::new();
    let (gf, lf, _, tf) = compute_gradients(&AutoForward, &mse, &data[1], &ts).unwrap();
    let (gt, lt, _, tt) = compute_gradients(&AutoTape, &mse, &data[1], &ts).unwrap();
    assert_eq!(lf.to_scalar::<f32>().unwrap(), lt.to_scalar::<f32>().unwrap());
    assert_eq!(tf.states(), tt.states());
    for k in [1, 12, 1476] {
        let (g, l, _, t) = compute_gradients(&AutoForward::chunked(k).unwrap(), &mse, &data[1], &ts).unwrap();
        assert_eq!((&g, l.to_scalar::<f32>().unwrap(), t.states()), (&gf, lf.to_scalar::<f32>().unwrap(), tf.states()));
    }
    let mut checked = 0;
    for ((path, a), (_, b)) in gf.tensors().into_iter().zip(gt.tensors()) {
        for (x, y) in a.to_vec::<f32>().unwrap().iter().zip(b.to_vec::<f32>().unwrap()) {
            assert!((x - y).abs() <= 1e-5 * (1.0 + y.abs()), "{path}: forward {x} vs reverse {y}");
            checked += 1;
        }
    }
    assert_eq!(checked, 1476);
}

/// Lux's `training_forwarddiff_tests.jl`: 100 epochs each of
/// `compute_gradients` + `apply_gradients_mut`, `single_train_step_mut` and
/// `single_train_step` with `AutoForward`, then the final loss (batch norm
/// in training mode, as Lux evaluates it) × 50 must be below the initial
/// one (test mode). The hidden width is 8 instead of Lux's 32: forward mode
/// costs one tangent direction per parameter (180 here, 1476 at width 32),
/// and even in chunks of 8 this test took 74 s at width 32 in the test
/// profile (this whole file takes about 8 s at width 8); the width-32
/// gradients are checked against `AutoTape` above.
#[test]
fn autoforward_trains_like_lux_forwarddiff_test() {
    let data = dataset();
    let model = mse_model(8);
    let (ps, st) = setup(&mut RngState::seed_from_u64(12345), &model).unwrap();
    let mse = MSELoss::new();
    let eval = |ts: &TrainState<_>, st: &Tree| {
        let (x, y) = &data[0];
        let (yp, _) = apply_tensor(ts.model(), x.clone(), ts.parameters(), st).unwrap();
        mse.call(&yp, y).unwrap().to_scalar::<f32>().unwrap()
    };
    let mut ts = TrainState::new(model, ps, st, Adam::new(0.001)).unwrap();
    let initial = eval(&ts, &test_mode(ts.states()));
    for _ in 0..100 {
        for d in &data {
            let (grads, _, _, next) = compute_gradients(&AutoForward, &mse, d, &ts).unwrap();
            ts = next;
            apply_gradients_mut(&mut ts, &grads).unwrap();
        }
    }
    for _ in 0..100 {
        for d in &data {
            single_train_step_mut(&AutoForward, &mse, d, &mut ts, false).unwrap();
        }
    }
    for _ in 0..100 {
        for d in &data {
            ts = single_train_step(&AutoForward, &mse, d, &ts, false).unwrap().1;
        }
    }
    let fin = eval(&ts, ts.states());
    eprintln!("loss {initial} → {fin}");
    assert!(fin * 50.0 < initial, "initial {initial}, final {fin}");
}

/// `model(x)` for a stateless use inside a loss (batch norm in training
/// mode uses the batch statistics, as Lux's `StatefulLuxLayer` does).
fn run<L: Layer + ?Sized>(model: &L, x: &Tensor, ps: &Tree, st: &Tree) -> Result<Tensor> {
    Ok(apply_tensor(model, x.clone(), ps, st)?.0)
}

/// Lux's `nested_vjp_jvp_tests.jl` in f64: `sum(Jᵀu)` by `vjp` and
/// `sum(J·v)` by forward-mode `jvp` equal the explicit-Jacobian forms, and
/// so do their gradients w.r.t. the input and the parameters (reverse over
/// reverse, and reverse over forward); the `jvp` loss's parameter gradient
/// also passes a finite-difference check.
#[test]
fn nested_vjp_and_jvp_losses_on_conv_and_dense_models() -> Result<()> {
    let conv_model = Chain::new((
        Conv::builder(&[3, 3], 2, 4).activation(Activation::Gelu).padding(lux::ops::Padding::Same).build()?,
        BatchNorm::new(4)?,
        Conv::builder(&[3, 3], 4, 1).activation(Activation::Gelu).padding(lux::ops::Padding::Same).build()?,
    ))?;
    let dense_model = Chain::new((Dense::new(2, 4, Activation::Gelu)?, Dense::new(4, 1, Activation::Identity)?))?;
    let cases: Vec<(&dyn Layer, Tensor)> =
        vec![(&conv_model, randn(1, &[4, 2, 3, 3], DType::F64)), (&dense_model, randn(2, &[4, 2], DType::F64))];
    for (k, (model, x)) in cases.into_iter().enumerate() {
        let (ps, st) = setup(&mut RngState::seed_from_u64(1234 + k as u64), model)?;
        let ps = ps.try_map(|_, t| t.to_dtype(DType::F64))?;
        let st = st.try_map(|_, t| if t.dtype().is_float() { t.to_dtype(DType::F64) } else { Ok(t.clone()) })?;
        let y0 = run(model, &x, &ps, &st)?;
        let (u, v) = (y0.cos()?, randn(10 + k as u64, x.shape(), DType::F64));
        let n_in = x.len();
        let jac = |xx: &Tensor, p: &Tree| -> Result<Tensor> {
            let j = jacobian(|t| run(model, t.tensor("x")?, p, &st), &tree! { x: xx.clone() })?;
            j.tensor("x")?.reshape(&[u.len(), n_in])
        };
        let losses: [(&str, Loss<'_>, Loss<'_>); 2] = [
            (
                "vjp",
                Box::new(|t: &Tree| {
                    let (_, g) = vjp(
                        |q| run(model, q.tensor("x")?, t.get("ps")?, &st),
                        &tree! { x: t.tensor("x")?.clone() },
                        &u,
                    )?;
                    g.tensor("x")?.sum_all()
                }),
                Box::new(|t: &Tree| {
                    jac(t.tensor("x")?, t.get("ps")?)?.transpose(0, 1)?.matmul(&u.reshape(&[u.len()])?)?.sum_all()
                }),
            ),
            (
                "jvp",
                Box::new(|t: &Tree| {
                    let f = |q: &Tree| run(model, q.tensor("x")?, t.get("ps")?, &st);
                    let (_, jv) = lux_ad::jvp(f, &tree! { x: t.tensor("x")?.clone() }, &tree! { x: v.clone() })?;
                    jv.sum_all()
                }),
                Box::new(|t: &Tree| jac(t.tensor("x")?, t.get("ps")?)?.matmul(&v.reshape(&[n_in])?)?.sum_all()),
            ),
        ];
        let all = tree! { x: x.clone(), ps: ps.clone() };
        for (name, nested, explicit) in &losses {
            let (a, b) = (nested(&all)?.to_scalar::<f64>()?, explicit(&all)?.to_scalar::<f64>()?);
            assert!((a - b).abs() <= 1e-10 * (1.0 + b.abs()), "model {k} {name}: {a} vs {b}");
            let (ga, gb) = (gradient(nested, &all)?, gradient(explicit, &all)?);
            for ((path, p), (_, q)) in ga.tensors().into_iter().zip(gb.tensors()) {
                for (i, (s, t)) in p.to_f64_vec().iter().zip(q.to_f64_vec()).enumerate() {
                    assert!((s - t).abs() <= 1e-8 * (1.0 + t.abs()), "model {k} {name} ∂{path}[{i}]: {s} vs {t}");
                }
            }
        }
        check_gradients(&losses[1].1, &all, Tolerances::default())?;
    }
    Ok(())
}

/// Lux's `nested_batched_jacobian_tests.jl`: the gradient w.r.t. the
/// parameters of `sum(batched_jacobian(model, x))` against finite
/// differences, and `batched_jacobian` against the per-sample `jacobian`,
/// on a model with fewer outputs than inputs (reverse mode inside reverse
/// mode) and one with more (forward mode inside reverse mode), each probed
/// by both backends.
#[test]
fn nested_batched_jacobian_on_dense_models() -> Result<()> {
    let narrow = Chain::new((Dense::new(3, 5, Activation::Gelu)?, Dense::new(5, 2, Activation::Tanh)?))?;
    let wide = Chain::new((Dense::new(2, 5, Activation::Gelu)?, Dense::new(5, 4, Activation::Tanh)?))?;
    for (k, model) in [narrow, wide].iter().enumerate() {
        let (ps, st) = setup(&mut RngState::seed_from_u64(7 + k as u64), model)?;
        let ps = ps.try_map(|_, t| t.to_dtype(DType::F64))?;
        let x = randn(3, &[4, 3 - k], DType::F64);
        for backend in [&AutoForward as &dyn AdBackend, &AutoTape] {
            let j = batched_jacobian(|x| run(model, x, &ps, &st), backend, &x)?;
            for b in 0..4 {
                let jb = jacobian(|t| run(model, t.tensor("x")?, &ps, &st), &tree! { x: x.narrow(0, b, 1)? })?;
                let (p, q) = (j.narrow(0, b, 1)?.to_f64_vec(), jb.tensor("x")?.to_f64_vec());
                assert!(p.iter().zip(&q).all(|(s, t)| (s - t).abs() < 1e-12), "model {k} sample {b}: {p:?} vs {q:?}");
            }
            let loss = |p: &Tree| batched_jacobian(|x| run(model, x, p, &st), backend, &x)?.sum_all();
            check_gradients(loss, &ps, Tolerances::default())?;
        }
    }
    Ok(())
}
