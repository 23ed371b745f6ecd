//! TODO(issue 3): embedding
