//! Integration tests of lux-train.

mod checkpoint;
mod lux_api;
mod rules;
mod train;
