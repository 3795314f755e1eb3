"""The side panels (gaps, candidates, repair with the ω slider and takes) and the transport bar.

Panels only show state and emit what the user asked for; the main window decides what happens.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence

from PySide6.QtCore import QEvent, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QDoubleValidator, QFontMetrics, QPainter, QPen
from PySide6.QtWidgets import (
    QAbstractItemView,
    QAbstractSlider,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QSlider,
    QSpinBox,
    QStyledItemDelegate,
    QToolButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from simdps_studio.core.progress import RemainingTime, format_remaining
from simdps_studio.core.types import Gap
from simdps_studio.gui.analysis import format_time
from simdps_studio.gui.theme import COLORS, icon, qcolor
from simdps_studio.session.engines import (
    AUTO_OMEGA_RULE,
    DIFFUSION_MARGIN_MS,
    DRAFT_STEPS,
    FULL_STEPS,
    MAX_MARGIN_MS,
    OMEGA_PRESETS,
)
from simdps_studio.session.repair import METHOD_LABELS

#: ω_x̃ range of the slider and its marked settings: the SimDPS paper's relaxed 0.04 and strict
#: 0.15, and the weight at which the fill reproduces the candidate (``copy``; measured, see
#: ``inpaint.settings.OMEGA_PRESETS``), as (ω, label, name).
OMEGA_MAX = 0.60
OMEGA_MARKS = tuple(
    (OMEGA_PRESETS[name], f"{OMEGA_PRESETS[name]:g}", name)
    for name in ("free", "relaxed", "strict", "copy")
)
#: Slider positions from 0 to OMEGA_MAX. The position goes with sqrt(ω), so the paper's small
#: settings are not squeezed against the left end: 0.04, 0.15 and 0.5 sit at 26, 50 and 91 %.
SLIDER_STEPS = 1000


def omega_to_position(omega: float) -> int:
    """Slider position (0..SLIDER_STEPS) of a candidate weight ω (clamped to 0..OMEGA_MAX)."""
    fraction = min(max(float(omega), 0.0), OMEGA_MAX) / OMEGA_MAX
    return int(round(math.sqrt(fraction) * SLIDER_STEPS))


#: The values a slider position can give: below each limit ω, steps of this size. A pixel of a
#: drag spans several positions (about 0.0006 in ω near 0.15), so without a grid a drag to the
#: paper's 0.15 lands on 0.149 or 0.151; every step is coarser than half a position's ω and each
#: marked setting lies on the grid, so every grid value has a position of its own.
OMEGA_GRID = ((0.1, 0.002), (0.3, 0.005), (OMEGA_MAX, 0.01))


def omega_step(omega: float) -> float:
    """The grid step of the slider's values at ``omega`` (:data:`OMEGA_GRID`)."""
    return next((step for limit, step in OMEGA_GRID if omega < limit - 1e-9), OMEGA_GRID[-1][1])


def quantize_omega(omega: float) -> float:
    """``omega`` on the slider's grid (:data:`OMEGA_GRID`), clamped to 0..OMEGA_MAX."""
    omega = min(max(float(omega), 0.0), OMEGA_MAX)
    step = omega_step(omega)
    return min(round(round(omega / step) * step, 3), OMEGA_MAX)


def next_omega(omega: float, direction: int) -> float:
    """The grid value after ``omega`` going up (``direction`` > 0) or down: one keyboard step."""
    q = quantize_omega(omega)
    if direction > 0:
        return q if q > omega + 1e-9 else quantize_omega(q + omega_step(q))
    if q < omega - 1e-9:
        return q
    return quantize_omega(q - omega_step(max(q - 1e-6, 0.0)))


def position_to_omega(position: int) -> float:
    """The ω of a slider position, on the slider's grid (:func:`quantize_omega`)."""
    fraction = min(max(position, 0), SLIDER_STEPS) / SLIDER_STEPS
    return quantize_omega(OMEGA_MAX * fraction**2)


def is_typed_key(ev) -> bool:
    """True for a key that types a character (letters, digits, Space; Shift allowed)."""
    text = ev.text()
    return ev.modifiers() in (Qt.NoModifier, Qt.ShiftModifier) and text != "" and text.isprintable()


def _hz_or_none(text: str) -> float | None:
    """A band field's value in Hz (the locale's decimal comma too), None when empty."""
    text = text.strip().replace(",", ".")
    return float(text) if text else None


def snap_position(old: int, new: int) -> int:
    """``new``, or the first marked setting's position passed on the way from ``old`` to it.

    A mark the slider already sits on does not hold it back, so repeated steps move on.
    """
    marks = sorted(omega_to_position(value) for value, _, _ in OMEGA_MARKS)
    if new > old:
        return next((m for m in marks if old < m < new), new)
    if new < old:
        return next((m for m in reversed(marks) if new < m < old), new)
    return new


#: Rows of the takes list always in view.
MIN_TAKE_ROWS = 3

#: The repair methods offered, as (label, request name).
METHODS = (("Auto", "auto"), *((METHOD_LABELS[m], m) for m in ("simdps", "dps", "sim", "lpc")))


def format_length(seconds: float) -> str:
    """A gap's length as the panels show it: ``"600 ms"`` below a second, else ``"2.400 s"``."""
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.3f} s"


def method_label(name: str) -> str:
    """A method as the Method box names it (``"simdps"`` -> ``"SimDPS"``), everywhere (the
    undo history too: ``session.repair.METHOD_LABELS``)."""
    return "Auto" if name == "auto" else METHOD_LABELS.get(name, name)


def panel(title: str, hint: str = "") -> tuple[QFrame, QVBoxLayout, QLabel]:
    """A titled panel frame; returns (frame, body layout, hint label)."""
    frame = QFrame()
    frame.setObjectName("panel")
    lay = QVBoxLayout(frame)
    lay.setContentsMargins(10, 8, 10, 10)
    lay.setSpacing(6)
    head = QHBoxLayout()
    t = QLabel(title)
    t.setObjectName("panelTitle")
    h = QLabel(hint)
    h.setObjectName("panelHint")
    head.addWidget(t)
    head.addStretch(1)
    head.addWidget(h)
    lay.addLayout(head)
    return frame, lay, h


