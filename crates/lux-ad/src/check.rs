//! Gradient checking against central finite differences in f64.

use crate::backend::{AdBackend, AutoTape};
use lux_core::{DType, LuxError, Result, Tensor, Tree};

/// Tolerances for [`check_gradients`]: an element passes when
/// `|analytic − numeric| ≤ atol + rtol·|numeric|`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Tolerances {
    /// Absolute tolerance.
    pub atol: f64,
    /// Relative tolerance.
    pub rtol: f64,
}

impl Default for Tolerances {
    /// `atol = 1e-6`, `rtol = 1e-5`: tight, for f64 functions.
    fn default() -> Self {
        Tolerances { atol: 1e-6, rtol: 1e-5 }
    }
}

/// What [`check_gradients`] found: the worst element over all leaves.
#[derive(Clone, Debug, PartialEq)]
pub struct GradCheckReport {
    /// Leaf path of the worst element (empty if there are no elements).
    pub path: String,
    /// Its flat row-major index within the leaf.
    pub index: usize,
    /// The backend's gradient there.
    pub analytic: f64,
    /// The finite-difference gradient there.
    pub numeric: f64,
    /// `|analytic − numeric| / max(|numeric|, atol)` at the worst element.
    pub rel_error: f64,
    /// Number of elements compared.
    pub checked: usize,
}

fn to_f64_tree(x: &Tree) -> Result<Tree> {
    x.try_map(|_, t| if t.dtype().is_float() { t.detach().to_dtype(DType::F64) } else { Ok(t.clone()) })
}

/// Central-difference gradient of `f` at `x`, computed in f64.
pub(crate) fn finite_difference_gradient(
    f: &dyn Fn(&Tree) -> Result<Tensor>,
    x: &Tree,
    step: Option<f64>,
) -> Result<(Tensor, Tree)> {
    let rel = step.unwrap_or(f64::EPSILON.cbrt());
    if !(rel.is_finite() && rel > 0.0) {
        return Err(LuxError::InvalidArgument {
            op: "AutoFiniteDiff".into(),
            msg: format!("step must be positive, got {rel}"),
        });
    }
    let x64 = to_f64_tree(x)?;
    let scalar = |y: &Tensor| -> Result<f64> {
        if !y.dtype().is_float() {
            return Err(LuxError::DType {
                op: "AutoFiniteDiff".into(),
                expected: "a float output (only float outputs can be differentiated)".into(),
                got: y.dtype(),
            });
        }
        if y.len() != 1 {
            return Err(LuxError::Shape {
                op: "gradient".into(),
                msg: format!("the function must return a single value, got shape {:?}", y.shape()),
            });
        }
        Ok(y.to_f64_vec()[0])
    };
    let value = f(&x64)?;
    scalar(&value)?;
    let leaves: Vec<(String, Tensor)> = x64.tensors().into_iter().map(|(p, t)| (p, t.clone())).collect();
    let mut grads: Vec<Tensor> = Vec::with_capacity(leaves.len());
    for (k, (_, leaf)) in leaves.iter().enumerate() {
        if !leaf.dtype().is_float() {
            grads.push(leaf.zeros_like());
            continue;
        }
        let base = leaf.to_vec::<f64>()?;
        let mut g = vec![0.0; base.len()];
        for i in 0..base.len() {
            let h = rel * base[i].abs().max(1.0);
            let eval = |delta: f64| -> Result<f64> {
                let mut v = base.clone();
                v[i] += delta;
                let bumped = Tensor::from_vec(v, leaf.shape())?;
                let mut n = 0;
                let xt = x64.try_map(|_, t| {
                    n += 1;
                    Ok(if n - 1 == k { bumped.clone() } else { t.clone() })
                })?;
                scalar(&f(&xt)?)
            };
            // The actually representable step, for an exact denominator.
            let (up, down) = (base[i] + h, base[i] - h);
            g[i] = (eval(h)? - eval(-h)?) / (up - down);
        }
        grads.push(Tensor::from_vec(g, leaf.shape())?);
    }
    let mut it = grads.into_iter();
    let tree = x64.try_map(|_, _| it.next().ok_or_else(|| LuxError::Unsupported("internal: leaf count".into())))?;
    Ok((value, tree))
}

