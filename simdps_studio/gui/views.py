"""The track views: overview strip, waveform (every channel) and spectrogram.

All three share one time axis in seconds. The waveform is drawn from the min/max
:class:`~simdps_studio.audio.peaks.PeakPyramid`: one min/max pair per screen column whatever the
zoom, raw samples once a column holds fewer than two, so a one-hour file scrolls as smoothly as a
short one. The spectrogram is computed for the visible range only, on a worker thread, after the
view stops moving for a moment; meanwhile the previous image stays in place (it is positioned in
seconds × the frequency scale's unit, so it pans and zooms with the view). Its FFT size and
frequency scale (log, linear, mel) are :class:`~simdps_studio.gui.analysis.SpectrogramSettings`.

Mouse: drag with the left button to select a gap (waveform or spectrogram), drag a gap's edges to
adjust it, click to place the playhead, wheel to zoom around the pointer, Shift+wheel or
middle-drag to scroll. The overview's box shows and moves the visible range.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSplitter, QVBoxLayout, QWidget

from simdps_studio.audio.peaks import PeakPyramid
from simdps_studio.core.types import Audio, Gap, native_to_float
from simdps_studio.gui.analysis import (
    FrequencyScale,
    SpectrogramSettings,
    format_time,
    frequency_map,
)
from simdps_studio.gui.theme import COLORS, qcolor

#: Vertical distance between channel lanes (a lane spans -1..1).
LANE = 2.25
#: Width of the left axes in logical pixels (equal everywhere, so the views line up).
AXIS_W = 46
#: Width of the column right of the plots (the spectrogram's colour bar).
RIGHT_W = 70
#: Quiet time after a view change before the spectrogram is recomputed.
SPEC_DEBOUNCE_MS = 90


# ----------------------------------------------------------------------------------- axes


class TimeAxis(pg.AxisItem):
    """Seconds shown as m:ss(.fff), with as many decimals as the tick spacing needs."""

    def tickStrings(self, values, scale, spacing):
        decimals = 0 if spacing >= 1 else min(6, max(1, math.ceil(-math.log10(spacing))))
        return [format_time(v, decimals=decimals) if v >= 0 else "" for v in values]


class FrequencyAxis(pg.AxisItem):
    """The spectrogram's frequency axis, in its scale's unit (log10 Hz, Hz or mel), labelled in
    Hz: at round values on the log and mel scales (from the top down, leaving out those too
    close to the one above to be read), at even steps on the linear one."""

    _MAJOR = (50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000)
    #: Linear scale: tick steps in Hz, the smallest that leaves :data:`_MIN_GAP_PX` between.
    _STEPS = (100, 200, 500, 1000, 2000, 5000, 10000, 20000)
    _MIN_GAP_PX = 28
    #: The least distance between two labels (a label's height and a little air).
    _MIN_LABEL_PX = 16

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.freq_scale = FrequencyScale()

    def set_frequency_scale(self, scale: FrequencyScale) -> None:
        self.freq_scale = scale
        self.picture = None  # drawn again with the new ticks
        self.update()

    def tickValues(self, minVal, maxVal, size):
        if self.freq_scale.name == "linear":
            span = max(maxVal - minVal, 1e-9)
            step = next((s for s in self._STEPS if size * s / span >= self._MIN_GAP_PX), 50000)
            hz = np.arange(math.ceil(minVal / step) * step, maxVal + 1e-9, step)
            vals = self.freq_scale.to_axis(hz)
            return [(1.0, [float(v) for v in vals if minVal <= v <= maxVal])]
        px_per_unit = size / max(maxVal - minVal, 1e-12)
        kept: list[float] = []
        for v in self.freq_scale.to_axis(np.array(self._MAJOR[::-1], dtype=float)):
            if minVal <= v <= maxVal and (
                not kept or (kept[-1] - v) * px_per_unit >= self._MIN_LABEL_PX
            ):
                kept.append(float(v))
        return [(1.0, kept[::-1])]

    def tickStrings(self, values, scale, spacing):
        out = []
        for v in values:
            hz = round(float(self.freq_scale.to_hz(v)))
            out.append(f"{hz / 1000:g}k" if hz >= 1000 else f"{hz:g}")
        return out


class ChannelAxis(pg.AxisItem):
    """Lane names (L, R, 1, 2, ...) at each channel's centre line and, where the lanes are tall
    enough to read it, a level ruler: −6 dBFS at half scale, 0 at full scale.
    """

    #: Ruler marks: offset from a lane's centre line (full scale 1), label, and the fewest pixels
    #: per unit at which it is drawn (so no two labels overlap: "−6" is 0.5 units from the lane's
    #: name, a lane's "0" 0.25 from the next lane's edge). Negative offsets are the lower half.
    RULER = ((0.5, "−6", 40.0), (-0.5, "−6", 40.0), (1.0, "0", 64.0), (-1.0, "", 64.0))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.names: list[str] = []

    def tickValues(self, minVal, maxVal, size):
        centres = [-c * LANE for c in range(len(self.names))]
        levels = [(1.0, centres)]
        px_per_unit = size / max(maxVal - minVal, 1e-12)
        marks = [
            c + offset for offset, _, min_px in self.RULER if px_per_unit >= min_px for c in centres
        ]
        if marks:
            levels.append((0.5, sorted(v for v in marks if minVal <= v <= maxVal)))
        return levels

    def tickStrings(self, values, scale, spacing):
        return [self.label_at(v) for v in values]

    def label_at(self, value: float) -> str:
        """The text at axis position ``value``: a lane name, a ruler mark or nothing."""
        c = round(-value / LANE)
        if not 0 <= c < len(self.names):
            return ""
        offset = value + c * LANE
        if abs(offset) < 1e-6:
            return self.names[c]
        return next((text for off, text, _ in self.RULER if abs(offset - off) < 1e-6), "")


def channel_names(channels: int) -> list[str]:
    """``["M"]``, ``["L", "R"]`` or ``["1", "2", ...]``."""
    if channels == 1:
        return ["M"]
    if channels == 2:
        return ["L", "R"]
    return [str(c + 1) for c in range(channels)]


# ----------------------------------------------------------------------------------- viewbox


class EditViewBox(pg.ViewBox):
    """A time-only ViewBox: left-drag selects, wheel zooms at the pointer, middle-drag scrolls."""

    selecting = Signal(float, float)  # live selection in seconds
    selected = Signal(float, float)  # finished selection in seconds
    clicked = Signal(float)  # left click at a time in seconds

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.setMouseEnabled(x=True, y=False)
        self.setMenuEnabled(False)
        self.select_enabled = True

    def wheelEvent(self, ev, axis=None):
        delta = ev.delta() if hasattr(ev, "delta") else ev.angleDelta().y()
        if ev.modifiers() & Qt.ShiftModifier:
            (x0, x1), _ = self.viewRange()
            self.translateBy(x=-(x1 - x0) * 0.1 * np.sign(delta))
        else:
            factor = 0.85 ** (delta / 120.0)
            centre = self.mapToView(ev.pos())
            self.scaleBy(x=factor, y=1.0, center=centre)
        ev.accept()

    def mouseDragEvent(self, ev, axis=None):
        pan = ev.button() == Qt.MiddleButton or (
            ev.button() == Qt.LeftButton and ev.modifiers() & Qt.ShiftModifier
        )
        if pan:
            ev.accept()
            dx = self.mapToView(ev.pos()).x() - self.mapToView(ev.lastPos()).x()
            self.translateBy(x=-dx)
            return
        if ev.button() == Qt.LeftButton and self.select_enabled:
            ev.accept()
            x0 = self.mapSceneToView(ev.buttonDownScenePos()).x()
            x1 = self.mapSceneToView(ev.scenePos()).x()
            lo, hi = min(x0, x1), max(x0, x1)
            if ev.isFinish():
                self.selected.emit(lo, hi)
            else:
                self.selecting.emit(lo, hi)
            return
        ev.ignore()

    def mouseClickEvent(self, ev):
        if ev.button() == Qt.LeftButton:
            ev.accept()
            self.clicked.emit(self.mapSceneToView(ev.scenePos()).x())
        else:
            ev.ignore()


class OverviewViewBox(pg.ViewBox):
    """The overview never zooms; a click or drag centres the main view there."""

    jump = Signal(float)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.setMouseEnabled(x=False, y=False)
        self.setMenuEnabled(False)

    def wheelEvent(self, ev, axis=None):
        ev.ignore()

    def mouseClickEvent(self, ev):
        if ev.button() == Qt.LeftButton:
            ev.accept()
            self.jump.emit(self.mapSceneToView(ev.scenePos()).x())

    def mouseDragEvent(self, ev, axis=None):
        if ev.button() == Qt.LeftButton:
            ev.accept()
            self.jump.emit(self.mapSceneToView(ev.scenePos()).x())
        else:
            ev.ignore()


# ----------------------------------------------------------------------------------- regions


class GapRegion(pg.LinearRegionItem):
    """A gap: shaded, edges draggable, click selects it."""

    clicked = Signal(object)

    def __init__(self, gap: Gap, sr: int, *, selected: bool, repaired: bool, bounds, shade=1.0):
        # ``shade`` < 1 for the spectrogram, where a strong tint would hide what is inside.
        alpha = int((58 if selected else 32) * shade)
        super().__init__(
            values=(gap.start_sample / sr, gap.end_sample / sr),
            orientation="vertical",
            brush=pg.mkBrush(qcolor(COLORS.gap, alpha)),
            hoverBrush=pg.mkBrush(qcolor(COLORS.gap, alpha + 25)),
            pen=pg.mkPen(qcolor(COLORS.gap, 255 if selected else 170), width=2 if selected else 1),
            hoverPen=pg.mkPen(COLORS.playhead, width=2),
            movable=True,
            bounds=bounds,
        )
        self.gap = gap
        self.repaired = repaired
        self.setZValue(10 if selected else 5)
        # The body does not move (a drag there selects a new gap); the edges do.
        self.movable = False
        for line in self.lines:
            line.setMovable(True)
            line.setCursor(Qt.SizeHorCursor)

    def mouseClickEvent(self, ev):
        if ev.button() == Qt.LeftButton:
            ev.accept()
            self.clicked.emit(self.gap)
        else:
            super().mouseClickEvent(ev)


def _static_region(t0: float, t1: float, color: str, alpha: int, *, pen_alpha: int = 0, z=0):
    r = pg.LinearRegionItem(
        values=(t0, t1),
        orientation="vertical",
        brush=pg.mkBrush(qcolor(color, alpha)),
        pen=pg.mkPen(qcolor(color, pen_alpha), width=1.5) if pen_alpha else pg.mkPen(None),
        movable=False,
    )
    r.setZValue(z)
    r.setAcceptedMouseButtons(Qt.NoButton)
    for line in r.lines:
        line.setAcceptedMouseButtons(Qt.NoButton)
    return r


# ----------------------------------------------------------------------------------- data


@dataclass(frozen=True)
class RepairSpan:
    """A repaired span as the views need it: where, with what samples, enabled or not."""

    gap: Gap
    start_sample: int
    fill: np.ndarray  # (channels, n) float32
    enabled: bool

    @property
    def end_sample(self) -> int:
        return self.start_sample + int(self.fill.shape[1])


def _fill_minmax(fill: np.ndarray, span_start: int, edges: np.ndarray, px: np.ndarray):
    """Min/max of ``fill`` over the parts of pixels ``px`` that fall inside the span.

    Parameters
    ----------
    edges : numpy.ndarray, shape (n_pixels + 1,)
        Pixel edges in track samples.
    px : numpy.ndarray of int
        Pixels that overlap the span.

    Returns
    -------
    mins, maxs : numpy.ndarray, shape (channels, len(px))
    """
    n = fill.shape[1]
    lo = np.clip(edges[px] - span_start, 0, n - 1)
    hi = np.clip(edges[px + 1] - span_start, 1, n)
    hi = np.maximum(hi, lo + 1)
    mins = np.minimum.reduceat(fill, lo, axis=1)
    maxs = np.maximum.reduceat(fill, lo, axis=1)
    # reduceat reduces [lo[i], lo[i+1]); fix the last pixel and pixels whose hi is short.
    for i in np.nonzero(np.append(lo[1:], n) != hi)[0]:
        seg = fill[:, lo[i] : hi[i]]
        mins[:, i], maxs[:, i] = seg.min(axis=1), seg.max(axis=1)
    return mins, maxs


# ----------------------------------------------------------------------------------- view


class TrackView(QWidget):
    """Overview, waveform and spectrogram of one recording, with gaps, candidate and playhead.

    Signals
    -------
    gap_drawn(int, int)
        A drag selected ``[start_sample, end_sample)``.
    gap_clicked(object)
        A gap's region was clicked (the Gap).
    gap_edited(object, object)
        A gap's edges were dragged: ``(old Gap, new Gap)``.
    seek(int)
        A click asked for the playhead at this sample.
    view_changed()
        The visible range changed.
    """

    gap_drawn = Signal(int, int)
    gap_clicked = Signal(object)
    gap_edited = Signal(object, object)
    seek = Signal(int)
    view_changed = Signal()

    def __init__(self, runner=None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.runner = runner
        self.audio: Audio | None = None
        self.pyramid: PeakPyramid | None = None
        self.spans: list[RepairSpan] = []
        self.show_repairs = True  # variant B is displayed
        self.amp_gain = 1.0
        # Per gap: (its look, [(item, plot), ...]); the margins of Sim spans are rebuilt each time.
        self._gap_entries: dict[Gap, tuple[tuple, list]] = {}
        self._margin_items: list = []
        self._candidate: tuple[int, int] | None = None
        self._syncing = False
        self.spec_settings = SpectrogramSettings()
        #: The FFT length of the image shown (None: none yet).
        self.spec_n_fft: int | None = None
        self._spec_maps: dict[tuple[int, int, str], object] = {}
        self._spec_image: np.ndarray | None = None
        self._spec_rect: tuple[float, float] | None = None
        self.redraw_count = 0
        self._build()

    # ------------------------------------------------------------------------------ layout

    def _header(self, title: str) -> tuple[QWidget, QLabel, QLabel]:
        w = QWidget()
        w.setObjectName("viewHeader")
        lay = QHBoxLayout(w)
        lay.setContentsMargins(8, 2, 8, 2)
        t = QLabel(title)
        t.setObjectName("viewTitle")
        info = QLabel("")
        info.setObjectName("dim")
        readout = QLabel("")
        readout.setObjectName("readout")
        lay.addWidget(t)
        lay.addSpacing(8)
        lay.addWidget(info)
        lay.addStretch(1)
        lay.addWidget(readout)
        return w, info, readout

    @staticmethod
    def _row(plot: QWidget, right: QWidget | None) -> QWidget:
        w = QWidget()
        lay = QHBoxLayout(w)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(0)
        lay.addWidget(plot, 1)
        if right is None:
            right = QWidget()
        right.setFixedWidth(RIGHT_W)
        lay.addWidget(right)
        return w

    def _build(self) -> None:
        # Overview strip.
        self.ov_vb = OverviewViewBox()
        self.overview = pg.PlotWidget(viewBox=self.ov_vb)
        self.overview.setObjectName("overview")
        ov = self.overview.getPlotItem()
        ov.hideAxis("bottom")
        ov.hideButtons()  # no auto-range "A": the overview always shows the whole track
        ov.getAxis("left").setWidth(AXIS_W)
        ov.getAxis("left").setStyle(showValues=False)
        ov.getAxis("left").setPen(pg.mkPen(None))
        ov.setContentsMargins(0, 2, 0, 2)
        self.overview.setFixedHeight(54)
        self.overview.setToolTip("Whole track: click or drag to move the view")
        self.ov_curve = pg.PlotCurveItem(pen=pg.mkPen(qcolor(COLORS.wave, 170), width=1))
        self.ov_curve.setAcceptedMouseButtons(Qt.NoButton)
        ov.addItem(self.ov_curve)
        self.ov_box = pg.LinearRegionItem(
            values=(0, 1),
            brush=pg.mkBrush(255, 255, 255, 22),
            hoverBrush=pg.mkBrush(255, 255, 255, 36),
            pen=pg.mkPen(qcolor(COLORS.playhead, 150), width=1),
            movable=True,
        )
        self.ov_box.setZValue(20)
        self.ov_box.sigRegionChanged.connect(self._overview_box_moved)
        ov.addItem(self.ov_box)
        self.ov_playhead = pg.InfiniteLine(pen=pg.mkPen(COLORS.playhead, width=1), movable=False)
        self.ov_playhead.setZValue(30)
        self.ov_playhead.hide()
        ov.addItem(self.ov_playhead)
        self.ov_vb.jump.connect(self._overview_jump)

        # Waveform.
        self.wave_vb = EditViewBox()
        self.chan_axis = ChannelAxis("left")
        self.chan_axis.setToolTip("Channel lanes; the ruler reads peak level in dBFS")
        self.time_axis = TimeAxis("top")
        self.wave = pg.PlotWidget(
            viewBox=self.wave_vb, axisItems={"left": self.chan_axis, "top": self.time_axis}
        )
        self.wave.setObjectName("waveform")
        wp = self.wave.getPlotItem()
        wp.showAxis("top")
        wp.hideAxis("bottom")
        wp.hideButtons()
        self.chan_axis.setWidth(AXIS_W)
        wp.setContentsMargins(0, 0, 0, 0)
        self.wave_vb.setDefaultPadding(0.0)
        self.wave.setMinimumHeight(120)
        self._lane_lines: list[pg.InfiniteLine] = []
        self._curves: list[pg.PlotCurveItem] = []
        self._rep_curves: list[pg.PlotCurveItem] = []
        self.playhead = pg.InfiniteLine(pen=pg.mkPen(COLORS.playhead, width=1.5), movable=False)
        self.playhead.setZValue(40)
        self.playhead.hide()
        wp.addItem(self.playhead, ignoreBounds=True)
        self.sel_region = _static_region(0, 0, COLORS.gap, 55, pen_alpha=220, z=50)
        self.sel_region.hide()
        wp.addItem(self.sel_region, ignoreBounds=True)

        # Spectrogram.
        self.spec_vb = EditViewBox()
        self.hz_axis = FrequencyAxis("left")
        self.spec = pg.PlotWidget(viewBox=self.spec_vb, axisItems={"left": self.hz_axis})
        self.spec.setObjectName("spectrogram")
        sp = self.spec.getPlotItem()
        sp.hideAxis("bottom")
        sp.hideButtons()
        self.hz_axis.setWidth(AXIS_W)
        sp.setContentsMargins(0, 0, 0, 0)
        self.spec_vb.setDefaultPadding(0.0)
        self.spec_vb.setXLink(self.wave_vb)
        self.spec.setMinimumHeight(90)
        self.spec_img = pg.ImageItem(axisOrder="col-major")
        self.spec_img.setAcceptedMouseButtons(Qt.NoButton)
        sp.addItem(self.spec_img, ignoreBounds=True)
        self.spec_playhead = pg.InfiniteLine(
            pen=pg.mkPen(COLORS.playhead, width=1.5), movable=False
        )
        self.spec_playhead.setZValue(40)
        self.spec_playhead.hide()
        sp.addItem(self.spec_playhead, ignoreBounds=True)
        self.spec_sel = _static_region(0, 0, COLORS.gap, 55, pen_alpha=220, z=50)
        self.spec_sel.hide()
        sp.addItem(self.spec_sel, ignoreBounds=True)
        cmap = pg.colormap.get("inferno")
        self.colorbar_widget = pg.GraphicsLayoutWidget()
        self.colorbar_widget.ci.setContentsMargins(0, 6, 0, 6)
        self.colorbar = pg.ColorBarItem(
            values=(-100.0, -10.0),
            colorMap=cmap,
            width=14,
            interactive=True,
            label="dBFS",
            orientation="vertical",
        )
        self.colorbar.setImageItem(self.spec_img)
        self.colorbar.getAxis("right").setWidth(40)
        self.colorbar_widget.addItem(self.colorbar)
        self.colorbar_widget.setToolTip("Spectrogram level range: drag the ends to adjust")

        wave_head, self.wave_info, self.wave_readout = self._header("WAVEFORM")
        spec_head, self.spec_info, self.spec_readout = self._header("SPECTROGRAM")
        self._describe_spectrogram()

        wave_box = QWidget()
        wl = QVBoxLayout(wave_box)
        wl.setContentsMargins(0, 0, 0, 0)
        wl.setSpacing(0)
        wl.addWidget(wave_head)
        wl.addWidget(self._row(self.wave, None), 1)
        spec_box = QWidget()
        sl = QVBoxLayout(spec_box)
        sl.setContentsMargins(0, 0, 0, 0)
        sl.setSpacing(0)
        sl.addWidget(spec_head)
        sl.addWidget(self._row(self.spec, self.colorbar_widget), 1)

        self.splitter = QSplitter(Qt.Vertical)
        self.splitter.setChildrenCollapsible(False)
        self.splitter.addWidget(wave_box)
        self.splitter.addWidget(spec_box)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 2)

        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(0)
        lay.addWidget(self._row(self.overview, None))
        lay.addWidget(self.splitter, 1)

        for vb in (self.wave_vb, self.spec_vb):
            vb.selecting.connect(self._selecting)
            vb.selected.connect(self._selected)
            vb.clicked.connect(self._clicked)
        self.wave_vb.sigXRangeChanged.connect(self._range_changed)
        self.wave_vb.sigResized.connect(self._schedule_redraw)
        self.wave.scene().sigMouseMoved.connect(self._wave_mouse)
        self.spec.scene().sigMouseMoved.connect(self._spec_mouse)

        # Keyboard: one Tab stop (the waveform) for the whole track; the cursor keys are the
        # window's track actions (MainWindow.cursor_actions), live while any view has focus.
        keys = "Left/Right move the cursor (Shift: further), Home/End; I and O mark, G adds the gap"
        for view, name, policy in (
            (self.overview, "Track overview", Qt.ClickFocus),
            (self.wave, "Waveform", Qt.StrongFocus),
            (self.spec, "Spectrogram", Qt.ClickFocus),
            (self.colorbar_widget, "Spectrogram level range", Qt.NoFocus),
        ):
            view.setFocusPolicy(policy)
            view.setAccessibleName(name)
            if policy != Qt.NoFocus:
                view.setAccessibleDescription(keys)

        self._redraw_timer = QTimer(self)
        self._redraw_timer.setSingleShot(True)
        self._redraw_timer.setInterval(0)
        self._redraw_timer.timeout.connect(self.redraw_waveform)
        self._spec_timer = QTimer(self)
        self._spec_timer.setSingleShot(True)
        self._spec_timer.setInterval(SPEC_DEBOUNCE_MS)
        self._spec_timer.timeout.connect(self._start_spectrogram)
        self.set_enabled_views(False)

    def set_enabled_views(self, on: bool) -> None:
        """Dim and lock the views while no file is open."""
        for w in (self.overview, self.wave, self.spec):
            w.setEnabled(on)

    # ------------------------------------------------------------------------------ data

    @property
    def sr(self) -> int:
        return self.audio.sr if self.audio is not None else 44100

    def set_audio(self, audio: Audio, pyramid: PeakPyramid) -> None:
        """Show a new recording (fully zoomed out)."""
        self.audio, self.pyramid = audio, pyramid
        self.spans = []
        self._candidate = None
        self._spec_image = self.spec_n_fft = None
        plot = self.wave.getPlotItem()
        for item in self._curves + self._rep_curves + self._lane_lines:
            plot.removeItem(item)
        self._curves, self._rep_curves, self._lane_lines = [], [], []
        names = channel_names(audio.channels)
        self.chan_axis.names = names
        for c in range(audio.channels):
            zero = pg.InfiniteLine(pos=-c * LANE, angle=0, pen=pg.mkPen(COLORS.grid, width=1))
            zero.setAcceptedMouseButtons(Qt.NoButton)
            plot.addItem(zero, ignoreBounds=True)
            self._lane_lines.append(zero)
            curve = pg.PlotCurveItem(pen=pg.mkPen(COLORS.wave, width=1), connect="finite")
            rep = pg.PlotCurveItem(pen=pg.mkPen(COLORS.wave_repaired, width=1), connect="finite")
            for item in (curve, rep):
                item.setAcceptedMouseButtons(Qt.NoButton)
                item.setZValue(20)
                plot.addItem(item)
            self._curves.append(curve)
            self._rep_curves.append(rep)
        duration = audio.duration_s
        min_range = 32 / audio.sr
        for vb in (self.wave_vb, self.spec_vb):
            vb.setLimits(xMin=0, xMax=duration, minXRange=min_range, maxXRange=duration)
        bottom = -(audio.channels - 1) * LANE - 1.08
        self.wave_vb.setYRange(bottom, 1.08, padding=0)
        self.wave_vb.setLimits(yMin=bottom, yMax=1.08)
        self._set_frequency_range()
        self.ov_vb.setXRange(0, duration, padding=0)
        self.ov_vb.setYRange(-1.05, 1.05, padding=0)
        self.ov_box.setBounds((0, duration))
        self.spec_img.clear()
        bits = {"PCM_16": "16-bit", "PCM_24": "24-bit", "PCM_32": "32-bit", "FLOAT": "32-bit float"}
        self.wave_info.setText(
            f"{audio.channels} ch · {audio.sr / 1000:g} kHz · "
            f"{bits.get(audio.subtype, audio.subtype)} · {format_time(duration)}"
        )
        self.set_enabled_views(True)
        self._draw_overview()
        self.zoom_full()
        self.redraw_waveform()

    def _set_frequency_range(self) -> None:
        """The spectrogram's vertical range: the scale's lowest frequency to Nyquist."""
        f_lo, f_hi = self.spec_settings.frequency_scale.axis_range(self.sr)
        self.spec_vb.setLimits(yMin=None, yMax=None)  # else the old limits clamp the new range
        self.spec_vb.setYRange(f_lo, f_hi, padding=0)
        self.spec_vb.setLimits(yMin=f_lo, yMax=f_hi)

    def _describe_spectrogram(self) -> None:
        """The header: the scale and the FFT size (Auto's choice once an image is drawn)."""
        settings = self.spec_settings
        if settings.fft_size:
            fft = f"FFT {settings.fft_size}"
        else:
            fft = f"FFT {self.spec_n_fft} (auto)" if self.spec_n_fft else "FFT auto"
        self.spec_info.setText(f"{settings.scale} frequency, Hz · {fft}")

    def set_spectrogram_settings(self, settings: SpectrogramSettings) -> None:
        """Compute and draw the spectrogram with ``settings`` (FFT size, frequency scale) from
        now on: the axis follows the scale and the visible range is computed again at once."""
        if settings == self.spec_settings:
            return
        self.spec_settings = settings
        self.hz_axis.set_frequency_scale(settings.frequency_scale)
        self._describe_spectrogram()
        # The image in place was drawn on the old scale: it would sit at the wrong heights.
        self._spec_image = self._spec_rect = self.spec_n_fft = None
        self.spec_img.clear()
        if self.audio is not None:
            self._set_frequency_range()
            self._start_spectrogram()

    def set_spans(self, spans: list[RepairSpan]) -> None:
        """Repaired spans (drawn in the repair colour when the B variant is shown)."""
        self.spans = sorted(spans, key=lambda s: s.start_sample)
        self._schedule_redraw()
        self._schedule_spectrogram()

    def set_show_repairs(self, on: bool) -> None:
        """Show variant B (repairs applied) or A (the source)."""
        if on != self.show_repairs:
            self.show_repairs = on
            self._schedule_redraw()
            self._schedule_spectrogram()

    def set_gaps(self, gaps, selected: Gap | None, repaired: set[Gap]) -> None:
        """Show the gap regions (and their overview marks).

        Only gaps that are new or whose look changed get new items: building pyqtgraph regions
        is slow, and rebuilding all of them made every edit cost 0.4 s with 30 gaps.
        """
        if self.audio is None:
            for gap in list(self._gap_entries):
                self._remove_gap(gap)
            self._clear_margins()
            return
        look = (self.sr, self.audio.duration_s)
        wanted = {gap: (gap == selected, gap in repaired, *look) for gap in gaps}
        for gap, (state, _items) in list(self._gap_entries.items()):
            if wanted.get(gap) != state:
                self._remove_gap(gap)
        for gap, state in wanted.items():
            if gap not in self._gap_entries:
                self._gap_entries[gap] = (state, self._add_gap(gap, *state[:2]))
        self._clear_margins()
        sr = self.sr
        for span in self.spans:
            if span.start_sample < span.gap.start_sample or span.end_sample > span.gap.end_sample:
                for widget in (self.wave, self.spec):
                    r = _static_region(
                        span.start_sample / sr, span.end_sample / sr, COLORS.gap, 16, z=2
                    )
                    widget.getPlotItem().addItem(r, ignoreBounds=True)
                    self._margin_items.append((r, widget.getPlotItem()))
        self._place_candidate()

    def _add_gap(self, gap: Gap, selected: bool, repaired: bool) -> list:
        """The two linked regions (waveform, spectrogram) and the overview mark of one gap."""
        sr, bounds = self.sr, (0, self.audio.duration_s)
        twins = []
        for widget, shade in ((self.wave, 1.0), (self.spec, 0.3)):
            region = GapRegion(
                gap, sr, selected=selected, repaired=repaired, bounds=bounds, shade=shade
            )
            region.clicked.connect(self.gap_clicked)
            region.sigRegionChangeFinished.connect(self._gap_region_done)
            widget.getPlotItem().addItem(region, ignoreBounds=True)
            twins.append((region, widget.getPlotItem()))
        a, b = twins[0][0], twins[1][0]
        a.sigRegionChanged.connect(lambda r, o=b: self._sync_twin(r, o))
        b.sigRegionChanged.connect(lambda r, o=a: self._sync_twin(r, o))
        mark = _static_region(
            gap.start_sample / sr,
            gap.end_sample / sr,
            COLORS.gap,
            200 if selected else 140,
            pen_alpha=255,
            z=25,
        )
        self.overview.getPlotItem().addItem(mark, ignoreBounds=True)
        return [*twins, (mark, self.overview.getPlotItem())]

    def _remove_gap(self, gap: Gap) -> None:
        _state, items = self._gap_entries.pop(gap)
        for item, plot in items:
            if item.scene() is not None:
                plot.removeItem(item)

    def _clear_margins(self) -> None:
        for item, plot in self._margin_items:
            plot.removeItem(item)
        self._margin_items = []

    def restore_gap(self, gap: Gap) -> None:
        """Put ``gap``'s regions back on the gap (after an edit that was refused)."""
        state_items = self._gap_entries.get(gap)
        if state_items is None or self.audio is None:
            return
        self._syncing = True  # not an edit: no gap_edited
        try:
            for item, _plot in state_items[1]:
                if isinstance(item, GapRegion):
                    item.setRegion((gap.start_sample / self.sr, gap.end_sample / self.sr))
        finally:
            self._syncing = False

    def gap_regions(self) -> list[GapRegion]:
        """The gap regions shown (waveform and spectrogram), in no particular order."""
        return [
            item
            for _state, items in self._gap_entries.values()
            for item, _plot in items
            if isinstance(item, GapRegion)
        ]

    def _sync_twin(self, src, dst) -> None:
        if self._syncing:
            return
        self._syncing = True
        dst.setRegion(src.getRegion())
        self._syncing = False

    def _gap_region_done(self, region: GapRegion) -> None:
        if self._syncing or self.audio is None:
            return
        t0, t1 = region.getRegion()
        new = Gap(round(t0 * self.sr), round(t1 * self.sr))
        if new != region.gap:
            self.gap_edited.emit(region.gap, new)

    def set_candidate(self, start_sample: int | None, length: int = 0) -> None:
        """Outline the chosen candidate passage (None hides it)."""
        self._candidate = None if start_sample is None else (start_sample, start_sample + length)
        self._place_candidate()

    def _place_candidate(self) -> None:
        for item in getattr(self, "_cand_items", []):
            item[1].removeItem(item[0])
        self._cand_items = []
        if self._candidate is None or self.audio is None:
            return
        a, b = self._candidate[0] / self.sr, self._candidate[1] / self.sr
        for widget, alpha in ((self.wave, 30), (self.spec, 10), (self.overview, 160)):
            r = _static_region(a, b, COLORS.candidate, alpha, pen_alpha=255, z=8)
            widget.getPlotItem().addItem(r, ignoreBounds=True)
            self._cand_items.append((r, widget.getPlotItem()))

    # ------------------------------------------------------------------------------ playhead

    def set_playhead(self, sample: int | None, *, follow: bool = False) -> None:
        """Move (or hide) the playhead; ``follow`` pages the view to keep it visible."""
        lines = (self.playhead, self.spec_playhead, self.ov_playhead)
        if sample is None or self.audio is None:
            for line in lines:
                line.hide()
            return
        t = sample / self.sr
        for line in lines:
            line.setValue(t)
            line.show()
        if follow:
            t0, t1 = self.visible_range_s()
            if not t0 <= t <= t1:
                width = t1 - t0
                self.set_visible_range(t - 0.05 * width, t + 0.95 * width)

    # ------------------------------------------------------------------------------ zoom

    def visible_range_s(self) -> tuple[float, float]:
        (t0, t1), _ = self.wave_vb.viewRange()
        return float(t0), float(t1)

    def set_visible_range(self, t0: float, t1: float) -> None:
        """Show ``[t0, t1]`` seconds (clipped to the track)."""
        if self.audio is None:
            return
        dur = self.audio.duration_s
        width = min(max(t1 - t0, 32 / self.sr), dur)
        t0 = min(max(t0, 0.0), dur - width)
        self.wave_vb.setXRange(t0, t0 + width, padding=0)

    def zoom_full(self) -> None:
        if self.audio is not None:
            self.set_visible_range(0, self.audio.duration_s)

    def zoom_by(self, factor: float) -> None:
        """Zoom in (factor < 1) or out around the view's centre."""
        t0, t1 = self.visible_range_s()
        c, half = (t0 + t1) / 2, (t1 - t0) / 2 * factor
        self.set_visible_range(c - half, c + half)

    def scroll_by(self, fraction: float) -> None:
        """Scroll by a fraction of the visible width."""
        t0, t1 = self.visible_range_s()
        d = (t1 - t0) * fraction
        self.set_visible_range(t0 + d, t1 + d)

    def zoom_to_samples(self, start: int, end: int, *, margin: float = 1.0) -> None:
        """Show ``[start, end)`` with ``margin`` times its length of context on each side."""
        length = max(end - start, 1)
        pad = max(length * margin, 0.25 * self.sr)
        self.set_visible_range((start - pad) / self.sr, (end + pad) / self.sr)

    # ------------------------------------------------------------------------------ drawing

    def _range_changed(self, *_):
        self._schedule_redraw()
        self._schedule_spectrogram()
        self._update_overview_box()
        self.view_changed.emit()

    def _schedule_redraw(self, *_):
        self._redraw_timer.start()

    def _n_pixels(self) -> int:
        # Device pixels: at 200 % scaling a column per logical pixel would leave gaps.
        return max(16, int(self.wave_vb.width() * self.wave.devicePixelRatioF()))

    def redraw_waveform(self) -> None:
        """Draw the visible range from the pyramid (or raw samples when zoomed in)."""
        if self.audio is None or self.pyramid is None:
            return
        self.redraw_count += 1
        sr, n = self.sr, self.audio.n_samples
        t0, t1 = self.visible_range_s()
        a = max(0, int(math.floor(t0 * sr)))
        b = min(n, int(math.ceil(t1 * sr)) + 1)
        if b - a < 2:
            return
        n_px = self._n_pixels()
        spans = (
            [s for s in self.spans if s.enabled and s.end_sample > a and s.start_sample < b]
            if self.show_repairs
            else []
        )
        g = self.amp_gain
        if (b - a) / n_px >= 2:
            mins, maxs = self.pyramid.query(a, b, n_px)
            edges = self.pyramid.pixel_edges(a, b, n_px)
            centres = (edges[:-1] + edges[1:]) * (0.5 / sr)
            xs = np.repeat(centres, 2)
            ys = np.empty((self.audio.channels, 2 * n_px), np.float32)
            ys[:, 0::2], ys[:, 1::2] = mins, maxs
            rep_x, rep_y = [], []
            for s in spans:
                px = np.nonzero((edges[1:] > s.start_sample) & (edges[:-1] < s.end_sample))[0]
                if len(px) == 0:
                    continue
                inner = px[(edges[px] >= s.start_sample) & (edges[px + 1] <= s.end_sample)]
                ys[:, 2 * inner] = np.nan
                ys[:, 2 * inner + 1] = np.nan
                fmin, fmax = _fill_minmax(s.fill, s.start_sample, edges, px)
                ry = np.empty((self.audio.channels, 2 * len(px) + 1), np.float32)
                ry[:, 0:-1:2], ry[:, 1:-1:2], ry[:, -1] = fmin, fmax, np.nan
                rep_x.append(np.append(np.repeat(centres[px], 2), np.nan))
                rep_y.append(ry)
        else:
            xs = np.arange(a, b) / sr
            ys = native_to_float(self.audio.samples[:, a:b]).copy()
            rep_x, rep_y = [], []
            for s in spans:
                lo, hi = max(s.start_sample, a), min(s.end_sample, b)
                inner_lo, inner_hi = lo + 1, hi - 1
                if inner_hi > inner_lo:
                    ys[:, inner_lo - a : inner_hi - a] = np.nan
                # One sample of the source on each side joins the repaired curve to it.
                x_idx = np.arange(max(lo - 1, a), min(hi + 1, b))
                seg = native_to_float(self.audio.samples[:, x_idx])
                inside = (x_idx >= s.start_sample) & (x_idx < s.end_sample)
                seg[:, inside] = s.fill[:, x_idx[inside] - s.start_sample]
                rep_x.append(np.append(x_idx / sr, np.nan))
                rep_y.append(np.concatenate([seg, np.full((seg.shape[0], 1), np.nan)], axis=1))
        for c in range(self.audio.channels):
            off = -c * LANE
            y = np.clip(ys[c] * g, -1.0, 1.0) + off
            self._curves[c].setData(xs, y)
            if rep_x:
                ry = np.concatenate([r[c] for r in rep_y])
                self._rep_curves[c].setData(np.concatenate(rep_x), np.clip(ry * g, -1, 1) + off)
                self._rep_curves[c].show()
            else:
                self._rep_curves[c].setData([], [])
                self._rep_curves[c].hide()

    def _draw_overview(self) -> None:
        if self.pyramid is None:
            return
        n_px = max(64, int(self.overview.width()) or 1200)
        mins, maxs = self.pyramid.query(0, self.pyramid.n_samples, n_px)
        edges = self.pyramid.pixel_edges(0, self.pyramid.n_samples, n_px)
        xs = np.repeat((edges[:-1] + edges[1:]) * (0.5 / self.sr), 2)
        ys = np.empty(2 * n_px, np.float32)
        ys[0::2], ys[1::2] = mins.min(axis=0), maxs.max(axis=0)
        self.ov_curve.setData(xs, ys)

    def _update_overview_box(self) -> None:
        self._syncing = True
        self.ov_box.setRegion(self.visible_range_s())
        self._syncing = False

    def _overview_box_moved(self) -> None:
        if self._syncing or self.audio is None:
            return
        t0, t1 = self.ov_box.getRegion()
        self._syncing = True
        self.set_visible_range(t0, t1)
        self._syncing = False

    def _overview_jump(self, t: float) -> None:
        t0, t1 = self.visible_range_s()
        half = (t1 - t0) / 2
        self.set_visible_range(t - half, t + half)

    def resizeEvent(self, ev):
        super().resizeEvent(ev)
        if self.audio is not None:
            QTimer.singleShot(0, self._draw_overview)

    # ------------------------------------------------------------------------------ spectrogram

    def _schedule_spectrogram(self) -> None:
        if self.audio is not None:
            self._spec_timer.start()

    def _start_spectrogram(self) -> None:
        if self.audio is None or self.runner is None:
            return
        from simdps_studio.gui.analysis import spectrogram_columns

        t0, t1 = self.visible_range_s()
        sr, n = self.sr, self.audio.n_samples
        a, b = max(0, int(t0 * sr)), min(n, int(math.ceil(t1 * sr)))
        if b - a < 64:
            return
        n_cols = min(2400, max(64, int(self.spec_vb.width())))
        settings = self.spec_settings
        n_fft = settings.n_fft(sr, (b - a) / n_cols)
        key = (sr, n_fft, settings.scale)
        if key not in self._spec_maps:
            self._spec_maps[key] = frequency_map(sr, n_fft, settings.frequency_scale)
        freq_map = self._spec_maps[key]
        # The worker reads a snapshot: the spans list is replaced, never mutated.
        spans, show, audio = list(self.spans), self.show_repairs, self.audio

        def read(p: int, q: int) -> np.ndarray:
            out = np.zeros(q - p, np.float32)
            lo, hi = max(p, 0), min(q, audio.n_samples)
            if hi > lo:
                out[lo - p : hi - p] = native_to_float(audio.samples[:, lo:hi]).mean(axis=0)
            if show:
                for s in spans:
                    if s.enabled and s.end_sample > p and s.start_sample < q:
                        u, v = max(s.start_sample, p), min(s.end_sample, q)
                        out[u - p : v - p] = s.fill[
                            :, u - s.start_sample : v - s.start_sample
                        ].mean(0)
            return out

        def job(progress=None, cancel=None):
            db, used = spectrogram_columns(
                read, n, sr, a, b, n_cols, freq_map=freq_map, n_fft=n_fft, cancel=cancel
            )
            return db, a / sr, b / sr, settings, used

        self.runner.start("spectrogram", job, on_result=self._spectrogram_ready)

    def _spectrogram_ready(self, value) -> None:
        db, t0, t1, settings, n_fft = value
        if self.audio is None or settings != self.spec_settings:  # computed before a change
            return
        self._spec_image = db
        self._spec_rect = (t0, t1)
        self.spec_n_fft = n_fft
        self._describe_spectrogram()
        f_lo, f_hi = settings.frequency_scale.axis_range(self.sr)
        lo, hi = self.colorbar.levels()
        self.spec_img.setImage(db, autoLevels=False, levels=(lo, hi))
        self.spec_img.setRect(QRectF(t0, f_lo, t1 - t0, f_hi - f_lo))

    # ------------------------------------------------------------------------------ mouse

    def _selecting(self, t0: float, t1: float) -> None:
        if self.audio is None:
            return
        t0, t1 = max(t0, 0.0), min(t1, self.audio.duration_s)
        for r in (self.sel_region, self.spec_sel):
            r.setRegion((t0, t1))
            r.show()

    def _selected(self, t0: float, t1: float) -> None:
        self.sel_region.hide()
        self.spec_sel.hide()
        if self.audio is None:
            return
        a = max(0, round(t0 * self.sr))
        b = min(self.audio.n_samples, round(t1 * self.sr))
        if b > a:
            self.gap_drawn.emit(a, b)

    def _clicked(self, t: float) -> None:
        if self.audio is not None:
            self.seek.emit(int(min(max(t, 0.0), self.audio.duration_s) * self.sr))

    def _wave_mouse(self, pos: QPointF) -> None:
        if self.audio is None or not self.wave_vb.sceneBoundingRect().contains(pos):
            self.wave_readout.setText("")
            return
        p = self.wave_vb.mapSceneToView(pos)
        c = int(round(-p.y() / LANE))
        text = format_time(max(p.x(), 0.0))
        if 0 <= c < self.audio.channels:
            v = abs(p.y() + c * LANE) / self.amp_gain
            level = 20 * math.log10(v) if v > 1e-6 else -120.0
            text += f"   {channel_names(self.audio.channels)[c]} {level:6.1f} dBFS"
        self.wave_readout.setText(text)

    def _spec_mouse(self, pos: QPointF) -> None:
        if self.audio is None or not self.spec_vb.sceneBoundingRect().contains(pos):
            self.spec_readout.setText("")
            return
        p = self.spec_vb.mapSceneToView(pos)
        hz = float(self.spec_settings.frequency_scale.to_hz(p.y()))
        text = f"{format_time(max(p.x(), 0.0))}   {hz:7.0f} Hz"
        level = self.level_at(p.x(), hz)
        if level is not None:
            text += f"   {level:6.1f} dB"
        self.spec_readout.setText(text)

    def level_at(self, t: float, hz: float) -> float | None:
        """Spectrogram level (dB) at time ``t`` and frequency ``hz``, or None off the image."""
        if self._spec_image is None or self._spec_rect is None:
            return None
        t0, t1 = self._spec_rect
        n_cols, n_rows = self._spec_image.shape
        scale = self.spec_settings.frequency_scale
        f_lo, f_hi = scale.axis_range(self.sr)
        col = int((t - t0) / max(t1 - t0, 1e-12) * n_cols)
        row = math.floor((float(scale.to_axis(hz)) - f_lo) / (f_hi - f_lo) * n_rows)
        if 0 <= col < n_cols and 0 <= row < n_rows:
            return float(self._spec_image[col, row])
        return None
