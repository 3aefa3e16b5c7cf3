"""``python -m s1lib.cli``: the ``s1`` command."""

import sys

from s1lib.cli import main

sys.exit(main())
