//! Tests of `lux_ops::pool`.
use crate::*;
