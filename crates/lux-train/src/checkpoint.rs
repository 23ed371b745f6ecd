//! Checkpoints in [safetensors](https://github.com/huggingface/safetensors):
//! [`save_checkpoint`] / [`load_checkpoint`] for a [`TrainState`], built on
//! [`save_trees`] / [`load_trees`] for any named [`Tree`]s, and
//! [`read_safetensors`] for a safetensors file written by other tools.
//!
//! # Format
//!
//! A checkpoint is an ordinary safetensors file, so Python's `safetensors`,
//! PyTorch and JAX tooling read it as it is:
//!
//! * every **tensor leaf** is a safetensors tensor named by its tree's name
//!   and its path in the tree: `ps.layer_1.weight`,
//!   `st.layer_2.running_mean`, `opt.layer_1.weight.m` (a tensor at the
//!   root of a tree is named by the tree's name alone). Elements are stored
//!   little-endian and row-major (a non-contiguous tensor is written
//!   contiguous); the dtypes map one to one: `bool`→`BOOL`, `i64`→`I64`,
//!   `f16`→`F16`, `bf16`→`BF16`, `f32`→`F32`, `f64`→`F64`.
//! * the header's keys are written sorted, so the same trees give the same
//!   bytes on every run;
//! * the header's `__metadata__` (string to string) holds
//!   * `lux.format` = `lux-rs.trees` and `lux.version` = `1`;
//!   * `lux.trees`: the **structure** of the trees as JSON, in order: a list
//!     of `[name, skeleton]` pairs where a skeleton is `{"map": [[key,
//!     skeleton], …]}` (key order kept), `{"seq": [skeleton, …]}`,
//!     `{"tensor": {"dtype": "f32", "shape": [3, 2]}}` (its data is the
//!     safetensors tensor of that path), or `{"leaf": …}` with a
//!     non-tensor leaf in [`Tree`]'s serde form (`{"bool": true}`,
//!     `{"int": 3}`, `{"float": 0.5}`, `{"rng": …}`, `"none"`). Empty maps
//!     and sequences are kept.
//!   * for a checkpoint, `lux.step` (the step count), `lux.skipped_steps`
//!     (steps skipped by the non-finite policy), `lux.frozen` (the
//!     optimiser's frozen paths, a JSON list), `lux.rule` (the rule's
//!     name, e.g. `Adam`), `lux.hyperparameters` (for a rule that is not a
//!     chain: its hyper-parameters, e.g. `[["eta", {"scalar": 0.001}],
//!     ["beta", {"pair": [0.9, 0.999]}], …]`) and `lux.optimizer` (the rule
//!     as printed, for information);
//!   * any extra metadata given to [`save_trees`] (keys must not start with
//!     `lux.`).
//!
//! # Safety of writes and reads
//!
//! Writes are **atomic**: the file is written to a temporary file in the
//! same directory, flushed to disk (`fsync`), renamed over the target, and
//! the directory is synced (on Unix). A failure at any point before the
//! rename leaves a previous file at `path` untouched.
//!
//! Reads **never panic and never half-load**: the whole file is validated
//! (header length, JSON, tensor offsets and sizes against the file length,
//! dtypes and shapes against the skeleton, no missing or extra tensors,
//! valid bools) before anything is returned, and [`load_checkpoint`]
//! checks every tree against the train state (structure, leaf kinds,
//! tensor shapes and dtypes) before changing it. Errors name the file and
//! what is wrong.
//!
//! ```
//! use lux_core::{tree, Tensor};
//! use lux_train::{load_trees, save_trees};
//! let path = std::env::temp_dir().join(format!("lux-doc-checkpoint-{}.safetensors", std::process::id()));
//! let ps = tree! { layer_1: tree! { weight: Tensor::from_vec(vec![1.0f32, 2.0], &[1, 2])? }, training: true };
//! save_trees(&path, &[("ps", &ps)], &[("note", "hello")])?;
//! let trees = load_trees(&path)?;
//! assert_eq!(trees, vec![("ps".to_string(), ps)]);
//! # std::fs::remove_file(&path)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use crate::rule::Hyper;
use crate::train::TrainState;
use lux_core::__private::half::{bf16, f16};
use lux_core::{DType, LuxError, Result, Tensor, Tree};
use safetensors::tensor::{Dtype, SafeTensors, View};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// The value of `lux.format` in files written by [`save_trees`].
///
/// ```
/// assert_eq!(lux_train::checkpoint::FORMAT, "lux-rs.trees");
/// ```
pub const FORMAT: &str = "lux-rs.trees";
/// The value of `lux.version` in files written by [`save_trees`];
/// [`load_trees`] reads this version only.
///
/// ```
/// assert_eq!(lux_train::checkpoint::FORMAT_VERSION, "1");
/// ```
pub const FORMAT_VERSION: &str = "1";

const KEY_FORMAT: &str = "lux.format";
const KEY_VERSION: &str = "lux.version";
const KEY_TREES: &str = "lux.trees";
const KEY_STEP: &str = "lux.step";
const KEY_SKIPPED: &str = "lux.skipped_steps";
const KEY_FROZEN: &str = "lux.frozen";
const KEY_OPTIMIZER: &str = "lux.optimizer";
const KEY_RULE: &str = "lux.rule";
const KEY_HYPER: &str = "lux.hyperparameters";

