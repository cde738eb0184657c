"""Training-noise augmentation: the transform, its wiring into dynamic mixing, the recipes and the ablation."""

import importlib.util
import logging
import subprocess
from argparse import Namespace
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from hyperpyyaml import load_hyperpyyaml

import train
from benchmarks import recipe_ablation
from speechbrain_atkl.data import DynamicMixingDataset
from speechbrain_atkl.data.noise_augment import NoiseAugmentation

REPO = Path(__file__).resolve().parents[1]
#: The last commit before noise augmentation: its dynamic mixing is the reference of "unchanged".
BEFORE = "8e8f010fd1b8dc8e3e406f0f3b6d7522b76cfaf6"
#: The last commit before tonal events: its noise augmentation is the reference of "tonal_prob 0 changes nothing".
BEFORE_TONAL = "67645d4df0208cccd93bca831b544f74abece8e1"
#: The last commit before the speed change.
BEFORE_SPEED = "df66b05dd7ab31448b3dcfc61cbec919ba3b6beb"
RATE = 16000


def _rms(wav):
    return float(wav.pow(2).mean().sqrt())


def _tone(cycles, length=RATE):
    """A sine of a whole number of cycles: tones of different ``cycles`` are orthogonal."""
    return torch.sin(2 * torch.pi * cycles * torch.arange(length, dtype=torch.float64) / length).float()


def _band_density(wav, low_hz, high_hz):
    """Mean power per rFFT bin between two frequencies (16 kHz signal)."""
    power = torch.fft.rfft(wav.double()).abs().pow(2)
    hz = torch.fft.rfftfreq(wav.shape[-1], 1 / RATE)
    return float(power[(hz >= low_hz) & (hz < high_hz)].mean())


# ---------------------------------------------------------------- the transform


def test_same_rng_seed_same_output_other_seeds_differ():
    augment = NoiseAugmentation(second_noise_prob=1.0, coloured_noise_prob=1.0)
    noise = torch.randn(48000, generator=torch.Generator().manual_seed(0))

    def augmented(seed):
        rng = np.random.default_rng(seed)
        return augment(noise, rng, lambda n: torch.from_numpy(rng.standard_normal(n)).float())

    reference = augmented(7)
    assert reference.shape == noise.shape and reference.dtype == noise.dtype
    assert torch.equal(reference, augmented(7))
    assert not torch.equal(reference, augmented(8))
    assert abs(_rms(reference) - _rms(noise)) < 1e-4 * _rms(noise)


def test_shaping_keeps_length_and_rms_and_zero_gain_is_identity():
    noise = torch.randn(47999, generator=torch.Generator().manual_seed(1)) * 0.05  # odd length too
    shaped = NoiseAugmentation(max_gain_db=12.0).shape(noise, np.random.default_rng(0))
    assert shaped.shape == noise.shape
    assert abs(_rms(shaped) - _rms(noise)) < 1e-5 * _rms(noise)
    assert (shaped - noise).abs().max() > 0.1 * noise.abs().max()  # it did change the noise
    flat = NoiseAugmentation(max_gain_db=0.0).shape(noise, np.random.default_rng(0))
    assert torch.allclose(flat, noise, atol=1e-6)


def test_shaping_gains_stay_within_max_gain_db():
    noise = torch.randn(32000, generator=torch.Generator().manual_seed(2))
    shaped = NoiseAugmentation(max_gain_db=6.0).shape(noise, np.random.default_rng(3))
    ratio = torch.fft.rfft(shaped).abs()[1:] / torch.fft.rfft(noise).abs()[1:]
    ratio_db = 20 * torch.log10(ratio * _rms(noise) / _rms(shaped))  # undo the RMS restoration
    # Gains are a smooth curve: bounded, and neighbouring bins barely differ.
    assert ratio_db.abs().max() <= 6.0 + 1e-3
    assert ratio_db.diff().abs().max() < 0.1


