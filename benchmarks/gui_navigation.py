"""Open a long stereo file in the app and time navigation (docs/architecture.md, section 8; issue 6).

Writes a 60-minute stereo 44.1 kHz 16-bit WAV (once, into a temporary folder), opens it in the main
window offscreen, and prints a Markdown table: the open time (read, hash, peak pyramid; on a worker
thread, with the window responsive meanwhile), then the frame time while zooming in and out and
while scrolling, measured from the view change to the end of the synchronous repaint of the
overview, waveform and spectrogram (the spectrogram image itself is recomputed on a worker thread
after the view settles; its time is listed separately).

Usage: ``python benchmarks/gui_navigation.py [--minutes 60] [--keep]``
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ["SIMDPS_NO_DIALOGS"] = "1"


def make_long_wav(path: Path, minutes: float, sr: int = 44100) -> None:
    """Piano-like stereo material with level changes, written block by block."""
    import soundfile as sf

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from conftest import piano_like

    block_s = 30.0
    base = piano_like(sr, block_s, seed=1, channels=2)
    rng = np.random.default_rng(0)
    n_blocks = int(np.ceil(minutes * 60 / block_s))
    with sf.SoundFile(path, "w", sr, 2, "PCM_16", format="WAV") as f:
        for b in range(n_blocks):
            gain = 10 ** (rng.uniform(-12, 0) / 20)
            x = np.roll(base, rng.integers(0, base.shape[1]), axis=1) * gain
            x += 0.002 * rng.standard_normal(x.shape)
            n = min(x.shape[1], int(minutes * 60 * sr) - b * x.shape[1])
            f.write(x[:, :n].T.astype(np.float32))


def frame_times(app, window, ranges) -> list[float]:
    """Milliseconds per view change, including the synchronous repaint of the track views."""
    view = window.track
    out = []
    for t0, t1 in ranges:
        start = time.perf_counter()
        view.set_visible_range(t0, t1)
        app.processEvents()  # runs the coalesced waveform redraw
        for w in (view.overview, view.wave, view.spec):
            w.viewport().repaint()
        out.append((time.perf_counter() - start) * 1000)
    return out


def row(name: str, ms: list[float]) -> str:
    ms_sorted = sorted(ms)
    p95 = ms_sorted[min(len(ms) - 1, int(0.95 * len(ms)))]
    return (
        f"| {name} | {len(ms)} | {statistics.median(ms):.1f} | {p95:.1f} | {max(ms):.1f} | "
        f"{1000 / statistics.median(ms):.0f} |"
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=60.0)
    ap.add_argument("--keep", action="store_true", help="keep the generated file for reruns")
    args = ap.parse_args()

    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QMessageBox

    from simdps_studio.gui.app import create_app
    from simdps_studio.gui.mainwindow import MainWindow

    folder = Path(tempfile.gettempdir()) / "simdps-bench"
    folder.mkdir(exist_ok=True)
    path = folder / f"long-{args.minutes:g}min.wav"
    if not path.exists():
        t = time.perf_counter()
        make_long_wav(path, args.minutes)
        print(
            f"(wrote {path.name}, {path.stat().st_size / 2**20:.0f} MiB, "
            f"in {time.perf_counter() - t:.1f} s)\n"
        )

    app = create_app()
    settings = QSettings(str(folder / "bench-settings.ini"), QSettings.IniFormat)
    window = MainWindow(settings, playback=False, recovery_dir=folder / "recovery")
    window.ask = lambda *a: QMessageBox.Discard
    window.resize(1600, 1000)
    window.show()
    app.processEvents()

    # Open on the worker thread; count event-loop turns meanwhile (the window stays responsive).
    done = []
    window.file_opened.connect(done.append)
    window.error_shown.connect(lambda m: (print("error:", m), done.append(None)))
    t = time.perf_counter()
    window.open_path(path)
    gaps = []
    last = time.perf_counter()
    while not done:
        app.processEvents()
        now = time.perf_counter()
        gaps.append(now - last)
        last = now
        time.sleep(0.002)
    open_s = time.perf_counter() - t
    app.processEvents()
    audio = window.session.audio
    dur = audio.duration_s

    view = window.track
    width_px = view._n_pixels()
    # Zoom from the whole hour to 50 ms around the middle and back, in 10 % steps.
    widths = [dur * 0.9**k for k in range(200) if dur * 0.9**k > 0.05]
    centre = dur / 2
    zoom = [(centre - w / 2, centre + w / 2) for w in widths + widths[::-1]]

    # Scroll by a tenth of the view, 120 times, at three zoom levels (back and forth in range).
    def ping_pong(w: float, n: int = 120) -> list[tuple[float, float]]:
        span = max(1, int((dur - w) / (w / 10)))
        k = [i % (2 * span) for i in range(n)]
        return [
            (
                (j if j <= span else 2 * span - j) * w / 10,
                (j if j <= span else 2 * span - j) * w / 10 + w,
            )
            for j in k
        ]

    scroll = {w: ping_pong(w) for w in (600.0, 60.0, 2.0)}
    frame_times(app, window, zoom[:5])  # warm up
    zoom_ms = frame_times(app, window, zoom)
    scroll_ms = {w: frame_times(app, window, r) for w, r in scroll.items()}

    # Spectrogram of the visible range (worker thread), timed directly.
    from simdps_studio.core.types import native_to_float
    from simdps_studio.gui.analysis import fft_size_for, log_frequency_map, spectrogram_columns

    def read(a, b):
        o = np.zeros(b - a, np.float32)
        lo, hi = max(a, 0), min(b, audio.n_samples)
        o[lo - a : hi - a] = native_to_float(audio.samples[:, lo:hi]).mean(axis=0)
        return o

    spec_ms = {}
    for w in (dur, 600.0, 60.0, 2.0):
        a = int((centre - w / 2) * audio.sr) if w < dur else 0
        b = a + int(w * audio.sr)
        n_fft = fft_size_for(audio.sr, (b - a) / width_px)
        fmap = log_frequency_map(audio.sr, n_fft)
        t0 = time.perf_counter()
        spectrogram_columns(read, audio.n_samples, audio.sr, a, b, width_px, freq_map=fmap)
        spec_ms[w] = (time.perf_counter() - t0) * 1000

    print(
        f"### GUI navigation: {args.minutes:g}-minute stereo file "
        f"({audio.sr} Hz, {audio.subtype}, {path.stat().st_size / 2**20:.0f} MiB), "
        f"window {window.width()}×{window.height()}, waveform {width_px} px wide\n"
    )
    print("| step | value |")
    print("|---|---|")
    print(f"| open (read + SHA-256 + peak pyramid, worker thread) | {open_s:.2f} s |")
    print(f"| longest event-loop stall while opening | {max(gaps) * 1000:.0f} ms |")
    print(f"| peak pyramid memory | {window.pyramid.nbytes / 2**20:.1f} MiB |")
    print()
    print("| navigation | frames | median ms | p95 ms | max ms | median fps |")
    print("|---|---|---|---|---|---|")
    print(row("zoom 1 h → 50 ms → 1 h (10 % steps)", zoom_ms))
    for w, ms in scroll_ms.items():
        print(row(f"scroll by 1/10 of a {w:g} s view", ms))
    print()
    print("| spectrogram of the visible range (worker) | ms |")
    print("|---|---|")
    for w, ms in spec_ms.items():
        label = "whole file" if w >= dur else f"{w:g} s"
        print(f"| {label} | {ms:.0f} |")
    window.session.dirty = False
    window.close()
    if not args.keep:
        path.unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
