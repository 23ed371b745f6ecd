//! TODO(issue 3): softmax
