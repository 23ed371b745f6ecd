//! Tests of `lux_ops::activation`.
use crate::*;
