//! Input checks shared by the layers. Messages are built only when a
//! check fails (`describe` is a closure), so the happy path costs a
//! comparison.

use lux_core::{LuxError, Result, Tensor, Tree};
use std::fmt::Display;

/// `x` as a float tensor, or an `Err` naming the layer.
pub(crate) fn float_input(x: &Tree, describe: impl FnOnce() -> String) -> Result<&Tensor> {
    match x {
        Tree::Tensor(t) if t.dtype().is_float() => Ok(t),
        Tree::Tensor(t) => {
            Err(LuxError::DType { op: describe(), expected: "a float input tensor".into(), got: t.dtype() })
        }
        other => Err(LuxError::Structure {
            path: lux_core::ROOT.into(),
            msg: format!("{}: expects a tensor input, got a {}", describe(), other.kind_name()),
        }),
    }
}

/// Puts the layer's name (its `describe()`) into the `op` of an error from
/// an op the layer called, so the message names the layer.
pub(crate) fn in_layer(err: LuxError, describe: impl FnOnce() -> String) -> LuxError {
    match err {
        LuxError::Shape { msg, .. } => LuxError::Shape { op: describe(), msg },
        LuxError::InvalidArgument { msg, .. } => LuxError::InvalidArgument { op: describe(), msg },
        LuxError::DType { expected, got, .. } => LuxError::DType { op: describe(), expected, got },
        LuxError::UnsupportedDType { dtype, .. } => LuxError::UnsupportedDType { op: describe(), dtype },
        other => other,
    }
}

/// A Julia tuple of the items, as Lux prints it: `(3,)`, `(3, 4)`.
pub(crate) fn julia_tuple<T: Display>(items: &[T]) -> String {
    match items {
        [one] => format!("({one},)"),
        _ => format!("({})", items.iter().map(|i| i.to_string()).collect::<Vec<_>>().join(", ")),
    }
}
