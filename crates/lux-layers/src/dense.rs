//! Dense-family layers: Dense, Bilinear, Scale, Maxout.
