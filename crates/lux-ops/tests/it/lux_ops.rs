//! Tests of `lux_ops::lux_ops`.
use crate::*;
