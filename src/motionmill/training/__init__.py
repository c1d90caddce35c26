"""Training: the one loop, learning-rate schedule, run checkpoints, and the per-model tasks."""
