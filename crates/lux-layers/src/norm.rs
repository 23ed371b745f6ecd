//! Normalisation layers: BatchNorm, LayerNorm, GroupNorm, InstanceNorm, WeightNorm.
