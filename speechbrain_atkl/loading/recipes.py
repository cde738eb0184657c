"""Which models a folder may build, and how: :data:`MODEL_CLASSES` and :class:`ModelRecipe`.

A folder names the class it wants built (``save/model_config.yaml``'s
``class_path``, ``hyperparams.yaml``'s ``!new:`` tags). Only the enhancement
models listed here are built, so a tampered folder cannot make a loader call
anything else in the package (a loader, a publisher, an uploader).

Authors
 * speechbrain-atkl developers 2026
"""

from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
from torch.nn.modules.module import register_module_parameter_registration_hook

from speechbrain_atkl.loading.weights import fill
from speechbrain_atkl.models import DCCRN, DCCRN_PRESETS, GTCRN, GTCRN_PRESETS, UFORMER_PRESETS, Uformer

#: The classes a model or run folder may build, by class path.
MODEL_CLASSES = {f"{cls.__module__}.{cls.__qualname__}": cls for cls in (DCCRN, Uformer, GTCRN)}
#: Preset name -> model class (``cls.from_preset(name)``).
PRESETS = {
    name: cls
    for cls, presets in ((DCCRN, DCCRN_PRESETS), (Uformer, UFORMER_PRESETS), (GTCRN, GTCRN_PRESETS))
    for name in presets
}


def model_class(class_path):
    """The model class of :data:`MODEL_CLASSES` named ``class_path``.

    Example
    -------
    >>> model_class("speechbrain_atkl.models.dccrn.DCCRN").__name__
    'DCCRN'
    >>> model_class("speechbrain_atkl.inference.onnx_export.load_model")
    Traceback (most recent call last):
    ...
    ValueError: refusing to build 'speechbrain_atkl.inference.onnx_export.load_model': not a ... model class ...
    """
    if class_path not in MODEL_CLASSES:
        raise ValueError(
            f"refusing to build {class_path!r}: not a speechbrain_atkl model class "
            f"(a folder may build {', '.join(sorted(MODEL_CLASSES))})."
        )
    return MODEL_CLASSES[class_path]


@dataclass(eq=False)
class ModelRecipe:
    """How to build a model: a class of :data:`MODEL_CLASSES` and its arguments.

    Reading a folder gives recipes; a model is built only when its weights
    file is known (see :mod:`~speechbrain_atkl.loading.model_folder`).

    Arguments
    ---------
    class_path : str
        A key of :data:`MODEL_CLASSES`.
    args : tuple
        Positional arguments.
    kwargs : dict
        Keyword arguments.
    preset : bool
        Build with the class's ``from_preset`` instead of its constructor.

    Example
    -------
    >>> recipe = ModelRecipe("speechbrain_atkl.models.dccrn.DCCRN", ("Distil-DCCRN",), {"lookahead": 2}, preset=True)
    >>> recipe.build("example").config["lookahead"]
    2
    >>> trained = DCCRN.from_preset("Distil-DCCRN").state_dict()
    >>> huge = ModelRecipe("speechbrain_atkl.models.dccrn.DCCRN", kwargs={"rnn_units": 4096})
    >>> huge.build("hyperparams.yaml", trained, "enhance_model.ckpt")  # refused before allocating 2 GB
    Traceback (most recent call last):
    ...
    ValueError: enhance_model.ckpt does not fit a DCCRN with this configuration: ...
    >>> ModelRecipe("speechbrain_atkl.models.dccrn.DCCRN", kwargs={"rnn_units": "abc"}).build("model_config.yaml")
    Traceback (most recent call last):
    ...
    ValueError: model_config.yaml: DCCRN(rnn_units='abc') cannot be built: TypeError: ...
    """

    class_path: str
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    preset: bool = False

    def build(self, what, state=None, state_what="weights"):
        """Builds the model; ``what`` (where the recipe comes from) names it in errors.

        With ``state`` (the weights it must hold), the model is first built
        on the meta device, which allocates nothing, and checked against
        ``state``; building stops as soon as it registers more parameters
        than ``state`` could fill. Only a configuration that fits is built
        for real, and filled with ``state``. So a folder's arguments cannot
        make the loader allocate more memory, or loop longer, than its
        weights file is worth.
        """
        if state is None:
            return self._construct(what)
        with torch.device("meta"), _at_most_parameters(2 * len(state) + 16, state_what):
            shell = self._construct(what)
        fill(shell, state, state_what)
        return fill(self._construct(what), state, state_what)

    def _construct(self, what):
        cls = model_class(self.class_path)
        factory = cls.from_preset if self.preset else cls
        try:
            return factory(*self.args, **self.kwargs)
        except Exception as error:  # noqa: BLE001 - a folder's arguments can make a constructor raise anything
            call = ", ".join([*map(repr, self.args), *(f"{key}={value!r}" for key, value in self.kwargs.items())])
            raise ValueError(
                f"{what}: {factory.__qualname__}({call}) cannot be built: {type(error).__name__}: {error}"
            ) from None


@contextmanager
def _at_most_parameters(count, what):
    """Stops any model built inside as soon as it registers more than ``count`` parameters."""
    registered = 0

    def hook(module, name, parameter):
        nonlocal registered
        registered += 1
        if registered > count:
            raise ValueError(f"the configuration builds more parameters than {what} holds tensors")

    handle = register_module_parameter_registration_hook(hook)
    try:
        yield
    finally:
        handle.remove()
