"""Synthetic tonal events: determinism, pitch, glide, band limit, argument checks."""

import numpy as np
import pytest
import torch

from speechbrain_atkl.data.tonal_events import TonalEvents

RATE = 16000
#: One 1-s event of one harmonic at 440 Hz, no vibrato; ``max_glide_octaves`` is set per test.
ONE_TONE = {"events_per_second": (0.0, 0.0), "duration_s": (1.0, 1.0), "f0_hz": (440.0, 440.0),
            "vibrato_prob": 0.0, "harmonic_count": (1, 1)}


def _peak_hz(wav, rate=RATE):
    spectrum = np.abs(np.fft.rfft(np.asarray(wav, dtype=np.float64), n=rate))  # 1-Hz bins
    return int(np.argmax(spectrum))


def test_same_seed_same_events_other_seeds_differ():
    events = TonalEvents()
    wav = events(48000, RATE, np.random.default_rng(3))
    assert wav.shape == (48000,) and wav.dtype == torch.float32
    assert torch.equal(wav, events(48000, RATE, np.random.default_rng(3)))
    assert not torch.equal(wav, events(48000, RATE, np.random.default_rng(4)))
    assert abs(float(wav.pow(2).mean()) - 1.0) < 1e-4
    assert float((wav == 0).float().mean()) > 0.01  # events, not a continuous sound (seed 3: 5 events)


def test_a_steady_event_peaks_at_its_fundamental_and_harmonics():
    steady = TonalEvents(**ONE_TONE, max_glide_octaves=0.0)
    assert abs(_peak_hz(steady(RATE, RATE, np.random.default_rng(0))) - 440) <= 2
    rich = TonalEvents(**{**ONE_TONE, "harmonic_count": (3, 3)}, max_glide_octaves=0.0,
                       harmonic_slope_db=(-6.0, -6.0))
    spectrum = np.abs(np.fft.rfft(rich(RATE, RATE, np.random.default_rng(0)).double().numpy(), n=RATE))
    at_harmonics = [spectrum[k * 440 - 3 : k * 440 + 4].max() for k in (1, 2, 3)]
    # Each harmonic 6 dB below the previous, and between harmonics almost nothing.
    assert np.allclose(20 * np.log10(np.array(at_harmonics[1:]) / at_harmonics[:-1]), -6.0, atol=0.5)
    assert spectrum[600:800].max() < 0.01 * at_harmonics[0]


def test_a_gliding_event_moves_its_peak():
    gliding = TonalEvents(**ONE_TONE, max_glide_octaves=1.0)
    rng = np.random.default_rng(1)
    wav = gliding(RATE, RATE, rng).numpy()
    start, end = _peak_hz(wav[2000:4000]), _peak_hz(wav[12000:14000])
    assert abs(np.log2(end / start)) > 0.2  # seed 1 glides up by 0.90 octaves in all


def test_no_energy_above_nyquist_nor_nan_at_a_low_rate():
    # At 8 kHz the fundamental (up to 6 kHz with a glide) must be capped and high harmonics dropped.
    events = TonalEvents(f0_hz=(1500.0, 3000.0), harmonic_count=(6, 6), events_per_second=(4.0, 4.0))
    rate = 8000
    for seed in range(5):
        wav = events(3 * rate, rate, np.random.default_rng(seed)).double()
        assert torch.isfinite(wav).all()
        # Aliased harmonics would fold back below 1.5 kHz, where no fundamental lies.
        power = torch.fft.rfft(wav).abs().pow(2)
        hz = torch.fft.rfftfreq(wav.shape[0], 1 / rate)
        assert float(power[hz < 1000].sum()) < 0.01 * float(power.sum())


def test_short_segments_still_get_an_event():
    wav = TonalEvents()(5, RATE, np.random.default_rng(0))
    assert wav.shape == (5,) and torch.isfinite(wav).all() and float(wav.abs().max()) > 0


@pytest.mark.parametrize(
    "arguments, message",
    [
        ({"events_per_second": (-1.0, 2.0)}, r"events_per_second must be \(low, high\) with 0 <= low <= high"),
        ({"duration_s": (0.0, 1.0)}, r"duration_s must be \(low, high\) with 0 < low <= high, got \(0.0, 1.0\)"),
        ({"f0_hz": (3000.0, 100.0)}, r"f0_hz must be \(low, high\) with 0 < low <= high"),
        ({"harmonic_count": (0, 6)}, r"harmonic_count must be \(low, high\) with 1 <= low <= high"),
        ({"harmonic_count": (1, 2.5)}, r"harmonic_count must hold integers, got \(1, 2.5\)"),
        ({"harmonic_slope_db": "steep"}, r"harmonic_slope_db must be \(low, high\) with low <= high"),
        ({"max_glide_octaves": -1}, r"max_glide_octaves must be a number of octaves >= 0, got -1"),
        ({"vibrato_prob": 2.0}, r"vibrato_prob must be a probability in \[0, 1\], got 2.0"),
    ],
)
def test_bad_arguments_are_refused(arguments, message):
    with pytest.raises(ValueError, match=message):
        TonalEvents(**arguments)
