//! Upsample and PixelShuffle.