def _tree(headers: Sequence[str]) -> QTreeWidget:
    tree = QTreeWidget()
    tree.setHeaderLabels(list(headers))
    tree.setRootIsDecorated(False)
    tree.setUniformRowHeights(True)
    tree.setAlternatingRowColors(True)
    tree.setSelectionMode(QAbstractItemView.SingleSelection)
    tree.setAllColumnsShowFocus(True)
    tree.header().setStretchLastSection(False)
    tree.header().setSectionResizeMode(QHeaderView.ResizeToContents)
    tree.setVerticalScrollMode(QAbstractItemView.ScrollPerPixel)
    return tree


# ----------------------------------------------------------------------------------- gaps


class GapsPanel(QWidget):
    """The list of gaps: number, start, length, repair method, and an enable checkbox.

    Signals: ``selected(Gap)``, ``enable_toggled(Gap, bool)``, ``delete_requested(Gap)``.
    """

    selected = Signal(object)
    enable_toggled = Signal(object, bool)
    delete_requested = Signal(object)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.frame, lay, self.hint = panel("Gaps", "drag on the waveform to add")
        self.tree = _tree(["#", "Start", "Length", "Repair", "On"])
        self.tree.setToolTip(
            "Gaps of this file. Select one to work on it; the checkbox bypasses its repair; "
            "Delete removes the gap."
        )
        self.tree.setAccessibleName("Gaps")
        self.tree.headerItem().setToolTip(
            0, "Gaps are numbered in time order: adding an earlier gap moves the numbers on"
        )
        self.tree.header().setSectionResizeMode(3, QHeaderView.Stretch)
        self.tree.itemSelectionChanged.connect(self._sel)
        self.tree.itemChanged.connect(self._changed)
        lay.addWidget(self.tree)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(self.frame)
        self._updating = False
        self._gaps: list[Gap] = []

    def set_gaps(self, gaps: Sequence[Gap], sr: int, repairs: dict, selected: Gap | None) -> None:
        """Refill the list; ``repairs`` maps Gap -> Repair."""
        self._updating = True
        self.tree.clear()
        self._gaps = list(gaps)
        for i, g in enumerate(gaps, start=1):
            r = repairs.get(g)
            length = g.duration_s(sr)
            item = QTreeWidgetItem(
                [
                    str(i),
                    format_time(g.start_s(sr)),
                    format_length(length),
                    "—" if r is None else method_label(r.method),
                    "",
                ]
            )
            item.setData(0, Qt.UserRole, i - 1)
            for col in (0, 2):
                item.setTextAlignment(col, Qt.AlignRight | Qt.AlignVCenter)
            if r is not None:
                item.setFlags(item.flags() | Qt.ItemIsUserCheckable)
                item.setCheckState(4, Qt.Checked if r.enabled else Qt.Unchecked)
                item.setToolTip(4, "Apply this repair (uncheck to bypass it)")
            item.setForeground(0, QColor(COLORS.gap))
            self.tree.addTopLevelItem(item)
            if g == selected:
                item.setSelected(True)
                self.tree.setCurrentItem(item)
        self.hint.setText(
            f"{len(gaps)} gap{'s' if len(gaps) != 1 else ''}"
            if gaps
            else "drag on the waveform to add"
        )
        self._updating = False

    def _gap_of(self, item: QTreeWidgetItem | None) -> Gap | None:
        if item is None:
            return None
        i = item.data(0, Qt.UserRole)
        return self._gaps[i] if i is not None and 0 <= i < len(self._gaps) else None

    def _sel(self) -> None:
        if self._updating:
            return
        items = self.tree.selectedItems()
        g = self._gap_of(items[0]) if items else None
        if g is not None:
            self.selected.emit(g)

    def _changed(self, item: QTreeWidgetItem, column: int) -> None:
        if self._updating or column != 4:
            return
        g = self._gap_of(item)
        if g is not None:
            self.enable_toggled.emit(g, item.checkState(4) == Qt.Checked)

    def keyPressEvent(self, ev):
        if ev.key() in (Qt.Key_Delete, Qt.Key_Backspace):
            g = self._gap_of(self.tree.currentItem())
            if g is not None:
                self.delete_requested.emit(g)
                return
        super().keyPressEvent(ev)


# ----------------------------------------------------------------------------------- candidates


class ScoreDelegate(QStyledItemDelegate):
    """Draws a 0–1 score as a thin bar in the candidate colour behind the number."""

    def paint(self, painter: QPainter, option, index) -> None:
        # The row (and its selection highlight) first, the bar over it: drawn before, the
        # selection covered the chosen candidate's bar.
        super().paint(painter, option, index)
        score = index.data(Qt.UserRole)
        if isinstance(score, float):
            r = option.rect.adjusted(3, option.rect.height() - 6, -3, -3)
            painter.save()
            painter.fillRect(r, qcolor(COLORS.border))
            w = int(r.width() * min(max(score, 0.0), 1.0))
            painter.fillRect(r.adjusted(0, 0, w - r.width(), 0), qcolor(COLORS.candidate, 200))
            painter.restore()


