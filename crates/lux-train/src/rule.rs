//! The [`Rule`] trait (Optimisers.jl's `AbstractRule`: `init` and
//! `apply!`), hyper-parameter values, and the helpers rules are written
//! with.

use lux_core::{DType, LuxError, Result, Tensor, Tree, julia_float};
use std::borrow::Cow;
use std::fmt;

/// A hyper-parameter's value: a number, a pair (Adam's `beta`), or a flag
/// (RMSProp's `centred`).
///
/// ```
/// use lux_train::Hyper;
/// assert_eq!(Hyper::from(0.5), Hyper::Scalar(0.5));
/// assert_eq!(Hyper::from((0.9, 0.999)).to_string(), "(0.9, 0.999)");
/// assert_eq!(Hyper::from(1e-8).to_string(), "1.0e-8");
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Hyper {
    /// A number.
    Scalar(f64),
    /// A pair of numbers.
    Pair(f64, f64),
    /// A flag.
    Flag(bool),
    /// A count (AccumGrad's `n`).
    Count(usize),
}

impl From<f64> for Hyper {
    fn from(v: f64) -> Hyper {
        Hyper::Scalar(v)
    }
}
impl From<(f64, f64)> for Hyper {
    fn from((a, b): (f64, f64)) -> Hyper {
        Hyper::Pair(a, b)
    }
}
impl From<usize> for Hyper {
    fn from(n: usize) -> Hyper {
        Hyper::Count(n)
    }
}
impl From<bool> for Hyper {
    fn from(v: bool) -> Hyper {
        Hyper::Flag(v)
    }
}

impl fmt::Display for Hyper {
    /// As Julia prints the value (`0.001`, `(0.9, 0.999)`, `1.0e-8`, `true`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Hyper::Scalar(v) => f.write_str(&julia_float(v)),
            Hyper::Pair(a, b) => write!(f, "({}, {})", julia_float(a), julia_float(b)),
            Hyper::Flag(v) => write!(f, "{v}"),
            Hyper::Count(n) => write!(f, "{n}"),
        }
    }
}

/// A field type of a rule that is a hyper-parameter (`f64`, `(f64, f64)`,
/// `bool`, `usize`).
pub trait HyperField: Sized + Copy {
    /// The value as a [`Hyper`].
    fn to_hyper(self) -> Hyper;
    /// The value from a [`Hyper`], or `None` if it is of the wrong kind.
    fn from_hyper(h: Hyper) -> Option<Self>;
}
impl HyperField for f64 {
    fn to_hyper(self) -> Hyper {
        Hyper::Scalar(self)
    }
    fn from_hyper(h: Hyper) -> Option<f64> {
        match h {
            Hyper::Scalar(v) => Some(v),
            _ => None,
        }
    }
}
impl HyperField for (f64, f64) {
    fn to_hyper(self) -> Hyper {
        Hyper::Pair(self.0, self.1)
    }
    fn from_hyper(h: Hyper) -> Option<(f64, f64)> {
        match h {
            Hyper::Pair(a, b) => Some((a, b)),
            _ => None,
        }
    }
}
impl HyperField for bool {
    fn to_hyper(self) -> Hyper {
        Hyper::Flag(self)
    }
    fn from_hyper(h: Hyper) -> Option<bool> {
        match h {
            Hyper::Flag(v) => Some(v),
            _ => None,
        }
    }
}
impl HyperField for usize {
    fn to_hyper(self) -> Hyper {
        Hyper::Count(self)
    }
    fn from_hyper(h: Hyper) -> Option<usize> {
        match h {
            Hyper::Count(n) => Some(n),
            Hyper::Scalar(v) if v >= 0.0 && v.fract() == 0.0 && v < 2f64.powi(53) => Some(v as usize),
            _ => None,
        }
    }
}

