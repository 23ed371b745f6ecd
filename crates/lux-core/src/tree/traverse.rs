//! Traversals: the one general mechanism (visit / map / zip over leaves with
//! their paths) and everything built directly on it.
//!
//! Every walker goes depth-first in insertion order and passes each leaf's
//! path (`layer_1.weight`, `layers.0.bias`; the root is `""`). Empty
//! containers are not leaves: they are kept as they are.

use super::{Tree, article, join, structure};
use crate::error::{LuxError, Result};
use crate::{DType, Tensor};
use std::convert::Infallible;

/// Appends `seg` to the path buffer and returns the length to truncate back to.
fn push(path: &mut String, seg: &str) -> usize {
    let len = path.len();
    if len > 0 {
        path.push('.');
    }
    path.push_str(seg);
    len
}

/// [`push`] for a sequence index, written in place (no string per index).
fn push_index(path: &mut String, i: usize) -> usize {
    use std::fmt::Write;
    let len = path.len();
    if len > 0 {
        path.push('.');
    }
    write!(path, "{i}").expect("writing to a String cannot fail");
    len
}

/// A path buffer for one traversal, long enough for most paths, so it
/// grows once rather than at every level.
fn path_buffer() -> String {
    String::with_capacity(64)
}

/// Checks that two nodes have the same container shape at this level:
/// both maps with the same keys in the same order, both sequences of the
/// same length, or both leaves (leaf kinds are the caller's business).
pub(crate) fn check_node(a: &Tree, b: &Tree, path: &str) -> Result<()> {
    match (a, b) {
        (Tree::Map(x), Tree::Map(y)) => {
            if x.len() != y.len() || x.iter().zip(y).any(|((p, _), (q, _))| p != q) {
                let keys = |m: &[(String, Tree)]| m.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>().join(", ");
                return Err(structure(path, format!("keys differ: [{}] vs [{}]", keys(x), keys(y))));
            }
            Ok(())
        }
        (Tree::Seq(x), Tree::Seq(y)) if x.len() != y.len() => {
            Err(structure(path, format!("sequence of length {} vs sequence of length {}", x.len(), y.len())))
        }
        (Tree::Seq(_), Tree::Seq(_)) => Ok(()),
        _ if a.is_leaf() && b.is_leaf() => Ok(()),
        _ => Err(structure(path, format!("{} vs {}", a_kind(a), a_kind(b)))),
    }
}

/// Two leaves of the same variant (the rule of [`Tree::zip_map`] for leaves
/// that are not tensors).
fn same_leaf_kind(a: &Tree, b: &Tree, path: &str) -> Result<()> {
    if std::mem::discriminant(a) == std::mem::discriminant(b) {
        Ok(())
    } else {
        Err(structure(path, format!("{} leaf vs {} leaf", a_kind(a), a_kind(b))))
    }
}

fn infallible<T>(r: Result<T, Infallible>) -> T {
    match r {
        Ok(t) => t,
        Err(never) => match never {},
    }
}

impl Tree {
    // ----- the general walkers ---------------------------------------------------

    fn walk<'a, E>(&'a self, path: &mut String, f: &mut dyn FnMut(&str, &'a Tree) -> Result<(), E>) -> Result<(), E> {
        match self {
            Tree::Map(entries) => {
                for (k, v) in entries {
                    let len = push(path, k);
                    v.walk(path, f)?;
                    path.truncate(len);
                }
            }
            Tree::Seq(items) => {
                for (i, v) in items.iter().enumerate() {
                    let len = push_index(path, i);
                    v.walk(path, f)?;
                    path.truncate(len);
                }
            }
            leaf => f(path, leaf)?,
        }
        Ok(())
    }

