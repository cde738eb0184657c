"""GTCRN (Rong et al., ICASSP 2024), a 48 k-parameter enhancement model with published weights.

Modules: :mod:`~.model` (the network and its presets), :mod:`~.blocks`
(convolution blocks), :mod:`~.dual_path` (the grouped dual-path RNN) and
:mod:`~.erb` (ERB band merging and splitting).
"""

from speechbrain_atkl.models.gtcrn.model import GTCRN, GTCRN_PRESETS

__all__ = ["GTCRN", "GTCRN_PRESETS"]
