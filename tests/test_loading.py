"""What a model or run folder can make a loader do: which files are used, which model runs, what it costs.

Every loader goes through :mod:`speechbrain_atkl.loading`; these tests use
the public entry points (``EnhanceBatch.from_hparams``, the command line,
the ONNX export, ``publish``, ``load_teacher``, ``init_from_pretrained``)
with folders written as a hostile user would.
"""

import json
import os
import resource
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
import yaml
from speechbrain.utils.checkpoints import METAFNAME, Checkpointer
from speechbrain.utils.fetching import LocalStrategy

from speechbrain_atkl.inference.enhance import EnhanceBatch
from speechbrain_atkl.loading import load_model, model_spec, save_model_config
from speechbrain_atkl.models.dccrn import DCCRN
from speechbrain_atkl.models.uformer import Uformer
from speechbrain_atkl.publishing import inference_hyperparams

REPO = Path(__file__).resolve().parents[1]
RATE = 16000

pytestmark = pytest.mark.usefixtures("one_thread")


def tiny_dccrn(seed=0):
    torch.manual_seed(seed)
    return DCCRN(channels=[8] * 6, rnn_units=16).eval()


def model_folder(folder, model, hparams=None):
    """A model folder as publish writes it (or with other ``hparams`` text)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "hyperparams.yaml").write_text(hparams or inference_hyperparams(model_spec(model), RATE))
    torch.save(model.state_dict(), folder / "enhance_model.ckpt")
    return folder


def training_folder(folder, model, metrics=({"valid_pesq": 1.0},)):
    """The layout train.py leaves: save/model_config.yaml and checkpoints."""
    save_model_config(model, folder / "save" / "model_config.yaml")
    checkpointer = Checkpointer(folder / "save", recoverables={"model": model})
    for index, meta in enumerate(metrics):
        checkpointer.save_checkpoint(meta=meta, name=str(index))
    return folder


def same_weights(a, b):
    return all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def published_with(model, text):
    """The published YAML of ``model`` with ``text`` appended."""
    return inference_hyperparams(model_spec(model), RATE) + "\n" + textwrap.dedent(text)


# ------------------------------------------------------------------ which files are used


def test_savedir_holding_another_models_files_is_refused_not_reused(tmp_path):
    student, teacher = tiny_dccrn(0), Uformer.from_preset("Uformer-light")
    model_folder(tmp_path / "student", student)
    model_folder(tmp_path / "teacher", teacher)
    savedir = tmp_path / "models"
    loaded = EnhanceBatch.from_hparams(source=str(tmp_path / "student"), savedir=str(savedir))
    assert same_weights(loaded.mods.enhance_model, student)
    with pytest.raises(ValueError, match="holds the files of .*student, not of .*teacher") as error:
        EnhanceBatch.from_hparams(source=str(tmp_path / "teacher"), savedir=str(savedir))
    assert str(savedir) in str(error.value)
    again = EnhanceBatch.from_hparams(source=str(tmp_path / "student"), savedir=str(savedir))  # same model: fine
    assert same_weights(again.mods.enhance_model, student)
    fresh = EnhanceBatch.from_hparams(source=str(tmp_path / "teacher"), savedir=str(tmp_path / "other"))
    assert isinstance(fresh.mods.enhance_model, Uformer)


def test_command_line_refuses_a_savedir_of_another_model(tmp_path, capsys):
    from speechbrain_atkl.inference.cli import main

    model_folder(tmp_path / "student", tiny_dccrn(0))
    model_folder(tmp_path / "teacher", tiny_dccrn(1))
    sf.write(tmp_path / "in.wav", np.zeros(1600, np.float32), RATE)
    common = [str(tmp_path / "in.wav"), str(tmp_path / "out.wav"), "--savedir", str(tmp_path / "m"), "--no-progress"]
    assert main([*common, "--model", str(tmp_path / "student")]) == 0
    (tmp_path / "out.wav").unlink()
    assert main([*common, "--model", str(tmp_path / "teacher")]) == 1
    assert "holds the files of" in capsys.readouterr().err and not (tmp_path / "out.wav").exists()


def test_savedir_with_files_of_unknown_origin_is_refused(tmp_path):
    model_folder(tmp_path / "model", tiny_dccrn(0))
    stale = model_folder(tmp_path / "stale", tiny_dccrn(1))  # e.g. filled by an older version, no marker
    with pytest.raises(ValueError, match="not empty and was not filled from"):
        EnhanceBatch.from_hparams(source=str(tmp_path / "model"), savedir=str(stale))


def test_copied_files_of_a_local_folder_are_refreshed(tmp_path):
    folder = model_folder(tmp_path / "model", tiny_dccrn(0))
    copy = dict(source=str(folder), savedir=str(tmp_path / "s"), local_strategy=LocalStrategy.COPY)
    EnhanceBatch.from_hparams(**copy)
    retrained = tiny_dccrn(1)
    torch.save(retrained.state_dict(), folder / "enhance_model.ckpt")
    assert same_weights(EnhanceBatch.from_hparams(**copy).mods.enhance_model, retrained)


@pytest.fixture
def fake_hub(tmp_path, monkeypatch):
    """Hub repositories served from ``tmp_path/hub/<user>/<name>`` (no network)."""
    import huggingface_hub

    hub = tmp_path / "hub"

    def download(repo_id, filename, **kwargs):
        path = hub / repo_id / filename
        if not path.is_file():
            raise ValueError(f"File not found on HF hub: {repo_id}/{filename}")
        return str(path)

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", download)
    monkeypatch.chdir(tmp_path)
    return hub


def test_init_from_hub_ids_with_the_same_name_loads_each_ones_weights(fake_hub):
    from speechbrain_atkl.training.checkpoints import init_from_pretrained

    alice, bob = tiny_dccrn(0), tiny_dccrn(1)
    model_folder(fake_hub / "alice" / "enhancer", alice)
    model_folder(fake_hub / "bob" / "enhancer", bob)
    for owner, weights in (("alice", alice), ("bob", bob)):
        model = tiny_dccrn(2)
        assert init_from_pretrained(model, f"{owner}/enhancer")
        assert same_weights(model, weights), owner


def test_hub_model_loads_through_the_same_checks(fake_hub):
    model = tiny_dccrn(0)
    model_folder(fake_hub / "alice" / "enhancer", model)
    loaded = EnhanceBatch.from_hparams(source="alice/enhancer", savedir="models/enhancer")
    assert same_weights(loaded.mods.enhance_model, model)
    model_folder(fake_hub / "bob" / "enhancer", tiny_dccrn(1))
    with pytest.raises(ValueError, match="holds the files of alice/enhancer, not of bob/enhancer"):
        EnhanceBatch.from_hparams(source="bob/enhancer", savedir="models/enhancer")


def test_pretrainer_paths_cannot_point_at_other_files(tmp_path):
    other = model_folder(tmp_path / "other", tiny_dccrn(1))
    model = tiny_dccrn(0)
    text = inference_hyperparams(model_spec(model), RATE)
    text += f"    paths:\n        enhance_model: {other / 'enhance_model.ckpt'}\n"
    folder = model_folder(tmp_path / "m", model, text)
    with pytest.raises(ValueError, match="may only list its loadables"):
        EnhanceBatch.from_hparams(source=str(folder))


def test_loadable_names_cannot_reach_other_folders(tmp_path):
    model_folder(tmp_path / "other", tiny_dccrn(1))
    model = tiny_dccrn(0)
    text = inference_hyperparams(model_spec(model), RATE).replace(
        "    loadables:\n        enhance_model:", "    loadables:\n        ../other/enhance_model:"
    )
    folder = model_folder(tmp_path / "m", model, text)
    with pytest.raises(ValueError, match="not a plain name"):
        EnhanceBatch.from_hparams(source=str(folder))


# ------------------------------------------------------------------ which model runs


def test_pretrainer_without_loadables_is_an_error_not_random_weights(tmp_path):
    model = tiny_dccrn(0)
    text = inference_hyperparams(model_spec(model), RATE).split("pretrainer:")[0]
    text += "pretrainer: !new:speechbrain.utils.parameter_transfer.Pretrainer\n    loadables: {}\n"
    folder = model_folder(tmp_path / "m", model, text)
    with pytest.raises(ValueError, match="loadables must be a non-empty mapping"):
        EnhanceBatch.from_hparams(source=str(folder))
    with pytest.raises(ValueError, match="loads nothing"):
        EnhanceBatch.from_hparams(source=str(folder), trust_remote_code=True)


def test_decoy_enhance_model_is_an_error_not_random_weights(tmp_path):
    model = tiny_dccrn(0)
    text = inference_hyperparams(model_spec(model), RATE).replace(
        "modules:\n    enhance_model: !ref <enhance_model>", "modules:\n    enhance_model: !ref <decoy>"
    )
    text += "decoy: !new:speechbrain_atkl.models.dccrn.DCCRN\n    channels: [8, 8, 8, 8, 8, 8]\n    rnn_units: 16\n"
    folder = model_folder(tmp_path / "m", model, text)
    with pytest.raises(ValueError, match="random weights"):
        EnhanceBatch.from_hparams(source=str(folder))
    with pytest.raises(ValueError, match="modules.enhance_model is not one of the pretrainer's loadables"):
        EnhanceBatch.from_hparams(source=str(folder), trust_remote_code=True)


def test_folder_may_build_enhancement_models_only(tmp_path):
    from speechbrain_atkl.models.stft import STFT

    text = """\
        sample_rate: 16000
        enhance_model: !new:speechbrain_atkl.models.stft.STFT
        modules: {enhance_model: !ref <enhance_model>}
        pretrainer: !new:speechbrain.utils.parameter_transfer.Pretrainer
            loadables: {enhance_model: !ref <enhance_model>}
    """
    folder = model_folder(tmp_path / "m", STFT(), textwrap.dedent(text))
    with pytest.raises(ValueError, match="not a speechbrain_atkl model class"):
        EnhanceBatch.from_hparams(source=str(folder))


@pytest.mark.parametrize("rate", ["0", "abc", "-16000", "16000.5", "true", "100000000", "null"])
def test_bad_sample_rate_is_refused_at_load(tmp_path, rate):
    model = tiny_dccrn(0)
    text = inference_hyperparams(model_spec(model), RATE).replace("sample_rate: 16000", f"sample_rate: {rate}")
    folder = model_folder(tmp_path / "m", model, text)
    with pytest.raises(ValueError, match="sample_rate must be a whole number of Hz"):
        EnhanceBatch.from_hparams(source=str(folder))


def test_sample_rate_must_be_the_models_own(tmp_path):
    model = tiny_dccrn(0)
    text = inference_hyperparams(model_spec(model), RATE).replace("sample_rate: 16000", "sample_rate: 8000")
    folder = model_folder(tmp_path / "m", model, text)
    with pytest.raises(ValueError, match="sample_rate is 8000 but the model works at 16000 Hz"):
        EnhanceBatch.from_hparams(source=str(folder))


@pytest.mark.parametrize("option", ["device: meta", "compile: true", "precision: fp16", "data_parallel_backend: true"])
def test_folder_cannot_set_run_options(tmp_path, option):
    model = tiny_dccrn(0)
    folder = model_folder(tmp_path / "m", model, published_with(model, option))
    with pytest.raises(ValueError, match="run options"):
        EnhanceBatch.from_hparams(source=str(folder))


# ------------------------------------------------------------------ what the folder can execute


def test_tampered_model_config_cannot_call_anything_but_a_model_class(tmp_path):
    """A run folder's model_config.yaml naming a loader with trust_remote_code: true runs nothing."""
    from speechbrain_atkl.inference.onnx_export import main as export_main
    from speechbrain_atkl.publishing import PublishError, publish
    from speechbrain_atkl.training.checkpoints import load_teacher

    marker = tmp_path / "pwned"
    evil = tmp_path / "evil"
    evil.mkdir()
    (evil / "hyperparams.yaml").write_text(f"x: !apply:os.system ['touch {marker}']\n")
    run = training_folder(tmp_path / "run", tiny_dccrn(0))
    loader = {"source": str(evil), "trust_remote_code": True}
    (run / "save" / "model_config.yaml").write_text(
        yaml.safe_dump({"class_path": "speechbrain_atkl.inference.onnx_export.load_model", "config": loader})
    )
    with pytest.raises(PublishError, match="not a speechbrain_atkl model class"):
        publish(run, tmp_path / "published")
    with pytest.raises(SystemExit):
        export_main(["--model", str(run), "--output", str(tmp_path / "m.onnx")])
    with pytest.raises(ValueError, match="not a speechbrain_atkl model class"):
        load_teacher(run, tiny_dccrn(0))
    assert not marker.exists()