/// Checks the reverse-mode gradient ([`AutoTape`]) of `f` at `x` against
/// central finite differences, both computed in f64 (float leaves of `x`
/// are converted to f64 first, so `f` should be dtype-generic).
///
/// ```
/// use lux_ad::{check_gradients, Tolerances};
/// use lux_core::{tree, Tensor};
/// let x = tree! { x: Tensor::from_vec(vec![0.3f32, -1.2, 2.0], &[3])? };
/// let report = check_gradients(|t| t.tensor("x")?.tanh()?.sum_all(), &x, Tolerances::default())?;
/// assert!(report.rel_error < 1e-6);
/// # Ok::<(), lux_core::LuxError>(())
/// ```
///
/// # Errors
/// [`LuxError::GradientMismatch`] naming the leaf path, index and both
/// values of the worst element when the tolerance is exceeded; or whatever
/// `f` returns.
pub fn check_gradients<F>(f: F, x: &Tree, tol: Tolerances) -> Result<GradCheckReport>
where
    F: Fn(&Tree) -> Result<Tensor>,
{
    check_gradients_with(&AutoTape, f, x, tol)
}

/// The worst element of a comparison of analytic against numeric values,
/// measured against `atol + rtol·|numeric|` (NaN in either is the worst).
struct Worst {
    tol: Tolerances,
    ratio: f64,
    report: GradCheckReport,
}

impl Worst {
    fn new(tol: Tolerances) -> Worst {
        let report =
            GradCheckReport { path: String::new(), index: 0, analytic: 0.0, numeric: 0.0, rel_error: 0.0, checked: 0 };
        Worst { tol, ratio: -1.0, report }
    }

    fn observe(&mut self, path: &str, index: usize, analytic: f64, numeric: f64) {
        self.report.checked += 1;
        let err = (analytic - numeric).abs();
        let ratio = if err.is_nan() { f64::INFINITY } else { err / (self.tol.atol + self.tol.rtol * numeric.abs()) };
        if ratio > self.ratio {
            self.ratio = ratio;
            self.report = GradCheckReport {
                path: path.to_string(),
                index,
                analytic,
                numeric,
                rel_error: if err.is_nan() { f64::NAN } else { err / numeric.abs().max(self.tol.atol) },
                checked: self.report.checked,
            };
        }
    }

    /// The report, or [`LuxError::GradientMismatch`] for the worst element
    /// when it is outside the tolerances.
    fn finish(self) -> Result<GradCheckReport> {
        if self.ratio <= 1.0 {
            return Ok(self.report);
        }
        let w = self.report;
        Err(LuxError::GradientMismatch {
            path: w.path,
            index: w.index,
            analytic: w.analytic,
            numeric: w.numeric,
            rel_error: w.rel_error,
            atol: self.tol.atol,
            rtol: self.tol.rtol,
        })
    }
}

/// [`check_gradients`] for any backend.
///
/// ```
/// use lux_ad::{check_gradients_with, AutoFiniteDiff, AutoTape, Tolerances};
/// use lux_core::{tree, LuxError, Tensor, Tree};
/// let x = tree! { x: Tensor::from_vec(vec![1.0f64, -2.0], &[2])? };
/// let cube = |t: &Tree| { let x = t.tensor("x")?; x.square()?.mul(x)?.sum_all() };
/// assert_eq!(check_gradients_with(&AutoTape, cube, &x, Tolerances::default())?.checked, 2);
/// // A coarse step h is off by h² for x³: 0.01 at x = 1, 0.04 at x = -2 (h = 0.2), the worst.
/// let coarse = AutoFiniteDiff { step: Some(0.1) };
/// let err = check_gradients_with(&coarse, cube, &x, Tolerances::default()).unwrap_err();
/// assert!(matches!(err, LuxError::GradientMismatch { index: 1, .. }), "{err}");
/// # Ok::<(), lux_core::LuxError>(())
/// ```
///
/// # Errors
/// As for [`check_gradients`].
pub fn check_gradients_with<F>(backend: &dyn AdBackend, f: F, x: &Tree, tol: Tolerances) -> Result<GradCheckReport>
where
    F: Fn(&Tree) -> Result<Tensor>,
{
    let x64 = to_f64_tree(x)?;
    let (_, analytic) = backend.value_and_gradient(&f, &x64)?;
    let (_, numeric) = finite_difference_gradient(&f, &x64, None)?;
    let mut worst = Worst::new(tol);
    for ((path, a), (_, n)) in analytic.tensors().into_iter().zip(numeric.tensors()) {
        if !n.dtype().is_float() {
            continue;
        }
        for (i, (&av, &nv)) in a.to_f64_vec().iter().zip(n.to_f64_vec().iter()).enumerate() {
            worst.observe(&path, i, av, nv);
        }
    }
    worst.finish()
}

/// A fixed, non-uniform direction shaped like `t` (values in `[-1, 1]`),
/// different for every `salt`: the tangents and cotangents of
/// [`check_jvp`].
fn probe(t: &Tensor, salt: f64) -> Result<Tensor> {
    let n = t.len();
    Tensor::arange(1.0, n as f64 + 1.0, 1.0, DType::F64)?
        .mul_scalar(0.37 + salt)?
        .add_scalar(salt)?
        .sin()?
        .reshape(t.shape())
}

