"""Entry point of ``python -m speechbrain_atkl.evaluation``."""

import sys

from speechbrain_atkl.evaluation.cli import main

if __name__ == "__main__":
    sys.exit(main())
