"""Training: SpeechBrain Brains for supervised enhancement and AT-KL distillation."""

from speechbrain_atkl.training.brains import EnhancementBrain
from speechbrain_atkl.training.checkpoints import init_from_pretrained, load_teacher
from speechbrain_atkl.training.distillation_brain import DistillationBrain

__all__ = ["DistillationBrain", "EnhancementBrain", "init_from_pretrained", "load_teacher"]
