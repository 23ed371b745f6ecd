//! TODO(issue 3): conv
