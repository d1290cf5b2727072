"""``python -m inferop.cli``: the ``inferop`` console script."""

import sys

from inferop.cli import main

sys.exit(main())
