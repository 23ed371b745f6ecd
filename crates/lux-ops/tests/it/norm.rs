//! Tests of `lux_ops::norm`.
use crate::*;
