"""Training: SpeechBrain Brains for supervised enhancement and AT-KL distillation."""

from speechbrain_atkl.training.brains import DistillationBrain, EnhancementBrain
from speechbrain_atkl.training.checkpoints import best_checkpoint, load_teacher, load_trained_model

__all__ = ["DistillationBrain", "EnhancementBrain", "best_checkpoint", "load_teacher", "load_trained_model"]
