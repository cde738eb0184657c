"""Tests of the EnhanceBatch interface: batching, chunking, loading, bad input files."""

import math
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from speechbrain_atkl.data.audio import AudioError
from speechbrain_atkl.inference.enhance import EnhanceBatch, enhance_in_chunks
from speechbrain_atkl.loading import model_spec
from speechbrain_atkl.models.dccrn import DCCRN
from speechbrain_atkl.publishing import inference_hyperparams

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
RATE = 16000


def tiny_dccrn(seed=0, lookahead=6):
    """A small DCCRN whose weights are perturbed away from the initialisation."""
    torch.manual_seed(seed)
    model = DCCRN(channels=[8, 8, 16, 16, 16, 16], rnn_units=32, lookahead=lookahead)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.05 * torch.randn_like(parameter))
    return model.eval()


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def model():
    return tiny_dccrn()


@pytest.fixture(scope="module")
def enhancer(model):
    return EnhanceBatch(
        modules={"enhance_model": model}, hparams={"sample_rate": RATE}, run_opts={"device": "cpu"}
    )


def enhance_alone(model, wav):
    with torch.no_grad():
        return model(wav[None])[0]


def test_top_level_import_is_lazy_and_gives_the_class():
    import subprocess
    import sys

    code = "import sys, speechbrain_atkl; assert 'speechbrain' not in sys.modules, 'eager import'"
    subprocess.run([sys.executable, "-c", code], check=True)
    import speechbrain_atkl
    import speechbrain_atkl.inference

    assert speechbrain_atkl.EnhanceBatch is speechbrain_atkl.inference.EnhanceBatch is EnhanceBatch
    for name in speechbrain_atkl.inference.__all__:
        assert getattr(speechbrain_atkl.inference, name).__name__ == name
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        speechbrain_atkl.Nope  # noqa: B018 (the attribute access is the test)


def test_enhance_batch_equals_each_waveform_alone_and_zeroes_padding(enhancer, model):
    torch.manual_seed(1)
    noisy = 0.1 * torch.randn(3, 4000)
    lengths = torch.tensor([1.0, 0.5, 0.75])
    noisy[1, 2000:] = 5.0 * torch.randn(2000)  # loud garbage in the padding must not leak
    enhanced = enhancer.enhance_batch(noisy, lengths)
    assert enhanced.shape == noisy.shape
    for row, length in enumerate([4000, 2000, 3000]):
        expected = enhance_alone(model, noisy[row, :length])
        torch.testing.assert_close(enhanced[row, :length], expected, atol=1e-5, rtol=0)
        assert enhanced[row, length:].abs().sum().item() == 0.0
    # Without lengths every row is complete: same as enhancing each row alone.
    torch.testing.assert_close(enhancer(noisy)[1], enhance_alone(model, noisy[1]), atol=1e-5, rtol=0)


@pytest.mark.parametrize(
    "noisy, lengths, message",
    [
        (torch.zeros(100), None, "batch, time"),
        (torch.tensor([[0.0, math.nan, 0.0]]), None, "NaN"),
        (torch.zeros(2, 100), torch.tensor([1.0, 0.0]), "relative lengths"),
        (torch.zeros(2, 100), torch.tensor([1.0]), "relative lengths"),
    ],
)
def test_enhance_batch_rejects_bad_input(enhancer, noisy, lengths, message):
    with pytest.raises(ValueError, match=message):
        enhancer.enhance_batch(noisy, lengths)


@pytest.mark.parametrize("dtype", [torch.int16, torch.int32, torch.uint8])
def test_integer_samples_are_refused_not_enhanced_as_floats(enhancer, dtype):
    pcm = (torch.randn(1, 800) * 1000).to(dtype)
    with pytest.raises(TypeError, match=f"noisy: expected floating-point samples.*{str(dtype).split('.')[1]}"):
        enhancer.enhance_batch(pcm)
    with pytest.raises(TypeError, match="wav: expected floating-point samples"):
        enhancer.enhance_waveform(pcm[0])


