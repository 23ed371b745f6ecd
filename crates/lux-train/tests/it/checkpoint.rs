//! Checkpoints: round trips of every leaf kind and dtype, the file layout,
//! the Python fixture, bit-exact resume through a file, atomic writes, and
//! corrupted or mismatched files (each an `Err`, never a panic).

use lux_ad::AutoTape;
use lux_core::__private::half::{bf16, f16};
use lux_core::{DType, Layer, Result, RngState, Tensor, Tree, forward_child, setup, tree};
use lux_layers::Dense;
use lux_losses::MSELoss;
use lux_ops::Activation;
use lux_train::checkpoint::__save_trees_interrupted;
use lux_train::*;
use proptest::prelude::*;
use rand::RngExt;
use std::path::{Path, PathBuf};

/// A fresh, empty directory for one test, removed when dropped.
struct TmpDir(PathBuf);

impl std::ops::Deref for TmpDir {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for TmpDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn tmp_dir(name: &str) -> TmpDir {
    let dir = std::env::temp_dir().join(format!("lux-ckpt-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    TmpDir(dir)
}

/// Two dense layers, a step counter and an RNG in the state: the output is
/// scaled by a random factor drawn from the state's RNG, so a resume that
/// did not restore the state would diverge.
struct Net {
    l1: Dense,
    l2: Dense,
}

impl Net {
    fn new(hidden: usize) -> Net {
        Net {
            l1: Dense::new(3, hidden, Activation::Tanh).unwrap(),
            l2: Dense::new(hidden, 2, Activation::Identity).unwrap(),
        }
    }
}

impl Layer for Net {
    fn init_params(&self, rng: &mut dyn rand::Rng) -> Result<Tree> {
        Ok(tree! { layer_1: self.l1.init_params(rng)?, layer_2: self.l2.init_params(rng)? })
    }
    fn init_state(&self, rng: &mut dyn rand::Rng) -> Result<Tree> {
        Ok(tree! {
            layer_1: self.l1.init_state(rng)?,
            layer_2: self.l2.init_state(rng)?,
            count: 0i64,
            rng: RngState::from_rng(rng),
        })
    }
    fn forward(&self, x: &Tree, ps: &Tree, st: &Tree) -> Result<(Tree, Tree)> {
        let (h, s1) = forward_child("layer_1", &self.l1, x, ps, st)?;
        let (y, s2) = forward_child("layer_2", &self.l2, &h, ps, st)?;
        let mut rng = st.get("rng")?.as_rng()?.clone();
        let u: f64 = rng.random();
        let count = st.get("count")?.as_int()?;
        let st = tree! { layer_1: s1, layer_2: s2, count: count + 1, rng: rng };
        Ok((y.as_tensor()?.mul_scalar(1.0 + 0.01 * u)?.into(), st))
    }
}

fn train_state(hidden: usize, seed: u64) -> TrainState<Net> {
    let net = Net::new(hidden);
    let (ps, st) = setup(&mut RngState::seed_from_u64(seed), &net).unwrap();
    TrainState::new(net, ps, st, Adam::new(0.01)).unwrap()
}

fn batch(i: u64) -> (Tensor, Tensor) {
    let mut rng = RngState::seed_from_u64(100 + i);
    (Tensor::randn(&mut rng, &[5, 3], DType::F32).unwrap(), Tensor::randn(&mut rng, &[5, 2], DType::F32).unwrap())
}

fn step(ts: &mut TrainState<Net>, i: u64) {
    single_train_step_mut(&AutoTape, &MSELoss::default(), &batch(i), ts, false).unwrap();
}

/// Every tensor's elements as bit patterns, and every other leaf, by path.
fn bits(tree: &Tree) -> Vec<(String, String)> {
    let mut out = Vec::new();
    tree.visit(|p, leaf| {
        let v = match leaf {
            Tree::Tensor(t) => format!(
                "{} {:?} {:?}",
                t.dtype(),
                t.shape(),
                match t.dtype() {
                    DType::F32 => t.to_vec::<f32>().unwrap().iter().map(|x| x.to_bits() as u64).collect::<Vec<_>>(),
                    DType::F64 => t.to_vec::<f64>().unwrap().iter().map(|x| x.to_bits()).collect(),
                    DType::F16 => t.to_vec::<f16>().unwrap().iter().map(|x| x.to_bits() as u64).collect(),
                    DType::BF16 => t.to_vec::<bf16>().unwrap().iter().map(|x| x.to_bits() as u64).collect(),
                    DType::I64 => t.to_vec::<i64>().unwrap().iter().map(|&x| x as u64).collect(),
                    DType::Bool => t.to_vec::<bool>().unwrap().iter().map(|&x| x as u64).collect(),
                }
            ),
            Tree::Float(x) => format!("float {:x}", x.to_bits()),
            other => format!("{other:?}"),
        };
        out.push((p.to_string(), v));
    });
    out
}

fn every_kind() -> Tree {
    let m = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]).unwrap();
    tree! {
        f16: Tensor::from_vec(vec![f16::from_f32(0.5), f16::NEG_INFINITY, f16::NAN], &[3]).unwrap(),
        bf16: Tensor::from_vec(vec![bf16::from_f32(-2.25), bf16::MIN_POSITIVE], &[2, 1]).unwrap(),
        f32_t: m.transpose(0, 1).unwrap(),
        f64: Tensor::from_vec(vec![f64::NAN, -0.0, f64::INFINITY, 1e-310, std::f64::consts::PI], &[5]).unwrap(),
        i64: Tensor::from_vec(vec![i64::MIN, -1, 0, i64::MAX], &[2, 2]).unwrap(),
        mask: Tensor::from_vec(vec![true, false, true], &[3]).unwrap(),
        scalar: Tensor::scalar(7.5f32),
        empty: Tensor::zeros(&[0, 3], DType::F64).unwrap(),
        flags: tree! { training: true, count: -3i64, rate: f64::NAN, rng: RngState::seed_from_u64(9), nothing: Tree::None },
        nested: Tree::Seq(vec![Tree::new(), Tree::Seq(vec![]), Tensor::ones(&[1], DType::F32).unwrap().into()]),
    }
}

#[test]
fn every_leaf_kind_and_dtype_round_trips_bit_exactly() {
    let dir = tmp_dir("round-trip");
    let path = dir.join("t.safetensors");
    let a = every_kind();
    let b = tree! { w: Tensor::from_vec(vec![1.0f32], &[1]).unwrap() };
    let root_tensor = Tree::Tensor(Tensor::from_vec(vec![4i64, 5], &[2]).unwrap());
    save_trees(&path, &[("a", &a), ("b", &b), ("c", &root_tensor)], &[("note", "x y"), ("epoch", "2")]).unwrap();
    let got = load_trees(&path).unwrap();
    let names: Vec<&str> = got.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["a", "b", "c"]);
    assert_eq!(bits(&got[0].1), bits(&a));
    // key order is kept (not sorted as in the file)
    assert_eq!(got[0].1.keys().collect::<Vec<_>>(), a.keys().collect::<Vec<_>>());
    // the transposed (non-contiguous) tensor was written in logical order
    assert_eq!(got[0].1.tensor("f32_t").unwrap().to_vec::<f32>().unwrap(), vec![1.0, 4.0, 2.0, 5.0, 3.0, 6.0]);
    assert_eq!(got[1].1, b);
    assert_eq!(got[2].1, root_tensor);
    if let Some(keep) = std::env::var_os("LUX_CKPT_KEEP") {
        // for checking the file with scripts/read_checkpoint.py
        std::fs::copy(&path, keep).unwrap();
    }
    let meta = load_metadata(&path).unwrap();
    assert_eq!((meta["note"].as_str(), meta["epoch"].as_str()), ("x y", "2"));
    assert_eq!((meta["lux.format"].as_str(), meta["lux.version"].as_str()), ("lux-rs.trees", "1"));
}

