//! Weight initialisers (Lux's WeightInitializers), with an explicit rng.