/// Where a parameter leaf is, and how it is stored, for a [`Rule`] working
/// on it.
#[derive(Clone, Copy, Debug)]
pub struct LeafInfo<'a> {
    /// The leaf's path in the parameter tree (`layer_1.weight`).
    pub path: &'a str,
    /// The dtype the parameter is stored in. Rules compute in f32 or f64:
    /// f16/bf16 parameters, gradients and states are widened to f32 for the
    /// call and rounded back, so a rule with a precision-dependent constant
    /// (Adam's ε is at least 1e-7 for f16) reads it here.
    pub storage: DType,
}

/// An optimisation rule (Optimisers.jl's `AbstractRule`): one small value
/// holding its hyper-parameters. The optimiser state of one parameter
/// leaf is a [`Tree`] the rule builds in [`init`](Rule::init); each step,
/// [`apply`](Rule::apply) advances that state and turns the gradient into
/// the step `Δ`, and the parameter becomes `x − Δ`.
///
/// A user's rule implements this trait and works everywhere a built-in one
/// does (in [`OptimiserChain`](crate::OptimiserChain), [`setup`](crate::setup),
/// [`TrainState`](crate::TrainState)). Here, gradient descent with a
/// step counter in the state:
///
/// ```
/// use lux_core::{tree, Result, Tensor, Tree};
/// use lux_train::{setup, Hyper, LeafInfo, Rule};
///
/// #[derive(Clone, Debug)]
/// struct CountedDescent { eta: f64 }
///
/// impl Rule for CountedDescent {
///     fn name(&self) -> &'static str { "CountedDescent" }
///     fn hyperparameters(&self) -> Vec<(&'static str, Hyper)> { vec![("eta", self.eta.into())] }
///     fn set_hyperparameter(&mut self, name: &str, value: Hyper) -> Result<()> {
///         lux_train::set_field(self.name(), &["eta"], name, value, &mut [&mut self.eta])
///     }
///     fn init(&self, _x: &Tensor) -> Result<Tree> { Ok(tree! { steps: 0i64 }) }
///     fn apply(&self, state: &mut Tree, _x: &Tensor, dx: &mut Tensor, _: LeafInfo) -> Result<bool> {
///         *dx = dx.mul_scalar(self.eta)?;
///         let steps = state.get("steps")?.as_int()?;
///         state.insert("steps", steps + 1)?;
///         Ok(true)
///     }
///     fn boxed_clone(&self) -> Box<dyn Rule> { Box::new(self.clone()) }
/// }
///
/// let mut ps = tree! { w: Tensor::from_vec(vec![1.0f64, 2.0], &[2])? };
/// let mut opt = setup(CountedDescent { eta: 0.5 }, &ps)?;
/// let g = tree! { w: Tensor::from_vec(vec![1.0f64, -1.0], &[2])? };
/// opt.update_mut(&mut ps, &g)?;
/// assert_eq!(ps.tensor("w")?.to_vec::<f64>()?, vec![0.5, 2.5]);
/// assert_eq!(opt.tree().at("w.steps")?.as_int()?, 1);
/// assert_eq!(opt.rule().to_string(), "CountedDescent(eta=0.5)");
/// # Ok::<(), lux_core::LuxError>(())
/// ```
pub trait Rule: Send + Sync + fmt::Debug {
    /// The rule's name (`"Adam"`).
    fn name(&self) -> &'static str;

