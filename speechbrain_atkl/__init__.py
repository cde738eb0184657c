"""SpeechBrain plug-in for DCCRN, Uformer, Distil-DCCRN and the AT-KL distillation loss."""

__version__ = "0.1.0"