#[test]
fn tensors_are_named_by_tree_and_path_with_safetensors_dtypes() {
    let dir = tmp_dir("layout");
    let path = dir.join("ckpt.safetensors");
    let mut ts = train_state(4, 0);
    step(&mut ts, 0);
    save_checkpoint(&path, &ts).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut names = st.names();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "opt.layer_1.bias.m",
            "opt.layer_1.bias.v",
            "opt.layer_1.weight.m",
            "opt.layer_1.weight.v",
            "opt.layer_2.bias.m",
            "opt.layer_2.bias.v",
            "opt.layer_2.weight.m",
            "opt.layer_2.weight.v",
            "ps.layer_1.bias",
            "ps.layer_1.weight",
            "ps.layer_2.bias",
            "ps.layer_2.weight",
        ]
    );
    let w = st.tensor("ps.layer_1.weight").unwrap();
    assert_eq!((w.dtype(), w.shape()), (safetensors::Dtype::F32, &[4usize, 3][..]));
    let want: Vec<u8> = ts
        .parameters()
        .tensor("layer_1.weight")
        .unwrap()
        .to_vec::<f32>()
        .unwrap()
        .iter()
        .flat_map(|x| x.to_le_bytes())
        .collect();
    assert_eq!(w.data(), &want[..]);
    let meta = load_metadata(&path).unwrap();
    assert_eq!(meta["lux.step"], "1");
    assert_eq!(meta["lux.frozen"], "[]");
    assert_eq!(meta["lux.optimizer"], ts.optimizer().to_string());
    // the structure JSON keeps the state's non-tensor leaves
    let trees: serde_json::Value = serde_json::from_str(&meta["lux.trees"]).unwrap();
    assert_eq!(trees[1][0], "st");
    assert_eq!(trees[1][1]["map"][2], serde_json::json!(["count", { "leaf": { "int": 1 } }]));
}

