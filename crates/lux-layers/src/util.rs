//! Input checks shared by the layers. Messages are built only when a
//! check fails (`describe` is a closure), so the happy path costs a
//! comparison.

use lux_core::{LuxError, Result, Tensor, Tree};

/// `x` as a float tensor, or an `Err` naming the layer.
pub(crate) fn float_input<'a>(x: &'a Tree, describe: impl FnOnce() -> String) -> Result<&'a Tensor> {
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

/// Checks that `x` has at least `min_rank` axes.
pub(crate) fn check_min_rank(x: &Tensor, min_rank: usize, describe: impl FnOnce() -> String) -> Result<()> {
    if x.ndim() < min_rank {
        return Err(LuxError::shape(
            &describe(),
            format!("input of shape {:?} has rank {}, expected at least {min_rank}", x.shape(), x.ndim()),
        ));
    }
    Ok(())
}

/// Checks that `x` has exactly `rank` axes; `layout` names them (e.g. `"[batch, channels, height, width]"`).
pub(crate) fn check_rank(x: &Tensor, rank: usize, layout: &str, describe: impl FnOnce() -> String) -> Result<()> {
    if x.ndim() != rank {
        return Err(LuxError::shape(
            &describe(),
            format!("input of shape {:?} has rank {}, expected {rank} ({layout})", x.shape(), x.ndim()),
        ));
    }
    Ok(())
}

/// Checks the size of `x` along `axis` (signed, `-1` = last): the
/// message reads `input has 783 features, expected 784` (`what` =
/// `"features"`, `"channels"`, …).
pub(crate) fn check_axis_size(
    x: &Tensor,
    axis: isize,
    expected: usize,
    what: &str,
    describe: impl FnOnce() -> String,
) -> Result<()> {
    let rank = x.ndim() as isize;
    let a = if axis < 0 { axis + rank } else { axis };
    let got = if (0..rank).contains(&a) { Some(x.shape()[a as usize]) } else { None };
    match got {
        Some(n) if n == expected => Ok(()),
        Some(n) => Err(LuxError::shape(
            &describe(),
            format!("input has {n} {what}, expected {expected} (input shape {:?})", x.shape()),
        )),
        None => Err(LuxError::shape(
            &describe(),
            format!("input of shape {:?} has no axis {axis} (expected {expected} {what} there)", x.shape()),
        )),
    }
}
