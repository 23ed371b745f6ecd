//! Tests of `lux_ops::embedding`.
use crate::*;
