"""The desktop packaging without building it: the PyInstaller spec (run with stand-ins for
PyInstaller's build classes), the runtime hook, the .desktop file, the icons and the smoke test's
output checks. Building the bundle is ``make dist-check``, not part of the test suite."""

from __future__ import annotations

import configparser
import ctypes.util
import importlib.util
import os
import struct
import sys
import types
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGING = ROOT / "packaging"
ICONS = ROOT / "resources" / "icons"


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def smoke():
    return _load("simdps_smoke_test", PACKAGING / "smoke_test.py")


# ----------------------------------------------------------------------------- the spec


class _Recorder:
    """Stands in for PyInstaller's Analysis/PYZ/EXE/COLLECT: keeps what the spec passes."""

    calls: ClassVar[dict[str, _Recorder]] = {}

    def __init__(self, *args, **kwargs):
        self.args, self.kwargs = args, kwargs
        self.binaries = [(Path(s).name, s, "BINARY") for s, _ in kwargs.get("binaries", [])]
        self.datas = [(str(Path(d) / Path(s).name), s, "DATA") for s, d in kwargs.get("datas", [])]
        self.pure, self.scripts = [], []
        _Recorder.calls[type(self).__name__] = self


def _run_spec(monkeypatch, imports: dict[str, list[str]] | None = None) -> dict:
    """Execute the spec with stand-ins; ``imports`` maps a binary's path to the libraries it links
    to (what PyInstaller's bindepend would read from the file)."""
    hooks = types.ModuleType("PyInstaller.utils.hooks")
    hooks.collect_submodules = lambda package: [package, f"{package}.cli"]
    bindepend = types.ModuleType("PyInstaller.depend.bindepend")
    bindepend.get_imports = lambda src: [(n, None) for n in (imports or {}).get(src, [])]
    for name in ("PyInstaller", "PyInstaller.utils", "PyInstaller.depend"):
        monkeypatch.setitem(sys.modules, name, types.ModuleType(name))
    monkeypatch.setitem(sys.modules, "PyInstaller.utils.hooks", hooks)
    monkeypatch.setitem(sys.modules, "PyInstaller.depend.bindepend", bindepend)
    namespace = {"SPECPATH": str(PACKAGING), "__file__": str(PACKAGING / "simdps-studio.spec")}
    for name in ("Analysis", "PYZ", "EXE", "COLLECT"):
        namespace[name] = type(name, (_Recorder,), {})
    code = compile((PACKAGING / "simdps-studio.spec").read_text(encoding="utf-8"), "spec", "exec")
    exec(code, namespace)
    return namespace


@pytest.mark.skipif(
    sys.platform.startswith("linux") and ctypes.util.find_library("portaudio") is None,
    reason="the spec refuses to build without PortAudio",
)
def test_spec_collects_app_resources_models_and_portaudio(monkeypatch):
    ns = _run_spec(monkeypatch)
    analysis = _Recorder.calls["Analysis"]
    assert Path(analysis.args[0][0]) == PACKAGING / "launcher.py"
    assert "simdps_studio" in analysis.kwargs["hiddenimports"]
    assert PACKAGING / "rthook_portaudio.py" in map(Path, analysis.kwargs["runtime_hooks"])
    dests = {d for _s, d in analysis.kwargs["datas"]}
    sources = {Path(s).relative_to(ROOT).as_posix() for s, _d in analysis.kwargs["datas"]}
    assert "resources/demo/demo.flac" in sources and "resources/style.qss" in sources
    assert "resources/icons/simdps-studio.svg" in sources
    for model in (p for p in (ROOT / "models").iterdir() if (p / "config.json").is_file()):
        assert f"models/{model.name}/config.json" in sources
        assert f"models/{model.name}" in dests
    assert not any("/training/" in s for s in sources)
    if sys.platform.startswith("linux"):
        assert any(Path(s).name.startswith("libportaudio.so") for s, _d in ns["binaries"])
    collect = _Recorder.calls["COLLECT"]
    assert collect.kwargs["name"] == "simdps-studio"
    assert _Recorder.calls["EXE"].kwargs["console"] is True
    assert "music21" in analysis.kwargs["excludes"]


