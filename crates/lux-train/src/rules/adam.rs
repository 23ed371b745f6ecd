//! Adam and its relatives: [`Adam`], [`AdamW`], [`RAdam`], [`NAdam`],
//! [`OAdam`], [`AdaMax`], [`AMSGrad`], [`AdaBelief`], [`Lion`].
//!
//! The bias-correction powers `βᵗ` live in the state as a pair of numbers
//! (`beta_t`), advanced in the compute type as Optimisers.jl does.

use super::sign;
use crate::rule::{
    LeafInfo, Rule, check_eta, check_not_nan, eps_for, fields_mut, float_kernel, rule_common, rule_struct, values,
    zeros_like,
};
use lux_core::{LuxError, Real, Result, Tensor, Tree, tree};
use rayon::prelude::*;

/// Buffers longer than this are updated in parallel chunks.
const PAR_LEN: usize = 1 << 15;
/// The chunk length of a parallel update.
const CHUNK: usize = 1 << 13;

/// Reads a `(f64, f64)` pair stored as a two-element sequence of floats.
pub(crate) fn read_pair(rule: &str, t: &Tree) -> Result<(f64, f64)> {
    match t.as_seq() {
        Ok([a, b]) => Ok((a.as_float()?, b.as_float()?)),
        _ => Err(LuxError::Structure {
            path: lux_core::ROOT.into(),
            msg: format!("{rule}: the optimiser state's `beta_t` must be a pair of numbers"),
        }),
    }
}

/// A pair of numbers as a state leaf.
pub(crate) fn pair_tree(a: f64, b: f64) -> Tree {
    Tree::seq([Tree::Float(a), Tree::Float(b)])
}

/// The state of an Adam-like rule: two zero moments and `βᵗ = β`, with
/// βᵗ rounded to the compute type of `x` as Optimisers.jl's `T.(β)`.
fn moments_state(x: &Tensor, beta: (f64, f64), third: &str) -> Result<Tree> {
    let round = |v: f64| if x.dtype() == lux_core::DType::F64 { v } else { v as f32 as f64 };
    Ok(Tree::Map(vec![
        ("m".into(), zeros_like(x)?.into()),
        (third.into(), zeros_like(x)?.into()),
        ("beta_t".into(), pair_tree(round(beta.0), round(beta.1))),
    ]))
}

/// Adam's moment updates, `m ← β₁m + (1 − β₁)g` and `v ← β₂v + (1 − β₂)g²`,
/// shared by every rule of the family that keeps both.
#[inline(always)]
fn moments<T: Real>(m: &mut T, v: &mut T, g: T, b1: T, b2: T) {
    *m = b1 * *m + (T::c(1.0) - b1) * g;
    *v = b2 * *v + (T::c(1.0) - b2) * (g * g);
}

/// The per-element constants of one Adam step, in the compute type.
#[derive(Clone, Copy)]
struct AdamConsts<T> {
    b1: T,
    b2: T,
    c1: T, // 1 − β₁ᵗ
    c2: T, // 1 − β₂ᵗ
    eps: T,
    eta: T,
}

impl<T: Real> AdamConsts<T> {
    /// Advances `m`, `v` with gradient `g` and returns Δ, in Optimisers.jl's order of operations.
    #[inline(always)]
    fn step(&self, m: &mut T, v: &mut T, g: T) -> T {
        moments(m, v, g, self.b1, self.b2);
        *m / self.c1 / ((*v / self.c2).sqrt() + self.eps) * self.eta
    }
}

/// Runs Adam's step over the moments: with `subtract`, `target ← target − Δ`
/// (the parameter), else `target ← Δ` (the gradient's buffer). Parallel
/// over long buffers.
fn adam_pass<T: Real>(k: AdamConsts<T>, subtract: bool, ms: &mut [T], vs: &mut [T], gs: &[T], target: &mut [T]) {
    if target.len() > PAR_LEN {
        target
            .par_chunks_mut(CHUNK)
            .zip(ms.par_chunks_mut(CHUNK))
            .zip(vs.par_chunks_mut(CHUNK))
            .zip(gs.par_chunks(CHUNK))
            .for_each(|(((t, m), v), g)| adam_run(k, subtract, m, v, g, t));
    } else {
        adam_run(k, subtract, ms, vs, gs, target);
    }
}