    /// The hyper-parameters by name, in Optimisers.jl's field order.
    fn hyperparameters(&self) -> Vec<(&'static str, Hyper)>;

    /// Sets one hyper-parameter (Optimisers.jl's `adjust`).
    ///
    /// # Errors
    /// An unknown name (the message lists the rule's fields), a value of
    /// the wrong kind, or a value the rule rejects.
    fn set_hyperparameter(&mut self, name: &str, value: Hyper) -> Result<()>;

    /// Checks the hyper-parameters (a negative learning rate, a NaN, …).
    /// Called by [`setup`](crate::setup) and after every adjustment.
    ///
    /// # Errors
    /// A hyper-parameter the rule cannot work with.
    fn validate(&self) -> Result<()> {
        Ok(())
    }

    /// The optimiser state of one float parameter leaf `x` (a tree of
    /// tensors in `x`'s dtype and of plain numbers).
    ///
    /// # Errors
    /// The state cannot be built.
    fn init(&self, x: &Tensor) -> Result<Tree>;

    /// One step: advances `state` and turns the gradient `dx` into the
    /// update `Δ`, in place (the parameter becomes `x − Δ`). Returns
    /// `false` when there is no update this step (Optimisers.jl's
    /// `nothing`, e.g. [`AccumGrad`](crate::AccumGrad) between its
    /// accumulations). `x`, `dx` and the state's tensors are f32 or f64
    /// here (see [`LeafInfo::storage`]); `dx` is unshared, so
    /// [`Tensor::make_mut`] writes it in place.
    ///
    /// # Errors
    /// The state does not belong to the rule, or the gradient is rejected.
    fn apply(&self, state: &mut Tree, x: &Tensor, dx: &mut Tensor, leaf: LeafInfo) -> Result<bool>;

    /// One whole step for one leaf: `x ← x − Δ` with `Δ` from
    /// [`apply`](Rule::apply). The default copies the gradient once; a rule
    /// may override it with one fused pass over the parameter, its
    /// moments and the gradient (as [`Adam`](crate::Adam) does).
    ///
    /// # Errors
    /// As [`apply`](Rule::apply).
    fn update(&self, state: &mut Tree, x: &mut Tensor, g: &Tensor, leaf: LeafInfo) -> Result<()> {
        let mut dx = g.clone(); // shared until `apply` first writes it (copy-on-write)
        if self.apply(state, x, &mut dx, leaf)? {
            subtract_in_place(x, &dx)?;
        }
        Ok(())
    }

    /// Checks a gradient before anything is updated, so that a rule that
    /// rejects gradients (ClipNorm with `throw`) fails before any leaf of
    /// the tree has changed. Default: accepts everything.
    ///
    /// # Errors
    /// The gradient is rejected.
    fn check_gradient(&self, _g: &Tensor, _leaf: LeafInfo) -> Result<()> {
        Ok(())
    }

    /// The rule in a box (rules are cloned into train states).
    fn boxed_clone(&self) -> Box<dyn Rule>;

    /// The rules inside a composite rule ([`OptimiserChain`](crate::OptimiserChain)),
    /// for adjusting and printing. Default: none.
    fn inner(&self) -> Vec<&dyn Rule> {
        Vec::new()
    }
}

impl Clone for Box<dyn Rule> {
    fn clone(&self) -> Box<dyn Rule> {
        self.boxed_clone()
    }
}

impl fmt::Display for dyn Rule + '_ {
    /// As Optimisers.jl prints a rule: `Adam(eta=0.001, beta=(0.9, 0.999), epsilon=1.0e-8)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = self.inner();
        if !inner.is_empty() {
            write!(f, "{}(", self.name())?;
            for (i, r) in inner.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                write!(f, "{r}")?;
            }
            return f.write_str(")");
        }
        write!(f, "{}(", self.name())?;
        for (i, (name, v)) in self.hyperparameters().iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{name}={v}")?;
        }
        f.write_str(")")
    }
}

