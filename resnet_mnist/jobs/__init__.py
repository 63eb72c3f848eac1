"""Background work for the dashboard: the training worker, the sweep runner, the claim on the cores."""