lux_core::with_simd! {
    /// One stretch of [`adam_pass`]: zipped slices (no bounds checks, so the
    /// loop vectorises), compiled for the widest vector unit found at run
    /// time. Each element costs three divisions and a square root, which
    /// at baseline SSE2 width made Adam about a tenth of the MNIST step.
    fn adam_run<T: Real>(k: AdamConsts<T>, subtract: bool, ms: &mut [T], vs: &mut [T], gs: &[T], target: &mut [T]) {
        for (((m, v), &g), t) in ms.iter_mut().zip(vs.iter_mut()).zip(gs).zip(target.iter_mut()) {
            let d = k.step(m, v, g);
            *t = if subtract { *t - d } else { d };
        }
    }
}

rule_struct! {
    /// Adam (Optimisers.jl's `Adam`): `m ← β₁m + (1 − β₁)g`,
    /// `v ← β₂v + (1 − β₂)g²`, `Δ = m/(1 − β₁ᵗ) / (√(v/(1 − β₂ᵗ)) + ε) · η`,
    /// then `βᵗ ← βᵗ·β` (βᵗ starts at β). ε is at least 1e-7 for f16
    /// parameters. Defaults `eta = 0.001`, `beta = (0.9, 0.999)`,
    /// `epsilon = 1e-8`.
    ///
    /// A whole step ([`Rule::update`]) is one fused pass over the
    /// parameter, both moments and the gradient, in place.
    ///
    /// ```
    /// use lux_core::{tree, Tensor};
    /// use lux_train::{setup, Adam};
    /// let mut ps = tree! { w: Tensor::from_vec(vec![1.0f64], &[1])? };
    /// let mut opt = setup(Adam::new(0.1), &ps)?;
    /// opt.update_mut(&mut ps, &tree! { w: Tensor::from_vec(vec![4.0f64], &[1])? })?;
    /// // the first Adam step is η·sign(g) (up to ε)
    /// assert!((ps.tensor("w")?.to_vec::<f64>()?[0] - 0.9).abs() < 1e-8);
    /// assert_eq!(opt.rule().to_string(), "Adam(eta=0.1, beta=(0.9, 0.999), epsilon=1.0e-8)");
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    Adam {
        /// Learning rate η.
        eta: f64 = 0.001,
        /// Decay rates (β₁, β₂) of the moments.
        beta: (f64, f64) = (0.9, 0.999),
        /// ε of the denominator.
        epsilon: f64 = 1e-8,
    }
}

impl Adam {
    /// Adam with learning rate `eta` and the default β and ε.
    pub fn new(eta: f64) -> Adam {
        Adam { eta, ..Adam::default() }
    }

    /// The step's constants, and the advanced βᵗ, from the state.
    fn consts<T: Real>(&self, beta_t: &Tree, leaf: LeafInfo) -> Result<(AdamConsts<T>, (f64, f64))> {
        let (b1t, b2t) = read_pair("Adam", beta_t)?;
        let (b1, b2) = (T::c(self.beta.0), T::c(self.beta.1));
        let (b1t, b2t) = (T::c(b1t), T::c(b2t));
        let k = AdamConsts {
            b1,
            b2,
            c1: T::c(1.0) - b1t,
            c2: T::c(1.0) - b2t,
            eps: T::c(eps_for(self.epsilon, leaf)),
            eta: T::c(self.eta),
        };
        let next = (lux_core::Element::to_f64(b1t * b1), lux_core::Element::to_f64(b2t * b2));
        Ok((k, next))
    }

