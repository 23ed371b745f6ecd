//! The integration-test binary of lux-core (one binary, one module per area).

mod huge_shapes;
mod layer;
mod tree;
mod tree_props;
