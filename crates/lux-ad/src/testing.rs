//! Conformance checks for layers: [`check_layer`], which built-in layers,
//! `compact!` layers and users' own layers all run in their tests.

use crate::check::{GradCheckReport, Tolerances, check_gradients, check_jvp};
use lux_core::{DType, Layer, LuxError, Result, RngState, Tensor, Tree, setup, test_mode};

/// What [`check_layer`] checks, beyond what it always checks.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerCheck {
    /// The seed of the generator `setup` is called with (and the weights
    /// of the gradient check's objective are drawn from). Default 0.
    pub seed: u64,
    /// The output shape the layer must produce for the input, when the
    /// output is a single tensor. Default `None` (not checked).
    pub output_shape: Option<Vec<usize>>,
    /// Tolerances of the gradient check against f64 central finite
    /// differences; `None` skips it. Default `Some(Tolerances::default())`.
    pub grad: Option<Tolerances>,
    /// Whether the gradient check also covers the float leaves of the
    /// input (integer inputs, such as token indices, are never
    /// differentiated). Default `true`.
    pub input_grad: bool,
}

impl Default for LayerCheck {
    fn default() -> Self {
        LayerCheck { seed: 0, output_shape: None, grad: Some(Tolerances::default()), input_grad: true }
    }
}

/// What [`check_layer`] found.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerCheckReport {
    /// The parameter count (layer and tree agree on it).
    pub param_count: usize,
    /// The state count (layer and tree agree on it).
    pub state_count: usize,
    /// The output's shape, when the output is a single tensor.
    pub output_shape: Option<Vec<usize>>,
    /// The gradient check w.r.t. the parameters (`None`: skipped, or no float parameters).
    pub param_grad: Option<GradCheckReport>,
    /// The gradient check w.r.t. the input (`None`: skipped, or no float input leaves).
    pub input_grad: Option<GradCheckReport>,
}

