//! [`Tree`]: the one nested container of lux-rs.
//!
//! Parameters, states, layer inputs and outputs, gradients, optimiser state
//! and statistics are all `Tree`s (Lux's `NamedTuple`s). The module is split
//! by concern: construction, conversion and lookup here; traversals in
//! `traverse.rs`; Lux's recursive operations in `recursive.rs`; the RNG leaf
//! in `rng.rs`.

pub(crate) mod algebra;
mod recursive;
mod rng;
mod traverse;

pub use rng::RngState;

use crate::Tensor;
use crate::error::{LuxError, Result};
use serde::{Deserialize, Serialize};
use std::fmt;

/// How the root of a tree is named in error messages.
pub const ROOT: &str = "<root>";

/// A nested, ordered container: Lux's parameter/state `NamedTuple`s.
///
/// Containers are [`Map`](Tree::Map) (named fields in insertion order, like a
/// Julia `NamedTuple`) and [`Seq`](Tree::Seq) (tuples and sequences). Every
/// other variant is a *leaf*. Empty containers are not leaves: they hold
/// nothing and count as zero parameters and zero states.
///
/// **Paths.** A leaf is addressed by the keys leading to it joined with `.`;
/// elements of a sequence are addressed by their index: `layer_1.weight`,
/// `layers.0.bias`. The root is the empty path, shown as `<root>` in error
/// messages. Keys should therefore not contain `.` ([`insert`](Tree::insert)
/// rejects such keys) and are unique within a map (`insert` replaces).
///
/// **Representation.** A map is a plain `Vec` of `(key, value)` pairs:
/// layer trees are small (a handful of keys per level), where a linear scan
/// beats hashing and the order Lux relies on (printing, `Chain` order,
/// flattening) comes for free. Field order is part of the structure: two maps
/// with the same keys in a different order are different structures, as two
/// `NamedTuple` types are in Julia.
///
/// **Cloning** a tree is cheap: tensors share their storage.
///
/// **Serde** uses the externally tagged form of the variants, in lower case
/// (`{"map": [["w", {"tensor": …}], ["training", {"bool": true}]]}`), which
/// keeps the key order and every leaf kind. Tensors are written as the
/// [`Tensor`] serde impl says: float elements round-trip bit-exactly and
/// NaN/±∞ survive JSON as strings (enable serde_json's `float_roundtrip`
/// feature for exact parsing); [`Float`](Tree::Float) leaves are written
/// the same way (`{"float": "NaN"}`).
///
/// ```
/// use lux_core::{tree, DType, Tensor, Tree};
/// let ps = tree! {
///     layer_1: tree! { weight: Tensor::ones(&[3, 2], DType::F32)?, bias: Tensor::zeros(&[3], DType::F32)? },
///     layer_2: Tree::new(),
/// };
/// assert_eq!(ps.tensor("layer_1.weight")?.shape(), &[3, 2]);
/// assert_eq!(ps.param_count(), 9);
/// let err = ps.at("layer_2.bias").unwrap_err();
/// assert_eq!(err.to_string(), "missing key `bias` at layer_2");
/// # Ok::<(), lux_core::LuxError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Tree {
    /// Named fields in insertion order (a Julia `NamedTuple`). Keys are unique.
    Map(Vec<(String, Tree)>),
    /// A tuple or sequence, addressed by index.
    Seq(Vec<Tree>),
    /// A tensor leaf (parameters, running statistics, activations, …).
    Tensor(Tensor),
    /// A flag leaf, e.g. `training` (Lux's `Val(true)`).
    Bool(bool),
    /// An integer leaf, e.g. a step counter.
    Int(i64),
    /// A float leaf, e.g. a scalar statistic.
    Float(#[serde(with = "crate::tensor::serde_f64")] f64),
    /// A random number generator leaf (the state of `Dropout` and friends).
    Rng(RngState),
    /// An empty leaf (Julia's `nothing`).
    None,
}