#[test]
fn python_fixture_loads() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/python.safetensors");
    let (tree, meta) = read_safetensors(&path).unwrap();
    assert_eq!(tree.keys().collect::<Vec<_>>(), ["labels", "layer_1", "layer_2"]);
    let w = tree.tensor("layer_1.weight").unwrap();
    assert_eq!((w.dtype(), w.shape()), (DType::F32, &[2usize, 3][..]));
    assert_eq!(w.to_vec::<f32>().unwrap(), vec![0.0, 0.25, 0.5, 0.75, 1.0, 1.25]);
    assert_eq!(tree.tensor("layer_1.bias").unwrap().to_vec::<f32>().unwrap(), vec![-1.5, 2.0]);
    let s = tree.tensor("layer_2.scale").unwrap();
    assert_eq!((s.dtype(), s.shape()), (DType::F64, &[2usize, 2][..]));
    let s = s.to_vec::<f64>().unwrap();
    assert_eq!(
        s.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
        [1e-300, -0.0, std::f64::consts::PI, 3.0].map(f64::to_bits)
    );
    assert_eq!(tree.tensor("labels").unwrap().to_vec::<i64>().unwrap(), vec![3, -7, 9_000_000_000]);
    assert_eq!((meta["epoch"].as_str(), meta["source"].as_str()), ("7", "scripts/make_fixture.py"));
    // not one of ours: load_trees says so
    let err = load_trees(&path).unwrap_err().to_string();
    assert!(err.contains("python.safetensors") && err.contains("not a lux-rs checkpoint"), "{err}");
}

#[test]
fn resume_through_a_file_is_bit_exact() {
    let dir = tmp_dir("resume");
    let path = dir.join("ckpt.safetensors");
    let (n, k) = (7, 3);
    let mut straight = train_state(4, 1);
    for i in 0..n {
        step(&mut straight, i);
    }
    let mut first = train_state(4, 1);
    for i in 0..k {
        step(&mut first, i);
    }
    save_checkpoint(&path, &first).unwrap();
    drop(first);
    // a fresh train state, initialised from another seed: everything must come from the file
    let mut resumed = train_state(4, 999);
    assert_ne!(bits(resumed.parameters()), bits(straight.parameters()));
    load_checkpoint(&path, &mut resumed).unwrap();
    assert_eq!(resumed.step(), k);
    for i in k..n {
        step(&mut resumed, i);
    }
    assert_eq!(resumed.step(), straight.step());
    assert_eq!(bits(resumed.parameters()), bits(straight.parameters()));
    assert_eq!(bits(resumed.states()), bits(straight.states()));
    assert_eq!(bits(resumed.optimizer_state().tree()), bits(straight.optimizer_state().tree()));
}