    fn step(&self, state: &mut Tree, target: &mut Tensor, g: Option<&Tensor>, leaf: LeafInfo) -> Result<()> {
        let [m, v, beta_t] = fields_mut("Adam", state, ["m", "v", "beta_t"])?;
        let next = float_kernel!("Adam", target, T => {
            let (k, next) = self.consts::<T>(beta_t, leaf)?;
            let (ms, _) = m.as_tensor_mut()?.make_mut::<T>()?;
            let (vs, _) = v.as_tensor_mut()?.make_mut::<T>()?;
            match g {
                // update: x ← x − Δ, with the gradient read from `g`
                Some(g) => {
                    let gs = values::<T>(g)?;
                    adam_pass(k, true, ms, vs, &gs, target.make_mut::<T>()?.0);
                }
                // apply: dx ← Δ; the gradient is read before it is overwritten
                None => {
                    let (ds, _) = target.make_mut::<T>()?;
                    let gs: Vec<T> = ds.to_vec();
                    adam_pass(k, false, ms, vs, &gs, ds);
                }
            }
            Ok(next)
        })?;
        *beta_t = pair_tree(next.0, next.1);
        Ok(())
    }
}

impl Rule for Adam {
    rule_common!(Adam);
    fn validate(&self) -> Result<()> {
        check_eta("Adam", self.eta)?;
        check_not_nan("Adam", &[("beta", self.beta.0), ("beta", self.beta.1), ("epsilon", self.epsilon)])
    }
    fn init(&self, x: &Tensor) -> Result<Tree> {
        moments_state(x, self.beta, "v")
    }
    fn apply(&self, state: &mut Tree, _x: &Tensor, dx: &mut Tensor, leaf: LeafInfo) -> Result<bool> {
        self.step(state, dx, None, leaf)?;
        Ok(true)
    }
    fn update(&self, state: &mut Tree, x: &mut Tensor, g: &Tensor, leaf: LeafInfo) -> Result<()> {
        self.step(state, x, Some(g), leaf)
    }
}

/// `βᵗ·β`, computed in the compute type `T` (Optimisers.jl's `βt .* β`).
fn advance<T: Real>(beta_t: (f64, f64), beta: (f64, f64)) -> Tree {
    let f = |bt: f64, b: f64| lux_core::Element::to_f64(T::c(bt) * T::c(b));
    pair_tree(f(beta_t.0, beta.0), f(beta_t.1, beta.1))
}

/// The checks every Adam variant shares.
fn check_adam_like(rule: &str, eta: f64, beta: (f64, f64), epsilon: f64) -> Result<()> {
    check_eta(rule, eta)?;
    check_not_nan(rule, &[("beta", beta.0), ("beta", beta.1), ("epsilon", epsilon)])
}

rule_struct! {
    /// Adam with decoupled weight decay (Optimisers.jl's `AdamW`): with
    /// `Δ′` Adam's step without η, `Δ = η·(Δ′ + λ·x)` when `couple`
    /// (the default), else `Δ = η·Δ′ + λ·x`. As in Optimisers.jl, ε is not
    /// raised for f16. Defaults `eta = 0.001`, `beta = (0.9, 0.999)`,
    /// `lambda = 0`, `epsilon = 1e-8`, `couple = true`.
    ///
    /// ```
    /// use lux_train::{AdamW, Rule};
    /// let rule = AdamW::default().lambda(0.01);
    /// assert_eq!((&rule as &dyn Rule).to_string(), "AdamW(eta=0.001, beta=(0.9, 0.999), lambda=0.01, epsilon=1.0e-8, couple=true)");
    /// ```
    AdamW {
        /// Learning rate η.
        eta: f64 = 0.001,
        /// Decay rates (β₁, β₂) of the moments.
        beta: (f64, f64) = (0.9, 0.999),
        /// Weight decay λ.
        lambda: f64 = 0.0,
        /// ε of the denominator.
        epsilon: f64 = 1e-8,
        /// Whether the decay is scaled by η.
        couple: bool = true,
    }
}

