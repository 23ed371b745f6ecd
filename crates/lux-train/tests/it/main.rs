//! Integration tests of lux-train.

mod lux_api;
mod rules;
mod train;