class CandidatesPanel(QWidget):
    """Ranked candidates for the selected gap.

    Signals: ``chosen(int rank)`` when a row becomes current, ``audition(int rank)`` on the play
    button, Enter or a double click (the play button leaves the current row as it is).
    """

    chosen = Signal(int)
    audition = Signal(int)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.frame, lay, self.hint = panel("Candidates", "")
        self.tree = _tree(["#", "Time", "Score", "Timbre", "Harm.", "Gain", ""])
        self.tree.setAccessibleName("Candidates")
        self.tree.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.tree.header().setSectionResizeMode(2, QHeaderView.Stretch)
        self.tree.headerItem().setToolTip(3, "Short-range (timbre, onsets) context distance")
        self.tree.headerItem().setToolTip(4, "Long-range (harmony, rhythm) context distance")
        self.tree.headerItem().setToolTip(5, "Gain applied to the candidate (dB)")
        self.tree.setItemDelegateForColumn(2, ScoreDelegate(self.tree))
        self.tree.setToolTip(
            "Passages of the track whose surroundings match the gap's. Timbre and harmony are the "
            "short- and long-range context distances (lower is closer). Enter or ▶ plays the "
            "candidate in place, with the real crossfades."
        )
        self.tree.currentItemChanged.connect(self._current)
        self.tree.itemActivated.connect(lambda item, col: self._audition_item(item))
        self.status = QLabel("Select a gap to search for candidates.")
        self.status.setObjectName("dim")
        self.status.setWordWrap(True)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(False)
        self.progress.setFixedHeight(6)
        self.progress.hide()
        lay.addWidget(self.tree, 1)
        lay.addWidget(self.progress)
        lay.addWidget(self.status)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(self.frame)
        self._updating = False
        self.candidates: list = []

    def set_title(self, gap_number: int | None, start_s: float | None = None) -> None:
        """``gap #n at m:ss.mmm``: gaps are numbered in time order, so the start names the gap
        when an earlier one is added."""
        at = "" if start_s is None else f" at {format_time(start_s)}"
        self.hint.setText(f"gap #{gap_number}{at}" if gap_number else "")

    def set_busy(self, message: str, fraction: float | None = None) -> None:
        self.status.setText(message)
        self.progress.setVisible(fraction is not None)
        if fraction is not None:
            self.progress.setValue(int(fraction * 1000))

    def set_candidates(self, candidates: Sequence, chosen_rank: int | None) -> None:
        """Fill the list (Candidate objects from the search)."""
        self._updating = True
        self.tree.clear()
        self.candidates = list(candidates)
        self.progress.hide()
        for c in candidates:
            item = QTreeWidgetItem(
                [
                    str(c.rank),
                    format_time(c.start_s),
                    f"{c.score:.2f}",
                    f"{c.cost_stft:.2f}",
                    f"{c.cost_chroma:.2f}",
                    f"{c.gain_db:+.1f}",
                    "",
                ]
            )
            item.setData(0, Qt.UserRole, c.rank)
            item.setData(2, Qt.UserRole, float(c.score))
            for col in range(6):
                item.setTextAlignment(col, Qt.AlignRight | Qt.AlignVCenter)
            item.setForeground(0, QColor(COLORS.candidate))
            self.tree.addTopLevelItem(item)
            btn = QToolButton()
            btn.setIcon(icon("play"))
            btn.setIconSize(QSize(12, 12))
            btn.setAutoRaise(True)
            btn.setToolTip(f"Play candidate {c.rank} in place")
            btn.setAccessibleName(f"Play candidate {c.rank} in place")
            btn.setFocusPolicy(Qt.NoFocus)
            btn.clicked.connect(lambda _=False, rank=c.rank: self.audition.emit(rank))
            self.tree.setItemWidget(item, 6, btn)
            if c.rank == chosen_rank:
                self.tree.setCurrentItem(item)
        if candidates:
            self.status.setText("Click a row to use it; Enter or ▶ auditions it in place.")
        self._updating = False

    def clear(self, message: str = "Select a gap to search for candidates.") -> None:
        self._updating = True
        self.tree.clear()
        self.candidates = []
        self._updating = False
        self.set_busy(message)

    def current_rank(self) -> int | None:
        item = self.tree.currentItem()
        return None if item is None else int(item.data(0, Qt.UserRole))

    def select_rank(self, rank: int) -> None:
        for i in range(self.tree.topLevelItemCount()):
            item = self.tree.topLevelItem(i)
            if int(item.data(0, Qt.UserRole)) == rank:
                self.tree.setCurrentItem(item)

    def _current(self, item, _prev) -> None:
        if not self._updating and item is not None:
            self.chosen.emit(int(item.data(0, Qt.UserRole)))

    def _audition_item(self, item) -> None:
        if item is not None:
            self.audition.emit(int(item.data(0, Qt.UserRole)))


# ----------------------------------------------------------------------------------- ω slider


class OmegaScale(QWidget):
    """Marks under the ω slider: the value and name of free (0) and the paper's settings."""

    def __init__(self, slider: QSlider, parent=None):
        super().__init__(parent)
        self.slider = slider
        fm = QFontMetrics(self.font())
        self.setMinimumHeight(2 * fm.height() + 6)
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Fixed)

    def _x(self, value: float) -> float:
        # The handle's centre travels between half a handle width from each end.
        handle = 14.0
        return handle / 2 + (self.width() - handle) * omega_to_position(value) / SLIDER_STEPS

    def paintEvent(self, ev):
        p = QPainter(self)
        fm = QFontMetrics(self.font())
        enabled = self.isEnabled()
        dim = QColor(COLORS.text_dim if enabled else "#5d626a")
        strong = QColor(COLORS.text if enabled else "#5d626a")
        h = fm.height()
        for i, (v, number, name) in enumerate(OMEGA_MARKS):
            x = self._x(v)
            p.setPen(QPen(strong, 1))
            p.drawLine(int(round(x)), 0, int(round(x)), 4)
            for row, (text, color) in enumerate(((number, strong), (name, dim))):
                w = fm.horizontalAdvance(text)
                left = x - w / 2 if i else 0.0  # "free" starts at the left end
                left = min(max(left, 0.0), self.width() - w)
                p.setPen(QPen(color, 1))
                p.drawText(QRectF(left, 4 + row * h, w + 2, h + 2), Qt.AlignLeft, text)
        p.end()


