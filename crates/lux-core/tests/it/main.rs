//! The integration-test binary of lux-core (one binary, one module per area).

mod algebra;
mod huge_shapes;
mod layer;
mod scalars;
mod stateful;
mod tensor_serde;
mod tree;
mod tree_props;
