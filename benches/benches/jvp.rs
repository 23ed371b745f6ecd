//! `jvp` by forward mode against one plain forward pass and against the
//! double-VJP construction it replaced (`J·v = ∂/∂u ⟨Jᵀu, v⟩`, two reverse
//! passes over a recorded graph), on the `tiny` MLP (input tangent) and on
//! one 3×3 convolution (tangents on input and weight):
//! `cargo bench -p lux-bench --bench jvp`.

use criterion::{Criterion, criterion_group, criterion_main};
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

criterion_group!(jvp_benches, benches);
criterion_main!(jvp_benches);