class OmegaControl(QWidget):
    """ω_x̃ from 0 ("free": plain DPS) to strict (follow the candidate), paper settings marked.

    An "Auto" check box hands the choice to :func:`~simdps_studio.session.engines.auto_omega`:
    the slider then shows the value Auto will use for the current candidate
    (:meth:`show_auto_value`), while :meth:`value` keeps the user's manual ω for when Auto is
    turned off again. Moving the slider (drag, click or key) while Auto is on takes ω over, as
    touching a fader overrides its automation: Auto is unticked, the move starts from Auto's value,
    and ``taken_over()`` fires so the window can say so. ``changed(float)`` carries the manual
    ω; it also fires when Auto toggles.
    """

    changed = Signal(float)
    taken_over = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self._manual = OMEGA_PRESETS["strict"]
        self._auto_value: float | None = None
        self._showing = False  # True while the slider is moved to display Auto's value
        self.slider = QSlider(Qt.Horizontal)
        self.slider.setRange(0, SLIDER_STEPS)
        self.slider.setSingleStep(5)
        self.slider.setPageStep(50)
        self.slider.setAccessibleName("Candidate weight omega")
        self.slider.actionTriggered.connect(self._user_moved)
        self.slider.setToolTip(
            "ω: how strictly SimDPS follows the chosen candidate. 0 = free (plain DPS); the "
            "paper's settings are 0.04 (relaxed) and 0.15 (strict); at "
            f"{OMEGA_PRESETS['copy']:g} (copy) the fill reproduces the candidate and the "
            "diffusion only shapes the seams. Arrow keys take small steps, Page Up/Down large ones."
            "\nWith Auto on, moving the slider turns Auto off and sets ω by hand."
        )
        self.auto = QCheckBox("Auto")
        self.auto.setAccessibleName("Automatic omega")
        self.auto.setToolTip(
            "Auto: choose ω from the chosen candidate's similarity score: "
            f"{AUTO_OMEGA_RULE}.\nMoving the slider unticks it (ω by hand)."
        )
        self.value_label = QLabel()
        self.value_label.setObjectName("readout")
        fm = QFontMetrics(self.font())
        self.value_label.setMinimumWidth(fm.horizontalAdvance("0.000 auto") + 6)
        self.value_label.setAlignment(Qt.AlignRight | Qt.AlignVCenter)
        self.scale = OmegaScale(self.slider)
        grid = QGridLayout(self)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setHorizontalSpacing(8)
        grid.setVerticalSpacing(0)
        grid.addWidget(self.slider, 0, 0)
        grid.addWidget(self.value_label, 0, 1)
        grid.addWidget(self.scale, 1, 0)
        # Under the readout, where the scale's second text row leaves room: the slider keeps its width.
        grid.addWidget(self.auto, 1, 1, Qt.AlignRight | Qt.AlignTop)
        self.slider.valueChanged.connect(self._moved)
        self.auto.toggled.connect(self._auto_toggled)
        self.auto.setChecked(True)  # a fresh install lets the candidate's score choose

    def value(self) -> float:
        """The manual ω (the slider's value whenever Auto is off)."""
        return self._manual

    def set_value(self, omega: float) -> None:
        """Set the manual ω; shown at once unless Auto is on."""
        self._manual = round(min(max(float(omega), 0.0), OMEGA_MAX), 3)
        self._refresh()
        self.changed.emit(self._manual)

    def is_auto(self) -> bool:
        """True while ω is chosen from the candidate's score."""
        return self.auto.isChecked()

    def set_auto(self, on: bool) -> None:
        """Turn Auto on or off (as the check box does)."""
        self.auto.setChecked(bool(on))

    def show_auto_value(self, omega: float | None) -> None:
        """The ω Auto would use for the current candidate (``None``: no candidate known yet)."""
        self._auto_value = None if omega is None else float(omega)
        if self.is_auto():
            self._refresh()

    def _auto_toggled(self, on: bool) -> None:
        self._refresh()
        self.changed.emit(self._manual)

    def _refresh(self) -> None:
        if not self.is_auto():
            self._show(self._manual)
        elif self._auto_value is None:  # no candidate yet: the slider rests at manual
            self._show(self._manual, "auto")
        else:
            self._show(self._auto_value, f"{self._auto_value:.3f} auto")

    def _show(self, omega: float, text: str | None = None) -> None:
        """Move the slider and set the readout without touching the manual value."""
        self._showing = True
        try:
            self.slider.setValue(omega_to_position(omega))
        finally:
            self._showing = False
        self.value_label.setText(f"{omega:.3f}" if text is None else text)
        self._describe(omega, ", automatic" if self.is_auto() else "")

    def _moved(self, v: int) -> None:
        if self._showing or self.is_auto():
            return
        self._manual = position_to_omega(v)
        self.value_label.setText(f"{self._manual:.3f}")
        self._describe(self._manual)
        self.changed.emit(self._manual)

    def _user_moved(self, action: int) -> None:
        """A move the user made (drag, click or key), before the slider takes its position
        (``actionTriggered``, which programmatic moves do not send).

        With Auto on, the move takes ω over (:meth:`_take_over`). An arrow key steps to the
        next value of the grid (:func:`next_omega`); a key step that would pass a marked setting
        stops on it (0.04, 0.15, 0.5). Mouse drags keep their position (the grid rounds it).
        """
        if self.is_auto():
            self._take_over()
        singles = {
            QAbstractSlider.SliderSingleStepAdd.value: 1,
            QAbstractSlider.SliderSingleStepSub.value: -1,
        }
        pages = (QAbstractSlider.SliderPageStepAdd.value, QAbstractSlider.SliderPageStepSub.value)
        old = self.slider.value()
        if action in singles:  # the signal carries a plain int
            omega = next_omega(position_to_omega(old), singles[action])
            self.slider.setSliderPosition(omega_to_position(omega))
        elif action not in pages:
            return
        self.slider.setSliderPosition(snap_position(old, self.slider.sliderPosition()))

    def _take_over(self) -> None:
        """Auto off, ω by hand from Auto's value; the move in progress keeps its target."""
        target = self.slider.sliderPosition()
        self._manual = position_to_omega(self.slider.value())  # Auto's value, on the grid
        self.auto.setChecked(False)  # shows the manual ω: the slider's value and position
        self.slider.setSliderPosition(target)
        self.taken_over.emit()

    def _describe(self, omega: float, suffix: str = "") -> None:
        """What a screen reader says for the slider: ω itself, not the slider's position."""
        mark = next((name for value, _, name in OMEGA_MARKS if abs(value - omega) < 5e-4), "")
        self.slider.setAccessibleName(
            f"Candidate weight omega {omega:.3f}{f' ({mark})' if mark else ''}{suffix}"
        )

    def changeEvent(self, ev):
        super().changeEvent(ev)
        self.scale.update()