def test_implicit_tuple_cannot_run_code(tmp_path):
    marker = tmp_path / "pwned"
    model = tiny_dccrn(0)
    text = published_with(model, f"""x: (!!python/object/apply:os.system ["touch {marker}"], 1)\n""")
    folder = model_folder(tmp_path / "m", model, text)
    with pytest.raises(ValueError, match="could run arbitrary code"):
        EnhanceBatch.from_hparams(source=str(folder))
    assert not marker.exists()


@pytest.mark.parametrize(
    "text",
    [
        "forward: !ref <enhance_model.forward>\n",
        "a: !ref <enhance_model.forward>\nb: !ref <a.__globals__>\nc: !ref <b.clear>\n",
        "flags: {a: 1}\ncleared: !ref <flags.clear>\n",
        "path: !ref <sample_rate>/<enhance_model.forward.__name__>\n",
    ],
)
def test_references_cannot_reach_attributes(tmp_path, text):
    model = tiny_dccrn(0)
    folder = model_folder(tmp_path / "m", model, published_with(model, text))
    with pytest.raises(ValueError, match=r"attributes \(<a\.b>\) .* are not allowed"):
        EnhanceBatch.from_hparams(source=str(folder))


def test_pretrainer_conditions_cannot_call_anything(tmp_path):
    model = tiny_dccrn(0)
    text = published_with(model, "flags: {a: 1}\n")
    text = text.replace(
        "    loadables:\n", "    conditions:\n        enhance_model: !ref <flags>\n    loadables:\n"
    )
    folder = model_folder(tmp_path / "m", model, text)
    with pytest.raises(ValueError, match="may only list its loadables"):
        EnhanceBatch.from_hparams(source=str(folder))


