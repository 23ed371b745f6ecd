//! The optimiser state over a parameter tree (Optimisers.jl's `setup`,
//! `update`, `update!`, `adjust`, `freeze!`/`thaw!`).

use crate::rule::{Hyper, LeafInfo, Rule};
use lux_core::{DType, LuxError, Result, Tensor, Tree};
use std::fmt;

/// The optimiser state of a parameter tree: the rule, a [`Tree`] mirroring
/// the parameters (at each trainable leaf, the rule's state for it; at
/// every other leaf, `Tree::None`), and the frozen subtrees.
///
/// Only float tensor leaves are trained; integer and bool tensors and
/// non-tensor leaves (flags, numbers) are skipped, as in Optimisers.jl.
///
/// ```
/// use lux_core::{tree, Tensor, Tree};
/// use lux_train::{setup, Momentum};
/// let ps = tree! {
///     weight: Tensor::from_vec(vec![1.0f32, 2.0], &[2])?,
///     index: Tensor::from_vec(vec![3i64], &[1])?,
///     scale: 0.5,
/// };
/// let opt = setup(Momentum::default(), &ps)?;
/// assert_eq!(opt.tree().tensor("weight.velocity")?.to_vec::<f32>()?, vec![0.0, 0.0]);
/// assert_eq!(opt.tree().at("index")?, &Tree::None); // not trainable
/// assert_eq!(opt.tree().at("scale")?, &Tree::None);
/// # Ok::<(), lux_core::LuxError>(())
/// ```
#[derive(Clone, Debug)]
pub struct OptState {
    rule: Box<dyn Rule>,
    tree: Tree,
    frozen: Vec<String>,
}

/// Optimisers.jl's `setup(rule, ps)`: the optimiser state for `ps`.
///
/// # Errors
/// The rule's hyper-parameters are invalid (a negative learning rate, a
/// NaN), or a leaf's state cannot be built.
pub fn setup(rule: impl Rule + 'static, ps: &Tree) -> Result<OptState> {
    OptState::new(Box::new(rule), ps)
}

fn push(path: &mut String, seg: &str) -> usize {
    let len = path.len();
    if len > 0 {
        path.push('.');
    }
    path.push_str(seg);
    len
}

fn shown(path: &str) -> &str {
    if path.is_empty() { lux_core::ROOT } else { path }
}

impl OptState {
    /// The state of `rule` for `ps` (as [`setup`], with a boxed rule).
    ///
    /// ```
    /// use lux_core::{tree, Tensor};
    /// use lux_train::{Descent, OptState, Rule};
    /// let rule: Box<dyn Rule> = Box::new(Descent::new(0.5));
    /// let opt = OptState::new(rule, &tree! { w: Tensor::from_vec(vec![1.0f32], &[1])? })?;
    /// assert_eq!(opt.rule().to_string(), "Descent(eta=0.5)");
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// As [`setup`].
    pub fn new(rule: Box<dyn Rule>, ps: &Tree) -> Result<OptState> {
        rule.validate()?;
        let tree = init_tree(rule.as_ref(), ps)?;
        Ok(OptState { rule, tree, frozen: Vec::new() })
    }

    /// The rule.
    pub fn rule(&self) -> &dyn Rule {
        self.rule.as_ref()
    }

    /// The state tree, mirroring the parameters.
    pub fn tree(&self) -> &Tree {
        &self.tree
    }

    /// The state tree, mutably (for checkpoint restores and precision
    /// conversion; its structure must stay as [`setup`] built it).
    pub fn tree_mut(&mut self) -> &mut Tree {
        &mut self.tree
    }

    /// The frozen subtrees' paths.
    pub fn frozen(&self) -> &[String] {
        &self.frozen
    }