/// The conformance check every layer passes (LuxCore's and LuxTestUtils'
/// layer contract), in this order:
///
/// 1. `setup` with [`LayerCheck::seed`] is deterministic (a second call
///    gives identical trees);
/// 2. [`Layer::param_count`] / [`Layer::state_count`] agree with the trees'
///    [`Tree::param_count`] / [`Tree::state_count`];
/// 3. a call on `x` succeeds, and gives the declared
///    [`output_shape`](LayerCheck::output_shape) if one is given;
/// 4. calling twice with the same state gives the same output (randomness
///    comes only from the state);
/// 5. unless the layer says it changes its state's type
///    ([`Layer::preserves_state_type`] is `false`), the returned state has
///    the structure of the given one, with the same dtypes and shapes;
/// 6. a JSON round trip of `ps` and `st` (serde) gives identical trees and
///    an identical output;
/// 7. [`test_mode`] is idempotent, a test-mode call is deterministic and
///    returns a state still in test mode;
/// 8. gradients w.r.t. the parameters and the float leaves of the input
///    agree with f64 central finite differences (everything converted to
///    f64 first; the objective is a fixed random weighting of every float
///    output leaf, so that no component cancels); with the same
///    tolerances, the forward-mode tangents of the float output leaves
///    ([`check_jvp`]: central differences along a fixed
///    direction, and the adjoint identity against reverse mode).
///
/// ```
/// use lux_ad::testing::{check_layer, LayerCheck};
/// use lux_core::{tree, DType, Layer, Result, RngState, Tensor, Tree};
///
/// /// y = tanh(x ⊙ w)
/// struct TanhScale(usize);
/// impl Layer for TanhScale {
///     fn init_params(&self, rng: &mut dyn rand::Rng) -> Result<Tree> {
///         Ok(tree! { weight: Tensor::randn(rng, &[self.0], DType::F32)? })
///     }
///     fn forward(&self, x: &Tree, ps: &Tree, st: &Tree) -> Result<(Tree, Tree)> {
///         Ok((x.as_tensor()?.mul(ps.tensor("weight")?)?.tanh()?.into(), st.clone()))
///     }
/// }
/// let x = Tensor::randn(&mut RngState::seed_from_u64(1), &[4, 3], DType::F32)?;
/// let report = check_layer(&TanhScale(3), &x.into(), &LayerCheck { output_shape: Some(vec![4, 3]), ..Default::default() })?;
/// assert_eq!(report.param_count, 3);
/// assert_eq!(report.input_grad.unwrap().checked, 12);
///
/// /// A layer whose count disagrees with its parameters fails.
/// struct Miscounted;
/// impl Layer for Miscounted {
///     fn init_params(&self, _: &mut dyn rand::Rng) -> Result<Tree> {
///         Ok(tree! { weight: Tensor::zeros(&[2], DType::F32)? })
///     }
///     fn param_shapes(&self) -> Option<Vec<Vec<usize>>> { Some(vec![vec![3]]) }
///     fn forward(&self, x: &Tree, _: &Tree, st: &Tree) -> Result<(Tree, Tree)> { Ok((x.clone(), st.clone())) }
/// }
/// let err = check_layer(&Miscounted, &Tensor::zeros(&[2], DType::F32)?.into(), &LayerCheck::default()).unwrap_err();
/// assert_eq!(err.to_string(), "check_layer(Miscounted) failed: param_count() is 3 but setup's parameters hold 2 elements");
/// # Ok::<(), lux_core::LuxError>(())
/// ```
///
/// # Errors
/// [`LuxError::CheckFailed`] naming the layer and the first check that
/// failed; [`LuxError::GradientMismatch`] from the gradient check; or the
/// layer's own error if a call fails.
pub fn check_layer<L: Layer + ?Sized>(layer: &L, x: &Tree, opts: &LayerCheck) -> Result<LayerCheckReport> {
    let fail = |msg: String| LuxError::CheckFailed { check: format!("check_layer({})", layer.describe()), msg };

    // 1–2: setup and counts.
    let (ps, st) = setup(&mut RngState::seed_from_u64(opts.seed), layer)?;
    if setup(&mut RngState::seed_from_u64(opts.seed), layer)? != (ps.clone(), st.clone()) {
        return Err(fail("setup is not deterministic: the same seed gave different trees".into()));
    }
    let (param_count, state_count) = (layer.param_count(), layer.state_count());
    if param_count != ps.param_count() {
        return Err(fail(format!(
            "param_count() is {param_count} but setup's parameters hold {} elements",
            ps.param_count()
        )));
    }
    if state_count != st.state_count() {
        return Err(fail(format!("state_count() is {state_count} but setup's state counts {}", st.state_count())));
    }

    // 3–4: a call, its shape, determinism.
    let (y, st_new) = layer.forward(x, &ps, &st)?;
    let output_shape = match &y {
        Tree::Tensor(t) => Some(t.shape().to_vec()),
        _ => None,
    };
    if let Some(want) = &opts.output_shape {
        match &output_shape {
            Some(got) if got == want => {}
            Some(got) => return Err(fail(format!("output shape is {got:?}, expected {want:?}"))),
            None => return Err(fail(format!("output is a {}, expected a tensor of shape {want:?}", y.kind_name()))),
        }
    }
    let (y_again, st_again) = layer.forward(x, &ps, &st)?;
    if y_again != y || st_again != st_new {
        return Err(fail("two calls with the same parameters and state gave different results".into()));
    }

    // 5: the state keeps its type.
    if layer.preserves_state_type() {
        same_state_type(&st, &st_new)
            .map_err(|m| fail(format!("the returned state differs from the given one: {m}")))?;
    }

    // 6: serde round trip.
    let round_trip = |t: &Tree, what: &str| -> Result<Tree> {
        let json = serde_json::to_string(t).map_err(|e| fail(format!("{what} does not serialise: {e}")))?;
        serde_json::from_str(&json).map_err(|e| fail(format!("{what} does not deserialise: {e}")))
    };
    let (ps_rt, st_rt) = (round_trip(&ps, "ps")?, round_trip(&st, "st")?);
    if ps_rt != ps || st_rt != st {
        return Err(fail("a JSON round trip of ps/st changed them".into()));
    }
    if layer.forward(x, &ps_rt, &st_rt)?.0 != y {
        return Err(fail("the output after a JSON round trip of ps/st differs".into()));
    }

    // 7: test mode.
    let st_test = test_mode(&st);
    if test_mode(&st_test) != st_test {
        return Err(fail("test_mode is not idempotent".into()));
    }
    let (y_test, st_test_new) = layer.forward(x, &ps, &st_test)?;
    if layer.forward(x, &ps, &st_test)?.0 != y_test {
        return Err(fail("two test-mode calls gave different outputs".into()));
    }
    if test_mode(&st_test_new) != st_test_new {
        return Err(fail("a test-mode call returned a state in training mode".into()));
    }

    // 8: gradients in f64.
    let (mut param_grad, mut input_grad) = (None, None);
    if let Some(tol) = opts.grad {
        let (ps64, st64, x64) = (to_f64(&ps)?, to_f64(&st)?, to_f64(x)?);
        let weights = objective_weights(&layer.forward(&x64, &ps64, &st64)?.0, opts.seed)?;
        let objective = |y: &Tree| -> Result<Tensor> {
            let mut total = Tensor::scalar(0.0f64);
            for ((_, t), w) in y.tensors().into_iter().filter(|(_, t)| t.dtype().is_float()).zip(&weights) {
                total = total.add(&t.mul(w)?.sum_all()?)?;
            }
            Ok(total)
        };
        // The float output leaves, for the tangent checks.
        let float_out = |y: Tree| -> Result<Tree> {
            let mut out = Tree::new();
            for (i, (_, t)) in y.tensors().into_iter().filter(|(_, t)| t.dtype().is_float()).enumerate() {
                out = out.with(format!("y{i}"), t.clone())?;
            }
            Ok(out)
        };
        if has_float(&ps64) {
            let f = |p: &Tree| objective(&layer.forward(&x64, p, &st64)?.0);
            param_grad = Some(check_gradients(f, &ps64, tol).map_err(|e| in_context(e, "parameters"))?);
            let g = |p: &Tree| float_out(layer.forward(&x64, p, &st64)?.0);
            check_jvp(g, &ps64, tol).map_err(|e| in_context(e, "parameter tangents"))?;
        }
        if opts.input_grad && has_float(&x64) {
            let f = |xx: &Tree| objective(&layer.forward(xx, &ps64, &st64)?.0);
            input_grad = Some(check_gradients(f, &x64, tol).map_err(|e| in_context(e, "input"))?);
            let g = |xx: &Tree| float_out(layer.forward(xx, &ps64, &st64)?.0);
            check_jvp(g, &x64, tol).map_err(|e| in_context(e, "input tangents"))?;
        }
    }
    Ok(LayerCheckReport { param_count, state_count, output_shape, param_grad, input_grad })
}

