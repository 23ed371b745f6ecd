//! Pooling layers: max, mean and LP pooling, global and adaptive pools.