#[test]
fn the_same_state_gives_the_same_bytes() {
    // The header's metadata map would otherwise be written in hash order,
    // which differs between maps even within one process.
    let dir = tmp_dir("canonical");
    let ts = train_state(4, 1);
    let files: Vec<Vec<u8>> = (0..4)
        .map(|i| {
            let path = dir.join(format!("ckpt{i}.safetensors"));
            save_checkpoint_with_metadata(&path, &ts, &[("epoch", "2"), ("note", "x"), ("run", "a")]).unwrap();
            std::fs::read(&path).unwrap()
        })
        .collect();
    assert!(files.iter().all(|f| *f == files[0]), "checkpoints of one state differ");
    // still a valid safetensors file, with its header padded to 8 bytes
    let n = u64::from_le_bytes(files[0][..8].try_into().unwrap()) as usize;
    assert_eq!(n % 8, 0);
    let mut fresh = train_state(4, 2);
    load_checkpoint(dir.join("ckpt0.safetensors"), &mut fresh).unwrap();
    assert_eq!(bits(fresh.parameters()), bits(ts.parameters()));
}

#[test]
fn the_skipped_step_count_is_restored() {
    let dir = tmp_dir("skipped");
    let path = dir.join("ckpt.safetensors");
    let mut ts = train_state(4, 1).with_non_finite(NonFinite::Skip);
    let nan = ts.parameters().try_map(|_, t| Tensor::full(t.shape(), f64::NAN, t.dtype())).unwrap();
    apply_gradients_mut(&mut ts, &nan).unwrap();
    step(&mut ts, 0);
    assert_eq!((ts.step(), ts.skipped_steps()), (1, 1));
    save_checkpoint(&path, &ts).unwrap();
    let mut fresh = train_state(4, 1);
    load_checkpoint(&path, &mut fresh).unwrap();
    assert_eq!((fresh.step(), fresh.skipped_steps()), (1, 1));
}

#[test]
fn hyperparameters_are_restored() {
    let dir = tmp_dir("hyper");
    let path = dir.join("ckpt.safetensors");
    let mut ts = train_state(4, 1);
    ts.adjust_mut("eta", 0.0025).unwrap();
    ts.adjust_mut("beta", (0.8, 0.99)).unwrap();
    save_checkpoint(&path, &ts).unwrap();
    let mut fresh = train_state(4, 1);
    load_checkpoint(&path, &mut fresh).unwrap();
    assert_eq!(fresh.optimizer().to_string(), "Adam(eta=0.0025, beta=(0.8, 0.99), epsilon=1.0e-8)");
    // an invalid value in the file: an error, nothing changed
    let bytes = std::fs::read(&path).unwrap();
    let bad = rewrite(&bytes, |h, _| {
        h["__metadata__"]["lux.hyperparameters"] = r#"[["eta", {"scalar": -1.0}]]"#.into();
    });
    let err = load_err(&dir, &bad);
    assert!(err.contains("invalid `lux.hyperparameters`"), "{err}");
}

#[test]
fn frozen_paths_are_restored() {
    let dir = tmp_dir("frozen");
    let path = dir.join("ckpt.safetensors");
    let mut ts = train_state(4, 1);
    ts.optimizer_state_mut().freeze("layer_1").unwrap();
    save_checkpoint(&path, &ts).unwrap();
    let mut fresh = train_state(4, 1);
    fresh.optimizer_state_mut().freeze("layer_2").unwrap();
    load_checkpoint(&path, &mut fresh).unwrap();
    assert_eq!(fresh.optimizer_state().frozen(), ["layer_1"]);
}

