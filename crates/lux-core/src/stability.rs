//! Runtime stability checks: the Rust reading of Lux's DispatchDoctor mode
//! (`Lux.set_dispatch_doctor_preferences!`).
//!
//! Julia's DispatchDoctor flags functions whose return *type* cannot be
//! inferred. Rust's types are static, but a [`Tensor`]'s dtype and a
//! [`Tree`]'s shape are run-time values, so the same mistakes show up as
//! run-time changes; these checks catch them:
//!
//! * **layers** (at [`apply`](crate::apply) and
//!   [`forward_child`](crate::forward_child)): the state a layer returns has
//!   the structure, leaf kinds and tensor dtypes of the state it was given
//!   (skipped for layers whose [`preserves_state_type`](crate::Layer::preserves_state_type)
//!   is `false`), and every float tensor of its output is no wider than the
//!   promotion ([`DType::promote`]) of the float tensors of its input,
//!   parameters and state (f32 when there are none);
//! * **ops** (at [`Tensor::from_custom_op`], i.e. every fused op): the
//!   output's dtype equals the promotion of the inputs' dtypes, with 0-d
//!   inputs weak ([`DType::promote_weak`]), as the binary ops promote.
//!
//! Each kind has a [`CheckMode`]: `Disable` (the default; a check costs one
//! relaxed atomic load), `Warn` (a `log::warn!` once per layer type or op
//! name, then the value passes) or `Error` ([`LuxError::Unstable`] naming the
//! layer, its path in the model and what changed). Set them in code with
//! [`set_stability_checks`], or with the environment variable
//! `LUX_INSTABILITY_CHECK`, read once at the first check: `disable`, `warn`
//! or `error` for both, or `layers=warn,ops=error` (an unset kind stays
//! disabled). An unknown value makes every check an `Err` listing the valid
//! ones until the mode is set in code.

use crate::error::{LuxError, Result};
use crate::tree::{ROOT, Tree};
use crate::{DType, Layer, Tensor};
use std::collections::HashSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU8, Ordering};

/// What a stability check does when it finds a change.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum CheckMode {
    /// No check (the default).
    #[default]
    Disable,
    /// A warning through the `log` crate, once per layer type or op.
    Warn,
    /// A [`LuxError::Unstable`].
    Error,
}

impl CheckMode {
    /// Parses Lux's names `disable`, `warn` and `error`.
    ///
    /// ```
    /// use lux_core::stability::CheckMode;
    /// assert_eq!(CheckMode::parse("warn")?, CheckMode::Warn);
    /// let err = CheckMode::parse("loud").unwrap_err();
    /// assert!(err.to_string().contains("`disable`, `warn` or `error`"));
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// Any other string ([`LuxError::InvalidArgument`], listing the valid ones).
    pub fn parse(s: &str) -> Result<CheckMode> {
        match s.trim() {
            "disable" => Ok(CheckMode::Disable),
            "warn" => Ok(CheckMode::Warn),
            "error" => Ok(CheckMode::Error),
            other => Err(LuxError::invalid_argument(
                "stability checks",
                format!("unknown mode `{other}`: expected `disable`, `warn` or `error`"),
            )),
        }
    }

    fn bits(self) -> u8 {
        match self {
            CheckMode::Disable => 0,
            CheckMode::Warn => 1,
            CheckMode::Error => 2,
        }
    }

    fn from_bits(b: u8) -> CheckMode {
        match b & 3 {
            1 => CheckMode::Warn,
            2 => CheckMode::Error,
            _ => CheckMode::Disable,
        }
    }
}

/// The two stability-check modes (Lux's `(; luxcore, luxlib)` pair).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct StabilityChecks {
    /// Checks of every layer call made through `apply` / `forward_child`.
    pub layers: CheckMode,
    /// Checks of every fused op (`Tensor::from_custom_op`).
    pub ops: CheckMode,
}

