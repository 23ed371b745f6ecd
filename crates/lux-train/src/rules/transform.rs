//! Rules that transform the gradient rather than descend on it, and the
//! composites: [`WeightDecay`], [`SignDecay`], [`ClipGrad`], [`ClipNorm`],
//! [`OptimiserChain`], [`AccumGrad`].

use super::sign;
use crate::rule::{
    Hyper, LeafInfo, Rule, check_not_nan, fields_mut, float_kernel, rule_common, rule_struct, unknown_hyper, values,
    zeros_like,
};
use lux_core::{LuxError, Real, Result, Tensor, Tree, tree};

rule_struct! {
    /// L2 weight decay (Optimisers.jl's `WeightDecay`): `Δ = g + λ·x`; put
    /// it before a descent rule in an [`OptimiserChain`]. Default
    /// `lambda = 5e-4`.
    ///
    /// ```
    /// use lux_core::{tree, Tensor};
    /// use lux_train::{setup, Descent, OptimiserChain, WeightDecay};
    /// let mut ps = tree! { w: Tensor::from_vec(vec![2.0f64], &[1])? };
    /// let rule = OptimiserChain::new(vec![Box::new(WeightDecay::default().lambda(0.5)), Box::new(Descent::new(0.1))]);
    /// let mut opt = setup(rule, &ps)?;
    /// opt.update_mut(&mut ps, &tree! { w: Tensor::from_vec(vec![1.0f64], &[1])? })?;
    /// assert!((ps.tensor("w")?.to_vec::<f64>()?[0] - 1.8).abs() < 1e-15); // 2 − 0.1·(1 + 0.5·2)
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    WeightDecay {
        /// Decay strength λ.
        lambda: f64 = 5e-4,
    }
}

impl Rule for WeightDecay {
    rule_common!(WeightDecay);
    fn validate(&self) -> Result<()> {
        check_not_nan("WeightDecay", &[("lambda", self.lambda)])
    }
    fn init(&self, _x: &Tensor) -> Result<Tree> {
        Ok(Tree::new())
    }
    fn apply(&self, _state: &mut Tree, x: &Tensor, dx: &mut Tensor, _leaf: LeafInfo) -> Result<bool> {
        float_kernel!("WeightDecay", dx, T => {
            let lambda = T::c(self.lambda);
            let xs = values::<T>(x)?;
            let (ds, _) = dx.make_mut::<T>()?;
            ds.iter_mut().zip(xs.iter()).for_each(|(d, &x)| *d += lambda * x);
            Ok(true)
        })
    }
}

rule_struct! {
    /// L1 ("sign") decay (Optimisers.jl's `SignDecay`): `Δ = g + λ·sign(x)`.
    /// Default `lambda = 1e-3`.
    ///
    /// ```
    /// use lux_train::{Rule, SignDecay};
    /// assert_eq!((&SignDecay::default() as &dyn Rule).to_string(), "SignDecay(lambda=0.001)");
    /// ```
    SignDecay {
        /// Decay strength λ.
        lambda: f64 = 1e-3,
    }
}

impl Rule for SignDecay {
    rule_common!(SignDecay);
    fn validate(&self) -> Result<()> {
        check_not_nan("SignDecay", &[("lambda", self.lambda)])
    }
    fn init(&self, _x: &Tensor) -> Result<Tree> {
        Ok(Tree::new())
    }
    fn apply(&self, _state: &mut Tree, x: &Tensor, dx: &mut Tensor, _leaf: LeafInfo) -> Result<bool> {
        float_kernel!("SignDecay", dx, T => {
            let lambda = T::c(self.lambda);
            let xs = values::<T>(x)?;
            let (ds, _) = dx.make_mut::<T>()?;
            ds.iter_mut().zip(xs.iter()).for_each(|(d, &x)| *d += lambda * sign(x));
            Ok(true)
        })
    }
}

rule_struct! {
    /// Clamps every gradient element into `[−δ, δ]` (Optimisers.jl's
    /// `ClipGrad`). Default `delta = 10`.
    ///
    /// ```
    /// use lux_train::{ClipGrad, Rule};
    /// assert_eq!((&ClipGrad::default() as &dyn Rule).to_string(), "ClipGrad(delta=10.0)");
    /// ```
    ClipGrad {
        /// The bound δ.
        delta: f64 = 10.0,
    }
}

