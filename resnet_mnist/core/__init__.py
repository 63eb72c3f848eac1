"""The engine and what it needs: the config and its settings, the model, MNIST, events, devices, precision, threads."""