impl Default for Tree {
    /// An empty map.
    fn default() -> Self {
        Tree::new()
    }
}

/// Builds a [`Tree::Map`] from `key: value` pairs; values are anything
/// `Into<Tree>`, keys are identifiers or literals.
///
/// ```
/// use lux_core::{tree, Tree};
/// let st = tree! { training: true, count: 3i64, inner: tree! { "rate": 0.5 } };
/// assert_eq!(st.at("inner.rate")?, &Tree::Float(0.5));
/// assert_eq!(tree! {}, Tree::new());
/// # Ok::<(), lux_core::LuxError>(())
/// ```
#[macro_export]
macro_rules! tree {
    (@key $key:ident) => { ::std::string::String::from(stringify!($key)) };
    (@key $key:literal) => { ::std::string::ToString::to_string(&$key) };
    ($($key:tt : $value:expr),* $(,)?) => {
        $crate::Tree::Map(::std::vec![
            $(($crate::tree!(@key $key), ::std::convert::Into::<$crate::Tree>::into($value))),*
        ])
    };
}

// ----- construction ------------------------------------------------------------

impl Tree {
    /// An empty map (Lux's `NamedTuple()`), the parameters and states of a
    /// layer that has none.
    ///
    /// ```
    /// use lux_core::Tree;
    /// let ps = Tree::new();
    /// assert!(ps.is_empty() && !ps.is_leaf());
    /// assert_eq!(ps.param_count(), 0);
    /// ```
    #[doc(alias = "map")]
    pub fn new() -> Tree {
        Tree::Map(Vec::new())
    }

    /// A sequence of trees.
    ///
    /// ```
    /// use lux_core::Tree;
    /// let ids = Tree::seq([7i64, 8, 9]);
    /// assert_eq!(ids.len(), 3);
    /// assert_eq!(ids.get("1")?, &Tree::Int(8));
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn seq(items: impl IntoIterator<Item = impl Into<Tree>>) -> Tree {
        Tree::Seq(items.into_iter().map(Into::into).collect())
    }

