"""Audio loading at the edges: absurd or coprime sampling rates, block reading, failed writes."""

import json
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
import torch
import torchaudio

from speechbrain_atkl.data.audio import AudioError, load_audio, read_blocks
from speechbrain_atkl.data.audio_writer import AudioWriteError, save_audio
from speechbrain_atkl.data.resample import StreamResampler, resample

#: Rates coprime (or nearly) with 16 kHz: their reduced ratios have large terms, which would make
#: torchaudio's resampling kernel huge without ``resampling_ratio`` (speechbrain_atkl.data.resample).
COPRIME_RATES = [31249, 22051, 44101, 7919, 383999]

MEASURE = """
import json, resource, sys, time
import numpy as np, soundfile as sf
from speechbrain_atkl.data.audio import load_audio
folder, rates = sys.argv[1], json.loads(sys.argv[2])
sf.write(folder + "/warm.wav", np.zeros(2000, np.float32), 16000)
load_audio(folder + "/warm.wav")
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
result = {}
for rate in rates:
    t = np.arange(2000) / rate
    sf.write(folder + f"/{rate}.wav", (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), rate, subtype="FLOAT")
    start = time.perf_counter()
    wav = load_audio(folder + f"/{rate}.wav")
    result[rate] = [time.perf_counter() - start, wav.shape[0], wav.numpy().tolist()]
result["peak_mb"] = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) / 1024
print(json.dumps(result))
"""


