"""Audio I/O, corpus preparation, dynamic mixing, WebDataset shards and a demo corpus."""

from speechbrain_atkl.data.audio import AudioError, AudioInfo, audio_info, load_audio
from speechbrain_atkl.data.audio_writer import save_audio
from speechbrain_atkl.data.mixing import DynamicMixingDataset, mix_at_snr, paired_dataset
from speechbrain_atkl.data.prepare import detect_layout, prepare_dns, read_preparation

__all__ = [
    "AudioError",
    "AudioInfo",
    "audio_info",
    "load_audio",
    "save_audio",
    "DynamicMixingDataset",
    "mix_at_snr",
    "paired_dataset",
    "detect_layout",
    "prepare_dns",
    "read_preparation",
]