/// Sets the field `name` of a rule among `fields` (parallel to `slots`):
/// the helper behind every built-in
/// [`set_hyperparameter`](Rule::set_hyperparameter).
///
/// ```
/// use lux_train::{set_field, Hyper};
/// let (mut eta, mut beta) = (0.1, (0.9, 0.99));
/// set_field("Adam", &["eta", "beta"], "eta", Hyper::Scalar(0.5), &mut [&mut eta, &mut beta])?;
/// assert_eq!(eta, 0.5);
/// let err = set_field("Adam", &["eta", "beta"], "rho", Hyper::Scalar(0.5), &mut [&mut eta, &mut beta]).unwrap_err();
/// assert_eq!(err.to_string(), "Adam: invalid argument: no hyper-parameter `rho`; its hyper-parameters are eta, beta");
/// # Ok::<(), lux_core::LuxError>(())
/// ```
///
/// # Errors
/// `name` is not among `fields`, or `value` is of the wrong kind.
pub fn set_field(
    rule: &str,
    fields: &[&str],
    name: &str,
    value: Hyper,
    slots: &mut [&mut dyn HyperSlot],
) -> Result<()> {
    let Some(i) = fields.iter().position(|f| *f == name) else {
        return Err(unknown_hyper(rule, name, fields));
    };
    slots[i].set(value).ok_or_else(|| {
        LuxError::invalid_argument(rule, format!("`{name}` cannot be set to {value} (a value of the wrong kind)"))
    })
}

/// The error for a hyper-parameter name a rule does not have.
pub(crate) fn unknown_hyper(rule: &str, name: &str, fields: &[&str]) -> LuxError {
    let list = if fields.is_empty() { "none".to_string() } else { fields.join(", ") };
    LuxError::invalid_argument(rule, format!("no hyper-parameter `{name}`; its hyper-parameters are {list}"))
}

/// A mutable hyper-parameter field, type-erased for [`set_field`].
pub trait HyperSlot {
    /// Sets the field, or `None` if `value` is of the wrong kind.
    fn set(&mut self, value: Hyper) -> Option<()>;
}
impl<T: HyperField> HyperSlot for T {
    fn set(&mut self, value: Hyper) -> Option<()> {
        *self = T::from_hyper(value)?;
        Some(())
    }
}

// ----- helpers for writing rules -------------------------------------------------

/// Tensors of the same dtype and shape as `x`, zero-filled (a moment).
pub(crate) fn zeros_like(x: &Tensor) -> Result<Tensor> {
    Tensor::zeros(x.shape(), x.dtype())
}

/// `x`'s values as a contiguous slice (borrowed when already contiguous).
pub(crate) fn values<T: lux_core::Element>(x: &Tensor) -> Result<Cow<'_, [T]>> {
    x.contiguous_slice::<T>()
}

