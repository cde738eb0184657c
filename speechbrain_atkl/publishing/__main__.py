"""Entry point of ``python -m speechbrain_atkl.publishing``."""

import sys

from speechbrain_atkl.publishing.cli import main

if __name__ == "__main__":
    sys.exit(main())
