"""The output folder of :func:`~speechbrain_atkl.publishing.assembly.publish`: what it may replace, and how.

A model folder written by ``publish`` holds :data:`MARKER`;
:func:`check_output` refuses an output that publishing could destroy (the
training folder, a folder around or inside it, a folder it did not write),
and :func:`replace_folder` puts the finished folder in place, removing an
old one only once the new one is there.

Authors
 * speechbrain-atkl developers 2026
"""

import shutil
import uuid
from pathlib import Path

from speechbrain_atkl.publishing.errors import PublishError

#: Marker file that every model folder written by :func:`~.assembly.publish` holds; only a
#: folder holding it may be replaced by ``--overwrite``.
MARKER = ".speechbrain_atkl_model"
#: Everything :func:`~.assembly.publish` writes into a model folder.
PUBLISHED_FILES = (
    MARKER,
    "README.md",
    "config.json",
    "enhance_model.ckpt",
    "example.wav",
    "example_enhanced.wav",
    "hyperparams.yaml",
)


def check_output(train_dir, output_dir, overwrite=False, extra_files=()):
    """Refuses an output folder that publishing could destroy or cannot use.

    The output may not be the training folder, one of its parent folders or
    a folder inside it (compared after resolving links, ``.`` and ``..``), nor
    an existing file; an existing non-empty folder is replaced only with
    ``overwrite``, only if it holds :data:`MARKER` (:func:`~.assembly.publish` wrote it)
    and nothing but :data:`PUBLISHED_FILES` and ``extra_files``.

    Arguments
    ---------
    train_dir, output_dir : pathlib.Path
        The training folder and the model folder to write.
    overwrite : bool
        Replace an existing model folder.
    extra_files : iterable of str
        Names of the files the caller adds to the folder
        (:func:`~.assembly.publish`'s ``extra_files``): plain file names, not
        those of :data:`PUBLISHED_FILES`.

    Raises
    ------
    PublishError
        Saying why, naming both folders.

    Example
    -------
    >>> import tempfile
    >>> train = Path(tempfile.mkdtemp()) / "results" / "1986"
    >>> check_output(train, train.parent / "model")  # a sibling: fine
    >>> check_output(train, train.parent, overwrite=True)
    Traceback (most recent call last):
    ...
    speechbrain_atkl.publishing.errors.PublishError: --output ... contains the training folder ...
    """
    bad_names = [name for name in extra_files if name in ("", "..", *PUBLISHED_FILES) or Path(name).name != name]
    if bad_names:
        raise PublishError(f"extra files must be new plain file names, got {bad_names}.")
    train, output = Path(train_dir).resolve(), Path(output_dir).resolve()
    where = None
    if output == train:
        where = "is the training folder"
    elif output in train.parents:
        where = "contains the training folder"
    elif train in output.parents:
        where = "is inside the training folder"
    if where:
        raise PublishError(
            f"--output {output_dir} {where} {train_dir}; publishing there could destroy the run. "
            "Choose a folder outside it."
        )
    if output_dir.exists() and not output_dir.is_dir():
        raise PublishError(f"--output {output_dir} is a file, not a folder; choose a folder name.")
    if output_dir.is_dir() and any(output_dir.iterdir()):
        if not overwrite:
            raise PublishError(f"{output_dir} exists and is not empty; pass --overwrite to replace it.")
        if not (output_dir / MARKER).is_file():
            raise PublishError(
                f"{output_dir} is not a model folder written by publish (it has no {MARKER}); "
                "--overwrite only replaces those. Choose another --output or remove it yourself."
            )
        others = sorted(p.name for p in output_dir.iterdir() if p.name not in (*PUBLISHED_FILES, *extra_files))
        if others:
            raise PublishError(
                f"{output_dir} holds files publish did not write ({', '.join(others[:5])}); "
                "--overwrite would delete them. Move them away or choose another --output."
            )


def replace_folder(new, target):
    """Moves the folder ``new`` to ``target``, removing an old ``target`` only once ``new`` is in place."""
    old = None
    if target.exists():
        old = target.parent / f".publish-{uuid.uuid4().hex[:12]}.old"
        target.rename(old)
    new.rename(target)
    if old is not None:
        shutil.rmtree(old)
