"""``python -m clipscale``: the same as the ``clipscale`` command."""

import sys

from .cli import main

sys.exit(main())
