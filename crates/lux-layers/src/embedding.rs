//! [`Embedding`]: a lookup table of vectors indexed by integer tokens
//! (Lux's `Embedding` in `src/layers/embedding.jl`).

use crate::dense::{check_param_keys, param};
use crate::init::Init;
use crate::util::in_layer;
use lux_core::{DType, Layer, LuxError, Result, Tensor, Tree};
use lux_ops::embedding::embedding;
use rand::Rng;

/// A table of `vocab` vectors of size `dim` (Lux's
/// `Embedding(vocab => dim; init_weight)`): an index `i` maps to row `i`
/// of the weight.
///
/// * Parameters: `weight` `[vocab, dim]` (row `i` is the vector of token
///   `i`; the same memory as Lux's `(dim, vocab)` matrix). State: none.
/// * Input: an **i64** tensor of indices of any shape — a 0-d index,
///   `[batch]`, `[batch, time]`, …; output: `[indices.shape()…, dim]`, in
///   the weight's dtype.
/// * **Indices are 0-based** (`0..vocab`), where Lux's are 1-based. An
///   index outside `0..vocab` is an `Err` naming it and the vocabulary
///   size.
/// * Default initialiser (Lux 1.x: `rand32`): uniform in `[0, 1)`, f32.
/// * Gradients flow to the weight (repeated indices accumulate); the input
///   is integer and has none.
///
/// **Cartesian vocabularies** (Lux's `Embedding((5, 2) => 4)`):
/// [`Embedding::cartesian`]`(&[5, 2], 4)` has a weight `[5, 2, 4]` and
/// takes a sequence ([`Tree::seq`]) of one i64 index tensor per vocabulary
/// axis, all of the same shape; `(i, j)` picks `weight[i, j, :]`.
///
/// ```
/// use lux_core::*;
/// use lux_layers::Embedding;
/// let layer = Embedding::new(10, 4)?;
/// assert_eq!(layer.describe(), "Embedding(10 => 4)");
/// let (ps, st) = setup(&mut RngState::seed_from_u64(0), &layer)?;
/// let tokens = Tensor::from_vec(vec![3i64, 0, 9, 3, 1, 2], &[2, 3])?; // [batch, time]
/// let (y, _) = apply_tensor(&layer, &tokens, &ps, &st)?;
/// assert_eq!(y.shape(), &[2, 3, 4]);
/// // token 9 is row 9 of the weight
/// let w = ps.tensor("weight")?.to_vec::<f32>()?;
/// assert_eq!(&y.to_vec::<f32>()?[8..12], &w[36..40]);
/// let err = apply_tensor(&layer, &Tensor::from_vec(vec![10i64], &[1])?, &ps, &st).unwrap_err();
/// assert!(err.to_string().starts_with("Embedding(10 => 4): invalid argument: index 10 is out of range for a vocabulary of 10"));
/// # Ok::<(), lux_core::LuxError>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Embedding {
    vocab: Vec<usize>,
    dim: usize,
    init_weight: Init,
    dtype: DType,
}

/// The options of an [`Embedding`] (from [`Embedding::builder`]).
#[derive(Clone, Debug, PartialEq)]
pub struct EmbeddingBuilder {
    layer: Embedding,
}

impl EmbeddingBuilder {
    /// The weight's initialiser, called with the shape `[vocab, dim]`
    /// (`[vocab…, dim]` for a Cartesian vocabulary; default: uniform in
    /// `[0, 1)`, Lux's `rand32`).
    ///
    /// ```
    /// use lux_core::*;
    /// let e = lux_layers::Embedding::builder(3, 2).init_weight(lux_layers::init::Init::ones()).build()?;
    /// assert_eq!(setup(&mut RngState::seed_from_u64(0), &e)?.0.tensor("weight")?.to_vec::<f32>()?, vec![1.0; 6]);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn init_weight(mut self, init: Init) -> Self {
        self.layer.init_weight = init;
        self
    }

    /// The dtype of the weight (default f32).
    ///
    /// ```
    /// use lux_core::*;
    /// let e = lux_layers::Embedding::builder(3, 2).dtype(DType::F64).build()?;
    /// assert_eq!(setup(&mut RngState::seed_from_u64(0), &e)?.0.tensor("weight")?.dtype(), DType::F64);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn dtype(mut self, dtype: DType) -> Self {
        self.layer.dtype = dtype;
        self
    }

    /// The layer.
    ///
    /// ```
    /// assert!(lux_layers::Embedding::builder(0, 2).build().is_err());
    /// ```
    ///
    /// # Errors
    /// A vocabulary size or `dim` is 0, or the Cartesian vocabulary has no
    /// axes; the dtype is not a float dtype; the initialiser's options are
    /// invalid.
    pub fn build(self) -> Result<Embedding> {
        let layer = self.layer;
        let describe = || layer.describe();
        if layer.vocab.is_empty() || layer.vocab.contains(&0) || layer.dim == 0 {
            return Err(LuxError::invalid_argument(
                &describe(),
                format!(
                    "the vocabulary size and the dimension must be positive, got {} and {}",
                    vocab_string(&layer.vocab),
                    layer.dim
                ),
            ));
        }
        if !layer.dtype.is_float() {
            return Err(LuxError::UnsupportedDType { op: describe(), dtype: layer.dtype });
        }
        layer.init_weight.validate().map_err(|e| in_layer(e, describe))?;
        Ok(layer)
    }
}

