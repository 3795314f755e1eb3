"""The one model registry (``inpaint.registry``) and the shared defaults (``inpaint.settings``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from simdps_studio.core.paths import ROOT
from simdps_studio.inpaint import registry, settings
from simdps_studio.inpaint.registry import (
    installed_models,
    model_installed,
    models_dir,
    resolve_model_dir,
)


def _model(folder: Path, *, config: bool = True, weights: str | None = "weights.safetensors"):
    """A model folder with a ``config.json`` and/or one (empty, unread) weights file."""
    folder.mkdir(parents=True)
    if config:
        (folder / "config.json").write_text(json.dumps({"preset": "tiny"}), encoding="utf-8")
    if weights:
        (folder / weights).write_bytes(b"")
    return folder


@pytest.fixture
def models(tmp_path, monkeypatch) -> Path:
    """A models folder with one complete model, ``piano-fake``, and three that are not models."""
    root = tmp_path / "models"
    _model(root / "piano-fake")
    _model(root / "sharded", weights="weights-00001-of-00002.safetensors")
    _model(root / "config-only", weights=None)
    _model(root / "weights-only", config=False)
    (root / "weights-dir").mkdir()
    (root / "weights-dir" / "config.json").write_text("{}", encoding="utf-8")
    (root / "weights-dir" / "weights.safetensors").mkdir()  # a folder is not a weights file
    (root / "stray.safetensors").write_bytes(b"")
    monkeypatch.setenv("SIMDPS_MODELS_DIR", str(root))
    return root


def test_models_dir_expands_the_home_folder_and_variables(tmp_path, monkeypatch):
    monkeypatch.delenv("SIMDPS_MODELS_DIR", raising=False)
    assert models_dir() == ROOT / "models"
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("SIMDPS_MODELS_DIR", "~/my models")
    assert models_dir() == tmp_path / "my models"
    monkeypatch.setenv("WHERE_MODELS_ARE", str(tmp_path / "elsewhere"))
    monkeypatch.setenv("SIMDPS_MODELS_DIR", "$WHERE_MODELS_ARE/m")
    assert models_dir() == tmp_path / "elsewhere" / "m"


def test_a_literal_tilde_in_the_variable_still_finds_the_models(tmp_path, monkeypatch):
    """With ``SIMDPS_MODELS_DIR='~/models'`` the app once listed no model while loading worked."""
    monkeypatch.setenv("HOME", str(tmp_path))
    _model(tmp_path / "models" / "mine")
    monkeypatch.setenv("SIMDPS_MODELS_DIR", "~/models")
    assert installed_models() == ["mine"]
    assert model_installed("mine") and resolve_model_dir("mine") == tmp_path / "models" / "mine"


def test_installed_means_a_config_and_a_weights_file(models):
    assert installed_models() == ["piano-fake", "sharded"]
    assert model_installed("piano-fake") and model_installed("sharded")
    for name in ("config-only", "weights-only", "weights-dir", "stray.safetensors", "nothing"):
        assert not model_installed(name), name
    assert installed_models(models / "piano-fake") == []  # a model folder holds no models
    assert installed_models(models / "no-such-folder") == []


def test_a_name_is_a_folder_under_models_dir_and_a_path_is_itself(models, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    work = tmp_path / "work"
    (work / "here").mkdir(parents=True)
    monkeypatch.chdir(work)
    assert resolve_model_dir("piano-fake") == models / "piano-fake"
    assert resolve_model_dir("not-installed") == models / "not-installed"
    assert resolve_model_dir("here") == Path("here")  # an existing folder is that folder
    assert resolve_model_dir("./piano-fake") == Path("piano-fake")  # looks like a path
    assert resolve_model_dir("sub/piano-fake") == Path("sub/piano-fake")
    assert resolve_model_dir("~/m") == tmp_path / "home" / "m"
    assert resolve_model_dir(Path("piano-fake")) == Path("piano-fake")  # a Path is a path
    assert resolve_model_dir(str(models / "sharded")) == models / "sharded"
    # No name is the default model's folder, never the models folder itself.
    for none in (None, "", "  "):
        assert resolve_model_dir(none) == models / settings.DEFAULT_MODEL
    assert not model_installed(None)
    _model(models / settings.DEFAULT_MODEL)
    assert model_installed(None) and model_installed("")


def test_the_session_about_and_loader_use_the_registry(models, tmp_path, monkeypatch):
    """The app's checks, the About facts and the loader resolve a name the same way."""
    from simdps_studio.session import about, engines

    assert engines.installed_models is registry.installed_models
    assert engines.model_installed is registry.model_installed
    assert about.build_info(device="x", audio="y")["installed_models"] == installed_models()
    # A model given as ``~/...``: once installed for the loader and About but not for the app.
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    mine = _model(tmp_path / "home" / "mine")
    (mine / "config.json").write_text('{"segment_length": 44100, "sample_rate": 22050}')
    assert engines.model_installed("~/mine")
    assert engines.model_window_s("~/mine") == 2.0
    summary = about.model_summary("~/mine")
    assert (summary["installed"], summary["path"]) == (True, str(mine))


def test_model_info_lists_the_installed_models(models, monkeypatch, capsys):
    """``model info`` without an installed default lists the same models as the app's menu."""
    pytest.importorskip("torch")
    from simdps_studio import cli

    monkeypatch.setattr(cli, "_preset_info", lambda name: {"preset": name})  # not under test
    assert cli.main(["model", "info", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["installed_models"] == ["piano-fake", "sharded"]


def test_the_loader_reads_a_model_by_name_from_a_tilde_models_dir(tmp_path, monkeypatch):
    pytest.importorskip("torch")
    from simdps_studio.inpaint.checkpoint import load_model, save_model
    from simdps_studio.inpaint.precond import build_denoiser

    monkeypatch.setenv("HOME", str(tmp_path))
    save_model(build_denoiser("tiny"), tmp_path / "models" / "tiny-one")
    monkeypatch.setenv("SIMDPS_MODELS_DIR", "~/models")
    assert installed_models() == ["tiny-one"]
    assert load_model("tiny-one").n_parameters == build_denoiser("tiny").n_parameters


def test_call_counts_follow_the_solver():
    assert settings.solver_for(False) == "heun" and settings.solver_for(True) == "euler"
    for steps, heun, euler in ((0, 0, 0), (1, 1, 1), (2, 3, 2), (35, 69, 35)):
        assert settings.n_denoiser_calls(steps, "heun") == heun
        assert settings.n_denoiser_calls(steps, "euler") == euler
    assert settings.n_denoiser_calls(35) == 69  # Heun by default