impl StabilityChecks {
    /// Both kinds in one mode (Lux's `set_dispatch_doctor_preferences!(mode)`).
    ///
    /// ```
    /// use lux_core::stability::{CheckMode, StabilityChecks};
    /// assert_eq!(StabilityChecks::all(CheckMode::Warn), StabilityChecks { layers: CheckMode::Warn, ops: CheckMode::Warn });
    /// ```
    pub fn all(mode: CheckMode) -> StabilityChecks {
        StabilityChecks { layers: mode, ops: mode }
    }

    /// Parses the `LUX_INSTABILITY_CHECK` syntax: one mode for both, or
    /// `layers=…,ops=…` (a kind left out is `disable`).
    ///
    /// ```
    /// use lux_core::stability::{CheckMode, StabilityChecks};
    /// assert_eq!(StabilityChecks::parse("error")?, StabilityChecks::all(CheckMode::Error));
    /// let c = StabilityChecks::parse("ops=warn")?;
    /// assert_eq!((c.layers, c.ops), (CheckMode::Disable, CheckMode::Warn));
    /// assert!(StabilityChecks::parse("gpu=warn").is_err());
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// An unknown kind or mode ([`LuxError::InvalidArgument`]).
    pub fn parse(s: &str) -> Result<StabilityChecks> {
        if !s.contains('=') {
            return Ok(StabilityChecks::all(CheckMode::parse(s)?));
        }
        let mut out = StabilityChecks::default();
        for part in s.split(',').filter(|p| !p.trim().is_empty()) {
            let (kind, mode) = part.split_once('=').unwrap_or((part, ""));
            let mode = CheckMode::parse(mode)?;
            match kind.trim() {
                "layers" => out.layers = mode,
                "ops" => out.ops = mode,
                other => {
                    return Err(LuxError::invalid_argument(
                        "stability checks",
                        format!("unknown kind `{other}` in `{s}`: expected `layers` or `ops`"),
                    ));
                }
            }
        }
        Ok(out)
    }

    fn bits(self) -> u8 {
        self.layers.bits() | (self.ops.bits() << 2)
    }
}

/// The environment variable read at the first check.
pub const ENV_VAR: &str = "LUX_INSTABILITY_CHECK";

/// Not yet read from the environment.
const UNSET: u8 = 0xFF;
/// The environment held an unknown value (and nothing was set in code).
const INVALID: u8 = 0xFE;

static MODES: AtomicU8 = AtomicU8::new(UNSET);

/// Sets both modes for the whole process (overrides `LUX_INSTABILITY_CHECK`).
///
/// ```
/// use lux_core::stability::{set_stability_checks, stability_checks, CheckMode, StabilityChecks};
/// set_stability_checks(StabilityChecks { layers: CheckMode::Error, ops: CheckMode::Disable });
/// assert_eq!(stability_checks()?.layers, CheckMode::Error);
/// set_stability_checks(StabilityChecks::default());
/// # Ok::<(), lux_core::LuxError>(())
/// ```
pub fn set_stability_checks(checks: StabilityChecks) {
    MODES.store(checks.bits(), Ordering::Relaxed);
}

/// The current modes (reading `LUX_INSTABILITY_CHECK` on first use).
///
/// # Errors
/// The environment variable holds an unknown value and no mode was set in code.
pub fn stability_checks() -> Result<StabilityChecks> {
    let bits = load()?;
    Ok(StabilityChecks { layers: CheckMode::from_bits(bits), ops: CheckMode::from_bits(bits >> 2) })
}

fn load() -> Result<u8> {
    match MODES.load(Ordering::Relaxed) {
        UNSET => {
            let parsed = match std::env::var(ENV_VAR) {
                Ok(v) => StabilityChecks::parse(&v).map(StabilityChecks::bits),
                Err(_) => Ok(0),
            };
            // A mode set in code meanwhile wins over the environment.
            let _ = MODES.compare_exchange(
                UNSET,
                *parsed.as_ref().unwrap_or(&INVALID),
                Ordering::Relaxed,
                Ordering::Relaxed,
            );
            load()
        }
        INVALID => {
            let v = std::env::var(ENV_VAR).unwrap_or_default();
            Err(StabilityChecks::parse(&v).map_or_else(
                |e| e,
                |_| LuxError::invalid_argument("stability checks", format!("{ENV_VAR} changed while being read")),
            ))
        }
        bits => Ok(bits),
    }
}

