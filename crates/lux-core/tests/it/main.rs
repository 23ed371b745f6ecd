//! The integration-test binary of lux-core (one binary, one module per area).

mod algebra;
mod layer;
mod tree;
mod tree_props;
