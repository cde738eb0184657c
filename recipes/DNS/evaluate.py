"""Scores enhanced DNS test-set files: PESQ-WB, STOI, eSTOI, SI-SNR(i), DNSMOS.

Same options as ``python -m speechbrain_atkl.evaluation`` (see ``--help``), e.g.

    python -m recipes.DNS.evaluate \\
        --enhanced results/enhanced \\
        --clean test_set/synthetic/no_reverb/clean \\
        --noisy test_set/synthetic/no_reverb/noisy \\
        --output results/scores
"""

import sys

from speechbrain_atkl.evaluation.cli import main

if __name__ == "__main__":
    sys.exit(main())
