//! Time per data-parallel training step and all-reduce bandwidth, for the
//! numbers in `docs/distributed.md`:
//!
//! ```text
//! cargo build --release -p lux-distributed --features mpi --example mpi_bench
//! mpirun -np 1 target/release/examples/mpi_bench
//! mpirun -np 2 --oversubscribe target/release/examples/mpi_bench
//! ```
//!
//! The global batch is fixed (128 for the digits MLP, 256 for `wide`);
//! each of N ranks takes 1/N of it, so N = 1 is the single-process
//! baseline of the same training.

use lux_ad::AutoTape;
use lux_core::{DType, Layer, Result, RngState, Tensor, Tree, setup};
use lux_distributed::{Backend, DistributedDataContainer, DistributedOptimizer, MpiBackend, ReduceOp, initialize};
use lux_layers::{Chain, Dense};
use lux_losses::{CrossEntropyLoss, MSELoss};
use lux_ops::Activation;
use lux_train::{Adam, Objective, TrainState, compute_gradients, single_train_step_mut};
use mpi::collective::{CommunicatorCollectives, SystemOperation};
use mpi::topology::SimpleCommunicator;
use std::time::Instant;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The median over `reps` of the slowest rank's time of `f` (ranks start
/// together at a barrier).
fn time(b: &Backend, reps: usize, mut f: impl FnMut() -> Result<()>) -> Result<f64> {
    let mut times = Vec::with_capacity(reps);
    for _ in 0..reps {
        b.barrier();
        let t = Instant::now();
        f()?;
        let mine = Tree::Tensor(Tensor::from_vec(vec![t.elapsed().as_secs_f64()], &[1])?);
        times.push(b.allreduce(&mine, ReduceOp::Max)?.into_tensor()?.to_vec::<f64>()?[0]);
    }
    Ok(median(times))
}

fn steps<M: Layer, O: Objective<M, (Tensor, Tensor)>>(
    b: &Backend,
    name: &str,
    model: M,
    loss: &O,
    global: (Tensor, Tensor),
    reps: usize,
) -> Result<Tree> {
    let (ps, st) = setup(&mut RngState::seed_from_u64(0), &model)?;
    let mut ts = TrainState::new(model, ps, st, DistributedOptimizer::new(b, Adam::default()))?;
    b.synchronize(&mut ts, 0)?;
    let local = DistributedDataContainer::new(b, global)?.local()?;
    single_train_step_mut(&AutoTape, loss, &local, &mut ts, false)?; // warm-up
    let t = time(b, reps, || single_train_step_mut(&AutoTape, loss, &local, &mut ts, false).map(drop))?;
    if b.local_rank() == 0 {
        println!(
            "{name}: {} rank(s), local batch {}: {:.2} ms per step",
            b.total_workers(),
            local.1.shape()[0],
            1e3 * t
        );
    }
    let (grads, ..) = compute_gradients(&AutoTape, loss, &local, &ts)?;
    Ok(grads)
}

fn main() -> Result<()> {
    let backend = initialize(MpiBackend)?;
    let b = &backend;
    let mut rng = RngState::seed_from_u64(1);

    let digits = Chain::new((
        Dense::new(64, 128, Activation::Relu)?,
        Dense::new(128, 64, Activation::Relu)?,
        Dense::new(64, 10, Activation::Identity)?,
    ))?;
    let labels: Vec<i64> = (0..128).map(|i| i % 10).collect();
    let data = (Tensor::rand(&mut rng, &[128, 64], DType::F32)?, Tensor::from_vec(labels, &[128])?);
    steps(b, "digits MLP 64-128-64-10, global batch 128", digits, &CrossEntropyLoss::new().logits(true), data, 50)?;

    let wide = Chain::new((
        Dense::new(1024, 2048, Activation::Relu)?,
        Dense::new(2048, 2048, Activation::Relu)?,
        Dense::new(2048, 1024, Activation::Identity)?,
    ))?;
    let data = (Tensor::randn(&mut rng, &[256, 1024], DType::F32)?, Tensor::randn(&mut rng, &[256, 1024], DType::F32)?);
    let grads = steps(b, "wide MLP 1024-2048-2048-1024, global batch 256", wide, &MSELoss::default(), data, 5)?;

    // The gradient tree's all-reduce (as DistributedOptimizer does it: pack,
    // one MPI call per dtype, mean, unpack) against one plain MPI_Allreduce
    // of the same number of f32s.
    let len: usize = grads.tensors().iter().map(|(_, t)| t.len()).sum();
    let mb = (len * 4) as f64 / 1e6;
    let ours = time(b, 10, || {
        let mut g = grads.clone();
        b.allreduce_mut(&mut g, ReduceOp::Mean)
    })?;
    let world = SimpleCommunicator::world();
    let send = vec![1.0f32; len];
    let mut recv = vec![0.0f32; len];
    let plain = time(b, 10, || {
        world.all_reduce_into(&send[..], &mut recv[..], SystemOperation::sum());
        Ok(())
    })?;
    if b.local_rank() == 0 {
        println!(
            "all-reduce of the wide gradients ({mb:.1} MB f32, {} leaves) on {} rank(s): tree {:.2} ms ({:.0} MB/s), plain MPI_Allreduce {:.2} ms ({:.0} MB/s)",
            grads.tensors().len(),
            b.total_workers(),
            1e3 * ours,
            mb / ours,
            1e3 * plain,
            mb / plain
        );
    }
    Ok(())
}
