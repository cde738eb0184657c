"""Tests of the ONNX export: offline and streaming graphs against PyTorch, the runner, the CLI."""

import json
import math

import numpy as np
import onnxruntime
import pytest
import torch
from speechbrain.utils.checkpoints import Checkpointer

from speechbrain_atkl.inference.onnx_export import export_onnx, main
from speechbrain_atkl.loading import load_model, model_spec, save_model_config
from speechbrain_atkl.models.dccrn import DCCRN
from speechbrain_atkl.publishing import inference_hyperparams
from speechbrain_atkl.streaming import OnnxStreamingEnhancer, StreamingEnhancer, StreamingStep

from helpers import small_dccrn

pytestmark = pytest.mark.usefixtures("one_thread")




def run_offline(path, wav):
    return onnxruntime.InferenceSession(str(path)).run(None, {"noisy": wav.numpy()})[0]


def stream_all(enhancer, wav, chunk):
    outputs = [enhancer.process(piece) for piece in wav.split(chunk, -1)]
    return torch.cat(outputs + [enhancer.flush()], -1)


MODELS = {
    "small-real-lookahead6": lambda: small_dccrn(rnn_type="real", lookahead=6, masking_mode="C"),
    "small-complex-lookahead0": lambda: small_dccrn(rnn_type="complex", lookahead=0, masking_mode="E"),
    "Distil-DCCRN": lambda: DCCRN.from_preset("Distil-DCCRN").eval(),
}


@pytest.fixture(scope="module", params=list(MODELS))
def exported(request, tmp_path_factory):
    """A model and its two ONNX files."""
    model = MODELS[request.param]()
    folder = tmp_path_factory.mktemp(request.param)
    return (
        model,
        export_onnx(model, folder / "offline.onnx"),
        export_onnx(model, folder / "step.onnx", streaming=True),
    )


def test_offline_graph_matches_pytorch(exported):
    model, offline_path, _ = exported
    torch.manual_seed(1)
    for shape in [(1, 16000), (3, 999), (2, 1)]:  # the graph was traced on (2, 1601)
        wav = torch.randn(shape)
        with torch.no_grad():
            expected = model(wav).numpy()
        out = run_offline(offline_path, wav)
        assert out.shape == shape
        assert np.abs(out - expected).max() < 1e-4


def test_streaming_graph_matches_pytorch(exported):
    model, _, step_path = exported
    torch.manual_seed(2)
    wav = torch.randn(2, 2500)
    with torch.no_grad():
        expected = model(wav)
    onnx_enhancer, torch_enhancer = OnnxStreamingEnhancer(step_path), StreamingEnhancer(model)
    delay = torch_enhancer.latency_samples
    assert onnx_enhancer.latency_samples == delay
    for chunk in (model.stft.hop_length, 333):
        from_onnx = stream_all(onnx_enhancer, wav, chunk)
        assert (from_onnx[:, delay:] - expected).abs().max() < 1e-4
        assert (from_onnx - stream_all(torch_enhancer, wav, chunk)).abs().max() < 1e-4
    one_stream = stream_all(onnx_enhancer, wav[1], 100)  # (time,) chunks, batch of one
    assert (one_stream[delay:] - expected[1]).abs().max() < 1e-4


def test_streaming_graph_interface(exported):
    model, _, step_path = exported
    session = onnxruntime.InferenceSession(str(step_path))
    inputs, outputs = session.get_inputs(), session.get_outputs()
    hop = model.stft.hop_length
    meta = session.get_modelmeta().custom_metadata_map
    layout = json.loads(meta["state_layout"])  # the step's state tensors, packed in this order
    step = StreamingStep(model, matrix_steps=False)
    assert layout == [[name, list(shape)] for name, shape in step.state_shapes.items()]
    assert layout[0] == ["stft_context", [model.stft.win_length - hop]]
    state_size = sum(math.prod(shape) for _, shape in layout)
    assert [(i.name, i.shape) for i in inputs] == [
        ("audio", ["batch", hop]),
        ("valid", ["batch"]),
        ("state", ["batch", state_size]),
    ]
    assert [(o.name, o.shape, o.type) for o in outputs] == [
        ("enhanced", ["batch", hop], "tensor(float)"),
        ("finite", [], "tensor(bool)"),  # the hop's output and new state are all finite
        ("next_state", ["batch", state_size], "tensor(float)"),
    ]
    assert meta["graph"] == "streaming"
    assert int(meta["latency_samples"]) == model.lookahead_samples
    assert int(meta["lookahead_frames"]) == model.lookahead_frames
    with pytest.raises(ValueError, match="not a streaming graph"):
        OnnxStreamingEnhancer(step_path.parent / "offline.onnx")