def test_spec_drops_test_binaries_and_unused_qt_plugins(monkeypatch):
    monkeypatch.setattr(ctypes.util, "find_library", lambda name: "libportaudio.so.2")
    wanted = _run_spec(monkeypatch)["wanted"]
    keep = [
        "torch/lib/libtorch_cpu.so",
        "torch/bin/torch_shm_manager",
        "PySide6/Qt/plugins/platforms/libqxcb.so",
        "PySide6/Qt/plugins/platforms/libqoffscreen.so",
        "PySide6/Qt/plugins/iconengines/libqsvgicon.so",
        "libportaudio.so.2",
        "models/piano-tiny/weights.safetensors",
        "PySide6/Qt/plugins/platforms/libqcocoa.dylib",
        "PySide6/plugins/platforms/qwindows.dll",
    ]
    drop = [
        "torch/include/ATen/ATen.h",
        "torch/test/atest",
        "torch/bin/test_api",
        "torch/lib/libtorchbind_test.so",
        "PySide6/Qt/plugins/platforms/libqwayland-generic.so",
        "PySide6/Qt/plugins/platforms/libqeglfs.so",
        "PySide6/Qt/plugins/platformthemes/libqgtk3.so",
        "PySide6/plugins/platforms/qdirect2d.dll",
    ]
    assert [d for d in keep if not wanted(d)] == []
    assert [d for d in drop if wanted(d)] == []


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="pruning runs on Linux only")
def test_libraries_nothing_links_to_are_pruned(monkeypatch):
    monkeypatch.setattr(ctypes.util, "find_library", lambda name: "libportaudio.so.2")
    imports = {
        "/v/libqxcb.so": ["libQt6Gui.so.6", "libc.so.6"],
        "/v/libQt6Gui.so.6": ["libfoo.so.1"],
        "/v/ext.cpython-311.so": ["libbar.so.2"],
        "/v/libportaudio.so.2.0.0": ["libasound.so.2"],
        "/v/libgtk-3.so.0": ["libpango-1.0.so.0"],
    }
    prune = _run_spec(monkeypatch, imports)["prune_orphans"]
    binaries = [
        ("PySide6/Qt/plugins/platforms/libqxcb.so", "/v/libqxcb.so", "BINARY"),
        ("PySide6/Qt/lib/libQt6Gui.so.6", "/v/libQt6Gui.so.6", "BINARY"),
        ("PySide6/Qt/lib/libQt6WaylandClient.so.6", "/v/libQt6WaylandClient.so.6", "BINARY"),
        ("numpy/ext.cpython-311.so", "/v/ext.cpython-311.so", "EXTENSION"),
        ("libfoo.so.1.0.0", "/v/libfoo.so.1.0.0", "BINARY"),
        ("libbar.so.2", "/v/libbar.so.2", "BINARY"),
        ("libportaudio.so.2.0.0", "/v/libportaudio.so.2.0.0", "BINARY"),
        ("libasound.so.2", "/v/libasound.so.2", "BINARY"),
        ("libgtk-3.so.0", "/v/libgtk-3.so.0", "BINARY"),
        ("libpango-1.0.so.0", "/v/libpango-1.0.so.0", "BINARY"),
    ]
    datas = [
        ("libfoo.so.1", "libfoo.so.1.0.0", "SYMLINK"),
        ("libQt6WaylandClient.so.6", "PySide6/Qt/lib/libQt6WaylandClient.so.6", "SYMLINK"),
        ("resources/style.qss", "/r/style.qss", "DATA"),
    ]
    kept_binaries, kept_datas = prune(binaries, datas)
    gone = {d for d, _s, _t in binaries} - {d for d, _s, _t in kept_binaries}
    assert gone == {
        "PySide6/Qt/lib/libQt6WaylandClient.so.6",
        "libgtk-3.so.0",
        "libpango-1.0.so.0",
    }
    assert [d for d, _s, _t in kept_datas] == ["libfoo.so.1", "resources/style.qss"]


def test_model_tree_leaves_out_training_state(monkeypatch, tmp_path):
    monkeypatch.setattr(ctypes.util, "find_library", lambda name: "libportaudio.so.2")
    tree = _run_spec(monkeypatch)["tree"]
    model = tmp_path / "m"
    (model / "training").mkdir(parents=True)
    (model / "best").mkdir()
    for f in ("config.json", "weights.safetensors", "MODEL_CARD.md", ".x.tmp", "w.tmp"):
        (model / f).write_text("x")
    (model / "training" / "state.safetensors").write_text("x")
    (model / "best" / "weights.safetensors").write_text("x")
    got = {(Path(s).relative_to(model).as_posix(), d) for s, d in tree(model, "models/m")}
    assert got == {
        ("config.json", "models/m"),
        ("weights.safetensors", "models/m"),
        ("MODEL_CARD.md", "models/m"),
        ("best/weights.safetensors", "models/m/best"),
    }


