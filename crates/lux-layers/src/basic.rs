//! WrappedFunction, NoOpLayer, FlattenLayer, ReshapeLayer, SelectDim and activation functions as layers.
