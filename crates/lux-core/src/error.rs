//! The one error type of lux-rs.

use crate::DType;

/// Everything that can go wrong in lux-rs.
///
/// Messages name the operation, the shapes and, where known, the parameter
/// path, e.g. `matmul: inner dimensions differ: [64, 3] · [4, 16]`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum LuxError {
    /// Shapes that do not fit together.
    #[error("{op}: {msg}")]
    Shape {
        /// The operation or layer that failed.
        op: String,
        /// What is wrong, with the shapes involved.
        msg: String,
    },
    /// A tensor of the wrong element type.
    #[error("{op}: expected dtype {expected}, got {got}")]
    DType {
        /// The operation that failed.
        op: String,
        /// The dtype it needs.
        expected: String,
        /// The dtype it was given.
        got: DType,
    },
    /// An operation that does not support this dtype.
    #[error("{op}: not supported for dtype {dtype}")]
    UnsupportedDType {
        /// The operation that failed.
        op: String,
        /// The dtype it was given.
        dtype: DType,
    },
    /// A key or path absent from a [`Tree`](crate::Tree).
    #[error("missing key `{key}` at {path}")]
    MissingKey {
        /// The key that was asked for.
        key: String,
        /// Where it was looked for ([`ROOT`](crate::ROOT) for the root).
        path: String,
    },
    /// Two trees, or a tree and what was expected of it, differ in structure.
    #[error("structure mismatch at {path}: {msg}")]
    Structure {
        /// Where the trees differ.
        path: String,
        /// How they differ.
        msg: String,
    },
    /// An argument outside what the operation accepts.
    #[error("{op}: invalid argument: {msg}")]
    InvalidArgument {
        /// The operation that failed.
        op: String,
        /// What is wrong.
        msg: String,
    },
    /// A feature or combination that is not implemented.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// A gradient check found analytic and numeric gradients apart.
    #[error(
        "gradient check failed at {path}[{index}]: analytic {analytic:e}, numeric {numeric:e} \
         (relative error {rel_error:e}, tolerance atol={atol:e} rtol={rtol:e})"
    )]
    GradientMismatch {
        /// Leaf path of the worst element.
        path: String,
        /// Flat (row-major) index inside that leaf.
        index: usize,
        /// Gradient from the backend under test.
        analytic: f64,
        /// Gradient from central finite differences.
        numeric: f64,
        /// `|analytic − numeric| / max(|numeric|, atol)`.
        rel_error: f64,
        /// Absolute tolerance used.
        atol: f64,
        /// Relative tolerance used.
        rtol: f64,
    },
    /// A conformance check (such as `lux_ad::testing::check_layer`) found
    /// a broken contract.
    #[error("{check} failed: {msg}")]
    CheckFailed {
        /// The check and what it checked, e.g. `check_layer(Dense(2 => 3))`.
        check: String,
        /// What was wrong.
        msg: String,
    },
    /// Reading or writing files.
    #[error("I/O error: {0}")]
    Io(String),
    /// Lux's `EltypeMismatchException`: a layer got an input whose element
    /// type differs from its parameters' while `match_eltype` is in its
    /// `error` mode.
    #[error("EltypeMismatch({layer}: {msg})")]
    EltypeMismatch {
        /// The layer (its `describe()`).
        layer: String,
        /// What mismatched, and how to change the mode.
        msg: String,
    },
    /// A stability check (the Rust reading of Lux's DispatchDoctor mode)
    /// found a layer or op whose output or state changed type.
    #[error("unstable {layer} at {path}: {msg}")]
    Unstable {
        /// The layer (its `describe()`) or op name.
        layer: String,
        /// Where in the model ([`ROOT`](crate::ROOT) for the top).
        path: String,
        /// What changed.
        msg: String,
    },
}

/// `Result` with [`LuxError`].
pub type Result<T, E = LuxError> = std::result::Result<T, E>;

impl From<std::io::Error> for LuxError {
    fn from(e: std::io::Error) -> Self {
        LuxError::Io(e.to_string())
    }
}

impl LuxError {
    /// A [`LuxError::Shape`] for `op`.
    ///
    /// ```
    /// use lux_core::LuxError;
    /// let err = LuxError::shape("concat", "ranks differ: [2] vs [2, 3]");
    /// assert!(matches!(err, LuxError::Shape { .. }));
    /// assert_eq!(err.to_string(), "concat: ranks differ: [2] vs [2, 3]");
    /// ```
    pub fn shape(op: &str, msg: impl Into<String>) -> LuxError {
        shape_err(op, msg)
    }

    /// A [`LuxError::InvalidArgument`] for `op`.
    ///
    /// ```
    /// use lux_core::LuxError;
    /// let err = LuxError::invalid_argument("dropout", "p must be in [0, 1), got 1.5");
    /// assert!(matches!(err, LuxError::InvalidArgument { .. }));
    /// assert_eq!(err.to_string(), "dropout: invalid argument: p must be in [0, 1), got 1.5");
    /// ```
    pub fn invalid_argument(op: &str, msg: impl Into<String>) -> LuxError {
        arg_err(op, msg)
    }
}

pub(crate) fn shape_err(op: &str, msg: impl Into<String>) -> LuxError {
    LuxError::Shape { op: op.to_string(), msg: msg.into() }
}

pub(crate) fn arg_err(op: &str, msg: impl Into<String>) -> LuxError {
    LuxError::InvalidArgument { op: op.to_string(), msg: msg.into() }
}
