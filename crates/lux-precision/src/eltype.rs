//! Lux's `match_eltype`: what a layer does with an input whose element type
//! differs from its parameters'.

use lux_core::{DType, Layer, LuxError, Result, Tree};
use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};

/// Lux's `eltype_mismatch_handling` preference: what [`match_eltype`] does
/// with a mismatching input.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum EltypeMismatch {
    /// Nothing: the input passes as it is (the default; one relaxed atomic
    /// load per call). Operations then promote (f32 weights · f64 input → f64).
    #[default]
    None,
    /// A `log::warn!`, once per process, and the input passes as it is.
    Warn,
    /// The same warning, and the input is converted to the parameters' type.
    Convert,
    /// [`LuxError::EltypeMismatch`].
    Error,
}

impl EltypeMismatch {
    /// Parses Lux's names `none`, `warn`, `convert`, `error`.
    ///
    /// ```
    /// use lux_precision::EltypeMismatch;
    /// assert_eq!(EltypeMismatch::parse("convert")?, EltypeMismatch::Convert);
    /// let err = EltypeMismatch::parse("strict").unwrap_err();
    /// assert_eq!(err.to_string(), "eltype mismatch handling: invalid argument: unknown mode `strict`: expected `none`, `warn`, `convert` or `error`");
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// Any other string ([`LuxError::InvalidArgument`] listing the valid ones).
    pub fn parse(s: &str) -> Result<EltypeMismatch> {
        match s.trim() {
            "none" => Ok(EltypeMismatch::None),
            "warn" => Ok(EltypeMismatch::Warn),
            "convert" => Ok(EltypeMismatch::Convert),
            "error" => Ok(EltypeMismatch::Error),
            other => Err(LuxError::invalid_argument(
                "eltype mismatch handling",
                format!("unknown mode `{other}`: expected `none`, `warn`, `convert` or `error`"),
            )),
        }
    }

    fn from_bits(b: u8) -> EltypeMismatch {
        match b {
            1 => EltypeMismatch::Warn,
            2 => EltypeMismatch::Convert,
            3 => EltypeMismatch::Error,
            _ => EltypeMismatch::None,
        }
    }

    fn bits(self) -> u8 {
        match self {
            EltypeMismatch::None => 0,
            EltypeMismatch::Warn => 1,
            EltypeMismatch::Convert => 2,
            EltypeMismatch::Error => 3,
        }
    }
}

/// The environment variable read at the first [`match_eltype`] call.
///
/// ```
/// assert_eq!(lux_precision::ENV_VAR, "LUX_ELTYPE_MISMATCH");
/// ```
pub const ENV_VAR: &str = "LUX_ELTYPE_MISMATCH";

/// Not yet read from the environment.
const UNSET: u8 = 0xFF;
/// The environment held an unknown value (and nothing was set in code).
const INVALID: u8 = 0xFE;

static MODE: AtomicU8 = AtomicU8::new(UNSET);
/// Lux's single `maxlog=1` call site: one warning per process.
static WARNED: AtomicBool = AtomicBool::new(false);

/// Sets the mode for the whole process (overrides `LUX_ELTYPE_MISMATCH`).
///
/// ```
/// use lux_precision::{eltype_mismatch_handling, set_eltype_mismatch_handling, EltypeMismatch};
/// set_eltype_mismatch_handling(EltypeMismatch::Warn);
/// assert_eq!(eltype_mismatch_handling()?, EltypeMismatch::Warn);
/// # Ok::<(), lux_core::LuxError>(())
/// ```
pub fn set_eltype_mismatch_handling(mode: EltypeMismatch) {
    MODE.store(mode.bits(), Ordering::Relaxed);
}

/// The current mode: the one set in code, else `LUX_ELTYPE_MISMATCH` (read
/// once), else [`EltypeMismatch::None`].
///
/// # Errors
/// `LUX_ELTYPE_MISMATCH` holds an unknown value and no mode was set in code
/// (every call fails then, naming the valid values).
pub fn eltype_mismatch_handling() -> Result<EltypeMismatch> {
    match MODE.load(Ordering::Relaxed) {
        UNSET => {
            let bits = match std::env::var(ENV_VAR) {
                Ok(v) => EltypeMismatch::parse(&v).map_or(INVALID, EltypeMismatch::bits),
                Err(_) => 0,
            };
            // A mode set in code meanwhile wins over the environment.
            let _ = MODE.compare_exchange(UNSET, bits, Ordering::Relaxed, Ordering::Relaxed);
            eltype_mismatch_handling()
        }
        INVALID => {
            let v = std::env::var(ENV_VAR).unwrap_or_default();
            Err(EltypeMismatch::parse(&v)
                .map_or_else(|e| e, |_| LuxError::invalid_argument(ENV_VAR, "changed while being read")))
        }
        bits => Ok(EltypeMismatch::from_bits(bits)),
    }
}

/// The element type of `(ps, st)` for [`match_eltype`]: Lux's
/// `recursive_eltype((ps, st))` over the tensors (their dtypes promoted
/// with [`DType::promote`]), integers (`i64`) and flags, `None`, RNGs
/// (`bool`), starting from `bool`.
///
/// One departure: [`Tree::Float`] scalar leaves do not count. lux-rs stores
/// every scalar as an f64 whatever the model's precision, where Lux keeps
/// an f32 scalar f32; counting them would make every f32 model with a
/// scalar in its state look like an f64 one.
///
/// ```
/// use lux_core::{tree, DType, Tensor, Tree};
/// use lux_precision::params_eltype;
/// let ps = tree! { weight: Tensor::zeros(&[2, 2], DType::F32)? };
/// let st = tree! { momentum: 0.1, training: true };
/// assert_eq!(params_eltype(&ps, &st), DType::F32);
/// assert_eq!(params_eltype(&Tree::new(), &Tree::new()), DType::Bool);
/// # Ok::<(), lux_core::LuxError>(())
/// ```
pub fn params_eltype(ps: &Tree, st: &Tree) -> DType {
    let mut dt = DType::Bool;
    for t in [ps, st] {
        t.visit(|_, leaf| {
            let d = match leaf {
                Tree::Tensor(t) => t.dtype(),
                Tree::Int(_) => DType::I64,
                Tree::Float(_) => return,
                _ => DType::Bool,
            };
            dt = DType::promote(dt, d);
        });
    }
    dt
}

