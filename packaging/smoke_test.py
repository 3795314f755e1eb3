"""Smoke test of the built bundle (``make dist``): does the bundled app start, repair and report?

Usage: ``.venv/bin/python packaging/smoke_test.py [--dist dist/simdps-studio] [--timeout 180]``

1. The bundle holds what it must: the executable, the demo, the models, the Qt platform plugins
   (xcb, offscreen) and, on Linux, PortAudio.
2. The bundled app starts offscreen (``QT_QPA_PLATFORM=offscreen``) on the bundled demo, prints
   ``simdps-studio: ready (opened demo.flac)`` on stderr within the timeout, and closes cleanly on
   SIGTERM (exit status 0). The time from launch to that line is the start-up time.
3. The bundled executable repairs the demo's dropout from the command line with Sim (twice: the
   first run of a fresh install compiles librosa's numba kernels, the second shows the everyday
   speed), a short gap with LPC and, when a model is bundled, a short gap with SimDPS (a few steps;
   it exercises torch): each output exists, has the source's rate, channels and length, and every
   sample outside the repaired span equals the source while the span itself changed.
4. ``simdps-studio --version`` prints the version, the model, the device and the PortAudio
   library it loaded.
5. A feature whose package the bundle leaves out (``data render-piano`` needs music21) fails with
   one ``error:`` line naming it (exit 2, or 1 from the launcher), not a traceback; nothing was
   written beside the bundled demo.

Settings, caches and autosaves go to a temporary folder, never to the user's. Prints a table and
exits 0 only when everything passed.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
NAME = "simdps-studio"
READY_RE = re.compile(r"^simdps-studio: ready\b(.*)$")
DEMO_GAP = "22.23:22.83"  # the demo's dropout (resources/demo/README.md)
SHORT_GAP = "12.40:12.43"  # 30 ms: an LPC-sized gap in clean material
MODEL_GAP = "9.00:9.25"


@dataclass
class Result:
    """One row of the report."""

    check: str
    ok: bool
    value: str = ""
    detail: str = ""


@dataclass
class Report:
    rows: list[Result] = field(default_factory=list)

    def add(self, check: str, ok: bool, value: str = "", detail: str = "") -> bool:
        self.rows.append(Result(check, ok, value, detail))
        return ok

    @property
    def ok(self) -> bool:
        return bool(self.rows) and all(r.ok for r in self.rows)

    def table(self) -> str:
        w = max(len(r.check) for r in self.rows)
        v = max(len(r.value) for r in self.rows)
        lines = [f"{'check':<{w}}  {'':4}  {'value':<{v}}  detail"]
        for r in self.rows:
            lines.append(
                f"{r.check:<{w}}  {'ok' if r.ok else 'FAIL':4}  {r.value:<{v}}  {r.detail}"
            )
        return "\n".join(lines)


# ----------------------------------------------------------------------------- pure helpers


def folder_size_bytes(folder: Path) -> int:
    """Bytes on disk under ``folder`` (like ``du``: allocated blocks, links not followed)."""
    total = 0
    for base, _dirs, files in os.walk(folder):
        for f in files:
            st = os.lstat(os.path.join(base, f))
            total += getattr(st, "st_blocks", 0) * 512 or st.st_size
    return total


def outside_span_equal(
    source: np.ndarray, output: np.ndarray, span_start_sample: int, span_end_sample: int
) -> bool:
    """Whether every sample outside ``[span_start_sample, span_end_sample)`` is identical.

    Parameters
    ----------
    source, output : np.ndarray, shape (channels, n_samples)
        The source audio and the repaired file, read the same way (same dtype).
    span_start_sample, span_end_sample : int
        The repaired span; it must lie inside the signal.

    Returns
    -------
    bool
        False as well when the shapes differ or the span is invalid.
    """
    if source.shape != output.shape or source.ndim != 2:
        return False
    n = source.shape[-1]
    if not 0 <= span_start_sample <= span_end_sample <= n:
        return False
    before = np.array_equal(source[:, :span_start_sample], output[:, :span_start_sample])
    after = np.array_equal(source[:, span_end_sample:], output[:, span_end_sample:])
    return bool(before and after)


def read_exact(path: Path) -> tuple[np.ndarray, int, str]:
    """Samples of ``path`` as (channels, n_samples), its rate and subtype. PCM is read as int32 so
    that equal files compare bit for bit; float files as float64."""
    import soundfile as sf

    info = sf.info(str(path))
    dtype = "float64" if info.subtype in ("FLOAT", "DOUBLE") else "int32"
    data, sr = sf.read(str(path), dtype=dtype, always_2d=True)
    return data.T, int(sr), info.subtype


def check_repair_output(
    source_path: Path, output_path: Path, span_start_sample: int, span_end_sample: int
) -> list[str]:
    """Problems with a repaired file compared with its source (an empty list when it is fine):
    missing or unreadable, another rate, channel count or length, a changed sample outside the
    repaired span, or no change inside it."""
    if not output_path.is_file():
        return [f"{output_path.name} was not written"]
    try:
        src, src_sr, _ = read_exact(source_path)
        out, out_sr, _ = read_exact(output_path)
    except Exception as e:  # a smoke test reports, it does not crash
        return [f"cannot read: {e}"]
    problems = []
    if out_sr != src_sr:
        problems.append(f"rate {out_sr} != {src_sr}")
    if out.shape != src.shape:
        problems.append(f"shape (channels, samples) {out.shape} != {src.shape}")
        return problems
    if not outside_span_equal(src, out, span_start_sample, span_end_sample):
        problems.append("samples outside the repaired span differ from the source")
    span = slice(span_start_sample, span_end_sample)
    if np.array_equal(src[:, span], out[:, span]):
        problems.append("the repaired span is unchanged")
    return problems


# ----------------------------------------------------------------------------- the bundle


def isolated_env(home: Path) -> dict[str, str]:
    """The environment for the bundle: offscreen Qt, settings and caches under ``home``, nothing
    that could make it use the repository's or the venv's files instead of its own."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PYTHON", "SIMDPS_", "QT_", "VIRTUAL_ENV", "LD_PRELOAD"))
    }
    for sub in ("config", "cache", "data"):
        (home / sub).mkdir(parents=True, exist_ok=True)
    env.update(
        HOME=str(home),
        QT_QPA_PLATFORM="offscreen",
        XDG_CONFIG_HOME=str(home / "config"),
        XDG_CACHE_HOME=str(home / "cache"),
        XDG_DATA_HOME=str(home / "data"),
        SIMDPS_CACHE_DIR=str(home / "cache" / "simdps-studio"),
        SIMDPS_NO_DIALOGS="1",
    )
    return env


