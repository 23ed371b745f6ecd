//! TODO(issue 3): dropout
