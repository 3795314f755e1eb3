"""Render ``resources/icons/simdps-studio.svg`` to PNG (256 px by default) with Qt's SVG renderer.

Usage: ``.venv/bin/python packaging/render_icon.py [--size 256] [--out PATH]``. The PNG is committed
(``resources/icons/simdps-studio.png``) because desktop environments and some packagers (the
``.desktop`` file's icon, Windows ``.ico``, macOS ``.icns``) want a bitmap.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SVG = ROOT / "resources" / "icons" / "simdps-studio.svg"


def render_png(svg: Path, out: Path, size_px: int = 256) -> Path:
    """Render ``svg`` into a square ``size_px`` PNG with a transparent background; returns ``out``."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QGuiApplication, QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    _app = QGuiApplication.instance() or QGuiApplication(sys.argv[:1])
    renderer = QSvgRenderer(str(svg))
    if not renderer.isValid():
        raise SystemExit(f"error: not a valid SVG: {svg}")
    image = QImage(size_px, size_px, QImage.Format_ARGB32_Premultiplied)
    image.fill(Qt.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.Antialiasing)
    renderer.render(painter)
    painter.end()
    out.parent.mkdir(parents=True, exist_ok=True)
    if not image.save(str(out), "PNG"):
        raise SystemExit(f"error: cannot write {out}")
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=256, help="edge length in pixels")
    p.add_argument("--out", type=Path, default=None, help="default: beside the SVG")
    args = p.parse_args()
    out = args.out or SVG.with_suffix(".png")
    print(render_png(SVG, out, args.size))
    return 0


if __name__ == "__main__":
    sys.exit(main())
