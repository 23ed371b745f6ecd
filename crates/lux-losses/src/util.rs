//! Checks and conversions every loss shares.

use lux_core::{DType, LuxError, Result, Tensor, broadcast_shapes};

/// Re-labels an error from a step of `loss` with what was being done.
pub(crate) fn context(loss: &str, what: &str, e: LuxError) -> LuxError {
    LuxError::invalid_argument(loss, format!("{what}: {e}"))
}

/// `Err(UnsupportedDType)` naming `loss` unless the predictions are floats.
pub(crate) fn float_predictions(loss: &str, y_pred: &Tensor) -> Result<()> {
    if y_pred.dtype().is_float() {
        Ok(())
    } else {
        Err(LuxError::UnsupportedDType { op: format!("{loss} (predictions ŷ)"), dtype: y_pred.dtype() })
    }
}

/// Checks that `y_pred` is a float tensor and that the targets `y` broadcast
/// against it, and returns `y` as a constant of `y_pred`'s compute dtype
/// (bool and integer targets become 0/1 or their values, as in Lux).
pub(crate) fn prepare(loss: &str, y_pred: &Tensor, y: &Tensor) -> Result<Tensor> {
    float_predictions(loss, y_pred)?;
    broadcast_shapes(y_pred.shape(), y.shape()).map_err(|_| {
        LuxError::shape(
            loss,
            format!(
                "predictions ŷ of shape {:?} and targets y of shape {:?} do not broadcast",
                y_pred.shape(),
                y.shape()
            ),
        )
    })?;
    let dtype = if y.dtype().is_float() { DType::promote(y_pred.dtype(), y.dtype()) } else { y_pred.dtype() };
    y.detach().to_dtype(dtype)
}

/// The machine epsilon of `dtype` (f32's for non-float dtypes).
pub(crate) fn machine_epsilon(dtype: DType) -> f64 {
    match dtype {
        DType::F16 => 9.765625e-4,
        DType::BF16 => 7.8125e-3,
        DType::F64 => f64::EPSILON,
        _ => f32::EPSILON as f64,
    }
}

/// `epsilon`, or Lux's default: the machine epsilon of the promoted dtype
/// of `y_pred` and `y`.
pub(crate) fn epsilon_for(loss: &str, epsilon: Option<f64>, y_pred: &Tensor, y: &Tensor) -> Result<f64> {
    match epsilon {
        Some(e) if e.is_finite() && e >= 0.0 => Ok(e),
        Some(e) => Err(LuxError::invalid_argument(loss, format!("epsilon must be finite and ≥ 0, got {e}"))),
        None => Ok(machine_epsilon(if y.dtype().is_float() {
            DType::promote(y_pred.dtype(), y.dtype())
        } else {
            y_pred.dtype()
        })),
    }
}

/// `Err` unless `value` is finite and ≥ 0 (delta, margin, smooth, gamma).
pub(crate) fn non_negative(loss: &str, name: &str, value: f64) -> Result<f64> {
    if value.is_finite() && value >= 0.0 {
        Ok(value)
    } else {
        Err(LuxError::invalid_argument(loss, format!("{name} must be finite and ≥ 0, got {value}")))
    }
}

/// `Err` unless `value` lies in `[0, 1]` (label smoothing).
pub(crate) fn unit_interval(loss: &str, name: &str, value: f64) -> Result<f64> {
    if (0.0..=1.0).contains(&value) {
        Ok(value)
    } else {
        Err(LuxError::invalid_argument(loss, format!("{name} must lie in [0, 1], got {value}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prepare_checks_dtypes_and_shapes() -> Result<()> {
        let p = Tensor::from_vec(vec![0.5f32, 0.25], &[2])?;
        let y = Tensor::from_vec(vec![true, false], &[2])?;
        assert_eq!(prepare("L", &p, &y)?.to_vec::<f32>()?, vec![1.0, 0.0]);
        let e = prepare("L", &p, &Tensor::zeros(&[3], DType::F32)?).unwrap_err().to_string();
        assert!(e.contains("L") && e.contains("[2]") && e.contains("[3]"), "{e}");
        assert!(prepare("L", &Tensor::zeros(&[2], DType::I64)?, &p).is_err());
        Ok(())
    }

    #[test]
    fn epsilon_defaults_to_the_promoted_machine_epsilon() -> Result<()> {
        let (f32x, f64x) = (Tensor::zeros(&[1], DType::F32)?, Tensor::zeros(&[1], DType::F64)?);
        assert_eq!(epsilon_for("L", None, &f32x, &f32x)?, f32::EPSILON as f64);
        assert_eq!(epsilon_for("L", None, &f32x, &f64x)?, f64::EPSILON);
        assert_eq!(epsilon_for("L", Some(0.5), &f32x, &f32x)?, 0.5);
        assert!(epsilon_for("L", Some(f64::NAN), &f32x, &f32x).is_err());
        assert!(non_negative("L", "delta", -1.0).is_err() && unit_interval("L", "α", 1.5).is_err());
        Ok(())
    }
}
