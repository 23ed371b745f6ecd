//! TODO(issue 3): lux_ops