#[test]
fn an_interrupted_save_leaves_the_previous_file_intact() {
    let dir = tmp_dir("atomic");
    let path = dir.join("ckpt.safetensors");
    let old = tree! { w: Tensor::from_vec(vec![1.0f32, 2.0], &[2]).unwrap() };
    save_trees(&path, &[("ps", &old)], &[]).unwrap();
    let before = std::fs::read(&path).unwrap();
    let new = tree! { w: Tensor::from_vec(vec![3.0f32, 4.0], &[2]).unwrap() };
    let err = __save_trees_interrupted(&path, &[("ps", &new)], &[]).unwrap_err().to_string();
    assert!(err.contains("ckpt.safetensors") && err.contains("injected failure before rename"), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), before);
    assert_eq!(load_trees(&path).unwrap(), vec![("ps".to_string(), old)]);
    // no temporary file is left behind
    let files: Vec<_> = std::fs::read_dir(&*dir).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(files, ["ckpt.safetensors"]);
    // a directory that does not exist: an error naming the path, nothing written
    let missing = dir.join("no/such/dir/ckpt.safetensors");
    let err = save_trees(&missing, &[("ps", &new)], &[]).unwrap_err().to_string();
    assert!(err.contains("no/such/dir/ckpt.safetensors"), "{err}");
    // a successful save replaces the file
    save_trees(&path, &[("ps", &new)], &[]).unwrap();
    assert_eq!(load_trees(&path).unwrap(), vec![("ps".to_string(), new)]);
}

#[test]
fn bad_trees_and_metadata_are_rejected_on_save() {
    let dir = tmp_dir("bad-save");
    let path = dir.join("x.safetensors");
    let dotted = Tree::Map(vec![("a.b".into(), Tree::Int(1))]);
    let err = save_trees(&path, &[("ps", &dotted)], &[]).unwrap_err().to_string();
    assert!(err.contains("key `a.b` at ps"), "{err}");
    let t = Tree::new();
    assert!(
        save_trees(&path, &[("ps", &t), ("ps", &t)], &[]).unwrap_err().to_string().contains("two trees are named `ps`")
    );
    assert!(save_trees(&path, &[("p.s", &t)], &[]).is_err());
    assert!(save_trees(&path, &[("__metadata__", &t)], &[]).unwrap_err().to_string().contains("`__metadata__`"));
    assert!(save_trees(&path, &[("ps", &t)], &[("lux.step", "3")]).unwrap_err().to_string().contains("reserved"));
    assert!(!path.exists());
}

// ----- corrupted and mismatched files ----------------------------------------------

/// A small good checkpoint and its bytes.
fn good_file(dir: &Path) -> (PathBuf, Vec<u8>) {
    let path = dir.join("good.safetensors");
    let mut ts = train_state(3, 2);
    step(&mut ts, 0);
    save_checkpoint(&path, &ts).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    (path, bytes)
}

fn header_len(bytes: &[u8]) -> usize {
    u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize
}

/// Rewrites a file's header JSON (and optionally its data) into a new file.
fn rewrite(bytes: &[u8], edit: impl FnOnce(&mut serde_json::Value, &mut Vec<u8>)) -> Vec<u8> {
    let n = header_len(bytes);
    let mut header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    let mut data = bytes[8 + n..].to_vec();
    edit(&mut header, &mut data);
    let h = serde_json::to_vec(&header).unwrap();
    let mut out = (h.len() as u64).to_le_bytes().to_vec();
    out.extend(h);
    out.extend(data);
    out
}

/// Loading `bytes` as a checkpoint into a fresh train state: the error
/// message; the train state must be unchanged.
fn load_err(dir: &Path, bytes: &[u8]) -> String {
    let path = dir.join("bad.safetensors");
    std::fs::write(&path, bytes).unwrap();
    let mut ts = train_state(3, 5);
    let before = bits(ts.parameters());
    let err = load_checkpoint(&path, &mut ts).expect_err("a damaged file loaded").to_string();
    assert_eq!(bits(ts.parameters()), before, "half-loaded");
    assert_eq!(ts.step(), 0);
    assert!(load_trees(&path).is_err() || err.contains("structure mismatch") || err.contains("`lux."), "{err}");
    err
}

