"""The dark neutral theme: one palette for Qt widgets (style sheet) and pyqtgraph items.

Neutral greys like professional audio editors, the waveform in a quiet steel blue, and exactly two
accents: amber for gaps (and their repairs), cyan for candidates. Status colours (green, amber, red)
appear only in the seam and null-test badges. Sizes in the style sheet are in logical pixels, which
Qt scales with the screen's device pixel ratio, so 200 % scaling stays proportionate.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from PySide6.QtGui import QColor, QFont, QIcon, QPalette
from PySide6.QtWidgets import QApplication

from simdps_studio.core.paths import resources_dir


@dataclass(frozen=True)
class Colors:
    """Every colour the app uses, as ``#rrggbb``."""

    bg: str = "#1b1c1f"  # window background, plot backgrounds
    panel: str = "#232529"  # side panels, toolbars
    panel_alt: str = "#2b2e33"  # inputs, alternating rows, headers
    border: str = "#3a3d44"
    hover: str = "#34373d"
    text: str = "#d9dce1"
    text_dim: str = "#8d939c"
    grid: str = "#2e3136"
    wave: str = "#8fa6bd"  # source waveform
    wave_repaired: str = "#f6d399"  # repaired samples (a light tint of the gap accent)
    gap: str = "#f0a030"  # accent 1: gaps, repairs
    candidate: str = "#38bdf8"  # accent 2: candidates
    playhead: str = "#f4f5f7"
    ok: str = "#4cc38a"
    warn: str = "#e5b93a"
    bad: str = "#ef5b5b"


COLORS = Colors()


def qcolor(hex_rgb: str, alpha: int = 255) -> QColor:
    """A QColor from ``#rrggbb`` and an alpha in 0..255."""
    c = QColor(hex_rgb)
    c.setAlpha(alpha)
    return c


def icon(name: str) -> QIcon:
    """An icon from ``resources/icons/<name>.svg`` (an empty icon when missing)."""
    path = resources_dir() / "icons" / f"{name}.svg"
    return QIcon(str(path)) if path.is_file() else QIcon()


def style_sheet(colors: Colors = COLORS) -> str:
    """``resources/style.qss`` with its ``@name`` tokens replaced by the palette's colours."""
    path = resources_dir() / "style.qss"
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return ""
    # Images by absolute path (forward slashes on every system, as Qt's url() wants).
    text = text.replace("@icons", (resources_dir() / "icons").as_posix())
    # Longest names first, so "@panel_alt" is not eaten by "@panel".
    for name, value in sorted(asdict(colors).items(), key=lambda kv: -len(kv[0])):
        text = text.replace(f"@{name}", value)
    return text


def apply_theme(app: QApplication, colors: Colors = COLORS) -> None:
    """Fusion style, a dark palette (for what the style sheet leaves alone) and the style sheet."""
    import pyqtgraph as pg

    app.setStyle("Fusion")
    pal = QPalette()
    roles = {
        QPalette.Window: colors.bg,
        QPalette.WindowText: colors.text,
        QPalette.Base: colors.panel_alt,
        QPalette.AlternateBase: colors.panel,
        QPalette.ToolTipBase: colors.panel_alt,
        QPalette.ToolTipText: colors.text,
        QPalette.Text: colors.text,
        QPalette.Button: colors.panel_alt,
        QPalette.ButtonText: colors.text,
        QPalette.BrightText: "#ffffff",
        QPalette.Highlight: "#3d5a75",
        QPalette.HighlightedText: "#ffffff",
        QPalette.Link: colors.candidate,
        QPalette.PlaceholderText: colors.text_dim,
    }
    for role, value in roles.items():
        pal.setColor(role, QColor(value))
    for role in (QPalette.WindowText, QPalette.Text, QPalette.ButtonText):
        pal.setColor(QPalette.Disabled, role, QColor("#5d626a"))
    app.setPalette(pal)
    font = app.font()
    if font.pointSizeF() < 9.5:
        font.setPointSizeF(9.5)
    font.setHintingPreference(QFont.PreferNoHinting)
    app.setFont(font)
    app.setStyleSheet(style_sheet(colors))
    pg.setConfigOptions(background=colors.bg, foreground=colors.text_dim, antialias=False)
