//! Containers: Chain, SkipConnection, Parallel, BranchLayer, PairwiseFusion, RepeatedLayer.