def test_coloured_noise_slope_tilts_the_spectrum():
    def low_over_high(slope):
        augment = NoiseAugmentation(coloured_slope_range=(slope, slope))
        noise = augment.coloured_noise(48000, np.random.default_rng(0))
        assert noise.shape == (48000,) and abs(_rms(noise) - 1) < 1e-4 and abs(float(noise.mean())) < 1e-6
        return _band_density(noise, 250, 1000) / _band_density(noise, 4000, 8000)

    brown, white, blue = low_over_high(-2.0), low_over_high(0.0), low_over_high(1.0)
    # Expected ratios of mean densities: about 100 (brown), 1 (white), 0.1 (blue).
    assert brown > 30 and 0.7 < white < 1.4 and blue < 0.2


def test_the_second_noise_is_added_at_the_drawn_level():
    augment = NoiseAugmentation(
        shaping_prob=0.0, coloured_noise_prob=0.0, second_noise_prob=1.0, second_noise_level_db=(-6.0, -6.0)
    )
    noise, other = _tone(100), _tone(2000)
    lengths = []

    def draw_noise(length):
        lengths.append(length)
        return other

    result = augment(noise, np.random.default_rng(0), draw_noise)
    assert lengths == [RATE]
    # The tones are orthogonal: project the result on each.
    own, added = (float(result.double() @ tone.double()) / float(tone.double() @ tone.double())
                  for tone in (noise, other))
    assert abs(20 * np.log10(added / own) - (-6.0)) < 1e-3
    assert abs(_rms(result) - _rms(noise)) < 1e-5


def test_probabilities_zero_leave_the_segment_alone():
    def never_called(length):
        raise AssertionError("draw_noise was called")

    noise = torch.randn(8000)
    assert NoiseAugmentation(prob=0.0)(noise, np.random.default_rng(0), never_called) is noise
    shaped_only = NoiseAugmentation(second_noise_prob=0.0, coloured_noise_prob=0.0)
    assert shaped_only(noise, np.random.default_rng(0), never_called).shape == noise.shape


def _augment_seeds(augment, noise, seeds=range(6)):
    """``augment``'s outputs for a few seeds, the second noise drawn with the same rng."""
    outputs = []
    for seed in seeds:
        rng = np.random.default_rng(seed)
        outputs.append(augment(noise, rng, lambda n, rng=rng: torch.from_numpy(rng.standard_normal(n)).float()))
    return outputs


@pytest.mark.parametrize(
    "before_commit, switch, settings",
    [(BEFORE_TONAL, "tonal_prob", {"second_noise_prob": 0.5, "coloured_noise_prob": 0.5}),
     (BEFORE_SPEED, "speed_prob", {"second_noise_prob": 0.5, "coloured_noise_prob": 0.5, "tonal_prob": 0.5})],
)
def test_a_step_switched_off_leaves_outputs_as_before_the_step(tmp_path, before_commit, switch, settings):
    """A step added later, at probability 0, draws nothing: every output is bit-identical to the code before it."""
    before = _module_at(before_commit, "speechbrain_atkl/data/noise_augment.py", tmp_path).NoiseAugmentation
    noise = torch.randn(48000, generator=torch.Generator().manual_seed(5))
    old = _augment_seeds(before(**settings), noise)
    new = _augment_seeds(NoiseAugmentation(**settings, **{switch: 0.0}), noise)
    assert all(torch.equal(a, b) for a, b in zip(old, new, strict=True))
    switched_on = _augment_seeds(NoiseAugmentation(**settings, **{switch: 1.0}), noise)
    assert not any(torch.equal(a, b) for a, b in zip(old, switched_on, strict=True))


