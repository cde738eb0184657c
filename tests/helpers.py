"""Model builders shared by the test files."""

import torch

from speechbrain_atkl.models.dccrn import DCCRN
from speechbrain_atkl.streaming import CheckedStep, StreamingEnhancer, StreamingStep


def small_dccrn(seed=0, **config):
    """A small DCCRN in eval mode with non-trivial batch-norm statistics."""
    torch.manual_seed(seed)
    model = DCCRN(**{"channels": [8, 8, 16, 16, 16, 16], "rnn_units": 16, **config})
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.normal_(0, 0.5)
                module.running_var.uniform_(0.5, 2.0)
    return model.eval()


def convolution_streamer(model, atten_lim_db=None):
    """A StreamingEnhancer running the convolution form of the hop (the form the ONNX graph holds)."""
    enhancer = StreamingEnhancer(model, atten_lim_db=atten_lim_db)
    enhancer.step = CheckedStep(StreamingStep(model, matrix_steps=False, atten_lim_db=atten_lim_db))
    return enhancer
