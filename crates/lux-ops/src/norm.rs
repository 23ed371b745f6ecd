//! TODO(issue 3): norm