def test_launcher_and_hooks_compile():
    for f in ("launcher.py", "rthook_portaudio.py", "render_icon.py", "smoke_test.py"):
        compile((PACKAGING / f).read_text(encoding="utf-8"), f, "exec")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the hook acts on Linux only")
def test_portaudio_hook_points_sounddevice_at_the_bundled_library(monkeypatch, tmp_path):
    lib = tmp_path / "libportaudio.so.2"
    lib.write_bytes(b"")
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path), raising=False)
    monkeypatch.setattr(ctypes.util, "find_library", lambda name: f"system-{name}")
    _load("rthook_portaudio_under_test", PACKAGING / "rthook_portaudio.py")
    assert ctypes.util.find_library("portaudio") == str(lib)
    assert ctypes.util.find_library("sndfile") == "system-sndfile"


# ----------------------------------------------------------------------------- desktop entry, icons


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="freedesktop.org menus")
def test_install_desktop_entry_points_the_menu_at_the_bundle(tmp_path):
    import shutil
    import subprocess

    bundle = tmp_path / "my bundle" / "simdps-studio"  # a space in the path on purpose
    (bundle / "_internal").mkdir(parents=True)
    shutil.copytree(ROOT / "resources", bundle / "_internal" / "resources")
    exe = bundle / "simdps-studio"
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    env = {**os.environ, "HOME": str(tmp_path / "home"), "XDG_DATA_HOME": str(tmp_path / "data")}
    script = PACKAGING / "install_desktop_entry.sh"
    subprocess.run(["bash", str(script), str(bundle)], env=env, check=True, capture_output=True)
    desktop = tmp_path / "data" / "applications" / "simdps-studio.desktop"
    lines = dict(ln.split("=", 1) for ln in desktop.read_text().splitlines() if "=" in ln)
    assert lines["Exec"] == f'"{exe}" %f' and lines["TryExec"] == str(exe)
    assert (tmp_path / "data/icons/hicolor/256x256/apps/simdps-studio.png").is_file()
    assert (tmp_path / "home/.local/bin/simdps-studio").resolve() == exe
    subprocess.run(["bash", str(script), "--uninstall"], env=env, check=True, capture_output=True)
    assert not desktop.exists()


def test_desktop_entry_has_the_required_keys_and_its_icon_exists():
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # keys are case-sensitive
    parser.read(ROOT / "resources" / "simdps-studio.desktop", encoding="utf-8")
    entry = parser["Desktop Entry"]
    for key in ("Type", "Name", "Exec", "Icon", "Categories"):
        assert entry.get(key, "").strip(), key
    assert entry["Type"] == "Application"
    assert entry["Exec"].split()[0] == "simdps-studio"
    categories = entry["Categories"].split(";")
    assert entry["Categories"].endswith(";") and {"AudioVideo", "Audio"} <= set(categories)
    icon = entry["Icon"]
    assert (ICONS / f"{icon}.png").is_file() and (ICONS / f"{icon}.svg").is_file()


def _png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR"
    return struct.unpack(">II", head[16:24])


def test_png_icon_loads_and_matches_the_svg(qtbot, tmp_path):
    from PySide6.QtGui import QImage

    png = ICONS / "simdps-studio.png"
    assert _png_size(png) == (256, 256)
    image = QImage(str(png))
    assert not image.isNull() and (image.width(), image.height()) == (256, 256)
    # Up to date with the SVG: a fresh rendering is the same picture.
    render = _load("render_icon_under_test", PACKAGING / "render_icon.py")
    fresh = QImage(str(render.render_png(ICONS / "simdps-studio.svg", tmp_path / "i.png", 256)))

    def pixels(img):
        img = img.convertToFormat(QImage.Format_RGBA8888)
        return np.frombuffer(img.constBits(), np.uint8).reshape(256, 256, 4).astype(float)

    assert np.abs(pixels(image) - pixels(fresh)).mean() < 1.0
    # Not blank: the tile covers most of the square and the accents are there.
    alpha = pixels(image)[..., 3]
    assert (alpha > 0).mean() > 0.8


# ----------------------------------------------------------------------------- smoke-test checks


