"""Ready-to-use speech enhancement with a published speechbrain-atkl model.

:class:`EnhanceBatch` is a SpeechBrain ``Pretrained`` interface. It loads a
model folder written by :mod:`speechbrain_atkl.publishing` (a local folder or a
Hugging Face Hub id) and enhances batches of waveforms or whole audio files:

>>> from speechbrain_atkl import EnhanceBatch  # doctest: +SKIP
>>> enhancer = EnhanceBatch.from_hparams(source="user/model", savedir="pretrained/model")  # doctest: +SKIP
>>> enhanced = enhancer.enhance_file("noisy.flac", "enhanced.wav")  # doctest: +SKIP

Long recordings are read, resampled, enhanced in overlapping chunks
(:func:`enhance_stream`) and written block by block
(:mod:`~speechbrain_atkl.inference.file_pipeline`), so that memory stays
bounded whatever the file's length. Every method takes an attenuation limit
(``atten_lim_db``, see :mod:`~speechbrain_atkl.models.attenuation`), and
:meth:`EnhanceBatch.enhance_file` can write its output at the input's rate.

Authors
 * speechbrain-atkl developers 2026
"""

import functools
import inspect
import math

import torch
from speechbrain.inference.interfaces import Pretrained
from speechbrain.utils.fetching import LocalStrategy

from speechbrain_atkl.data.audio import float_samples
from speechbrain_atkl.inference.chunking import check_chunking, enhance_in_chunks, enhance_stream
from speechbrain_atkl.inference.file_pipeline import enhance_audio_file
from speechbrain_atkl.loading import load_model_folder
from speechbrain_atkl.models.attenuation import attenuation_floor

__all__ = ["EnhanceBatch", "NonFiniteOutputError", "enhance_in_chunks", "enhance_stream"]


class NonFiniteOutputError(RuntimeError):
    """The model produced NaN or infinite samples (e.g. from extreme input)."""