/// The named fields of a rule's state map, mutably and all at once.
pub(crate) fn fields_mut<'a, const N: usize>(
    rule: &str,
    state: &'a mut Tree,
    names: [&str; N],
) -> Result<[&'a mut Tree; N]> {
    let bad = || LuxError::Structure {
        path: lux_core::ROOT.into(),
        msg: format!("{rule}: the optimiser state does not belong to this rule (expected fields {})", names.join(", ")),
    };
    let Tree::Map(entries) = state else { return Err(bad()) };
    let mut out: [Option<&'a mut Tree>; N] = std::array::from_fn(|_| None);
    for (key, value) in entries.iter_mut() {
        if let Some(i) = names.iter().position(|n| n == key) {
            out[i] = Some(value);
        }
    }
    if out.iter().any(Option::is_none) {
        return Err(bad());
    }
    Ok(out.map(|v| v.unwrap_or_else(|| unreachable!("checked above"))))
}

/// The learning-rate check every rule with an `eta` shares (Optimisers.jl:
/// "the learning rate cannot be negative").
pub(crate) fn check_eta(rule: &str, eta: f64) -> Result<()> {
    if eta.is_nan() || eta < 0.0 {
        Err(LuxError::invalid_argument(rule, format!("the learning rate cannot be negative, got {eta}")))
    } else {
        Ok(())
    }
}

/// Checks that every value is a number (not NaN).
pub(crate) fn check_not_nan(rule: &str, values: &[(&str, f64)]) -> Result<()> {
    match values.iter().find(|(_, v)| v.is_nan()) {
        Some((name, _)) => Err(LuxError::invalid_argument(rule, format!("`{name}` is NaN"))),
        None => Ok(()),
    }
}

/// Optimisers.jl's `_eps(T, ε)`: ε in the compute type, at least 1e-7 for
/// f16 storage (unless ε is 0).
pub(crate) fn eps_for(eps: f64, leaf: LeafInfo) -> f64 {
    if leaf.storage == DType::F16 && eps != 0.0 { eps.max(1e-7) } else { eps }
}

/// `x ← x − Δ`, in place.
pub(crate) fn subtract_in_place(x: &mut Tensor, dx: &Tensor) -> Result<()> {
    match x.dtype() {
        DType::F32 => {
            let d = values::<f32>(dx)?;
            let (xs, _) = x.make_mut::<f32>()?;
            xs.iter_mut().zip(d.iter()).for_each(|(x, d)| *x -= d);
        }
        DType::F64 => {
            let d = values::<f64>(dx)?;
            let (xs, _) = x.make_mut::<f64>()?;
            xs.iter_mut().zip(d.iter()).for_each(|(x, d)| *x -= d);
        }
        other => return Err(LuxError::UnsupportedDType { op: "optimiser update".into(), dtype: other }),
    }
    Ok(())
}

/// Runs `$body` with `T` bound to the compute type (f32 or f64) of `$x`.
macro_rules! float_kernel {
    ($op:expr, $x:expr, $T:ident => $body:expr) => {
        match $x.dtype() {
            lux_core::DType::F32 => {
                type $T = f32;
                $body
            }
            lux_core::DType::F64 => {
                type $T = f64;
                $body
            }
            other => Err(lux_core::LuxError::UnsupportedDType { op: $op.into(), dtype: other }),
        }
    };
}
pub(crate) use float_kernel;

/// Defines a rule's struct with its fields and defaults, `Default`,
/// builder-style setters, and the hyper-parameter plumbing of [`Rule`].
macro_rules! rule_struct {
    (
        $(#[$meta:meta])*
        $name:ident { $( $(#[$fmeta:meta])* $field:ident : $ty:ty = $default:expr ),* $(,)? }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq)]
        pub struct $name {
            $( $(#[$fmeta])* pub $field: $ty, )*
        }

        impl Default for $name {
            fn default() -> $name {
                $name { $( $field: $default, )* }
            }
        }

        impl $name {
            $(
                #[doc = concat!("Sets `", stringify!($field), "` (builder style).")]
                pub fn $field(mut self, value: $ty) -> $name {
                    self.$field = value;
                    self
                }
            )*

            /// The names of the hyper-parameters, in order.
            pub const FIELDS: &'static [&'static str] = &[$( stringify!($field) ),*];

            fn hyper_list(&self) -> Vec<(&'static str, $crate::Hyper)> {
                vec![$( (stringify!($field), $crate::rule::HyperField::to_hyper(self.$field)) ),*]
            }

            fn set_hyper(&mut self, name: &str, value: $crate::Hyper) -> lux_core::Result<()> {
                $crate::set_field(stringify!($name), Self::FIELDS, name, value, &mut [$( &mut self.$field ),*])
            }
        }
    };
}
pub(crate) use rule_struct;

/// The [`Rule`] methods every built-in rule shares.
macro_rules! rule_common {
    ($name:ident) => {
        fn name(&self) -> &'static str {
            stringify!($name)
        }
        fn hyperparameters(&self) -> Vec<(&'static str, $crate::Hyper)> {
            self.hyper_list()
        }
        fn set_hyperparameter(&mut self, name: &str, value: $crate::Hyper) -> lux_core::Result<()> {
            self.set_hyper(name, value)
        }
        fn boxed_clone(&self) -> Box<dyn $crate::Rule> {
            Box::new(self.clone())
        }
    };
}
pub(crate) use rule_common;
