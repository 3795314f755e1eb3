"""Checkpoints: round trip, validation errors, fp16 export and shards."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from simdps_studio.core.errors import ModelError
from simdps_studio.inpaint.checkpoint import (
    export_fp16,
    load_model,
    model_info,
    save_model,
    shard_model,
)
from simdps_studio.inpaint.precond import Denoiser, build_denoiser

pytestmark = pytest.mark.usefixtures("torch_one_thread")


EXTRA = {
    "training": {"data": "synthetic test tones", "steps": 3, "chunks": [{"start_step": 0}]},
    "metrics": {"val_loss": 0.5},
}


@pytest.fixture(scope="module")
def model() -> Denoiser:
    torch.manual_seed(1)
    m = build_denoiser("tiny", sigma_data=0.07).eval()
    # Give GroupNorm affine parameters non-default values so they are checked too.
    with torch.no_grad():
        for p in m.parameters():
            p.add_(0.01 * torch.randn_like(p))
    return m


@pytest.fixture()
def saved(model, tmp_path) -> Path:
    out = tmp_path / "models" / "tiny-test"
    save_model(model, out, extra=EXTRA)
    return out


def _out(m: Denoiser) -> torch.Tensor:
    x = 0.1 * torch.randn(2, m.segment_length, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        return m(x, torch.tensor([0.02, 0.4]))


def test_round_trip_is_identical(model, saved):
    assert {p.name for p in saved.iterdir()} == {
        "config.json",
        "weights.safetensors",
        "MODEL_CARD.md",
    }
    loaded = load_model(saved)
    assert loaded.config == model.config and loaded.sigma_data == 0.07
    assert not any(p.requires_grad for p in loaded.parameters()) and not loaded.training
    assert torch.equal(_out(loaded), _out(model))
    cfg = json.loads((saved / "config.json").read_text())
    assert cfg["preset"] == "tiny" and cfg["segment_length"] == 32768
    assert cfg["training"]["steps"] == 3 and cfg["metrics"]["val_loss"] == 0.5
    card = (saved / "MODEL_CARD.md").read_text()
    assert "tiny" in card and "32768" in card and "synthetic test tones" in card


def test_load_by_name_and_info(model, saved, monkeypatch):
    monkeypatch.setenv("SIMDPS_MODELS_DIR", str(saved.parent))
    assert torch.equal(_out(load_model("tiny-test")), _out(model))
    info = model_info("tiny-test")
    assert info["preset"] == "tiny" and info["n_parameters"] == model.n_parameters
    assert info["sample_rate"] == 22050 and info["segment_length"] == 32768
    assert info["sigma_data"] == 0.07 and info["training"]["steps"] == 3
    assert info["weights"]["files"] == ["weights.safetensors"] and info["weights"]["bytes"] > 0
    with pytest.raises(ModelError, match="not found"):
        load_model("no-such-model")


def test_missing_and_corrupt_files(saved):
    weights = saved / "weights.safetensors"
    data = weights.read_bytes()

    weights.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelError, match="corrupt or truncated"):
        load_model(saved)

    weights.write_bytes(b"\x00garbage" * 100)
    with pytest.raises(ModelError, match="corrupt or truncated"):
        load_model(saved)

    weights.unlink()
    with pytest.raises(ModelError, match="no weights"):
        load_model(saved)
    with pytest.raises(ModelError):
        model_info(saved)

    (saved / "config.json").write_text("{not json")
    with pytest.raises(ModelError, match=r"config\.json"):
        load_model(saved)
    (saved / "config.json").unlink()
    with pytest.raises(ModelError, match=r"no config\.json"):
        load_model(saved)


def test_wrong_shapes_names_values_and_preset(model, saved, tmp_path):
    weights = saved / "weights.safetensors"
    state = load_file(str(weights))
    key = next(k for k in state if k.endswith("conv1.weight"))

    bad = dict(state)
    bad[key] = torch.zeros(*state[key].shape[:-1], state[key].shape[-1] + 1)
    save_file(bad, str(weights))
    with pytest.raises(ModelError, match="shape"):
        load_model(saved)

    bad = dict(state)
    del bad[key]
    save_file(bad, str(weights))
    with pytest.raises(ModelError, match="missing"):
        load_model(saved)

    bad = dict(state)
    bad["extra.weight"] = torch.zeros(3)
    save_file(bad, str(weights))
    with pytest.raises(ModelError, match="unexpected"):
        load_model(saved)

    bad = dict(state)
    bad[key] = state[key].clone()
    bad[key].view(-1)[0] = float("nan")
    save_file(bad, str(weights))
    with pytest.raises(ModelError, match="NaN"):
        load_model(saved)

    save_file(state, str(weights))
    cfg = json.loads((saved / "config.json").read_text())
    cfg["architecture"]["channels"] = [16] * 6  # weights of another architecture
    (saved / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ModelError, match="shape"):
        load_model(saved)

    del cfg["architecture"]
    cfg["preset"] = "enormous"
    (saved / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ModelError, match="unknown model preset"):
        load_model(saved)

    cfg["preset"] = "tiny"  # preset-only config: works with matching weights
    (saved / "config.json").write_text(json.dumps(cfg))
    loaded = load_model(saved)
    assert loaded.config.preset == "tiny"


def test_fp16_export_and_shards(model, saved, tmp_path):
    half = export_fp16(saved, tmp_path / "half")
    full_bytes = (saved / "weights.safetensors").stat().st_size
    half_bytes = (half / "weights.safetensors").stat().st_size
    assert half_bytes < 0.6 * full_bytes
    ref = _out(model)
    got = _out(load_model(half))
    assert (got - ref).norm() < 2e-2 * ref.norm()
    assert json.loads((half / "config.json").read_text())["weights"]["dtype"] == "float16"
    assert json.loads((half / "config.json").read_text())["training"]["steps"] == 3

    # Shards small enough that the largest tensors must be cut into pieces.
    limit = 24 * 1024
    largest = max(p.numel() * 4 for p in model.state_dict().values())
    assert largest > limit
    sharded = shard_model(model, tmp_path / "sharded", max_shard_bytes=limit)
    files = sorted(sharded.glob("weights-*.safetensors"))
    assert len(files) > 3 and not (sharded / "weights.safetensors").exists()
    assert all(f.stat().st_size <= limit for f in files)
    assert torch.equal(_out(load_model(sharded)), ref)
    assert model_info(sharded)["weights"]["files"] == [f.name for f in files]

    both = shard_model(saved, tmp_path / "both", max_shard_bytes=limit, fp16=True)
    assert (_out(load_model(both)) - ref).norm() < 2e-2 * ref.norm()

    files[1].unlink()
    with pytest.raises(ModelError, match="shard 2 of"):
        load_model(sharded)
    shutil.copy(files[0], files[1])
    files[2].write_bytes(files[2].read_bytes()[:100])
    with pytest.raises(ModelError):
        load_model(sharded)


def test_save_refuses_reserved_extra_keys(model, tmp_path):
    with pytest.raises(ValueError):
        save_model(model, tmp_path / "m", extra={"sample_rate": 1})


def test_model_card_links_figures_and_evaluation(model, tmp_path):
    figures = {"loss_curve": "docs/m/loss.png", "unconditional_audio": "docs/m/u.flac"}
    save_model(
        model, tmp_path / "m", extra={"figures": figures, "evaluation": "| a | b |\n| 1 | 2 |"}
    )
    card = (tmp_path / "m" / "MODEL_CARD.md").read_text("utf-8")
    assert "![loss curve](../../docs/m/loss.png)" in card
    assert "[`docs/m/u.flac`](../../docs/m/u.flac)" in card
    assert "## Evaluation\n\n| a | b |\n| 1 | 2 |" in card


def test_model_card_install_refuses_a_name_that_is_not_one_folder(model, tmp_path, monkeypatch):
    """``install RUN ""`` once meant models/ itself: every installed model deleted."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "model_card_script", Path(__file__).resolve().parents[1] / "scripts" / "model_card.py"
    )
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    root = tmp_path / "repo"
    (root / "models" / "keep").mkdir(parents=True)
    (root / "models" / "keep" / "config.json").write_text("{}")
    monkeypatch.setattr(script, "ROOT", root)  # never the real models/
    run = tmp_path / "run"
    save_model(model, run / "best")
    for bad in ("", ".", "..", "../elsewhere", "a/b"):
        with pytest.raises(SystemExit, match="not a model name"):
            script.install(run, bad, "data", None)
    assert (root / "models" / "keep" / "config.json").is_file()
    assert sorted(p.name for p in (root / "models").iterdir()) == ["keep"]
    out = script.install(run, "mine", "render-piano OUT --hours 1", None)
    assert out == root / "models" / "mine" and (out / "weights.safetensors").is_file()