def test_legitimate_references_arithmetic_and_tuples_still_load(tmp_path):
    model = tiny_dccrn(0)
    spec = model_spec(model)
    text = f"""\
        rate: 16000
        sample_rate: !ref <rate>
        units: 16
        hop: !ref <rate> // 160
        enhance_model: !new:{spec["class_path"]}
            channels: [8, 8, 8, 8, 8, 8]
            rnn_units: !ref <units>
            hop_length: !ref <hop>
            kernel_size: (5, 2)
        modules:
            enhance_model: !ref <enhance_model>
        pretrainer: !new:speechbrain.utils.parameter_transfer.Pretrainer
            loadables:
                enhance_model: !ref <enhance_model>
    """
    folder = model_folder(tmp_path / "m", model, textwrap.dedent(text))
    loaded = EnhanceBatch.from_hparams(source=str(folder))
    assert same_weights(loaded.mods.enhance_model, model) and loaded.sample_rate == 16000


# ------------------------------------------------------------------ what the folder can cost


BOUNDED_LOAD = """
import json, sys, time
from speechbrain_atkl.inference.enhance import EnhanceBatch
from speechbrain_atkl.training.checkpoints import load_teacher
results = {}
for case, kind, source in json.loads(sys.argv[1]):
    start = time.monotonic()
    try:
        if kind == "model":
            EnhanceBatch.from_hparams(source=source, run_opts={"device": "cpu"})
        else:
            load_teacher(source)
        outcome = "loaded"
    except Exception as error:
        outcome = f"{type(error).__name__}: {str(error)[:300]}"
    results[case] = [outcome, time.monotonic() - start]
print(json.dumps(results))
"""


