//! Tests of `lux_ops::dense`.
use crate::*;
