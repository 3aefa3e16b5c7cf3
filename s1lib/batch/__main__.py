"""``python -m s1lib.batch RUN_DIR``: execute one prepared run (how local workers start each run)."""

import sys

from s1lib.batch.runner import main

sys.exit(main())
