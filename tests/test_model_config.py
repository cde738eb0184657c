"""Every model preset can be described, rebuilt from the description, and reloaded."""

import pytest
import torch

from speechbrain_atkl.loading import build_model, load_model_config, model_spec, save_model_config
from speechbrain_atkl.models.dccrn import DCCRN
from speechbrain_atkl.models.uformer import Uformer


@pytest.mark.parametrize(
    "make",
    [
        lambda: DCCRN.from_preset("Distil-DCCRN", lookahead=2),
        lambda: DCCRN.from_preset("DCCRN-CL"),
        lambda: Uformer.from_preset("Uformer-light"),
        lambda: Uformer.from_preset("Uformer"),
    ],
)
def test_config_round_trip(make, tmp_path):
    torch.manual_seed(0)
    model = make().eval()
    save_model_config(model, tmp_path / "model_config.yaml")
    rebuilt = build_model(load_model_config(tmp_path / "model_config.yaml")).eval()
    rebuilt.load_state_dict(model.state_dict())
    assert model_spec(rebuilt) == model_spec(model)
    wav = torch.randn(1, 3000)
    with torch.no_grad():
        assert torch.equal(model(wav), rebuilt(wav))


def test_bad_configs(tmp_path):
    with pytest.raises(ValueError, match="not a speechbrain_atkl model"):
        build_model({"class_path": "os.system", "config": {}})
    with pytest.raises(FileNotFoundError, match="model_config.yaml"):
        load_model_config(tmp_path / "model_config.yaml")
    (tmp_path / "bad.yaml").write_text("- 1\n")
    with pytest.raises(ValueError, match="class_path"):
        load_model_config(tmp_path / "bad.yaml")
    with pytest.raises(TypeError, match="config"):
        model_spec(torch.nn.Linear(2, 2))
