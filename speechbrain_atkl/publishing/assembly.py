"""Assembling a model folder from a training output folder: :func:`publish`.

The training folder is what the recipes write:

* ``save/CKPT+<time>/model.ckpt`` and ``CKPTINFO.yaml``: checkpoints of a
  SpeechBrain ``Checkpointer`` with the recoverable ``model`` and meta keys
  such as ``valid_pesq`` or ``valid_si_snr``;
* ``save/model_config.yaml``: the architecture
  (:func:`speechbrain_atkl.loading.model_config.save_model_config`);
* ``hyperparams.yaml``: the training YAML (only read to tell whether the run
  was distilled from a teacher);
* ``test_metrics.json`` (optional): measured test-set metrics.

The model folder holds an inference ``hyperparams.yaml`` that builds the
model from ``speechbrain_atkl`` classes (no custom code file),
``enhance_model.ckpt``, ``config.json`` naming the :class:`EnhanceBatch`
interface, a ``README.md`` model card, and ``example.wav`` with its
enhanced version ``example_enhanced.wav`` (and what a caller adds: card
sections, files such as a training history). Before the folder is put in
place, it is loaded back with ``EnhanceBatch.from_hparams`` and its output
is checked against the trained model's. Load it with::

    from speechbrain_atkl import EnhanceBatch
    enhancer = EnhanceBatch.from_hparams(source=DIR_OR_HUB_ID, savedir="pretrained/model")

Authors
 * speechbrain-atkl developers 2026
"""

import shutil
import uuid
from pathlib import Path

import torch

from speechbrain_atkl import __version__
from speechbrain_atkl.loading import model_spec
from speechbrain_atkl.publishing.card import model_card, read_test_metrics
from speechbrain_atkl.publishing.checkpoint import load_best_model
from speechbrain_atkl.publishing.example import example_input
from speechbrain_atkl.publishing.folder import MARKER, check_output, replace_folder
from speechbrain_atkl.publishing.model_files import inference_hyperparams, interface_config
from speechbrain_atkl.publishing.verification import verify_folder
from speechbrain_atkl.training.run_records import read_run_record