fn hyper_json(h: Hyper) -> serde_json::Value {
    match h {
        Hyper::Scalar(v) => serde_json::json!({ "scalar": v }),
        Hyper::Pair(a, b) => serde_json::json!({ "pair": [a, b] }),
        Hyper::Flag(v) => serde_json::json!({ "flag": v }),
        Hyper::Count(n) => serde_json::json!({ "count": n }),
    }
}

fn json_hyper(v: &serde_json::Value) -> Option<Hyper> {
    let o = v.as_object().filter(|o| o.len() == 1)?;
    let (k, v) = o.iter().next()?;
    Some(match k.as_str() {
        "scalar" => Hyper::Scalar(v.as_f64()?),
        "pair" => match v.as_array()?.as_slice() {
            [a, b] => Hyper::Pair(a.as_f64()?, b.as_f64()?),
            _ => return None,
        },
        "flag" => Hyper::Flag(v.as_bool()?),
        "count" => Hyper::Count(usize::try_from(v.as_u64()?).ok()?),
        _ => return None,
    })
}

/// The structure of a tree with its tensors taken out (the `lux.trees` JSON).
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Skeleton {
    Map(Vec<(String, Skeleton)>),
    Seq(Vec<Skeleton>),
    Tensor { dtype: DType, shape: Vec<usize> },
    Leaf(Tree),
}

/// A tensor's bytes, little-endian, ready for safetensors.
struct Blob {
    dtype: Dtype,
    shape: Vec<usize>,
    bytes: Vec<u8>,
}

impl View for &Blob {
    fn dtype(&self) -> Dtype {
        self.dtype
    }
    fn shape(&self) -> &[usize] {
        &self.shape
    }
    fn data(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(&self.bytes)
    }
    fn data_len(&self) -> usize {
        self.bytes.len()
    }
}

fn file_err(path: &Path, msg: impl std::fmt::Display) -> LuxError {
    LuxError::Io(format!("{}: {msg}", path.display()))
}

fn st_dtype(d: DType) -> Dtype {
    match d {
        DType::Bool => Dtype::BOOL,
        DType::I64 => Dtype::I64,
        DType::F16 => Dtype::F16,
        DType::BF16 => Dtype::BF16,
        DType::F32 => Dtype::F32,
        DType::F64 => Dtype::F64,
    }
}

fn lux_dtype(d: Dtype) -> Option<DType> {
    Some(match d {
        Dtype::BOOL => DType::Bool,
        Dtype::I64 => DType::I64,
        Dtype::F16 => DType::F16,
        Dtype::BF16 => DType::BF16,
        Dtype::F32 => DType::F32,
        Dtype::F64 => DType::F64,
        _ => return None,
    })
}

fn tensor_bytes(t: &Tensor) -> Result<Vec<u8>> {
    fn le<T: lux_core::Element, const N: usize>(t: &Tensor, f: impl Fn(T) -> [u8; N]) -> Result<Vec<u8>> {
        let s = t.contiguous_slice::<T>()?;
        let mut out = Vec::with_capacity(s.len() * N);
        for &x in s.iter() {
            out.extend_from_slice(&f(x));
        }
        Ok(out)
    }
    match t.dtype() {
        DType::Bool => le::<bool, 1>(t, |b| [u8::from(b)]),
        DType::I64 => le::<i64, 8>(t, i64::to_le_bytes),
        DType::F16 => le::<f16, 2>(t, f16::to_le_bytes),
        DType::BF16 => le::<bf16, 2>(t, bf16::to_le_bytes),
        DType::F32 => le::<f32, 4>(t, f32::to_le_bytes),
        DType::F64 => le::<f64, 8>(t, f64::to_le_bytes),
    }
}

/// Builds a tensor from little-endian bytes; `name` and `path` for errors.
fn tensor_from_bytes(dtype: DType, shape: &[usize], bytes: &[u8], name: &str, path: &Path) -> Result<Tensor> {
    fn from<T: lux_core::Element, const N: usize>(
        bytes: &[u8],
        shape: &[usize],
        f: impl Fn([u8; N]) -> T,
    ) -> Result<Tensor> {
        let values: Vec<T> = bytes
            .chunks_exact(N)
            .map(|c| {
                let mut a = [0u8; N];
                a.copy_from_slice(c);
                f(a)
            })
            .collect();
        Tensor::from_vec(values, shape)
    }
    let n = shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
    if n.and_then(|n| n.checked_mul(dtype.size_in_bytes())) != Some(bytes.len()) {
        return Err(file_err(
            path,
            format!("tensor `{name}`: {} bytes do not hold a {dtype} tensor of shape {shape:?}", bytes.len()),
        ));
    }
    let t = match dtype {
        DType::Bool => {
            if let Some(i) = bytes.iter().position(|&b| b > 1) {
                return Err(file_err(path, format!("tensor `{name}`: byte {} at element {i} is not a bool", bytes[i])));
            }
            from::<bool, 1>(bytes, shape, |[b]| b == 1)
        }
        DType::I64 => from::<i64, 8>(bytes, shape, i64::from_le_bytes),
        DType::F16 => from::<f16, 2>(bytes, shape, f16::from_le_bytes),
        DType::BF16 => from::<bf16, 2>(bytes, shape, bf16::from_le_bytes),
        DType::F32 => from::<f32, 4>(bytes, shape, f32::from_le_bytes),
        DType::F64 => from::<f64, 8>(bytes, shape, f64::from_le_bytes),
    };
    t.map_err(|e| file_err(path, format!("tensor `{name}`: {e}")))
}