def test_numpy_waveforms_are_enhanced_like_tensors(enhancer):
    noisy = 0.1 * torch.randn(2, 800)
    torch.testing.assert_close(enhancer.enhance_batch(noisy.numpy()), enhancer.enhance_batch(noisy), atol=0, rtol=0)
    torch.testing.assert_close(
        enhancer.enhance_waveform(noisy[0].double().numpy()), enhancer.enhance_waveform(noisy[0]), atol=0, rtol=0
    )


def test_chunked_enhancement_matches_one_pass(model):
    torch.manual_seed(2)
    wav = 0.1 * torch.randn(RATE)
    whole = enhance_alone(model, wav)
    enhance = lambda x: enhance_alone(model, x)  # noqa: E731
    # 4050 is not a multiple of the hop (100): chunk starts are rounded to the frame grid.
    chunked = enhance_in_chunks(enhance, wav, 4050, 2000, model.lookahead_samples, 400, hop_samples=100)
    assert (chunked - whole).abs().max().item() < 1e-5
    # Without warm-up context the recurrent state is wrong at each chunk start: visibly different.
    cold = enhance_in_chunks(enhance, wav, 4000, 0, model.lookahead_samples, 400, hop_samples=100)
    assert (cold - whole).abs().max().item() > 1e-4
    # Without alignment to the hop the frames differ: visibly different.
    unaligned = enhance_in_chunks(enhance, wav, 4050, 2000, model.lookahead_samples, 400, hop_samples=1)
    assert (unaligned - whole).abs().max().item() > 1e-3


def test_enhance_in_chunks_cross_fade_sums_to_one():
    wav = torch.randn(10_000)
    out = enhance_in_chunks(lambda x: x, wav, 1000, 300, 200, 1000)
    torch.testing.assert_close(out, wav)
    with pytest.raises(ValueError, match="crossfade"):
        enhance_in_chunks(lambda x: x, wav, 1000, 0, 0, 1001)


def test_from_hparams_local_folder_matches_model(tmp_path, model):
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "hyperparams.yaml").write_text(inference_hyperparams(model_spec(model), RATE))
    torch.save(model.state_dict(), folder / "enhance_model.ckpt")
    loaded = EnhanceBatch.from_hparams(
        source=str(folder), savedir=str(tmp_path / "savedir"), run_opts={"device": "cpu"}
    )
    noisy = 0.1 * torch.randn(2, 3000)
    torch.testing.assert_close(loaded.enhance_batch(noisy), enhancer_output(model, noisy), atol=1e-5, rtol=0)
    assert loaded.device == "cpu" and not loaded.mods.enhance_model.training


def enhancer_output(model, noisy):
    with torch.no_grad():
        return model(noisy)


# ---------------------------------------------------------------- files


def write(path, data, rate=RATE, subtype=None):
    sf.write(str(path), np.asarray(data, dtype=np.float32), rate, subtype=subtype)
    return path


def test_enhance_file_long_recording_in_chunks_matches_whole(tmp_path, enhancer, model):
    torch.manual_seed(3)
    wav = 0.1 * torch.randn(RATE)
    path = write(tmp_path / "long.flac", wav.numpy())
    stored = torch.from_numpy(sf.read(str(path), dtype="float32")[0])
    out = enhancer.enhance_file(
        path, tmp_path / "out.wav", chunk_seconds=0.25, context_seconds=0.125, crossfade_seconds=0.025
    )
    whole = enhance_alone(model, stored)
    assert (out - whole).abs().max().item() < 1e-5
    written, rate = sf.read(str(tmp_path / "out.wav"), dtype="float32")
    assert rate == RATE and np.array_equal(written, out.numpy())