def test_outside_span_comparison(smoke):
    rng = np.random.default_rng(0)
    src = rng.integers(-(2**31), 2**31 - 1, size=(2, 1000), dtype=np.int64).astype(np.int32)
    out = src.copy()
    out[:, 400:500] = 0  # the repair
    assert smoke.outside_span_equal(src, out, 400, 500)
    assert smoke.outside_span_equal(src, out, 390, 510)  # a wider span still holds
    assert not smoke.outside_span_equal(src, out, 401, 500)  # the span must cover the change
    assert not smoke.outside_span_equal(src, out, 400, 499)
    changed = out.copy()
    changed[1, 999] += 1  # one sample of one channel at the very end
    assert not smoke.outside_span_equal(src, changed, 400, 500)
    assert not smoke.outside_span_equal(src, out[:, :-1], 400, 500)  # another length
    assert not smoke.outside_span_equal(src, out, 500, 400)  # an invalid span


def test_repair_output_check_on_files(smoke, tmp_path):
    import soundfile as sf

    sr = 8000
    rng = np.random.default_rng(1)
    x = (0.3 * rng.standard_normal((sr, 2))).astype(np.float32)
    src = tmp_path / "src.wav"
    sf.write(src, x, sr, subtype="PCM_16")
    good = x.copy()
    good[2000:2400] *= 0.5
    sf.write(tmp_path / "good.wav", good, sr, subtype="PCM_16")
    assert smoke.check_repair_output(src, tmp_path / "good.wav", 2000, 2400) == []
    # A sample changed by one LSB outside the span is caught (PCM compared bit for bit).
    bad = good.copy()
    bad[100, 0] += 1.5 / 32768
    sf.write(tmp_path / "bad.wav", bad, sr, subtype="PCM_16")
    problems = smoke.check_repair_output(src, tmp_path / "bad.wav", 2000, 2400)
    assert problems == ["samples outside the repaired span differ from the source"]
    sf.write(tmp_path / "rate.wav", good, sr * 2, subtype="PCM_16")
    assert "rate" in smoke.check_repair_output(src, tmp_path / "rate.wav", 2000, 2400)[0]
    sf.write(tmp_path / "mono.wav", good[:, 0], sr, subtype="PCM_16")
    assert "shape" in smoke.check_repair_output(src, tmp_path / "mono.wav", 2000, 2400)[0]
    sf.write(tmp_path / "same.wav", x, sr, subtype="PCM_16")
    assert smoke.check_repair_output(src, tmp_path / "same.wav", 2000, 2400) == [
        "the repaired span is unchanged"
    ]
    assert "not written" in smoke.check_repair_output(src, tmp_path / "none.wav", 0, 1)[0]


def test_isolated_environment_keeps_the_bundle_away_from_user_files(smoke, tmp_path, monkeypatch):
    monkeypatch.setenv("SIMDPS_MODELS_DIR", "/somewhere")
    monkeypatch.setenv("PYTHONPATH", "/repo")
    env = smoke.isolated_env(tmp_path / "home")
    assert "SIMDPS_MODELS_DIR" not in env and "PYTHONPATH" not in env
    assert env["QT_QPA_PLATFORM"] == "offscreen"
    for key in ("HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "SIMDPS_CACHE_DIR"):
        assert Path(env[key]).is_relative_to(tmp_path)
    assert env.get("PATH") == os.environ.get("PATH")


def test_ready_line_pattern_matches_what_the_app_prints(smoke):
    from simdps_studio.gui.app import READY_LINE

    m = smoke.READY_RE.match(f"{READY_LINE} (opened demo.flac)")
    assert m and m.group(1).strip() == "(opened demo.flac)"
    assert smoke.READY_RE.match(READY_LINE)
    assert not smoke.READY_RE.match(f"x {READY_LINE}")


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
def test_files_private_to_their_owner_are_reported(smoke, tmp_path):
    (tmp_path / "models" / "m").mkdir(parents=True)
    (tmp_path / "models" / "m" / "config.json").write_text("{}")
    (tmp_path / "models" / "m" / "weights.safetensors").write_text("")
    assert smoke.unreadable_files(tmp_path) == []
    (tmp_path / "models" / "m" / "weights.safetensors").chmod(0o600)
    assert smoke.unreadable_files(tmp_path) == ["models/m/weights.safetensors"]


def test_launcher_turns_a_missing_package_into_one_error_line(capsys):
    launcher = _load("simdps_launcher_under_test", PACKAGING / "launcher.py")

    def needs_music21() -> int:
        raise ModuleNotFoundError("No module named 'music21.corpus'", name="music21.corpus")

    assert launcher.run(needs_music21) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "'music21'" in err[0]
    assert launcher.run(lambda: 0) == 0
