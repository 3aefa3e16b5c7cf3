"""``python -m s1lib.train`` / ``accelerate launch -m s1lib.train``: the same entry point as ``s1 train``."""

import sys

from s1lib.train.cli import main

sys.exit(main())