    /// Optimisers.jl's `update!`: one step of the rule on every trainable,
    /// unfrozen leaf, writing the parameters and the state **in place**
    /// (no buffer is reallocated when `ps` and the state hold their buffers
    /// alone; a buffer shared with another tensor is copied first, so
    /// other holders never see a change).
    ///
    /// Everything is checked before anything changes: a gradient tree of
    /// another structure, or a leaf of another shape or dtype, is an `Err`
    /// naming the path, and `ps` and the state are left as they were.
    ///
    /// ```
    /// use lux_core::{tree, Tensor};
    /// use lux_train::{setup, Descent};
    /// let mut ps = tree! { a: Tensor::from_vec(vec![1.0f32], &[1])?, b: Tensor::from_vec(vec![1.0f32], &[1])? };
    /// let mut opt = setup(Descent::new(0.5), &ps)?;
    /// let bad = tree! { a: Tensor::from_vec(vec![1.0f32], &[1])?, b: Tensor::from_vec(vec![1.0f32, 2.0], &[2])? };
    /// let err = opt.update_mut(&mut ps, &bad).unwrap_err();
    /// assert!(err.to_string().contains("at b"), "{err}");
    /// assert_eq!(ps.tensor("a")?.to_vec::<f32>()?, vec![1.0]); // nothing half-applied
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// Mismatched gradients (above); a state that does not belong to the
    /// rule; a gradient the rule rejects (ClipNorm with `throw`).
    pub fn update_mut(&mut self, ps: &mut Tree, grads: &Tree) -> Result<()> {
        let mut path = String::new();
        check_tree(self.rule.as_ref(), &self.frozen, ps, &self.tree, grads, &mut path)?;
        apply_tree(self.rule.as_ref(), &self.frozen, ps, &mut self.tree, grads, &mut path)
    }

    /// Optimisers.jl's `update`: the new state and parameters, leaving
    /// `self` and `ps` untouched (buffers are copied where written).
    ///
    /// ```
    /// use lux_core::{tree, Tensor};
    /// use lux_train::{setup, Descent};
    /// let ps = tree! { w: Tensor::from_vec(vec![1.0f64], &[1])? };
    /// let opt = setup(Descent::new(0.5), &ps)?;
    /// let (_opt2, ps2) = opt.update(&ps, &tree! { w: Tensor::from_vec(vec![1.0f64], &[1])? })?;
    /// assert_eq!((ps.tensor("w")?.to_vec::<f64>()?, ps2.tensor("w")?.to_vec::<f64>()?), (vec![1.0], vec![0.5]));
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// As [`update_mut`](OptState::update_mut).
    pub fn update(&self, ps: &Tree, grads: &Tree) -> Result<(OptState, Tree)> {
        let mut next = self.clone();
        let mut ps = ps.clone(); // shares buffers: written copy-on-write
        next.update_mut(&mut ps, grads)?;
        Ok((next, ps))
    }

    /// Optimisers.jl's `adjust!`: sets the hyper-parameter `name` (the
    /// learning rate is `"eta"`) of the rule, for every leaf.
    ///
    /// ```
    /// use lux_core::{tree, Tensor};
    /// use lux_train::{setup, Adam, Hyper};
    /// let mut opt = setup(Adam::default(), &tree! { w: Tensor::from_vec(vec![1.0f32], &[1])? })?;
    /// opt.adjust_mut("eta", 0.1)?;
    /// opt.adjust_mut("beta", (0.8, 0.99))?;
    /// assert_eq!(opt.hyperparameter("eta")?, Hyper::Scalar(0.1));
    /// let err = opt.adjust_mut("rho", 0.5).unwrap_err();
    /// assert_eq!(err.to_string(), "Adam: invalid argument: no hyper-parameter `rho`; its hyper-parameters are eta, beta, epsilon");
    /// assert!(opt.adjust_mut("eta", -1.0).is_err()); // and the rule is unchanged
    /// assert_eq!(opt.hyperparameter("eta")?, Hyper::Scalar(0.1));
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// An unknown name (listing the rule's), a value of the wrong kind, or
    /// one the rule rejects; the rule is then unchanged.
    pub fn adjust_mut(&mut self, name: &str, value: impl Into<Hyper>) -> Result<()> {
        let mut rule = self.rule.clone();
        rule.set_hyperparameter(name, value.into())?;
        rule.validate()?;
        self.rule = rule;
        Ok(())
    }

    /// Optimisers.jl's `adjust`: a copy with the hyper-parameter set.
    ///
    /// # Errors
    /// As [`adjust_mut`](OptState::adjust_mut).
    pub fn adjust(&self, name: &str, value: impl Into<Hyper>) -> Result<OptState> {
        let mut next = self.clone();
        next.adjust_mut(name, value)?;
        Ok(next)
    }

