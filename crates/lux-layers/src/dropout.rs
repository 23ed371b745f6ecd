//! Dropout layers: Dropout, AlphaDropout, VariationalHiddenDropout.
