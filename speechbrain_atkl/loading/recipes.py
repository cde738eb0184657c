"""Which models a folder may build, and how: :data:`MODEL_CLASSES` and :class:`ModelRecipe`.

A folder names the class it wants built (``save/model_config.yaml``'s
``class_path``, ``hyperparams.yaml``'s ``!new:`` tags). Only the enhancement
models listed here are built, so a tampered folder cannot make a loader call
anything else in the package (a loader, a publisher, an uploader).

Authors
 * speechbrain-atkl developers 2026
"""

from dataclasses import dataclass, field

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
    >>> ModelRecipe("speechbrain_atkl.models.dccrn.DCCRN", kwargs={"rnn_units": "abc"}).build("model_config.yaml")
    Traceback (most recent call last):
    ...
    ValueError: model_config.yaml: DCCRN(rnn_units='abc') cannot be built: TypeError: ...
    """

    class_path: str
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    preset: bool = False

    def build(self, what):
        """Builds the model; ``what`` (where the recipe comes from) names it in errors."""
        cls = model_class(self.class_path)
        factory = cls.from_preset if self.preset else cls
        try:
            return factory(*self.args, **self.kwargs)
        except Exception as error:  # noqa: BLE001 - a folder's arguments can make a constructor raise anything
            call = ", ".join([*map(repr, self.args), *(f"{key}={value!r}" for key, value in self.kwargs.items())])
            raise ValueError(
                f"{what}: {factory.__qualname__}({call}) cannot be built: {type(error).__name__}: {error}"
            ) from None