/// Layer types and ops already warned about (warn once each).
static WARNED: Mutex<Option<HashSet<String>>> = Mutex::new(None);

fn report(mode: CheckMode, key: &str, err: LuxError) -> Result<()> {
    match mode {
        CheckMode::Disable => Ok(()),
        CheckMode::Error => Err(err),
        CheckMode::Warn => {
            let mut warned = WARNED.lock().unwrap_or_else(|p| p.into_inner());
            if warned.get_or_insert_with(HashSet::new).insert(key.to_string()) {
                log::warn!(
                    "{err} (warned once per layer type or op; set the stability checks to `disable` to silence)"
                );
            }
            Ok(())
        }
    }
}

/// Checks one layer call (see the [module docs](self)); called by
/// [`apply`](crate::apply) and [`forward_child`](crate::forward_child).
/// `path` is where the layer sits ([`ROOT`] at the top; containers prefix
/// their child names).
///
/// ```
/// use lux_core::stability::{check_layer_call, set_stability_checks, CheckMode, StabilityChecks};
/// use lux_core::{DType, Layer, LuxError, Result, Tensor, Tree};
/// struct Widen; // returns f64 for f32 input
/// impl Layer for Widen {
///     fn forward(&self, x: &Tree, _: &Tree, st: &Tree) -> Result<(Tree, Tree)> {
///         Ok((x.as_tensor()?.to_dtype(DType::F64)?.into(), st.clone()))
///     }
/// }
/// let x: Tree = Tensor::ones(&[2], DType::F32)?.into();
/// let (y, st) = Widen.forward(&x, &Tree::new(), &Tree::new())?;
/// let run = || check_layer_call(&Widen, "layer_1", &x, &Tree::new(), &Tree::new(), &y, &st);
/// assert!(run().is_ok()); // disabled by default
/// set_stability_checks(StabilityChecks::all(CheckMode::Error));
/// let err = run().unwrap_err();
/// assert!(matches!(err, LuxError::Unstable { .. }));
/// assert_eq!(err.to_string(), "unstable Widen at layer_1: the output at <root> is f64, wider than its input, parameters and state promise (f32)");
/// set_stability_checks(StabilityChecks::default());
/// # Ok::<(), lux_core::LuxError>(())
/// ```
///
/// # Errors
/// A change in `Error` mode ([`LuxError::Unstable`]); an unknown
/// `LUX_INSTABILITY_CHECK` value.
pub fn check_layer_call<L: Layer + ?Sized>(
    layer: &L,
    path: &str,
    x: &Tree,
    ps: &Tree,
    st: &Tree,
    y: &Tree,
    st_new: &Tree,
) -> Result<()> {
    let bits = MODES.load(Ordering::Relaxed);
    if bits & 3 == 0 {
        return Ok(());
    }
    let mode = CheckMode::from_bits(load()?);
    if mode == CheckMode::Disable {
        return Ok(());
    }
    let Some(msg) = layer_change(layer, x, ps, st, y, st_new) else { return Ok(()) };
    let path = if path.is_empty() { ROOT } else { path };
    let err = LuxError::Unstable { layer: layer.describe(), path: path.to_string(), msg };
    report(mode, &layer.display_name(), err)
}

