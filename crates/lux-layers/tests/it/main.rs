//! Integration tests of lux-layers, one module per layer family.

mod basic;
mod common;
mod containers;
mod dense;
mod conv;
mod display;
mod dropout;
mod embedding;
mod init;
mod maxout;
mod norm;
mod pool;
mod upsample;
