//! Upsampling layers (Lux's `Upsample` and `PixelShuffle`, in
//! `src/layers/conv.jl`), on `[N, C, spatial…]` inputs.
//!
//! **Lux quirk kept:** Lux's `Upsample` in the `:bilinear`/`:trilinear`
//! modes does not pass its `align_corners` keyword to NNlib, whose default
//! is `align_corners = true`; so Lux always aligns the corners and the
//! keyword is only printed. This layer computes what Lux computes (corners
//! aligned) and keeps the flag for printing. For pixel-centre sampling
//! (PyTorch's default) call [`lux_ops::upsample_linear`] with
//! `align_corners = false`.

use crate::util::float_input;
use crate::util::{in_layer, julia_tuple};
use lux_core::{Layer, LuxError, Result, Tensor, Tree};
use lux_ops::{pixel_shuffle, upsample_linear, upsample_nearest};

/// How [`Upsample`] interpolates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpsampleMode {
    /// Repeat each element (`:nearest`); integer scales only.
    Nearest,
    /// Linear interpolation along every spatial dim (`:bilinear`).
    Bilinear,
    /// Linear interpolation along every spatial dim (`:trilinear`; the same
    /// computation as `Bilinear`, as in NNlib, where both are
    /// `upsample_linear`).
    Trilinear,
}

impl UpsampleMode {
    /// Lux's symbol: `nearest`, `bilinear`, `trilinear`.
    ///
    /// ```
    /// assert_eq!(lux_layers::UpsampleMode::Bilinear.name(), "bilinear");
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            UpsampleMode::Nearest => "nearest",
            UpsampleMode::Bilinear => "bilinear",
            UpsampleMode::Trilinear => "trilinear",
        }
    }
}

/// A number as Julia prints it in `$(scale)`: `2`, `1.5`.
fn julia_number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 { format!("{}", v as i64) } else { format!("{v}") }
}

#[derive(Clone, Debug, PartialEq)]
enum Target {
    Scale(Vec<f64>),
    Size(Vec<usize>),
}

/// Upsampling layer (Lux's `Upsample(mode; scale | size, align_corners)`).
///
/// * `scale`: one value (every spatial dim) or one per spatial dim; the
///   output size is `⌊scale · in⌋` (nearest: integer scales, output
///   `scale · in`).
/// * `size`: the spatial output size (nearest: a multiple of the input's).
/// * Parameters and state: none. Input `[N, C, spatial…]` (any number of
///   spatial dims); output `[N, C, out…]`.
///
/// ```
/// use lux_core::*;
/// use lux_layers::*;
/// let layer = Upsample::scale(UpsampleMode::Nearest, &[2.0])?;
/// assert_eq!(layer.describe(), "Upsample(static(:nearest), scale = 2)");
/// let (ps, st) = setup(&mut RngState::seed_from_u64(0), &layer)?;
/// let x = Tensor::from_vec(vec![1.0f32, 2.0], &[1, 1, 1, 2])?;
/// let (y, _) = apply_tensor(&layer, &x, &ps, &st)?;
/// assert_eq!(y.shape(), &[1, 1, 2, 4]);
/// assert_eq!(y.to_vec::<f32>()?, vec![1.0, 1.0, 2.0, 2.0, 1.0, 1.0, 2.0, 2.0]);
/// let layer = Upsample::size(UpsampleMode::Bilinear, &[3])?;
/// assert_eq!(layer.describe(), "Upsample(static(:bilinear), size = (3,))");
/// let x = Tensor::from_vec(vec![0.0f64, 4.0], &[1, 1, 2])?;
/// assert_eq!(apply_tensor(&layer, &x, &ps, &st)?.0.to_vec::<f64>()?, vec![0.0, 2.0, 4.0]);
/// # Ok::<(), lux_core::LuxError>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Upsample {
    mode: UpsampleMode,
    target: Target,
    align_corners: bool,
}