def publish(
    train_dir,
    output_dir,
    checkpoint_key=None,
    license="apache-2.0",
    example=None,
    name=None,
    datasets=(),
    source=None,
    overwrite=False,
    card_extra="",
    extra_files=None,
):
    """Writes a Hub-ready model folder from a training output folder.

    The folder is assembled under a temporary name beside ``output_dir``,
    loaded back through :class:`~speechbrain_atkl.inference.enhance.EnhanceBatch`
    and checked to reproduce the trained model's output
    (:func:`~speechbrain_atkl.publishing.verification.verify_folder`), then
    renamed to ``output_dir``. A failure leaves no partial ``output_dir``: an
    old one stays as it was. What a caller adds to the folder
    (``card_extra``, ``extra_files``) is written before the rename too, so
    the folder is never in place without it.

    Arguments
    ---------
    train_dir : str or pathlib.Path
        Training output folder (see the module docstring).
    output_dir : str or pathlib.Path
        Model folder to create.
    checkpoint_key : str or None
        Checkpoint meta key to select the best checkpoint by (see
        :func:`~speechbrain_atkl.publishing.checkpoint.load_best_model`);
        default: the run's own ``ckpt_key`` recorded in its
        ``hyperparams.yaml``, so the published weights are the ones its
        ``test_metrics.json`` (shown in the card) measured.
    license : str
        Licence identifier for the model card.
    example : str or pathlib.Path or None
        A noisy recording for ``example.wav`` (first
        :data:`~speechbrain_atkl.publishing.example.MAX_EXAMPLE_SECONDS`
        seconds, resampled to 16 kHz mono); ``None`` writes
        :func:`~speechbrain_atkl.publishing.example.synthetic_example`.
    name : str or None
        Model name for the card; defaults to the output folder's name.
    datasets : sequence of str
        Training data names for the card.
    source : str or None
        Hub id to show in the card's usage snippet; defaults to ``name``.
    overwrite : bool
        Replace an existing non-empty ``output_dir``; only a model folder
        written by :func:`publish` (holding
        :data:`~speechbrain_atkl.publishing.folder.MARKER`) is ever replaced,
        see :func:`~speechbrain_atkl.publishing.folder.check_output`.
    card_extra : str
        Text appended to the model card (``README.md``), e.g. a recipe's
        section on its training data and results.
    extra_files : dict or None
        ``{file name: text}``: more files of the model folder, e.g. a
        training history; an old ``output_dir`` holding them may be
        replaced (they are written anew).

    Returns
    -------
    pathlib.Path
        ``output_dir``.

    Example
    -------
    >>> import tempfile
    >>> from speechbrain.utils.checkpoints import Checkpointer
    >>> from speechbrain_atkl.loading import save_model_config
    >>> from speechbrain_atkl.models.dccrn import DCCRN
    >>> root = Path(tempfile.mkdtemp())
    >>> model = DCCRN(channels=[8, 8, 16, 16, 16, 16], rnn_units=16)
    >>> save_model_config(model, root / "train" / "save" / "model_config.yaml")
    >>> _ = (root / "train" / "hyperparams.yaml").write_text("ckpt_key: valid_pesq\\n")
    >>> _ = Checkpointer(root / "train" / "save", {"model": model}).save_checkpoint(meta={"valid_pesq": 2.0})
    >>> folder = publish(root / "train", root / "model")
    >>> sorted(p.name for p in folder.iterdir())  # doctest: +NORMALIZE_WHITESPACE
    ['.speechbrain_atkl_model', 'README.md', 'config.json', 'enhance_model.ckpt', 'example.wav',
     'example_enhanced.wav', 'hyperparams.yaml']
    """
    from speechbrain_atkl.inference.enhanced_output import write_enhanced

    train_dir, output_dir = Path(train_dir), Path(output_dir)
    extra_files = dict(extra_files or {})
    check_output(train_dir, output_dir, overwrite, extra_files)
    record = read_run_record(train_dir)
    checkpoint_key = checkpoint_key or record.get("ckpt_key", "valid_pesq")
    model, checkpoint = load_best_model(train_dir, checkpoint_key)
    spec = model_spec(model)
    metrics = read_test_metrics(train_dir / "test_metrics.json")
    sample_rate = getattr(model, "sample_rate", 16000)
    noisy = example_input(example, sample_rate)

    output_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = output_dir.parent / f".publish-{uuid.uuid4().hex[:12]}.partial"
    staging.mkdir()
    try:
        (staging / MARKER).write_text(f"written by speechbrain_atkl.publishing {__version__}\n", encoding="utf-8")
        torch.save(model.state_dict(), staging / "enhance_model.ckpt")
        origin = "/".join([*train_dir.resolve().parts[-2:], Path(checkpoint.path).name])
        origin += f" ({checkpoint_key} = {checkpoint.meta[checkpoint_key]})"
        (staging / "hyperparams.yaml").write_text(
            inference_hyperparams(spec, sample_rate, origin), encoding="utf-8"
        )
        (staging / "config.json").write_text(interface_config(spec, sample_rate), encoding="utf-8")
        published = verify_folder(staging, model, noisy)
        write_enhanced(staging / "example.wav", noisy, sample_rate)
        write_enhanced(staging / "example_enhanced.wav", published, sample_rate)
        name = name or output_dir.name
        distilled = any(key.startswith("teacher") for key in record)
        card = model_card(
            name,
            spec,
            checkpoint.meta,
            metrics,
            license=license,
            datasets=datasets,
            distilled=distilled,
            num_parameters=sum(p.numel() for p in model.parameters()),
            lookahead_ms=_lookahead_ms(model, sample_rate),
            source=source,
        )
        (staging / "README.md").write_text(card + card_extra, encoding="utf-8")
        for file_name, text in extra_files.items():
            (staging / file_name).write_text(text, encoding="utf-8")
        replace_folder(staging, output_dir)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return output_dir


def _lookahead_ms(model, sample_rate):
    samples = getattr(model, "lookahead_samples", None)
    return None if samples is None else 1000.0 * samples / sample_rate