#: Memory the child process of the bounded-cost test may allocate (a loader without bounds would exceed it).
MEMORY_LIMIT = 6 << 30


def test_hostile_folders_are_refused_at_a_bounded_cost(tmp_path):
    """Each folder is refused with a ValueError within 5 s, in a child process that can neither hang the
    tests nor take the machine's memory."""
    model = tiny_dccrn(0)
    published = inference_hyperparams(model_spec(model), RATE)
    laughs = "lol1: &l1 [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"lol{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]\n" for i in range(2, 10)
    )
    strings = 'x0: "aa"\n' + "".join(f"x{i}: !ref <x{i - 1}><x{i - 1}>\n" for i in range(1, 27))
    cases = {
        "alias bomb": published + laughs,
        "power": published + "big: !ref <sample_rate> ** 999999999\n",
        "string product": published + "s: \"'a'\"\nbig: !ref <s> * 100000000\n",
        "string doubling": published + strings,
        "deep nesting": published + "deep: " + "[" * 20_000 + "]" * 20_000 + "\n",
        "huge file": published + "".join(f"key{i}: value {i}\n" for i in range(1_000_000)),
        "many models": published + "".join(f"m{i}: !copy <enhance_model>\n" for i in range(100)),
        "many layers": published.replace("rnn_units: 16", "rnn_units: 16\n    rnn_layers: 10000000"),
    }
    jobs = []
    for case, text in cases.items():
        folder = model_folder(tmp_path / case.replace(" ", "_"), model, text)
        jobs.append((case, "model", str(folder)))
    fifo_yaml = tmp_path / "fifo_yaml"
    fifo_yaml.mkdir()
    os.mkfifo(fifo_yaml / "hyperparams.yaml")
    fifo_weights = model_folder(tmp_path / "fifo_weights", model)
    (fifo_weights / "enhance_model.ckpt").unlink()
    os.mkfifo(fifo_weights / "enhance_model.ckpt")
    fifo_meta = training_folder(tmp_path / "fifo_meta", model)
    meta = next((fifo_meta / "save").glob(f"CKPT+*/{METAFNAME}"))
    meta.unlink()
    os.mkfifo(meta)
    jobs += [("pipe as hyperparams", "model", str(fifo_yaml)), ("pipe as weights", "model", str(fifo_weights))]
    jobs += [("pipe as checkpoint metadata", "run", str(fifo_meta))]
    done = subprocess.run(
        [sys.executable, "-c", BOUNDED_LOAD, json.dumps(jobs)],
        capture_output=True, text=True, timeout=600, cwd=REPO, env={**os.environ, "OMP_NUM_THREADS": "1"},
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_DATA, (MEMORY_LIMIT, MEMORY_LIMIT)),
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(done.stdout.strip().splitlines()[-1])
    for case, (outcome, seconds) in results.items():
        assert outcome.startswith(("UnsafeHyperparamsError", "ValueError")), (case, outcome)
        assert seconds < 5, (case, seconds)