impl Upsample {
    /// `Upsample(mode; scale)`.
    ///
    /// ```
    /// use lux_core::Layer;
    /// use lux_layers::{Upsample, UpsampleMode};
    /// assert_eq!(Upsample::scale(UpsampleMode::Bilinear, &[2.0, 1.0])?.describe(), "Upsample(static(:bilinear), scale = (2, 1))");
    /// assert!(Upsample::scale(UpsampleMode::Nearest, &[1.5]).is_err()); // nearest needs integers
    /// assert!(Upsample::scale(UpsampleMode::Bilinear, &[]).is_err());
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// An empty scale, an entry that is not positive and finite, or a
    /// non-integer scale for `Nearest`.
    pub fn scale(mode: UpsampleMode, scale: &[f64]) -> Result<Upsample> {
        let layer = Upsample { mode, target: Target::Scale(scale.to_vec()), align_corners: false };
        let bad_int = mode == UpsampleMode::Nearest && scale.iter().any(|s| s.fract() != 0.0);
        if scale.is_empty() || scale.iter().any(|s| !(s.is_finite() && *s > 0.0)) || bad_int {
            return Err(LuxError::invalid_argument(
                &layer.describe(),
                format!("the scale {scale:?} must be non-empty with positive finite entries (integers for nearest)"),
            ));
        }
        Ok(layer)
    }

    /// `Upsample(mode; size)`.
    ///
    /// ```
    /// use lux_core::Layer;
    /// use lux_layers::{Upsample, UpsampleMode};
    /// assert_eq!(Upsample::size(UpsampleMode::Nearest, &[64, 64])?.describe(), "Upsample(static(:nearest), size = (64, 64))");
    /// assert!(Upsample::size(UpsampleMode::Nearest, &[0, 64]).is_err());
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// An empty size or a zero entry.
    pub fn size(mode: UpsampleMode, size: &[usize]) -> Result<Upsample> {
        let layer = Upsample { mode, target: Target::Size(size.to_vec()), align_corners: false };
        if size.is_empty() || size.contains(&0) {
            return Err(LuxError::invalid_argument(
                &layer.describe(),
                format!("the size {size:?} must be non-empty with positive entries"),
            ));
        }
        Ok(layer)
    }

    /// Sets Lux's `align_corners` keyword (default false). As in Lux it is
    /// only printed: the linear modes always align the corners (see the
    /// [module docs](crate::upsample)).
    ///
    /// ```
    /// use lux_core::Layer;
    /// use lux_layers::{Upsample, UpsampleMode};
    /// let l = Upsample::scale(UpsampleMode::Bilinear, &[2.0])?.align_corners(true);
    /// assert_eq!(l.describe(), "Upsample(static(:bilinear), scale = 2, align_corners = true)");
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn align_corners(mut self, align_corners: bool) -> Self {
        self.align_corners = align_corners;
        self
    }

    /// The interpolation mode.
    ///
    /// ```
    /// use lux_layers::{Upsample, UpsampleMode};
    /// assert_eq!(Upsample::scale(UpsampleMode::Nearest, &[2.0])?.mode(), UpsampleMode::Nearest);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn mode(&self) -> UpsampleMode {
        self.mode
    }

    fn run(&self, x: &Tensor) -> Result<Tensor> {
        let d = x.ndim() - 2;
        let in_sp = &x.shape()[2..];
        let expand = |v: &[f64]| -> Result<Vec<f64>> {
            match v.len() {
                1 => Ok(vec![v[0]; d]),
                n if n == d => Ok(v.to_vec()),
                n => Err(LuxError::shape(
                    &self.describe(),
                    format!("scale has {n} entries but the input {:?} has {d} spatial dims", x.shape()),
                )),
            }
        };
        match (&self.target, self.mode) {
            (Target::Scale(s), UpsampleMode::Nearest) => {
                let s: Vec<usize> = expand(s)?.into_iter().map(|v| v as usize).collect();
                upsample_nearest(x, &s)
            }
            (Target::Size(size), UpsampleMode::Nearest) => lux_ops::upsample_nearest_size(x, size),
            (Target::Scale(s), _) => {
                let size: Vec<usize> =
                    expand(s)?.iter().zip(in_sp).map(|(s, &i)| (s * i as f64).floor() as usize).collect();
                upsample_linear(x, &size, true)
            }
            (Target::Size(size), _) => upsample_linear(x, size, true),
        }
    }
}