impl Rule for AdamW {
    rule_common!(AdamW);
    fn validate(&self) -> Result<()> {
        check_adam_like("AdamW", self.eta, self.beta, self.epsilon)?;
        check_not_nan("AdamW", &[("lambda", self.lambda)])
    }
    fn init(&self, x: &Tensor) -> Result<Tree> {
        moments_state(x, self.beta, "v")
    }
    fn apply(&self, state: &mut Tree, x: &Tensor, dx: &mut Tensor, _leaf: LeafInfo) -> Result<bool> {
        let [m, v, beta_t] = fields_mut("AdamW", state, ["m", "v", "beta_t"])?;
        let bt = read_pair("AdamW", beta_t)?;
        let next = float_kernel!("AdamW", dx, T => {
            let (b1, b2, eps, eta, lambda) =
                (T::c(self.beta.0), T::c(self.beta.1), T::c(self.epsilon), T::c(self.eta), T::c(self.lambda));
            let (c1, c2) = (T::c(1.0) - T::c(bt.0), T::c(1.0) - T::c(bt.1));
            let xs = values::<T>(x)?;
            let (ms, _) = m.as_tensor_mut()?.make_mut::<T>()?;
            let (vs, _) = v.as_tensor_mut()?.make_mut::<T>()?;
            let (ds, _) = dx.make_mut::<T>()?;
            for i in 0..ds.len() {
                let g = ds[i];
                moments(&mut ms[i], &mut vs[i], g, b1, b2);
                let d = ms[i] / c1 / ((vs[i] / c2).sqrt() + eps);
                ds[i] = if self.couple { eta * (d + lambda * xs[i]) } else { eta * d + lambda * xs[i] };
            }
            Ok(advance::<T>(bt, self.beta))
        })?;
        *beta_t = next;
        Ok(true)
    }
}

rule_struct! {
    /// Rectified Adam (Optimisers.jl's `RAdam`): with
    /// `ρ∞ = 2/(1 − β₂) − 1` and `ρ = ρ∞ − 2t·β₂ᵗ/(1 − β₂ᵗ)` at step `t`,
    /// Adam's step scaled by `r = √((ρ − 4)(ρ − 2)ρ∞ / ((ρ∞ − 4)(ρ∞ − 2)ρ))`
    /// when `ρ > 4`, else the bias-corrected momentum `η·m/(1 − β₁ᵗ)`.
    /// Defaults `eta = 0.001`, `beta = (0.9, 0.999)`, `epsilon = 1e-8`.
    ///
    /// ```
    /// use lux_train::{RAdam, Rule};
    /// assert_eq!((&RAdam::default() as &dyn Rule).to_string(), "RAdam(eta=0.001, beta=(0.9, 0.999), epsilon=1.0e-8)");
    /// ```
    RAdam {
        /// Learning rate η.
        eta: f64 = 0.001,
        /// Decay rates (β₁, β₂) of the moments.
        beta: (f64, f64) = (0.9, 0.999),
        /// ε of the denominator.
        epsilon: f64 = 1e-8,
    }
}

impl Rule for RAdam {
    rule_common!(RAdam);
    fn validate(&self) -> Result<()> {
        check_adam_like("RAdam", self.eta, self.beta, self.epsilon)
    }
    fn init(&self, x: &Tensor) -> Result<Tree> {
        let mut st = moments_state(x, self.beta, "v")?;
        st.insert("t", 1i64)?;
        Ok(st)
    }
    fn apply(&self, state: &mut Tree, _x: &Tensor, dx: &mut Tensor, leaf: LeafInfo) -> Result<bool> {
        let [m, v, beta_t, t] = fields_mut("RAdam", state, ["m", "v", "beta_t", "t"])?;
        let bt = read_pair("RAdam", beta_t)?;
        let step = t.as_int()?;
        let next = float_kernel!("RAdam", dx, T => {
            let (b1, b2, eps, eta) =
                (T::c(self.beta.0), T::c(self.beta.1), T::c(eps_for(self.epsilon, leaf)), T::c(self.eta));
            let (b1t, b2t) = (T::c(bt.0), T::c(bt.1));
            let two = T::c(2.0);
            let four = T::c(4.0);
            let rho_inf = two / (T::c(1.0) - b2) - T::c(1.0);
            let rho = rho_inf - two * T::c(step as f64) * b2t / (T::c(1.0) - b2t);
            let (ms, _) = m.as_tensor_mut()?.make_mut::<T>()?;
            let (vs, _) = v.as_tensor_mut()?.make_mut::<T>()?;
            let (ds, _) = dx.make_mut::<T>()?;
            let rectify = rho > four;
            let r = if rectify {
                ((rho - four) * (rho - two) * rho_inf / ((rho_inf - four) * (rho_inf - two) * rho)).sqrt()
            } else {
                T::c(1.0)
            };
            for i in 0..ds.len() {
                let g = ds[i];
                moments(&mut ms[i], &mut vs[i], g, b1, b2);
                ds[i] = if rectify {
                    ms[i] / (T::c(1.0) - b1t) / ((vs[i] / (T::c(1.0) - b2t)).sqrt() + eps) * eta * r
                } else {
                    ms[i] / (T::c(1.0) - b1t) * eta
                };
            }
            Ok(advance::<T>(bt, self.beta))
        })?;
        *beta_t = next;
        *t = Tree::Int(step + 1);
        Ok(true)
    }
}

