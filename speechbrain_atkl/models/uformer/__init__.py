"""The Uformer teacher (Fu et al., ICASSP 2022) as a subpackage.

* :mod:`.attention`: complex/real linear maps, layer norms, (complex) attention;
* :mod:`.dilated`: the dilated-convolution modules (2-D gated blocks, time-only units);
* :mod:`.conformer`: the dual-path conformer block and the two-stream (fused) bottleneck;
* :mod:`.branches`: causal encoder/decoder layers, branch fusion, one branch's layers;
* :mod:`.model`: :class:`Uformer`, :data:`UFORMER_PRESETS`.

Authors
 * speechbrain-atkl developers 2026
"""

from speechbrain_atkl.models.uformer.attention import (
    ComplexLinear,
    MultiHeadAttention,
    PartLayerNorm,
    SelfAttention,
    SkipAttention,
)
from speechbrain_atkl.models.uformer.branches import Branch, BranchFusion, ConvLayer
from speechbrain_atkl.models.uformer.conformer import (
    DualPathConformerBlock,
    DualStreamConformerBlock,
    FeedForward,
)
from speechbrain_atkl.models.uformer.dilated import (
    DilatedConv2dModule,
    DilatedConvModule,
    GatedDilatedBlock2d,
    GatedDilatedConv,
)
from speechbrain_atkl.models.uformer.model import PREVIOUS_TEACHER, UFORMER_PRESETS, Uformer

__all__ = [
    "PREVIOUS_TEACHER",
    "UFORMER_PRESETS",
    "Branch",
    "BranchFusion",
    "ComplexLinear",
    "ConvLayer",
    "DilatedConv2dModule",
    "DilatedConvModule",
    "DualPathConformerBlock",
    "DualStreamConformerBlock",
    "FeedForward",
    "GatedDilatedBlock2d",
    "GatedDilatedConv",
    "MultiHeadAttention",
    "PartLayerNorm",
    "SelfAttention",
    "SkipAttention",
    "Uformer",
]