impl Embedding {
    /// `Embedding(vocab => dim)` with Lux's default initialiser.
    ///
    /// ```
    /// use lux_core::Layer;
    /// assert_eq!(lux_layers::Embedding::new(1000, 64)?.param_count(), 64_000);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// `vocab` or `dim` is 0.
    pub fn new(vocab: usize, dim: usize) -> Result<Embedding> {
        Self::builder(vocab, dim).build()
    }

    /// The options of `Embedding(vocab => dim)`.
    ///
    /// ```
    /// let e = lux_layers::Embedding::builder(5, 3).build()?;
    /// assert_eq!((e.vocab(), e.dim()), (5, 3));
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn builder(vocab: usize, dim: usize) -> EmbeddingBuilder {
        Self::cartesian_builder(&[vocab], dim)
    }

    /// `Embedding((v₁, v₂, …) => dim)`: a table indexed by tuples
    /// `(i₁, i₂, …)` with `iₖ ∈ 0..vₖ`; the weight is `[v₁, v₂, …, dim]`.
    ///
    /// ```
    /// use lux_core::*;
    /// use lux_layers::Embedding;
    /// let layer = Embedding::cartesian(&[5, 2], 4)?;
    /// assert_eq!(layer.describe(), "Embedding((5, 2) => 4)");
    /// let (ps, st) = setup(&mut RngState::seed_from_u64(0), &layer)?;
    /// assert_eq!(ps.tensor("weight")?.shape(), &[5, 2, 4]);
    /// let i = Tensor::from_vec(vec![4i64, 0, 2], &[3])?;
    /// let j = Tensor::from_vec(vec![1i64, 1, 0], &[3])?;
    /// let (y, _) = apply_tensor(&layer, Tree::seq([i, j]), &ps, &st)?;
    /// assert_eq!(y.shape(), &[3, 4]);
    /// let w = ps.tensor("weight")?.to_vec::<f32>()?;
    /// assert_eq!(&y.to_vec::<f32>()?[..4], &w[(4 * 2 + 1) * 4..(4 * 2 + 2) * 4]); // weight[4, 1, :]
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// `vocab` is empty or holds a 0; `dim` is 0.
    pub fn cartesian(vocab: &[usize], dim: usize) -> Result<Embedding> {
        Self::cartesian_builder(vocab, dim).build()
    }

    /// The options of `Embedding((v₁, v₂, …) => dim)`.
    ///
    /// ```
    /// let e = lux_layers::Embedding::cartesian_builder(&[5, 2], 3).build()?;
    /// assert_eq!((e.vocab(), e.vocab_dims(), e.dim()), (10, &[5, 2][..], 3));
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn cartesian_builder(vocab: &[usize], dim: usize) -> EmbeddingBuilder {
        EmbeddingBuilder {
            layer: Embedding { vocab: vocab.to_vec(), dim, init_weight: Init::uniform(0.0, 1.0), dtype: DType::F32 },
        }
    }