    fn walk_mut<E>(&mut self, path: &mut String, f: &mut dyn FnMut(&str, &mut Tree) -> Result<(), E>) -> Result<(), E> {
        match self {
            Tree::Map(entries) => {
                for (k, v) in entries {
                    let len = push(path, k);
                    v.walk_mut(path, f)?;
                    path.truncate(len);
                }
            }
            Tree::Seq(items) => {
                for (i, v) in items.iter_mut().enumerate() {
                    let len = push_index(path, i);
                    v.walk_mut(path, f)?;
                    path.truncate(len);
                }
            }
            leaf => f(path, leaf)?,
        }
        Ok(())
    }

    fn rebuild<E>(&self, path: &mut String, f: &mut dyn FnMut(&str, &Tree) -> Result<Tree, E>) -> Result<Tree, E> {
        Ok(match self {
            Tree::Map(entries) => {
                let mut out = Vec::with_capacity(entries.len());
                for (k, v) in entries {
                    let len = push(path, k);
                    out.push((k.clone(), v.rebuild(path, f)?));
                    path.truncate(len);
                }
                Tree::Map(out)
            }
            Tree::Seq(items) => {
                let mut out = Vec::with_capacity(items.len());
                for (i, v) in items.iter().enumerate() {
                    let len = push_index(path, i);
                    out.push(v.rebuild(path, f)?);
                    path.truncate(len);
                }
                Tree::Seq(out)
            }
            leaf => f(path, leaf)?,
        })
    }

    fn zip_walk(
        &self,
        other: &Tree,
        path: &mut String,
        f: &mut dyn FnMut(&str, &Tree, &Tree) -> Result<()>,
    ) -> Result<()> {
        check_node(self, other, path)?;
        match (self, other) {
            (Tree::Map(x), Tree::Map(y)) => {
                for ((k, a), (_, b)) in x.iter().zip(y) {
                    let len = push(path, k);
                    a.zip_walk(b, path, f)?;
                    path.truncate(len);
                }
            }
            (Tree::Seq(x), Tree::Seq(y)) => {
                for (i, (a, b)) in x.iter().zip(y).enumerate() {
                    let len = push_index(path, i);
                    a.zip_walk(b, path, f)?;
                    path.truncate(len);
                }
            }
            (a, b) => f(path, a, b)?,
        }
        Ok(())
    }

    fn zip_walk_mut(
        &mut self,
        other: &Tree,
        path: &mut String,
        f: &mut dyn FnMut(&str, &mut Tree, &Tree) -> Result<()>,
    ) -> Result<()> {
        check_node(self, other, path)?;
        match (self, other) {
            (Tree::Map(x), Tree::Map(y)) => {
                for ((k, a), (_, b)) in x.iter_mut().zip(y) {
                    let len = push(path, k);
                    a.zip_walk_mut(b, path, f)?;
                    path.truncate(len);
                }
            }
            (Tree::Seq(x), Tree::Seq(y)) => {
                for (i, (a, b)) in x.iter_mut().zip(y).enumerate() {
                    let len = push_index(path, i);
                    a.zip_walk_mut(b, path, f)?;
                    path.truncate(len);
                }
            }
            (a, b) => f(path, a, b)?,
        }
        Ok(())
    }

    fn zip_rebuild(
        &self,
        other: &Tree,
        path: &mut String,
        f: &mut dyn FnMut(&str, &Tree, &Tree) -> Result<Tree>,
    ) -> Result<Tree> {
        check_node(self, other, path)?;
        Ok(match (self, other) {
            (Tree::Map(x), Tree::Map(y)) => {
                let mut out = Vec::with_capacity(x.len());
                for ((k, a), (_, b)) in x.iter().zip(y) {
                    let len = push(path, k);
                    out.push((k.clone(), a.zip_rebuild(b, path, f)?));
                    path.truncate(len);
                }
                Tree::Map(out)
            }
            (Tree::Seq(x), Tree::Seq(y)) => {
                let mut out = Vec::with_capacity(x.len());
                for (i, (a, b)) in x.iter().zip(y).enumerate() {
                    let len = push_index(path, i);
                    out.push(a.zip_rebuild(b, path, f)?);
                    path.truncate(len);
                }
                Tree::Seq(out)
            }
            (a, b) => f(path, a, b)?,
        })
    }