def test_oversized_configuration_is_refused_before_anything_is_allocated(tmp_path, monkeypatch):
    """rnn_units: 4096 would allocate 2 GB before its weights are found not to fit: it is built on meta only."""
    model = tiny_dccrn(0)
    text = inference_hyperparams(model_spec(model), RATE).replace("rnn_units: 16", "rnn_units: 4096")
    folder = model_folder(tmp_path / "m", model, text)
    devices = []
    build = DCCRN.__init__

    def recording(self, *args, **kwargs):
        devices.append(torch.get_default_device().type)
        build(self, *args, **kwargs)

    monkeypatch.setattr(DCCRN, "__init__", recording)
    with pytest.raises(ValueError, match="enhance_model.ckpt does not fit a DCCRN"):
        EnhanceBatch.from_hparams(source=str(folder))
    assert devices == ["meta"]
    run = training_folder(tmp_path / "run", model)
    config = run / "save" / "model_config.yaml"
    config.write_text(config.read_text().replace("rnn_units: 16", "rnn_units: 4096"))
    with pytest.raises(ValueError, match="checkpoint .*model.ckpt does not fit a DCCRN"):
        load_model(run)
    assert devices == ["meta", "meta"]


def test_overrides_reach_a_models_arguments(tmp_path):
    model = DCCRN(channels=[8] * 6, rnn_units=16, lookahead=2)
    written = inference_hyperparams(model_spec(DCCRN(channels=[8] * 6, rnn_units=16, lookahead=6)), RATE)
    folder = model_folder(tmp_path / "m", model, written)
    loaded = EnhanceBatch.from_hparams(source=str(folder), overrides={"enhance_model": {"lookahead": 2}})
    assert loaded.mods.enhance_model.config["lookahead"] == 2 and same_weights(loaded.mods.enhance_model, model)
    with pytest.raises(ValueError, match="the override 'nope' names no key"):
        EnhanceBatch.from_hparams(source=str(folder), overrides={"nope": 1})


def test_legitimate_aliases_are_read(tmp_path):
    model = tiny_dccrn(0)
    text = inference_hyperparams(model_spec(model), RATE).replace(
        "    channels: [8, 8, 8, 8, 8, 8]", "    channels: &channels [8, 8, 8, 8, 8, 8]"
    ) + "same_channels: *channels\n"
    loaded = EnhanceBatch.from_hparams(source=str(model_folder(tmp_path / "m", model, text)))
    assert loaded.hparams.same_channels == [8] * 6


# ------------------------------------------------------------------ run folders


def test_best_checkpoint_ignores_non_numeric_and_nan_metrics(tmp_path):
    from speechbrain_atkl.loading import best_checkpoint, load_trained_model

    metrics = [{"valid_pesq": float("nan")}, {"valid_pesq": "abc"}, {"valid_pesq": 2.0}, {"valid_pesq": True}]
    run = training_folder(tmp_path / "run", tiny_dccrn(0), metrics)
    assert best_checkpoint(run / "save").meta["valid_pesq"] == 2.0
    assert load_trained_model(run)[1].meta["valid_pesq"] == 2.0