/// What changed in a layer call, if anything.
fn layer_change<L: Layer + ?Sized>(
    layer: &L,
    x: &Tree,
    ps: &Tree,
    st: &Tree,
    y: &Tree,
    st_new: &Tree,
) -> Option<String> {
    if layer.preserves_state_type() {
        if let Err(e) = st.structure_check(st_new) {
            return Some(format!("the state changed structure ({e})"));
        }
        let mut changed = None;
        let _ = st.zip_check(st_new, |p, a, b| {
            if let (Tree::Tensor(a), Tree::Tensor(b)) = (a, b) {
                if a.dtype() != b.dtype() && changed.is_none() {
                    changed = Some(format!(
                        "the state leaf at {} changed dtype from {} to {}",
                        if p.is_empty() { ROOT } else { p },
                        a.dtype(),
                        b.dtype()
                    ));
                }
            }
            Ok(())
        });
        if changed.is_some() {
            return changed;
        }
    }
    let promised = [x, ps, st].iter().fold(None, |acc: Option<DType>, t| {
        let mut acc = acc;
        t.visit(|_, leaf| {
            if let Tree::Tensor(t) = leaf {
                if t.dtype().is_float() {
                    acc = Some(acc.map_or(t.dtype(), |a| DType::promote(a, t.dtype())));
                }
            }
        });
        acc
    });
    let promised = promised.unwrap_or(DType::F32);
    let mut wider = None;
    y.visit(|p, leaf| {
        if let Tree::Tensor(t) = leaf {
            let d = t.dtype();
            if wider.is_none() && d.is_float() && DType::promote(promised, d) != promised {
                wider = Some(format!(
                    "the output at {} is {d}, wider than its input, parameters and state promise ({promised})",
                    if p.is_empty() { ROOT } else { p }
                ));
            }
        }
    });
    wider
}

/// Checks one fused op's output dtype (see the [module docs](self));
/// called by [`Tensor::from_custom_op`].
///
/// ```
/// use lux_core::stability::{check_op_output, set_stability_checks, CheckMode, StabilityChecks};
/// use lux_core::{DType, Tensor};
/// let x = Tensor::ones(&[2], DType::F16)?;
/// let y = Tensor::ones(&[2], DType::F32)?; // an op that silently widened
/// set_stability_checks(StabilityChecks { layers: CheckMode::Disable, ops: CheckMode::Error });
/// let err = check_op_output("double", &[&x], &y).unwrap_err();
/// assert_eq!(err.to_string(), "unstable op `double` at <root>: its output is f32, but its inputs (f16) promote to f16");
/// assert!(check_op_output("double", &[&x], &x).is_ok());
/// set_stability_checks(StabilityChecks::default());
/// # Ok::<(), lux_core::LuxError>(())
/// ```
///
/// # Errors
/// A change in `Error` mode ([`LuxError::Unstable`]); an unknown
/// `LUX_INSTABILITY_CHECK` value.
pub fn check_op_output(op: &str, inputs: &[&Tensor], output: &Tensor) -> Result<()> {
    let bits = MODES.load(Ordering::Relaxed);
    if bits & 0b1100 == 0 {
        return Ok(());
    }
    let mode = CheckMode::from_bits(load()? >> 2);
    if mode == CheckMode::Disable || inputs.is_empty() {
        return Ok(());
    }
    let promote = |ts: &mut dyn Iterator<Item = &&Tensor>| ts.map(|t| t.dtype()).reduce(DType::promote);
    let strong = promote(&mut inputs.iter().filter(|t| t.ndim() > 0));
    let expected = match strong {
        Some(s) => inputs.iter().filter(|t| t.ndim() == 0).fold(s, |acc, t| DType::promote_weak(acc, t.dtype())),
        None => promote(&mut inputs.iter()).unwrap_or(output.dtype()),
    };
    if output.dtype() == expected {
        return Ok(());
    }
    let names: Vec<&str> = inputs.iter().map(|t| t.dtype().name()).collect();
    let err = LuxError::Unstable {
        layer: format!("op `{op}`"),
        path: ROOT.into(),
        msg: format!("its output is {}, but its inputs ({}) promote to {expected}", output.dtype(), names.join(", ")),
    };
    report(mode, op, err)
}