def check_contents(bundle: Path, report: Report) -> bool:
    internal = bundle / "_internal"
    from simdps_studio.inpaint.registry import installed_models  # the app's own rule

    installed = installed_models(internal / "models")
    needed = {
        "executable": bundle / NAME,
        "demo": internal / "resources" / "demo" / "demo.flac",
        "icon": internal / "resources" / "icons" / "simdps-studio.svg",
        "Qt xcb plugin": internal / "PySide6" / "Qt" / "plugins" / "platforms" / "libqxcb.so",
        "Qt offscreen plugin": internal
        / "PySide6"
        / "Qt"
        / "plugins"
        / "platforms"
        / "libqoffscreen.so",
    }
    if sys.platform.startswith("linux"):
        needed["PortAudio"] = internal / "libportaudio.so.2"
    missing = [k for k, p in needed.items() if not p.exists()]
    private = unreadable_files(bundle) if os.name == "posix" else []
    if private:
        missing.append(f"{len(private)} file(s) not readable by other users, e.g. {private[0]}")
    report.add(
        "bundle contents",
        not missing and bool(installed),
        f"{len(needed)} items",
        f"missing: {', '.join(missing)}"
        if missing
        else f"models: {', '.join(installed) or 'NONE'}",
    )
    return not missing


def unreadable_files(folder: Path) -> list[str]:
    """Files under ``folder`` that other users could not read (an app installed for everyone)."""
    bad = []
    for base, _dirs, files in os.walk(folder):
        for f in files:
            path = Path(base) / f
            if not path.is_symlink() and not path.stat().st_mode & 0o004:
                bad.append(str(path.relative_to(folder)))
    return bad