def test_tonal_events_are_added_at_the_drawn_level_keeping_length_and_rms():
    augment = NoiseAugmentation(shaping_prob=0.0, second_noise_prob=0.0, coloured_noise_prob=0.0,
                                tonal_prob=1.0, tonal_level_db=(10.0, 10.0))
    noise = 0.01 * torch.randn(48000, generator=torch.Generator().manual_seed(6))
    result = augment(noise, np.random.default_rng(0), None)
    assert result.shape == noise.shape and result.dtype == noise.dtype
    assert abs(_rms(result) - _rms(noise)) < 1e-5 * _rms(noise)
    assert torch.equal(result, augment(noise, np.random.default_rng(0), None))
    # The added part is 10 dB above the segment: after the RMS restoration the segment keeps 1/11 of the power.
    residual = result - noise * (1 / 11) ** 0.5
    assert abs(10 * np.log10(_rms(residual) ** 2 / _rms(result) ** 2) - 10 * np.log10(10 / 11)) < 0.1


def test_a_speed_change_moves_the_pitch_and_keeps_length_and_rms():
    tone = 0.1 * torch.sin(2 * np.pi * 1000 * torch.arange(32000) / RATE)
    octave_down = NoiseAugmentation(speed_range=(0.5, 0.5)).change_speed(tone, np.random.default_rng(0))
    spectrum = torch.fft.rfft(octave_down).abs()
    assert octave_down.shape == tone.shape and int(spectrum.argmax()) == 1000  # 0.5 Hz bins: 500 Hz
    assert spectrum[1900:2100].max() < 1e-3 * spectrum.max()  # nothing left at 1 kHz
    augment = NoiseAugmentation(shaping_prob=0.0, second_noise_prob=0.0, coloured_noise_prob=0.0, speed_prob=1.0)
    noise = 0.01 * torch.randn(48000, generator=torch.Generator().manual_seed(8))
    result = augment(noise, np.random.default_rng(3), None)
    assert result.shape == noise.shape and result.dtype == noise.dtype and not torch.equal(result, noise)
    assert abs(_rms(result) - _rms(noise)) < 1e-5 * _rms(noise)
    assert torch.equal(result, augment(noise, np.random.default_rng(3), None))
    wide = NoiseAugmentation(speed_range=(0.5, 2.0))
    factors = np.array([wide._draw_factor(np.random.default_rng(seed)) for seed in range(400)])
    assert 0.5 <= factors.min() and factors.max() <= 2.0 and 0.4 < np.mean(factors < 1.0) < 0.6  # log-uniform


def test_a_slowed_segment_whose_start_is_silent_is_kept_as_it_is():
    noise = torch.cat([torch.zeros(24000), torch.randn(24000)])
    augment = NoiseAugmentation(shaping_prob=0.0, second_noise_prob=0.0, coloured_noise_prob=0.0, speed_prob=1.0,
                                speed_range=(0.5, 0.5))
    result = augment(noise, np.random.default_rng(0), None)
    assert torch.isfinite(result).all() and torch.equal(result, noise)


@pytest.mark.parametrize(
    "arguments, message",
    [
        ({"prob": 1.5}, r"prob must be a probability in \[0, 1\], got 1.5"),
        ({"second_noise_prob": -0.1}, r"second_noise_prob must be a probability in \[0, 1\], got -0.1"),
        ({"coloured_noise_prob": "often"}, r"coloured_noise_prob must be a probability in \[0, 1\], got 'often'"),
        ({"shaping_prob": None}, r"shaping_prob must be a probability"),
        ({"max_gain_db": -3.0}, r"max_gain_db must be a number of dB >= 0, got -3.0"),
        ({"anchor_count": 1}, r"anchor_count must be an integer >= 2, got 1"),
        ({"anchor_count": 4.0}, r"anchor_count must be an integer >= 2, got 4.0"),
        ({"coloured_slope_range": (1.0, -2.0)}, r"coloured_slope_range must be \(low, high\) with low <= high"),
        ({"second_noise_level_db": [0.0]}, r"second_noise_level_db must be \(low, high\)"),
        ({"coloured_noise_level_db": (0.0, float("nan"))}, r"coloured_noise_level_db must be \(low, high\)"),
        ({"tonal_prob": 1.1}, r"tonal_prob must be a probability in \[0, 1\], got 1.1"),
        ({"tonal_level_db": (10.0, -5.0)}, r"tonal_level_db must be \(low, high\) with low <= high, got \(10.0, -5"),
        ({"sample_rate": 0}, r"sample_rate must be a positive integer number of Hz, got 0"),
        ({"sample_rate": 16000.5}, r"sample_rate must be a positive integer number of Hz, got 16000.5"),
        ({"speed_prob": 2}, r"speed_prob must be a probability in \[0, 1\], got 2"),
        ({"speed_range": (0.0, 2.0)}, r"speed_range must hold speed factors > 0, got \(0.0, 2.0\)"),
        ({"speed_range": (2.0, 0.5)}, r"speed_range must be \(low, high\) with low <= high, got \(2.0, 0.5\)"),
    ],
)
def test_bad_arguments_are_refused(arguments, message):
    with pytest.raises(ValueError, match=message):
        NoiseAugmentation(**arguments)