/// `true` for the (parameters, input) pairs of Lux's table; every other
/// pair passes silently.
fn acts(params: DType, input: DType) -> bool {
    use DType::*;
    let integer = matches!(input, I64 | Bool); // Julia: Bool <: Integer
    match params {
        F64 => integer,
        F32 => integer || input == F64,
        F16 => integer || input == F64 || input == F32,
        _ => false,
    }
}

/// Lux's `match_eltype(layer, ps, st, x)`, called at the top of a layer's
/// forward: checks every tensor of `x` against the element type of
/// `(ps, st)` ([`params_eltype`]) and, for the pairs of Lux's table, acts
/// by the mode ([`set_eltype_mismatch_handling`] / `LUX_ELTYPE_MISMATCH`):
///
/// | parameters | input | `warn` | `convert` | `error` |
/// |---|---|---|---|---|
/// | f64 | integer | warn | warn, to f64 | `Err` |
/// | f32 | f64 or integer | warn | warn, to f32 | `Err` |
/// | f16 | f64, f32 or integer | warn | warn, to f16 | `Err` |
///
/// Every other pair (f64 parameters with f32 input, f32 with f16, anything
/// with bf16 parameters, …) passes untouched in every mode; so does
/// everything in the default mode `none`, which costs one relaxed atomic
/// load and returns `x` borrowed. The warning goes through `log::warn!`,
/// once per process (Lux's one `maxlog=1` call site). Converting is
/// differentiable: gradients w.r.t. `x` keep `x`'s dtype.
///
/// ```
/// use lux_core::{setup, DType, LuxError, RngState, Tensor, Tree};
/// use lux_layers::Dense;
/// use lux_ops::Activation;
/// use lux_precision::{match_eltype, set_eltype_mismatch_handling, EltypeMismatch};
/// let layer = Dense::new(2, 3, Activation::Tanh)?;
/// let (ps, st) = setup(&mut RngState::seed_from_u64(0), &layer)?;
/// let x: Tree = Tensor::ones(&[4, 2], DType::F64)?.into();
///
/// set_eltype_mismatch_handling(EltypeMismatch::Convert);
/// assert_eq!(match_eltype(&layer, &ps, &st, &x)?.as_tensor()?.dtype(), DType::F32);
/// set_eltype_mismatch_handling(EltypeMismatch::Error);
/// let err = match_eltype(&layer, &ps, &st, &x).unwrap_err();
/// assert!(matches!(err, LuxError::EltypeMismatch { .. }));
/// assert!(err.to_string().starts_with("EltypeMismatch(Dense(2 => 3, tanh): a layer with f32 parameters and states received f64 input."));
/// set_eltype_mismatch_handling(EltypeMismatch::None);
/// assert_eq!(match_eltype(&layer, &ps, &st, &x)?.as_tensor()?.dtype(), DType::F64);
/// # Ok::<(), lux_core::LuxError>(())
/// ```
///
/// # Errors
/// A mismatching pair in `error` mode ([`LuxError::EltypeMismatch`] naming
/// the layer, both types and how to change the mode); an unknown
/// `LUX_ELTYPE_MISMATCH` value.
pub fn match_eltype<'x, L: Layer + ?Sized>(layer: &L, ps: &Tree, st: &Tree, x: &'x Tree) -> Result<Cow<'x, Tree>> {
    if MODE.load(Ordering::Relaxed) == 0 {
        return Ok(Cow::Borrowed(x));
    }
    let mode = eltype_mismatch_handling()?;
    if mode == EltypeMismatch::None {
        return Ok(Cow::Borrowed(x));
    }
    let params = params_eltype(ps, st);
    let mut first = None;
    x.visit(|_, leaf| {
        if let Tree::Tensor(t) = leaf {
            if first.is_none() && acts(params, t.dtype()) {
                first = Some(t.dtype());
            }
        }
    });
    let Some(input) = first else { return Ok(Cow::Borrowed(x)) };
    let input_name = if input.is_float() { input.name() } else { "integer" };
    let what = format!("a layer with {params} parameters and states received {input_name} input");
    match mode {
        EltypeMismatch::None => Ok(Cow::Borrowed(x)),
        EltypeMismatch::Warn => {
            warn_once(layer, &format!("{what}."));
            Ok(Cow::Borrowed(x))
        }
        EltypeMismatch::Convert => {
            warn_once(layer, &format!("{what}. Converting to {params}."));
            x.try_map(|_, t| if acts(params, t.dtype()) { t.to_dtype(params) } else { Ok(t.clone()) }).map(Cow::Owned)
        }
        EltypeMismatch::Error => Err(LuxError::EltypeMismatch {
            layer: layer.describe(),
            msg: format!(
                "{what}. This is not allowed because the eltype mismatch handling is `error`; change it with \
                 `set_eltype_mismatch_handling` or the {ENV_VAR} environment variable (none, warn, convert, error)"
            ),
        }),
    }
}

fn warn_once<L: Layer + ?Sized>(layer: &L, msg: &str) {
    if !WARNED.swap(true, Ordering::Relaxed) {
        log::warn!("{}: {msg} (warned once per process)", layer.describe());
    }
}