impl Rule for ClipGrad {
    rule_common!(ClipGrad);
    fn validate(&self) -> Result<()> {
        if self.delta.is_nan() || self.delta < 0.0 {
            return Err(LuxError::invalid_argument("ClipGrad", format!("`delta` must be ≥ 0, got {}", self.delta)));
        }
        Ok(())
    }
    fn init(&self, _x: &Tensor) -> Result<Tree> {
        Ok(Tree::new())
    }
    fn apply(&self, _state: &mut Tree, _x: &Tensor, dx: &mut Tensor, _leaf: LeafInfo) -> Result<bool> {
        float_kernel!("ClipGrad", dx, T => {
            let delta = T::c(self.delta);
            // Julia's clamp keeps NaN.
            dx.make_mut::<T>()?.0.iter_mut().for_each(|d| {
                if *d > delta {
                    *d = delta
                } else if *d < -delta {
                    *d = -delta
                }
            });
            Ok(true)
        })
    }
}

rule_struct! {
    /// Rescales each gradient array so that its `p`-norm is at most `ω`
    /// (Optimisers.jl's `ClipNorm`): `Δ = g·min(ω/‖g‖ₚ, 1)`, per parameter
    /// array. `p` may be any real, including `∞`, `−∞` and `0` (the count
    /// of non-zeros). With `throw` (the default), a non-finite norm is an
    /// `Err` naming the parameter, raised before any parameter changes.
    /// Defaults `omega = 10`, `p = 2`, `throw = true`.
    ///
    /// ```
    /// use lux_core::{tree, Tensor};
    /// use lux_train::{setup, ClipNorm, Descent, OptimiserChain};
    /// let mut ps = tree! { w: Tensor::from_vec(vec![0.0f64, 0.0], &[2])? };
    /// let rule = OptimiserChain::new(vec![Box::new(ClipNorm::default().omega(5.0)), Box::new(Descent::new(1.0))]);
    /// let mut opt = setup(rule, &ps)?;
    /// opt.update_mut(&mut ps, &tree! { w: Tensor::from_vec(vec![6.0f64, 8.0], &[2])? })?;
    /// assert_eq!(ps.tensor("w")?.to_vec::<f64>()?, vec![-3.0, -4.0]); // g·5/‖g‖, ‖g‖ = 10
    /// let nan = tree! { w: Tensor::from_vec(vec![f64::NAN, 1.0], &[2])? };
    /// assert!(opt.update_mut(&mut ps, &nan).unwrap_err().to_string().contains("2.0-norm NaN, for the parameter at w"));
    /// assert_eq!(ps.tensor("w")?.to_vec::<f64>()?, vec![-3.0, -4.0]); // unchanged
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ClipNorm {
        /// The largest norm ω.
        omega: f64 = 10.0,
        /// The norm's order p.
        p: f64 = 2.0,
        /// Whether a non-finite norm is an error.
        throw: bool = true,
    }
}

impl ClipNorm {
    /// `‖dx‖ₚ`, accumulated in f64.
    fn norm(&self, dx: &Tensor) -> Result<f64> {
        let a: Vec<f64> = dx.to_f64_vec().into_iter().map(f64::abs).collect();
        let p = self.p;
        Ok(if p == 2.0 {
            a.iter().map(|v| v * v).sum::<f64>().sqrt()
        } else if p == 1.0 {
            a.iter().sum()
        } else if p == f64::INFINITY {
            a.iter().fold(0.0, |m, &v| if v.is_nan() || m.is_nan() { f64::NAN } else { m.max(v) })
        } else if p == 0.0 {
            a.iter().filter(|&&v| v != 0.0).count() as f64
        } else if p == f64::NEG_INFINITY {
            a.iter().fold(f64::INFINITY, |m, &v| if v.is_nan() || m.is_nan() { f64::NAN } else { m.min(v) })
        } else {
            a.iter().map(|v| v.powf(p)).sum::<f64>().powf(1.0 / p)
        })
    }
}

