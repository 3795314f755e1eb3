"""The status bar's two repair checks: the seam grade of the selected gap's repair and the open
file's null test (docs/architecture.md, section 2, step 8).

:class:`Badges` draws both from the window's workspace, so a badge never shows another file's
result or describes a bypassed repair as heard.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtWidgets import QLabel

from simdps_studio.session import checks

if TYPE_CHECKING:
    from simdps_studio.gui.mainwindow import MainWindow


class Badges:
    """The seam and null-test badges of the window's status bar.

    Parameters
    ----------
    window : MainWindow
        The document (``session``, ``workspace``, ``selected_gap``).
    seam_badge, null_badge : QLabel
        The labels the window placed in its status bar.
    """

    def __init__(self, window: MainWindow, seam_badge: QLabel, null_badge: QLabel) -> None:
        self.window = window
        self.seam_badge = seam_badge
        self.null_badge = null_badge

    def update_seam_badge(self) -> None:
        """The seam grade of the selected gap's repair (and, when it is bypassed, both badges
        say so)."""
        session, gap = self.window.session, self.window.selected_gap
        r = session.repair_for(gap) if (session and gap) else None
        if r is None:
            self._badge(self.seam_badge, "none", "seams: –")
            return
        if not r.enabled:  # the checks describe a repair that is not heard or exported now
            self._badge(self.seam_badge, "none", "seams: – (repair bypassed)")
            self._badge(self.null_badge, "none", "null test: – (repair bypassed)")
            return
        self.set_null_badge(self.window.workspace.null_ok)
        grade, db, drop_db = self.window.workspace.seam(r)
        if drop_db >= checks.LEVEL_WARN_DB:  # smooth seams do not make a fill that fades good
            text = f"! fill fades {drop_db:.0f} dB below the music · seams {db:+.1f} dB"
        else:
            word = {"ok": "seams smooth", "warn": "seams: listen", "bad": "seam click"}[grade]
            text = f"{'✓' if grade == 'ok' else '!'} {word} {db:+.1f} dB"
        self._badge(self.seam_badge, grade, text)

    def set_null_badge(self, ok: bool | None) -> None:
        """Record the open file's null test (None: none yet) and show it."""
        if self.window.workspace is not None:
            self.window.workspace.null_ok = ok
        self.update_null_badge()

    def update_null_badge(self) -> None:
        """The null-test badge, from the open file's workspace only: another file's result
        never shows."""
        workspace = self.window.workspace
        ok = workspace.null_ok if workspace is not None else None
        if ok is None:
            self._badge(self.null_badge, "none", "null test: –")
        elif ok:
            self._badge(self.null_badge, "ok", "✓ outside samples unchanged")
        else:
            self._badge(self.null_badge, "bad", "✗ outside samples changed")

    @staticmethod
    def _badge(label: QLabel, state: str, text: str) -> None:
        label.setText(text)
        label.setProperty("state", state)
        label.style().unpolish(label)
        label.style().polish(label)
