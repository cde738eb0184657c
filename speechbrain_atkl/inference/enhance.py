"""Ready-to-use speech enhancement with a published speechbrain-atkl model.

:class:`EnhanceBatch` is a SpeechBrain ``Pretrained`` interface. It loads a
model folder written by :mod:`speechbrain_atkl.publish` (a local folder or a
Hugging Face Hub id) and enhances batches of waveforms or whole audio files:

>>> from speechbrain_atkl import EnhanceBatch  # doctest: +SKIP
>>> enhancer = EnhanceBatch.from_hparams(source="user/model", savedir="pretrained/model")  # doctest: +SKIP
>>> enhanced = enhancer.enhance_file("noisy.flac", "enhanced.wav")  # doctest: +SKIP

Long recordings are enhanced in overlapping chunks (:func:`enhance_in_chunks`)
so that memory stays bounded whatever the file's length.

Authors
 * speechbrain-atkl developers 2026
"""

import logging
import math
from pathlib import Path

import torch
from speechbrain.inference.interfaces import Pretrained
from speechbrain.utils.fetching import FetchConfig, LocalStrategy, fetch

from speechbrain_atkl.data.audio import load_audio, save_audio

logger = logging.getLogger(__name__)

#: Output formats written as 32-bit float, so that nothing is clipped.
FLOAT_FORMATS = (".wav", ".w64", ".rf64", ".caf", ".aif", ".aiff")