def test_publish_refuses_a_run_whose_metric_is_nan_everywhere(tmp_path):
    from speechbrain_atkl.publishing import PublishError, publish

    run = training_folder(tmp_path / "run", tiny_dccrn(0), [{"valid_pesq": float("nan")}] * 2)
    with pytest.raises(PublishError, match="no checkpoint records 'valid_pesq' as a finite number"):
        publish(run, tmp_path / "published", checkpoint_key="valid_pesq")
    assert not (tmp_path / "published").exists()


def test_training_output_folder_given_as_a_model_folder_is_explained(tmp_path):
    """Its hyperparams.yaml is the training recipe: the error says what to do, not to trust its code."""
    run = training_folder(tmp_path / "run", tiny_dccrn(0))
    (run / "hyperparams.yaml").write_text("brain_class: !name:speechbrain_atkl.training.EnhancementBrain\n")
    with pytest.raises(ValueError, match="is a training output folder.*publish it") as error:
        EnhanceBatch.from_hparams(source=str(run))
    assert "trust_remote_code" not in str(error.value)
    assert same_weights(load_model(run), tiny_dccrn(0))


def test_model_config_must_name_a_model_class_and_a_mapping(tmp_path):
    from speechbrain_atkl.loading import load_model_config

    path = tmp_path / "model_config.yaml"
    for text, message in [
        ("class_path: builtins.print\nconfig: {}\n", "not a speechbrain_atkl model class"),
        ("class_path: speechbrain_atkl.models.dccrn.DCCRN\nconfig: [1, 2]\n", "a mapping"),
        ("class_path: speechbrain_atkl.models.dccrn.DCCRN\nconfig: !!python/name:os.system {}\n", "arbitrary code"),
    ]:
        path.write_text(text)
        with pytest.raises(ValueError, match=message):
            load_model_config(path)


def test_model_config_with_bad_arguments_names_the_file(tmp_path):
    run = training_folder(tmp_path / "run", tiny_dccrn(0))
    config = run / "save" / "model_config.yaml"
    config.write_text(config.read_text().replace("rnn_units: 16", "rnn_units: abc"))
    with pytest.raises(ValueError, match=r"model_config.yaml: DCCRN\(.*rnn_units='abc'.*\) cannot be built"):
        load_model(run)


# ------------------------------------------------------------------ one way to load


def test_load_model_takes_every_kind_of_source(tmp_path):
    model = tiny_dccrn(0)
    run = training_folder(tmp_path / "run", model)
    published = model_folder(tmp_path / "published", model)
    torch.save(model.state_dict(), tmp_path / "weights.ckpt")
    for source in (run, published):
        assert same_weights(load_model(source), model)
    assert same_weights(load_model(tmp_path / "weights.ckpt", model=tiny_dccrn(3)), model)
    with pytest.raises(ValueError, match="names no architecture"):
        load_model(tmp_path / "weights.ckpt")
    with pytest.raises(FileNotFoundError, match="expected a published model folder"):
        load_model("Distil-DCCRN")  # presets only where asked for
    assert not load_model("Distil-DCCRN", untrained_presets=True).training


def test_a_missing_local_folder_is_not_taken_for_a_hub_id(tmp_path, monkeypatch):
    from speechbrain_atkl.training.checkpoints import load_teacher

    monkeypatch.chdir(tmp_path)
    (tmp_path / "results").mkdir()
    with pytest.raises(FileNotFoundError, match="results/uformr: not found.*Train a teacher first"):
        load_teacher("results/uformr", tiny_dccrn(0))
    with pytest.raises(FileNotFoundError, match="results: not a model source"):
        load_model("results")


def imported_modules(package):
    """The speechbrain_atkl modules a package imports, directly or through others (read, not run)."""
    import ast

    seen, stack = set(), [f"speechbrain_atkl.{package}"]
    while stack:
        name = stack.pop()
        path = REPO / Path(*name.split("."))
        files = list(path.glob("*.py")) if path.is_dir() else [path.with_suffix(".py")]
        for file in filter(Path.is_file, files):
            for node in ast.walk(ast.parse(file.read_text())):
                names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
                names += [node.module] if isinstance(node, ast.ImportFrom) and node.module else []
                for module in names:
                    if module.startswith("speechbrain_atkl") and module not in seen:
                        seen.add(module)
                        stack.append(module)
    return seen


@pytest.mark.parametrize("package", ["loading", "training"])
def test_loading_and_training_do_not_import_inference(package):
    assert not any(name.startswith("speechbrain_atkl.inference") for name in imported_modules(package))
    assert "speechbrain_atkl.training" not in imported_modules("loading")
