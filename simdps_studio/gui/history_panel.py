"""The History list: the undo history as named steps, click (or Enter) to go to one
(docs/architecture.md, sections 1 and 2).

The steps come from :meth:`~simdps_studio.session.document.Session.history`; going to one is
:meth:`MainWindow.go_to_step <simdps_studio.gui.mainwindow.MainWindow.go_to_step>`, which takes
the road undo and redo take. The panel only shows and asks.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QAbstractItemView, QDockWidget, QListWidget, QListWidgetItem, QWidget

from simdps_studio.gui.theme import COLORS, qcolor
from simdps_studio.session.document import HistoryEntry

#: How the list names a step's status to a screen reader (the look shows it to the eye).
_SPOKEN = {"past": "", "current": ", current step", "undone": ", undone"}


class HistoryPanel(QDockWidget):
    """A dock with the undo history, oldest step first: the current step bold and selected,
    the undone ones dimmed (redo or a click brings them back until a new edit).

    Signals
    -------
    step_chosen(int)
        The user clicked a step or pressed Enter on it: its index in the history.
    """

    step_chosen = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("History", parent)
        self.setObjectName("historyDock")
        self.setFeatures(
            QDockWidget.DockWidgetClosable
            | QDockWidget.DockWidgetMovable
            | QDockWidget.DockWidgetFloatable
        )
        self.list = QListWidget()
        self.list.setObjectName("historyList")
        self.list.setAccessibleName("Undo history")
        self.list.setAccessibleDescription("Enter or a click goes back (or forward) to that step")
        self.list.setSelectionMode(QAbstractItemView.SingleSelection)
        self.list.setMinimumWidth(self.fontMetrics().horizontalAdvance("M") * 16)
        # A click goes there; the arrow keys only move the highlight, Enter goes there.
        self.list.itemClicked.connect(self._chosen)
        self.list.itemActivated.connect(self._chosen)
        self.setWidget(self.list)
        self.entries: list[HistoryEntry] = []
        self._stale = False

    def set_history(self, entries: list[HistoryEntry]) -> None:
        """Show ``entries`` (empty: no file open) and scroll to the current step; while the
        dock is hidden, only keep them (a full list takes ~15 ms to fill: not on every edit)."""
        self.entries = list(entries)
        self._stale = self.isHidden()
        if not self._stale:
            self._fill()

    def showEvent(self, ev) -> None:
        super().showEvent(ev)
        if self._stale:
            self._stale = False
            self._fill()

    def _fill(self) -> None:
        self.list.clear()
        current = None
        for entry in self.entries:
            item = QListWidgetItem(entry.label)
            item.setData(Qt.UserRole, entry.index)
            item.setData(Qt.AccessibleTextRole, entry.label + _SPOKEN[entry.status])
            if entry.status == "current":
                font = QFont(item.font())
                font.setBold(True)
                item.setFont(font)
                current = item
            elif entry.status == "undone":
                item.setForeground(qcolor(COLORS.text_dim, 150))
                item.setToolTip("Undone: click to redo up to here")
            self.list.addItem(item)
        if current is not None:
            self.list.setCurrentItem(current)
            self.list.scrollToItem(current)

    def _chosen(self, item: QListWidgetItem) -> None:
        self.step_chosen.emit(int(item.data(Qt.UserRole)))
