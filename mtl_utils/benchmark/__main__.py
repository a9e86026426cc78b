"""``python -m mtl_utils.benchmark``: the benchmark's command line (``--help`` lists its options)."""
import sys

from . import main

sys.exit(main())