@pytest.mark.parametrize("rate", [8000, 48000])
def test_other_sample_rates_are_resampled_to_16k(tmp_path, enhancer, rate):
    t = np.arange(rate) / rate
    path = write(tmp_path / f"tone_{rate}.wav", 0.3 * np.sin(2 * np.pi * 440 * t), rate)
    out = enhancer.enhance_file(path, tmp_path / "out.wav")
    assert out.shape == (RATE,)
    info = sf.info(str(tmp_path / "out.wav"))
    assert info.samplerate == RATE and info.frames == RATE


def test_stereo_is_mixed_to_mono_by_averaging(tmp_path, enhancer):
    torch.manual_seed(4)
    mono = 0.1 * torch.randn(4000).numpy()
    same = enhancer.enhance_file(write(tmp_path / "same.wav", np.stack([mono, mono], 1), subtype="FLOAT"))
    alone = enhancer.enhance_file(write(tmp_path / "mono.wav", mono, subtype="FLOAT"))
    torch.testing.assert_close(same, alone)
    opposite = enhancer.enhance_file(write(tmp_path / "opp.wav", np.stack([mono, -mono], 1), subtype="FLOAT"))
    assert opposite.abs().max().item() == 0.0  # the channels cancel: silence in, silence out


def test_silent_clipped_and_tiny_files_give_finite_outputs(tmp_path, enhancer):
    silent = enhancer.enhance_file(write(tmp_path / "silent.wav", np.zeros(RATE)), tmp_path / "s.wav")
    assert silent.abs().max().item() == 0.0
    square = np.sign(np.sin(2 * np.pi * 200 * np.arange(RATE) / RATE))  # hard-clipped at +-1
    clipped = enhancer.enhance_file(write(tmp_path / "clipped.wav", square), tmp_path / "c.wav")
    assert clipped.shape == (RATE,) and torch.isfinite(clipped).all()
    for frames in (1, 37):  # shorter than one STFT hop / window
        out = enhancer.enhance_file(
            write(tmp_path / f"tiny{frames}.wav", 0.1 * np.ones(frames)), tmp_path / "t.wav"
        )
        assert out.shape == (frames,) and torch.isfinite(out).all()
        assert sf.info(str(tmp_path / "t.wav")).frames == frames


def bad_files(folder):
    """Input files that cannot be enhanced, each with a phrase its error must contain."""
    nan = np.zeros(1000)
    nan[10] = np.nan
    inf = np.zeros(1000)
    inf[10] = np.inf
    text = folder / "notes.wav"
    text.write_text("this is not audio")
    return {
        "empty": (write(folder / "empty.wav", np.zeros(0)), "no samples"),
        "nan": (write(folder / "nan.wav", nan, subtype="FLOAT"), "NaN"),
        "inf": (write(folder / "inf.wav", inf, subtype="FLOAT"), "infinite"),
        "not audio": (text, "not a readable audio file"),
        "missing": (folder / "missing.wav", "no such audio file"),
    }


def test_bad_files_raise_clear_errors_naming_the_file_and_write_nothing(tmp_path, enhancer):
    for case, (path, phrase) in bad_files(tmp_path).items():
        output = tmp_path / f"out_{path.stem}.wav"
        with pytest.raises(AudioError, match=phrase) as error:
            enhancer.enhance_file(path, output)
        assert str(path) in str(error.value), case
        assert not output.exists(), case
    assert not list(tmp_path.glob(".*partial")), "a partial output was left behind"


class NaNModel(torch.nn.Module):
    """Stands for a model that breaks down on some input."""

    def forward(self, noisy):
        return noisy * math.nan


def test_non_finite_model_output_is_an_error_not_a_file(tmp_path):
    broken = EnhanceBatch(
        modules={"enhance_model": NaNModel()}, hparams={"sample_rate": RATE}, run_opts={"device": "cpu"}
    )
    path = write(tmp_path / "in.wav", 0.1 * np.ones(1000))
    with pytest.raises(RuntimeError, match="NaN") as error:
        broken.enhance_file(path, tmp_path / "out.wav")
    assert str(path) in str(error.value)
    assert list(tmp_path.iterdir()) == [path]


