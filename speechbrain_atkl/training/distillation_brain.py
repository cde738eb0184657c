"""SpeechBrain's ``Brain`` for AT-KL distillation: a student trained from a frozen teacher.

:class:`DistillationBrain` extends
:class:`~speechbrain_atkl.training.brains.EnhancementBrain` (whose module
lists the hyper-parameters both read) with the teacher's pass and the AT-KL
term.

Authors
 * speechbrain-atkl developers 2026
"""

import speechbrain as sb
import torch

from speechbrain_atkl.training.brains import EnhancementBrain, float32_objectives
from speechbrain_atkl.training.teacher_features import HookedTeacher, bin_frequencies, frame_timing


class DistillationBrain(EnhancementBrain):
    """Trains a student from a frozen teacher with AT-KL and the balanced SI-SNR.

    Extra hyper-parameters: ``teacher`` (the frozen model, loaded by the
    recipe), ``balanced_loss`` (:class:`BalancedSISNRLoss`), ``atkl_loss``
    (:class:`ATKLLoss`) and ``feature_weight`` (its weight; 0 gives output-only
    distillation). The teacher's feature maps come from its
    ``return_features`` (this package's models) or, when the YAML has
    ``teacher_feature_modules`` (and ``teacher_feature_layout``), from forward
    hooks on those modules, so any model mapping ``(batch, time)`` to
    ``(batch, time)`` can teach (:class:`~speechbrain_atkl.training.teacher_features.HookedTeacher`).
    With ``atkl_loss.time_alignment == "timestamps"`` the frames are aligned by
    the models' ``stft.timing`` (or the YAML's ``teacher_frame_timing``); a
    model with a ``feature_frequencies`` method (GTCRN) has its frequency axis
    aligned by Hz (:func:`~speechbrain_atkl.training.teacher_features.bin_frequencies`).
    Training loss::

        balanced_loss(student, clean, teacher) + feature_weight * atkl_loss(features)

    Validation and test score the student alone against the clean speech.
    The teacher runs in eval mode under ``torch.no_grad()``: it never receives
    gradients and costs one forward pass per step.
    """

    DEFAULT_HPARAMS = {
        **EnhancementBrain.DEFAULT_HPARAMS,
        "teacher_feature_modules": None,
        "teacher_feature_layout": "channels_freq_frames",
        "teacher_frame_timing": None,
        "sample_rate": 16000,
    }

    def on_fit_start(self):
        """Moves the teacher to the device, freezes it, hooks its feature modules, reads the frame and bin grids."""
        super().on_fit_start()
        teacher = self.hparams.teacher
        student = self.modules.model
        student = student.module if isinstance(student, torch.nn.parallel.DistributedDataParallel) else student
        self.frequency_grids = bin_frequencies(student, teacher, self.hparams.sample_rate)
        self.frame_timings = None
        if self.hparams.atkl_loss.time_alignment == "timestamps":
            self.frame_timings = (frame_timing(student), frame_timing(teacher, self.hparams.teacher_frame_timing))
        if self.hparams.teacher_feature_modules:
            teacher = HookedTeacher(teacher, self.hparams.teacher_feature_modules, self.hparams.teacher_feature_layout)
        self.teacher = teacher.to(self.device).eval().requires_grad_(False)

    def compute_forward(self, batch, stage):
        """Student output; in training also the teacher's output and both feature maps."""
        if stage != sb.Stage.TRAIN:
            return super().compute_forward(batch, stage)
        noisy, _ = batch.noisy_sig
        noisy = noisy.to(self.device)
        with_features = self.hparams.feature_weight > 0
        with torch.no_grad():
            teacher_out = self.teacher(noisy, return_features=with_features)
        student_out = self.modules.model(noisy, return_features=with_features)
        if not with_features:
            return student_out, None, teacher_out, None
        return student_out[0], student_out[1], teacher_out[0], teacher_out[1]

    @float32_objectives
    def compute_objectives(self, predictions, batch, stage):
        """Balanced SI-SNR plus weighted AT-KL in training; plain SI-SNR otherwise."""
        if stage != sb.Stage.TRAIN:
            return super().compute_objectives(predictions, batch, stage)
        student, student_features, teacher, teacher_features = predictions
        clean, lengths = batch.clean_sig
        clean, lengths = clean.to(self.device), lengths.to(self.device)
        loss = self.hparams.balanced_loss(student, clean, teacher, lengths)
        self._add_term("balanced_si_snr", loss)
        if student_features is not None:
            terms = self.hparams.atkl_loss.terms(
                student_features,
                teacher_features,
                lengths,
                timings=self.frame_timings,
                frequencies=self.frequency_grids,
            )
            for name, value in terms.items():
                self._add_term(f"atkl_{name}", value)
            loss = loss + self.hparams.feature_weight * terms["total"]
        return loss

    def _add_term(self, name, value):
        value = value.detach() if torch.is_tensor(value) else value
        self.loss_terms[name] = self.loss_terms.get(name, 0.0) + float(value)