rule_struct! {
    /// Nesterov-accelerated Adam (Optimisers.jl's `NAdam`):
    /// `Δ = (β₁m/(1 − β₁β₁ᵗ) + (1 − β₁)g/(1 − β₁ᵗ)) / (√(β₂v/(1 − β₂ᵗ)) + ε) · η`.
    /// Defaults `eta = 0.001`, `beta = (0.9, 0.999)`, `epsilon = 1e-8`.
    ///
    /// ```
    /// use lux_train::{NAdam, Rule};
    /// assert_eq!((&NAdam::default() as &dyn Rule).to_string(), "NAdam(eta=0.001, beta=(0.9, 0.999), epsilon=1.0e-8)");
    /// ```
    NAdam {
        /// Learning rate η.
        eta: f64 = 0.001,
        /// Decay rates (β₁, β₂) of the moments.
        beta: (f64, f64) = (0.9, 0.999),
        /// ε of the denominator.
        epsilon: f64 = 1e-8,
    }
}

impl Rule for NAdam {
    rule_common!(NAdam);
    fn validate(&self) -> Result<()> {
        check_adam_like("NAdam", self.eta, self.beta, self.epsilon)
    }
    fn init(&self, x: &Tensor) -> Result<Tree> {
        moments_state(x, self.beta, "v")
    }
    fn apply(&self, state: &mut Tree, _x: &Tensor, dx: &mut Tensor, leaf: LeafInfo) -> Result<bool> {
        let [m, v, beta_t] = fields_mut("NAdam", state, ["m", "v", "beta_t"])?;
        let bt = read_pair("NAdam", beta_t)?;
        let next = float_kernel!("NAdam", dx, T => {
            let (b1, b2, eps, eta) =
                (T::c(self.beta.0), T::c(self.beta.1), T::c(eps_for(self.epsilon, leaf)), T::c(self.eta));
            let (b1t, b2t) = (T::c(bt.0), T::c(bt.1));
            let (ms, _) = m.as_tensor_mut()?.make_mut::<T>()?;
            let (vs, _) = v.as_tensor_mut()?.make_mut::<T>()?;
            let (ds, _) = dx.make_mut::<T>()?;
            for i in 0..ds.len() {
                let g = ds[i];
                moments(&mut ms[i], &mut vs[i], g, b1, b2);
                ds[i] = (b1 * ms[i] / (T::c(1.0) - b1 * b1t) + (T::c(1.0) - b1) * g / (T::c(1.0) - b1t))
                    / ((vs[i] * b2 / (T::c(1.0) - b2t)).sqrt() + eps)
                    * eta;
            }
            Ok(advance::<T>(bt, self.beta))
        })?;
        *beta_t = next;
        Ok(true)
    }
}

rule_struct! {
    /// Optimistic Adam (Optimisers.jl's `OAdam`): with `term` Adam's
    /// η-scaled step of this iteration, `Δ = 2·term − term_prev`.
    /// Defaults `eta = 0.001`, `beta = (0.5, 0.9)`, `epsilon = 1e-8`.
    ///
    /// ```
    /// use lux_train::{OAdam, Rule};
    /// assert_eq!((&OAdam::default() as &dyn Rule).to_string(), "OAdam(eta=0.001, beta=(0.5, 0.9), epsilon=1.0e-8)");
    /// ```
    OAdam {
        /// Learning rate η.
        eta: f64 = 0.001,
        /// Decay rates (β₁, β₂) of the moments.
        beta: (f64, f64) = (0.5, 0.9),
        /// ε of the denominator.
        epsilon: f64 = 1e-8,
    }
}