    /// The value of the hyper-parameter `name` (in a chain, the first rule
    /// that has it).
    ///
    /// # Errors
    /// No rule has a hyper-parameter of that name.
    pub fn hyperparameter(&self, name: &str) -> Result<Hyper> {
        fn find(rule: &dyn Rule, name: &str) -> Option<Hyper> {
            rule.hyperparameters()
                .into_iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v)
                .or_else(|| rule.inner().into_iter().find_map(|r| find(r, name)))
        }
        find(self.rule.as_ref(), name).ok_or_else(|| {
            LuxError::invalid_argument(self.rule.name(), format!("no hyper-parameter `{name}` in {}", self.rule))
        })
    }

    /// Optimisers.jl's `freeze!`: the leaves under `path` (`""` for all,
    /// `layer_1`, `layer_1.weight`) are not updated, and their state does
    /// not advance, until [`thaw`](OptState::thaw).
    ///
    /// ```
    /// use lux_core::{tree, Tensor};
    /// use lux_train::{setup, Descent};
    /// let mut ps = tree! { enc: tree! { w: Tensor::from_vec(vec![1.0f32], &[1])? }, dec: tree! { w: Tensor::from_vec(vec![1.0f32], &[1])? } };
    /// let g = ps.clone();
    /// let mut opt = setup(Descent::new(0.5), &ps)?;
    /// opt.freeze("enc")?;
    /// opt.update_mut(&mut ps, &g)?;
    /// assert_eq!((ps.tensor("enc.w")?.to_vec::<f32>()?, ps.tensor("dec.w")?.to_vec::<f32>()?), (vec![1.0], vec![0.5]));
    /// opt.thaw("enc")?;
    /// opt.update_mut(&mut ps, &g)?;
    /// assert_eq!(ps.tensor("enc.w")?.to_vec::<f32>()?, vec![0.5]);
    /// assert!(opt.freeze("nope").is_err());
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// `path` is not in the state tree.
    pub fn freeze(&mut self, path: &str) -> Result<()> {
        if !path.is_empty() {
            self.tree.at(path)?;
        }
        if !self.frozen.iter().any(|f| f == path) {
            self.frozen.push(path.to_string());
        }
        Ok(())
    }

    /// Optimisers.jl's `thaw!`: undoes [`freeze`](OptState::freeze) of
    /// `path` and of every frozen path under it (`""` thaws everything).
    ///
    /// # Errors
    /// `path` is not in the state tree.
    pub fn thaw(&mut self, path: &str) -> Result<()> {
        if !path.is_empty() {
            self.tree.at(path)?;
        }
        self.frozen.retain(|f| !under(f, path));
        Ok(())
    }
}

impl fmt::Display for OptState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OptState({}", self.rule)?;
        if !self.frozen.is_empty() {
            write!(f, ", frozen: {}", self.frozen.join(", "))?;
        }
        f.write_str(")")
    }
}

/// `true` if `path` is `prefix` or below it.
fn under(path: &str, prefix: &str) -> bool {
    prefix.is_empty()
        || path == prefix
        || (path.starts_with(prefix) && path.as_bytes().get(prefix.len()) == Some(&b'.'))
}

fn is_frozen(frozen: &[String], path: &str) -> bool {
    !frozen.is_empty() && frozen.iter().any(|f| under(path, f))
}

/// The state tree mirroring `ps`.
fn init_tree(rule: &dyn Rule, ps: &Tree) -> Result<Tree> {
    Ok(match ps {
        Tree::Map(m) => Tree::Map(m.iter().map(|(k, v)| Ok((k.clone(), init_tree(rule, v)?))).collect::<Result<_>>()?),
        Tree::Seq(s) => Tree::Seq(s.iter().map(|v| init_tree(rule, v)).collect::<Result<_>>()?),
        Tree::Tensor(x) if x.dtype().is_float() => rule.init(x)?,
        _ => Tree::None,
    })
}

fn mismatch(path: &str, msg: String) -> LuxError {
    LuxError::Structure { path: shown(path).into(), msg: format!("the gradients do not match the parameters: {msg}") }
}