    /// The vocabulary size: the number of vectors (indices run over
    /// `0..vocab`; the product of the axes for a Cartesian vocabulary).
    ///
    /// ```
    /// assert_eq!(lux_layers::Embedding::new(5, 3)?.vocab(), 5);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn vocab(&self) -> usize {
        self.vocab.iter().product()
    }

    /// The vocabulary's axes: `[vocab]`, or `[v₁, v₂, …]` for a Cartesian
    /// vocabulary.
    ///
    /// ```
    /// assert_eq!(lux_layers::Embedding::new(5, 3)?.vocab_dims(), &[5]);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn vocab_dims(&self) -> &[usize] {
        &self.vocab
    }

    /// The weight's shape, `[vocab…, dim]`.
    fn weight_shape(&self) -> Vec<usize> {
        let mut shape = self.vocab.clone();
        shape.push(self.dim);
        shape
    }

    /// The flat (row-major) row of each Cartesian index tuple, in the
    /// indices' shape.
    fn flat_indices(&self, x: &Tree) -> Result<Tensor> {
        let describe = || self.describe();
        let parts = match x {
            Tree::Seq(items) if items.len() == self.vocab.len() => items,
            Tree::Seq(items) => {
                return Err(LuxError::Structure {
                    path: lux_core::ROOT.into(),
                    msg: format!(
                        "{}: expects {} index tensors (one per vocabulary axis), got {}",
                        describe(),
                        self.vocab.len(),
                        items.len()
                    ),
                });
            }
            other => {
                return Err(LuxError::Structure {
                    path: lux_core::ROOT.into(),
                    msg: format!(
                        "{}: expects a sequence of {} i64 index tensors, got a {}",
                        describe(),
                        self.vocab.len(),
                        other.kind_name()
                    ),
                });
            }
        };
        let tensors = parts.iter().map(|p| index_input(p, describe)).collect::<Result<Vec<_>>>()?;
        let shape = tensors[0].shape();
        if let Some(t) = tensors.iter().find(|t| t.shape() != shape) {
            return Err(LuxError::shape(
                &describe(),
                format!("the index tensors must have the same shape, got {:?} and {:?}", shape, t.shape()),
            ));
        }
        let mut flat = vec![0i64; tensors[0].len()];
        for (axis, (t, &size)) in tensors.iter().zip(&self.vocab).enumerate() {
            let v = t.to_vec::<i64>()?;
            if let Some(&i) = v.iter().find(|&&i| i < 0 || i as u64 >= size as u64) {
                return Err(LuxError::invalid_argument(
                    &describe(),
                    format!(
                        "index {i} on vocabulary axis {axis} is out of range for its size {size} (indices {shape:?})"
                    ),
                ));
            }
            flat.iter_mut().zip(&v).for_each(|(f, &i)| *f = *f * size as i64 + i);
        }
        Tensor::from_vec(flat, shape)
    }

    /// The size of each embedding vector.
    ///
    /// ```
    /// assert_eq!(lux_layers::Embedding::new(5, 3)?.dim(), 3);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn dim(&self) -> usize {
        self.dim
    }
}

impl Layer for Embedding {
    fn init_params(&self, rng: &mut dyn Rng) -> Result<Tree> {
        Ok(lux_core::tree! { weight: self.init_weight.init(rng, &self.weight_shape(), self.dtype)? })
    }

    fn param_shapes(&self) -> Option<Vec<Vec<usize>>> {
        Some(vec![self.weight_shape()])
    }

    fn state_shapes(&self) -> Option<Vec<Vec<usize>>> {
        Some(vec![])
    }

    fn forward(&self, x: &Tree, ps: &Tree, st: &Tree) -> Result<(Tree, Tree)> {
        let describe = || self.describe();
        check_param_keys(ps, &["weight"], describe)?;
        let w = param(ps, "weight", &self.weight_shape(), describe)?;
        let y = match (self.vocab.as_slice(), x) {
            ([_], Tree::Seq(items)) if items.len() == 1 => embedding(w, index_input(&items[0], describe)?),
            ([_], x) => embedding(w, index_input(x, describe)?),
            _ => embedding(&w.reshape(&[self.vocab(), self.dim])?, &self.flat_indices(x)?),
        };
        Ok((y.map_err(|e| in_layer(e, describe))?.into(), st.clone()))
    }

    fn describe(&self) -> String {
        format!("Embedding({} => {})", vocab_string(&self.vocab), self.dim)
    }
}

/// A vocabulary as Lux prints it: `10`, or `(5, 2)` for a Cartesian one.
fn vocab_string(vocab: &[usize]) -> String {
    match vocab {
        [v] => v.to_string(),
        _ => format!("({})", vocab.iter().map(|v| v.to_string()).collect::<Vec<_>>().join(", ")),
    }
}

/// `x` as an i64 tensor of indices, or an `Err` naming the layer.
fn index_input(x: &Tree, describe: impl FnOnce() -> String) -> Result<&Tensor> {
    match x {
        Tree::Tensor(t) if t.dtype() == DType::I64 => Ok(t),
        Tree::Tensor(t) => {
            Err(LuxError::DType { op: describe(), expected: "i64 (integer token indices)".into(), got: t.dtype() })
        }
        other => Err(LuxError::Structure {
            path: lux_core::ROOT.into(),
            msg: format!("{}: expects a tensor of i64 indices, got a {}", describe(), other.kind_name()),
        }),
    }
}