fn join(prefix: &str, seg: &str) -> String {
    if prefix.is_empty() { seg.to_string() } else { format!("{prefix}.{seg}") }
}

fn check_key(key: &str, at: &str) -> Result<()> {
    if key.is_empty() || key.contains('.') {
        return Err(LuxError::invalid_argument(
            "save_trees",
            format!("key `{key}` at {at} must be non-empty and must not contain `.` (it names a tensor path)"),
        ));
    }
    Ok(())
}

/// Splits `tree` into its skeleton and its tensors (named `name.path`).
fn skeleton(tree: &Tree, name: &str, blobs: &mut Vec<(String, Blob)>) -> Result<Skeleton> {
    Ok(match tree {
        Tree::Map(entries) => {
            let mut out = Vec::with_capacity(entries.len());
            for (k, v) in entries {
                check_key(k, name)?;
                out.push((k.clone(), skeleton(v, &join(name, k), blobs)?));
            }
            Skeleton::Map(out)
        }
        Tree::Seq(items) => Skeleton::Seq(
            items
                .iter()
                .enumerate()
                .map(|(i, v)| skeleton(v, &join(name, &i.to_string()), blobs))
                .collect::<Result<_>>()?,
        ),
        Tree::Tensor(t) => {
            let bytes = tensor_bytes(t)?;
            blobs.push((name.to_string(), Blob { dtype: st_dtype(t.dtype()), shape: t.shape().to_vec(), bytes }));
            Skeleton::Tensor { dtype: t.dtype(), shape: t.shape().to_vec() }
        }
        leaf => Skeleton::Leaf(leaf.clone()),
    })
}

/// Serialises the trees and metadata into the bytes of a safetensors file.
/// `reserved` are `lux.` keys set by this module (not checked).
fn encode(trees: &[(&str, &Tree)], metadata: &[(&str, &str)], reserved: &[(&str, &str)]) -> Result<Vec<u8>> {
    let mut seen = HashSet::new();
    let mut blobs = Vec::new();
    let mut skeletons = Vec::with_capacity(trees.len());
    for &(name, tree) in trees {
        check_key(name, "the list of trees")?;
        if name == "__metadata__" {
            return Err(LuxError::invalid_argument("save_trees", "a tree cannot be named `__metadata__`"));
        }
        if !seen.insert(name) {
            return Err(LuxError::invalid_argument("save_trees", format!("two trees are named `{name}`")));
        }
        skeletons.push((name.to_string(), skeleton(tree, name, &mut blobs)?));
    }
    let mut info = HashMap::new();
    for &(k, v) in metadata {
        if k.starts_with("lux.") || k == "__metadata__" {
            return Err(LuxError::invalid_argument("save_trees", format!("metadata key `{k}` is reserved")));
        }
        info.insert(k.to_string(), v.to_string());
    }
    let json =
        serde_json::to_string(&skeletons).map_err(|e| LuxError::invalid_argument("save_trees", e.to_string()))?;
    info.insert(KEY_FORMAT.into(), FORMAT.into());
    info.insert(KEY_VERSION.into(), FORMAT_VERSION.into());
    info.insert(KEY_TREES.into(), json);
    for &(k, v) in reserved {
        info.insert(k.to_string(), v.to_string());
    }
    let bytes = safetensors::tensor::serialize(blobs.iter().map(|(n, b)| (n.as_str(), b)), Some(info))
        .map_err(|e| LuxError::invalid_argument("save_trees", e.to_string()))?;
    canonical_header(bytes)
}

/// Rewrites the header of a safetensors file with its keys sorted. The
/// `safetensors` crate writes the metadata map in hash order, which differs
/// between runs; sorted, the same trees always give the same bytes (a
/// resumed run's checkpoint is byte-identical to a straight run's). Tensor
/// offsets are relative to the end of the header, so the data is unchanged.
fn canonical_header(bytes: Vec<u8>) -> Result<Vec<u8>> {
    use std::collections::BTreeMap;
    let internal = |e: String| LuxError::invalid_argument("save_trees", format!("re-encoding the header: {e}"));
    let short = || internal("the serialised file is shorter than its header".into());
    let n = u64::from_le_bytes(bytes.get(..8).and_then(|b| b.try_into().ok()).ok_or_else(short)?) as usize;
    let raw = bytes.get(8..8usize.saturating_add(n)).ok_or_else(short)?;
    let mut header: BTreeMap<String, serde_json::Value> =
        serde_json::from_slice(raw).map_err(|e| internal(e.to_string()))?;
    if let Some(meta) = header.get_mut("__metadata__") {
        let sorted: BTreeMap<String, String> =
            serde_json::from_value(meta.take()).map_err(|e| internal(e.to_string()))?;
        *meta = serde_json::to_value(sorted).map_err(|e| internal(e.to_string()))?;
    }
    let mut json = serde_json::to_vec(&header).map_err(|e| internal(e.to_string()))?;
    // The format pads the header with spaces to a multiple of 8 bytes.
    json.resize(json.len().next_multiple_of(8), b' ');
    let mut out = Vec::with_capacity(8 + json.len() + bytes.len() - 8 - n);
    out.extend_from_slice(&(json.len() as u64).to_le_bytes());
    out.extend_from_slice(&json);
    out.extend_from_slice(&bytes[8 + n..]);
    Ok(out)
}

