"""Make docs/screenshot.png: the real main window, on the demo, with a repaired gap and candidates.

Run under a virtual X server (the real xcb platform, not offscreen):

    xvfb-run -a -s "-screen 0 1920x1200x24" .venv/bin/python scripts/screenshot.py

It opens ``resources/demo/demo.flac`` (a copy, so no project file lands in resources/), marks the
dropout the detector finds (22.230–22.830 s), waits for the ranked candidates, repairs the gap
with ``Auto`` (SimDPS when a model is installed, else Sim) and saves the window. Playback goes to
ALSA's null device so the transport shows its normal state (``--no-audio``: the machine's own
devices, e.g. none, so the transport shows why playback is off). ``--scale 2`` renders at 200 %.
``--size WxH`` sets the window's size; without it the window takes its first-launch size from
the virtual screen (``-screen 0 1280x800x24`` shows a 1280×800 laptop), e.g.

    for s in 1280x800 1440x900 1920x1080; do xvfb-run -a -s "-screen 0 1920x1200x24" \
        .venv/bin/python scripts/screenshot.py --method sim --size $s \
        --out docs/screens/window-$s.png; done

``--history`` shows View → History with a bypass undone after the repair (one step dimmed);
``--spectrogram FFT:SCALE`` (e.g. ``4096:mel``, FFT 0 = Auto) sets the spectrogram's settings
and shows their dialog in the picture.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ALSA_CONF = "pcm.!default { type null }\nctl.!default { type null }\n"


def draw_dialog(image, dialog, over) -> None:
    """Draw ``dialog`` with a title bar (no window manager draws one here) into ``image``, at
    the right of the widget ``over``."""
    from PySide6.QtCore import QRect, Qt
    from PySide6.QtGui import QColor, QPainter
    from PySide6.QtWidgets import QApplication

    from simdps_studio.gui.theme import COLORS

    QApplication.processEvents()
    content, bar = dialog.grab(), 26
    area = QRect(over.mapTo(over.window(), over.rect().topLeft()), over.size())
    frame = QRect(0, 0, content.width(), content.height() + bar)
    frame.moveCenter(area.center())
    frame.moveRight(area.right() - 24)
    painter = QPainter(image)
    painter.fillRect(frame.x(), frame.y(), frame.width(), bar, QColor(COLORS.panel_alt))
    painter.setPen(QColor(COLORS.text))
    title = QRect(frame.x(), frame.y(), frame.width(), bar)
    painter.drawText(title, Qt.AlignCenter, dialog.windowTitle())
    painter.drawPixmap(frame.x(), frame.y() + bar, content)
    painter.setPen(QColor(COLORS.border))
    painter.drawRect(frame.adjusted(0, 0, -1, -1))
    painter.end()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshot.png")
    ap.add_argument("--scale", type=float, default=1.0, help="UI scale factor (2 = 200 %)")
    ap.add_argument(
        "--size", default=None, help="window size WxH in logical pixels (default: first launch's)"
    )
    ap.add_argument(
        "--no-audio", action="store_true", help="use the machine's audio devices, not ALSA's null"
    )
    ap.add_argument("--method", default="auto")
    ap.add_argument("--view", default="19.8:25.2", help="visible range in seconds, START:END")
    ap.add_argument("--history", action="store_true", help="show the History list")
    ap.add_argument("--spectrogram", default=None, help="FFT:SCALE, with the settings dialog")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="simdps-shot-"))
    alsa = tmp / "asound.conf"
    alsa.write_text(ALSA_CONF)
    if Path("/usr/share/alsa/alsa.conf").is_file() and not args.no_audio:
        os.environ["ALSA_CONFIG_PATH"] = f"/usr/share/alsa/alsa.conf:{alsa}"
    if args.scale != 1.0:
        os.environ["QT_SCALE_FACTOR"] = f"{args.scale:g}"
    os.environ["SIMDPS_NO_DIALOGS"] = "1"
    os.environ.setdefault("SIMDPS_CACHE_DIR", str(tmp / "cache"))
    sys.path.insert(0, str(ROOT))

    from PySide6.QtCore import QSettings, QTimer
    from PySide6.QtWidgets import QMessageBox

    from simdps_studio.core.types import Gap
    from simdps_studio.gui.analysis import SpectrogramSettings
    from simdps_studio.gui.app import create_app
    from simdps_studio.gui.mainwindow import MainWindow

    demo = tmp / "demo.flac"
    shutil.copy(ROOT / "resources" / "demo" / "demo.flac", demo)
    app = create_app()
    w = MainWindow(
        QSettings(str(tmp / "settings.ini"), QSettings.IniFormat), recovery_dir=tmp / "recovery"
    )
    w.ask = lambda *a: QMessageBox.Discard
    if args.size:
        width, height = (int(v) for v in args.size.split("x"))
        w.resize(width, height)
    if args.spectrogram:
        fft, scale = args.spectrogram.split(":")
        w.set_spectrogram_settings(SpectrogramSettings(int(fft), scale))
    w.show()
    state = {"rc": 1}

    def fail(message: str) -> None:
        print("error:", message, file=sys.stderr)
        app.exit(1)

    def opened(_path: str) -> None:
        sr = w.session.audio.sr
        w.repair_panel.set_method(args.method)
        w.candidates_ready.connect(candidates)
        w.add_gap(Gap(980356 * sr // 44100, 1006816 * sr // 44100))  # the planted dropout

    def candidates(cands) -> None:
        if not cands:
            fail("no candidates")
            return
        w.candidates_ready.disconnect(candidates)
        w.run_repair()

    def repaired(_repairs) -> None:
        sr = w.session.audio.sr
        start_s, end_s = (float(v) for v in args.view.split(":"))
        w.track.set_visible_range(start_s, end_s)
        w._seek(round(21.2 * sr))
        if args.history:
            w.show_history(True)
            w.gap_editor.bypass_selected()
            w.undo()  # an undone step: dimmed in the list
        QTimer.singleShot(500, when_idle)

    def when_idle() -> None:
        # The spectrogram of the repaired span and the device line come from workers; a busy
        # machine takes longer than any fixed wait.
        if w.runner.running("spectrogram") or w.runner.running("device"):
            QTimer.singleShot(200, when_idle)
        else:
            QTimer.singleShot(300, shoot)

    def shoot() -> None:
        app.processEvents()
        args.out.parent.mkdir(parents=True, exist_ok=True)
        image = w.grab()
        if args.spectrogram:  # the dialog is a window of its own: drawn over the spectrogram
            draw_dialog(image, w.spectrogram_settings(), w.track.spec)
        # Save beside the target and move into place, so a failed save never leaves a broken PNG.
        partial = args.out.with_name(args.out.stem + ".partial.png")
        if not image.save(str(partial)):
            fail(f"could not write {partial}")
            return
        partial.replace(args.out)
        print(f"saved {args.out} ({image.width()}×{image.height()} px)")
        state["rc"] = 0
        w.session.dirty = False
        w.close()
        app.quit()

    w.file_opened.connect(opened)
    w.repair_finished.connect(repaired)
    w.repair_failed.connect(fail)
    w.error_shown.connect(lambda m: print("note:", m, file=sys.stderr))
    QTimer.singleShot(0, lambda: w.open_path(demo))
    QTimer.singleShot(600_000, lambda: fail("timed out"))
    app.exec()
    shutil.rmtree(tmp, ignore_errors=True)
    return state["rc"]


if __name__ == "__main__":
    sys.exit(main())