def test_existing_output_is_replaced_whole(tmp_path, enhancer):
    path = write(tmp_path / "in.wav", 0.1 * np.ones(2000))
    output = tmp_path / "sub" / "out.wav"
    output.parent.mkdir()
    output.write_bytes(b"old content")
    enhancer.enhance_file(path, output)
    assert sf.info(str(output)).frames == 2000


@pytest.mark.skipif(not (SHARED_DATA / "reference").is_dir(), reason="shared data not found")
def test_real_noisy_speech_file(tmp_path, enhancer):
    noisy = SHARED_DATA / "reference" / "pesq_speech_bab_0dB.wav"
    out = enhancer.enhance_file(noisy, tmp_path / "enhanced.flac")
    assert out.shape == (sf.info(str(noisy)).frames,)
    written = sf.read(str(tmp_path / "enhanced.flac"), dtype="float32")[0]
    np.testing.assert_allclose(written, out.clamp(-1, 1).numpy(), atol=1.0 / 2**15)


# ---------------------------------------------------------------- loading model folders safely


def model_folder(folder, model, hparams=None):
    """A model folder as publish writes it (or with other ``hparams`` text)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "hyperparams.yaml").write_text(hparams or inference_hyperparams(model_spec(model), RATE))
    torch.save(model.state_dict(), folder / "enhance_model.ckpt")
    return folder


def test_checkpoint_missing_tensors_is_an_error_naming_them(tmp_path, model):
    folder = model_folder(tmp_path / "m", model)
    state = {k: v for k, v in model.state_dict().items() if "lstm" not in k}  # e.g. all LSTM weights lost
    torch.save(state, folder / "enhance_model.ckpt")
    with pytest.raises(ValueError, match=r"missing.*lstm") as error:
        EnhanceBatch.from_hparams(source=str(folder), savedir=str(tmp_path / "s"))
    assert "enhance_model.ckpt" in str(error.value)


class Payload:
    """Pickles to a call of ``os.system``: what a malicious checkpoint would hold."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        import os

        return (os.system, (f"touch {self.marker}",))


def test_checkpoint_with_a_pickle_payload_is_refused_and_never_run(tmp_path, model):
    folder = model_folder(tmp_path / "m", model)
    marker = tmp_path / "pwned"
    torch.save({**model.state_dict(), "x": Payload(marker)}, folder / "enhance_model.ckpt")
    with pytest.raises(ValueError, match="not a PyTorch weights file") as error:
        EnhanceBatch.from_hparams(source=str(folder), savedir=str(tmp_path / "s"))
    assert "weights_only=False" not in str(error.value) and "posix.system" in str(error.value)
    assert not marker.exists()


def test_random_or_empty_file_as_teacher_is_a_clear_error(tmp_path):
    from speechbrain_atkl.training.checkpoints import load_teacher

    for name, content in [("random.ckpt", np.random.default_rng(0).bytes(4000)), ("empty.ckpt", b"")]:
        path = tmp_path / name
        path.write_bytes(content)
        with pytest.raises(ValueError, match="not a PyTorch weights file") as error:
            load_teacher(path, tiny_dccrn())
        assert str(path) in str(error.value) and "weights_only" not in str(error.value)


def training_folder(folder, model):
    """The layout train.py leaves: save/model_config.yaml and one checkpoint."""
    from speechbrain.utils.checkpoints import Checkpointer

    from speechbrain_atkl.loading import save_model_config

    save_model_config(model, folder / "save" / "model_config.yaml")
    Checkpointer(folder / "save", recoverables={"model": model}).save_checkpoint(meta={"valid_pesq": 1.0})
    return folder


def test_teacher_of_another_architecture_is_an_error_unless_allowed(tmp_path):
    from speechbrain_atkl.models.uformer import Uformer
    from speechbrain_atkl.training.checkpoints import load_teacher

    student_run = training_folder(tmp_path / "distil_dccrn" / "1986", tiny_dccrn())
    yaml_teacher = Uformer.__new__(Uformer)  # only its type is compared
    with pytest.raises(ValueError, match="DCCRN.*Uformer.*teacher_any_architecture"):
        load_teacher(student_run, yaml_teacher)
    loaded = load_teacher(student_run, yaml_teacher, allow_other_architecture=True)
    assert isinstance(loaded, DCCRN) and not loaded.training