/// Checks `grads` against `ps` (and the state's structure) everywhere
/// before anything is written.
fn check_tree(rule: &dyn Rule, frozen: &[String], ps: &Tree, st: &Tree, g: &Tree, path: &mut String) -> Result<()> {
    match (ps, g) {
        (Tree::Map(p), Tree::Map(q)) => {
            let Tree::Map(s) = st else { return Err(state_mismatch(path)) };
            if p.len() != q.len() || p.iter().zip(q).any(|((a, _), (b, _))| a != b) || s.len() != p.len() {
                let keys = |m: &[(String, Tree)]| m.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>().join(", ");
                return Err(mismatch(path, format!("keys [{}] vs [{}]", keys(q), keys(p))));
            }
            for (((k, a), (_, b)), (_, c)) in p.iter().zip(q).zip(s) {
                let len = push(path, k);
                check_tree(rule, frozen, a, c, b, path)?;
                path.truncate(len);
            }
            Ok(())
        }
        (Tree::Seq(p), Tree::Seq(q)) => {
            let Tree::Seq(s) = st else { return Err(state_mismatch(path)) };
            if p.len() != q.len() || s.len() != p.len() {
                return Err(mismatch(path, format!("a sequence of {} vs {}", q.len(), p.len())));
            }
            for (i, ((a, b), c)) in p.iter().zip(q).zip(s).enumerate() {
                let len = push(path, &i.to_string());
                check_tree(rule, frozen, a, c, b, path)?;
                path.truncate(len);
            }
            Ok(())
        }
        (Tree::Tensor(x), _) if x.dtype().is_float() => {
            let Tree::Tensor(gt) = g else {
                return Err(mismatch(path, format!("a {} where the parameter is a tensor", g.kind_name())));
            };
            if gt.shape() != x.shape() || gt.dtype() != x.dtype() {
                return Err(mismatch(
                    path,
                    format!(
                        "gradient {:?} {} for parameter {:?} {}",
                        gt.shape(),
                        gt.dtype().name(),
                        x.shape(),
                        x.dtype().name()
                    ),
                ));
            }
            if is_frozen(frozen, path) {
                return Ok(());
            }
            let leaf = LeafInfo { path: shown(path), storage: x.dtype() };
            rule.check_gradient(gt, leaf)
        }
        // A non-trainable leaf: its gradient, whatever it is, is ignored.
        (p, _) if p.is_leaf() => Ok(()),
        _ => Err(mismatch(path, format!("a {} where the parameters have a {}", g.kind_name(), ps.kind_name()))),
    }
}

fn state_mismatch(path: &str) -> LuxError {
    LuxError::Structure {
        path: shown(path).into(),
        msg: "the optimiser state does not mirror the parameters (was it set up for another tree?)".into(),
    }
}

fn apply_tree(
    rule: &dyn Rule,
    frozen: &[String],
    ps: &mut Tree,
    st: &mut Tree,
    g: &Tree,
    path: &mut String,
) -> Result<()> {
    match (ps, st, g) {
        (Tree::Map(p), Tree::Map(s), Tree::Map(q)) => {
            for (((k, a), (_, c)), (_, b)) in p.iter_mut().zip(s.iter_mut()).zip(q) {
                let len = push(path, k);
                apply_tree(rule, frozen, a, c, b, path)?;
                path.truncate(len);
            }
            Ok(())
        }
        (Tree::Seq(p), Tree::Seq(s), Tree::Seq(q)) => {
            for (i, ((a, c), b)) in p.iter_mut().zip(s.iter_mut()).zip(q).enumerate() {
                let len = push(path, &i.to_string());
                apply_tree(rule, frozen, a, c, b, path)?;
                path.truncate(len);
            }
            Ok(())
        }
        (Tree::Tensor(x), st, Tree::Tensor(gt)) if x.dtype().is_float() => {
            if is_frozen(frozen, path) {
                return Ok(());
            }
            update_leaf(rule, st, x, gt, shown(path))
        }
        _ => Ok(()),
    }
}

/// One leaf's step; f16/bf16 leaves compute in f32 and are rounded back
/// into their own buffers.
fn update_leaf(rule: &dyn Rule, st: &mut Tree, x: &mut Tensor, g: &Tensor, path: &str) -> Result<()> {
    let storage = x.dtype();
    let leaf = LeafInfo { path, storage };
    if matches!(storage, DType::F32 | DType::F64) {
        return rule.update(st, x, g, leaf);
    }
    let widen = |t: &Tree| t.try_map(|_, v| if v.dtype() == storage { v.to_dtype(DType::F32) } else { Ok(v.clone()) });
    let mut st32 = widen(st)?;
    let mut x32 = x.to_dtype(DType::F32)?;
    rule.update(&mut st32, &mut x32, &g.to_dtype(DType::F32)?, leaf)?;
    *st = st32.try_map(|_, v| if v.dtype() == DType::F32 { v.to_dtype(storage) } else { Ok(v.clone()) })?;
    let rounded = x32.to_dtype(storage)?;
    match storage {
        DType::F16 => x.make_mut::<lux_core::__private::half::f16>()?.0.copy_from_slice(&rounded.contiguous_slice()?),
        DType::BF16 => x.make_mut::<lux_core::__private::half::bf16>()?.0.copy_from_slice(&rounded.contiguous_slice()?),
        other => return Err(LuxError::UnsupportedDType { op: "optimiser update".into(), dtype: other }),
    }
    Ok(())
}