impl Layer for Upsample {
    fn param_shapes(&self) -> Option<Vec<Vec<usize>>> {
        Some(vec![])
    }
    fn state_shapes(&self) -> Option<Vec<Vec<usize>>> {
        Some(vec![])
    }
    fn forward(&self, x: &Tree, _ps: &Tree, st: &Tree) -> Result<(Tree, Tree)> {
        let describe = || self.describe();
        let x = float_input(x, describe)?;
        if x.ndim() < 3 {
            return Err(LuxError::shape(
                &describe(),
                format!("input has shape {:?}, expected [N, C, spatial...] with at least one spatial dim", x.shape()),
            ));
        }
        let y = self.run(x).map_err(|e| in_layer(e, describe))?;
        Ok((y.into(), st.clone()))
    }
    fn describe(&self) -> String {
        let mut s = format!("Upsample(static(:{})", self.mode.name());
        match &self.target {
            Target::Scale(v) if v.len() == 1 => s += &format!(", scale = {}", julia_number(v[0])),
            Target::Scale(v) => {
                s += &format!(", scale = {}", julia_tuple(&v.iter().map(|&x| julia_number(x)).collect::<Vec<_>>()))
            }
            Target::Size(v) => s += &format!(", size = {}", julia_tuple(v)),
        }
        if self.align_corners {
            s += ", align_corners = true";
        }
        s + ")"
    }
}

/// Pixel shuffle (Lux's `PixelShuffle(r)`): `[N, C·r^D, s₁, …, s_D]` →
/// `[N, C, r·s₁, …, r·s_D]` for `D` spatial dims (the channel order of
/// [`lux_ops::pixel_shuffle`], NNlib's read batch-first). Parameters and
/// state: none.
///
/// Lux builds it as a wrapper around a `WrappedFunction`; here it is a
/// plain layer that prints as `PixelShuffle(r)`.
///
/// ```
/// use lux_core::*;
/// use lux_layers::*;
/// let layer = PixelShuffle::new(3)?;
/// assert_eq!(layer.describe(), "PixelShuffle(3)");
/// let (ps, st) = setup(&mut RngState::seed_from_u64(0), &layer)?;
/// let x = Tensor::zeros(&[3, 9, 4, 3], DType::F32)?; // Lux's (3, 4, 9, 3) test input
/// assert_eq!(apply_tensor(&layer, &x, &ps, &st)?.0.shape(), &[3, 1, 12, 9]);
/// # Ok::<(), lux_core::LuxError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PixelShuffle {
    r: usize,
}

impl PixelShuffle {
    /// `PixelShuffle(r)`.
    ///
    /// ```
    /// assert!(lux_layers::PixelShuffle::new(0).is_err());
    /// ```
    ///
    /// # Errors
    /// `r = 0`.
    pub fn new(r: usize) -> Result<PixelShuffle> {
        if r == 0 {
            return Err(LuxError::invalid_argument("PixelShuffle(0)", "the upscale factor must be positive"));
        }
        Ok(PixelShuffle { r })
    }

    /// The upscale factor.
    ///
    /// ```
    /// assert_eq!(lux_layers::PixelShuffle::new(2)?.r(), 2);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn r(&self) -> usize {
        self.r
    }
}

impl Layer for PixelShuffle {
    fn param_shapes(&self) -> Option<Vec<Vec<usize>>> {
        Some(vec![])
    }
    fn state_shapes(&self) -> Option<Vec<Vec<usize>>> {
        Some(vec![])
    }
    fn forward(&self, x: &Tree, _ps: &Tree, st: &Tree) -> Result<(Tree, Tree)> {
        let describe = || self.describe();
        let x = float_input(x, describe)?;
        let y = pixel_shuffle(x, self.r).map_err(|e| in_layer(e, describe))?;
        Ok((y.into(), st.clone()))
    }
    fn describe(&self) -> String {
        format!("PixelShuffle({})", self.r)
    }
}