    /// Inserts `value` under `key` in a map: replaces the value of an
    /// existing key in place (returning the old value), else appends.
    ///
    /// ```
    /// use lux_core::Tree;
    /// let mut st = Tree::new();
    /// assert_eq!(st.insert("step", 0i64)?, None);
    /// assert_eq!(st.insert("step", 1i64)?, Some(Tree::Int(0))); // replaced in place
    /// let err = st.insert("a.b", true).unwrap_err();
    /// assert_eq!(err.to_string(), "Tree::insert: invalid argument: key `a.b` must be non-empty and must not contain `.`");
    /// assert_eq!(st, Tree::new().with("step", 1i64)?);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// `self` is not a map ([`LuxError::Structure`]), or `key` is empty or
    /// contains `.` ([`LuxError::InvalidArgument`]).
    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<Tree>) -> Result<Option<Tree>> {
        let key = key.into();
        if key.is_empty() || key.contains('.') {
            return Err(LuxError::InvalidArgument {
                op: "Tree::insert".into(),
                msg: format!("key `{key}` must be non-empty and must not contain `.`"),
            });
        }
        let kind = self.kind_name();
        let Tree::Map(entries) = self else {
            return Err(structure(ROOT, format!("cannot insert key `{key}` into {} {kind}", article(kind))));
        };
        let value = value.into();
        match entries.iter_mut().find(|(k, _)| *k == key) {
            Some((_, v)) => Ok(Some(std::mem::replace(v, value))),
            None => {
                entries.push((key, value));
                Ok(None)
            }
        }
    }

    /// Builder form of [`insert`](Tree::insert).
    ///
    /// ```
    /// use lux_core::Tree;
    /// let st = Tree::new().with("training", true)?.with("step", 0i64)?;
    /// assert_eq!(st.get("step")?, &Tree::Int(0));
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// As [`insert`](Tree::insert).
    pub fn with(mut self, key: impl Into<String>, value: impl Into<Tree>) -> Result<Tree> {
        self.insert(key, value)?;
        Ok(self)
    }

    /// Removes `key` from a map, returning its value (`None` if absent or
    /// if `self` is not a map).
    ///
    /// ```
    /// use lux_core::{tree, Tree};
    /// let mut st = tree! { training: true, step: 3i64 };
    /// assert_eq!(st.remove("step"), Some(Tree::Int(3)));
    /// assert_eq!(st.remove("step"), None);
    /// assert_eq!(st, tree! { training: true });
    /// ```
    pub fn remove(&mut self, key: &str) -> Option<Tree> {
        let Tree::Map(entries) = self else { return None };
        let i = entries.iter().position(|(k, _)| k == key)?;
        Some(entries.remove(i).1)
    }

    // ----- inspection ------------------------------------------------------------

    /// `true` for every variant except [`Map`](Tree::Map) and [`Seq`](Tree::Seq).
    ///
    /// ```
    /// use lux_core::{tree, Tree};
    /// assert!(Tree::Int(1).is_leaf() && Tree::None.is_leaf());
    /// assert!(!tree! { a: 1i64 }.is_leaf());
    /// assert!(!Tree::Seq(vec![]).is_leaf()); // empty containers are not leaves
    /// ```
    pub fn is_leaf(&self) -> bool {
        !matches!(self, Tree::Map(_) | Tree::Seq(_))
    }

    /// The variant's name as used in error messages: `map`, `sequence`,
    /// `tensor`, `bool`, `int`, `float`, `rng` or `none`.
    ///
    /// ```
    /// use lux_core::{DType, Tensor, Tree};
    /// assert_eq!(Tree::new().kind_name(), "map");
    /// assert_eq!(Tree::seq([true]).kind_name(), "sequence");
    /// assert_eq!(Tree::from(Tensor::zeros(&[1], DType::F32)?).kind_name(), "tensor");
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn kind_name(&self) -> &'static str {
        match self {
            Tree::Map(_) => "map",
            Tree::Seq(_) => "sequence",
            Tree::Tensor(_) => "tensor",
            Tree::Bool(_) => "bool",
            Tree::Int(_) => "int",
            Tree::Float(_) => "float",
            Tree::Rng(_) => "rng",
            Tree::None => "none",
        }
    }

    /// The number of direct children (map entries or sequence items; 0 for a leaf).
    ///
    /// ```
    /// use lux_core::{tree, Tree};
    /// let ps = tree! { a: tree! { x: 1i64, y: 2i64, z: 3i64 }, b: 4i64 };
    /// assert_eq!(ps.len(), 2); // direct children only
    /// assert_eq!(ps.get("a")?.len(), 3);
    /// assert_eq!(Tree::Int(4).len(), 0);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn len(&self) -> usize {
        match self {
            Tree::Map(entries) => entries.len(),
            Tree::Seq(items) => items.len(),
            _ => 0,
        }
    }

    /// `true` if [`len`](Tree::len) is 0 (an empty container, or a leaf).
    ///
    /// ```
    /// use lux_core::{tree, Tree};
    /// assert!(Tree::new().is_empty());
    /// assert!(Tree::Bool(true).is_empty()); // a leaf has no children
    /// assert!(!tree! { a: 1i64 }.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The keys of a map in order (empty for anything else).
    ///
    /// ```
    /// use lux_core::{tree, Tree};
    /// let ps = tree! { weight: 1.0, bias: 0.0 };
    /// assert_eq!(ps.keys().collect::<Vec<_>>(), ["weight", "bias"]); // insertion order
    /// assert_eq!(Tree::seq([1i64]).keys().count(), 0);
    /// ```
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        let entries: &[(String, Tree)] = match self {
            Tree::Map(entries) => entries,
            _ => &[],
        };
        entries.iter().map(|(k, _)| k.as_str())
    }

    // ----- lookup -----------------------------------------------------------------

    /// The child under `key`: a map key, or an index into a sequence.
    ///
    /// ```
    /// use lux_core::{tree, Tree};
    /// let st = tree! { step: 3i64, ids: Tree::seq([7i64, 8]) };
    /// assert_eq!(st.get("step")?, &Tree::Int(3));
    /// assert_eq!(st.get("ids")?.get("1")?, &Tree::Int(8));
    /// assert_eq!(st.get("rng").unwrap_err().to_string(), "missing key `rng` at <root>");
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// [`LuxError::MissingKey`] if there is no such child;
    /// [`LuxError::Structure`] if `self` is a leaf.
    pub fn get(&self, key: &str) -> Result<&Tree> {
        self.child(key, "")
    }

    /// Mutable form of [`get`](Tree::get).
    ///
    /// ```
    /// use lux_core::{tree, Tree};
    /// let mut st = tree! { step: 3i64, training: true };
    /// *st.get_mut("step")? = Tree::Int(4);
    /// assert_eq!(st, tree! { step: 4i64, training: true });
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// As [`get`](Tree::get).
    pub fn get_mut(&mut self, key: &str) -> Result<&mut Tree> {
        self.child_mut(key, "")
    }

    /// `true` if [`get`](Tree::get) would succeed.
    ///
    /// ```
    /// use lux_core::{tree, Tree};
    /// let st = tree! { training: true, ids: Tree::seq([1i64]) };
    /// assert!(st.contains_key("training") && !st.contains_key("rng"));
    /// assert!(!st.contains_key("ids.0")); // a key, not a path
    /// assert!(st.get("ids")?.contains_key("0"));
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn contains_key(&self, key: &str) -> bool {
        self.get(key).is_ok()
    }

    /// The subtree at a `.`-separated path, e.g. `"layer_1.weight"` or
    /// `"layers.0.bias"`; the empty path is the tree itself.
    ///
    /// ```
    /// use lux_core::{tree, Tree};
    /// let st = tree! { layers: Tree::seq([tree! { count: 1i64 }, tree! { count: 2i64 }]) };
    /// assert_eq!(st.at("layers.1.count")?, &Tree::Int(2));
    /// assert_eq!(st.at("layers.2").unwrap_err().to_string(), "missing key `2` at layers");
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// [`LuxError::MissingKey`] naming the key and the path where it was
    /// looked for; [`LuxError::Structure`] if the path runs into a leaf;
    /// [`LuxError::InvalidArgument`] for an empty segment (`"a..b"`).
    pub fn at(&self, path: &str) -> Result<&Tree> {
        let mut cur = self;
        for (prefix, seg) in segments(path)? {
            cur = cur.child(seg, prefix)?;
        }
        Ok(cur)
    }

    /// Mutable form of [`at`](Tree::at).
    ///
    /// ```
    /// use lux_core::{tree, Tree};
    /// let mut st = tree! { layers: Tree::seq([tree! { count: 1i64 }]) };
    /// *st.at_mut("layers.0.count")? = Tree::Int(2);
    /// assert_eq!(st.at("layers.0.count")?.as_int()?, 2);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// As [`at`](Tree::at).
    pub fn at_mut(&mut self, path: &str) -> Result<&mut Tree> {
        let mut cur = self;
        for (prefix, seg) in segments(path)? {
            cur = cur.child_mut(seg, prefix)?;
        }
        Ok(cur)
    }

    /// The tensor at `path` (a single key is a path too).
    ///
    /// ```
    /// use lux_core::{tree, DType, Tensor};
    /// let ps = tree! { layer_1: tree! { bias: Tensor::zeros(&[3], DType::F32)? }, training: true };
    /// assert_eq!(ps.tensor("layer_1.bias")?.shape(), &[3]);
    /// let err = ps.tensor("training").unwrap_err();
    /// assert_eq!(err.to_string(), "structure mismatch at training: expected a tensor, found a bool");
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// As [`at`](Tree::at), or [`LuxError::Structure`] if the leaf there is
    /// not a tensor.
    pub fn tensor(&self, path: &str) -> Result<&Tensor> {
        self.at(path)?.as_tensor_at(path)
    }

    /// Mutable form of [`tensor`](Tree::tensor).
    ///
    /// ```
    /// use lux_core::{tree, DType, Tensor};
    /// let mut ps = tree! { layer_1: tree! { bias: Tensor::zeros(&[2], DType::F32)? } };
    /// *ps.tensor_mut("layer_1.bias")? = Tensor::ones(&[2], DType::F32)?;
    /// assert_eq!(ps.tensor("layer_1.bias")?.to_vec::<f32>()?, vec![1.0, 1.0]);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// As [`tensor`](Tree::tensor).
    pub fn tensor_mut(&mut self, path: &str) -> Result<&mut Tensor> {
        let node = self.at_mut(path)?;
        let kind = node.kind_name();
        match node {
            Tree::Tensor(t) => Ok(t),
            _ => Err(expected("a tensor", kind, path)),
        }
    }

    fn child(&self, seg: &str, parent: &str) -> Result<&Tree> {
        match self {
            Tree::Map(entries) => entries.iter().find(|(k, _)| k == seg).map(|(_, v)| v),
            Tree::Seq(items) => index(seg).and_then(|i| items.get(i)),
            _ => return Err(no_children(self.kind_name(), seg, parent)),
        }
        .ok_or_else(|| missing(seg, parent))
    }

    fn child_mut(&mut self, seg: &str, parent: &str) -> Result<&mut Tree> {
        let kind = self.kind_name();
        match self {
            Tree::Map(entries) => entries.iter_mut().find(|(k, _)| k == seg).map(|(_, v)| v),
            Tree::Seq(items) => index(seg).and_then(|i| items.get_mut(i)),
            _ => return Err(no_children(kind, seg, parent)),
        }
        .ok_or_else(|| missing(seg, parent))
    }

    // ----- leaf access ---------------------------------------------------------

    /// The tensor of a tensor leaf.
    ///
    /// ```
    /// use lux_core::{DType, Tensor, Tree};
    /// let leaf = Tree::from(Tensor::ones(&[2, 3], DType::F32)?);
    /// assert_eq!(leaf.as_tensor()?.len(), 6);
    /// let err = Tree::Int(1).as_tensor().unwrap_err();
    /// assert_eq!(err.to_string(), "structure mismatch at <root>: expected a tensor, found an int");
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// [`LuxError::Structure`] if `self` is not a tensor.
    pub fn as_tensor(&self) -> Result<&Tensor> {
        self.as_tensor_at("")
    }

    /// Mutable form of [`as_tensor`](Tree::as_tensor).
    ///
    /// ```
    /// use lux_core::{DType, Tensor, Tree};
    /// let mut leaf = Tree::from(Tensor::ones(&[2], DType::F32)?);
    /// let t = leaf.as_tensor_mut()?;
    /// *t = t.mul_scalar(3.0)?;
    /// assert_eq!(leaf.as_tensor()?.to_vec::<f32>()?, vec![3.0, 3.0]);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// As [`as_tensor`](Tree::as_tensor).
    pub fn as_tensor_mut(&mut self) -> Result<&mut Tensor> {
        self.tensor_mut("")
    }

    /// Unwraps a tensor leaf.
    ///
    /// ```
    /// use lux_core::{DType, Tensor, Tree};
    /// let t = Tree::from(Tensor::zeros(&[2, 3], DType::F64)?).into_tensor()?;
    /// assert_eq!((t.shape(), t.dtype()), (&[2, 3][..], DType::F64));
    /// assert!(Tree::None.into_tensor().is_err());
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// [`LuxError::Structure`] if `self` is not a tensor.
    pub fn into_tensor(self) -> Result<Tensor> {
        match self {
            Tree::Tensor(t) => Ok(t),
            other => Err(expected("a tensor", other.kind_name(), "")),
        }
    }

    fn as_tensor_at(&self, path: &str) -> Result<&Tensor> {
        match self {
            Tree::Tensor(t) => Ok(t),
            other => Err(expected("a tensor", other.kind_name(), path)),
        }
    }

    /// The value of a [`Bool`](Tree::Bool) leaf.
    ///
    /// ```
    /// use lux_core::tree;
    /// let st = tree! { training: true, step: 0i64 };
    /// assert!(st.get("training")?.as_bool()?);
    /// assert!(st.get("step")?.as_bool().is_err()); // no conversion between leaf kinds
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// [`LuxError::Structure`] for any other variant.
    pub fn as_bool(&self) -> Result<bool> {
        match self {
            Tree::Bool(b) => Ok(*b),
            other => Err(expected("a bool", other.kind_name(), "")),
        }
    }

    /// The value of an [`Int`](Tree::Int) leaf.
    ///
    /// ```
    /// use lux_core::Tree;
    /// assert_eq!(Tree::from(-3i32).as_int()?, -3);
    /// let err = Tree::Float(3.0).as_int().unwrap_err(); // no conversion between leaf kinds
    /// assert_eq!(err.to_string(), "structure mismatch at <root>: expected an int, found a float");
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// [`LuxError::Structure`] for any other variant.
    pub fn as_int(&self) -> Result<i64> {
        match self {
            Tree::Int(i) => Ok(*i),
            other => Err(expected("an int", other.kind_name(), "")),
        }
    }

    /// The value of a [`Float`](Tree::Float) leaf.
    ///
    /// ```
    /// use lux_core::Tree;
    /// assert_eq!(Tree::from(0.5f32).as_float()?, 0.5);
    /// assert!(Tree::Int(1).as_float().is_err()); // no conversion between leaf kinds
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// [`LuxError::Structure`] for any other variant.
    pub fn as_float(&self) -> Result<f64> {
        match self {
            Tree::Float(x) => Ok(*x),
            other => Err(expected("a float", other.kind_name(), "")),
        }
    }

    /// The generator of an [`Rng`](Tree::Rng) leaf, to look at or clone it.
    ///
    /// ```
    /// use lux_core::{tree, RngState};
    /// let st = tree! { rng: RngState::seed_from_u64(1), training: true };
    /// assert_eq!(st.get("rng")?.as_rng()?, &RngState::seed_from_u64(1));
    /// assert!(st.get("training")?.as_rng().is_err());
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// [`LuxError::Structure`] for any other variant.
    pub fn as_rng(&self) -> Result<&RngState> {
        match self {
            Tree::Rng(r) => Ok(r),
            other => Err(expected("an rng", other.kind_name(), "")),
        }
    }

    /// The generator of an [`Rng`](Tree::Rng) leaf, to draw from it in place.
    ///
    /// ```
    /// use lux_core::{tree, RngState};
    /// use rand::RngExt;
    /// let mut st = tree! { rng: RngState::seed_from_u64(7) };
    /// let x: f64 = st.get_mut("rng")?.as_rng_mut()?.random();
    /// assert_eq!(x, RngState::seed_from_u64(7).random::<f64>());
    /// assert_ne!(st.get("rng")?.as_rng()?, &RngState::seed_from_u64(7)); // advanced in place
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// [`LuxError::Structure`] for any other variant.
    pub fn as_rng_mut(&mut self) -> Result<&mut RngState> {
        let kind = self.kind_name();
        match self {
            Tree::Rng(r) => Ok(r),
            _ => Err(expected("an rng", kind, "")),
        }
    }

    /// The entries of a map.
    ///
    /// ```
    /// use lux_core::{tree, Tree};
    /// let st = tree! { a: 1i64, b: true };
    /// assert_eq!(st.as_map()?[1], ("b".to_string(), Tree::Bool(true)));
    /// assert!(Tree::seq([1i64]).as_map().is_err());
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// [`LuxError::Structure`] if `self` is not a map.
    pub fn as_map(&self) -> Result<&[(String, Tree)]> {
        match self {
            Tree::Map(entries) => Ok(entries),
            other => Err(expected("a map", other.kind_name(), "")),
        }
    }

    /// The items of a sequence.
    ///
    /// ```
    /// use lux_core::Tree;
    /// let ids = Tree::seq([1i64, 2]);
    /// assert_eq!(ids.as_seq()?, &[Tree::Int(1), Tree::Int(2)]);
    /// assert!(Tree::new().as_seq().is_err()); // a map, even an empty one, is not a sequence
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// [`LuxError::Structure`] if `self` is not a sequence.
    pub fn as_seq(&self) -> Result<&[Tree]> {
        match self {
            Tree::Seq(items) => Ok(items),
            other => Err(expected("a sequence", other.kind_name(), "")),
        }
    }
}

