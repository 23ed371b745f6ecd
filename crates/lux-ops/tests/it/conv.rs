//! Tests of `lux_ops::conv`.
use crate::*;