# ---------------------------------------------------------------- dynamic mixing


@pytest.fixture
def corpus(tmp_path):
    """Clean, noise (one shorter than a segment: looped) and RIR manifests of random files."""
    rng = np.random.default_rng(0)

    def write(name, seconds):
        path = tmp_path / f"{name}.wav"
        sf.write(str(path), 0.1 * rng.standard_normal(int(seconds * RATE)), RATE)
        return {"wav": str(path), "duration": seconds}

    clean = {f"c{i}": write(f"c{i}", 1.0 + i) for i in range(3)}
    noise = {"n0": write("n0", 0.3), "n1": write("n1", 3.0), "n2": write("n2", 2.0)}
    rir = np.zeros(1600)
    rir[40], rir[200:] = 1.0, 0.05 * rng.standard_normal(1400) * np.exp(-np.arange(1400) / 300)
    sf.write(str(tmp_path / "rir.wav"), rir, RATE, subtype="FLOAT")
    return clean, noise, {"r": {"wav": str(tmp_path / "rir.wav"), "duration": 0.1}}


def _items(dataset_class, corpus, epoch=2, **options):
    data = dataset_class(*corpus, segment_seconds=0.75, epoch_size=8, reverb_prob=0.5, seed=11, **options)
    data.set_epoch(epoch)
    return [data.get_mixture(index) for index in range(len(data))]