# ----------------------------------------------------------------------------------- repair


class RepairPanel(QWidget):
    """Method, ω, steps, takes, seed, Draft, model; Run/Stop with progress; the takes list.

    Signals: ``run()``, ``stop()``, ``take_chosen(int index)``, ``settings_changed()``,
    ``compare_sim()`` (the fit warning's link), ``choose_model()`` (the model line's link).
    """

    run = Signal()
    stop = Signal()
    take_chosen = Signal(int)
    settings_changed = Signal()
    compare_sim = Signal()  # the warning's link: run Sim on the gap, keeping these settings
    choose_model = Signal()  # the model line's link: offer the installed models

    def __init__(self, parent=None):
        super().__init__(parent)
        self.frame, lay, self.hint = panel("Repair", "")
        form = QGridLayout()
        form.setHorizontalSpacing(8)
        form.setVerticalSpacing(6)
        self.method = QComboBox()
        for label, name in METHODS:
            self.method.addItem(label, name)
        self.method.setToolTip(
            "Auto: LPC below 50 ms, else SimDPS when a model is installed, else Sim.\n"
            "SimDPS: diffusion guided by the chosen candidate.  DPS: diffusion alone.\n"
            "Sim: paste the candidate with crossfades.  LPC: linear prediction (short gaps)."
        )
        self.omega = OmegaControl()
        # Its scale names stay readable when a warning takes room below.
        self.omega.setMinimumHeight(self.omega.sizeHint().height())
        self.steps = QSpinBox()
        self.steps.setRange(2, 400)
        self.steps.setValue(FULL_STEPS)
        self.steps.setToolTip(
            f"Sampler steps (the paper uses {FULL_STEPS}; Draft keeps its own, {DRAFT_STEPS} by "
            "default).\nTime grows with the steps: 20 full steps take about 40 % less and were "
            "measured 0.1 dB worse at ω 0.15 (docs/sampler.md, Number of steps)"
        )
        # Steps of the mode not shown: Draft and the full sampler each keep their own.
        self._steps_of = {False: FULL_STEPS, True: DRAFT_STEPS}
        self.takes = QSpinBox()
        self.takes.setRange(1, 8)
        # One take by default: on a CPU each take costs a whole repair's time; on CUDA the
        # window raises it to two, which run as one batch (ModelController.device_ready).
        self.takes.setValue(1)
        self.takes.setToolTip(
            "Independent takes, each with its own seed, to compare.\nOn a CPU each take adds "
            "a whole repair's time; on a GPU they run together"
        )
        self.seed = QSpinBox()
        self.seed.setRange(0, 2**31 - 1)
        self.seed.setToolTip("Seed of the first take (results are reproducible)")
        self.draft = QCheckBox("Draft")
        self.draft.setToolTip("Fast mode without backpropagation: for previews and slow machines")
        self.margin = QDoubleSpinBox()
        self.margin.setRange(0.0, MAX_MARGIN_MS)
        self.margin.setDecimals(0)
        self.margin.setSuffix(" ms")
        self.margin.setValue(DIFFUSION_MARGIN_MS)
        self.margin.setToolTip(
            "Crossfade margin of DPS and SimDPS: the model's output is cross-faded with the "
            "source over this long outside each gap edge, as Sim's crossfades (0: the fill meets "
            "the source at the gap edge). The repaired span grows by the margins; "
            "docs/sampler.md, Crossfade margins"
        )
        # The band a repair replaces (session.band): empty fields are 0 Hz and Nyquist.
        self.band_lo, self.band_hi = QLineEdit(), QLineEdit()
        for field, placeholder in ((self.band_lo, "0"), (self.band_hi, "Nyquist")):
            field.setValidator(QDoubleValidator(0.0, 1e6, 1, field))
            field.setPlaceholderText(placeholder)
            field.setToolTip(
                "Repair only this frequency band (Hz): the fill replaces the band inside the "
                "gap, the rest keeps the source, with 200-Hz crossfades at the edges. Both "
                "empty: the whole spectrum"
            )
        self.band_lo.setAccessibleName("Band from, Hz")
        self.band_hi.setAccessibleName("Band to, Hz")
        band_box = QWidget()
        band_row = QHBoxLayout(band_box)
        band_row.setContentsMargins(0, 0, 0, 0)
        band_row.addWidget(self.band_lo, 1)
        band_row.addWidget(QLabel("–"))
        band_row.addWidget(self.band_hi, 1)
        band_row.addWidget(QLabel("Hz"))
        self.model = QLabel("")
        self.model.setObjectName("dim")
        self.model.setTextFormat(Qt.RichText)
        self.model.linkActivated.connect(lambda _link: self.choose_model.emit())

        def lbl(text: str, buddy: QWidget, name: str | None = None) -> QLabel:
            label = QLabel(text)
            label.setBuddy(buddy)  # a screen reader names the field by its label
            if name:
                buddy.setAccessibleName(name)
            return label

        form.addWidget(lbl("Method", self.method, "Repair method"), 0, 0)
        form.addWidget(self.method, 0, 1, 1, 5)
        form.addWidget(lbl("ω", self.omega.slider), 1, 0, Qt.AlignTop)
        form.addWidget(self.omega, 1, 1, 1, 5)
        form.addWidget(lbl("Steps", self.steps, "Sampler steps"), 2, 0)
        form.addWidget(self.steps, 2, 1)
        form.addWidget(lbl("Takes", self.takes, "Takes"), 2, 2)
        form.addWidget(self.takes, 2, 3)
        form.addWidget(lbl("Seed", self.seed, "Seed"), 2, 4)
        form.addWidget(self.seed, 2, 5)
        form.addWidget(lbl("Margin", self.margin, "Crossfade margin in milliseconds"), 3, 0)
        form.addWidget(self.margin, 3, 1)
        form.addWidget(lbl("Band", self.band_lo), 3, 2)
        form.addWidget(band_box, 3, 3, 1, 3)
        # Letters and Space typed into the method box choose a method (L: LPC), not the window's
        # one-key shortcuts (L: loop).
        self.method.installEventFilter(self)
        form.setColumnStretch(1, 1)
        form.setColumnStretch(3, 1)
        form.setColumnStretch(5, 2)
        lay.addLayout(form)

        row = QHBoxLayout()
        row.addWidget(self.draft)
        row.addStretch(1)
        self.run_btn = QPushButton(icon("run"), "Run")
        self.run_btn.setObjectName("primary")
        self.run_btn.setToolTip("Repair the selected gap (Ctrl+R)")
        self.stop_btn = QPushButton(icon("cancel"), "Stop")
        self.stop_btn.setToolTip("Cancel the running repair (Esc)")
        self.stop_btn.setEnabled(False)
        row.addWidget(self.run_btn)
        row.addWidget(self.stop_btn)
        lay.addLayout(row)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setValue(0)
        self.progress.setFormat("")
        self.progress_label = QLabel("")
        self.progress_label.setObjectName("dim")
        self.progress_label.hide()
        self.remaining = RemainingTime()
        self._message = ""
        self.progress.hide()
        # What a diffusion repair with these settings should take here, from measured runs.
        self.estimate = QLabel("")
        self.estimate.setObjectName("dim")
        self.estimate.setToolTip(
            "Sampling time expected for these settings, from the pace of earlier repairs "
            "on this machine and model"
        )
        self.estimate.hide()  # until there is one (set_estimate)
        lay.addWidget(self.estimate)
        lay.addWidget(self.progress)
        lay.addWidget(self.progress_label)
        # After a diffusion repair whose context the model fits poorly (engines.fit_warning).
        self.fit_warning = QLabel("")
        self.fit_warning.setObjectName("warning")
        self.fit_warning.setWordWrap(True)
        self.fit_warning.setTextFormat(Qt.RichText)
        self.fit_warning.linkActivated.connect(lambda _link: self.compare_sim.emit())
        # Tab reaches the links and Enter follows them, as a click does.
        for label in (self.fit_warning, self.model):
            label.setTextInteractionFlags(Qt.LinksAccessibleByMouse | Qt.LinksAccessibleByKeyboard)
        self.fit_warning.hide()
        lay.addWidget(self.fit_warning)
        lay.addWidget(self.model)

        takes_title = QLabel("Takes")
        takes_title.setObjectName("panelTitle")
        lay.addWidget(takes_title)
        self.takes_list = QListWidget()
        self.takes_list.setAccessibleName("Takes of this gap")
        self.takes_list.setToolTip(
            "Takes of the runs on this gap (newest last): select one to use it"
        )
        row_h = QFontMetrics(self.font()).height() + 8
        # Three takes in view (a run of three, or two runs to compare) also on a 1280×800 screen.
        self.takes_list.setMinimumHeight(MIN_TAKE_ROWS * row_h + 4)
        self.takes_list.setMaximumHeight(8 * row_h + 4)
        self.takes_list.currentRowChanged.connect(self._take)
        lay.addWidget(self.takes_list, 1)
        lay.addStretch(0)

        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(self.frame)
        self.run_btn.clicked.connect(self.run)
        self.stop_btn.clicked.connect(self.stop)
        self.method.currentIndexChanged.connect(self._method_changed)
        for w in (self.steps, self.takes, self.seed, self.margin):
            w.valueChanged.connect(self.settings_changed)
        for field in (self.band_lo, self.band_hi):
            field.textChanged.connect(self.settings_changed)
        self.draft.toggled.connect(self._draft_toggled)  # first: swaps the steps shown
        self.draft.toggled.connect(self.settings_changed)
        self.omega.changed.connect(self.settings_changed)
        self._updating = False
        self.running = False  # a repair is in progress (set_running)
        self._method_changed()

    def method_name(self) -> str:
        return str(self.method.currentData())

    def band_hz(self) -> tuple[float | None, float | None] | None:
        """The band fields as ``(lo_hz, hi_hz)``, None for an empty one; None when both are
        empty (the whole spectrum). The repair checks the band (``session.band.check_band``)."""
        lo, hi = (_hz_or_none(f.text()) for f in (self.band_lo, self.band_hi))
        return None if lo is None and hi is None else (lo, hi)

    def set_band_hz(self, band: tuple[float | None, float | None] | None) -> None:
        """Fill the band fields (None, or None for an edge: empty)."""
        lo, hi = band if band is not None else (None, None)
        self.band_lo.setText("" if lo is None else f"{lo:g}")
        self.band_hi.setText("" if hi is None else f"{hi:g}")

    def _draft_toggled(self, draft: bool) -> None:
        self._steps_of[not draft] = self.steps.value()
        self.steps.setValue(self._steps_of[draft])

    def steps_for(self, draft: bool) -> int:
        """Sampler steps of a mode: the field's value for the one shown, else the one kept."""
        return self.steps.value() if draft == self.draft.isChecked() else self._steps_of[draft]

    def set_steps(self, full: int, draft: int) -> None:
        """Set both modes' steps (the field shows the current mode's)."""
        self._steps_of = {False: int(full), True: int(draft)}
        self.steps.setValue(self._steps_of[self.draft.isChecked()])

    def set_method(self, name: str) -> None:
        i = self.method.findData(name)
        if i >= 0:
            self.method.setCurrentIndex(i)

    def _method_changed(self, *_):
        self._enable_settings()
        self.settings_changed.emit()

    def _enable_settings(self) -> None:
        """Settings the method uses are live, the others greyed; all are locked during a run."""
        m = self.method_name()
        diffusion = m in ("auto", "simdps", "dps")
        self.method.setEnabled(not self.running)
        self.omega.setEnabled(m in ("auto", "simdps") and not self.running)
        for w in (self.steps, self.takes, self.seed, self.draft, self.margin):
            w.setEnabled(diffusion and not self.running)
        for w in (self.band_lo, self.band_hi):  # every method can be band-limited
            w.setEnabled(not self.running)

    def eventFilter(self, obj, ev) -> bool:
        if obj is self.method and ev.type() == QEvent.ShortcutOverride and is_typed_key(ev):
            ev.accept()  # the combo box gets the key, not a window shortcut
            return True
        return super().eventFilter(obj, ev)

    def set_running(self, running: bool) -> None:
        self.running = running
        # The button that gets enabled first takes the focus from the one being disabled, so
        # Space on Run and Space again stops the repair.
        had_focus = self.run_btn.hasFocus() or self.stop_btn.hasFocus()
        first, second = (self.stop_btn, self.run_btn) if running else (self.run_btn, self.stop_btn)
        first.setEnabled(True)
        if had_focus:
            first.setFocus(Qt.OtherFocusReason)
        second.setEnabled(False)
        self._enable_settings()
        self.progress.setVisible(running)
        self.estimate.setVisible(not running and bool(self.estimate.text()))
        if running:
            self.set_fit_warning(None)
            self.progress.setValue(0)
            self.remaining.reset()
            self._message = ""

    def set_progress(self, fraction: float, message: str) -> None:
        self.progress.setValue(int(fraction * 1000))
        self.progress.setFormat(f"{fraction * 100:.0f} %")
        if message:
            self._message = message
        left = format_remaining(self.remaining.update(fraction, time.monotonic()))
        text = " · ".join(t for t in (self._message, left) if t)
        self.progress_label.setText(text)
        self.progress_label.setVisible(bool(text))  # no empty line in the panel

    def set_estimate(self, text: str) -> None:
        """The time a repair should take (empty: unknown); no empty line while there is none."""
        self.estimate.setText(text)
        self.estimate.setVisible(bool(text) and not self.running)

    def set_summary(self, text: str) -> None:
        """The line under Run, outside a run: what the take in use is."""
        self._message = text
        self.progress_label.setText(text)
        self.progress_label.setVisible(bool(text))

    def clear_progress(self) -> None:
        """No progress and no summary line: nothing has run on the open file yet."""
        self.progress.setValue(0)
        self._message = ""
        self.progress_label.setText("")
        self.progress_label.hide()

    def set_fit_warning(self, warning: str | None) -> None:
        """Show (or with None hide) that the model fits the selected gap's music poorly."""
        self.fit_warning.setVisible(bool(warning))
        self.fit_warning.setText(
            '⚠ Unfamiliar music for this model · <a href="sim">compare with Sim</a>'
        )
        self.fit_warning.setToolTip(f"{warning[0].upper()}{warning[1:]}." if warning else "")

    def set_takes(self, labels: Sequence[str], current: int | None) -> None:
        self._updating = True
        self.takes_list.clear()
        for text in labels:
            QListWidgetItem(text, self.takes_list).setToolTip(text)  # whole, where it is cut
        if current is not None and 0 <= current < len(labels):
            self.takes_list.setCurrentRow(current)
        self._updating = False

    def _take(self, row: int) -> None:
        if not self._updating and row >= 0:
            self.take_chosen.emit(row)


