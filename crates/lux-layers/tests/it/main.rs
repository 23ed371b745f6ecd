//! Integration tests of lux-layers, one module per layer family.

mod basic;
mod common;
mod containers;
mod display;
mod dense;
mod dropout;
mod embedding;
mod init;
mod maxout;
