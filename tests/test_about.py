"""Build information: ``session.about`` (version, model, device), ``simdps-studio --version`` and
the About dialog."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from simdps_studio import __version__
from simdps_studio.session import about

DEVICE_RE = re.compile(r"^(CPU \(\d+ threads?\)|CUDA \(.+\)) · (fp32|bf16|fp16): .+$")


def _fake_model(folder: Path, *, preset: str = "tiny", n_parameters: int = 115_784) -> Path:
    """A model folder that counts as installed (config.json + a weights file); weights unread."""
    folder.mkdir(parents=True)
    config = {"preset": preset, "n_parameters": n_parameters, "sample_rate": 22050}
    (folder / "config.json").write_text(json.dumps(config), encoding="utf-8")
    (folder / "weights.safetensors").write_bytes(b"")
    return folder


@pytest.fixture
def models(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "models"
    _fake_model(root / "piano-fake")
    _fake_model(root / "piano-small", preset="small", n_parameters=2_840_096)
    monkeypatch.setenv("SIMDPS_MODELS_DIR", str(root))
    return root


def test_build_info_describes_the_model_from_its_config(models):
    info = about.build_info("piano-fake", device="CPU (7 threads)", audio="PortAudio V19: out")
    assert info["version"] == __version__
    assert info["device"] == "CPU (7 threads)"
    assert info["installed_models"] == ["piano-fake", "piano-small"]
    m = info["model"]
    assert (m["name"], m["installed"], m["status"]) == ("piano-fake", True, "installed")
    assert (m["preset"], m["n_parameters"], m["sample_rate"]) == ("tiny", 115_784, 22050)
    assert m["default"] is False
    assert info["bundled"] is False
    text = about.format_build_info(info)
    assert text.splitlines()[0] == f"SimDPS Studio {__version__}"
    assert "model:     piano-fake: preset tiny, 115,784 parameters, 22050 Hz" in text
    assert "device:    CPU (7 threads)" in text
    assert "audio:     PortAudio V19: out" in text

    default = about.build_info(device="x", audio="y")["model"]  # no name: the default model
    assert (default["name"], default["default"], default["preset"]) == (
        "piano-small",
        True,
        "small",
    )


def test_missing_and_corrupt_models_are_reported_not_raised(models, tmp_path):
    missing = about.model_summary("no-such-model")
    assert (missing["installed"], missing["status"], missing["preset"]) == (
        False,
        "not installed",
        None,
    )
    assert "not installed" in about.format_model(missing)
    (models / "piano-small" / "config.json").write_text("{not json", encoding="utf-8")
    broken = about.model_summary(None)
    assert broken["installed"] is False and broken["status"].startswith("unreadable:")
    # A model given by folder, as the app's "Choose model folder" stores it.
    by_path = about.model_summary(str(_fake_model(tmp_path / "elsewhere" / "mine")))
    assert (by_path["name"], by_path["installed"], by_path["default"]) == ("mine", True, False)


def test_device_label_is_the_auto_device():
    pytest.importorskip("torch")
    assert DEVICE_RE.match(about.device_label())


def test_audio_label_names_portaudio_or_says_why_playback_is_off():
    from simdps_studio.audio.player import playback_available

    _ok, message = playback_available()
    label = about.audio_label()
    assert label.endswith(message)
    if "library is missing" not in message:  # PortAudio loaded: its version comes first
        assert re.match(r"^PortAudio V\d+", label)


@pytest.mark.parametrize("argv", [["--version"], ["some-file.wav", "--version"]])
def test_version_option_prints_version_model_and_device(models, argv):
    env = {**os.environ, "SIMDPS_MODELS_DIR": str(models)}
    out = subprocess.run(
        [sys.executable, "-m", "simdps_studio", *argv],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    lines = dict(
        line.split(":", 1) for line in out.stdout.splitlines()[1:] if ":" in line
    )  # "model:     piano-small (default): ..." -> key "model"
    assert out.stdout.splitlines()[0] == f"SimDPS Studio {__version__}"
    assert lines["model"].strip().startswith("piano-small (default): preset small, 2,840,096")
    assert lines["installed"].strip() == "piano-fake, piano-small"
    assert DEVICE_RE.match(lines["device"].strip())
    assert "PortAudio" in lines["audio"] or "playback is off" in lines["audio"]


def test_about_dialog_shows_version_model_and_device(qtbot, models):
    from PySide6.QtCore import qVersion

    from simdps_studio.gui.app import create_app
    from simdps_studio.gui.dialogs import AboutDialog

    create_app()
    info = about.build_info("piano-fake", device="CUDA (Test GPU)", audio="PortAudio V19: x")
    dialog = AboutDialog(info)
    qtbot.addWidget(dialog)
    rows = {k: v.text() for k, v in dialog.rows.items()}
    assert rows["Model"] == "piano-fake — preset tiny, 115,784 parameters, 22050 Hz"
    assert rows["Device"] == "CUDA (Test GPU)"
    assert rows["Audio"] == "PortAudio V19: x"
    assert f"Qt {qVersion()}" in rows["Libraries"]
    assert f"SimDPS Studio {__version__}" in dialog.title.text()
    assert not dialog.windowIcon().isNull()


def test_help_about_uses_the_windows_model_and_probed_device(qtbot, models, tmp_path):
    from PySide6.QtCore import QSettings

    from simdps_studio.gui.app import create_app
    from simdps_studio.gui.mainwindow import MainWindow

    create_app()
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.IniFormat)
    window = MainWindow(settings, playback=False, recovery_dir=tmp_path / "recovery")
    qtbot.addWidget(window)
    try:
        window.set_model("piano-fake")
        qtbot.waitUntil(lambda: window.device_label.text() != "device: …", timeout=60_000)
        assert window.act_about.text().replace("&", "") == "About SimDPS Studio"
        # The window shows the desktop entry's application icon (resources/icons).
        from simdps_studio.gui.theme import icon

        shown = window.windowIcon().pixmap(32, 32).toImage()
        assert not shown.isNull() and shown == icon("simdps-studio").pixmap(32, 32).toImage()
        dialog = window.about()
        assert dialog.isVisible()
        assert dialog.rows["Model"].text().startswith("piano-fake — preset tiny")
        assert dialog.rows["Device"].text() == window.device_label.text().removeprefix("device: ")
        assert DEVICE_RE.match(dialog.rows["Device"].text())
        assert dialog.rows["Audio"].text() == window.playback.message  # playback=False here
        dialog.close()
    finally:
        window.close()
        assert window.runner.shutdown(30)