impl Rule for OAdam {
    rule_common!(OAdam);
    fn validate(&self) -> Result<()> {
        check_adam_like("OAdam", self.eta, self.beta, self.epsilon)
    }
    fn init(&self, x: &Tensor) -> Result<Tree> {
        let mut st = moments_state(x, self.beta, "v")?;
        st.insert("term", zeros_like(x)?)?;
        Ok(st)
    }
    fn apply(&self, state: &mut Tree, _x: &Tensor, dx: &mut Tensor, leaf: LeafInfo) -> Result<bool> {
        let [m, v, beta_t, term] = fields_mut("OAdam", state, ["m", "v", "beta_t", "term"])?;
        let bt = read_pair("OAdam", beta_t)?;
        let next = float_kernel!("OAdam", dx, T => {
            let (b1, b2, eps, eta) =
                (T::c(self.beta.0), T::c(self.beta.1), T::c(eps_for(self.epsilon, leaf)), T::c(self.eta));
            let (c1, c2) = (T::c(1.0) - T::c(bt.0), T::c(1.0) - T::c(bt.1));
            let (ms, _) = m.as_tensor_mut()?.make_mut::<T>()?;
            let (vs, _) = v.as_tensor_mut()?.make_mut::<T>()?;
            let (ts, _) = term.as_tensor_mut()?.make_mut::<T>()?;
            let (ds, _) = dx.make_mut::<T>()?;
            for i in 0..ds.len() {
                let g = ds[i];
                moments(&mut ms[i], &mut vs[i], g, b1, b2);
                let prev = ts[i];
                ts[i] = eta * ms[i] / c1 / ((vs[i] / c2).sqrt() + eps);
                ds[i] = T::c(2.0) * ts[i] - prev;
            }
            Ok(advance::<T>(bt, self.beta))
        })?;
        *beta_t = next;
        Ok(true)
    }
}

rule_struct! {
    /// AdaMax, Adam with the ∞-norm (Optimisers.jl's `AdaMax`):
    /// `u ← max(β₂u, |g|)`, `Δ = (η/(1 − β₁ᵗ))·m/(u + ε)`.
    /// Defaults `eta = 0.001`, `beta = (0.9, 0.999)`, `epsilon = 1e-8`.
    ///
    /// ```
    /// use lux_train::{AdaMax, Rule};
    /// assert_eq!((&AdaMax::default() as &dyn Rule).to_string(), "AdaMax(eta=0.001, beta=(0.9, 0.999), epsilon=1.0e-8)");
    /// ```
    AdaMax {
        /// Learning rate η.
        eta: f64 = 0.001,
        /// Decay rates (β₁, β₂).
        beta: (f64, f64) = (0.9, 0.999),
        /// ε of the denominator.
        epsilon: f64 = 1e-8,
    }
}

impl Rule for AdaMax {
    rule_common!(AdaMax);
    fn validate(&self) -> Result<()> {
        check_adam_like("AdaMax", self.eta, self.beta, self.epsilon)
    }
    fn init(&self, x: &Tensor) -> Result<Tree> {
        moments_state(x, self.beta, "u")
    }
    fn apply(&self, state: &mut Tree, _x: &Tensor, dx: &mut Tensor, leaf: LeafInfo) -> Result<bool> {
        let [m, u, beta_t] = fields_mut("AdaMax", state, ["m", "u", "beta_t"])?;
        let bt = read_pair("AdaMax", beta_t)?;
        let next = float_kernel!("AdaMax", dx, T => {
            let (b1, b2, eps, eta) =
                (T::c(self.beta.0), T::c(self.beta.1), T::c(eps_for(self.epsilon, leaf)), T::c(self.eta));
            let scale = eta / (T::c(1.0) - T::c(bt.0));
            let (ms, _) = m.as_tensor_mut()?.make_mut::<T>()?;
            let (us, _) = u.as_tensor_mut()?.make_mut::<T>()?;
            let (ds, _) = dx.make_mut::<T>()?;
            for i in 0..ds.len() {
                let g = ds[i];
                ms[i] = b1 * ms[i] + (T::c(1.0) - b1) * g;
                us[i] = (b2 * us[i]).max(g.abs());
                ds[i] = scale * ms[i] / (us[i] + eps);
            }
            Ok(advance::<T>(bt, self.beta))
        })?;
        *beta_t = next;
        Ok(true)
    }
}