# ----------------------------------------------------------------------------------- transport


def split_at_width(text: str, fm: QFontMetrics, width: int) -> tuple[str, str]:
    """``text`` as the words that fit ``width`` pixels and the rest (a first word that does not
    fit stays whole on the first line)."""
    words = text.split(" ")
    n = 1
    while n < len(words) and fm.horizontalAdvance(" ".join(words[: n + 1])) <= width:
        n += 1
    return " ".join(words[:n]), " ".join(words[n:])


class ElidedLabel(QLabel):
    """A label of at most ``max_lines`` lines that wraps at spaces and shortens the last line
    with "…" to the width it gets.

    Its minimum width is zero, so a long message (e.g. why playback is off) never widens the
    window; the whole text is in the tooltip.
    """

    def __init__(self, text: str = "", parent=None, *, max_lines: int = 1):
        super().__init__(parent)
        self._full_text = ""
        self.max_lines = max_lines
        self.set_full_text(text)

    def set_full_text(self, text: str) -> None:
        self._full_text = text
        self.setToolTip(text)
        self._elide()

    def full_text(self) -> str:
        return self._full_text

    def sizeHint(self) -> QSize:
        fm = self.fontMetrics()
        return QSize(fm.horizontalAdvance(self._full_text) + 4, super().sizeHint().height())

    def minimumSizeHint(self) -> QSize:
        return QSize(0, super().minimumSizeHint().height())

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._elide()

    def _elide(self) -> None:
        fm, width = self.fontMetrics(), max(0, self.width())
        lines, rest = [], self._full_text
        while len(lines) < self.max_lines - 1 and fm.horizontalAdvance(rest) > width:
            line, rest = split_at_width(rest, fm, width)
            lines.append(line)
        shown = "\n".join([*lines, fm.elidedText(rest, Qt.ElideRight, width)])
        if shown != self.text():
            self.setText(shown)
            self.updateGeometry()  # one line more or less: the bar's height follows


