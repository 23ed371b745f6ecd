//! Tests of `lux_ops::dropout`.
use crate::*;