#[test]
fn truncated_files_are_errors() {
    let dir = tmp_dir("truncated");
    let (_, bytes) = good_file(&dir);
    let n = header_len(&bytes);
    for cut in [0, 1, 7, 8, 9, 8 + n / 2, 8 + n - 1, 8 + n, 8 + n + 1, (8 + n + bytes.len()) / 2, bytes.len() - 1] {
        let err = load_err(&dir, &bytes[..cut]);
        assert!(err.contains("bad.safetensors") && err.contains("not a valid safetensors file"), "cut at {cut}: {err}");
    }
    // trailing garbage too
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(load_err(&dir, &longer).contains("not a valid safetensors file"));
}

#[test]
fn flipped_header_bytes_are_errors() {
    let dir = tmp_dir("flipped");
    let (_, bytes) = good_file(&dir);
    let n = header_len(&bytes);
    // 0xFF is never valid UTF-8 and every length byte matters: each flip is an error
    for i in 0..8 + n {
        let mut b = bytes.clone();
        b[i] ^= 0xFF;
        let path = dir.join("flip.safetensors");
        std::fs::write(&path, &b).unwrap();
        let mut ts = train_state(3, 5);
        assert!(load_checkpoint(&path, &mut ts).is_err(), "flip at {i} loaded");
        assert_eq!(ts.step(), 0);
    }
}

#[test]
fn out_of_range_offsets_and_huge_shapes_are_errors() {
    let dir = tmp_dir("offsets");
    let (_, bytes) = good_file(&dir);
    let bad = rewrite(&bytes, |h, _| h["ps.layer_1.bias"]["data_offsets"] = serde_json::json!([0, 1u64 << 40]));
    assert!(load_err(&dir, &bad).contains("not a valid safetensors file"));
    let bad = rewrite(&bytes, |h, _| h["ps.layer_1.bias"]["shape"] = serde_json::json!([1u64 << 40, 1u64 << 40]));
    assert!(load_err(&dir, &bad).contains("not a valid safetensors file"));
    let bad = rewrite(&bytes, |h, _| h["ps.layer_1.bias"]["shape"] = serde_json::json!([u64::MAX, u64::MAX, 2]));
    assert!(load_err(&dir, &bad).contains("not a valid safetensors file"));
    // a header length pointing past the end
    let mut bad = bytes.clone();
    bad[..8].copy_from_slice(&(u64::MAX / 2).to_le_bytes());
    assert!(load_err(&dir, &bad).contains("not a valid safetensors file"));
}