fn has_float(t: &Tree) -> bool {
    t.tensors().iter().any(|(_, t)| t.dtype().is_float())
}

fn to_f64(t: &Tree) -> Result<Tree> {
    t.try_map(|_, x| if x.dtype().is_float() { x.to_dtype(DType::F64) } else { Ok(x.clone()) })
}

/// A fixed random weight (f64, the leaf's shape) per float output leaf.
fn objective_weights(y: &Tree, seed: u64) -> Result<Vec<Tensor>> {
    let mut rng = RngState::seed_from_u64(seed ^ 0x9e37_79b9_7f4a_7c15);
    y.tensors()
        .into_iter()
        .filter(|(_, t)| t.dtype().is_float())
        .map(|(_, t)| Tensor::randn(&mut rng, t.shape(), DType::F64))
        .collect()
}

/// Says which gradient a mismatch was found in (the path names the leaf).
fn in_context(err: LuxError, what: &str) -> LuxError {
    match err {
        LuxError::GradientMismatch { path, index, analytic, numeric, rel_error, atol, rtol } => {
            LuxError::GradientMismatch {
                path: format!("{what}: {path}"),
                index,
                analytic,
                numeric,
                rel_error,
                atol,
                rtol,
            }
        }
        other => other,
    }
}

/// The same structure, leaf kinds, tensor dtypes and shapes.
fn same_state_type(before: &Tree, after: &Tree) -> std::result::Result<(), String> {
    before.structure_check(after).map_err(|e| e.to_string())?;
    for ((path, a), (_, b)) in before.tensors().into_iter().zip(after.tensors()) {
        if a.dtype() != b.dtype() {
            return Err(format!("{path} was {} and came back {}", a.dtype(), b.dtype()));
        }
        if a.shape() != b.shape() {
            return Err(format!("{path} had shape {:?} and came back {:?}", a.shape(), b.shape()));
        }
    }
    Ok(())
}
