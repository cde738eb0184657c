"""The check before a model folder is put in place: loaded back, it reproduces the trained model.

Authors
 * speechbrain-atkl developers 2026
"""

import tempfile

import torch

from speechbrain_atkl.publishing.errors import PublishError

#: Largest difference allowed between the published and the trained model's
#: output, relative to the output's peak.
VERIFY_TOLERANCE = 1e-4


def verify_folder(folder, model, noisy):
    """Loads a model folder as a user would and checks that it enhances like ``model``.

    The folder is loaded with ``EnhanceBatch.from_hparams`` (on the CPU, into
    a temporary savedir) and both enhance ``noisy``; their largest difference
    may be at most :data:`VERIFY_TOLERANCE` of the trained output's peak.

    Arguments
    ---------
    folder : str or pathlib.Path
        The assembled model folder (``hyperparams.yaml``, ``enhance_model.ckpt``).
    model : torch.nn.Module
        The trained model, in eval mode.
    noisy : torch.Tensor
        ``(time,)`` input of both.

    Returns
    -------
    torch.Tensor
        ``(time,)``: the published model's output.

    Raises
    ------
    PublishError
        When the outputs differ by more than the tolerance.

    Example
    -------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from speechbrain_atkl.loading import model_spec
    >>> from speechbrain_atkl.models.dccrn import DCCRN
    >>> from speechbrain_atkl.publishing.model_files import inference_hyperparams
    >>> _ = torch.manual_seed(0)
    >>> model = DCCRN(channels=[8, 8, 16, 16, 16, 16], rnn_units=16).eval()
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "hyperparams.yaml").write_text(inference_hyperparams(model_spec(model), 16000))
    >>> torch.save(model.state_dict(), folder / "enhance_model.ckpt")
    >>> noisy = 0.1 * torch.randn(4000)
    >>> verify_folder(folder, model, noisy).shape
    torch.Size([4000])
    >>> verify_folder(folder, DCCRN(channels=[8, 8, 16, 16, 16, 16], rnn_units=16).eval(), noisy)
    Traceback (most recent call last):
    ...
    speechbrain_atkl.publishing.errors.PublishError: the published model's output differs ...; refusing to publish.
    """
    from speechbrain_atkl.inference.enhance import EnhanceBatch

    with tempfile.TemporaryDirectory() as savedir:
        enhancer = EnhanceBatch.from_hparams(source=str(folder), savedir=savedir, run_opts={"device": "cpu"})
        published = enhancer.enhance_batch(noisy[None])[0]
    with torch.no_grad():
        expected = model(noisy[None])[0]
    difference = (published - expected).abs().max().item() / max(expected.abs().max().item(), 1e-3)
    if not difference <= VERIFY_TOLERANCE:
        raise PublishError(
            f"the published model's output differs from the trained model's by {difference:.3g} "
            f"of its peak (tolerance {VERIFY_TOLERANCE}); refusing to publish."
        )
    return published