#[test]
fn a_tensor_that_disagrees_with_the_structure_is_an_error() {
    let dir = tmp_dir("disagree");
    let (_, bytes) = good_file(&dir);
    // wrong dtype for a leaf: the file says I32 (same byte count as f32)
    let bad = rewrite(&bytes, |h, _| h["ps.layer_1.weight"]["dtype"] = "I32".into());
    let err = load_err(&dir, &bad);
    assert!(err.contains("tensor `ps.layer_1.weight` has dtype I32, `lux.trees` says f32"), "{err}");
    // another shape with the same element count
    let bad = rewrite(&bytes, |h, _| h["ps.layer_1.weight"]["shape"] = serde_json::json!([9]));
    assert!(load_err(&dir, &bad).contains("tensor `ps.layer_1.weight` has shape [9], `lux.trees` says [3, 3]"));
    // a missing tensor (renamed away) and an extra one
    let bad = rewrite(&bytes, |h, _| {
        let o = h.as_object_mut().unwrap();
        let v = o.remove("ps.layer_2.bias").unwrap();
        o.insert("ps.layer_2.extra".into(), v);
    });
    assert!(load_err(&dir, &bad).contains("missing tensor `ps.layer_2.bias`"));
    let bad = rewrite(&bytes, |h, data| {
        let start = data.len();
        data.extend([0u8; 8]);
        h["stray"] = serde_json::json!({ "dtype": "F64", "shape": [1], "data_offsets": [start, start + 8] });
    });
    assert!(load_err(&dir, &bad).contains("tensors not in `lux.trees`: stray"));
    // metadata that is not ours, not valid, or of another version
    let bad = rewrite(&bytes, |h, _| h["__metadata__"]["lux.trees"] = "{".into());
    assert!(load_err(&dir, &bad).contains("`lux.trees` is not valid"));
    let bad = rewrite(&bytes, |h, _| {
        let trees =
            h["__metadata__"]["lux.trees"].as_str().unwrap().replace(r#"{"leaf":{"int":1}}"#, r#"{"leaf":{"map":[]}}"#);
        assert!(trees.contains(r#"{"leaf":{"map":[]}}"#));
        h["__metadata__"]["lux.trees"] = trees.into();
    });
    assert!(load_err(&dir, &bad).contains("`lux.trees`: a map is not a leaf, at st.count"));
    let bad = rewrite(&bytes, |h, _| h["__metadata__"]["lux.frozen"] = r#"["layer_9"]"#.into());
    assert!(load_err(&dir, &bad).contains("`lux.frozen`: missing key `layer_9`"));
    let bad = rewrite(&bytes, |h, _| h["__metadata__"]["lux.version"] = "2".into());
    assert!(load_err(&dir, &bad).contains("unsupported `lux.version`"));
    let bad = rewrite(&bytes, |h, _| h["__metadata__"]["lux.step"] = "-1".into());
    assert!(load_err(&dir, &bad).contains("invalid `lux.step`"));
    let bad = rewrite(&bytes, |h, _| {
        h.as_object_mut().unwrap().remove("__metadata__");
    });
    assert!(load_err(&dir, &bad).contains("not a lux-rs checkpoint"));
}

#[test]
fn invalid_bools_and_foreign_dtypes_are_errors() {
    let dir = tmp_dir("bools");
    let path = dir.join("b.safetensors");
    save_trees(&path, &[("m", &Tree::Tensor(Tensor::from_vec(vec![true, false], &[2]).unwrap()))], &[]).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let mut bad = bytes.clone();
    let last = bad.len() - 1;
    bad[last] = 2;
    std::fs::write(&path, &bad).unwrap();
    let err = load_trees(&path).unwrap_err().to_string();
    assert!(err.contains("tensor `m`: byte 2 at element 1 is not a bool"), "{err}");
    // read_safetensors rejects dtypes lux-rs does not have
    let bad = rewrite(&bytes, |h, _| h["m"]["dtype"] = "U8".into());
    std::fs::write(&path, &bad).unwrap();
    let err = read_safetensors(&path).unwrap_err().to_string();
    assert!(err.contains("tensor `m` has dtype U8, which lux-rs does not have"), "{err}");
    // clashing names
    let bad = rewrite(&bytes, |h, data| {
        data.extend([0u8; 2]);
        h["m.x"] = serde_json::json!({ "dtype": "BOOL", "shape": [2], "data_offsets": [2, 4] });
    });
    std::fs::write(&path, &bad).unwrap();
    assert!(read_safetensors(&path).unwrap_err().to_string().contains("clashes"));
}

#[test]
fn a_checkpoint_of_another_model_is_an_error_and_changes_nothing() {
    let dir = tmp_dir("mismatch");
    let (path, _) = good_file(&dir);
    let mut wider = train_state(5, 0);
    let before = bits(wider.parameters());
    let err = load_checkpoint(&path, &mut wider).unwrap_err().to_string();
    assert!(
        err.starts_with("structure mismatch at ps.layer_1.weight: the train state has a f32 tensor of shape [5, 3], the checkpoint a f32 tensor of shape [3, 3]"),
        "{err}"
    );
    assert!(err.contains("good.safetensors"), "{err}");
    assert_eq!(bits(wider.parameters()), before);
    // another dtype
    let net = Net::new(3);
    let (ps, st) = setup(&mut RngState::seed_from_u64(0), &net).unwrap();
    let ps = ps.try_map(|_, t| t.to_dtype(DType::F64)).unwrap();
    let mut f64_ts = TrainState::new(net, ps, st, Adam::new(0.01)).unwrap();
    let err = load_checkpoint(&path, &mut f64_ts).unwrap_err().to_string();
    assert!(err.contains("at ps.layer_1.weight: the train state has a f64 tensor"), "{err}");
    // another structure (a state without `count`)
    let mut ts = train_state(3, 0);
    let mut st = ts.states().clone();
    st.remove("count");
    let mut ts2 = TrainState::new(Net::new(3), ts.parameters().clone(), st, Adam::new(0.01)).unwrap();
    let err = load_checkpoint(&path, &mut ts2).unwrap_err().to_string();
    assert!(err.starts_with("structure mismatch at st: the train state has keys"), "{err}");
    // another optimiser
    let mut sgd =
        TrainState::new(Net::new(3), ts.parameters().clone(), ts.states().clone(), Descent::new(0.1)).unwrap();
    let err = load_checkpoint(&path, &mut sgd).unwrap_err().to_string();
    assert!(
        err.ends_with("good.safetensors: the checkpoint was written with the rule Adam, the train state uses Descent"),
        "{err}"
    );
    // a rule name that matches but a state structure that does not (Descent's state into Momentum's)
    let dir2 = tmp_dir("mismatch-rule");
    let p2 = dir2.join("sgd.safetensors");
    save_checkpoint(&p2, &sgd).unwrap();
    let bytes = std::fs::read(&p2).unwrap();
    let bad = rewrite(&bytes, |h, _| {
        h["__metadata__"]["lux.rule"] = "Momentum".into();
        h["__metadata__"].as_object_mut().unwrap().remove("lux.hyperparameters");
    });
    std::fs::write(&p2, bad).unwrap();
    let mut momentum =
        TrainState::new(Net::new(3), ts.parameters().clone(), ts.states().clone(), Momentum::default()).unwrap();
    let err = load_checkpoint(&p2, &mut momentum).unwrap_err().to_string();
    assert!(err.starts_with("structure mismatch at opt.layer_1"), "{err}");
    // and the right one loads
    load_checkpoint(&path, &mut ts).unwrap();
    assert_eq!(ts.step(), 1);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
    #[test]
    fn random_damage_never_panics_or_half_loads(
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        cut in proptest::option::of(any::<prop::sample::Index>()),
    ) {
        let bytes = GOOD.with(|g| g.get_or_init(|| good_file(&tmp_dir("proptest-good")).1).clone());
        let mut b = bytes.clone();
        for (i, v) in edits {
            let i = i.index(b.len());
            b[i] = v;
        }
        if let Some(c) = cut {
            b.truncate(c.index(b.len()));
        }
        let path = std::env::temp_dir().join(format!(
            "lux-ckpt-test-{}-damaged-{:?}.safetensors",
            std::process::id(),
            std::thread::current().id()
        ));
        std::fs::write(&path, &b).unwrap();
        let _ = load_trees(&path);
        let _ = read_safetensors(&path);
        let _ = load_metadata(&path);
        let mut ts = train_state(3, 5);
        let before = bits(ts.parameters());
        if load_checkpoint(&path, &mut ts).is_err() {
            prop_assert_eq!(bits(ts.parameters()), before);
            prop_assert_eq!(ts.step(), 0);
        }
        let _ = std::fs::remove_file(&path);
    }
}

thread_local! {
    static GOOD: std::cell::OnceCell<Vec<u8>> = const { std::cell::OnceCell::new() };
}

#[test]
fn a_zero_sized_tensor_of_enormous_shape_is_not_a_panic() {
    let dir = tmp_dir("zero-huge");
    let path = dir.join("z.safetensors");
    save_trees(&path, &[("m", &Tree::Tensor(Tensor::from_vec(vec![true, false], &[2]).unwrap()))], &[]).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let bad = rewrite(&bytes, |h, _| {
        h["z"] = serde_json::json!({ "dtype": "F32", "shape": [0, 1u64 << 62, 1u64 << 62], "data_offsets": [2, 2] });
    });
    std::fs::write(&path, &bad).unwrap();
    let err = read_safetensors(&path).unwrap_err().to_string();
    assert!(err.contains("tensor `z`"), "{err}");
}
