"""``python -m solvers.cli``: the ``market-eq`` command."""

import sys

from . import main

sys.exit(main())
