"""docs/architecture.md section 1: imports point one way; Qt only in gui/, torch only in inpaint/."""

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


def test_the_app_imports_no_torch():
    # The window reaches the network only through session/ (engines, which load it lazily);
    # gui/ names neither torch nor inpaint's torch modules, at any depth.
    modules = ("cqt", "network", "precond", "sampler", "guidance", "pipeline", "fit", "device")
    modules += ("checkpoint", "train", "precision", "presets")
    torch_side = ("torch", *(f"simdps_studio.inpaint.{m}" for m in modules))
    assert _offenders(["gui"], torch_side) == []


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


#: inpaint's torch-free homes, read by both sides (issue 25: facts were mirrored because their
#: homes imported torch).
TORCH_FREE_HOMES = ("simdps_studio.inpaint.settings", "simdps_studio.inpaint.registry")


@pytest.mark.parametrize("module", TORCH_FREE_HOMES)
def test_the_torch_free_homes_import_no_torch(module: str):
    """Importing the defaults or the model registry (fresh interpreter) loads no heavy module."""
    banned = ("torch", "safetensors", "scipy", "librosa", "PySide6", "pyqtgraph")
    code = (
        f"import importlib, sys; importlib.import_module({module!r}); "
        f"print(','.join(m for m in {banned!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


#: Each shared fact and the module that is its only home (a module-level assignment or function).
#: ``DEFAULT_STEPS`` is left out: the benchmark's own (30 steps) is a different fact.
HOMES = {
    **dict.fromkeys(
        (
            "DEFAULT_MODEL",
            "FULL_STEPS",
            "DRAFT_STEPS",
            "FULL_SOLVER",
            "DRAFT_SOLVER",
            "DEFAULT_SIGMA_MIN",
            "DEFAULT_SIGMA_MAX",
            "DEFAULT_RHO",
            "OMEGA_PRESETS",
            "OMEGA_Y_DEFAULT",
            "CONTEXT_FRACTION",
            "solver_for",
            "n_denoiser_calls",
        ),
        "inpaint/settings.py",
    ),
    **dict.fromkeys(
        (
            "MODELS_DIR_ENV",
            "CONFIG_FILE",
            "models_dir",
            "resolve_model_dir",
            "is_model_folder",
            "model_installed",
            "installed_models",
        ),
        "inpaint/registry.py",
    ),
}
#: Names the copies had; none may come back anywhere.
RETIRED = ("sampler_calls", "available_models", "_model_dir", "_model_folder")


def _definitions(path: Path) -> set[str]:
    """Names a file defines at module level: assignments, functions, classes."""
    names: set[str] = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return names


def test_every_shared_fact_has_one_home():
    """No module keeps its own copy of a default or of a model rule: they import it."""
    copies = []
    for f in sorted(PKG.rglob("*.py")):
        here = f.relative_to(PKG).as_posix()
        for name in sorted(_definitions(f)):
            if name in RETIRED or HOMES.get(name, here) != here:
                copies.append(f"{here} defines {name} (home: {HOMES.get(name, 'none')})")
    assert copies == []
    for home in set(HOMES.values()):
        assert {n for n, h in HOMES.items() if h == home} <= _definitions(PKG / home)


def _imports_from(path: Path) -> set[str]:
    """Modules a file imports names from (``from X import ...``, at any depth)."""
    return {
        node.module
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.ImportFrom) and node.module
    }


@pytest.mark.parametrize(
    ("file", "homes"),
    [
        ("session/engines.py", TORCH_FREE_HOMES),
        ("session/about.py", TORCH_FREE_HOMES),
        ("inpaint/checkpoint.py", ("simdps_studio.inpaint.registry",)),
        ("inpaint/sampler.py", ("simdps_studio.inpaint.settings",)),
        ("inpaint/guidance.py", ("simdps_studio.inpaint.settings",)),
        ("inpaint/pipeline.py", ("simdps_studio.inpaint.settings",)),
        ("cli.py", TORCH_FREE_HOMES),
    ],
)
def test_the_modules_that_mirrored_import_the_homes(file: str, homes: tuple[str, ...]):
    assert set(homes) <= _imports_from(PKG / file)


def test_comments_point_into_the_repository():
    # Design references go to docs/architecture.md; the original notes are not shipped.
    root = PKG.parent
    files = [
        f
        for sub in ("simdps_studio", "tests", "benchmarks", "scripts")
        for f in (root / sub).rglob("*.py")
    ]
    assert files
    named = [str(f.relative_to(root)) for f in files if "DESIGN" + ".md" in f.read_text("utf-8")]
    assert named == []
