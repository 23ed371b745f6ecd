//! Tests of `lux_ops::softmax`.
use crate::*;
