"""The command line: python -m resnet_mnist train / evaluate / sweep / ..."""