class EnhanceBatch(Pretrained):
    """Speech enhancement interface for DCCRN, Distil-DCCRN and Uformer models.

    The hyperparams file must define ``sample_rate``, a ``modules`` dict with
    ``enhance_model`` (a module mapping ``(batch, time)`` waveforms to
    ``(batch, time)`` waveforms) and a ``pretrainer`` loading it; the folders
    written by :mod:`speechbrain_atkl.publishing` do. Load it with
    :meth:`from_hparams`:

    * ``source``: a local folder or a Hub id; ``savedir``: where the files
      are linked or downloaded (a folder holding another model's files is
      refused);
    * ``run_opts={"device": "cuda:0"}`` picks the device (default: CUDA when
      available, else CPU);
    * a Hub token or revision go through
      ``fetch_config=speechbrain.utils.fetching.FetchConfig(token=True, revision=...)``;
    * the folder is loaded by
      :func:`~speechbrain_atkl.loading.model_folder.load_model_folder`:
      ``hyperparams.yaml`` is read without running anything and within
      bounds (only plain values and speechbrain_atkl model classes);
      ``trust_remote_code=True`` reads a folder you trust with HyperPyYAML;
    * the weights are read as tensors only (no pickled code) and must fill
      every parameter and buffer of the model, and ``modules.enhance_model``
      must be the model they fill, else a ``ValueError`` says what is wrong.

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
    >>> gentler = enhancer.enhance_batch(noisy, atten_lim_db=6.0)  # each bin keeps >= 1/2 of its input
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
            Where files are linked or downloaded: a new or empty folder, or
            one already filled from the same source (another model's is
            refused).
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
        hparams = load_model_folder(
            source,
            savedir=savedir,
            trust_remote_code=trust_remote_code,
            overrides=overrides,
            hparams_file=hparams_file,
            local_strategy=local_strategy,
            fetch_config=fetch_config,
            download_only=download_only,
        )
        if download_only:
            return None
        return cls(modules=hparams["modules"], hparams=hparams, **kwargs)

    @property
    def sample_rate(self):
        """The model's sampling rate in Hz (inputs are resampled to it)."""
        return self.hparams.sample_rate

    def attenuation_kwargs(self, atten_lim_db):
        """The keyword arguments that pass an attenuation limit to the model.

        Arguments
        ---------
        atten_lim_db : float or None
            Attenuation limit in dB (see
            :mod:`~speechbrain_atkl.models.attenuation`); None: no limit.

        Returns
        -------
        dict
            ``{}`` for None, else ``{"atten_lim_db": atten_lim_db}``.

        Raises
        ------
        ValueError
            If the value is not a finite number >= 0.
        TypeError
            If the model's ``forward`` takes no ``atten_lim_db`` (the DCCRN
            family and the Uformer take it).
        """
        if atten_lim_db is None:
            return {}
        attenuation_floor(atten_lim_db)
        model = self.mods.enhance_model
        if "atten_lim_db" not in inspect.signature(model.forward).parameters:
            raise TypeError(
                f"atten_lim_db={atten_lim_db!r}: {type(model).__name__} takes no attenuation limit "
                "(its forward has no atten_lim_db argument; the DCCRN family and the Uformer have one)."
            )
        return {"atten_lim_db": atten_lim_db}

    def enhance_batch(self, noisy, lengths=None, atten_lim_db=None):
        """Enhances a batch of (possibly padded) waveforms.

        Each waveform is enhanced on its own valid samples only: the batch is
        split into groups of equal length and every group runs without
        padding. The output of one waveform therefore does not depend on the
        padding or on the other waveforms of the batch, for causal models
        (DCCRN, whose output sample ``n`` sees the input up to
        ``n + model.lookahead_samples``) and non-causal ones (Uformer) alike;
        it equals enhancing that waveform alone. Samples beyond each length
        are zero in the output.

        Non-finite input raises ``ValueError``; finite input so extreme that
        the model overflows (e.g. samples of 3e38) raises
        :class:`NonFiniteOutputError` rather than returning NaN, as
        :meth:`enhance_file` does.

        Arguments
        ---------
        noisy : torch.Tensor or numpy.ndarray
            Waveforms ``(batch, time)`` at :attr:`sample_rate`, floating-point
            samples in [-1, 1] (integer PCM is refused with a ``TypeError``:
            scale it first).
        lengths : torch.Tensor or None
            Relative lengths ``(batch,)`` in ``(0, 1]`` (SpeechBrain's
            convention); ``None`` means all waveforms are complete.
        atten_lim_db : float or None
            Attenuation limit: every time-frequency bin keeps at least
            ``10 ** (-atten_lim_db / 20)`` of its noisy magnitude (12 dB: a
            quarter); None: no limit (see :meth:`attenuation_kwargs`).

        Returns
        -------
        torch.Tensor
            Enhanced waveforms ``(batch, time)`` on the interface's device.
        """
        noisy = float_samples(noisy, "enhance_batch: noisy")
        if noisy.dim() != 2:
            raise ValueError(f"enhance_batch expects noisy of shape (batch, time), got {tuple(noisy.shape)}.")
        limit = self.attenuation_kwargs(atten_lim_db)
        noisy = noisy.to(self.device)
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
                enhanced[rows, :length] = self.mods.enhance_model(noisy[rows, :length], **limit)
        bad = (~torch.isfinite(enhanced)).any(1).nonzero().squeeze(1).tolist()
        if bad:
            raise NonFiniteOutputError(
                f"the model produced NaN or infinite samples for batch rows {bad} "
                f"(input peak {noisy[bad].abs().max().item():.3g})."
            )
        return enhanced

    def enhance_waveform(
        self, wav, chunk_seconds=10.0, context_seconds=2.0, crossfade_seconds=0.05, atten_lim_db=None
    ):
        """Enhances one waveform of any length in overlapping chunks.

        See :func:`enhance_in_chunks` for the method and its accuracy. A
        waveform no longer than one chunk and its context is enhanced in one pass.

        Arguments
        ---------
        wav : torch.Tensor or numpy.ndarray
            Noisy waveform ``(time,)`` at :attr:`sample_rate`, floating-point
            samples in [-1, 1].
        chunk_seconds : float
            Output produced per model call; with the contexts, bounds memory.
        context_seconds : float
            Past audio fed before each chunk to warm up the model's recurrent
            state (and future audio too, for models without
            ``lookahead_samples``).
        crossfade_seconds : float
            Length of the linear cross-fade between consecutive chunks (at
            most ``chunk_seconds``).
        atten_lim_db : float or None
            Attenuation limit in dB (see :meth:`enhance_batch`).

        Returns
        -------
        torch.Tensor
            Enhanced waveform ``(time,)`` on the interface's device.
        """
        wav = float_samples(wav, "enhance_waveform: wav")
        if wav.dim() != 1:
            raise ValueError(f"enhance_waveform expects a (time,) waveform, got {tuple(wav.shape)}.")
        chunking = self._chunking(chunk_seconds, context_seconds, crossfade_seconds)
        enhance = self._one_waveform(atten_lim_db)
        return enhance_in_chunks(enhance, wav.to(self.device), **chunking)

    def _one_waveform(self, atten_lim_db):
        """A function enhancing one ``(time,)`` waveform (the limit checked now, not per chunk)."""
        self.attenuation_kwargs(atten_lim_db)
        return functools.partial(self._enhance_one, atten_lim_db=atten_lim_db)

    def _enhance_one(self, wav, atten_lim_db):
        return self.enhance_batch(wav.to(self.device, torch.float32)[None], atten_lim_db=atten_lim_db)[0]

    def _chunking(self, chunk_seconds, context_seconds, crossfade_seconds):
        """Keyword arguments of :func:`enhance_stream` for this model."""
        check_chunking(chunk_seconds, context_seconds, crossfade_seconds)
        model = self.mods.enhance_model
        rate = self.sample_rate
        context = math.ceil(context_seconds * rate)
        return dict(
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
        chunk_seconds=10.0,
        context_seconds=2.0,
        crossfade_seconds=0.05,
        return_signal=True,
        atten_lim_db=None,
        output_rate=None,
    ):
        """Enhances an audio file of any length in bounded memory.

        The file may be in any format soundfile reads and at any sampling
        rate: it is resampled to the model's rate (16 kHz for the published
        models), and several channels are mixed to mono by averaging them.
        **The output is at the model's rate**, whatever the input's rate,
        unless ``output_rate="input"``.
        The file is read, resampled and enhanced block by block in
        overlapping chunks (see :meth:`enhance_waveform`; the result equals
        :meth:`enhance_waveform` of the whole signal to float rounding) and
        the output is written as it is produced, so memory does not grow with
        the file's length, except for the returned signal (64 kB per second at
        16 kHz; pass ``return_signal=False`` to keep only the file).

        Arguments
        ---------
        path : str or pathlib.Path
            Noisy audio file.
        output_filename : str or pathlib.Path or None
            If given, the enhanced signal is written there (format from the
            extension; WAV and other float-capable formats as 32-bit float,
            so nothing is clipped; other formats are clipped to [-1, 1] with
            a warning). The file is written under a temporary name and
            renamed when complete, so an existing name is never half-written
            and nothing is left when enhancement fails.
        chunk_seconds, context_seconds, crossfade_seconds : float
            Chunking (see :meth:`enhance_waveform`).
        return_signal : bool
            Return the enhanced signal (else ``None``; needs ``output_filename``).
        atten_lim_db : float or None
            Attenuation limit in dB (see :meth:`enhance_batch`).
        output_rate : int or str or None
            None or :attr:`sample_rate`: the output is at the model's rate.
            ``"input"``: the enhanced signal is resampled back to the file's
            rate, as many samples as the file has; it holds nothing above
            half the model's rate (8 kHz for 16 kHz models).

        Returns
        -------
        torch.Tensor or None
            The enhanced signal ``(time,)`` on the CPU, at the output rate.

        Raises
        ------
        speechbrain_atkl.data.audio.AudioError
            (a ``ValueError``) naming the file if it is missing, not audio,
            empty, at an absurd sampling rate, or holds NaN or infinite samples.
        RuntimeError
            Naming the file if the model produced non-finite samples (nothing
            is written then).
        speechbrain_atkl.data.audio_writer.AudioWriteError
            (an ``OSError``) naming the output if writing it failed.
        """
        if output_filename is None and not return_signal:
            raise ValueError("enhance_file: return_signal=False needs an output_filename.")
        if output_rate not in (None, self.sample_rate, "input"):
            raise ValueError(
                f"enhance_file: output_rate must be None or {self.sample_rate} (the model's rate) or 'input', "
                f"got {output_rate!r}."
            )
        enhance = self._one_waveform(atten_lim_db)
        chunking = self._chunking(chunk_seconds, context_seconds, crossfade_seconds)
        try:
            return enhance_audio_file(
                enhance,
                path,
                self.sample_rate,
                chunking,
                output_filename,
                return_signal,
                output_rate="input" if output_rate == "input" else None,
            )
        except NonFiniteOutputError as error:  # the output file was discarded
            raise RuntimeError(f"{path}: {error} Nothing written.") from None

    def forward(self, noisy, lengths=None):
        """Same as :meth:`enhance_batch`."""
        return self.enhance_batch(noisy, lengths)

