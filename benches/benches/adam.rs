//! The Adam update of `apply_gradients_mut` on the `wide` model's
//! 8.4 M parameters (1024→2048→2048→1024 weights and biases), against a
//! plain Rust loop over flat f32 slices doing the same arithmetic:
//! `cargo bench -p lux-bench --bench adam`.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use lux::prelude::*;
use std::hint::black_box;

/// A model holding the parameters; the update never calls it.
struct Params;
impl Layer for Params {
    fn forward(&self, x: &Tree, _: &Tree, st: &Tree) -> Result<(Tree, Tree)> {
        Ok((x.clone(), st.clone()))
    }
}

fn wide_params(rng: &mut RngState) -> Tree {
    let sizes = [1024usize, 2048, 2048, 1024];
    Tree::Map(
        sizes
            .windows(2)
            .enumerate()
            .map(|(i, w)| {
                let layer = tree! {
                    weight: Tensor::randn(rng, &[w[1], w[0]], DType::F32).unwrap(),
                    bias: Tensor::randn(rng, &[w[1]], DType::F32).unwrap(),
                };
                (format!("layer_{}", i + 1), layer)
            })
            .collect(),
    )
}

/// Adam over flat slices, one element at a time, in Optimisers.jl's order.
fn plain_adam(x: &mut [f32], m: &mut [f32], v: &mut [f32], g: &[f32], bt: (f32, f32)) {
    let (b1, b2, eps, eta) = (0.9f32, 0.999f32, 1e-8f32, 1e-3f32);
    for i in 0..x.len() {
        m[i] = b1 * m[i] + (1.0 - b1) * g[i];
        v[i] = b2 * v[i] + (1.0 - b2) * (g[i] * g[i]);
        x[i] -= m[i] / (1.0 - bt.0) / ((v[i] / (1.0 - bt.1)).sqrt() + eps) * eta;
    }
}

fn adam(c: &mut Criterion) {
    let mut rng = RngState::seed_from_u64(7);
    let ps = wide_params(&mut rng);
    let grads = ps.map(|_, t| t.mul_scalar(1e-3).unwrap());
    let n = ps.param_count();
    let mut group = c.benchmark_group("adam_update");
    group.sample_size(20);
    group.throughput(Throughput::Elements(n as u64));

    let mut ts = TrainState::new(Params, ps.clone(), Tree::new(), Adam::default()).unwrap();
    group.bench_function(format!("apply_gradients_mut/{n}"), |b| {
        b.iter(|| apply_gradients_mut(&mut ts, black_box(&grads)).unwrap())
    });

    let mut x: Vec<f32> = ps.tensors().iter().flat_map(|(_, t)| t.to_vec::<f32>().unwrap()).collect();
    let g: Vec<f32> = grads.tensors().iter().flat_map(|(_, t)| t.to_vec::<f32>().unwrap()).collect();
    let (mut m, mut v) = (vec![0.0f32; n], vec![0.0f32; n]);
    group.bench_function(format!("plain_loop/{n}"), |b| {
        b.iter(|| plain_adam(black_box(&mut x), &mut m, &mut v, &g, (0.9, 0.999)))
    });
    group.finish();
}

criterion_group!(benches, adam);
criterion_main!(benches);
