"""`python -m gatehouse_gate run ...`: the same as the `gatehouse-gate` console script."""

import sys

from gatehouse_gate.cli import main

sys.exit(main())
