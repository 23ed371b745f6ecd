//! A short training run on the bundled digits through the public API: an
//! MLP with logit cross-entropy on class-index labels, Adam and
//! `single_train_step_mut`. The test accuracy must rise far above chance,
//! and resuming from a checkpoint must be bit-exact, both in this process
//! and in fresh processes (this test binary re-run as a child).

use lux::data::{Dataset, bundled_digits_path, load_digits};
use lux::prelude::*;
use lux::train::checkpoint::{load_checkpoint, save_checkpoint};
use std::path::{Path, PathBuf};
use std::process::Command;

type Model = Chain<(Dense, Dense)>;

fn accuracy(ts: &TrainState<Model>, data: &Dataset) -> f64 {
    let (logits, _) = apply_tensor(ts.model(), &data.x, ts.parameters(), &test_mode(ts.states())).unwrap();
    let logits = logits.to_vec::<f32>().unwrap();
    let labels = data.y.to_vec::<i64>().unwrap();
    let correct = logits
        .chunks(10)
        .zip(&labels)
        .filter(|(row, label)| {
            let best = row.iter().enumerate().fold(0, |b, (i, v)| if *v > row[b] { i } else { b });
            best as i64 == **label
        })
        .count();
    correct as f64 / labels.len() as f64
}

fn split() -> (Dataset, Dataset) {
    load_digits(&bundled_digits_path()).unwrap().split(0.2, 0).unwrap()
}

/// A fresh train state; `seed` only sets the initial parameters.
fn train_state(seed: u64) -> TrainState<Model> {
    let model =
        Chain::new((Dense::new(64, 64, Activation::Relu).unwrap(), Dense::new(64, 10, Activation::Identity).unwrap()))
            .unwrap();
    let (ps, st) = setup(&mut RngState::seed_from_u64(seed), &model).unwrap();
    TrainState::new(model, ps, st, Adam::new(0.01)).unwrap()
}

/// Trains epochs `from..to`; each epoch's batch order depends only on the
/// epoch number, as in the digits example, so a resumed run sees the same
/// batches as a straight one.
fn train_epochs(ts: &mut TrainState<Model>, train: &Dataset, from: u64, to: u64) {
    let loss = CrossEntropyLoss::new().logits(true);
    for epoch in from..to {
        let mut rng = RngState::seed_from_u64(1000 + epoch);
        for (x, y) in train.batches(64, &mut rng).unwrap() {
            single_train_step_mut(&AutoTape, &loss, &(x, y), ts, false).unwrap();
        }
    }
}

/// Every tensor's elements as bit patterns, and every other leaf, by path.
fn bits(tree: &Tree) -> Vec<(String, Vec<u64>)> {
    let mut out = Vec::new();
    tree.visit(|path, leaf| {
        let v = match leaf {
            Tree::Tensor(t) if t.dtype() == DType::F32 => {
                t.to_vec::<f32>().unwrap().iter().map(|x| u64::from(x.to_bits())).collect()
            }
            Tree::Tensor(t) => t.to_vec::<i64>().unwrap().iter().map(|&x| x as u64).collect(),
            Tree::Float(x) => vec![x.to_bits()],
            Tree::Int(i) => vec![*i as u64],
            Tree::Bool(b) => vec![u64::from(*b)],
            other => panic!("unexpected leaf {other:?} at {path}"),
        };
        out.push((path.to_string(), v));
    });
    out
}

fn assert_bit_identical(a: &TrainState<Model>, b: &TrainState<Model>) {
    assert_eq!(a.step(), b.step());
    assert_eq!(bits(a.parameters()), bits(b.parameters()));
    assert_eq!(bits(a.states()), bits(b.states()));
    assert_eq!(bits(a.optimizer_state().tree()), bits(b.optimizer_state().tree()));
}