/// Checks the forward-mode [`jvp`](crate::jvp) of `f` at `x` two ways, in
/// f64 (float leaves of `x` are converted first): against central finite
/// differences of `f` along a fixed direction `v`, element by element, and
/// against the reverse-mode [`vjp`](crate::vjp) through the adjoint
/// identity `⟨u, J·v⟩ = ⟨Jᵀ·u, v⟩` for a fixed cotangent `u`. The report
/// is the worst finite-difference element.
///
/// ```
/// use lux_ad::{check_jvp, Tolerances};
/// use lux_core::{tree, Tensor};
/// let x = tree! { x: Tensor::from_vec(vec![0.3f32, -1.2, 2.0], &[3])? };
/// let report = check_jvp(|t| t.tensor("x")?.tanh(), &x, Tolerances::default())?;
/// assert_eq!(report.checked, 3);
/// # Ok::<(), lux_core::LuxError>(())
/// ```
///
/// # Errors
/// [`LuxError::GradientMismatch`] naming the output path and index of the
/// worst element (or `⟨u, Jv⟩ vs ⟨Jᵀu, v⟩` for the adjoint identity) when
/// a tolerance is exceeded; or whatever `f` returns.
pub fn check_jvp<F, Y>(f: F, x: &Tree, tol: Tolerances) -> Result<GradCheckReport>
where
    F: Fn(&Tree) -> Result<Y>,
    Y: crate::AdOutput,
{
    let x64 = to_f64_tree(x)?;
    let v = x64.try_map(|_, t| if t.dtype().is_float() { probe(t, 0.0) } else { Ok(t.zeros_like()) })?;
    let (y, jv) = crate::jvp(&f, &x64, &v)?;
    // Central differences along v.
    let scale = x64
        .tensors()
        .iter()
        .filter(|(_, t)| t.dtype().is_float())
        .fold(1.0f64, |m, (_, t)| t.to_f64_vec().iter().fold(m, |m, a| m.max(a.abs())));
    let h = f64::EPSILON.cbrt() * scale;
    let shifted = |s: f64| -> Result<Y> {
        let xs =
            x64.zip_map(&v, |_, a, d| if a.dtype().is_float() { a.add(&d.mul_scalar(s)?) } else { Ok(a.clone()) })?;
        f(&xs)
    };
    let (up, down) = (shifted(h)?, shifted(-h)?);
    let mut worst = Worst::new(tol);
    let (jvs, ups, downs) = (jv.ad_tensors(), up.ad_tensors(), down.ad_tensors());
    for (((path, a), (_, p)), (_, m)) in jvs.iter().zip(&ups).zip(&downs) {
        let (p, m) = (p.to_f64_vec(), m.to_f64_vec());
        for (i, &av) in a.to_f64_vec().iter().enumerate() {
            worst.observe(path, i, av, (p[i] - m[i]) / (2.0 * h));
        }
    }
    let worst = worst.finish()?;
    // ⟨u, Jv⟩ against ⟨Jᵀu, v⟩ from reverse mode.
    let us: Vec<Tensor> =
        y.ad_tensors().iter().enumerate().map(|(k, (_, t))| probe(t, 1.0 + k as f64)).collect::<Result<_>>()?;
    let u = y.ad_rebuild(us.clone())?;
    let (_, jtu) = crate::vjp(&f, &x64, &u)?;
    let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).fold((0.0, 0.0), |(s, m), (p, q)| (s + p * q, m + (p * q).abs()));
    let (mut lhs, mut lhs_mag) = (0.0, 0.0);
    for ((_, a), b) in jv.ad_tensors().iter().zip(&us) {
        let (s, m) = dot(&a.to_f64_vec(), &b.to_f64_vec());
        (lhs, lhs_mag) = (lhs + s, lhs_mag + m);
    }
    let (mut rhs, mut rhs_mag) = (0.0, 0.0);
    for ((_, g), (_, d)) in jtu.tensors().iter().zip(v.tensors()) {
        if g.dtype().is_float() {
            let (s, m) = dot(&g.to_f64_vec(), &d.to_f64_vec());
            (rhs, rhs_mag) = (rhs + s, rhs_mag + m);
        }
    }
    // Both sums are rounded at the size of their terms, not of the result.
    let err = (lhs - rhs).abs();
    if err.is_nan() || err > tol.atol + tol.rtol * lhs_mag.max(rhs_mag) {
        return Err(LuxError::GradientMismatch {
            path: "⟨u, Jv⟩ vs ⟨Jᵀu, v⟩".into(),
            index: 0,
            analytic: lhs,
            numeric: rhs,
            rel_error: err / lhs.abs().max(tol.atol),
            atol: tol.atol,
            rtol: tol.rtol,
        });
    }
    Ok(worst)
}