impl Rule for ClipNorm {
    rule_common!(ClipNorm);
    fn validate(&self) -> Result<()> {
        check_not_nan("ClipNorm", &[("omega", self.omega), ("p", self.p)])?;
        if self.omega < 0.0 {
            return Err(LuxError::invalid_argument("ClipNorm", format!("`omega` must be ≥ 0, got {}", self.omega)));
        }
        Ok(())
    }
    fn init(&self, _x: &Tensor) -> Result<Tree> {
        Ok(Tree::new())
    }
    fn check_gradient(&self, g: &Tensor, leaf: LeafInfo) -> Result<()> {
        if self.throw {
            let nrm = self.norm(g)?;
            if !nrm.is_finite() {
                return Err(LuxError::invalid_argument(
                    "ClipNorm",
                    format!(
                        "gradient has {}-norm {}, for the parameter at {} (shape {:?})",
                        lux_core::julia_float(self.p),
                        lux_core::julia_float(nrm),
                        leaf.path,
                        g.shape()
                    ),
                ));
            }
        }
        Ok(())
    }
    fn apply(&self, _state: &mut Tree, _x: &Tensor, dx: &mut Tensor, leaf: LeafInfo) -> Result<bool> {
        self.check_gradient(dx, leaf)?;
        let lambda = (self.omega / self.norm(dx)?).min(1.0);
        float_kernel!("ClipNorm", dx, T => {
            let lambda = T::c(lambda);
            dx.make_mut::<T>()?.0.iter_mut().for_each(|d| *d *= lambda);
            Ok(true)
        })
    }
}

/// Rules applied in sequence, each to the previous one's output
/// (Optimisers.jl's `OptimiserChain`): e.g. clip, decay, then Adam. A rule
/// that gives no update this step ([`AccumGrad`] between accumulations)
/// ends the chain for that step. Adjusting a hyper-parameter sets it on
/// every rule of the chain that has it.
///
/// ```
/// use lux_train::{Adam, ClipGrad, OptimiserChain, Rule};
/// let mut chain = OptimiserChain::new(vec![Box::new(ClipGrad::default()), Box::new(Adam::default())]);
/// assert_eq!((&chain as &dyn Rule).to_string(),
///            "OptimiserChain(ClipGrad(delta=10.0), Adam(eta=0.001, beta=(0.9, 0.999), epsilon=1.0e-8))");
/// chain.set_hyperparameter("eta", 0.01.into())?; // reaches Adam
/// assert!((&chain as &dyn Rule).to_string().contains("Adam(eta=0.01,"));
/// assert!(chain.set_hyperparameter("rho", 0.5.into()).is_err()); // no rule has it
/// # Ok::<(), lux_core::LuxError>(())
/// ```
#[derive(Clone, Debug)]
pub struct OptimiserChain {
    /// The rules, in order.
    pub rules: Vec<Box<dyn Rule>>,
}

impl OptimiserChain {
    /// The chain of `rules`.
    pub fn new(rules: Vec<Box<dyn Rule>>) -> OptimiserChain {
        OptimiserChain { rules }
    }
}

impl Rule for OptimiserChain {
    fn name(&self) -> &'static str {
        "OptimiserChain"
    }
    /// The chain's own hyper-parameters: none (its rules have theirs).
    fn hyperparameters(&self) -> Vec<(&'static str, Hyper)> {
        Vec::new()
    }
    fn set_hyperparameter(&mut self, name: &str, value: Hyper) -> Result<()> {
        let mut found = false;
        for rule in &mut self.rules {
            if rule.hyperparameters().iter().any(|(n, _)| *n == name) || !rule.inner().is_empty() {
                match rule.set_hyperparameter(name, value) {
                    Ok(()) => found = true,
                    Err(e) if rule.inner().is_empty() => return Err(e),
                    Err(_) => {} // a nested chain without that field
                }
            }
        }
        if found {
            Ok(())
        } else {
            let mut fields: Vec<&str> = Vec::new();
            for rule in &self.rules {
                for (n, _) in rule.hyperparameters() {
                    if !fields.contains(&n) {
                        fields.push(n);
                    }
                }
            }
            Err(unknown_hyper("OptimiserChain", name, &fields))
        }
    }
    fn validate(&self) -> Result<()> {
        self.rules.iter().try_for_each(|r| r.validate())
    }
    fn init(&self, x: &Tensor) -> Result<Tree> {
        Ok(Tree::Seq(self.rules.iter().map(|r| r.init(x)).collect::<Result<_>>()?))
    }
    fn check_gradient(&self, g: &Tensor, leaf: LeafInfo) -> Result<()> {
        self.rules.iter().try_for_each(|r| r.check_gradient(g, leaf))
    }
    fn apply(&self, state: &mut Tree, x: &Tensor, dx: &mut Tensor, leaf: LeafInfo) -> Result<bool> {
        let Tree::Seq(states) = state else {
            return Err(LuxError::Structure {
                path: leaf.path.into(),
                msg: "OptimiserChain: the optimiser state must be a sequence of the rules' states".into(),
            });
        };
        if states.len() != self.rules.len() {
            return Err(LuxError::Structure {
                path: leaf.path.into(),
                msg: format!("OptimiserChain: {} rules but {} states", self.rules.len(), states.len()),
            });
        }
        for (rule, st) in self.rules.iter().zip(states.iter_mut()) {
            if !rule.apply(st, x, dx, leaf)? {
                return Ok(false);
            }
        }
        Ok(true)
    }
    fn boxed_clone(&self) -> Box<dyn Rule> {
        Box::new(self.clone())
    }
    fn inner(&self) -> Vec<&dyn Rule> {
        self.rules.iter().map(|r| r.as_ref()).collect()
    }
}