def test_onnx_stream_rejects_an_overflowing_chunk_by_its_in_graph_check(tmp_path):
    # Finite input so extreme that the hop overflows: the graph's "finite" output says so, the
    # chunk is rejected and the stream goes on as if it never came.
    model = small_dccrn()
    path = export_onnx(model, tmp_path / "step.onnx", streaming=True)
    torch.manual_seed(1)
    chunks = (0.1 * torch.randn(2, 1500)).split(250, dim=1)
    clean = OnnxStreamingEnhancer(path)
    expected = [clean.process(chunk) for chunk in chunks] + [clean.flush()]
    enhancer = OnnxStreamingEnhancer(path)
    outputs = [enhancer.process(chunk) for chunk in chunks[:2]]
    with pytest.raises(ValueError, match="rejected.*unchanged"):
        enhancer.process(torch.full((2, 250), 3e38))
    outputs += [enhancer.process(chunk) for chunk in chunks[2:]] + [enhancer.flush()]
    for got, want in zip(outputs, expected):
        torch.testing.assert_close(got, want, atol=1e-6, rtol=0)
    # A graph of an older interface (here: without the check) is refused with what to do.
    import onnx

    proto = onnx.load(str(path))
    proto.graph.output.remove(proto.graph.output[1])
    onnx.save(proto, str(tmp_path / "old.onnx"))
    with pytest.raises(ValueError, match=r"outputs \['enhanced', 'next_state'\].*export it again"):
        OnnxStreamingEnhancer(tmp_path / "old.onnx")


def test_fixed_batch_streaming_graph(tmp_path):
    model = small_dccrn(rnn_type="complex", lookahead=6)
    path = export_onnx(model, tmp_path / "step1.onnx", streaming=True, batch_size=1)
    inputs = onnxruntime.InferenceSession(str(path)).get_inputs()
    assert all(node.shape[0] == 1 for node in inputs)  # no dynamic axis left
    enhancer = OnnxStreamingEnhancer(path)
    with pytest.raises(ValueError, match="batch_size=1"):
        enhancer.process(torch.randn(2, 300))
    torch.manual_seed(4)
    wav = torch.randn(1, 1500)  # the refused stream left nothing behind: a new one starts clean
    with torch.no_grad():
        expected = model(wav)
    out = stream_all(enhancer, wav, 100)
    assert (out[:, enhancer.latency_samples :] - expected).abs().max() < 1e-4
    with pytest.raises(ValueError, match="streaming graph only"):
        export_onnx(model, tmp_path / "offline.onnx", batch_size=1)


def test_export_keeps_training_mode_and_rejects_other_models(tmp_path):
    model = DCCRN(channels=[8] * 6, rnn_units=16).train()
    export_onnx(model, tmp_path / "a.onnx")
    assert model.training
    with pytest.raises(TypeError, match="DCCRN family"):
        export_onnx(torch.nn.Linear(2, 2), tmp_path / "b.onnx")


def test_cli_sources(tmp_path, capsys):
    torch.manual_seed(3)
    model = DCCRN(channels=[8] * 6, rnn_units=16).eval()
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.1)
    wav = torch.randn(1, 1200)
    with torch.no_grad():
        expected = model(wav).numpy()

    # A training output folder: save/model_config.yaml + a Checkpointer checkpoint.
    train_dir = tmp_path / "train"
    save_model_config(model, train_dir / "save" / "model_config.yaml")
    Checkpointer(train_dir / "save", recoverables={"model": model}).save_checkpoint(meta={"valid_pesq": 2.0})
    # A published folder: hyperparams.yaml + enhance_model.ckpt.
    published = tmp_path / "published"
    published.mkdir()
    (published / "hyperparams.yaml").write_text(inference_hyperparams(model_spec(model), 16000))
    torch.save(model.state_dict(), published / "enhance_model.ckpt")

    for source in (train_dir, published):
        output = tmp_path / f"{source.name}.onnx"
        main(["--model", str(source), "--output", str(output)])
        assert "offline graph of DCCRN" in capsys.readouterr().out
        assert np.abs(run_offline(output, wav) - expected).max() < 1e-4

    main(["--model", "Distil-DCCRN", "--output", str(tmp_path / "step.onnx"), "--streaming"])
    assert "streaming graph" in capsys.readouterr().out
    assert OnnxStreamingEnhancer(tmp_path / "step.onnx").latency_samples == 999
    with pytest.raises(SystemExit):
        main(["--model", str(tmp_path / "missing"), "--output", str(tmp_path / "x.onnx")])
    assert "expected a published model folder" in capsys.readouterr().err
    other = DCCRN(channels=[8] * 6, rnn_units=32)
    (published / "hyperparams.yaml").write_text(inference_hyperparams(model_spec(other), 16000))
    with pytest.raises(ValueError, match="does not fit"):
        load_model(published)


