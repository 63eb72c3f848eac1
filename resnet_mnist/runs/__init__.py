"""What lands on disk: the runs folder, one writer per run, the validated schema, checkpoints, and the verdicts
read from them."""
