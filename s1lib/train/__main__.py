"""``python -m s1lib.train`` / ``accelerate launch -m s1lib.train``: the same entry point as ``s1 train``."""

import sys

from s1lib.cli.train import main

sys.exit(main())
