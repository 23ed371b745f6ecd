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
    let mut worst =
        GradCheckReport { path: String::new(), index: 0, analytic: 0.0, numeric: 0.0, rel_error: 0.0, checked: 0 };
    let mut worst_ratio = -1.0f64;
    for ((path, a), (_, n)) in analytic.tensors().into_iter().zip(numeric.tensors()) {
        if !n.dtype().is_float() {
            continue;
        }
        for (i, (&av, &nv)) in a.to_f64_vec().iter().zip(n.to_f64_vec().iter()).enumerate() {
            worst.checked += 1;
            let err = (av - nv).abs();
            // NaN in either fails the check.
            let ratio = if err.is_nan() { f64::INFINITY } else { err / (tol.atol + tol.rtol * nv.abs()) };
            if ratio > worst_ratio {
                worst_ratio = ratio;
                worst.path = path.clone();
                worst.index = i;
                worst.analytic = av;
                worst.numeric = nv;
                worst.rel_error = if err.is_nan() { f64::NAN } else { err / nv.abs().max(tol.atol) };
            }
        }
    }
    if worst_ratio > 1.0 {
        return Err(LuxError::GradientMismatch {
            path: worst.path,
            index: worst.index,
            analytic: worst.analytic,
            numeric: worst.numeric,
            rel_error: worst.rel_error,
            atol: tol.atol,
            rtol: tol.rtol,
        });
    }
    Ok(worst)
}