UNSAFE_YAMLS = {
    "apply": "x: !apply:os.system [touch {marker}]",
    "python tag": "x: !!python/object/apply:os.system [touch {marker}]",
    "new outside the models": "x: !new:subprocess.Popen [[touch, {marker}]]",
    "re-exported function": "x: !apply:speechbrain_atkl.models.dccrn_blocks.torch.hub.load [a, b]",
    "name": "x: !name:os.system",
    "include": "x: !include:other.yaml",
}


@pytest.mark.parametrize("case", sorted(UNSAFE_YAMLS))
def test_code_running_tags_are_refused_before_loading(tmp_path, model, case):
    from speechbrain_atkl.inference.cli import main

    marker = tmp_path / "pwned"
    folder = model_folder(tmp_path / "m", model)
    published = (folder / "hyperparams.yaml").read_text()
    (folder / "hyperparams.yaml").write_text(published + "\n" + UNSAFE_YAMLS[case].format(marker=marker) + "\n")
    with pytest.raises(ValueError, match="trust_remote_code") as error:
        EnhanceBatch.from_hparams(source=str(folder), savedir=str(tmp_path / "s"))
    assert "hyperparams.yaml" in str(error.value)
    wav = write(tmp_path / "in.wav", np.zeros(800))
    assert main([str(wav), str(tmp_path / "out.wav"), "--model", str(folder), "--no-progress"]) == 1
    assert not marker.exists() and not (tmp_path / "out.wav").exists()
    from speechbrain_atkl.loading import load_model

    with pytest.raises(ValueError, match="trust_remote_code"):
        load_model(folder)
    assert not marker.exists()


def test_published_yaml_passes_the_check_and_trust_remote_code_opts_out(tmp_path, model):
    from speechbrain_atkl.loading import check_hyperparams

    check_hyperparams(inference_hyperparams(model_spec(model), RATE), "published")
    preset = "model: !apply:speechbrain_atkl.models.dccrn.DCCRN.from_preset\n    name: Distil-DCCRN\n"
    check_hyperparams(preset, "README style")
    folder = model_folder(tmp_path / "m", model)
    text = (folder / "hyperparams.yaml").read_text()
    (folder / "hyperparams.yaml").write_text(text + "\nseed: !apply:torch.manual_seed [3]\n")
    loaded = EnhanceBatch.from_hparams(source=str(folder), savedir=str(tmp_path / "s"), trust_remote_code=True)
    assert loaded.enhance_batch(torch.zeros(1, 400)).shape == (1, 400)


def test_setup_requires_a_torch_whose_load_is_weights_only_by_default():
    import re

    setup = (Path(__file__).resolve().parents[1] / "setup.py").read_text()
    for package in ("torch", "torchaudio"):
        (version,) = re.findall(rf'"{package}>=([\d.]+)"', setup)
        assert tuple(int(x) for x in version.split(".")) >= (2, 6), package


# ---------------------------------------------------------------- long files, extreme input, write failures