class LevelMeter(QWidget):
    """Peak meter, one bar per channel, -60..0 dBFS, with a short peak hold."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.levels_db: list[float] = [-90.0, -90.0]
        self.hold_db: list[float] = [-90.0, -90.0]
        self.setMinimumWidth(140)
        self.setFixedHeight(max(16, QFontMetrics(self.font()).height()))
        self.setToolTip(self.describe())

    def set_levels(self, levels_db: Sequence[float]) -> None:
        levels = list(levels_db) or [-90.0]
        if len(self.hold_db) != len(levels):
            self.hold_db = list(levels)
        self.hold_db = [max(lv, h - 0.6) for lv, h in zip(levels, self.hold_db)]
        self.levels_db = levels
        self.setToolTip(self.describe())
        self.update()

    def describe(self) -> str:
        """The meter in words (its tooltip): scale, marks and the held peaks."""
        held = " · ".join("−∞" if h <= -60 else f"{h:.1f}".replace("-", "−") for h in self.hold_db)
        return (
            "Output peak level, −60 to 0 dBFS (marks at −24, −12 and −6; amber from −6, red from "
            f"−0.5)\nHeld peaks: {held} dBFS"
        )

    @staticmethod
    def _frac(db: float) -> float:
        return min(max((db + 60.0) / 60.0, 0.0), 1.0)

    def paintEvent(self, ev):
        p = QPainter(self)
        n = max(1, len(self.levels_db))
        h = (self.height() - (n - 1) * 2) / n
        for i, (lv, hold) in enumerate(zip(self.levels_db, self.hold_db)):
            y = i * (h + 2)
            r = QRectF(0, y, self.width(), h)
            p.fillRect(r, QColor(COLORS.panel_alt))
            w = self.width() * self._frac(lv)
            color = COLORS.ok if lv < -6 else COLORS.warn if lv < -0.5 else COLORS.bad
            p.fillRect(QRectF(0, y, w, h), QColor(color))
            x = self.width() * self._frac(hold)
            p.fillRect(QRectF(max(0.0, x - 1.5), y, 1.5, h), QColor(COLORS.text))
        # -12 and -6 dB marks
        p.setPen(QPen(QColor(COLORS.bg), 1))
        for db in (-24, -12, -6):
            x = int(self.width() * self._frac(db))
            p.drawLine(x, 0, x, self.height())
        p.end()


class TransportBar(QFrame):
    """Play/stop, loop gap with pre/post roll, A | B, position, level meter.

    Signals: ``play_toggled()``, ``variant_changed(bool is_b)``,
    ``roll_changed()``.
    """

    play_toggled = Signal()
    variant_changed = Signal(bool)
    roll_changed = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("transport")
        lay = QHBoxLayout(self)
        lay.setContentsMargins(8, 4, 8, 4)
        lay.setSpacing(6)
        self.play_btn = QToolButton()
        self.play_btn.setIcon(icon("play"))
        self.play_btn.setIconSize(QSize(18, 18))
        self.play_btn.setToolTip("Play / stop (Space)")
        self.play_btn.setAccessibleName("Play")
        # Shows the window's Loop gap action (``setDefaultAction``): text, icon, checked, enabled.
        self.loop_btn = QToolButton()
        self.loop_btn.setToolButtonStyle(Qt.ToolButtonTextBesideIcon)
        self.pre = QDoubleSpinBox()
        self.post = QDoubleSpinBox()
        for w, name in ((self.pre, "pre-roll"), (self.post, "post-roll")):
            w.setRange(0.0, 30.0)
            w.setSingleStep(0.5)
            w.setDecimals(1)
            w.setSuffix(" s")
            w.setValue(2.0 if name == "pre-roll" else 1.5)
            w.setToolTip(f"Loop {name} around the gap")
            w.setAccessibleName(f"Loop {name}")
            w.valueChanged.connect(self.roll_changed)
            # As wide as "30.0 s" and the arrows, not more: the bar must fit a 1024-px screen.
            w.setMaximumWidth(QFontMetrics(self.font()).horizontalAdvance("30.0 s") + 44)
        self.a_btn = QPushButton("A  original")
        self.b_btn = QPushButton("B  repaired")
        for btn, variant, tip in (
            (self.a_btn, "a", "Hear and show the original (A)"),
            (self.b_btn, "b", "Hear and show the repair (B)"),
        ):
            btn.setObjectName("abButton")
            btn.setProperty("variant", variant)
            btn.setCheckable(True)
            btn.setAutoExclusive(True)
            btn.setToolTip(tip + " — toggle with B")
            # As a transport's buttons: a click leaves the keyboard focus where it was, so Space
            # stays play/stop (a focused button would take it as a click); B toggles them.
            btn.setFocusPolicy(Qt.NoFocus)
        self.b_btn.setChecked(True)
        self.position = QLabel("0:00.000")
        self.position.setObjectName("readout")
        self.position.setMinimumWidth(
            QFontMetrics(self.font()).horizontalAdvance("0:00:00.000 / 0:00:00.000") + 8
        )
        self.meter = LevelMeter()
        # Why playback is off: room for two lines, so a 1280-px window shows it whole.
        self.message = ElidedLabel("", max_lines=2)
        self.message.setObjectName("dim")

        lay.addWidget(self.play_btn)
        lay.addSpacing(4)
        lay.addWidget(self.loop_btn)
        for text, w in (("pre", self.pre), ("post", self.post)):
            lab = QLabel(text)
            lab.setObjectName("dim")
            lay.addWidget(lab)
            lay.addWidget(w)
        lay.addSpacing(10)
        lay.addWidget(self.a_btn)
        lay.addWidget(self.b_btn)
        lay.addSpacing(10)
        lay.addWidget(self.position)
        lay.addWidget(self.message, 1)
        lay.addWidget(self.meter)
        self.play_btn.clicked.connect(self.play_toggled)
        self.b_btn.toggled.connect(lambda on: self.variant_changed.emit(on))

    def set_playing(self, playing: bool) -> None:
        self.play_btn.setIcon(icon("stop" if playing else "play"))
        self.play_btn.setAccessibleName("Stop" if playing else "Play")

    def is_b(self) -> bool:
        return self.b_btn.isChecked()

    def set_b(self, b: bool) -> None:
        (self.b_btn if b else self.a_btn).setChecked(True)

    def set_position(self, seconds: float, total_s: float) -> None:
        self.position.setText(f"{format_time(seconds)} / {format_time(total_s)}")

    def set_playback_message(self, text: str) -> None:
        """Why playback is off (empty: it is on); the level meter shows only while it is on,
        and leaves its room to the message."""
        self.message.set_full_text(text)
        self.meter.setVisible(not text)


def level_db(x: float) -> float:
    return 20 * math.log10(x) if x > 0 else -120.0
