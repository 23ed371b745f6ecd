//! [`Embedding`]: a lookup table of vectors indexed by integer tokens
//! (Lux's `Embedding` in `src/layers/embedding.jl`).

use crate::dense::{check_param_keys, in_layer, param};
use crate::init::Init;
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
/// Lux's multi-dimensional vocabularies (`Embedding((5, 2) => 4)` indexed
/// by tuples of Cartesian indices) are not supported.
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
    vocab: usize,
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
    /// (default: uniform in `[0, 1)`, Lux's `rand32`).
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
    /// `vocab` or `dim` is 0; the dtype is not a float dtype; the
    /// initialiser's options are invalid.
    pub fn build(self) -> Result<Embedding> {
        let layer = self.layer;
        let describe = || layer.describe();
        if layer.vocab == 0 || layer.dim == 0 {
            return Err(LuxError::invalid_argument(
                &describe(),
                format!(
                    "the vocabulary size and the dimension must be positive, got {} and {}",
                    layer.vocab, layer.dim
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
        EmbeddingBuilder { layer: Embedding { vocab, dim, init_weight: Init::uniform(0.0, 1.0), dtype: DType::F32 } }
    }

    /// The vocabulary size (indices run over `0..vocab`).
    ///
    /// ```
    /// assert_eq!(lux_layers::Embedding::new(5, 3)?.vocab(), 5);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn vocab(&self) -> usize {
        self.vocab
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
        Ok(lux_core::tree! { weight: self.init_weight.init(rng, &[self.vocab, self.dim], self.dtype)? })
    }

    fn param_shapes(&self) -> Option<Vec<Vec<usize>>> {
        Some(vec![vec![self.vocab, self.dim]])
    }

    fn state_shapes(&self) -> Option<Vec<Vec<usize>>> {
        Some(vec![])
    }

    fn forward(&self, x: &Tree, ps: &Tree, st: &Tree) -> Result<(Tree, Tree)> {
        let describe = || self.describe();
        let indices = index_input(x, describe)?;
        check_param_keys(ps, &["weight"], describe)?;
        let w = param(ps, "weight", &[self.vocab, self.dim], describe)?;
        let y = embedding(w, indices).map_err(|e| in_layer(e, describe))?;
        Ok((y.into(), st.clone()))
    }

    fn describe(&self) -> String {
        format!("Embedding({} => {})", self.vocab, self.dim)
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
