"""The base of the window's parts (file handling, repairs, candidates, …): the window they
belong to and the three things every part reads through it. docs/architecture.md, section 1."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from simdps_studio.core.types import Gap
    from simdps_studio.gui.mainwindow import MainWindow
    from simdps_studio.session.document import Session
    from simdps_studio.session.workspace import Workspace


class WindowPart:
    """A part of :class:`~simdps_studio.gui.mainwindow.MainWindow` that reads its document."""

    window: MainWindow

    @property
    def session(self) -> Session | None:
        """The window's open document (None: no file open)."""
        return self.window.session

    @property
    def workspace(self) -> Workspace | None:
        """The open document's working state."""
        return self.window.workspace

    @property
    def selected_gap(self) -> Gap | None:
        """The gap selected in the window."""
        return self.window.selected_gap