#[test]
fn an_mlp_learns_the_digits_in_a_few_epochs() {
    let (train, test) = split();
    let mut ts = train_state(0);
    let before = accuracy(&ts, &test);
    train_epochs(&mut ts, &train, 0, 3);
    let after = accuracy(&ts, &test);
    eprintln!("test accuracy: {before:.3} before, {after:.3} after 3 epochs");
    // chance is 10 %
    assert!(before < 0.3, "before training: {before}");
    assert!(after > 0.85, "after 3 epochs: {after}");
}

#[test]
fn resuming_in_process_is_bit_exact() {
    let (train, _) = split();
    let dir = TmpDir::new("in-process");
    let path = dir.0.join("ckpt.safetensors");
    let mut straight = train_state(0);
    train_epochs(&mut straight, &train, 0, 3);
    let mut first = train_state(0);
    train_epochs(&mut first, &train, 0, 1);
    save_checkpoint(&path, &first).unwrap();
    // initialised from another seed: everything must come from the file
    let mut resumed = train_state(7);
    load_checkpoint(&path, &mut resumed).unwrap();
    train_epochs(&mut resumed, &train, 1, 3);
    assert_bit_identical(&resumed, &straight);
}

/// The child side of [`resuming_in_a_fresh_process_is_bit_exact`]: run by
/// that test through this binary, never on its own.
#[test]
#[ignore = "a child process of resuming_in_a_fresh_process_is_bit_exact"]
fn resume_child() {
    let var = |name: &str| std::env::var(name).unwrap_or_else(|_| panic!("{name} is set by the parent test"));
    let (from, to): (u64, u64) = (var("LUX_CHILD_FROM").parse().unwrap(), var("LUX_CHILD_TO").parse().unwrap());
    let (train, _) = split();
    let mut ts = if from == 0 {
        train_state(0)
    } else {
        // another seed than the parent's: everything must come from the file
        let mut ts = train_state(11);
        load_checkpoint(var("LUX_CHILD_LOAD"), &mut ts).unwrap();
        assert_eq!(ts.step(), from * train.len().div_ceil(64) as u64);
        ts
    };
    train_epochs(&mut ts, &train, from, to);
    save_checkpoint(var("LUX_CHILD_SAVE"), &ts).unwrap();
}

fn run_child(from: u64, to: u64, load: &Path, save: &Path) {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["resume_child", "--exact", "--ignored", "--nocapture", "--test-threads=1"])
        .env("LUX_CHILD_FROM", from.to_string())
        .env("LUX_CHILD_TO", to.to_string())
        .env("LUX_CHILD_LOAD", load)
        .env("LUX_CHILD_SAVE", save)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "child failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 passed"), "the child ran no test");
}

#[test]
fn resuming_in_a_fresh_process_is_bit_exact() {
    let (train, _) = split();
    let dir = TmpDir::new("fresh-process");
    let (after_1, after_3) = (dir.0.join("epoch1.safetensors"), dir.0.join("epoch3.safetensors"));
    // Epoch 1 in one process, epochs 2 and 3 in another, from the file.
    run_child(0, 1, Path::new(""), &after_1);
    run_child(1, 3, &after_1, &after_3);
    let mut straight = train_state(0);
    train_epochs(&mut straight, &train, 0, 3);
    let mut resumed = train_state(5);
    load_checkpoint(&after_3, &mut resumed).unwrap();
    assert_bit_identical(&resumed, &straight);
    // Checkpoint headers are written in a canonical order: the same state
    // gives the same file, byte for byte.
    let straight_path = dir.0.join("straight.safetensors");
    save_checkpoint(&straight_path, &straight).unwrap();
    assert!(std::fs::read(&straight_path).unwrap() == std::fs::read(&after_3).unwrap(), "checkpoint bytes differ");
}

/// A fresh, empty directory for one test, removed when dropped.
struct TmpDir(PathBuf);

impl TmpDir {
    fn new(name: &str) -> TmpDir {
        let dir = std::env::temp_dir().join(format!("lux-digits-test-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TmpDir(dir)
    }
}

impl Drop for TmpDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
