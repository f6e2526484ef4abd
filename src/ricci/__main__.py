"""``python -m ricci``: the command line (see :mod:`ricci.cli`)."""

import sys

from .cli import main

__all__: list[str] = []

sys.exit(main())
