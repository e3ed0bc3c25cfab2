"""One training run: the plan, its setup, the trainer and the state it owns."""
