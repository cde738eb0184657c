"""SpeechBrain's ``Brain`` for supervised enhancement, :class:`EnhancementBrain`.

:class:`~speechbrain_atkl.training.distillation_brain.DistillationBrain`
(AT-KL distillation) extends it. Both expect batches with ``id``,
``noisy_sig`` and ``clean_sig`` (padded ``(batch, time)`` signals with
relative lengths) and a ``model`` module that maps ``(batch, time)`` to
``(batch, time)``.

Hyper-parameters read from the YAML (``self.hparams``); those with a default
in :attr:`EnhancementBrain.DEFAULT_HPARAMS` (or
:attr:`~speechbrain_atkl.training.distillation_brain.DistillationBrain.DEFAULT_HPARAMS`)
may be left out of it:

* ``loss``: the supervised loss (``SISNRLoss``), also used for validation;
* ``spectral_loss`` and ``spectral_weight`` (:class:`EnhancementBrain`
  only): adds ``spectral_weight * spectral_loss(estimate, clean, lengths)``
  (e.g. ``CompressedSpectralLoss``); None or weight 0/None: no term;
* ``lr_scheduler`` (or ``lr_schedulers``, a mapping of named
  schedulers, and ``lr_schedule``, the name of the one to use): SpeechBrain's ``ReduceLROnPlateau`` or
  ``NewBobScheduler`` (called on the validation loss each epoch), or a
  ``!name:torch.optim.lr_scheduler.X`` partial (built on the optimizer),
  stepped once per epoch, or a scheduler partial whose class has
  ``per_step = True`` (:class:`~speechbrain_atkl.training.schedules.WarmupCosineLR`),
  stepped after every optimiser step;
* ``valid_pesq`` (bool): compute wide-band PESQ on the validation set;
* ``ckpt_key``: checkpoint metadata key that selects the best checkpoint
  (``valid_pesq``, ``valid_si_snr`` or ``valid_loss``);
* ``keep_checkpoints``: how many end-of-epoch checkpoints to keep (at
  least ``average_checkpoints``);
* ``average_checkpoints``: after training, train.py adds the average of the
  last that many end-of-epoch checkpoints, scored on validation, as one more
  checkpoint (:mod:`speechbrain_atkl.training.averaging`); 0: off;
* ``test_metrics``, ``eval_num_workers``, ``save_enhanced``,
  ``enhanced_folder``, ``test_results_folder``, ``noisy_score_cache``,
  ``test_set_name``: the final evaluation;
* ``use_tensorboard`` and ``tensorboard_folder``: also log every
  stage's statistics to TensorBoard (needs ``pip install tensorboard``).

Authors
 * speechbrain-atkl developers 2026
"""

import functools
import json
import logging
import time
from pathlib import Path

import numpy as np
import speechbrain as sb
import torch
from speechbrain.nnet.schedulers import NewBobScheduler, ReduceLROnPlateau, update_learning_rate
from speechbrain.utils.distributed import if_main_process

from speechbrain_atkl.data.atomic import write_text_atomically
from speechbrain_atkl.evaluation.metrics import WORST_SCORES, UnscorableError, pesq_wb
from speechbrain_atkl.loading import is_maximised
from speechbrain_atkl.losses.si_snr import si_snr

logger = logging.getLogger(__name__)


def _to_float(outputs):
    """``outputs`` (a tensor, None, or tuples/lists/dicts of them) with tensors in float32."""
    if torch.is_tensor(outputs):
        return outputs.float()
    if isinstance(outputs, (list, tuple)):
        return type(outputs)(_to_float(item) for item in outputs)
    if isinstance(outputs, dict):
        return {key: _to_float(value) for key, value in outputs.items()}
    return outputs


def float32_objectives(compute_objectives):
    """Runs ``compute_objectives`` outside autocast on float32 predictions.

    SpeechBrain's ``--precision bf16|fp16`` autocasts the losses too; this keeps
    SI-SNR, the spectral loss and AT-KL (its Gram matrices are matmuls) in full
    precision while the model's convolutions, matmuls and LSTMs run in half
    precision. Without autocast it changes nothing (``.float()`` of a float32
    tensor is the tensor itself).
    """

    @functools.wraps(compute_objectives)
    def wrapper(self, predictions, batch, stage):
        with torch.autocast(torch.device(self.device).type, enabled=False):
            return compute_objectives(self, _to_float(predictions), batch, stage)

    return wrapper