def test_a_failed_export_leaves_the_existing_file_whole(tmp_path, monkeypatch):
    """A full disk mid-export: the earlier graph stays, named in the error, and no temporary is left."""
    import errno

    from speechbrain_atkl.data.atomic import FileWriteError

    model = DCCRN(channels=[8] * 6, rnn_units=16).eval()
    path = export_onnx(model, tmp_path / "model.onnx")
    before = path.read_bytes()

    def full_disk(module, inputs, target, **options):
        with open(target, "wb") as handle:
            handle.write(before[: len(before) // 3])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch.onnx, "export", full_disk)
    with pytest.raises(FileWriteError, match="model.onnx: writing failed .is the disk full") as error:
        export_onnx(model, path)
    assert str(path) in str(error.value)
    assert path.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["model.onnx"]


@pytest.fixture
def published_folder(tmp_path):
    model = DCCRN(channels=[8] * 6, rnn_units=16).eval()
    folder = tmp_path / "published"
    folder.mkdir()
    (folder / "hyperparams.yaml").write_text(inference_hyperparams(model_spec(model), 16000))
    torch.save(model.state_dict(), folder / "enhance_model.ckpt")
    return folder


@pytest.mark.parametrize(
    "case, message",
    [
        ("weights", "must be an .onnx file; refusing to replace"),
        ("under a file", "writing a file in this folder failed"),
        ("folder", "is a folder; give the .onnx file"),
        ("read-only", "Read-only file system"),
        ("opset 5", "opset 5: the graphs need ONNX opset 13 or newer"),
        ("opset 99", "opset 99: this torch cannot export it"),
    ],
)
def test_cli_refuses_an_output_that_cannot_work_with_a_message(
    published_folder, tmp_path, monkeypatch, capsys, case, message
):
    import errno

    from speechbrain_atkl.inference import onnx_export

    weights = published_folder / "enhance_model.ckpt"
    before = weights.read_bytes()
    output, extra = tmp_path / "model.onnx", []
    if case == "weights":
        output = weights
    elif case == "under a file":
        (tmp_path / "a_file").write_text("")
        output = tmp_path / "a_file" / "model.onnx"
    elif case == "folder":
        output = tmp_path / "exported.onnx"
        output.mkdir()
    elif case == "read-only":
        def read_only(*args, **kwargs):
            raise OSError(errno.EROFS, "Read-only file system")

        monkeypatch.setattr(onnx_export.Path, "touch", read_only)
        monkeypatch.setattr(torch.onnx, "export", read_only)
    else:
        extra = ["--opset", case.split()[1]]
    if case != "opset 99":  # (that one is known only to the exporter, a fraction of a second in)
        monkeypatch.setattr(onnx_export, "load_model", lambda *a, **k: pytest.fail("loaded before checking"))
    with pytest.raises(SystemExit) as exit_info:
        main(["--model", str(published_folder), "--output", str(output), *extra])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
    assert weights.read_bytes() == before


def test_onnx_stream_refuses_integer_chunks_and_empty_batches(exported):
    model, _, step_path = exported
    wav = 0.1 * torch.randn(1, 300)
    expected = OnnxStreamingEnhancer(step_path).process(wav)
    streamer = OnnxStreamingEnhancer(step_path)
    with pytest.raises(TypeError, match="floating-point samples.*int16"):
        streamer.process((wav * 32768).to(torch.int16))
    with pytest.raises(ValueError, match="batch >= 1"):
        streamer.process(np.zeros((0, 100), np.float32))
    torch.testing.assert_close(streamer.process(wav), expected, atol=0, rtol=0)
