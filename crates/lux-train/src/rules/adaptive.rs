//! Per-element adaptive learning rates: [`RMSProp`], [`AdaGrad`],
//! [`AdaDelta`].

use crate::rule::{
    LeafInfo, Rule, check_eta, check_not_nan, eps_for, fields_mut, float_kernel, rule_common, rule_struct, zeros_like,
};

use lux_core::{LuxError, Real, Result, Tensor, Tree, tree};

rule_struct! {
    /// RMSProp (Optimisers.jl's `RMSProp`): `q ← ρq + (1 − ρ)g²`,
    /// `Δ = η·g/(√(q − ℓ²) + ε)` where, when `centred`, `ℓ ← ρℓ + (1 − ρ)g`
    /// (else ℓ = 0). Defaults `eta = 0.001`, `rho = 0.9`, `epsilon = 1e-8`,
    /// `centred = false`; `centred` cannot be adjusted on a set-up state
    /// (the variants keep different states), as in Optimisers.jl.
    ///
    /// ```
    /// use lux_train::{RMSProp, Rule};
    /// let rule = RMSProp::default().centred(true);
    /// assert_eq!((&rule as &dyn Rule).to_string(), "RMSProp(eta=0.001, rho=0.9, epsilon=1.0e-8, centred=true)");
    /// ```
    RMSProp {
        /// Learning rate η.
        eta: f64 = 0.001,
        /// Decay ρ of the averages.
        rho: f64 = 0.9,
        /// ε of the denominator.
        epsilon: f64 = 1e-8,
        /// Whether to normalise by the variance estimate (centred RMSProp).
        centred: bool = false,
    }
}

impl Rule for RMSProp {
    fn name(&self) -> &'static str {
        "RMSProp"
    }
    fn hyperparameters(&self) -> Vec<(&'static str, crate::Hyper)> {
        self.hyper_list()
    }
    /// As for every rule, except that `centred` cannot be adjusted (the
    /// variants keep different states; Optimisers.jl refuses it too).
    fn set_hyperparameter(&mut self, name: &str, value: crate::Hyper) -> Result<()> {
        if name == "centred" {
            return Err(LuxError::invalid_argument(
                "RMSProp",
                "`centred` cannot be adjusted, as the variants keep different states; build a new rule instead",
            ));
        }
        self.set_hyper(name, value)
    }
    fn boxed_clone(&self) -> Box<dyn Rule> {
        Box::new(self.clone())
    }
    fn validate(&self) -> Result<()> {
        check_eta("RMSProp", self.eta)?;
        check_not_nan("RMSProp", &[("rho", self.rho), ("epsilon", self.epsilon)])
    }
    fn init(&self, x: &Tensor) -> Result<Tree> {
        if self.centred {
            Ok(tree! { quad: zeros_like(x)?, lin: zeros_like(x)? })
        } else {
            Ok(tree! { quad: zeros_like(x)? })
        }
    }
    fn apply(&self, state: &mut Tree, _x: &Tensor, dx: &mut Tensor, leaf: LeafInfo) -> Result<bool> {
        float_kernel!("RMSProp", dx, T => {
            let (eta, rho, eps) = (T::c(self.eta), T::c(self.rho), T::c(eps_for(self.epsilon, leaf)));
            let one = T::c(1.0);
            if self.centred {
                let [q, l] = fields_mut("RMSProp", state, ["quad", "lin"])?;
                let (qs, _) = q.as_tensor_mut()?.make_mut::<T>()?;
                let (ls, _) = l.as_tensor_mut()?.make_mut::<T>()?;
                let (ds, _) = dx.make_mut::<T>()?;
                for i in 0..ds.len() {
                    let g = ds[i];
                    qs[i] = rho * qs[i] + (one - rho) * (g * g);
                    ls[i] = rho * ls[i] + (one - rho) * g;
                    ds[i] = g * eta / ((qs[i] - ls[i] * ls[i]).sqrt() + eps);
                }
            } else {
                let [q] = fields_mut("RMSProp", state, ["quad"])?;
                let (qs, _) = q.as_tensor_mut()?.make_mut::<T>()?;
                let (ds, _) = dx.make_mut::<T>()?;
                for i in 0..ds.len() {
                    let g = ds[i];
                    qs[i] = rho * qs[i] + (one - rho) * (g * g);
                    ds[i] = g * eta / (qs[i].sqrt() + eps);
                }
            }
            Ok(true)
        })
    }
}

