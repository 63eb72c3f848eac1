import sys

from resnet_mnist.cli.main import main

sys.exit(main())