static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Writes `bytes` to `path` atomically; `before_rename` runs on the synced
/// temporary file just before the rename (the test hook).
fn write_atomic(path: &Path, bytes: &[u8], before_rename: impl FnOnce(&Path) -> std::io::Result<()>) -> Result<()> {
    let file_name = path.file_name().ok_or_else(|| file_err(path, "not a file path"))?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(file_name);
    tmp_name.push(format!(".tmp-{}-{}", std::process::id(), TMP_COUNTER.fetch_add(1, Ordering::Relaxed)));
    let tmp = dir.join(tmp_name);
    let write = || -> std::io::Result<()> {
        let mut f = File::options().write(true).create_new(true).open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        before_rename(&tmp)?;
        std::fs::rename(&tmp, path)
    };
    if let Err(e) = write() {
        let _ = std::fs::remove_file(&tmp);
        return Err(file_err(path, format!("writing failed, the previous file (if any) is intact: {e}")));
    }
    #[cfg(unix)]
    File::open(&dir).and_then(|d| d.sync_all()).map_err(|e| file_err(path, format!("syncing the directory: {e}")))?;
    Ok(())
}

/// Saves named trees (and extra string metadata) to a safetensors file at
/// `path`, atomically (see the [module docs](self) for the format).
///
/// ```
/// use lux_core::{tree, Tensor};
/// use lux_train::{load_metadata, save_trees};
/// let path = std::env::temp_dir().join(format!("lux-doc-save-trees-{}.safetensors", std::process::id()));
/// let st = tree! { running_mean: Tensor::zeros(&[3], lux_core::DType::F32)?, training: true };
/// save_trees(&path, &[("st", &st)], &[("epoch", "3")])?;
/// assert_eq!(load_metadata(&path)?["epoch"], "3");
/// # std::fs::remove_file(&path)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// A tree name or a map key that is empty or contains `.` (it would make
/// tensor names ambiguous), two trees of one name, a metadata key starting
/// with `lux.`, or an I/O failure (then a previous file at `path` is
/// intact).
pub fn save_trees(path: impl AsRef<Path>, trees: &[(&str, &Tree)], metadata: &[(&str, &str)]) -> Result<()> {
    let bytes = encode(trees, metadata, &[])?;
    write_atomic(path.as_ref(), &bytes, |_| Ok(()))
}

/// Test hook: as [`save_trees`], but fails after writing and syncing the
/// temporary file, just before the rename (an interrupted save).
#[doc(hidden)]
pub fn __save_trees_interrupted(
    path: impl AsRef<Path>,
    trees: &[(&str, &Tree)],
    metadata: &[(&str, &str)],
) -> Result<()> {
    let bytes = encode(trees, metadata, &[])?;
    write_atomic(path.as_ref(), &bytes, |_| Err(std::io::Error::other("injected failure before rename")))
}

fn read_file(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| file_err(path, e))
}

/// Parses and validates the safetensors header (the crate checks the
/// header length, the JSON, and every tensor's offsets and size against
/// the file length, without panicking).
fn parse<'a>(bytes: &'a [u8], path: &Path) -> Result<SafeTensors<'a>> {
    SafeTensors::deserialize(bytes).map_err(|e| file_err(path, format!("not a valid safetensors file: {e}")))
}

fn header_metadata(bytes: &[u8], path: &Path) -> Result<HashMap<String, String>> {
    let (_, meta) =
        SafeTensors::read_metadata(bytes).map_err(|e| file_err(path, format!("not a valid safetensors file: {e}")))?;
    Ok(meta.metadata().clone().unwrap_or_default())
}

/// The `__metadata__` of a safetensors file (any file, ours or not).
///
/// ```
/// use lux_core::Tree;
/// use lux_train::{load_metadata, save_trees};
/// let path = std::env::temp_dir().join(format!("lux-doc-metadata-{}.safetensors", std::process::id()));
/// save_trees(&path, &[("ps", &Tree::new())], &[("model", "mlp")])?;
/// let meta = load_metadata(&path)?;
/// assert_eq!((meta["model"].as_str(), meta["lux.format"].as_str()), ("mlp", "lux-rs.trees"));
/// # std::fs::remove_file(&path)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// The file cannot be read or is not a valid safetensors file.
pub fn load_metadata(path: impl AsRef<Path>) -> Result<HashMap<String, String>> {
    let path = path.as_ref();
    let bytes = read_file(path)?;
    parse(&bytes, path)?;
    header_metadata(&bytes, path)
}

