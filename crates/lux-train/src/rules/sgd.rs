//! Gradient descent and its momentum and sign variants: [`Descent`],
//! [`Momentum`], [`Nesterov`], [`Rprop`], [`Signum`].

use super::sign;
use crate::rule::{
    LeafInfo, Rule, check_eta, check_not_nan, fields_mut, float_kernel, rule_common, rule_struct, zeros_like,
};
use lux_core::{Real, Result, Tensor, Tree, tree};

rule_struct! {
    /// Plain gradient descent (Optimisers.jl's `Descent`): `Δ = η·g`.
    /// Default `eta = 0.1`.
    ///
    /// ```
    /// use lux_core::{tree, Tensor};
    /// use lux_train::{setup, Descent};
    /// let mut ps = tree! { w: Tensor::from_vec(vec![1.0f64, 2.0], &[2])? };
    /// let mut opt = setup(Descent::default(), &ps)?;
    /// opt.update_mut(&mut ps, &tree! { w: Tensor::from_vec(vec![1.0f64, -2.0], &[2])? })?;
    /// assert_eq!(ps.tensor("w")?.to_vec::<f64>()?, vec![0.9, 2.2]);
    /// assert_eq!(opt.rule().to_string(), "Descent(eta=0.1)");
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    Descent {
        /// Learning rate η.
        eta: f64 = 0.1,
    }
}

impl Descent {
    /// Descent with learning rate `eta`.
    pub fn new(eta: f64) -> Descent {
        Descent { eta }
    }
}

impl Rule for Descent {
    rule_common!(Descent);
    fn validate(&self) -> Result<()> {
        check_eta("Descent", self.eta)
    }
    fn init(&self, _x: &Tensor) -> Result<Tree> {
        Ok(Tree::new())
    }
    fn apply(&self, _state: &mut Tree, _x: &Tensor, dx: &mut Tensor, _leaf: LeafInfo) -> Result<bool> {
        float_kernel!("Descent", dx, T => {
            let eta = T::c(self.eta);
            dx.make_mut::<T>()?.0.iter_mut().for_each(|d| *d *= eta);
            Ok(true)
        })
    }
}

rule_struct! {
    /// Gradient descent with momentum (Optimisers.jl's `Momentum`):
    /// `v ← ρ·v + η·g`, `Δ = v`. Defaults `eta = 0.01`, `rho = 0.9`.
    ///
    /// ```
    /// use lux_train::{Momentum, Rule};
    /// let rule = Momentum::new(0.1).rho(0.5);
    /// assert_eq!((&rule as &dyn Rule).to_string(), "Momentum(eta=0.1, rho=0.5)");
    /// ```
    Momentum {
        /// Learning rate η.
        eta: f64 = 0.01,
        /// Momentum ρ.
        rho: f64 = 0.9,
    }
}

impl Momentum {
    /// Momentum with learning rate `eta` and the default ρ.
    pub fn new(eta: f64) -> Momentum {
        Momentum { eta, ..Momentum::default() }
    }
}

impl Rule for Momentum {
    rule_common!(Momentum);
    fn validate(&self) -> Result<()> {
        check_eta("Momentum", self.eta)?;
        check_not_nan("Momentum", &[("rho", self.rho)])
    }
    fn init(&self, x: &Tensor) -> Result<Tree> {
        Ok(tree! { velocity: zeros_like(x)? })
    }
    fn apply(&self, state: &mut Tree, _x: &Tensor, dx: &mut Tensor, _leaf: LeafInfo) -> Result<bool> {
        let [v] = fields_mut("Momentum", state, ["velocity"])?;
        let v = v.as_tensor_mut()?;
        float_kernel!("Momentum", dx, T => {
            let (eta, rho) = (T::c(self.eta), T::c(self.rho));
            let (vs, _) = v.make_mut::<T>()?;
            for (v, d) in vs.iter_mut().zip(dx.make_mut::<T>()?.0.iter_mut()) {
                *v = rho * *v + eta * *d;
                *d = *v;
            }
            Ok(true)
        })
    }
}

rule_struct! {
    /// Nesterov momentum (Optimisers.jl's `Nesterov`):
    /// `Δ = −ρ²·v + (1 + ρ)·η·g` with the old `v`, then `v ← ρ·v − η·g`.
    /// Defaults `eta = 0.001`, `rho = 0.9`.
    ///
    /// ```
    /// use lux_train::{Nesterov, Rule};
    /// assert_eq!((&Nesterov::default() as &dyn Rule).to_string(), "Nesterov(eta=0.001, rho=0.9)");
    /// ```
    Nesterov {
        /// Learning rate η.
        eta: f64 = 0.001,
        /// Momentum ρ.
        rho: f64 = 0.9,
    }
}

impl Nesterov {
    /// Nesterov with learning rate `eta` and the default ρ.
    pub fn new(eta: f64) -> Nesterov {
        Nesterov { eta, ..Nesterov::default() }
    }
}