def _module_at(commit, module_path, tmp_path):
    """The module at ``module_path`` as it was at ``commit`` (from git), or a skip."""
    try:
        source = subprocess.run(
            ["git", "-C", str(REPO), "show", f"{commit}:{module_path}"], capture_output=True, text=True, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip(f"needs git and commit {commit[:7]} (the code before the change)")
    name = f"{Path(module_path).stem}_{commit[:7]}"
    path = tmp_path / f"{name}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _dataset_before(tmp_path):
    """``DynamicMixingDataset`` as it was before noise augmentation."""
    return _module_at(BEFORE, "speechbrain_atkl/data/mixing.py", tmp_path).DynamicMixingDataset


def test_without_augmentation_items_are_bit_identical_to_before(corpus, tmp_path):
    before = _items(_dataset_before(tmp_path), corpus)
    for options in ({}, {"noise_augmentation": None}, {"noise_augmentation": NoiseAugmentation(prob=0.0)}):
        after = _items(DynamicMixingDataset, corpus, **options)
        assert [item["rir_source"] is not None for item in after].count(True) > 0
        for old, new in zip(before, after, strict=True):
            assert old.keys() == new.keys()
            for key in old:
                if isinstance(old[key], torch.Tensor):
                    assert torch.equal(old[key], new[key]) and old[key].dtype == new[key].dtype
                else:
                    assert old[key] == new[key]


def test_augmented_items_keep_an_exact_snr_and_their_draws(corpus):
    plain = _items(DynamicMixingDataset, corpus)
    augmentation = NoiseAugmentation(second_noise_prob=1.0, coloured_noise_prob=0.5)
    augmented = _items(DynamicMixingDataset, corpus, noise_augmentation=augmentation)
    assert augmented[0]["noisy_sig"].shape == plain[0]["noisy_sig"].shape
    assert any(item["rir_source"] is None for item in augmented)
    for old, new in zip(plain, augmented, strict=True):
        # Same speech, noise file, SNR, level and RIR: only the noise itself is new.
        for key in ("clean_source", "noise_source", "rir_source", "snr_db"):
            assert old[key] == new[key]
        assert torch.allclose(old["clean_sig"] / _rms(old["clean_sig"]), new["clean_sig"] / _rms(new["clean_sig"]))
        assert not torch.allclose(old["noisy_sig"], new["noisy_sig"])
        if new["rir_source"] is None:  # the target is the speech in the mixture: the SNR is exact
            residual = new["noisy_sig"] - new["clean_sig"]
            snr = 10 * torch.log10(new["clean_sig"].pow(2).sum() / residual.pow(2).sum())
            assert abs(float(snr) - new["snr_db"]) < 1e-3
    again = _items(DynamicMixingDataset, corpus, noise_augmentation=augmentation)
    assert all(torch.equal(a["noisy_sig"], b["noisy_sig"]) for a, b in zip(augmented, again))
    other_epoch = _items(DynamicMixingDataset, corpus, epoch=3, noise_augmentation=augmentation)
    assert not torch.equal(augmented[0]["noisy_sig"], other_epoch[0]["noisy_sig"])


# ---------------------------------------------------------------- recipes and the ablation


def test_recipe_key_switches_the_augmentation_on_for_training_only(corpus, tmp_path, caplog):
    text = (REPO / "hparams" / "distil_dccrn.yaml").read_text()
    default = load_hyperpyyaml(text, {"results_root": str(tmp_path)})
    assert default["noise_augment_prob"] == 1.0 and default["noise_augmentation"].prob == 1.0
    off = load_hyperpyyaml(text, {"results_root": str(tmp_path), "noise_augment_prob": 0.0})
    assert off["noise_augmentation"].prob == 0.0
    hparams = load_hyperpyyaml(text, {"results_root": str(tmp_path), "noise_augment_prob": 0.5})
    augmentation = hparams["noise_augmentation"]
    assert isinstance(augmentation, NoiseAugmentation) and augmentation.prob == 0.5
    assert augmentation.coloured_slope_range == (-2.0, 1.0)

    clean, noise, rir = corpus
    pairs = {"u": {"noisy_wav": clean["c0"]["wav"], "clean_wav": clean["c0"]["wav"]}}
    manifests = {"train_clean": clean, "train_noise": noise, "train_rir": rir, "valid": pairs, "test": pairs}
    preparation = {"training": "dynamic_mixing", "manifests": manifests}
    train_set, valid_set, test_set = train.make_datasets(hparams, preparation)
    assert train_set.noise_augmentation is augmentation
    assert not isinstance(valid_set, DynamicMixingDataset) and not isinstance(test_set, DynamicMixingDataset)
    # Prepared pairs have no separate noise: trained on as they are, with a warning.
    with caplog.at_level(logging.WARNING, logger="train"):
        paired = {"training": "pairs", "manifests": {"train": pairs, **manifests}}
        paired_train, _, _ = train.make_datasets(hparams, paired)
    assert not isinstance(paired_train, DynamicMixingDataset)
    assert "noise_augment_prob: 0.5 has no effect" in caplog.text
    with pytest.raises(ValueError, match=r"prob must be a probability in \[0, 1\], got 2"):
        load_hyperpyyaml(text, {"results_root": str(tmp_path), "noise_augment_prob": 2})
    # Every recipe has the switch: on for the student (where it was measured), off for the others.
    students = {"distil_dccrn.yaml", "distil_dccrn_atkl.yaml", "distil_dccrn_atkl_gtcrn.yaml"}
    for recipe in sorted((REPO / "hparams").glob("*.yaml")):
        lines = recipe.read_text().splitlines()
        default = "1.0" if recipe.name in students else "0.0"
        assert f"noise_augment_prob: {default}" in lines and "  prob: !ref <noise_augment_prob>" in lines, recipe.name
    # The student recipes offer the same learning-rate schedules (--lr_schedule), word for word.
    blocks = {name: (REPO / "hparams" / name).read_text() for name in students}
    blocks = {name: text[text.index("# Learning-rate schedule"):text.index("epoch_counter:")]
              for name, text in blocks.items()}
    assert len(set(blocks.values())) == 1 and "lr_schedule: plateau" in blocks["distil_dccrn_atkl_gtcrn.yaml"]


@pytest.mark.parametrize(
    "arm, reference, switch, values",
    [("noise_augment", "baseline", "noise_augment_prob", ("1.0", "0.0")),
     ("noise_augment_tonal", "noise_augment", "noise_tonal_prob", ("0.5", None)),
     ("noise_augment_tonal25", "noise_augment", "noise_tonal_prob", ("0.25", None)),
     ("noise_augment_speed", "noise_augment", "noise_speed_prob", ("0.5", None))],
)
def test_noise_augment_arms_differ_from_their_reference_by_one_switch(tmp_path, arm, reference, switch, values):
    args = Namespace(steps=600, valid_every=200, batch_size=8, segment_seconds=3.0, valid_count=100,
                     valid_fraction=0.1, gtcrn=None, uformer=None, seeds=[1], threads=1)
    baseline = recipe_ablation.command(reference, 1, args, tmp_path / "data", tmp_path / "runs")
    augmented = recipe_ablation.command(arm, 1, args, tmp_path / "data", tmp_path / "runs")
    assert augmented[:3] == baseline[:3] and augmented[2].endswith("distil_dccrn.yaml")

    def options(command):
        return dict(item[2:].split("=", 1) for item in command if item.startswith("--") and "=" in item)

    base, other = options(baseline), options(augmented)
    assert other.pop(switch) == values[0] and base.pop(switch, None) == values[1]
    assert other.pop("experiment_name") == arm
    assert base.pop("experiment_name") == reference and other == base
    assert [item for item in augmented if "=" not in item] == [item for item in baseline if "=" not in item]


def test_recipe_key_switches_the_tonal_events_on(tmp_path):
    text = (REPO / "hparams" / "distil_dccrn.yaml").read_text()
    default = load_hyperpyyaml(text, {"results_root": str(tmp_path)})["noise_augmentation"]
    assert default.tonal_prob == 0.0 and default.tonal_level_db == (-5.0, 10.0) and default.sample_rate == 16000
    switched_on = load_hyperpyyaml(text, {"results_root": str(tmp_path), "noise_tonal_prob": 0.5})
    assert switched_on["noise_augmentation"].tonal_prob == 0.5
    with pytest.raises(ValueError, match=r"tonal_prob must be a probability in \[0, 1\], got -1"):
        load_hyperpyyaml(text, {"results_root": str(tmp_path), "noise_tonal_prob": -1})
    for recipe in sorted((REPO / "hparams").glob("*.yaml")):  # off everywhere until measured
        lines = recipe.read_text().splitlines()
        assert "noise_tonal_prob: 0.0" in lines and "  tonal_prob: !ref <noise_tonal_prob>" in lines, recipe.name


def test_recipe_key_switches_the_speed_changes_on(tmp_path):
    text = (REPO / "hparams" / "distil_dccrn.yaml").read_text()
    default = load_hyperpyyaml(text, {"results_root": str(tmp_path)})["noise_augmentation"]
    assert default.speed_prob == 0.0 and default.speed_range == (0.5, 2.0)
    switched_on = load_hyperpyyaml(text, {"results_root": str(tmp_path), "noise_speed_prob": 0.5})
    assert switched_on["noise_augmentation"].speed_prob == 0.5
    for recipe in sorted((REPO / "hparams").glob("*.yaml")):  # off everywhere until measured
        lines = recipe.read_text().splitlines()
        assert "noise_speed_prob: 0.0" in lines and "  speed_prob: !ref <noise_speed_prob>" in lines, recipe.name