def _reader(stream, lines: queue.Queue) -> None:
    for line in iter(stream.readline, ""):
        lines.put(line.rstrip("\n"))
    lines.put(None)


def check_gui(exe: Path, demo: Path, env: dict, timeout_s: float, report: Report) -> float | None:
    """Start the window on the demo, wait for the ready line, SIGTERM, expect exit status 0.
    Returns the start-up time in seconds (None when the app never got ready)."""
    t0 = time.monotonic()
    proc = subprocess.Popen(
        [str(exe), str(demo)],
        env=env,
        cwd=env["HOME"],  # not the repository: nothing may come from there
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        errors="replace",
    )
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=_reader, args=(proc.stderr, lines), daemon=True).start()
    log: list[str] = []
    ready_s, ready_detail = None, ""
    try:
        while ready_s is None and time.monotonic() - t0 < timeout_s:
            try:
                line = lines.get(timeout=0.1)
            except queue.Empty:
                if proc.poll() is not None:
                    break
                continue
            if line is None:
                break
            log.append(line)
            m = READY_RE.match(line)
            if m:
                ready_s, ready_detail = time.monotonic() - t0, m.group(1).strip()
        opened = "opened demo.flac" in ready_detail
        report.add(
            "app start-up to ready",
            ready_s is not None and opened,
            f"{ready_s:.1f} s" if ready_s is not None else "-",
            ready_detail or f"no ready line within {timeout_s:.0f} s: {' | '.join(log[-3:])}",
        )
        if ready_s is None:
            return None
        proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            rc = None
        time.sleep(0.2)
        while True:
            try:
                line = lines.get_nowait()
            except queue.Empty:
                break
            if line is not None:
                log.append(line)
        crashed = [ln for ln in log if "Traceback" in ln or "Segmentation" in ln]
        report.add(
            "app closes on SIGTERM",
            rc == 0 and not crashed,
            f"exit {rc}",
            crashed[0] if crashed else "clean exit" if rc == 0 else "did not exit cleanly",
        )
        return ready_s
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def run_cli(exe: Path, args: list[str], env: dict, timeout_s: float):
    t0 = time.monotonic()
    try:
        out = subprocess.run(
            [str(exe), *args],
            env=env,
            cwd=env["HOME"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=timeout_s,
        )
    except subprocess.TimeoutExpired:
        return None, time.monotonic() - t0
    return out, time.monotonic() - t0


def check_repair(
    exe: Path,
    demo: Path,
    out_dir: Path,
    label: str,
    extra: list[str],
    gap: str,
    env: dict,
    timeout_s: float,
    report: Report,
) -> float | None:
    out_path = out_dir / f"demo-{label}.wav"
    report_path = out_dir / f"demo-{label}.json"
    args = ["repair", str(demo), "-o", str(out_path), "--gap", gap, "--report", str(report_path)]
    proc, seconds = run_cli(exe, [*args, *extra], env, timeout_s)
    check = f"CLI repair ({label}, gap {gap})"
    if proc is None:
        report.add(check, False, f"{seconds:.1f} s", f"timed out after {timeout_s:.0f} s")
        return None
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["(no message)"])[-1]
        report.add(check, False, f"{seconds:.1f} s", f"exit {proc.returncode}: {tail}")
        return None
    try:
        gaps = json.loads(report_path.read_text(encoding="utf-8"))["gaps"]
        start, end = gaps[0]["span_samples"]
        method = gaps[0]["method"]
    except (OSError, ValueError, KeyError, IndexError) as e:
        report.add(check, False, f"{seconds:.1f} s", f"no usable --report: {e}")
        return None
    problems = check_repair_output(demo, out_path, int(start), int(end))
    detail = "; ".join(problems) or f"{method}, span {start}–{end}, outside samples identical"
    report.add(check, not problems, f"{seconds:.1f} s", detail)
    return seconds if not problems else None


def check_version(exe: Path, env: dict, version: str, report: Report) -> None:
    proc, seconds = run_cli(exe, ["--version"], env, 120)
    text = proc.stdout if proc is not None else ""
    # "audio: PortAudio V..." shows that the bundled PortAudio loads (a device need not exist).
    needed = [
        f"SimDPS Studio {version}",
        "model:",
        "device:",
        "audio:     PortAudio V",
        "bundled app",
    ]
    missing = [n for n in needed if n not in text]
    ok = proc is not None and proc.returncode == 0 and not missing
    device = re.search(r"^device:\s*(.+)$", text, re.M)
    report.add(
        "--version",
        ok,
        f"{seconds:.1f} s",
        (device.group(1) if device else "") if ok else f"missing {missing} in {text!r}",
    )