class EnhancementBrain(sb.Brain):
    """Trains one enhancement model (DCCRN, Distil-DCCRN or Uformer) on SI-SNR.

    Example
    -------
    >>> from types import SimpleNamespace
    >>> from speechbrain_atkl.losses import SISNRLoss
    >>> from speechbrain_atkl.models import DCCRN
    >>> model = DCCRN(channels=[8] * 6, rnn_units=16)
    >>> brain = EnhancementBrain({"model": model}, hparams={"loss": SISNRLoss()},
    ...                          run_opts={"device": "cpu"})
    >>> batch = SimpleNamespace(noisy_sig=(torch.randn(2, 800), torch.ones(2)),
    ...                         clean_sig=(torch.randn(2, 800), torch.ones(2)), id=["a", "b"])
    >>> enhanced = brain.compute_forward(batch, sb.Stage.TRAIN)
    >>> brain.compute_objectives(enhanced, batch, sb.Stage.TRAIN).shape
    torch.Size([])
    """

    #: The value of each hyper-parameter a YAML (or an ``hparams`` dict) may leave out.
    DEFAULT_HPARAMS = {
        "spectral_loss": None,
        "spectral_weight": None,
        "lr_scheduler": None,
        "lr_schedulers": None,
        "valid_pesq": True,
        "keep_checkpoints": 2,
        "average_checkpoints": 0,
        "use_tensorboard": False,
        "test_metrics": None,
        "eval_num_workers": 0,
        "noisy_score_cache": None,
        "save_enhanced": False,
        "test_set_name": "test",
    }

    def __init__(self, modules=None, opt_class=None, hparams=None, run_opts=None, checkpointer=None):
        """SpeechBrain's ``Brain``, with the keys ``hparams`` leaves out taken from :attr:`DEFAULT_HPARAMS`."""
        hparams = {**self.DEFAULT_HPARAMS, **(hparams or {})}
        super().__init__(modules, opt_class, hparams, run_opts, checkpointer)

    def compute_forward(self, batch, stage):
        """Enhances ``batch.noisy_sig``; returns ``(batch, time)``."""
        noisy, _ = batch.noisy_sig
        return self.modules.model(noisy.to(self.device))

    @float32_objectives
    def compute_objectives(self, predictions, batch, stage):
        """The SI-SNR loss (plus the optional spectral term); validation and test also collect metrics."""
        clean, lengths = batch.clean_sig
        clean, lengths = clean.to(self.device), lengths.to(self.device)
        loss = self.hparams.loss(predictions, clean, lengths)
        if self.hparams.spectral_loss is not None and self.hparams.spectral_weight:
            loss = loss + self.hparams.spectral_weight * self.hparams.spectral_loss(predictions, clean, lengths)
        if stage != sb.Stage.TRAIN:
            self._collect(predictions, batch, stage)
        return loss

    # ------------------------------------------------------------------ stages
    def on_stage_start(self, stage, epoch=None):
        """Resets the per-stage accumulators, starts the stage's clock and advances the data epoch."""
        self.stage_started = time.perf_counter()
        self.step_seconds = 0.0
        self.loss_terms = {}
        self.valid_scores = {"si_snr": [], "pesq": []}
        self.test_items = []
        if stage == sb.Stage.TRAIN:
            dataset = getattr(self, "train_dataset", None)
            if dataset is not None and hasattr(dataset, "set_epoch"):
                dataset.set_epoch(epoch)

    def on_stage_end(self, stage, stage_loss, epoch=None):
        """Logs (with the stage's wall time), schedules the learning rate, checkpoints, scores the test set."""
        stats = {"loss": stage_loss, "wall_s": round(time.perf_counter() - self.stage_started, 1)}
        if stage == sb.Stage.TRAIN:
            stats["step_s"] = round(self.step_seconds, 1)  # wall_s minus step_s: data, checkpoints, logging
            stats.update({name: value / max(self.step, 1) for name, value in self.loss_terms.items()})
            self.train_stats = stats
            return
        if stage == sb.Stage.VALID:
            stats.update(self.valid_summary())
            lr = self._schedule(epoch, stage_loss)
            self._log_stats(
                stats_meta={"epoch": epoch, "lr": lr},
                train_stats=getattr(self, "train_stats", None),
                valid_stats=stats,
            )
            meta = {f"valid_{name}": value for name, value in stats.items()}
            key = self.hparams.ckpt_key
            if key not in meta:
                raise ValueError(f"ckpt_key {key!r} is not computed; available: {sorted(meta)}.")
            self.checkpointer.save_and_keep_only(
                meta=meta,
                num_to_keep=max(self.hparams.keep_checkpoints, self.hparams.average_checkpoints),
                max_keys=[key] if is_maximised(key) else None,
                min_keys=None if is_maximised(key) else [key],
            )
        elif stage == sb.Stage.TEST:
            stats.update(self._score_test_set())
            self._log_stats(
                stats_meta={"Epoch loaded": self.hparams.epoch_counter.current}, test_stats=stats
            )

    def _wrap_distributed(self):
        """DDP on CPU (gloo) without SpeechBrain's SyncBatchNorm conversion, which DDP refuses there."""
        if not (self.distributed_launch and torch.device(self.device).type == "cpu"):
            return super()._wrap_distributed()
        for name, module in self.modules.items():
            if any(p.requires_grad for p in module.parameters()):
                self.modules[name] = torch.nn.parallel.DistributedDataParallel(
                    module, find_unused_parameters=self.find_unused_parameters
                )

    # ------------------------------------------------------------- internals
    def _collect(self, predictions, batch, stage):
        noisy, _ = batch.noisy_sig
        clean, lengths = batch.clean_sig
        absolute = torch.round(lengths * clean.shape[-1]).long().tolist()
        if stage == sb.Stage.VALID:
            scores = si_snr(predictions.detach().float(), clean.to(self.device).float(), lengths.to(self.device))
            self.valid_scores["si_snr"].extend(scores.tolist())
        for i, length in enumerate(absolute):
            enhanced = predictions[i, :length].detach().float().cpu().numpy()
            reference = clean[i, :length].float().cpu().numpy()
            if stage == sb.Stage.VALID and self.hparams.valid_pesq:
                try:
                    self.valid_scores["pesq"].append(pesq_wb(enhanced, reference))
                except UnscorableError as error:
                    try:  # a failed output counts against the model, a bad reference is skipped
                        pesq_wb(reference, reference)
                    except UnscorableError:
                        logger.warning("Validation PESQ skipped for %s: %s", batch.id[i], error)
                        continue
                    logger.warning("Validation PESQ of %s set to the worst score: %s", batch.id[i], error)
                    self.valid_scores["pesq"].append(WORST_SCORES["pesq_wb"])
            elif stage == sb.Stage.TEST:
                self.test_items.append(
                    {
                        "id": batch.id[i],
                        "enhanced": enhanced,
                        "clean": reference,
                        "noisy": noisy[i, :length].float().cpu().numpy(),
                    }
                )

    def valid_summary(self):
        """Mean validation SI-SNR (and PESQ when computed) of the stage's collected scores."""
        summary = {"si_snr": float(np.mean(self.valid_scores["si_snr"]))}
        if self.valid_scores["pesq"]:
            summary["pesq"] = float(np.mean(self.valid_scores["pesq"]))
        return summary

    def _schedule(self, epoch, valid_loss):
        """Steps the learning-rate scheduler on the validation loss; returns the new rate."""
        scheduler = self.scheduler
        if isinstance(scheduler, ReduceLROnPlateau):
            _, new_lr = scheduler([self.optimizer], epoch, valid_loss)
        elif isinstance(scheduler, NewBobScheduler):
            _, new_lr = scheduler(valid_loss)
            update_learning_rate(self.optimizer, new_lr)
        elif isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
            scheduler.step(valid_loss)
        elif scheduler is not None and not getattr(scheduler, "per_step", False):
            scheduler.step()
        return self.optimizer.param_groups[0]["lr"]

    def fit_batch(self, batch):
        """SpeechBrain's training step, timed: the train log's ``step_s`` against the stage's ``wall_s``."""
        started = time.perf_counter()
        loss = super().fit_batch(batch)
        self.step_seconds += time.perf_counter() - started
        return loss

    def on_fit_batch_end(self, batch, outputs, loss, should_step):
        """Steps a per-step learning-rate scheduler after each optimiser step."""
        if should_step and getattr(self.scheduler, "per_step", False):
            self.scheduler.step()

    def _build_scheduler(self):
        """The YAML's ``lr_scheduler``, built on the optimizer if it is a torch scheduler partial."""
        scheduler = self.hparams.lr_scheduler
        choices = self.hparams.lr_schedulers
        if scheduler is None and choices:
            name = self.hparams.lr_schedule
            if name not in choices:
                raise ValueError(f"lr_schedule {name!r} is not one of lr_schedulers: {sorted(choices)}.")
            scheduler = choices[name]
        if scheduler is None or isinstance(scheduler, (ReduceLROnPlateau, NewBobScheduler)):
            return scheduler
        if isinstance(scheduler, functools.partial):
            return scheduler(self.optimizer)
        raise TypeError(
            "lr_scheduler must be speechbrain's ReduceLROnPlateau or NewBobScheduler, or a "
            f"!name:torch.optim.lr_scheduler.X partial; got {type(scheduler).__name__}."
        )

    def _log_stats(self, **stats):
        """Logs to ``train_log.txt`` and, when enabled, to TensorBoard."""
        self.hparams.train_logger.log_stats(**stats)
        if getattr(self, "tensorboard", None) is not None and if_main_process():
            self.tensorboard.log_stats(**stats)

    def on_fit_start(self):
        """Opens TensorBoard if asked, then SpeechBrain's start (optimizers, recovery)."""
        self.tensorboard = None
        if self.hparams.use_tensorboard:
            from speechbrain.utils.train_logger import TensorboardLogger

            try:
                self.tensorboard = TensorboardLogger(self.hparams.tensorboard_folder)
            except ImportError as error:
                raise ImportError(
                    "use_tensorboard: true needs the tensorboard package (pip install tensorboard)."
                ) from error
        super().on_fit_start()

    def init_optimizers(self):
        """Builds the optimizer and the scheduler on it; registers the scheduler before recovery."""
        super().init_optimizers()
        self.scheduler = self._build_scheduler()
        if self.checkpointer is not None and self.scheduler is not None:
            self.checkpointer.add_recoverable("lr_scheduler", self.scheduler)

    def _noisy_cache(self):
        """The ``noisy_score_cache`` file of the YAML as a cache, or None."""
        from speechbrain_atkl.evaluation.noisy_cache import NoisyScoreCache

        path = self.hparams.noisy_score_cache
        return NoisyScoreCache(path) if path else None

    def _score_test_set(self):
        """Scores the collected test utterances, writes the report; returns mean metrics."""
        from speechbrain_atkl.evaluation import score_utterances, write_report

        output = Path(self.hparams.test_results_folder)
        if self.hparams.save_enhanced and if_main_process():
            from speechbrain_atkl.data.audio_writer import save_audio

            folder = Path(self.hparams.enhanced_folder)
            for item in self.test_items:
                save_audio(folder / f"{item['id']}.wav", torch.from_numpy(item["enhanced"]), 16000)
        if not if_main_process():
            return {}
        results = score_utterances(
            self.test_items,
            metrics=self.hparams.test_metrics,
            num_workers=self.hparams.eval_num_workers,
            noisy_cache=self._noisy_cache(),
        )
        summary = write_report(results, output)
        if results.lost:
            raise RuntimeError(
                f"{len(results.lost)} test utterances were lost (a scoring worker process died, "
                f"e.g. for lack of memory); see {output / 'skipped.csv'}. test_metrics.json was not "
                "written: run again with a lower eval_num_workers."
            )
        means = {
            system: {metric: values["mean"] for metric, values in metrics.items()}
            for system, metrics in summary.items()
        }
        # Failed outputs (NaN, silent...) are in the means with the worst score; say how many.
        failed = {system: {row["id"] for row in results.rows if row["system"] == system and row["failed"]}
                  for system in summary}
        record = {
            "test_set": str(self.hparams.test_set_name),
            "num_utterances": len(self.test_items),
            "num_skipped": len(results.skipped),
            "num_failed": {system: len(ids) for system, ids in failed.items()},
            **means,
        }
        write_text_atomically(Path(self.hparams.output_folder) / "test_metrics.json", json.dumps(record, indent=2))
        return {f"{metric}": value for metric, value in means.get("enhanced", {}).items()}
