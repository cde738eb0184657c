"""Feature maps of any teacher, taken by forward hooks, and where their frames lie.

A teacher for AT-KL can be any ``torch.nn.Module`` that maps a ``(batch,
time)`` waveform to one of the same length: :class:`HookedTeacher` records
the outputs of the modules named in the YAML (``teacher_feature_modules``)
while the teacher runs, and returns them as this package's models return
their ``return_features``. The teacher's code is not changed.

Authors
 * speechbrain-atkl developers 2026
"""

import functools
import re

import torch
from torch import nn

from speechbrain_atkl.models.stft import FrameTiming

#: Axis orders of 4-D feature maps after ``(batch, channels)``: this package's
#: models keep frequency before frames, GTCRN (and many others) frames first.
LAYOUTS = ("channels_freq_frames", "channels_frames_freq")
_REFERENCE = re.compile(r"^(?P<name>[\w.]+?)(\[(?P<index>\d+)\])?$")


def parse_module_reference(reference):
    """Splits ``"name"`` or ``"name[i]"`` (element ``i`` of a tuple output) into ``(name, i or None)``.

    Example
    -------
    >>> parse_module_reference("encoder.en_convs.0"), parse_module_reference("encoder_fusion.2[0]")
    (('encoder.en_convs.0', None), ('encoder_fusion.2', 0))
    """
    match = _REFERENCE.match(str(reference))
    if match is None:
        raise ValueError(
            f"teacher_feature_modules entry {reference!r} must be a module name such as "
            "'encoder.en_convs.0', optionally with the index of a tuple output: 'encoder_fusion.0[0]'."
        )
    index = match.group("index")
    return match.group("name"), None if index is None else int(index)


def find_module(model, name):
    """``model``'s submodule called ``name``; the error lists the names available where the path breaks.

    Example
    -------
    >>> model = nn.Sequential(nn.Linear(2, 2), nn.Sequential(nn.ReLU()))
    >>> find_module(model, "1.0")
    ReLU()
    >>> find_module(model, "1.1")
    Traceback (most recent call last):
    ...
    ValueError: the teacher (Sequential) has no module '1.1': '1' has only ['0'].
    """
    module, path = model, []
    for part in name.split("."):
        children = dict(module.named_children())
        if part not in children:
            where = f"'{'.'.join(path)}'" if path else "the model"
            raise ValueError(
                f"the teacher ({type(model).__name__}) has no module {name!r}: {where} has only {sorted(children)}."
            )
        module = children[part]
        path.append(part)
    return module


class HookedTeacher(nn.Module):
    """A model that also returns the outputs of some of its modules, recorded by forward hooks.

    Arguments
    ---------
    model : torch.nn.Module
        Maps ``(batch, time)`` to ``(batch, time)``.
    feature_modules : dict
        ``{group: [module names]}``, e.g. ``{"encoder": ["encoder.en_convs.0",
        ...], "decoder": [...]}``; AT-KL's layer ``"encoder.2"`` is the third
        name of the ``encoder`` list. A module returning a tuple is named with
        the index of the map: ``"encoder_fusion.0[0]"``. Each module must run
        exactly once per forward.
    layout : str
        Axis order of the maps after ``(batch, channels)``: one of
        :data:`LAYOUTS`. The maps are returned as ``(batch, channels, freq,
        frames)``, the order :class:`~speechbrain_atkl.losses.ATKLLoss` reads.

    Example
    -------
    >>> import torch
    >>> from speechbrain_atkl.models.gtcrn import GTCRN
    >>> teacher = HookedTeacher(
    ...     GTCRN.from_preset("GTCRN").eval(),
    ...     {"encoder": ["encoder.en_convs.0", "encoder.en_convs.1"], "decoder": ["decoder.de_convs.4"]},
    ...     layout="channels_frames_freq",
    ... )
    >>> enhanced, features = teacher(torch.randn(2, 16000), return_features=True)
    >>> enhanced.shape, [tuple(f.shape) for f in features["encoder"]]
    (torch.Size([2, 16000]), [(2, 16, 65, 63), (2, 16, 33, 63)])
    """

    def __init__(self, model, feature_modules, layout="channels_freq_frames"):
        super().__init__()
        if layout not in LAYOUTS:
            raise ValueError(f"teacher_feature_layout must be one of {LAYOUTS}, got {layout!r}.")
        if not isinstance(feature_modules, dict) or not feature_modules:
            raise ValueError(
                "teacher_feature_modules must map layer groups to module names, e.g. "
                f"{{encoder: [encoder.en_convs.0, ...], decoder: [...]}}; got {feature_modules!r}."
            )
        self.model = model
        self.layout = layout
        self.feature_modules = {}
        for group, references in feature_modules.items():
            if isinstance(references, str) or not references:
                raise ValueError(f"teacher_feature_modules[{group!r}] must be a non-empty list of module names.")
            self.feature_modules[group] = [parse_module_reference(r) for r in references]
        for name, _ in self._references():
            find_module(model, name)

    def _references(self):
        return [reference for references in self.feature_modules.values() for reference in references]

    def forward(self, noisy, return_features=False):
        """The model's output and, with ``return_features``, ``{group: [maps]}`` of ``(batch, C, freq, frames)``."""
        if not return_features:
            return self.model(noisy)
        outputs = {}
        handles = []
        for name in {name for name, _ in self._references()}:
            record = outputs.setdefault(name, [])
            handles.append(find_module(self.model, name).register_forward_hook(self._recorder(record)))
        try:
            enhanced = self.model(noisy)
        finally:
            for handle in handles:
                handle.remove()
        features = {
            group: [self._feature_map(name, index, outputs[name]) for name, index in references]
            for group, references in self.feature_modules.items()
        }
        return enhanced, features

    @staticmethod
    def _recorder(record):
        def hook(module, inputs, output):
            record.append(output)

        return hook

    def _feature_map(self, name, index, calls):
        if len(calls) != 1:
            raise RuntimeError(
                f"teacher module {name!r} ran {len(calls)} times in one forward; hook a module that runs once."
            )
        output = calls[0]
        if index is not None:
            if not isinstance(output, (tuple, list)) or index >= len(output):
                raise ValueError(f"teacher module {name!r} does not return a tuple with an element {index}.")
            output = output[index]
        elif isinstance(output, (tuple, list)):
            raise ValueError(
                f"teacher module {name!r} returns a {type(output).__name__} of {len(output)}: "
                f"name the map's index, e.g. '{name}[0]'."
            )
        if output.dim() != 4:
            raise ValueError(
                f"teacher module {name!r} gives shape {tuple(output.shape)}; AT-KL needs 4-D maps "
                f"(batch, channels, two of freq and frames in the order of teacher_feature_layout)."
            )
        return output.transpose(2, 3) if self.layout == "channels_frames_freq" else output


