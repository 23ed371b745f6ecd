//! Integration tests of lux-layers, one module per layer family.

mod basic;
mod common;
mod containers;
mod dense;
mod display;
mod dropout;
mod embedding;
mod init;
mod maxout;