class EnhanceBatch(Pretrained):
    """Speech enhancement interface for DCCRN, Distil-DCCRN and Uformer models.

    The hyperparams file must define ``sample_rate``, a ``modules`` dict with
    ``enhance_model`` (a module mapping ``(batch, time)`` waveforms to
    ``(batch, time)`` waveforms) and a ``pretrainer`` loading it; the folders
    written by :mod:`speechbrain_atkl.publish` do. Load it with
    :meth:`from_hparams`:

    * ``source``: a local folder or a Hub id; ``savedir``: where the files
      are linked or downloaded;
    * ``run_opts={"device": "cuda:0"}`` picks the device (default: CUDA when
      available, else CPU);
    * a Hub token or revision go through
      ``fetch_config=speechbrain.utils.fetching.FetchConfig(token=True, revision=...)``;
    * ``hyperparams.yaml`` is checked before it is loaded
      (:func:`~speechbrain_atkl.inference.safety.check_hyperparams`: only plain
      values and speechbrain_atkl model classes, nothing that runs code);
      ``trust_remote_code=True`` skips the check for a folder you trust;
    * the weights are read as tensors only (no pickled code) and must fill
      every parameter and buffer of the model, else a ``ValueError`` names
      the missing ones.

    Arguments
    ---------
    See ``speechbrain.inference.interfaces.Pretrained``.

    Example
    -------
    >>> from speechbrain_atkl.models.dccrn import DCCRN
    >>> model = DCCRN(channels=[8] * 6, rnn_units=16)
    >>> enhancer = EnhanceBatch(
    ...     modules={"enhance_model": model},
    ...     hparams={"sample_rate": 16000},
    ...     run_opts={"device": "cpu"},
    ... )
    >>> noisy = torch.randn(2, 4000)
    >>> enhanced = enhancer.enhance_batch(noisy, lengths=torch.tensor([1.0, 0.5]))
    >>> enhanced.shape, enhanced[1, 2000:].abs().max().item()
    (torch.Size([2, 4000]), 0.0)
    """

    HPARAMS_NEEDED = ["sample_rate"]
    MODULES_NEEDED = ["enhance_model"]

    @classmethod
    def from_hparams(
        cls,
        source,
        hparams_file="hyperparams.yaml",
        overrides=None,
        savedir=None,
        trust_remote_code=False,
        local_strategy=LocalStrategy.SYMLINK,
        fetch_config=None,
        download_only=False,
        **kwargs,
    ):
        """Fetches and loads a model folder (see the class docstring).

        Arguments
        ---------
        source : str
            Local folder or Hugging Face Hub id.
        hparams_file : str
            The HyperPyYAML file in ``source``.
        overrides : dict or None
            Values replacing the file's (trusted: they are the caller's).
        savedir : str or None
            Where files are linked or downloaded.
        trust_remote_code : bool
            Load the YAML even if it holds tags that can run code.
        local_strategy, fetch_config
            See ``speechbrain.utils.fetching.fetch``.
        download_only : bool
            Only fetch the files; returns ``None``.
        **kwargs
            Passed to the constructor (``run_opts``, ...).

        Returns
        -------
        EnhanceBatch or None
        """
        from hyperpyyaml import load_hyperpyyaml

        from speechbrain_atkl.inference.safety import check_hyperparams
        from speechbrain_atkl.training.checkpoints import load_state_dict

        fetch_config = fetch_config or FetchConfig()
        where = dict(source=source, savedir=savedir, local_strategy=local_strategy, fetch_config=fetch_config)
        hparams_path = fetch(filename=hparams_file, save_filename=None, **where)
        text = Path(hparams_path).read_text(encoding="utf-8")
        if not trust_remote_code:
            check_hyperparams(text, f"{source}: {hparams_file}")
        hparams = load_hyperpyyaml(text, overrides or {})
        hparams["savedir"] = savedir
        pretrainer = hparams["pretrainer"]
        pretrainer.set_collect_in(savedir)
        pretrainer.collect_files(default_source=source, local_strategy=local_strategy, fetch_config=fetch_config)
        if download_only:
            return None
        others = [n for n, obj in pretrainer.loadables.items() if not isinstance(obj, torch.nn.Module)]
        if others or pretrainer.custom_hooks:
            if not trust_remote_code:
                raise ValueError(
                    f"{source}: the pretrainer loads {others or list(pretrainer.custom_hooks)} with custom "
                    "code; pass trust_remote_code=True if you trust this folder."
                )
            pretrainer.load_collected()
        for name, module in pretrainer.loadables.items():
            if isinstance(module, torch.nn.Module) and name not in pretrainer.custom_hooks:
                load_state_dict(module, pretrainer.paths[name], what=f"{source}: {name}.ckpt")
        return cls(modules=hparams["modules"], hparams=hparams, **kwargs)

    @property
    def sample_rate(self):
        """The model's sampling rate in Hz (inputs are resampled to it)."""
        return self.hparams.sample_rate

    def enhance_batch(self, noisy, lengths=None):
        """Enhances a batch of (possibly padded) waveforms.

        Each waveform is enhanced on its own valid samples only: the batch is
        split into groups of equal length and every group runs without
        padding. The output of one waveform therefore does not depend on the
        padding or on the other waveforms of the batch, for causal models
        (DCCRN, whose output sample ``n`` sees the input up to
        ``n + model.lookahead_samples``) and non-causal ones (Uformer) alike;
        it equals enhancing that waveform alone. Samples beyond each length
        are zero in the output.

        Arguments
        ---------
        noisy : torch.Tensor
            Waveforms ``(batch, time)`` at :attr:`sample_rate`.
        lengths : torch.Tensor or None
            Relative lengths ``(batch,)`` in ``(0, 1]`` (SpeechBrain's
            convention); ``None`` means all waveforms are complete.

        Returns
        -------
        torch.Tensor
            Enhanced waveforms ``(batch, time)`` on the interface's device.
        """
        if noisy.dim() != 2:
            raise ValueError(f"enhance_batch expects noisy of shape (batch, time), got {tuple(noisy.shape)}.")
        noisy = noisy.to(self.device, torch.float32)
        if not torch.isfinite(noisy).all():
            raise ValueError("enhance_batch: the noisy input holds NaN or infinite samples.")
        batch, time = noisy.shape
        if lengths is None:
            lengths = torch.ones(batch)
        lengths = torch.as_tensor(lengths, dtype=torch.float64).cpu()
        if lengths.shape != (batch,) or not ((lengths > 0) & (lengths <= 1)).all():
            raise ValueError(f"lengths must be {batch} relative lengths in (0, 1], got {lengths.tolist()}.")
        samples = torch.round(lengths * time).long().clamp(1, time)
        enhanced = torch.zeros_like(noisy)
        with torch.no_grad():
            for length in samples.unique().tolist():
                rows = (samples == length).nonzero().squeeze(1).to(self.device)
                enhanced[rows, :length] = self.mods.enhance_model(noisy[rows, :length])
        return enhanced

    def enhance_waveform(self, wav, chunk_seconds=20.0, context_seconds=2.0, crossfade_seconds=0.05):
        """Enhances one waveform of any length in overlapping chunks.

        See :func:`enhance_in_chunks` for the method and its accuracy. A
        waveform no longer than one chunk is enhanced in one pass.

        Arguments
        ---------
        wav : torch.Tensor
            Noisy waveform ``(time,)`` at :attr:`sample_rate`.
        chunk_seconds : float
            Output produced per model call; with the contexts, bounds memory.
        context_seconds : float
            Past audio fed before each chunk to warm up the model's recurrent
            state (and future audio too, for models without
            ``lookahead_samples``).
        crossfade_seconds : float
            Length of the linear cross-fade between consecutive chunks.

        Returns
        -------
        torch.Tensor
            Enhanced waveform ``(time,)`` on the interface's device.
        """
        if wav.dim() != 1:
            raise ValueError(f"enhance_waveform expects a (time,) waveform, got {tuple(wav.shape)}.")
        model = self.mods.enhance_model
        rate = self.sample_rate
        context = math.ceil(context_seconds * rate)
        return enhance_in_chunks(
            lambda chunk: self.enhance_batch(chunk[None])[0],
            wav.to(self.device, torch.float32),
            chunk_samples=math.ceil(chunk_seconds * rate),
            context_samples=context,
            lookahead_samples=getattr(model, "lookahead_samples", context),
            crossfade_samples=math.ceil(crossfade_seconds * rate),
            hop_samples=getattr(getattr(model, "stft", None), "hop_length", 1),
        )

    def enhance_file(
        self,
        path,
        output_filename=None,
        chunk_seconds=20.0,
        context_seconds=2.0,
        crossfade_seconds=0.05,
    ):
        """Enhances an audio file.

        The file may be in any format soundfile reads and at any sampling
        rate: it is resampled to the model's rate (16 kHz for the published
        models), and several channels are mixed to mono by averaging them.
        **The output is at the model's rate**, whatever the input's rate.
        Long files are enhanced in chunks (see :meth:`enhance_waveform`): the
        model's memory is bounded by the chunk size, while the signal itself
        is held in memory (64 kB per second at 16 kHz).

        Arguments
        ---------
        path : str or pathlib.Path
            Noisy audio file.
        output_filename : str or pathlib.Path or None
            If given, the enhanced signal is written there (format from the
            extension; WAV and other float-capable formats as 32-bit float,
            so nothing is clipped; other formats are clipped to [-1, 1] with
            a warning). The file is written under a temporary name and
            renamed when complete, so an existing name is never half-written.
        chunk_seconds, context_seconds, crossfade_seconds : float
            Chunking (see :meth:`enhance_waveform`).

        Returns
        -------
        torch.Tensor
            The enhanced signal ``(time,)`` on the CPU, at :attr:`sample_rate`.

        Raises
        ------
        speechbrain_atkl.data.audio.AudioError
            (a ``ValueError``) naming the file if it is missing, not audio,
            empty, or holds NaN or infinite samples.
        RuntimeError
            Naming the file if the model produced non-finite samples (nothing
            is written then).
        """
        noisy = load_audio(path, sample_rate=self.sample_rate)
        enhanced = self.enhance_waveform(noisy, chunk_seconds, context_seconds, crossfade_seconds).cpu()
        if not torch.isfinite(enhanced).all():
            raise RuntimeError(f"{path}: the model produced NaN or infinite samples; nothing written.")
        if output_filename is not None:
            write_enhanced(output_filename, enhanced, self.sample_rate)
        return enhanced

    def forward(self, noisy, lengths=None):
        """Same as :meth:`enhance_batch`."""
        return self.enhance_batch(noisy, lengths)