rule_struct! {
    /// AMSGrad (Optimisers.jl's `AMSGrad`): Adam's moments with
    /// `v̂ ← max(v̂, v)` and no bias correction, `Δ = η·m/(√v̂ + ε)`; all
    /// three moments start at ε, as in Optimisers.jl. Defaults
    /// `eta = 0.001`, `beta = (0.9, 0.999)`, `epsilon = 1e-8`.
    ///
    /// ```
    /// use lux_train::{AMSGrad, Rule};
    /// assert_eq!((&AMSGrad::default() as &dyn Rule).to_string(), "AMSGrad(eta=0.001, beta=(0.9, 0.999), epsilon=1.0e-8)");
    /// ```
    AMSGrad {
        /// Learning rate η.
        eta: f64 = 0.001,
        /// Decay rates (β₁, β₂) of the moments.
        beta: (f64, f64) = (0.9, 0.999),
        /// ε of the denominator, and the moments' starting value.
        epsilon: f64 = 1e-8,
    }
}

impl Rule for AMSGrad {
    rule_common!(AMSGrad);
    fn validate(&self) -> Result<()> {
        check_adam_like("AMSGrad", self.eta, self.beta, self.epsilon)
    }
    fn init(&self, x: &Tensor) -> Result<Tree> {
        let e = || Tensor::full(x.shape(), self.epsilon, x.dtype());
        Ok(tree! { m: e()?, v: e()?, v_max: e()? })
    }
    fn apply(&self, state: &mut Tree, _x: &Tensor, dx: &mut Tensor, leaf: LeafInfo) -> Result<bool> {
        let [m, v, v_max] = fields_mut("AMSGrad", state, ["m", "v", "v_max"])?;
        float_kernel!("AMSGrad", dx, T => {
            let (b1, b2, eps, eta) =
                (T::c(self.beta.0), T::c(self.beta.1), T::c(eps_for(self.epsilon, leaf)), T::c(self.eta));
            let (ms, _) = m.as_tensor_mut()?.make_mut::<T>()?;
            let (vs, _) = v.as_tensor_mut()?.make_mut::<T>()?;
            let (hs, _) = v_max.as_tensor_mut()?.make_mut::<T>()?;
            let (ds, _) = dx.make_mut::<T>()?;
            for i in 0..ds.len() {
                let g = ds[i];
                moments(&mut ms[i], &mut vs[i], g, b1, b2);
                hs[i] = hs[i].max(vs[i]);
                ds[i] = eta * ms[i] / (hs[i].sqrt() + eps);
            }
            Ok(true)
        })
    }
}

rule_struct! {
    /// AdaBelief (Optimisers.jl's `AdaBelief`): the second moment tracks
    /// the gradient's deviation from its mean,
    /// `s ← β₂s + (1 − β₂)(g − m)² + ε`, `Δ = η·m/(1 − β₁ᵗ) / (√(s/(1 − β₂ᵗ)) + ε)`.
    /// Defaults `eta = 0.001`, `beta = (0.9, 0.999)`, `epsilon = 1e-16`.
    ///
    /// ```
    /// use lux_train::{AdaBelief, Rule};
    /// assert_eq!((&AdaBelief::default() as &dyn Rule).to_string(), "AdaBelief(eta=0.001, beta=(0.9, 0.999), epsilon=1.0e-16)");
    /// ```
    AdaBelief {
        /// Learning rate η.
        eta: f64 = 0.001,
        /// Decay rates (β₁, β₂) of the moments.
        beta: (f64, f64) = (0.9, 0.999),
        /// ε, added to the second moment and to the denominator.
        epsilon: f64 = 1e-16,
    }
}

