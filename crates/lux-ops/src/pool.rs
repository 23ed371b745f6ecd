//! TODO(issue 3): pool
