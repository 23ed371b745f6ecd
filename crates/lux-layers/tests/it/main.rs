//! Integration tests of lux-layers, one module per layer family.

mod basic;
mod common;
mod containers;
mod conv;
mod dense;
mod display;
mod dropout;
mod embedding;
mod init;
mod maxout;
mod norm;
mod pool;
mod recurrent;
mod upsample;