struct Rebuild<'a, 'b> {
    st: &'b SafeTensors<'a>,
    used: HashSet<String>,
    path: &'b Path,
}

impl Rebuild<'_, '_> {
    fn tree(&mut self, sk: Skeleton, name: &str) -> Result<Tree> {
        Ok(match sk {
            Skeleton::Map(entries) => {
                let mut out = Vec::with_capacity(entries.len());
                let mut keys = HashSet::new();
                for (k, v) in entries {
                    if k.is_empty() || k.contains('.') || !keys.insert(k.clone()) {
                        return Err(file_err(self.path, format!("`{KEY_TREES}`: bad or repeated key `{k}` at {name}")));
                    }
                    let child = self.tree(v, &join(name, &k))?;
                    out.push((k, child));
                }
                Tree::Map(out)
            }
            Skeleton::Seq(items) => Tree::Seq(
                items
                    .into_iter()
                    .enumerate()
                    .map(|(i, v)| self.tree(v, &join(name, &i.to_string())))
                    .collect::<Result<_>>()?,
            ),
            Skeleton::Tensor { dtype, shape } => {
                let view = self
                    .st
                    .tensor(name)
                    .map_err(|_| file_err(self.path, format!("missing tensor `{name}` (listed in `{KEY_TREES}`)")))?;
                let file_dtype = view.dtype();
                if lux_dtype(file_dtype) != Some(dtype) {
                    return Err(file_err(
                        self.path,
                        format!("tensor `{name}` has dtype {file_dtype:?}, `{KEY_TREES}` says {dtype}"),
                    ));
                }
                if view.shape() != shape.as_slice() {
                    return Err(file_err(
                        self.path,
                        format!("tensor `{name}` has shape {:?}, `{KEY_TREES}` says {shape:?}", view.shape()),
                    ));
                }
                self.used.insert(name.to_string());
                Tree::Tensor(tensor_from_bytes(dtype, &shape, view.data(), name, self.path)?)
            }
            Skeleton::Leaf(leaf @ (Tree::Map(_) | Tree::Seq(_) | Tree::Tensor(_))) => {
                return Err(file_err(
                    self.path,
                    format!("`{KEY_TREES}`: a {} is not a leaf, at {name}", leaf.kind_name()),
                ));
            }
            Skeleton::Leaf(leaf) => leaf,
        })
    }
}

/// Loads the trees saved by [`save_trees`], in their order, with their
/// structure, leaves, dtypes and key order as saved. The whole file is
/// validated first: on any error nothing is returned.
///
/// ```
/// use lux_core::{tree, Tensor, Tree, RngState};
/// use lux_train::{load_trees, save_trees};
/// let path = std::env::temp_dir().join(format!("lux-doc-load-trees-{}.safetensors", std::process::id()));
/// let st = tree! { rng: RngState::seed_from_u64(1), count: 2i64, none: Tree::None, empty: Tree::new() };
/// let ids = Tree::seq([Tensor::from_vec(vec![3i64, 4], &[2])?, Tensor::from_vec(vec![true], &[1])?.into()]);
/// save_trees(&path, &[("st", &st), ("ids", &ids)], &[])?;
/// assert_eq!(load_trees(&path)?, vec![("st".to_string(), st), ("ids".to_string(), ids)]);
/// std::fs::write(&path, b"not a checkpoint")?;
/// assert!(load_trees(&path).is_err());
/// # std::fs::remove_file(&path)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// The file cannot be read, is not a valid safetensors file, was not
/// written by [`save_trees`] (no `lux.trees` metadata; use
/// [`read_safetensors`]), is of another format version, or its tensors do
/// not match its `lux.trees` (a missing or extra tensor, another dtype or
/// shape, invalid bool bytes). The message names the file and the tensor.
pub fn load_trees(path: impl AsRef<Path>) -> Result<Vec<(String, Tree)>> {
    let path = path.as_ref();
    let bytes = read_file(path)?;
    let st = parse(&bytes, path)?;
    let meta = header_metadata(&bytes, path)?;
    decode(&st, &meta, path)
}