rule_struct! {
    /// Gradient accumulation (Optimisers.jl's `AccumGrad`): averages the
    /// gradients of `n` consecutive steps and passes the average on every
    /// `n`-th step; the steps in between make no update. Put it first in
    /// an [`OptimiserChain`]. Default `n = 1`; `n = 0` is an error.
    ///
    /// ```
    /// use lux_core::{tree, Tensor};
    /// use lux_train::{setup, AccumGrad, Descent, OptimiserChain};
    /// let mut ps = tree! { w: Tensor::from_vec(vec![0.0f64], &[1])? };
    /// let rule = OptimiserChain::new(vec![Box::new(AccumGrad::new(2)), Box::new(Descent::new(1.0))]);
    /// let mut opt = setup(rule, &ps)?;
    /// opt.update_mut(&mut ps, &tree! { w: Tensor::from_vec(vec![1.0f64], &[1])? })?;
    /// assert_eq!(ps.tensor("w")?.to_vec::<f64>()?, vec![0.0]); // accumulating
    /// opt.update_mut(&mut ps, &tree! { w: Tensor::from_vec(vec![3.0f64], &[1])? })?;
    /// assert_eq!(ps.tensor("w")?.to_vec::<f64>()?, vec![-2.0]); // the mean, (1 + 3)/2
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    AccumGrad {
        /// How many gradients to average.
        n: usize = 1,
    }
}

impl AccumGrad {
    /// Accumulation over `n` steps.
    pub fn new(n: usize) -> AccumGrad {
        AccumGrad { n }
    }
}

impl Rule for AccumGrad {
    rule_common!(AccumGrad);
    fn validate(&self) -> Result<()> {
        if self.n == 0 {
            return Err(LuxError::invalid_argument("AccumGrad", "AccumGrad must accumulate at least one gradient"));
        }
        Ok(())
    }
    fn init(&self, x: &Tensor) -> Result<Tree> {
        Ok(tree! { acc: zeros_like(x)?, counter: 1i64 })
    }
    fn apply(&self, state: &mut Tree, _x: &Tensor, dx: &mut Tensor, _leaf: LeafInfo) -> Result<bool> {
        let [acc, counter] = fields_mut("AccumGrad", state, ["acc", "counter"])?;
        let count = counter.as_int()?;
        let acc = acc.as_tensor_mut()?;
        float_kernel!("AccumGrad", dx, T => {
            let n = T::c(self.n as f64);
            let (a, _) = acc.make_mut::<T>()?;
            let (ds, _) = dx.make_mut::<T>()?;
            for i in 0..ds.len() {
                a[i] = if count == 1 { ds[i] / n } else { a[i] + ds[i] / n };
            }
            if count as usize >= self.n {
                ds.copy_from_slice(a);
            }
            Ok::<(), LuxError>(())
        })?;
        if count as usize >= self.n {
            *counter = Tree::Int(1);
            Ok(true)
        } else {
            *counter = Tree::Int(count + 1);
            Ok(false)
        }
    }
}