// ----- helpers shared by the tree modules -------------------------------------------

/// The path as shown in messages: `<root>` for the empty path.
pub(crate) fn shown(path: &str) -> &str {
    if path.is_empty() { ROOT } else { path }
}

/// `path.seg`, or `seg` at the root.
pub(crate) fn join(path: &str, seg: &str) -> String {
    if path.is_empty() { seg.to_string() } else { format!("{path}.{seg}") }
}

pub(crate) fn structure(path: &str, msg: impl Into<String>) -> LuxError {
    LuxError::Structure { path: shown(path).to_string(), msg: msg.into() }
}

fn missing(key: &str, parent: &str) -> LuxError {
    LuxError::MissingKey { key: key.to_string(), path: shown(parent).to_string() }
}

fn no_children(kind: &str, seg: &str, parent: &str) -> LuxError {
    structure(parent, format!("cannot look up `{seg}` in {} {kind} leaf", article(kind)))
}

fn expected(what: &str, found: &str, path: &str) -> LuxError {
    structure(path, format!("expected {what}, found {} {found}", article(found)))
}

/// The indefinite article for a [`kind_name`](Tree::kind_name): `an int`, `a map`.
pub(crate) fn article(kind: &str) -> &'static str {
    if matches!(kind, "int" | "rng") { "an" } else { "a" }
}

