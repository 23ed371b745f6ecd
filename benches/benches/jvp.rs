//! `jvp` by forward mode against one plain forward pass and against the
//! double-VJP construction it replaced (`J·v = ∂/∂u ⟨Jᵀu, v⟩`, two reverse
//! passes over a recorded graph), on the `tiny` MLP (input tangent) and on
//! one 3×3 convolution (tangents on input and weight); and the
//! `AutoForward` gradient at several chunk sizes against `AutoTape`, on the
//! `tiny` MLP's loss and on Lux's forward-diff training model:
//! `cargo bench -p lux-bench --bench jvp`.

use criterion::{Criterion, criterion_group, criterion_main};
use lux::ad::AutoForward;
use lux::ops::conv::{ConvOptions, conv};
use lux::prelude::*;
use lux_bench::TinyMlp;
use std::hint::black_box;

/// `J·v` the old way: the derivative of the (linear) VJP `u ↦ Jᵀu` along
/// `v`, taken by a second reverse pass with respect to `u` at `u = 0`.
fn double_vjp(f: &dyn Fn(&Tree) -> Result<Tensor>, x: &Tree, v: &Tree) -> Result<Tensor> {
    let y = f(x)?;
    let u0 = tree! { u: y.zeros_like() };
    let dot = |ut: &Tree| -> Result<Tensor> {
        let (_, g) = lux::ad::vjp(f, x, ut.tensor("u")?)?;
        let mut acc = Tensor::scalar(0.0f32);
        for ((_, a), (_, b)) in g.tensors().into_iter().zip(v.tensors()) {
            acc = acc.add(&a.mul(b)?.sum_all()?)?;
        }
        Ok(acc)
    };
    Ok(lux::ad::gradient(dot, &u0)?.tensor("u")?.clone())
}

fn compare(c: &mut Criterion, name: &str, f: &dyn Fn(&Tree) -> Result<Tensor>, x: &Tree, v: &Tree) {
    // The two constructions agree before anything is timed.
    let (_, jv) = jvp(f, x, v).unwrap();
    let old = double_vjp(f, x, v).unwrap();
    let err = jv.sub(&old).unwrap().abs().unwrap().max_all().unwrap().to_dtype(DType::F64).unwrap();
    assert!(err.to_scalar::<f64>().unwrap() < 1e-3, "{name}: forward and double-VJP jvp differ by {err:?}");
    let mut group = c.benchmark_group(format!("jvp/{name}"));
    group.sample_size(30);
    group.bench_function("forward pass", |b| b.iter(|| f(black_box(x)).unwrap()));
    group.bench_function("jvp (forward mode)", |b| b.iter(|| jvp(f, black_box(x), black_box(v)).unwrap()));
    group.bench_function("jvp (double VJP)", |b| b.iter(|| double_vjp(f, black_box(x), black_box(v)).unwrap()));
    group.finish();
}

fn benches(c: &mut Criterion) {
    let mlp = TinyMlp::new().unwrap();
    let ps = mlp.ps.clone();
    let forward = move |t: &Tree| -> Result<Tensor> {
        let dense = |h: &Tensor, name: &str, act: Activation| -> Result<Tensor> {
            let p = ps.get(name)?;
            lux::ops::dense::dense(h, p.tensor("weight")?, Some(p.tensor("bias")?), act)
        };
        let h = dense(t.tensor("x")?, "layer_1", Activation::Tanh)?;
        let h = dense(&h, "layer_2", Activation::Tanh)?;
        dense(&h, "layer_3", Activation::Identity)
    };
    let x = tree! { x: mlp.x.clone() };
    let v = tree! { x: mlp.x.cos().unwrap() };
    compare(c, "tiny MLP 4-16-16-1, batch 64", &forward, &x, &v);

    let mut rng = RngState::seed_from_u64(3);
    let xw = tree! {
        x: Tensor::randn(&mut rng, &[8, 16, 32, 32], DType::F32).unwrap(),
        w: Tensor::randn(&mut rng, &[32, 16, 3, 3], DType::F32).unwrap().mul_scalar(0.1).unwrap(),
    };
    let b = Tensor::randn(&mut rng, &[32], DType::F32).unwrap();
    let vw = xw.map(|_, t| t.sin().unwrap());
    let opts = ConvOptions::new().pad(&[1]);
    let layer = move |t: &Tree| conv(t.tensor("x")?, t.tensor("w")?, Some(&b), &opts);
    compare(c, "conv 3x3 16→32, [8, 16, 32, 32]", &layer, &xw, &vw);
}

/// `AutoForward` (chunk 1, 4, 8, 12, 16) and `AutoTape` gradients of one
/// loss; before timing, every chunk size's gradient is checked against
/// `AutoTape`'s.
fn compare_gradients(c: &mut Criterion, name: &str, f: &dyn Fn(&Tree) -> Result<Tensor>, ps: &Tree) {
    let (_, tape) = AutoTape.value_and_gradient(f, ps).unwrap();
    let chunks = [1, 4, 8, 12, 16];
    for k in chunks {
        let (_, g) = AutoForward::chunked(k).unwrap().value_and_gradient(f, ps).unwrap();
        for ((path, a), (_, b)) in g.tensors().into_iter().zip(tape.tensors()) {
            for (x, y) in a.to_f64_vec().iter().zip(b.to_f64_vec()) {
                assert!((x - y).abs() <= 1e-5 * (1.0 + y.abs()), "{name} chunk {k} {path}: {x} vs {y}");
            }
        }
    }
    let mut group = c.benchmark_group(format!("gradient/{name}"));
    group.sample_size(10).measurement_time(std::time::Duration::from_secs(4));
    group.bench_function("AutoTape", |b| b.iter(|| AutoTape.value_and_gradient(f, black_box(ps)).unwrap()));
    for k in chunks {
        let backend = AutoForward::chunked(k).unwrap();
        group.bench_function(format!("AutoForward chunk {k}"), |b| {
            b.iter(|| backend.value_and_gradient(f, black_box(ps)).unwrap())
        });
    }
    group.finish();
}

fn gradient_benches(c: &mut Criterion) {
    let mlp = TinyMlp::new().unwrap();
    compare_gradients(c, "tiny MLP 4-16-16-1 loss (369 parameters)", &|p| mlp.loss(p), &mlp.ps);

    // Lux's forward-diff training model at its width 32, MSE on one batch of 8.
    let h = 32;
    let model = Chain::new((
        Dense::new(4, h, Activation::Tanh).unwrap(),
        BatchNorm::new(h).unwrap(),
        Dense::new(h, h, Activation::Tanh).unwrap(),
        BatchNorm::new(h).unwrap(),
        Dense::new(h, 4, Activation::Identity).unwrap(),
    ))
    .unwrap();
    let mut rng = RngState::seed_from_u64(12345);
    let (ps, st) = setup(&mut rng, &model).unwrap();
    let x = Tensor::randn(&mut rng, &[8, 4], DType::F32).unwrap();
    let y = x.square().unwrap().sum(&[1], true).unwrap().broadcast_to(&[8, 4]).unwrap();
    let mse = MSELoss::new();
    let loss = |p: &Tree| -> Result<Tensor> {
        let (yp, _) = apply_tensor(&model, x.clone(), p, &st)?;
        mse.call(&yp, &y)
    };
    compare_gradients(c, "Lux forward-diff model, width 32 (1476 parameters)", &loss, &ps);
}

criterion_group!(jvp_benches, benches, gradient_benches);
criterion_main!(jvp_benches);
