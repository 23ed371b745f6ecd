//! Integration tests of lux-train.

mod checkpoint;
mod rules;
mod train;