def test_coprime_sample_rates_resample_fast_in_little_memory(tmp_path):
    """Small files at rates coprime with 16 kHz: seconds and megabytes, and the right signal."""
    result = subprocess.run(
        [sys.executable, "-c", MEASURE, str(tmp_path), json.dumps(COPRIME_RATES)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    measured = json.loads(result.stdout)
    assert measured["peak_mb"] < 200, measured["peak_mb"]
    for rate in COPRIME_RATES:
        seconds, length, wav = measured[str(rate)]
        assert seconds < 2.0, (rate, seconds)
        assert length == -(-2000 * 16000 // rate), rate  # ceil, as torchaudio's exact resampling
        if rate > 16000:  # the 440 Hz tone itself, away from the edges
            expected = 0.5 * np.sin(2 * np.pi * 440 * np.arange(length) / 16000)
            np.testing.assert_allclose(np.array(wav)[100:-100], expected[100:-100], atol=2e-3)


@pytest.mark.parametrize("rate", [999, 500, 400000, 2_000_000])
def test_absurd_sample_rates_are_refused_naming_the_file(tmp_path, rate):
    path = tmp_path / f"rate {rate}.wav"
    sf.write(str(path), np.zeros(100, np.float32), rate)
    with pytest.raises(AudioError, match=f"{rate} Hz is outside") as error:
        load_audio(path)
    assert str(path) in str(error.value)
    with pytest.raises(AudioError, match="outside"):
        list(read_blocks(path))


@pytest.mark.parametrize("rate", [8000, 44100, 48000, 31249])
def test_block_resampling_equals_whole_resampling(rate):
    torch.manual_seed(0)
    wav = torch.randn(3 * rate // 2)
    whole = resample(wav, rate, 16000)
    if rate in (8000, 44100, 48000):  # common rates: exactly torchaudio's own resampling
        torch.testing.assert_close(whole, torchaudio.functional.resample(wav, rate, 16000))
    for size in (997, 4096, 100000):
        stream = StreamResampler(rate, 16000)
        pieces = [stream.push(block) for block in wav.split(size)] + [stream.finish()]
        torch.testing.assert_close(torch.cat(pieces), whole, atol=1e-6, rtol=0)


@pytest.mark.parametrize(("rate", "channels"), [(16000, 1), (48000, 2), (22050, 3)])
def test_read_blocks_equals_load_audio_and_reads_in_blocks(tmp_path, rate, channels, monkeypatch):
    path = tmp_path / "x.flac"
    data = 0.1 * np.random.default_rng(0).standard_normal((rate, channels))
    sf.write(str(path), data, rate)
    reads = []
    original = sf.SoundFile.read
    monkeypatch.setattr(
        sf.SoundFile, "read", lambda self, frames=-1, *a, **kw: reads.append(frames) or original(self, frames, *a, **kw)
    )
    blocks = list(read_blocks(path, block_frames=5000))
    assert reads and max(reads) == 5000  # never the whole file at once (-1)
    torch.testing.assert_close(torch.cat(blocks), load_audio(path), atol=1e-6, rtol=0)


def test_nan_late_in_a_long_file_is_found_by_block_reading(tmp_path):
    data = np.zeros(50000, np.float32)
    data[-10] = np.nan
    path = tmp_path / "late nan.wav"
    sf.write(str(path), data, 16000, subtype="FLOAT")
    with pytest.raises(AudioError, match="NaN") as error:
        list(read_blocks(path, block_frames=4096))
    assert str(path) in str(error.value)


def test_a_failed_write_names_the_file_and_leaves_nothing(tmp_path, monkeypatch):
    """A full disk surfaces in libsndfile as a bare "System error."."""

    def full_disk(*args, **kwargs):
        raise sf.LibsndfileError(2, "Error writing: ")  # what libsndfile says on ENOSPC

    monkeypatch.setattr(sf.SoundFile, "write", full_disk)
    monkeypatch.setattr(sf, "write", full_disk)
    path = tmp_path / "out" / "enhanced.wav"
    with pytest.raises(AudioWriteError, match="writing the audio file failed.*disk full.*System error") as error:
        save_audio(path, torch.zeros(1600), 16000)
    assert str(path) in str(error.value) and isinstance(error.value, OSError)
    assert list((tmp_path / "out").iterdir()) == []


def test_non_utf8_file_names_are_read_and_written(tmp_path):
    """Linux allows any bytes but '/' and NUL in a name: load, inspect and save such files."""
    import os

    import numpy as np
    import soundfile as sf

    from speechbrain_atkl.data.audio import audio_info, load_audio
    from speechbrain_atkl.data.audio_writer import save_audio

    folder = os.fsencode(tmp_path)
    source = os.path.join(folder, b"noisy \xff.wav")
    sf.write(source, np.full(1600, 0.1), 16000)
    name = os.fsdecode(source)  # how os.listdir(str) reports it: surrogate escapes
    assert audio_info(name).frames == 1600
    assert torch.allclose(load_audio(name), torch.full((1600,), 0.1), atol=1e-4)
    target = os.fsdecode(os.path.join(folder, b"enhanced \xfe.wav"))
    save_audio(target, torch.zeros(1600), 16000)
    assert b"enhanced \xfe.wav" in os.listdir(folder)


WRITE_AND_WAIT = """
import signal, sys, time, torch
from speechbrain_atkl.data.audio_writer import AudioWriter
if sys.argv[2] == "python":
    signal.signal(signal.SIGTERM, lambda *args: sys.exit(3))
with AudioWriter(sys.argv[1], 16000) as writer:
    writer.write(torch.zeros(1600))
    print("writing", flush=True)
    time.sleep(120)
"""


@pytest.mark.parametrize("handler", ["default", "python"])
def test_sigterm_mid_file_leaves_no_temporary(tmp_path, handler):
    """SIGTERM removes the hidden temporary, then acts as before: the default action, or the program's handler."""
    import signal

    process = subprocess.Popen(
        [sys.executable, "-c", WRITE_AND_WAIT, str(tmp_path / "enhanced.wav"), handler],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout.readline() == "writing\n"
        assert [p.suffix for p in tmp_path.iterdir()] == [".partial"]
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == (-signal.SIGTERM if handler == "default" else 3)
    finally:
        process.kill()
    assert list(tmp_path.iterdir()) == []


def test_channels_that_cancel_when_averaged_are_warned_about(tmp_path):
    """Opposite-polarity stereo averages to silence: said, not silently enhanced as nothing."""
    import warnings

    tone = 0.3 * np.sin(2 * np.pi * 440 * np.arange(16000) / 16000)
    sf.write(str(tmp_path / "opposite.wav"), np.stack([tone, -tone], 1), 16000, subtype="FLOAT")
    with pytest.warns(UserWarning, match=r"opposite.wav: its 2 channels cancel when averaged to mono.*polarity"):
        wav = load_audio(tmp_path / "opposite.wav")
    assert wav.abs().max() < 1e-6
    with pytest.warns(UserWarning, match="channels cancel"):
        list(read_blocks(tmp_path / "opposite.wav", block_frames=3000))
    noise = 0.1 * np.random.default_rng(0).standard_normal(16000)
    sf.write(str(tmp_path / "stereo.wav"), np.stack([tone, noise - 0.5 * tone], 1), 16000, subtype="FLOAT")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_audio(tmp_path / "stereo.wav")
        list(read_blocks(tmp_path / "stereo.wav", block_frames=3000))