impl Rule for Nesterov {
    rule_common!(Nesterov);
    fn validate(&self) -> Result<()> {
        check_eta("Nesterov", self.eta)?;
        check_not_nan("Nesterov", &[("rho", self.rho)])
    }
    fn init(&self, x: &Tensor) -> Result<Tree> {
        Ok(tree! { velocity: zeros_like(x)? })
    }
    fn apply(&self, state: &mut Tree, _x: &Tensor, dx: &mut Tensor, _leaf: LeafInfo) -> Result<bool> {
        let [v] = fields_mut("Nesterov", state, ["velocity"])?;
        let v = v.as_tensor_mut()?;
        float_kernel!("Nesterov", dx, T => {
            let (eta, rho) = (T::c(self.eta), T::c(self.rho));
            let (vs, _) = v.make_mut::<T>()?;
            for (v, d) in vs.iter_mut().zip(dx.make_mut::<T>()?.0.iter_mut()) {
                let g = *d;
                *d = -(rho * rho) * *v + (T::c(1.0) + rho) * eta * g;
                *v = rho * *v - eta * g;
            }
            Ok(true)
        })
    }
}

rule_struct! {
    /// Resilient propagation (Optimisers.jl's `Rprop`): a per-element step
    /// size grows by `ell.1` while the gradient keeps its sign and shrinks
    /// by `ell.0` when it flips (within `gamma`), and `Δ = η_i·sign(g)`;
    /// after a flip the stored gradient is zero. Defaults `eta = 0.001`,
    /// `ell = (0.5, 1.2)`, `gamma = (1e-6, 50.0)`.
    ///
    /// ```
    /// use lux_train::{Rprop, Rule};
    /// assert_eq!((&Rprop::default() as &dyn Rule).to_string(), "Rprop(eta=0.001, ell=(0.5, 1.2), gamma=(1.0e-6, 50.0))");
    /// ```
    Rprop {
        /// Initial step size η.
        eta: f64 = 1e-3,
        /// Decrease and increase factors.
        ell: (f64, f64) = (0.5, 1.2),
        /// Smallest and largest step sizes.
        gamma: (f64, f64) = (1e-6, 50.0),
    }
}

impl Rule for Rprop {
    rule_common!(Rprop);
    fn validate(&self) -> Result<()> {
        check_eta("Rprop", self.eta)?;
        check_not_nan(
            "Rprop",
            &[("ell", self.ell.0), ("ell", self.ell.1), ("gamma", self.gamma.0), ("gamma", self.gamma.1)],
        )
    }
    fn init(&self, x: &Tensor) -> Result<Tree> {
        Ok(tree! { gradient: zeros_like(x)?, step: Tensor::full(x.shape(), self.eta, x.dtype())? })
    }
    fn apply(&self, state: &mut Tree, _x: &Tensor, dx: &mut Tensor, _leaf: LeafInfo) -> Result<bool> {
        let [g, eta] = fields_mut("Rprop", state, ["gradient", "step"])?;
        let (g, eta) = (g.as_tensor_mut()?, eta.as_tensor_mut()?);
        float_kernel!("Rprop", dx, T => {
            let (l0, l1) = (T::c(self.ell.0), T::c(self.ell.1));
            let (g0, g1) = (T::c(self.gamma.0), T::c(self.gamma.1));
            let (gs, _) = g.make_mut::<T>()?;
            let (es, _) = eta.make_mut::<T>()?;
            for ((g, e), d) in gs.iter_mut().zip(es.iter_mut()).zip(dx.make_mut::<T>()?.0.iter_mut()) {
                let prod = *g * *d;
                *e = if prod > T::c(0.0) {
                    (*e * l1).min(g1)
                } else if prod < T::c(0.0) {
                    (*e * l0).max(g0)
                } else {
                    *e
                };
                *g = if prod < T::c(0.0) { T::c(0.0) } else { *d };
                *d = *e * sign(*g);
            }
            Ok(true)
        })
    }
}

rule_struct! {
    /// Signum, sign descent with momentum (Bernstein et al. 2018,
    /// "signSGD"): `m ← β·m + (1 − β)·g`, `Δ = η·sign(m)`. Not part of
    /// Optimisers.jl 0.4; defaults from the paper's setting, `eta = 0.001`,
    /// `beta = 0.9`.
    ///
    /// ```
    /// use lux_train::{Rule, Signum};
    /// assert_eq!((&Signum::default() as &dyn Rule).to_string(), "Signum(eta=0.001, beta=0.9)");
    /// ```
    Signum {
        /// Learning rate η.
        eta: f64 = 1e-3,
        /// Momentum β.
        beta: f64 = 0.9,
    }
}

impl Rule for Signum {
    rule_common!(Signum);
    fn validate(&self) -> Result<()> {
        check_eta("Signum", self.eta)?;
        check_not_nan("Signum", &[("beta", self.beta)])
    }
    fn init(&self, x: &Tensor) -> Result<Tree> {
        Ok(tree! { momentum: zeros_like(x)? })
    }
    fn apply(&self, state: &mut Tree, _x: &Tensor, dx: &mut Tensor, _leaf: LeafInfo) -> Result<bool> {
        let [m] = fields_mut("Signum", state, ["momentum"])?;
        let m = m.as_tensor_mut()?;
        float_kernel!("Signum", dx, T => {
            let (eta, beta) = (T::c(self.eta), T::c(self.beta));
            let (ms, _) = m.make_mut::<T>()?;
            for (m, d) in ms.iter_mut().zip(dx.make_mut::<T>()?.0.iter_mut()) {
                *m = beta * *m + (T::c(1.0) - beta) * *d;
                *d = eta * sign(*m);
            }
            Ok(true)
        })
    }
}
