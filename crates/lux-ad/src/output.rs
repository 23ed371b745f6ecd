//! What a differentiated function may return: [`AdOutput`].

use lux_core::{LuxError, Release, Result, Tensor, Tree};

/// The output of a function given to [`vjp`](crate::vjp) or
/// [`jvp`](crate::jvp): a [`Tensor`], or a [`Tree`] whose tensor leaves are
/// the outputs (non-tensor leaves ride along and are not differentiated).
/// Cotangents and tangents of the output have the same type and structure.
///
/// ```
/// use lux_ad::AdOutput;
/// use lux_core::{tree, Tensor};
/// let y = tree! { a: Tensor::scalar(1.0f32), n: 3i64 };
/// let leaves = y.ad_tensors();
/// assert_eq!(leaves.len(), 1);
/// assert_eq!(leaves[0].0, "a");
/// let rebuilt = y.ad_rebuild(vec![Tensor::scalar(2.0f32)])?;
/// assert_eq!(rebuilt.tensor("a")?.to_scalar::<f32>()?, 2.0);
/// assert_eq!(rebuilt.get("n")?.as_int()?, 3);
/// # Ok::<(), lux_core::LuxError>(())
/// ```
pub trait AdOutput: Release {
    /// The tensor leaves with their paths (`""` for a bare tensor), in order.
    fn ad_tensors(&self) -> Vec<(String, &Tensor)>;

    /// A value of `self`'s structure holding `tensors` (one per tensor
    /// leaf, in [`ad_tensors`](AdOutput::ad_tensors) order).
    ///
    /// # Errors
    /// Fewer tensors than leaves.
    fn ad_rebuild(&self, tensors: Vec<Tensor>) -> Result<Self>;

    /// `Ok` if `other` has `self`'s structure (shapes are compared
    /// separately).
    ///
    /// # Errors
    /// [`LuxError::Structure`] naming the first differing path.
    fn ad_structure_check(&self, other: &Self) -> Result<()>;
}

fn too_few() -> LuxError {
    LuxError::Unsupported("internal: fewer tensors than output leaves".into())
}

impl AdOutput for Tensor {
    fn ad_tensors(&self) -> Vec<(String, &Tensor)> {
        vec![(String::new(), self)]
    }
    fn ad_rebuild(&self, tensors: Vec<Tensor>) -> Result<Self> {
        tensors.into_iter().next().ok_or_else(too_few)
    }
    fn ad_structure_check(&self, _: &Self) -> Result<()> {
        Ok(())
    }
}

impl AdOutput for Tree {
    fn ad_tensors(&self) -> Vec<(String, &Tensor)> {
        self.tensors()
    }
    fn ad_rebuild(&self, tensors: Vec<Tensor>) -> Result<Self> {
        let mut it = tensors.into_iter();
        self.try_map(|_, _| it.next().ok_or_else(too_few))
    }
    fn ad_structure_check(&self, other: &Self) -> Result<()> {
        self.structure_check(other)
    }
}

/// ` at path`, or nothing for the root.
fn at_path(path: &str) -> String {
    if path.is_empty() { String::new() } else { format!(" at {path}") }
}

/// The tensor leaves of a function's output, each checked to be float:
/// only float outputs have derivatives (the gradient of an `argmax` or a
/// comparison is an error, as in JAX and PyTorch, not zeros).
pub(crate) fn float_outputs<'a, Y: AdOutput>(op: &str, y: &'a Y) -> Result<Vec<(String, &'a Tensor)>> {
    let leaves = y.ad_tensors();
    if let Some((path, t)) = leaves.iter().find(|(_, t)| !t.dtype().is_float()) {
        return Err(LuxError::DType {
            op: format!("{op}{}", at_path(path)),
            expected: "a float output (only float outputs can be differentiated)".into(),
            got: t.dtype(),
        });
    }
    Ok(leaves)
}

/// The tensors of `given` (a tangent or cotangent, called `what`) after
/// checking that it has the structure of `like` (the `of`: input or output)
/// and the same shape at every tensor leaf; errors name the path.
pub(crate) fn matched<'a, Y: AdOutput>(
    op: &str,
    what: &str,
    of: &str,
    like: &Y,
    given: &'a Y,
) -> Result<Vec<&'a Tensor>> {
    like.ad_structure_check(given).map_err(|e| match e {
        LuxError::Structure { path, msg } => {
            LuxError::Structure { path, msg: format!("{op}: the {what} differs from the {of}: {msg}") }
        }
        other => other,
    })?;
    let mut out = Vec::new();
    for ((path, a), (_, b)) in like.ad_tensors().into_iter().zip(given.ad_tensors()) {
        if a.shape() != b.shape() {
            return Err(LuxError::Shape {
                op: op.into(),
                msg: format!("{what}{} has shape {:?}, the {of} has {:?}", at_path(&path), b.shape(), a.shape()),
            });
        }
        out.push(b);
    }
    Ok(out)
}