rule_struct! {
    /// AdaGrad (Optimisers.jl's `AdaGrad`): `a ← a + g²`,
    /// `Δ = η·g/(√a + ε)`; the accumulator starts at ε, as in
    /// Optimisers.jl. Defaults `eta = 0.1`, `epsilon = 1e-8`.
    ///
    /// ```
    /// use lux_train::{AdaGrad, Rule};
    /// assert_eq!((&AdaGrad::default() as &dyn Rule).to_string(), "AdaGrad(eta=0.1, epsilon=1.0e-8)");
    /// ```
    AdaGrad {
        /// Learning rate η.
        eta: f64 = 0.1,
        /// ε of the denominator, and the accumulator's starting value.
        epsilon: f64 = 1e-8,
    }
}

impl Rule for AdaGrad {
    rule_common!(AdaGrad);
    fn validate(&self) -> Result<()> {
        check_eta("AdaGrad", self.eta)?;
        check_not_nan("AdaGrad", &[("epsilon", self.epsilon)])
    }
    fn init(&self, x: &Tensor) -> Result<Tree> {
        Ok(tree! { acc: Tensor::full(x.shape(), self.epsilon, x.dtype())? })
    }
    fn apply(&self, state: &mut Tree, _x: &Tensor, dx: &mut Tensor, leaf: LeafInfo) -> Result<bool> {
        let [acc] = fields_mut("AdaGrad", state, ["acc"])?;
        float_kernel!("AdaGrad", dx, T => {
            let (eta, eps) = (T::c(self.eta), T::c(eps_for(self.epsilon, leaf)));
            let (acc, _) = acc.as_tensor_mut()?.make_mut::<T>()?;
            let (ds, _) = dx.make_mut::<T>()?;
            for i in 0..ds.len() {
                let g = ds[i];
                acc[i] += g * g;
                ds[i] = g * eta / (acc[i].sqrt() + eps);
            }
            Ok(true)
        })
    }
}

rule_struct! {
    /// AdaDelta (Optimisers.jl's `AdaDelta`): `a ← ρa + (1 − ρ)g²`,
    /// `Δ = g·√(d + ε)/√(a + ε)` with the old `d`, then
    /// `d ← ρd + (1 − ρ)Δ²`. No learning rate. Defaults `rho = 0.9`,
    /// `epsilon = 1e-8`.
    ///
    /// ```
    /// use lux_train::{AdaDelta, Rule};
    /// assert_eq!((&AdaDelta::default() as &dyn Rule).to_string(), "AdaDelta(rho=0.9, epsilon=1.0e-8)");
    /// ```
    AdaDelta {
        /// Decay ρ of the averages.
        rho: f64 = 0.9,
        /// ε inside both square roots.
        epsilon: f64 = 1e-8,
    }
}

impl Rule for AdaDelta {
    rule_common!(AdaDelta);
    fn validate(&self) -> Result<()> {
        check_not_nan("AdaDelta", &[("rho", self.rho), ("epsilon", self.epsilon)])
    }
    fn init(&self, x: &Tensor) -> Result<Tree> {
        Ok(tree! { acc: zeros_like(x)?, delta_acc: zeros_like(x)? })
    }
    fn apply(&self, state: &mut Tree, _x: &Tensor, dx: &mut Tensor, leaf: LeafInfo) -> Result<bool> {
        let [acc, dacc] = fields_mut("AdaDelta", state, ["acc", "delta_acc"])?;
        float_kernel!("AdaDelta", dx, T => {
            let (rho, eps) = (T::c(self.rho), T::c(eps_for(self.epsilon, leaf)));
            let one = T::c(1.0);
            let (acc, _) = acc.as_tensor_mut()?.make_mut::<T>()?;
            let (dacc, _) = dacc.as_tensor_mut()?.make_mut::<T>()?;
            let (ds, _) = dx.make_mut::<T>()?;
            for i in 0..ds.len() {
                let g = ds[i];
                acc[i] = rho * acc[i] + (one - rho) * (g * g);
                let d = g * (dacc[i] + eps).sqrt() / (acc[i] + eps).sqrt();
                dacc[i] = rho * dacc[i] + (one - rho) * (d * d);
                ds[i] = d;
            }
            Ok(true)
        })
    }
}
