"""Everything zoo reads or writes on disk: bounded readers, checkpoints, weights, run folders."""