    /// Runs `f` on two trees' leaf pairs after checking their structure,
    /// without changing anything: the validation pass of in-place operations.
    pub(crate) fn zip_check(&self, other: &Tree, mut f: impl FnMut(&str, &Tree, &Tree) -> Result<()>) -> Result<()> {
        self.zip_walk(other, &mut path_buffer(), &mut f)
    }

    /// Runs `f` on `self`'s leaves (mutably) paired with `other`'s.
    pub(crate) fn zip_apply(
        &mut self,
        other: &Tree,
        mut f: impl FnMut(&str, &mut Tree, &Tree) -> Result<()>,
    ) -> Result<()> {
        self.zip_walk_mut(other, &mut path_buffer(), &mut f)
    }

    // ----- public: leaves --------------------------------------------------------

    /// Calls `f(path, leaf)` on every leaf, depth-first in order.
    ///
    /// ```
    /// use lux_core::{tree, Tree};
    /// let st = tree! { a: tree! { training: true }, b: Tree::seq([1i64, 2]) };
    /// let mut paths = Vec::new();
    /// st.visit(|path, _leaf| paths.push(path.to_string()));
    /// assert_eq!(paths, ["a.training", "b.0", "b.1"]);
    /// ```
    pub fn visit(&self, mut f: impl FnMut(&str, &Tree)) {
        infallible(self.walk(&mut path_buffer(), &mut |p, t| {
            f(p, t);
            Ok::<(), Infallible>(())
        }))
    }

    /// Calls `f(path, leaf)` on every leaf, with mutable access.
    ///
    /// ```
    /// use lux_core::{tree, Tree};
    /// let mut st = tree! { a: 1i64, b: tree! { c: 2i64, training: true } };
    /// st.visit_mut(|_path, leaf| if let Tree::Int(i) = leaf { *i *= 10 });
    /// assert_eq!(st, tree! { a: 10i64, b: tree! { c: 20i64, training: true } });
    /// ```
    pub fn visit_mut(&mut self, mut f: impl FnMut(&str, &mut Tree)) {
        infallible(self.walk_mut(&mut path_buffer(), &mut |p, t| {
            f(p, t);
            Ok::<(), Infallible>(())
        }))
    }

    /// Like [`visit`](Tree::visit), stopping at the first error.
    ///
    /// ```
    /// use lux_core::tree;
    /// let st = tree! { a: 1i64, b: true, c: 2i64 };
    /// let mut seen = Vec::new();
    /// let r = st.try_visit(|path, leaf| {
    ///     seen.push(path.to_string());
    ///     leaf.as_int().map(|_| ())
    /// });
    /// assert!(r.is_err());
    /// assert_eq!(seen, ["a", "b"]); // stopped at the first error
    /// ```
    ///
    /// # Errors
    /// The first error `f` returns.
    pub fn try_visit(&self, mut f: impl FnMut(&str, &Tree) -> Result<()>) -> Result<()> {
        self.walk(&mut path_buffer(), &mut f)
    }

    /// Every leaf with its path, in order (Functors' `fleaves`).
    ///
    /// ```
    /// use lux_core::{tree, Tree};
    /// let st = tree! { b: Tree::seq([1i64, 2]), a: true };
    /// let leaves = st.leaves();
    /// assert_eq!(leaves.iter().map(|(p, _)| p.as_str()).collect::<Vec<_>>(), ["b.0", "b.1", "a"]);
    /// assert_eq!(leaves[1].1, &Tree::Int(2));
    /// ```
    pub fn leaves(&self) -> Vec<(String, &Tree)> {
        let mut out = Vec::new();
        infallible(self.walk(&mut path_buffer(), &mut |p, t| {
            out.push((p.to_string(), t));
            Ok::<(), Infallible>(())
        }));
        out
    }