fn decode(st: &SafeTensors<'_>, meta: &HashMap<String, String>, path: &Path) -> Result<Vec<(String, Tree)>> {
    let Some(json) = meta.get(KEY_TREES) else {
        return Err(file_err(
            path,
            format!(
                "not a lux-rs checkpoint: no `{KEY_TREES}` in the metadata (read_safetensors reads any safetensors file)"
            ),
        ));
    };
    match meta.get(KEY_VERSION).map(String::as_str) {
        Some(FORMAT_VERSION) => {}
        v => {
            return Err(file_err(
                path,
                format!("unsupported `{KEY_VERSION}` {v:?}, this build reads {FORMAT_VERSION:?}"),
            ));
        }
    }
    let skeletons: Vec<(String, Skeleton)> =
        serde_json::from_str(json).map_err(|e| file_err(path, format!("`{KEY_TREES}` is not valid: {e}")))?;
    let mut rebuild = Rebuild { st, used: HashSet::new(), path };
    let mut names = HashSet::new();
    let mut out = Vec::with_capacity(skeletons.len());
    for (name, sk) in skeletons {
        if name.is_empty() || name.contains('.') || !names.insert(name.clone()) {
            return Err(file_err(path, format!("`{KEY_TREES}`: bad or repeated tree name `{name}`")));
        }
        let tree = rebuild.tree(sk, &name)?;
        out.push((name, tree));
    }
    if rebuild.used.len() != st.len() {
        let mut extra: Vec<&str> = st.names().into_iter().filter(|n| !rebuild.used.contains(*n)).collect();
        extra.sort_unstable();
        return Err(file_err(path, format!("tensors not in `{KEY_TREES}`: {}", extra.join(", "))));
    }
    Ok(out)
}

/// Reads any safetensors file (written by Python's `safetensors`, PyTorch,
/// …) into a tree of nested maps: a tensor named `a.b.c` lands at path
/// `a.b.c`; keys are in name order. Returns the `__metadata__` too.
///
/// ```
/// use lux_core::{tree, Tensor};
/// use lux_train::{read_safetensors, save_trees};
/// let path = std::env::temp_dir().join(format!("lux-doc-read-st-{}.safetensors", std::process::id()));
/// let ps = tree! { w: Tensor::from_vec(vec![1.5f64], &[1])? };
/// save_trees(&path, &[("ps", &ps)], &[])?;
/// let (tree, meta) = read_safetensors(&path)?;
/// assert_eq!(tree, tree! { ps: ps });
/// assert!(meta.contains_key("lux.trees"));
/// # std::fs::remove_file(&path)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// The file cannot be read or is not a valid safetensors file; a tensor
/// of a dtype lux-rs does not have (`I32`, `U8`, …); names that clash
/// (`a` and `a.b`) or have empty segments.
pub fn read_safetensors(path: impl AsRef<Path>) -> Result<(Tree, HashMap<String, String>)> {
    let path = path.as_ref();
    let bytes = read_file(path)?;
    let st = parse(&bytes, path)?;
    let meta = header_metadata(&bytes, path)?;
    let mut names = st.names();
    names.sort_unstable();
    let mut root = Tree::new();
    for name in names {
        let view = st.tensor(name).map_err(|e| file_err(path, e))?;
        let dtype = lux_dtype(view.dtype()).ok_or_else(|| {
            file_err(path, format!("tensor `{name}` has dtype {:?}, which lux-rs does not have", view.dtype()))
        })?;
        let t = tensor_from_bytes(dtype, view.shape(), view.data(), name, path)?;
        let segs: Vec<&str> = name.split('.').collect();
        if segs.iter().any(|s| s.is_empty()) {
            return Err(file_err(path, format!("tensor name `{name}` has an empty path segment")));
        }
        let mut cur = &mut root;
        for (i, seg) in segs.iter().enumerate() {
            let last = i + 1 == segs.len();
            let clash = || file_err(path, format!("tensor name `{name}` clashes with another tensor's path"));
            if !matches!(cur, Tree::Map(_)) {
                return Err(clash());
            }
            if last {
                if cur.contains_key(seg) {
                    return Err(clash());
                }
                cur.insert(*seg, Tree::Tensor(t.clone()))?;
            } else {
                if !cur.contains_key(seg) {
                    cur.insert(*seg, Tree::new())?;
                }
                cur = cur.get_mut(seg)?;
            }
        }
    }
    Ok((root, meta))
}

/// Saves a [`TrainState`]'s parameters (`ps`), states (`st`), optimiser
/// state (`opt`) and step to a checkpoint at `path`, atomically.
///
/// ```
/// use lux_core::{setup, tree, Layer, Result, RngState, Tensor, Tree};
/// use lux_train::{load_checkpoint, save_checkpoint, Adam, TrainState};
/// struct Scale;
/// impl Layer for Scale {
///     fn init_params(&self, _: &mut dyn lux_core::__private::rand::Rng) -> Result<Tree> {
///         Ok(tree! { w: Tensor::from_vec(vec![1.0f32, 2.0], &[2])? })
///     }
///     fn forward(&self, x: &Tree, ps: &Tree, st: &Tree) -> Result<(Tree, Tree)> {
///         Ok((x.as_tensor()?.mul(ps.tensor("w")?)?.into(), st.clone()))
///     }
/// }
/// let path = std::env::temp_dir().join(format!("lux-doc-ckpt-{}.safetensors", std::process::id()));
/// let (ps, st) = setup(&mut RngState::seed_from_u64(0), &Scale)?;
/// let ts = TrainState::new(Scale, ps, st, Adam::default())?;
/// save_checkpoint(&path, &ts)?;
/// let (ps, st) = setup(&mut RngState::seed_from_u64(0), &Scale)?;
/// let mut fresh = TrainState::new(Scale, ps, st, Adam::default())?;
/// load_checkpoint(&path, &mut fresh)?;
/// assert_eq!(fresh.parameters(), ts.parameters());
/// # std::fs::remove_file(&path)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// As [`save_trees`].
pub fn save_checkpoint<M>(path: impl AsRef<Path>, ts: &TrainState<M>) -> Result<()> {
    save_checkpoint_with_metadata(path, ts, &[])
}

