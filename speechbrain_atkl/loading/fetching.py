"""A model's files from a local folder or the Hub, fetched into a savedir that holds that model only.

SpeechBrain's ``fetch`` returns a file already present in ``savedir`` as it
is. A savedir that holds another model's files would therefore silently give
that other model. :class:`ModelFiles` claims a savedir for one source: the
first load writes :data:`MARKER` naming the source, and loading another
source into it is refused, as is a savedir that holds files of unknown
origin. Links and copies of a local folder's files are remade at every load,
so they are always the folder's current files.

Authors
 * speechbrain-atkl developers 2026
"""

import dataclasses
from pathlib import Path

from speechbrain.utils.fetching import FetchConfig, LocalStrategy, fetch

from speechbrain_atkl.loading.files import read_text

#: The file naming the source whose files a savedir holds.
MARKER = ".speechbrain_atkl_source"


def is_hub_id(source):
    """Whether ``source`` reads as a Hugging Face Hub id ``user/name`` rather than a local path.

    A ``folder/name`` whose ``folder`` exists here is a local path (a missing
    run folder, say), not a Hub id.

    Example
    -------
    >>> is_hub_id("speechbrain/sepformer-dns4-16k-enhancement"), is_hub_id("./models/x"), is_hub_id("x")
    (True, False, False)
    >>> import tempfile, os
    >>> is_hub_id(os.path.relpath(tempfile.mkdtemp()) + "/missing")
    False
    """
    parts = str(source).split("/")
    return (
        len(parts) == 2 and all(parts) and not str(source).startswith((".", "/", "~")) and not Path(parts[0]).is_dir()
    )


class ModelFiles:
    """The files of one model source: a local folder or a Hub id.

    Arguments
    ---------
    source : str or pathlib.Path
        A local folder or a Hub id ``user/name``.
    savedir : str or pathlib.Path or None
        Where the files are linked or downloaded: a new or empty folder, or
        one that this class filled from the same source. None reads a local
        folder's files in place and a Hub model's from the Hub's cache.
    local_strategy : speechbrain.utils.fetching.LocalStrategy
        How a local file reaches the savedir (link or copy).
    fetch_config : speechbrain.utils.fetching.FetchConfig or None
        Hub token, revision, updates.

    Example
    -------
    >>> import tempfile
    >>> from pathlib import Path
    >>> model, other, savedir = (Path(tempfile.mkdtemp()) for _ in range(3))
    >>> _ = (model / "hyperparams.yaml").write_text("sample_rate: 16000\\n")
    >>> ModelFiles(model, savedir).fetch("hyperparams.yaml").read_text()
    'sample_rate: 16000\\n'
    >>> ModelFiles(other, savedir)
    Traceback (most recent call last):
    ...
    ValueError: savedir ... holds the files of ..., not of ...: give another savedir (or delete this one).
    """

    def __init__(self, source, savedir=None, local_strategy=LocalStrategy.SYMLINK, fetch_config=None):
        self.source = str(source)
        local = Path(self.source).is_dir()
        if not local and not is_hub_id(self.source):
            raise FileNotFoundError(f"{source}: no such folder, and not a Hub id (user/name).")
        self.fetch_config = fetch_config or FetchConfig()
        if local:
            self.identity = str(Path(self.source).resolve())
            self.fetch_config = dataclasses.replace(self.fetch_config, overwrite=True)
        else:
            revision = self.fetch_config.revision
            self.identity = self.source + (f"@{revision}" if revision else "")
        self.local_strategy = local_strategy
        in_place = local and savedir is not None and Path(savedir).resolve() == Path(self.source).resolve()
        self.savedir = None if savedir is None or in_place else self._claim(Path(savedir))

    def _claim(self, savedir):
        marker = savedir / MARKER
        if not marker.is_file():
            if savedir.exists() and (not savedir.is_dir() or any(savedir.iterdir())):
                raise ValueError(
                    f"savedir {savedir} is not empty and was not filled from {self.identity} by speechbrain_atkl: "
                    "give a new or empty folder, so that no other model's files are used."
                )
            savedir.mkdir(parents=True, exist_ok=True)
            try:
                with open(marker, "x", encoding="utf-8") as file:
                    file.write(self.identity + "\n")
            except FileExistsError:  # claimed at the same moment by another process
                pass
        owner = read_text(marker, "savedir marker").strip()
        if owner != self.identity:
            raise ValueError(
                f"savedir {savedir} holds the files of {owner}, not of {self.identity}: give another savedir "
                "(or delete this one)."
            )
        return savedir

    def fetch(self, filename):
        """The local path of the source's file ``filename``, fetched if needed."""
        return Path(
            fetch(
                filename=filename,
                source=self.source,
                savedir=self.savedir,
                local_strategy=self.local_strategy,
                fetch_config=self.fetch_config,
            )
        )
