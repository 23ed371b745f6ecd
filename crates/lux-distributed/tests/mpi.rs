//! The distributed tests. Run under `mpirun -np 2` (every rank runs the
//! same sequence; rank 0 reports); started plainly, they run as one rank.
//! Each test returns `Err` on a failed check; a failure on any rank fails
//! the test on all of them.

use lux_ad::AutoTape;
use lux_core::__private::half::{bf16, f16};
use lux_core::{DType, Layer, LuxError, Result, RngState, Tensor, Tree, setup, tree};
use lux_data::{bundled_digits_path, load_digits};
use lux_distributed::{Backend, DistributedDataContainer, DistributedOptimizer, MpiBackend, ReduceOp, initialize};
use lux_layers::{BatchNorm, Chain, Dense, Dropout};
use lux_losses::CrossEntropyLoss;
use lux_ops::Activation;
use lux_train::{Adam, TrainState, single_train_step_mut};

type Test = fn(&Backend) -> Result<Outcome>;

enum Outcome {
    Passed,
    /// Needs more ranks than this run has.
    Skipped(&'static str),
}

fn ensure(ok: bool, what: impl FnOnce() -> String) -> Result<()> {
    if ok { Ok(()) } else { Err(LuxError::CheckFailed { check: "distributed test".into(), msg: what() }) }
}

/// FNV-1a over the bits of every leaf (values, dtypes, shapes, numbers,
/// generators): equal digests on all ranks ⇔ bit-identical trees.
fn digest(t: &Tree) -> Result<i64> {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |b: &[u8]| {
        for &v in b {
            h = (h ^ u64::from(v)).wrapping_mul(0x0000_0100_0000_01b3);
        }
    };
    for (path, leaf) in t.leaves() {
        eat(path.as_bytes());
        match leaf {
            Tree::Tensor(x) => {
                eat(x.dtype().name().as_bytes());
                x.shape().iter().for_each(|d| eat(&d.to_le_bytes()));
                match x.dtype() {
                    DType::F32 => x.contiguous_slice::<f32>()?.iter().for_each(|v| eat(&v.to_bits().to_le_bytes())),
                    DType::F64 => x.contiguous_slice::<f64>()?.iter().for_each(|v| eat(&v.to_bits().to_le_bytes())),
                    DType::F16 => x.contiguous_slice::<f16>()?.iter().for_each(|v| eat(&v.to_bits().to_le_bytes())),
                    DType::BF16 => x.contiguous_slice::<bf16>()?.iter().for_each(|v| eat(&v.to_bits().to_le_bytes())),
                    DType::I64 => x.contiguous_slice::<i64>()?.iter().for_each(|v| eat(&v.to_le_bytes())),
                    DType::Bool => x.contiguous_slice::<bool>()?.iter().for_each(|&v| eat(&[u8::from(v)])),
                }
            }
            Tree::Bool(b) => eat(&[u8::from(*b)]),
            Tree::Int(i) => eat(&i.to_le_bytes()),
            Tree::Float(f) => eat(&f.to_bits().to_le_bytes()),
            Tree::Rng(r) => eat(format!("{r:?}").as_bytes()),
            _ => eat(leaf.kind_name().as_bytes()),
        }
    }
    Ok(h as i64)
}

/// `(min, max)` of a per-rank number over all ranks.
fn spread(b: &Backend, v: i64) -> Result<(i64, i64)> {
    let t = Tree::Tensor(Tensor::from_vec(vec![v], &[1])?);
    let lo = b.allreduce(&t, ReduceOp::Min)?.into_tensor()?.to_vec::<i64>()?[0];
    let hi = b.allreduce(&t, ReduceOp::Max)?.into_tensor()?.to_vec::<i64>()?[0];
    Ok((lo, hi))
}

/// A tree with a leaf of every kind, different on every rank.
fn every_kind(rank: usize) -> Result<Tree> {
    let r = rank as f32;
    Ok(tree! {
        w: Tensor::from_vec(vec![r, -r, 0.1 + r], &[3])?,
        d: Tensor::from_vec(vec![f64::from(r) + 1e-300; 4], &[2, 2])?,
        h: Tensor::from_vec(vec![f16::from_f32(0.1 + r), f16::from_f32(-r)], &[2])?,
        b16: Tensor::from_vec(vec![bf16::from_f32(1.7 * (r + 1.0))], &[1])?,
        idx: Tensor::from_vec(vec![rank as i64, 7], &[2])?,
        mask: Tensor::from_vec(vec![rank % 2 == 0, true], &[2])?,
        nested: tree! { flag: rank == 0, count: rank as i64 * 3, scale: 0.5 + f64::from(r), rng: RngState::seed_from_u64(rank as u64) },
        seq: Tree::seq([Tensor::from_vec(vec![r; 5], &[5, 1])?]),
    })
}

fn bcast_copies_every_leaf_bit_for_bit(b: &Backend) -> Result<Outcome> {
    let root = b.total_workers() - 1; // not 0, so rank 0 is a receiver
    let mut x = every_kind(b.local_rank())?;
    let before = digest(&x)?;
    b.bcast_mut(&mut x, root)?;
    ensure(digest(&x)? == digest(&every_kind(root)?)?, || "bcast_mut: not the root's tree".into())?;
    if b.local_rank() == root {
        ensure(digest(&x)? == before, || "bcast_mut changed the root's own tree".into())?;
    }
    let (lo, hi) = spread(b, digest(&x)?)?;
    ensure(lo == hi, || "bcast_mut: the ranks' trees differ afterwards".into())?;
    // The copying form leaves its input alone.
    let mine = every_kind(b.local_rank())?;
    let out = b.bcast(&mine, 0)?;
    ensure(digest(&mine)? == digest(&every_kind(b.local_rank())?)?, || "bcast changed its input".into())?;
    ensure(digest(&out)? == digest(&every_kind(0)?)?, || "bcast: not rank 0's tree".into())?;
    Ok(Outcome::Passed)
}

/// A Dense + BatchNorm + Dropout chain: parameters, running statistics,
/// a generator and a flag in the state.
fn net() -> Result<impl Layer> {
    Chain::new((
        Dense::new(3, 4, Activation::Tanh)?,
        BatchNorm::new(4)?,
        Dropout::new(0.2)?,
        Dense::new(4, 2, Activation::Identity)?,
    ))
}

fn synchronize_makes_train_states_bit_identical(b: &Backend) -> Result<Outcome> {
    let rank = b.local_rank();
    let model = net()?;
    let (ps, st) = setup(&mut RngState::seed_from_u64(100 + rank as u64), &model)?;
    let mut ts = TrainState::new(model, ps, st, Adam::new(0.01))?;
    // A local step on rank-specific data: moments, running statistics, the
    // generator and the step count all differ now (as does a rank whose
    // step count differs).
    let mut rng = RngState::seed_from_u64(rank as u64);
    let data = (Tensor::randn(&mut rng, &[8, 3], DType::F32)?, Tensor::randn(&mut rng, &[8, 2], DType::F32)?);
    for _ in 0..=rank {
        single_train_step_mut(&AutoTape, &lux_losses::MSELoss::default(), &data, &mut ts, false)?;
    }
    let whole = |ts: &TrainState<_>| -> Result<i64> {
        digest(&Tree::seq([
            ts.parameters().clone(),
            ts.states().clone(),
            ts.optimizer_state().tree().clone(),
            Tree::Int(ts.step() as i64),
        ]))
    };
    let before = whole(&ts)?;
    if b.total_workers() > 1 {
        let (lo, hi) = spread(b, before)?;
        ensure(lo != hi, || "the ranks' train states should differ before synchronize".into())?;
    }
    b.synchronize(&mut ts, 0)?;
    let after = whole(&ts)?;
    let (lo, hi) = spread(b, after)?;
    ensure(lo == hi, || format!("rank {rank}: train states differ after synchronize"))?;
    ensure(ts.step() == 1, || format!("the step should be rank 0's (1), got {}", ts.step()))?;
    if rank == 0 {
        ensure(after == before, || "synchronize changed the root's train state".into())?;
    }
    Ok(Outcome::Passed)
}

fn allreduce_and_reduce_give_exact_results(b: &Backend) -> Result<Outcome> {
    let n = b.total_workers();
    let k = b.local_rank() as f64 + 1.0; // 1..=n
    let nf = n as f64;
    let sum = nf * (nf + 1.0) / 2.0;
    let x = tree! {
        a: Tensor::from_vec(vec![k as f32, -2.0 * k as f32, 0.5 * k as f32], &[3])?,
        b: tree! { c: Tensor::from_vec(vec![k, k * k], &[2])?, i: Tensor::from_vec(vec![k as i64, -(k as i64)], &[2])? },
        h: Tensor::from_vec(vec![f16::from_f32(k as f32)], &[1])?,
        flag: true,
    };
    let sq: f64 = (1..=n).map(|i| (i * i) as f64).sum();
    let s = b.allreduce(&x, ReduceOp::Sum)?;
    ensure(s.tensor("a")?.to_vec::<f32>()? == vec![sum as f32, -2.0 * sum as f32, 0.5 * sum as f32], || {
        format!("sum a: {s:?}")
    })?;
    ensure(s.tensor("b.c")?.to_vec::<f64>()? == vec![sum, sq], || format!("sum b.c: {s:?}"))?;
    ensure(s.tensor("b.i")?.to_vec::<i64>()? == vec![sum as i64, -(sum as i64)], || format!("sum b.i: {s:?}"))?;
    ensure(s.tensor("h")?.to_vec::<f16>()? == vec![f16::from_f64(sum)], || format!("sum h: {s:?}"))?;
    ensure(s.at("flag")?.as_bool()?, || "a flag leaf changed".into())?;
    let m = b.allreduce(&x.clone().with("b", tree! { c: x.tensor("b.c")?.clone() })?, ReduceOp::Mean)?;
    ensure(m.tensor("b.c")?.to_vec::<f64>()? == vec![sum / nf, sq / nf], || format!("mean: {m:?}"))?;
    let hi = b.allreduce(&x, ReduceOp::Max)?;
    let lo = b.allreduce(&x, ReduceOp::Min)?;
    ensure(hi.tensor("a")?.to_vec::<f32>()? == vec![nf as f32, -2.0, 0.5 * nf as f32], || format!("max: {hi:?}"))?;
    ensure(lo.tensor("b.i")?.to_vec::<i64>()? == vec![1, -(n as i64)], || format!("min: {lo:?}"))?;
    // In place, and `reduce` to the last rank only.
    let mut y = x.clone();
    b.allreduce_mut(&mut y, ReduceOp::Sum)?;
    ensure(y == s, || "allreduce_mut differs from allreduce".into())?;
    let root = n - 1;
    let r = b.reduce(&x, ReduceOp::Sum, root)?;
    ensure(r.is_some() == (b.local_rank() == root), || "reduce: the result belongs to the root only".into())?;
    if let Some(r) = r {
        ensure(r == s, || format!("reduce to the root: {r:?}"))?;
    }
    Ok(Outcome::Passed)
}

fn bad_input_is_an_err_on_every_rank(b: &Backend) -> Result<Outcome> {
    let n = b.total_workers();
    let flags = tree! { m: Tensor::from_vec(vec![true], &[1])? };
    let err = b.allreduce(&flags, ReduceOp::Sum).unwrap_err().to_string();
    ensure(err.contains("allreduce/reduce at m") && err.contains("bool"), || err.clone())?;
    let ints = tree! { i: Tensor::from_vec(vec![1i64], &[1])? };
    let err = b.allreduce(&ints, ReduceOp::Mean).unwrap_err().to_string();
    ensure(err.contains("Mean at i"), || err.clone())?;
    let err = b.bcast(&ints, n).unwrap_err().to_string();
    ensure(err.contains(&format!("root {n} is not a rank")), || err.clone())?;
    if n < 2 {
        return Ok(Outcome::Skipped("needs 2 ranks to differ"));
    }
    // A shape that differs on one rank: every rank gets the Err, none hangs.
    let len = if b.local_rank() == 1 { 3 } else { 2 };
    let x = tree! { layer_1: tree! { weight: Tensor::zeros(&[len], DType::F32)? } };
    for result in
        [b.allreduce(&x, ReduceOp::Sum).map(drop), b.bcast(&x, 0).map(drop), b.reduce(&x, ReduceOp::Sum, 0).map(drop)]
    {
        let err = result.unwrap_err().to_string();
        ensure(
            err.contains("the ranks' trees differ") && err.contains(&format!("layer_1.weight [{len}] f32")),
            || err.clone(),
        )?;
    }
    // One rank failing to pack (a bool leaf) errs the others too.
    let y = if b.local_rank() == 1 {
        flags
    } else {
        tree! { m: Tensor::from_vec(vec![1.0f32], &[1])? }
    };
    ensure(b.allreduce(&y, ReduceOp::Sum).is_err(), || "a rank that could not pack should err every rank".into())?;
    // Different roots are a mismatch too.
    ensure(b.bcast(&x.clone().with("layer_1", 0.0)?, b.local_rank()).is_err(), || "different roots".into())?;
    Ok(Outcome::Passed)
}

fn data_container_shards_are_disjoint_and_cover(b: &Backend) -> Result<Outcome> {
    for len in [10usize, 7, 1] {
        let x = Tensor::from_vec((0..len as i64).collect(), &[len])?;
        let shard = DistributedDataContainer::new(b, x)?;
        // One-hot of the rows this rank sees; the sum over ranks is all ones
        // exactly when the shards are disjoint and cover the data.
        let mut seen = vec![0i64; len];
        for v in shard.local()?.to_vec::<i64>()? {
            seen[v as usize] += 1;
        }
        ensure(shard.len() == shard.indices().len(), || "len".into())?;
        let total = b.allreduce(&Tree::Tensor(Tensor::from_vec(seen, &[len])?), ReduceOp::Sum)?;
        let total = total.into_tensor()?.to_vec::<i64>()?;
        ensure(total.iter().all(|&c| c == 1), || format!("{len} rows: coverage {total:?}"))?;
    }
    Ok(Outcome::Passed)
}

/// The digits MLP of the main job (64 → 128 → 64 → 10, relu).
fn digits_mlp() -> Result<impl Layer> {
    Chain::new((
        Dense::new(64, 128, Activation::Relu)?,
        Dense::new(128, 64, Activation::Relu)?,
        Dense::new(64, 10, Activation::Identity)?,
    ))
}

fn max_abs_diff(a: &Tree, b: &Tree) -> Result<f64> {
    let mut worst = 0.0f64;
    for ((_, x), (_, y)) in a.tensors().into_iter().zip(b.tensors()) {
        for (u, v) in x.to_f64_vec().iter().zip(y.to_f64_vec()) {
            worst = worst.max((u - v).abs());
        }
    }
    Ok(worst)
}

/// 2-rank data parallel (each rank takes its half of every global batch,
/// DistributedOptimizer(Adam)) against one process with the whole global
/// batch (plain Adam), for 3 epochs of the digits.
fn data_parallel_digits_matches_one_process(b: &Backend) -> Result<Outcome> {
    let n = b.total_workers();
    let global_batch = 64 * n;
    let (train, _) = load_digits(&bundled_digits_path())?.split(0.2, 42)?;
    let loss = CrossEntropyLoss::new().logits(true);
    let model = digits_mlp()?;
    // Different parameters on every rank until synchronize.
    let (ps, st) = setup(&mut RngState::seed_from_u64(7 + b.local_rank() as u64), &model)?;
    let mut dist = TrainState::new(digits_mlp()?, ps, st, DistributedOptimizer::new(b, Adam::new(0.003)))?;
    b.synchronize(&mut dist, 0)?;
    let (ps0, st0) = setup(&mut RngState::seed_from_u64(7), &model)?;
    let mut single = TrainState::new(model, ps0, st0, Adam::new(0.003))?;
    let mut steps = 0;
    for epoch in 0..3u64 {
        let batches = train.batches(global_batch, &mut RngState::seed_from_u64(epoch))?;
        for (x, y) in batches {
            if y.len() % n != 0 {
                continue; // equal shards only: the mean of the means is then the global mean
            }
            single_train_step_mut(&AutoTape, &loss, &(x.clone(), y.clone()), &mut single, false)?;
            let local = DistributedDataContainer::new(b, (x, y))?.local()?;
            single_train_step_mut(&AutoTape, &loss, &local, &mut dist, false)?;
            steps += 1;
        }
    }
    let diff = max_abs_diff(dist.parameters(), single.parameters())?;
    let moved = max_abs_diff(dist.parameters(), &setup(&mut RngState::seed_from_u64(7), &digits_mlp()?)?.0)?;
    if b.local_rank() == 0 {
        println!(
            "    {n} rank(s), {steps} steps of global batch {global_batch}: max |Δparameter| = {diff:e} (parameters moved by up to {moved:.3})"
        );
    }
    ensure(moved > 0.05, || format!("training should move the parameters, moved {moved}"))?;
    // f32 round-off of a different summation order, accumulated over the steps.
    ensure(diff < 1e-4, || format!("data-parallel vs one process: max difference {diff:e}"))?;
    let (lo, hi) = spread(b, digest(dist.parameters())?)?;
    ensure(lo == hi, || "the ranks' parameters differ after data-parallel training".into())?;
    Ok(Outcome::Passed)
}

fn fused_step_checks_the_averaged_gradient(b: &Backend) -> Result<Outcome> {
    use lux_train::{ClipNorm, Descent, OptState, OptimiserChain};
    // Rank r's gradient is (r + 1)·[3, 4] on `a` and 1 on `b`; the step
    // uses their mean, (n + 1)/2 · [3, 4], on every rank.
    let n = b.total_workers() as f64;
    let k = b.local_rank() as f64 + 1.0;
    let ps = tree! { a: Tensor::from_vec(vec![0.0f64, 0.0], &[2])?, b: Tensor::from_vec(vec![0.0f32], &[1])? };
    let g = tree! { a: Tensor::from_vec(vec![3.0 * k, 4.0 * k], &[2])?, b: Tensor::from_vec(vec![1.0f32], &[1])? };
    let mut p = ps.clone();
    let mut opt = OptState::new(Box::new(DistributedOptimizer::new(b, Descent::new(1.0))), &p)?;
    opt.update_mut(&mut p, &g)?;
    let mean = (n + 1.0) / 2.0;
    ensure(p.tensor("a")?.to_vec::<f64>()? == vec![-3.0 * mean, -4.0 * mean], || format!("{p:?}"))?;
    ensure(p.tensor("b")?.to_vec::<f32>()? == vec![-1.0], || format!("{p:?}"))?;
    ensure(opt.rule().to_string() == "DistributedOptimizer(Descent(eta=1.0))", || opt.rule().to_string())?;
    opt.update_mut(&mut p, &g)?; // a second step through the same queue
    ensure(p.tensor("a")?.to_vec::<f64>()? == vec![-6.0 * mean, -8.0 * mean], || format!("{p:?}"))?;
    if n < 2.0 {
        return Ok(Outcome::Skipped("needs 2 ranks for a gradient that only the mean makes infinite"));
    }
    // The last rank's `b` gradient is infinite, rank 0's is finite: the
    // wrapped ClipNorm (throw) checks the mean, so it rejects the step on
    // every rank — rank 0 included — before any leaf changes.
    let last = b.local_rank() + 1 == b.total_workers();
    let gb = if last { f32::INFINITY } else { 1.0 };
    let g = g.with("b", Tensor::from_vec(vec![gb], &[1])?)?;
    let chain = OptimiserChain::new(vec![Box::new(ClipNorm::default().omega(1.0)), Box::new(Descent::new(1.0))]);
    let mut opt = OptState::new(Box::new(DistributedOptimizer::new(b, chain)), &ps)?;
    let mut p = ps.clone();
    let err = opt.update_mut(&mut p, &g).unwrap_err().to_string();
    ensure(err.contains("ClipNorm") && err.contains("at b"), || err.clone())?;
    ensure(p == ps, || "a rejected step must leave the parameters unchanged".into())?;
    // And the optimiser recovers on the next, finite step.
    let g = g.with("b", Tensor::from_vec(vec![2.0f32], &[1])?)?;
    opt.update_mut(&mut p, &g)?;
    ensure(p.tensor("b")?.to_vec::<f32>()? == vec![-1.0], || format!("ClipNorm(1) of the mean 2: {p:?}"))?;
    Ok(Outcome::Passed)
}

fn main() {
    let backend = initialize(MpiBackend).expect("MPI could not start");
    let tests: &[(&str, Test)] = &[
        ("bcast_copies_every_leaf_bit_for_bit", bcast_copies_every_leaf_bit_for_bit),
        ("synchronize_makes_train_states_bit_identical", synchronize_makes_train_states_bit_identical),
        ("allreduce_and_reduce_give_exact_results", allreduce_and_reduce_give_exact_results),
        ("bad_input_is_an_err_on_every_rank", bad_input_is_an_err_on_every_rank),
        ("data_container_shards_are_disjoint_and_cover", data_container_shards_are_disjoint_and_cover),
        ("fused_step_checks_the_averaged_gradient", fused_step_checks_the_averaged_gradient),
        ("data_parallel_digits_matches_one_process", data_parallel_digits_matches_one_process),
    ];
    let (rank, n) = (backend.local_rank(), backend.total_workers());
    if rank == 0 {
        println!("\nrunning {} tests on {n} rank(s)", tests.len());
    }
    let (mut passed, mut failed, mut skipped) = (0, 0, 0);
    let start = std::time::Instant::now();
    for (name, test) in tests {
        let outcome = test(&backend);
        if let Err(e) = &outcome {
            eprintln!("rank {rank}: {name}: {e}");
        }
        // Failed anywhere ⇒ failed everywhere.
        let bad = Tree::Tensor(Tensor::from_vec(vec![i64::from(outcome.is_err())], &[1]).expect("a flag"));
        let any = backend.allreduce(&bad, ReduceOp::Max).and_then(|t| t.into_tensor()?.to_vec::<i64>());
        let any_failed = any.map_or(true, |v| v[0] != 0);
        let status = match (&outcome, any_failed) {
            (_, true) => {
                failed += 1;
                "FAILED".to_string()
            }
            (Ok(Outcome::Skipped(why)), _) => {
                skipped += 1;
                format!("ignored, {why}")
            }
            _ => {
                passed += 1;
                "ok".to_string()
            }
        };
        if rank == 0 {
            println!("test {name} ... {status}");
        }
    }
    if rank == 0 {
        let verdict = if failed == 0 { "ok" } else { "FAILED" };
        println!(
            "\ntest result: {verdict}. {passed} passed; {failed} failed; {skipped} ignored; 0 measured; 0 filtered out; finished in {:.2}s\n",
            start.elapsed().as_secs_f64()
        );
    }
    drop(backend);
    std::process::exit(i32::from(failed > 0));
}
