"""``python -m mnistbench.cli``: the same as the ``mnistbench`` command."""

import sys

from . import main

sys.exit(main())