def test_enhance_file_reads_and_writes_in_blocks_with_the_whole_signal_result(tmp_path, enhancer, monkeypatch):
    from speechbrain_atkl.data.audio import load_audio

    rng = np.random.default_rng(5)
    path = write(tmp_path / "long.flac", 0.1 * rng.standard_normal((3 * 48000, 2)), 48000)
    chunking = dict(chunk_seconds=0.3, context_seconds=0.1, crossfade_seconds=0.02)
    whole = enhancer.enhance_waveform(load_audio(path), **chunking).cpu()  # the signal loaded at once
    reads, writes = [], []
    read, write_ = sf.SoundFile.read, sf.SoundFile.write
    monkeypatch.setattr(
        sf.SoundFile, "read", lambda self, frames=-1, *a, **kw: reads.append(frames) or read(self, frames, *a, **kw)
    )
    monkeypatch.setattr(sf.SoundFile, "write", lambda self, data: writes.append(len(data)) or write_(self, data))
    out = enhancer.enhance_file(path, tmp_path / "out.wav", **chunking)
    assert -1 not in reads and max(reads) <= 0.3 * 48000 + 4096, reads  # never the whole file
    # Written as it is produced: chunk by chunk (the first one has no past: its context adds to it).
    assert len(writes) > 5 and max(writes) <= (0.3 + 0.1) * RATE + 100, writes
    torch.testing.assert_close(out, whole, atol=1e-5, rtol=0)
    written = sf.read(str(tmp_path / "out.wav"), dtype="float32")[0]
    assert np.array_equal(written, out.numpy())
    assert enhancer.enhance_file(path, tmp_path / "again.wav", return_signal=False, **chunking) is None
    assert np.array_equal(sf.read(str(tmp_path / "again.wav"), dtype="float32")[0], written)


def test_extreme_finite_input_is_an_error_in_batch_and_file_alike(tmp_path, enhancer):
    from speechbrain_atkl.inference.enhance import NonFiniteOutputError

    loud = torch.full((2, 4000), 3e38)
    loud[1] = 0.1
    with pytest.raises(NonFiniteOutputError, match=r"rows \[0\].*3e\+38"):
        enhancer.enhance_batch(loud)
    path = write(tmp_path / "loud.wav", loud[0].numpy(), subtype="FLOAT")
    with pytest.raises(RuntimeError, match="NaN or infinite") as error:
        enhancer.enhance_file(path, tmp_path / "out.wav")
    assert str(path) in str(error.value) and not (tmp_path / "out.wav").exists()


def test_failed_write_names_the_output_in_the_command_line_report(tmp_path, model, monkeypatch, capsys):
    from speechbrain_atkl.inference.cli import main

    folder = model_folder(tmp_path / "m", model)
    wav = write(tmp_path / "in.wav", 0.1 * np.ones(1600))

    def full_disk(self, data):
        raise sf.LibsndfileError(2, "Error writing: ")

    monkeypatch.setattr(sf.SoundFile, "write", full_disk)
    out = tmp_path / "out" / "enhanced.wav"
    assert main([str(wav), str(out), "--model", str(folder), "--no-progress"]) == 1
    error = capsys.readouterr().err
    assert f"{out}: writing the audio file failed (is the disk full?)" in error
    assert list(out.parent.iterdir()) == []


ODD_NAMES = ["with space é", "-dash", "new\nline", "hash#1", "quote'\"", "x" * 251]


def test_any_file_name_works_for_inputs_and_outputs(tmp_path, model, capsys):
    from speechbrain_atkl.inference.cli import main

    folder = model_folder(tmp_path / "model #1 é", model)
    tree = tmp_path / "in dir"
    tree.mkdir()
    for name in ODD_NAMES:
        write(tree / f"{name}.wav", 0.1 * np.ones(800))
    out = tmp_path / "out\ndir"
    assert main([str(tree), str(out), "--model", str(folder), "--no-progress"]) == 0
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{name}.wav" for name in ODD_NAMES)
    # A name starting with a dash, given alone after "--".
    single = tmp_path / "-single.wav"
    assert main(["--model", str(folder), "--no-progress", "--", str(tree / "-dash.wav"), str(single)]) == 0
    assert sf.info(str(single)).frames == 800


@pytest.mark.parametrize(
    "chunking",
    [
        dict(chunk_seconds=math.nan),
        dict(chunk_seconds=math.inf),
        dict(context_seconds=math.inf),
        dict(crossfade_seconds=-1.0),
    ],
)
def test_non_finite_chunking_is_a_clear_error(tmp_path, enhancer, chunking):
    path = write(tmp_path / "in.wav", 0.1 * np.ones(800))
    with pytest.raises(ValueError, match="expected finite chunk_seconds"):
        enhancer.enhance_file(path, tmp_path / "out.wav", **chunking)
    assert not (tmp_path / "out.wav").exists()