/// A sequence index in canonical form (`0`, `12`; not `+1` or `01`).
fn index(seg: &str) -> Option<usize> {
    let canonical = seg.bytes().all(|b| b.is_ascii_digit()) && (seg == "0" || !seg.starts_with('0'));
    if canonical { seg.parse().ok() } else { None }
}

/// Splits a path into `(prefix before the segment, segment)` pairs.
fn segments(path: &str) -> Result<Vec<(&str, &str)>> {
    if path.is_empty() {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    let mut start = 0;
    for seg in path.split('.') {
        if seg.is_empty() {
            return Err(LuxError::InvalidArgument {
                op: "Tree::at".into(),
                msg: format!("path `{path}` has an empty segment"),
            });
        }
        let prefix = if start == 0 { "" } else { &path[..start - 1] };
        out.push((prefix, seg));
        start += seg.len() + 1;
    }
    Ok(out)
}

// ----- conversions --------------------------------------------------------------

impl From<Tensor> for Tree {
    fn from(t: Tensor) -> Self {
        Tree::Tensor(t)
    }
}

impl From<&Tensor> for Tree {
    fn from(t: &Tensor) -> Self {
        Tree::Tensor(t.clone())
    }
}

impl From<RngState> for Tree {
    fn from(r: RngState) -> Self {
        Tree::Rng(r)
    }
}

macro_rules! from_scalar {
    ($($t:ty => $variant:ident as $conv:ty),* $(,)?) => {$(
        impl From<$t> for Tree {
            fn from(x: $t) -> Self {
                Tree::$variant(<$conv>::from(x))
            }
        }
    )*};
}
from_scalar!(bool => Bool as bool, i64 => Int as i64, i32 => Int as i64, u32 => Int as i64, f64 => Float as f64, f32 => Float as f64);

impl From<()> for Tree {
    /// `()` is the empty leaf [`Tree::None`].
    fn from(_: ()) -> Self {
        Tree::None
    }
}

impl<T: Into<Tree>> From<Option<T>> for Tree {
    /// `None` becomes [`Tree::None`].
    fn from(x: Option<T>) -> Self {
        x.map_or(Tree::None, Into::into)
    }
}

impl<T: Into<Tree>> From<Vec<T>> for Tree {
    /// A vector becomes a [`Seq`](Tree::Seq).
    fn from(items: Vec<T>) -> Self {
        Tree::seq(items)
    }
}

impl<A: Into<Tree>, B: Into<Tree>> From<(A, B)> for Tree {
    /// A pair becomes a two-element [`Seq`](Tree::Seq).
    fn from((a, b): (A, B)) -> Self {
        Tree::Seq(vec![a.into(), b.into()])
    }
}

impl<A: Into<Tree>, B: Into<Tree>, C: Into<Tree>> From<(A, B, C)> for Tree {
    /// A triple becomes a three-element [`Seq`](Tree::Seq).
    fn from((a, b, c): (A, B, C)) -> Self {
        Tree::Seq(vec![a.into(), b.into(), c.into()])
    }
}

impl TryFrom<Tree> for Tensor {
    type Error = LuxError;
    fn try_from(t: Tree) -> Result<Tensor> {
        t.into_tensor()
    }
}

impl<'a> TryFrom<&'a Tree> for &'a Tensor {
    type Error = LuxError;
    fn try_from(t: &'a Tree) -> Result<&'a Tensor> {
        t.as_tensor()
    }
}

macro_rules! try_from_leaf {
    ($($t:ty => $method:ident),* $(,)?) => {$(
        impl TryFrom<Tree> for $t {
            type Error = LuxError;
            fn try_from(t: Tree) -> Result<$t> {
                t.$method()
            }
        }
    )*};
}
try_from_leaf!(bool => as_bool, i64 => as_int, f64 => as_float);

// ----- display ------------------------------------------------------------------

/// Tensor leaves with at most this many elements show their values in `Display`.
const SMALL_LEAF: usize = 8;

impl fmt::Display for Tree {
    /// A compact one-line summary with tensors shown as `dtype[shape]`,
    /// followed by their values when they have at most 8 elements:
    /// `{weight: f32[3, 4], bias: f32[3] [0.0, 0.0, 0.0]}`.
    ///
    /// ```
    /// use lux_core::{tree, DType, Tensor, Tree};
    /// let st = tree! {
    ///     w: Tensor::zeros(&[3, 4], DType::F32)?,
    ///     b: Tensor::from_vec(vec![0.5f32, -1.0], &[2])?,
    ///     training: true,
    ///     ids: Tree::seq([1i64, 2]),
    ///     e: Tree::new(),
    /// };
    /// assert_eq!(st.to_string(), "{w: f32[3, 4], b: f32[2] [0.5, -1.0], training: true, ids: (1, 2), e: {}}");
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Tree::Map(entries) => {
                f.write_str("{")?;
                for (i, (k, v)) in entries.iter().enumerate() {
                    write!(f, "{}{k}: {v}", if i > 0 { ", " } else { "" })?;
                }
                f.write_str("}")
            }
            Tree::Seq(items) => {
                f.write_str("(")?;
                for (i, v) in items.iter().enumerate() {
                    write!(f, "{}{v}", if i > 0 { ", " } else { "" })?;
                }
                f.write_str(")")
            }
            Tree::Tensor(t) => {
                write!(f, "{}{:?}", t.dtype(), t.shape())?;
                if t.len() <= SMALL_LEAF {
                    f.write_str(" ")?;
                    t.write_values(f)?;
                }
                Ok(())
            }
            Tree::Bool(b) => write!(f, "{b}"),
            Tree::Int(i) => write!(f, "{i}"),
            Tree::Float(x) => write!(f, "{x:?}"),
            Tree::Rng(_) => f.write_str("rng"),
            Tree::None => f.write_str("none"),
        }
    }
}
