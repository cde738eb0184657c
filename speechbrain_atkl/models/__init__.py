"""speechbrain-atkl models: STFT, complex layers, DCCRN and Uformer."""
