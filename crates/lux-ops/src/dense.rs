//! TODO(issue 3): dense