    /// Every leaf with its path, mutably.
    ///
    /// ```
    /// use lux_core::{tree, Tree};
    /// let mut st = tree! { a: 1i64, b: Tree::seq([2i64, 3]) };
    /// for (path, leaf) in st.leaves_mut() {
    ///     if path == "b.0" {
    ///         *leaf = Tree::None;
    ///     }
    /// }
    /// assert_eq!(st, tree! { a: 1i64, b: Tree::seq([Tree::None, Tree::Int(3)]) });
    /// ```
    pub fn leaves_mut(&mut self) -> Vec<(String, &mut Tree)> {
        fn go<'a>(t: &'a mut Tree, path: String, out: &mut Vec<(String, &'a mut Tree)>) {
            match t {
                Tree::Map(entries) => entries.iter_mut().for_each(|(k, v)| go(v, join(&path, k), out)),
                Tree::Seq(items) => {
                    items.iter_mut().enumerate().for_each(|(i, v)| go(v, join(&path, &i.to_string()), out))
                }
                leaf => out.push((path, leaf)),
            }
        }
        let mut out = Vec::new();
        go(self, String::new(), &mut out);
        out
    }

    /// Every tensor leaf with its path, in order.
    ///
    /// ```
    /// use lux_core::{tree, DType, Tensor};
    /// let ps = tree! { w: Tensor::zeros(&[2], DType::F32)?, training: true };
    /// let names: Vec<String> = ps.tensors().into_iter().map(|(path, _)| path).collect();
    /// assert_eq!(names, ["w"]);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn tensors(&self) -> Vec<(String, &Tensor)> {
        self.leaves()
            .into_iter()
            .filter_map(|(p, t)| if let Tree::Tensor(x) = t { Some((p, x)) } else { None })
            .collect()
    }

    /// Every tensor leaf with its path, mutably.
    ///
    /// ```
    /// use lux_core::{tree, DType, Tensor};
    /// let mut ps = tree! { w: Tensor::ones(&[2], DType::F32)?, training: true, b: Tensor::ones(&[1], DType::F32)? };
    /// for (_path, t) in ps.tensors_mut() {
    ///     *t = t.mul_scalar(2.0)?;
    /// }
    /// assert_eq!(ps.tensor("w")?.to_vec::<f32>()?, vec![2.0, 2.0]);
    /// assert_eq!(ps.tensor("b")?.to_vec::<f32>()?, vec![2.0]);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn tensors_mut(&mut self) -> Vec<(String, &mut Tensor)> {
        self.leaves_mut()
            .into_iter()
            .filter_map(|(p, t)| if let Tree::Tensor(x) = t { Some((p, x)) } else { None })
            .collect()
    }

    // ----- public: maps ------------------------------------------------------------

    /// Rebuilds the tree with every leaf replaced by `f(path, leaf)`: the
    /// general form of [`map`](Tree::map) that also sees non-tensor leaves
    /// and may change a leaf's kind.
    ///
    /// ```
    /// use lux_core::{tree, Tree};
    /// let st = tree! { step: 3i64, training: true };
    /// let out = st.try_map_leaves(|_path, leaf| match leaf {
    ///     Tree::Int(i) => Ok(Tree::Float(*i as f64 + 0.5)), // a leaf may change kind
    ///     other => Ok(other.clone()),
    /// })?;
    /// assert_eq!(out, tree! { step: 3.5, training: true });
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// The first error `f` returns.
    pub fn try_map_leaves(&self, mut f: impl FnMut(&str, &Tree) -> Result<Tree>) -> Result<Tree> {
        self.rebuild(&mut path_buffer(), &mut f)
    }

    /// Zips two trees of the same structure, rebuilding with
    /// `f(path, left_leaf, right_leaf)` at each leaf pair. Only containers
    /// are checked here (same keys in the same order, same lengths, leaf
    /// against leaf); the leaf kinds are `f`'s business.
    ///
    /// ```
    /// use lux_core::{tree, Tree};
    /// let a = tree! { n: 1i64, training: true };
    /// let b = tree! { n: 2.5, training: false };
    /// let c = a.try_zip_map_leaves(&b, |_path, x, y| Ok(Tree::seq([x.clone(), y.clone()])))?;
    /// assert_eq!(c.at("n")?, &Tree::seq([Tree::Int(1), Tree::Float(2.5)])); // leaf kinds may differ
    /// let err = a.try_zip_map_leaves(&tree! { n: 1i64 }, |_, x, _| Ok(x.clone())).unwrap_err();
    /// assert_eq!(err.to_string(), "structure mismatch at <root>: keys differ: [n, training] vs [n]");
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// [`LuxError::Structure`] naming the first path where the containers
    /// differ, or the first error `f` returns.
    pub fn try_zip_map_leaves(
        &self,
        other: &Tree,
        mut f: impl FnMut(&str, &Tree, &Tree) -> Result<Tree>,
    ) -> Result<Tree> {
        self.zip_rebuild(other, &mut path_buffer(), &mut f)
    }

    /// Applies `f(path, tensor)` to every tensor leaf; every other leaf is
    /// kept as is. Lux's `fmap` / `recursive_map`.
    ///
    /// ```
    /// use lux_core::{tree, DType, Tensor};
    /// let ps = tree! { w: Tensor::ones(&[2], DType::F32)?, training: true };
    /// let ps64 = ps.map(|_path, t| t.to_dtype(DType::F64).unwrap_or_else(|_| t.clone()));
    /// assert_eq!(ps64.tensor("w")?.dtype(), DType::F64);
    /// assert_eq!(ps64.get("training")?, ps.get("training")?);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn map(&self, mut f: impl FnMut(&str, &Tensor) -> Tensor) -> Tree {
        infallible(self.rebuild(&mut path_buffer(), &mut |p, leaf| {
            Ok::<Tree, Infallible>(match leaf {
                Tree::Tensor(t) => Tree::Tensor(f(p, t)),
                other => other.clone(),
            })
        }))
    }

    /// Like [`map`](Tree::map) with a fallible `f`.
    ///
    /// ```
    /// use lux_core::{tree, DType, Tensor};
    /// let ps = tree! { w: Tensor::ones(&[2], DType::F32)? };
    /// let doubled = ps.try_map(|_path, t| t.mul_scalar(2.0))?;
    /// assert_eq!(doubled.tensor("w")?.to_vec::<f32>()?, vec![2.0, 2.0]);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// The first error `f` returns.
    pub fn try_map(&self, mut f: impl FnMut(&str, &Tensor) -> Result<Tensor>) -> Result<Tree> {
        self.try_map_leaves(|p, leaf| match leaf {
            Tree::Tensor(t) => f(p, t).map(Tree::Tensor),
            other => Ok(other.clone()),
        })
    }

    /// Lux's `recursive_map(f, x)`: the same as [`map`](Tree::map).
    ///
    /// ```
    /// use lux_core::{tree, DType, Tensor};
    /// let ps = tree! { w: Tensor::ones(&[2], DType::F32)?, training: true };
    /// let zs = ps.recursive_map(|_path, t| t.zeros_like());
    /// assert_eq!(zs, tree! { w: Tensor::zeros(&[2], DType::F32)?, training: true });
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn recursive_map(&self, f: impl FnMut(&str, &Tensor) -> Tensor) -> Tree {
        self.map(f)
    }

    /// Combines two trees of the same structure tensor by tensor (Lux's
    /// multi-tree `fmap`): `f(path, left, right)` at each pair of tensor
    /// leaves. Any other pair of leaves must be of the same variant (both
    /// `Bool`, both `Int`, …) and the **left** one is kept: the tensors are
    /// what is being combined; flags, counters and RNGs ride along.
    ///
    /// ```
    /// use lux_core::{tree, DType, Tensor};
    /// let ps = tree! { w: Tensor::ones(&[2], DType::F32)? };
    /// let grads = tree! { w: Tensor::full(&[2], 0.5, DType::F32)? };
    /// let updated = ps.zip_map(&grads, |_path, p, g| p.sub(&g.mul_scalar(0.1)?))?;
    /// assert_eq!(updated.tensor("w")?.to_vec::<f32>()?, vec![0.95, 0.95]);
    /// let err = ps.zip_map(&tree! { v: grads.tensor("w")?.clone() }, |_, p, _| Ok(p.clone())).unwrap_err();
    /// assert_eq!(err.to_string(), "structure mismatch at <root>: keys differ: [w] vs [v]");
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// [`LuxError::Structure`] naming the first path where the trees differ
    /// (keys, lengths, a container against a leaf, or leaves of different
    /// kinds), or the first error `f` returns.
    pub fn zip_map(&self, other: &Tree, mut f: impl FnMut(&str, &Tensor, &Tensor) -> Result<Tensor>) -> Result<Tree> {
        self.try_zip_map_leaves(other, |p, a, b| match (a, b) {
            (Tree::Tensor(x), Tree::Tensor(y)) => f(p, x, y).map(Tree::Tensor),
            _ => same_leaf_kind(a, b, p).map(|()| a.clone()),
        })
    }

    /// `true` if the trees have the same containers (keys in the same order,
    /// sequence lengths) and leaves of the same kinds at the same paths.
    /// Tensor shapes and dtypes and leaf values are not compared.
    ///
    /// ```
    /// use lux_core::{tree, DType, Tensor};
    /// let a = tree! { w: Tensor::zeros(&[2], DType::F32)?, training: true };
    /// let b = tree! { w: Tensor::ones(&[5], DType::F64)?, training: false };
    /// assert!(a.same_structure(&b)); // shapes, dtypes and values are not compared
    /// assert!(!a.same_structure(&tree! { training: true, w: Tensor::zeros(&[2], DType::F32)? })); // key order is
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn same_structure(&self, other: &Tree) -> bool {
        self.structure_check(other).is_ok()
    }

    /// Like [`same_structure`](Tree::same_structure), saying where and how
    /// the trees differ.
    ///
    /// ```
    /// use lux_core::{tree, Tree};
    /// let a = tree! { layers: Tree::seq([tree! { n: 1i64 }]) };
    /// let b = tree! { layers: Tree::seq([tree! { n: true }]) };
    /// let err = a.structure_check(&b).unwrap_err();
    /// assert_eq!(err.to_string(), "structure mismatch at layers.0.n: an int leaf vs a bool leaf");
    /// ```
    ///
    /// # Errors
    /// [`LuxError::Structure`] naming the first differing path.
    pub fn structure_check(&self, other: &Tree) -> Result<()> {
        self.zip_check(other, |p, a, b| same_leaf_kind(a, b, p))
    }

    // ----- public: counts and dtypes ------------------------------------------------

    /// The total number of tensor elements (Lux's `parameterlength`).
    /// Non-tensor leaves count 0.
    ///
    /// ```
    /// use lux_core::{tree, DType, Tensor, Tree};
    /// let ps = tree! { weight: Tensor::zeros(&[3, 2], DType::F32)?, bias: Tensor::zeros(&[3], DType::F32)? };
    /// assert_eq!(ps.param_count(), 9); // Lux's Dense(2 => 3)
    /// assert_eq!(tree! { step: 1i64, training: true, e: Tree::new() }.param_count(), 0);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn param_count(&self) -> usize {
        let mut n = 0;
        self.visit(|_, leaf| {
            if let Tree::Tensor(t) = leaf {
                n += t.len();
            }
        });
        n
    }

    /// Lux's `statelength`: tensors count their elements, every other leaf
    /// (flags, numbers, RNGs, `None`) counts 1, empty containers 0.
    ///
    /// ```
    /// use lux_core::{tree, DType, Tensor};
    /// let st = tree! { running_mean: Tensor::zeros(&[3], DType::F32)?, running_var: Tensor::ones(&[3], DType::F32)?, training: true };
    /// assert_eq!(st.state_count(), 7); // Lux's BatchNorm(3)
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn state_count(&self) -> usize {
        let mut n = 0;
        self.visit(|_, leaf| {
            n += match leaf {
                Tree::Tensor(t) => t.len(),
                _ => 1,
            }
        });
        n
    }

    /// Lux's `recursive_eltype`: the promotion ([`DType::promote`]) of the
    /// types of all leaves, starting from `Bool`. Tensors count their dtype;
    /// `Int` leaves count as `I64` and `Float` leaves as `F64` (a Julia
    /// number counts its own type, and these leaves are an `i64` and an
    /// `f64`); `Bool`, `Rng` and `None` leaves count as `Bool` (Lux: `Val`
    /// and `nothing` are `Bool`). An empty tree gives `Bool`.
    ///
    /// ```
    /// use lux_core::{tree, DType, Tensor, Tree};
    /// let ps = tree! { w: Tensor::zeros(&[2], DType::F16)?, b: Tensor::zeros(&[2], DType::F32)?, training: true };
    /// assert_eq!(ps.recursive_eltype(), DType::F32);
    /// assert_eq!(Tree::new().recursive_eltype(), DType::Bool);
    /// assert_eq!(Tree::Float(3.0).recursive_eltype(), DType::F64);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn recursive_eltype(&self) -> DType {
        let mut dt = DType::Bool;
        self.visit(|_, leaf| {
            let t = match leaf {
                Tree::Tensor(t) => t.dtype(),
                Tree::Int(_) => DType::I64,
                Tree::Float(_) => DType::F64,
                _ => DType::Bool,
            };
            dt = DType::promote(dt, t);
        });
        dt
    }

    // ----- public: update_state ------------------------------------------------------

    /// Lux's `update_state(st, key, value)`: a copy in which every **leaf**
    /// stored under a map key equal to `key`, at any depth, is replaced by
    /// `value`. Containers under that key are searched, never replaced;
    /// sequence indices never match.
    ///
    /// ```
    /// use lux_core::{tree, Tree};
    /// let st = tree! { val: 1i64, inner: tree! { val: 2i64, other: 3i64 } };
    /// let st = st.replace_key("val", Tree::Int(-1));
    /// assert_eq!(st, tree! { val: -1i64, inner: tree! { val: -1i64, other: 3i64 } });
    /// ```
    pub fn replace_key(&self, key: &str, value: Tree) -> Tree {
        let mut out = self.clone();
        out.replace_key_mut(key, &value);
        out
    }

    /// In-place form of [`replace_key`](Tree::replace_key); returns how many
    /// leaves were replaced.
    ///
    /// ```
    /// use lux_core::{tree, Tree};
    /// let mut st = tree! { training: true, inner: tree! { training: true, step: 1i64 } };
    /// assert_eq!(st.replace_key_mut("training", &Tree::Bool(false)), 2);
    /// assert_eq!(st.at("inner.training")?, &Tree::Bool(false));
    /// assert_eq!(tree! { a: tree! { a: 1i64 } }.replace_key_mut("a", &Tree::None), 1); // the inner leaf only
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn replace_key_mut(&mut self, key: &str, value: &Tree) -> usize {
        match self {
            Tree::Map(entries) => entries
                .iter_mut()
                .map(|(k, v)| {
                    if k == key && v.is_leaf() {
                        *v = value.clone();
                        1
                    } else {
                        v.replace_key_mut(key, value)
                    }
                })
                .sum(),
            Tree::Seq(items) => items.iter_mut().map(|v| v.replace_key_mut(key, value)).sum(),
            _ => 0,
        }
    }
}

/// The error for a pair of leaves an operation cannot combine.
pub(crate) fn leaf_mismatch(op: &str, path: &str, a: &Tree, b: &Tree) -> LuxError {
    structure(path, format!("{op}: cannot combine {} leaf with {} leaf", a_kind(a), a_kind(b)))
}

/// `a map`, `an int`, …
fn a_kind(t: &Tree) -> String {
    format!("{} {}", article(t.kind_name()), t.kind_name())
}
