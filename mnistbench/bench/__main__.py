"""``python -m mnistbench.bench``: the same report as ``mnistbench bench``."""

import sys

from .run import main

sys.exit(main())