/// As [`save_checkpoint`], with extra string metadata (an epoch, a
/// configuration) that [`load_metadata`] reads back.
///
/// ```
/// use lux_core::{Layer, Result, Tree};
/// use lux_train::{load_metadata, save_checkpoint_with_metadata, Descent, TrainState};
/// struct Id;
/// impl Layer for Id {
///     fn forward(&self, x: &Tree, _: &Tree, st: &Tree) -> Result<(Tree, Tree)> { Ok((x.clone(), st.clone())) }
/// }
/// let path = std::env::temp_dir().join(format!("lux-doc-ckpt-meta-{}.safetensors", std::process::id()));
/// let ts = TrainState::new(Id, Tree::new(), Tree::new(), Descent::new(0.1))?;
/// save_checkpoint_with_metadata(&path, &ts, &[("epoch", "4")])?;
/// let meta = load_metadata(&path)?;
/// assert_eq!((meta["epoch"].as_str(), meta["lux.step"].as_str()), ("4", "0"));
/// # std::fs::remove_file(&path)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// As [`save_trees`].
pub fn save_checkpoint_with_metadata<M>(
    path: impl AsRef<Path>,
    ts: &TrainState<M>,
    metadata: &[(&str, &str)],
) -> Result<()> {
    let step = ts.step().to_string();
    let opt = ts.optimizer_state();
    let frozen = serde_json::to_string(opt.frozen())
        .map_err(|e| LuxError::invalid_argument("save_checkpoint", e.to_string()))?;
    let printed = opt.rule().to_string();
    let trees = [("ps", ts.parameters()), ("st", ts.states()), ("opt", opt.tree())];
    let mut reserved = vec![
        (KEY_STEP, step),
        (KEY_SKIPPED, ts.skipped_steps().to_string()),
        (KEY_FROZEN, frozen),
        (KEY_OPTIMIZER, printed),
        (KEY_RULE, opt.rule().name().to_string()),
    ];
    if opt.rule().inner().is_empty() {
        let list: Vec<serde_json::Value> =
            opt.rule().hyperparameters().into_iter().map(|(n, h)| serde_json::json!([n, hyper_json(h)])).collect();
        reserved.push((KEY_HYPER, serde_json::Value::Array(list).to_string()));
    }
    let reserved: Vec<(&str, &str)> = reserved.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let bytes = encode(&trees, metadata, &reserved)?;
    write_atomic(path.as_ref(), &bytes, |_| Ok(()))
}

/// Checks that `got` (from the file) has the structure, leaf kinds, tensor
/// shapes and dtypes of `want` (the train state's).
fn same_layout(want: &Tree, got: &Tree, at: &str, path: &Path) -> Result<()> {
    let mismatch = |msg: String| LuxError::Structure {
        path: if at.is_empty() { lux_core::ROOT.to_string() } else { at.to_string() },
        msg: format!("{msg} (checkpoint {})", path.display()),
    };
    match (want, got) {
        (Tree::Map(a), Tree::Map(b)) => {
            let ka: Vec<&str> = a.iter().map(|(k, _)| k.as_str()).collect();
            let kb: Vec<&str> = b.iter().map(|(k, _)| k.as_str()).collect();
            if ka != kb {
                return Err(mismatch(format!("the train state has keys {ka:?}, the checkpoint {kb:?}")));
            }
            for ((k, x), (_, y)) in a.iter().zip(b) {
                same_layout(x, y, &join(at, k), path)?;
            }
        }
        (Tree::Seq(a), Tree::Seq(b)) => {
            if a.len() != b.len() {
                return Err(mismatch(format!("the train state has {} items, the checkpoint {}", a.len(), b.len())));
            }
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                same_layout(x, y, &join(at, &i.to_string()), path)?;
            }
        }
        (Tree::Tensor(a), Tree::Tensor(b)) => {
            if a.dtype() != b.dtype() || a.shape() != b.shape() {
                return Err(mismatch(format!(
                    "the train state has a {} tensor of shape {:?}, the checkpoint a {} tensor of shape {:?}",
                    a.dtype(),
                    a.shape(),
                    b.dtype(),
                    b.shape()
                )));
            }
        }
        (a, b) if a.kind_name() == b.kind_name() => {}
        (a, b) => {
            return Err(mismatch(format!(
                "the train state has a {}, the checkpoint a {}",
                a.kind_name(),
                b.kind_name()
            )));
        }
    }
    Ok(())
}

