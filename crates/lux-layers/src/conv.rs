//! Convolution layers: Conv and ConvTranspose.
