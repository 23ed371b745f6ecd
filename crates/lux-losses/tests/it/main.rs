//! The integration-test binary of lux-losses (one module per family).
mod classification;
mod fused;
mod margin;
mod props;
mod regression;