impl Rule for AdaBelief {
    rule_common!(AdaBelief);
    fn validate(&self) -> Result<()> {
        check_adam_like("AdaBelief", self.eta, self.beta, self.epsilon)
    }
    fn init(&self, x: &Tensor) -> Result<Tree> {
        moments_state(x, self.beta, "s")
    }
    fn apply(&self, state: &mut Tree, _x: &Tensor, dx: &mut Tensor, leaf: LeafInfo) -> Result<bool> {
        let [m, s, beta_t] = fields_mut("AdaBelief", state, ["m", "s", "beta_t"])?;
        let bt = read_pair("AdaBelief", beta_t)?;
        let next = float_kernel!("AdaBelief", dx, T => {
            let (b1, b2, eps, eta) =
                (T::c(self.beta.0), T::c(self.beta.1), T::c(eps_for(self.epsilon, leaf)), T::c(self.eta));
            let (c1, c2) = (T::c(1.0) - T::c(bt.0), T::c(1.0) - T::c(bt.1));
            let (ms, _) = m.as_tensor_mut()?.make_mut::<T>()?;
            let (ss, _) = s.as_tensor_mut()?.make_mut::<T>()?;
            let (ds, _) = dx.make_mut::<T>()?;
            for i in 0..ds.len() {
                let g = ds[i];
                ms[i] = b1 * ms[i] + (T::c(1.0) - b1) * g;
                let dev = g - ms[i];
                ss[i] = b2 * ss[i] + (T::c(1.0) - b2) * (dev * dev) + eps;
                ds[i] = eta * ms[i] / c1 / ((ss[i] / c2).sqrt() + eps);
            }
            Ok(advance::<T>(bt, self.beta))
        })?;
        *beta_t = next;
        Ok(true)
    }
}

rule_struct! {
    /// Lion, as in the paper (Chen et al. 2023): `c = β₁m + (1 − β₁)g`,
    /// `Δ = η·sign(c)`, then `m ← β₂m + (1 − β₂)g`. (Optimisers.jl swaps
    /// the weights of the momentum update; DESIGN.md records this
    /// departure.) Defaults `eta = 0.001`, `beta = (0.9, 0.999)`.
    ///
    /// ```
    /// use lux_core::{tree, Tensor};
    /// use lux_train::{setup, Lion};
    /// let mut ps = tree! { w: Tensor::from_vec(vec![1.0f64, 1.0], &[2])? };
    /// let mut opt = setup(Lion::default().eta(0.1), &ps)?;
    /// opt.update_mut(&mut ps, &tree! { w: Tensor::from_vec(vec![3.0f64, -0.5], &[2])? })?;
    /// assert_eq!(ps.tensor("w")?.to_vec::<f64>()?, vec![0.9, 1.1]); // η·sign
    /// // m = (1 − β₂)·g
    /// assert!((opt.tree().tensor("w.m")?.to_vec::<f64>()?[0] - 0.003).abs() < 1e-15);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    Lion {
        /// Learning rate η.
        eta: f64 = 0.001,
        /// (β₁, β₂): the interpolation of the step's sign and the momentum's decay.
        beta: (f64, f64) = (0.9, 0.999),
    }
}

impl Rule for Lion {
    rule_common!(Lion);
    fn validate(&self) -> Result<()> {
        check_eta("Lion", self.eta)?;
        check_not_nan("Lion", &[("beta", self.beta.0), ("beta", self.beta.1)])
    }
    fn init(&self, x: &Tensor) -> Result<Tree> {
        Ok(tree! { m: zeros_like(x)? })
    }
    fn apply(&self, state: &mut Tree, _x: &Tensor, dx: &mut Tensor, _leaf: LeafInfo) -> Result<bool> {
        let [m] = fields_mut("Lion", state, ["m"])?;
        float_kernel!("Lion", dx, T => {
            let (b1, b2, eta) = (T::c(self.beta.0), T::c(self.beta.1), T::c(self.eta));
            let (ms, _) = m.as_tensor_mut()?.make_mut::<T>()?;
            let (ds, _) = dx.make_mut::<T>()?;
            for i in 0..ds.len() {
                let g = ds[i];
                let c = b1 * ms[i] + (T::c(1.0) - b1) * g;
                ms[i] = b2 * ms[i] + (T::c(1.0) - b2) * g;
                ds[i] = eta * sign(c);
            }
            Ok(true)
        })
    }
}