/// Loads a checkpoint written by [`save_checkpoint`] into `ts`, a train
/// state built for the same model (same parameter and state structure,
/// shapes, dtypes, and the same optimiser rule): restores the parameters,
/// states, optimiser state (including frozen paths) and step.
///
/// The rule must be of the kind the checkpoint was written with (`lux.rule`);
/// its hyper-parameters (a learning rate changed with `adjust`, say) are
/// restored from `lux.hyperparameters`. For an
/// [`OptimiserChain`](crate::OptimiserChain) the hyper-parameters are not
/// recorded: they are `ts`'s own.
///
/// ```
/// use lux_core::{setup, tree, Layer, Result, RngState, Tensor, Tree};
/// use lux_train::{load_checkpoint, save_checkpoint, Descent, TrainState};
/// struct Scale(usize);
/// impl Layer for Scale {
///     fn init_params(&self, _: &mut dyn lux_core::__private::rand::Rng) -> Result<Tree> {
///         Ok(tree! { w: Tensor::ones(&[self.0], lux_core::DType::F32)? })
///     }
///     fn forward(&self, x: &Tree, ps: &Tree, st: &Tree) -> Result<(Tree, Tree)> {
///         Ok((x.as_tensor()?.mul(ps.tensor("w")?)?.into(), st.clone()))
///     }
/// }
/// let path = std::env::temp_dir().join(format!("lux-doc-load-ckpt-{}.safetensors", std::process::id()));
/// let (ps, st) = setup(&mut RngState::seed_from_u64(0), &Scale(2))?;
/// save_checkpoint(&path, &TrainState::new(Scale(2), ps, st, Descent::new(0.1))?)?;
/// // a train state of another model: an error naming the leaf, nothing changed
/// let (ps, st) = setup(&mut RngState::seed_from_u64(0), &Scale(3))?;
/// let mut other = TrainState::new(Scale(3), ps, st, Descent::new(0.1))?;
/// let err = load_checkpoint(&path, &mut other).unwrap_err().to_string();
/// assert!(err.starts_with("structure mismatch at ps.w: the train state has a f32 tensor of shape [3], the checkpoint a f32 tensor of shape [2]"));
/// assert_eq!(other.parameters().tensor("w")?.shape(), &[3]);
/// # std::fs::remove_file(&path)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// Everything [`load_trees`] rejects; a file without the trees `ps`, `st`
/// and `opt`, or without a valid `lux.step`; a tree whose structure, leaf
/// kinds, tensor shapes or dtypes differ from `ts`'s (the error names the
/// path, e.g. `ps.layer_1.weight`). On any error `ts` is unchanged.
pub fn load_checkpoint<M>(path: impl AsRef<Path>, ts: &mut TrainState<M>) -> Result<()> {
    let path = path.as_ref();
    let bytes = read_file(path)?;
    let st = parse(&bytes, path)?;
    let meta = header_metadata(&bytes, path)?;
    let trees = decode(&st, &meta, path)?;
    let names: Vec<String> = trees.iter().map(|(n, _)| n.clone()).collect();
    let wrong =
        || file_err(path, format!("a checkpoint holds the trees [\"ps\", \"st\", \"opt\"], this file {names:?}"));
    if names != ["ps", "st", "opt"] {
        return Err(wrong());
    }
    let step: u64 = meta
        .get(KEY_STEP)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| file_err(path, format!("missing or invalid `{KEY_STEP}`: {:?}", meta.get(KEY_STEP))))?;
    // Absent in files written before the counter was saved.
    let skipped: u64 = match meta.get(KEY_SKIPPED) {
        Some(s) => s.parse().map_err(|_| file_err(path, format!("invalid `{KEY_SKIPPED}`: {s:?}")))?,
        None => 0,
    };
    let frozen: Vec<String> = match meta.get(KEY_FROZEN) {
        Some(s) => serde_json::from_str(s).map_err(|e| file_err(path, format!("invalid `{KEY_FROZEN}`: {e}")))?,
        None => Vec::new(),
    };
    let mut opt = ts.optimizer_state().clone();
    if let Some(name) = meta.get(KEY_RULE) {
        if name != opt.rule().name() {
            return Err(file_err(
                path,
                format!("the checkpoint was written with the rule {name}, the train state uses {}", opt.rule().name()),
            ));
        }
    }
    if let Some(list) = meta.get(KEY_HYPER) {
        let bad = |msg: String| file_err(path, format!("invalid `{KEY_HYPER}`: {msg}"));
        let list: Vec<(String, serde_json::Value)> = serde_json::from_str(list).map_err(|e| bad(e.to_string()))?;
        for (name, value) in list {
            let h = json_hyper(&value).ok_or_else(|| bad(format!("{name} = {value}")))?;
            opt.adjust_mut(&name, h).map_err(|e| bad(e.to_string()))?;
        }
    }
    let [(_, ps), (_, st_tree), (_, opt_tree)]: [(String, Tree); 3] = trees.try_into().map_err(|_| wrong())?;
    same_layout(ts.parameters(), &ps, "ps", path)?;
    same_layout(ts.states(), &st_tree, "st", path)?;
    same_layout(ts.optimizer_state().tree(), &opt_tree, "opt", path)?;
    *opt.tree_mut() = opt_tree;
    opt.thaw("")?;
    for f in &frozen {
        opt.freeze(f).map_err(|e| file_err(path, format!("`{KEY_FROZEN}`: {e}")))?;
    }
    ts.restore(ps, st_tree, opt, step)?;
    ts.set_skipped_steps(skipped);
    Ok(())
}
