//! Input checks shared by the layers. Messages are built only when a
//! check fails (`describe` is a closure), so the happy path costs a
//! comparison.

use lux_core::{LuxError, Result, Tensor, Tree};

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