# ---------------------------------------------------------------- output at the input's rate


@pytest.mark.parametrize("rate", [44100, 8000])
def test_output_at_the_input_rate_is_the_16k_output_resampled_back(tmp_path, enhancer, rate):
    from speechbrain_atkl.data.resample import resample

    rng = np.random.default_rng(6)
    path = write(tmp_path / "in.flac", 0.1 * rng.standard_normal((2 * rate + 7, 2)), rate)
    chunking = dict(chunk_seconds=0.5, context_seconds=0.25)
    at_16k = enhancer.enhance_file(path, **chunking)
    out = enhancer.enhance_file(path, tmp_path / "out.wav", output_rate="input", **chunking)
    assert out.shape == (2 * rate + 7,)  # as many samples as the input
    torch.testing.assert_close(out, resample(at_16k, RATE, rate)[: out.shape[0]], atol=1e-6, rtol=0)
    written, written_rate = sf.read(str(tmp_path / "out.wav"), dtype="float32")
    assert written_rate == rate and np.array_equal(written, out.numpy())


def test_output_at_the_input_rate_is_band_limited_to_8k(tmp_path, enhancer):
    from scipy.signal import welch

    path = write(tmp_path / "in.wav", 0.1 * np.random.default_rng(7).standard_normal(48000 * 3), 48000)
    out = enhancer.enhance_file(path, output_rate="input").numpy()
    freqs, power = welch(out, 48000, nperseg=2048)
    # Measured -34.5 dB above 9 kHz (the resampler's roll-off images 7-8 kHz up to ~9 kHz).
    ratio_db = 10 * np.log10(power[freqs > 9000].mean() / power[(freqs > 1000) & (freqs < 7000)].mean())
    assert ratio_db < -25, ratio_db


def test_output_rate_of_a_16k_input_or_the_model_rate_changes_nothing(tmp_path, enhancer):
    path = write(tmp_path / "in.wav", 0.1 * np.random.default_rng(8).standard_normal(5000))
    default = enhancer.enhance_file(path)
    assert torch.equal(enhancer.enhance_file(path, output_rate="input"), default)
    assert torch.equal(enhancer.enhance_file(path, output_rate=RATE), default)
    for bad in (44100, "44100", "native"):
        with pytest.raises(ValueError, match=f"output_rate must be None or 16000 .* got {bad!r}"):
            enhancer.enhance_file(path, tmp_path / "out.wav", output_rate=bad)
    assert not (tmp_path / "out.wav").exists()


@pytest.mark.parametrize(
    "chunking", [dict(chunk_seconds="10"), dict(context_seconds=True), dict(crossfade_seconds=None)]
)
def test_chunking_that_is_not_a_number_is_a_clear_error(tmp_path, enhancer, chunking):
    path = write(tmp_path / "in.wav", 0.1 * np.ones(800))
    with pytest.raises(ValueError, match="expected finite chunk_seconds"):
        enhancer.enhance_file(path, tmp_path / "out.wav", **chunking)


def test_an_output_named_like_an_existing_folder_fails_before_any_enhancement(tmp_path, model, monkeypatch):
    enhancer = EnhanceBatch(modules={"enhance_model": model}, hparams={"sample_rate": RATE}, run_opts={"device": "cpu"})
    path = write(tmp_path / "in.wav", 0.1 * np.ones(800))
    (tmp_path / "out.wav").mkdir()
    calls = []
    monkeypatch.setattr(model, "forward", lambda *args, **kwargs: calls.append(1) or args[0])
    with pytest.raises(OSError, match="out.wav: an existing folder has this name"):
        enhancer.enhance_file(path, tmp_path / "out.wav")
    assert calls == [] and sorted(p.name for p in tmp_path.iterdir()) == ["in.wav", "out.wav"]
