//! Integration tests of lux-layers, one module per layer family.

mod basic;
mod common;
mod containers;
mod display;
mod dropout;
mod init;
