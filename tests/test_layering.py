"""DESIGN.md section 1: imports point one way; Qt only in gui/, torch only in inpaint/ and above."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "simdps_studio"
QT = ("PySide6", "pyqtgraph", "shiboken6")


def _imports(path: Path) -> set[str]:
    """Every module name a file imports, at any depth (lazy imports inside functions too)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _files(sub: str) -> list[Path]:
    return sorted((PKG / sub).rglob("*.py")) if sub else sorted(PKG.glob("*.py"))


def _offenders(subs: list[str], banned: tuple[str, ...]) -> list[str]:
    bad = []
    for sub in subs:
        for f in _files(sub):
            for name in _imports(f):
                if name.split(".")[0] in banned or any(
                    name.startswith(b + ".") or name == b for b in banned
                ):
                    bad.append(f"{f.relative_to(PKG.parent)} imports {name}")
    return bad


def test_qt_only_in_gui():
    subs = ["", "core", "audio", "search", "inpaint", "session", "data", "bench"]
    assert _offenders(subs, QT) == []


def test_no_torch_below_inpaint():
    assert _offenders(["core", "audio", "search", "data"], ("torch",)) == []


def test_core_is_numpy_and_stdlib_only():
    banned = (
        "soundfile",
        "soxr",
        "librosa",
        "scipy",
        "torch",
        "sounddevice",
        "simdps_studio.audio",
        "simdps_studio.search",
        "simdps_studio.inpaint",
        "simdps_studio.session",
    )
    assert _offenders(["core"], banned) == []


def test_search_and_inpaint_never_import_each_other():
    assert _offenders(["search"], ("simdps_studio.inpaint",)) == []
    assert _offenders(["inpaint"], ("simdps_studio.search",)) == []


def test_lower_layers_never_import_upper_ones():
    assert (
        _offenders(
            ["audio"],
            (
                "simdps_studio.search",
                "simdps_studio.inpaint",
                "simdps_studio.session",
                "simdps_studio.gui",
            ),
        )
        == []
    )
    assert _offenders(["search", "inpaint"], ("simdps_studio.session", "simdps_studio.gui")) == []
    assert _offenders(["session", "bench"], ("simdps_studio.gui",)) == []
    # Only cli.py may reach up to gui/, lazily, to start the desktop app.
    top = [f for f in _files("") if f.name != "cli.py"]
    assert [f for f in top if any(n.startswith("simdps_studio.gui") for n in _imports(f))] == []


def test_only_the_cli_reaches_the_benchmark():
    """bench/ sits above session/: the document layer, the app and the layers below never import it."""
    subs = ["core", "audio", "search", "inpaint", "data", "session", "gui"]
    assert _offenders(subs, ("simdps_studio.bench",)) == []


def test_the_benchmark_installs_nothing():
    """Missing material is an error naming the command to run; bench/ starts no programs."""
    assert _offenders(["bench"], ("subprocess",)) == []
    sources = [f.read_text(encoding="utf-8") for f in _files("bench")]
    assert sources and not any("os.system" in s or "os.exec" in s for s in sources)


@pytest.mark.parametrize(
    ("modules", "banned"),
    [
        ("simdps_studio.core", ("torch", "PySide6", "pyqtgraph")),
        ("simdps_studio.audio", ("torch", "PySide6", "pyqtgraph")),
        ("simdps_studio.search", ("torch", "PySide6", "pyqtgraph")),
        ("simdps_studio.session", ("torch", "PySide6", "pyqtgraph")),
        ("simdps_studio.cli", ("torch", "PySide6", "pyqtgraph")),
        # The app's working state, checks, pace and autosave, moved out of gui/ (issue 25).
        ("simdps_studio.session.workspace", ("torch", "PySide6", "pyqtgraph")),
        ("simdps_studio.session.checks", ("torch", "PySide6", "pyqtgraph")),
        ("simdps_studio.session.pace", ("torch", "PySide6", "pyqtgraph")),
        ("simdps_studio.session.recovery", ("torch", "PySide6", "pyqtgraph")),
        ("simdps_studio.bench.cli", ("torch", "PySide6", "pyqtgraph", "matplotlib")),
    ],
)
def test_runtime_imports(modules: str, banned: tuple[str, ...]):
    """Importing a package (in a fresh interpreter) loads none of the banned heavy modules."""
    code = (
        f"import importlib, sys; importlib.import_module({modules!r}); "
        f"print(','.join(m for m in {banned!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_the_working_state_and_checks_import_neither_qt_nor_torch():
    """What the window and the CLI share lives below gui/ and runs without torch: any import of
    it, lazy ones included, is Qt-free, and torch comes only through the engines."""
    moved = ["workspace.py", "checks.py", "pace.py", "recovery.py"]
    files = [PKG / "session" / name for name in moved]
    for f in files:
        names = _imports(f)
        assert not [n for n in names if n.split(".")[0] in (*QT, "torch")], f
        assert not [n for n in names if n.startswith("simdps_studio.inpaint")], f
    assert not (PKG / "gui" / "recovery.py").exists()