def check_left_out_feature(exe: Path, out_dir: Path, env: dict, report: Report) -> None:
    """A feature whose package the bundle leaves out fails with one ``error:`` line naming it:
    exit 2 where the CLI checks for the package itself (``NotAvailableError``, as
    ``data render-piano`` does for music21), 1 where the launcher catches a failed import."""
    args = ["data", "render-piano", str(out_dir / "corpus"), "--hours", "0.01"]
    proc, seconds = run_cli(exe, args, env, 120)
    lines = proc.stderr.strip().splitlines() if proc is not None else []
    ok = (
        proc is not None
        and proc.returncode in (1, 2)
        and len(lines) == 1
        and lines[0].startswith("error: ")
        and "music21" in lines[0]
    )
    detail = "one error line, no traceback" if ok else (lines[-1] if lines else "no message")
    report.add("left-out feature (data render-piano)", ok, f"{seconds:.1f} s", detail)


def main() -> int:
    p = argparse.ArgumentParser(description="Smoke test of the built SimDPS Studio bundle.")
    p.add_argument("--dist", type=Path, default=ROOT / "dist" / NAME, help="the bundle folder")
    p.add_argument("--timeout", type=float, default=180.0, help="seconds to wait for 'ready'")
    p.add_argument("--cli-timeout", type=float, default=600.0, help="seconds per CLI repair")
    args = p.parse_args()

    sys.path.insert(0, str(ROOT))
    from simdps_studio import __version__

    bundle = args.dist.resolve()
    exe = bundle / (NAME + (".exe" if os.name == "nt" else ""))
    report = Report()
    if not exe.is_file():
        print(f"error: no bundle at {bundle} (run `make dist` first)", file=sys.stderr)
        return 1
    size = folder_size_bytes(bundle)
    report.add("bundle size", size <= 1.5 * 2**30, f"{size / 2**30:.2f} GiB", "target ≤ 1.5 GiB")
    contents_ok = check_contents(bundle, report)
    demo = bundle / "_internal" / "resources" / "demo" / "demo.flac"
    startup_s = None
    if contents_ok:
        with tempfile.TemporaryDirectory(prefix="simdps-smoke-") as tmp:
            tmp_path = Path(tmp)
            env = isolated_env(tmp_path / "home")
            before = sorted(os.listdir(demo.parent))
            startup_s = check_gui(exe, demo, env, args.timeout, report)
            t = args.cli_timeout
            # The first run of a fresh install also compiles librosa's numba kernels (cached in
            # ~/.cache/numba afterwards): the second run shows the everyday speed.
            sim = ["--method", "sim"]
            check_repair(exe, demo, tmp_path, "sim", sim, DEMO_GAP, env, t, report)
            check_repair(exe, demo, tmp_path, "sim-warm", sim, DEMO_GAP, env, t, report)
            check_repair(exe, demo, tmp_path, "lpc", ["--method", "lpc"], SHORT_GAP, env, t, report)
            models = bundle / "_internal" / "models"
            model = "piano-tiny" if (models / "piano-tiny").is_dir() else None
            if model:
                extra = ["--method", "simdps", "--model", model, "--steps", "4", "--device", "cpu"]
                check_repair(exe, demo, tmp_path, "simdps", extra, MODEL_GAP, env, t, report)
            check_version(exe, env, __version__, report)
            check_left_out_feature(exe, tmp_path, env, report)
            after = sorted(os.listdir(demo.parent))
            report.add(
                "bundle left untouched",
                before == after,
                "",
                "no file written beside the bundled demo"
                if before == after
                else f"new files: {sorted(set(after) - set(before))}",
            )
    print(f"SimDPS Studio {__version__} bundle: {bundle}")
    print(report.table())
    if startup_s is not None:
        print(f"start-up to ready: {startup_s:.1f} s")
    print("PASS" if report.ok else "FAIL")
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