def write_enhanced(path, wav, sample_rate):
    """Writes an enhanced signal atomically without silent clipping.

    WAV-like formats (:data:`FLOAT_FORMATS`) are written as 32-bit float;
    other formats use their default sample type, and a signal beyond
    [-1, 1] is clipped with a logged warning.

    Arguments
    ---------
    path : str or pathlib.Path
        Output file.
    wav : torch.Tensor
        Signal ``(time,)``.
    sample_rate : int
        Sampling rate in Hz.

    Example
    -------
    >>> import os, tempfile, soundfile
    >>> path = os.path.join(tempfile.mkdtemp(), "loud.wav")
    >>> write_enhanced(path, torch.tensor([1.5, -2.0, 0.25]), 16000)
    >>> soundfile.read(path)[0].tolist()
    [1.5, -2.0, 0.25]
    """
    path = Path(path)
    if path.suffix.lower() in FLOAT_FORMATS:
        save_audio(path, wav, sample_rate, subtype="FLOAT")
        return
    peak = wav.abs().max().item()
    if peak > 1.0:
        logger.warning("%s: enhanced signal peaks at %.2f; clipped to [-1, 1] for this format.", path, peak)
    save_audio(path, wav.clamp(-1.0, 1.0), sample_rate)


def enhance_in_chunks(
    enhance,
    wav,
    chunk_samples,
    context_samples,
    lookahead_samples,
    crossfade_samples,
    hop_samples=1,
):
    """Runs an enhancement function over a long waveform in overlapping chunks.

    The output is cut into consecutive chunks of ``chunk_samples``. Chunk
    ``k`` is computed from the input starting ``context_samples`` before it
    (so that recurrent state and convolutions have warmed up) and ending
    ``lookahead_samples`` after it (so that a model looking that far ahead
    sees exactly what it would in one pass), plus ``crossfade_samples`` over
    which it fades out while chunk ``k + 1`` fades in. Chunk starts and the
    context are rounded up to multiples of ``hop_samples``, so that every
    chunk's STFT frames fall on the frame grid of the whole signal.

    Memory per call is bounded by ``chunk + context + crossfade + lookahead``
    samples. For a model whose output sample ``n`` depends only on input
    samples up to ``n + lookahead_samples`` and on a fading memory of the
    past (DCCRN), the result matches one-pass processing up to the
    difference left by truncating the past to ``context_samples``; with a
    context reaching the start of the signal it is identical.

    Arguments
    ---------
    enhance : callable
        Maps a ``(time,)`` waveform to a ``(time,)`` enhanced waveform.
    wav : torch.Tensor
        Waveform ``(time,)``.
    chunk_samples : int
        Output samples per chunk (> 0).
    context_samples : int
        Past input samples fed before each chunk (>= 0).
    lookahead_samples : int
        Future input samples fed after each chunk (>= 0).
    crossfade_samples : int
        Cross-fade length, at most ``chunk_samples``.
    hop_samples : int
        Alignment of chunk boundaries (the model's STFT hop).

    Returns
    -------
    torch.Tensor
        Enhanced waveform ``(time,)``.

    Example
    -------
    >>> wav = torch.randn(1000)
    >>> out = enhance_in_chunks(lambda x: 2 * x, wav, 300, 50, 0, 20, hop_samples=100)
    >>> torch.allclose(out, 2 * wav)
    True
    """
    if chunk_samples <= 0 or context_samples < 0 or lookahead_samples < 0 or hop_samples <= 0:
        raise ValueError(
            "expected chunk_samples > 0, context_samples >= 0, lookahead_samples >= 0 and "
            f"hop_samples > 0, got {chunk_samples}, {context_samples}, {lookahead_samples}, {hop_samples}."
        )
    chunk = _round_up(chunk_samples, hop_samples)
    context = _round_up(context_samples, hop_samples)
    if not 0 <= crossfade_samples <= chunk:
        raise ValueError(f"crossfade_samples must be in [0, {chunk}], got {crossfade_samples}.")
    time = wav.shape[-1]
    if time <= chunk:
        return enhance(wav)
    fade_in = (torch.arange(crossfade_samples, device=wav.device) + 0.5) / crossfade_samples
    output = torch.zeros_like(wav)
    for start in range(0, time, chunk):
        end = min(start + chunk + crossfade_samples, time)
        first = max(start - context, 0)
        last = min(end + lookahead_samples, time)
        piece = enhance(wav[first:last])[start - first : end - first]
        weight = torch.ones_like(piece)
        if start > 0:
            ramp = fade_in[: piece.shape[0]]
            weight[: ramp.shape[0]] = ramp
        if start + chunk < time:
            ramp = 1.0 - fade_in[: end - start - chunk]
            weight[chunk:] = ramp
        output[start:end] += weight * piece
    return output


def _round_up(value, multiple):
    return -(-value // multiple) * multiple