def frame_timing(model, override=None):
    """Where the frames of ``model``'s feature maps lie: ``override`` or ``model.stft.timing``.

    Arguments
    ---------
    model : torch.nn.Module
        A model whose feature maps have one frame per STFT frame.
    override : sequence or None
        ``[hop_length, first_centre]`` in samples (the YAML's
        ``teacher_frame_timing``), for a model without an ``stft.timing``.

    Returns
    -------
    FrameTiming

    Example
    -------
    >>> from speechbrain_atkl.models.gtcrn import GTCRN
    >>> frame_timing(GTCRN.from_preset("GTCRN")), frame_timing(nn.Identity(), [160, 0])
    (FrameTiming(hop_length=256, first_centre=0.0), FrameTiming(hop_length=160, first_centre=0.0))
    """
    if override is not None:
        hop_length, first_centre = override
        return FrameTiming(int(hop_length), float(first_centre))
    timing = getattr(getattr(model, "stft", None), "timing", None)
    if timing is None:
        raise ValueError(
            f"{type(model).__name__} has no stft.timing, so where its frames lie is unknown: set "
            "teacher_frame_timing: [hop_length, first_centre] (samples) in the YAML, or atkl_time_alignment: span."
        )
    return timing


def linear_frequencies(bins, sample_rate=16000):
    """Centre (Hz) of ``bins`` equal bands from 0 Hz to the Nyquist frequency.

    Where the frequency axis of an STFT model's feature maps lies when each
    layer halves it.

    Example
    -------
    >>> linear_frequencies(4).tolist()
    [1000.0, 3000.0, 5000.0, 7000.0]
    """
    return (torch.arange(bins, dtype=torch.float64) + 0.5) * (sample_rate / 2 / bins)


def bin_frequencies(student, teacher, sample_rate):
    """The ``(student, teacher)`` bin-frequency callables AT-KL aligns frequency axes by, or None.

    A model that knows where its feature maps' bins lie in Hz says so with a
    ``feature_frequencies(bins)`` method (GTCRN: ERB bands above 2 kHz);
    every other model is taken as linear (:func:`linear_frequencies`). When
    neither model has the method, both axes are linear and resampling by
    relative index is the same alignment, so None is returned.

    Example
    -------
    >>> from speechbrain_atkl.models.gtcrn import GTCRN
    >>> bin_frequencies(nn.Identity(), nn.Identity(), 16000) is None
    True
    >>> student, teacher = bin_frequencies(nn.Identity(), GTCRN.from_preset("GTCRN"), 16000)
    >>> student(128)[-1].item(), teacher(65)[-1].item()
    (7968.75, 8000.0)
    """
    linear = functools.partial(linear_frequencies, sample_rate=sample_rate)
    grids = [getattr(model, "feature_frequencies", None) for model in (student, teacher)]
    if grids == [None, None]:
        return None
    return tuple(linear if grid is None else grid for grid in grids)
