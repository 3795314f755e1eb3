"""Dialogs: export options, gap times, keyboard shortcuts, detected dropouts, about."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
)

from simdps_studio.core.types import Gap, bits_for_subtype
from simdps_studio.gui.analysis import format_time
from simdps_studio.gui.file_dialogs import ask_save_path
from simdps_studio.gui.panels import format_length
from simdps_studio.gui.theme import icon

#: Containers offered by the export dialog: (label, libsndfile format, extension).
EXPORT_FORMATS = (
    ("WAV", "WAV", ".wav"),
    ("FLAC", "FLAC", ".flac"),
    ("AIFF", "AIFF", ".aiff"),
    ("Wave64", "W64", ".w64"),
)
#: Sample formats: (label, subtype or None for "same as source").
SAMPLE_FORMATS = (
    ("Same as source", None),
    ("16-bit PCM", "PCM_16"),
    ("24-bit PCM", "PCM_24"),
    ("32-bit PCM", "PCM_32"),
    ("32-bit float", "FLOAT"),
)


#: Subtypes by what a user calls them (libsndfile's names otherwise).
SUBTYPE_LABELS = {
    **{st: label for label, st in SAMPLE_FORMATS if st},
    "PCM_S8": "8-bit PCM",
    "PCM_U8": "8-bit PCM",
    "DOUBLE": "64-bit float",
    "VORBIS": "Vorbis (lossy)",
    "OPUS": "Opus (lossy)",
    "MPEG_LAYER_III": "MP3 (lossy)",
}


def subtype_label(subtype: str) -> str:
    """``"PCM_16"`` -> ``"16-bit PCM"``; unknown names as they are."""
    return SUBTYPE_LABELS.get(subtype.upper(), subtype)


def export_format_for(path: Path) -> str | None:
    """The export format a file name's extension names (``.flac`` -> FLAC), else None."""
    ext = path.suffix.lower()
    return next((fmt for _label, fmt, e in EXPORT_FORMATS if e == ext), None)


@dataclass
class ExportOptions:
    """What the export dialog returns."""

    path: Path
    format: str | None  # None: from the file's extension
    subtype: str | None
    dither: bool
    provenance: bool


def default_export_path(source: Path, ext: str = ".wav") -> Path:
    """``song.flac`` -> ``song.repaired.wav`` beside it."""
    return source.with_name(f"{source.stem}.repaired{ext}")


class ExportDialog(QDialog):
    """Output file, container, sample format, dither and provenance sidecar."""

    def __init__(self, source: Path, source_subtype: str, source_format: str, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Export repaired audio")
        self.source_subtype = source_subtype
        lay = QVBoxLayout(self)
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.ExpandingFieldsGrow)
        self.fmt = QComboBox()
        for label, fmt, _ext in EXPORT_FORMATS:
            self.fmt.addItem(label, fmt)
        i = self.fmt.findData(source_format.upper())
        self.fmt.setCurrentIndex(max(i, 0))
        ext = EXPORT_FORMATS[self.fmt.currentIndex()][2]
        self.path = QLineEdit(str(default_export_path(source, ext)))
        self.path.setMinimumWidth(420)
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        row = QHBoxLayout()
        row.addWidget(self.path, 1)
        row.addWidget(browse)
        self.subtype = QComboBox()
        for label, st in SAMPLE_FORMATS:
            text = f"{label} ({subtype_label(source_subtype)})" if st is None else label
            self.subtype.addItem(text, st)
        self.dither = QCheckBox("TPDF dither when reducing bit depth")
        self.dither.setChecked(True)
        self.provenance = QCheckBox()
        self.provenance.setChecked(True)
        self.path.setAccessibleName("Export file")
        form.addRow("File", row)
        form.addRow("Format", self.fmt)
        form.addRow("Sample format", self.subtype)
        form.addRow("", self.dither)
        form.addRow("", self.provenance)
        lay.addLayout(form)
        note = QLabel(
            "The source file is never modified. Outside the repaired spans every sample of the "
            "export is identical to the source; the status bar shows the null test."
        )
        note.setObjectName("dim")
        note.setWordWrap(True)
        lay.addWidget(note)
        buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel)
        buttons.button(QDialogButtonBox.Ok).setText("Export")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        lay.addWidget(buttons)
        self.fmt.currentIndexChanged.connect(self._format_changed)
        self.path.textChanged.connect(self._path_changed)
        self.subtype.currentIndexChanged.connect(self._update_dither)
        self._update_dither()

    def _format_changed(self, index: int) -> None:
        ext = EXPORT_FORMATS[index][2]
        p = Path(self.path.text())
        if export_format_for(p) != EXPORT_FORMATS[index][1]:
            self.path.setText(str(p.with_suffix(ext)))
        self._update_dither()

    def _update_provenance_label(self) -> None:
        # Only WAV files take the cue markers at each repaired span (audio.io writes them).
        cues = self.fmt.currentData() == "WAV"
        self.provenance.setText(
            "Write provenance sidecar (.provenance.json)" + (" and cue markers" if cues else "")
        )

    def _path_changed(self, text: str) -> None:
        """A typed or browsed extension picks the format: the file name and its data agree."""
        fmt = export_format_for(Path(text))
        i = self.fmt.findData(fmt) if fmt else -1
        if i >= 0 and i != self.fmt.currentIndex():
            self.fmt.setCurrentIndex(i)

    def _update_dither(self, *_):
        self._update_provenance_label()
        st = self.subtype.currentData()
        src_bits = bits_for_subtype(self.source_subtype) or 32
        out_bits = bits_for_subtype(st) if st else src_bits
        reducing = out_bits is not None and (out_bits < src_bits or self.source_subtype == "FLOAT")
        self.dither.setEnabled(bool(st) and reducing)

    def _browse(self) -> None:
        path = ask_save_path(
            self, "Export as", self.path.text(), "Audio (*.wav *.flac *.aiff *.w64)"
        )
        if path:
            self.path.setText(path)

    def options(self) -> ExportOptions:
        path = Path(self.path.text()).expanduser()
        fmt: str | None = str(self.fmt.currentData())
        if not path.suffix:  # no extension typed: the format's
            path = path.with_name(path.name + EXPORT_FORMATS[self.fmt.currentIndex()][2])
        elif export_format_for(path) is None:
            fmt = None  # an extension no export format has: the export says so
        return ExportOptions(
            path=path,
            format=fmt,
            subtype=self.subtype.currentData(),
            dither=self.dither.isChecked(),
            provenance=self.provenance.isChecked(),
        )


#: Resolution of the gap-times dialog (seconds shown with this many decimals: 1 ms).
GAP_TIME_DECIMALS = 3


def gap_from_times(
    start_s: float, end_s: float, sr: int, old: Gap | None = None, *, n_samples: int | None = None
) -> Gap:
    """The gap ``[start_s, end_s)`` in samples; an edge left at ``old``'s shown time stays put.

    The dialog shows times to the millisecond; an edge the user did not change keeps its exact
    sample instead of moving to the nearest millisecond, and with ``n_samples`` (the track's
    length) an edge at or past the track's shown end is its last sample.

    Parameters
    ----------
    start_s, end_s : float
        Edges in seconds, as typed.
    sr : int
        Sample rate of the recording.
    old : Gap or None
        The gap being edited (None for a new one).
    """

    def edge(t_s: float, old_sample: int | None) -> int:
        shown = round(t_s, GAP_TIME_DECIMALS)
        if old_sample is not None and round(old_sample / sr, GAP_TIME_DECIMALS) == shown:
            return old_sample
        if n_samples is not None and shown >= round(n_samples / sr, GAP_TIME_DECIMALS):
            return n_samples
        return max(int(round(t_s * sr)), 0)

    return Gap(
        edge(start_s, None if old is None else old.start_sample),
        edge(end_s, None if old is None else old.end_sample),
    )


class GapTimesDialog(QDialog):
    """Type a gap's start and end (seconds, to the millisecond): the keyboard's way to make or
    adjust a gap precisely.

    With ``sr`` (and the edited gap ``old``, the track's ``n_samples``) the length shown is the
    length of the gap the times make (:func:`gap_from_times`), rounded as the gap list rounds it
    (``panels.format_length``), not the difference of the two rounded times.
    """

    def __init__(
        self,
        start_s: float,
        end_s: float,
        duration_s: float,
        *,
        new: bool,
        parent=None,
        sr: int | None = None,
        old: Gap | None = None,
        n_samples: int | None = None,
    ):
        super().__init__(parent)
        self._sr, self._old, self._n_samples = sr, old, n_samples
        self.setWindowTitle("New gap" if new else "Gap times")
        lay = QVBoxLayout(self)
        form = QFormLayout()
        self.start = QDoubleSpinBox()
        self.end = QDoubleSpinBox()
        for box, value, name in ((self.start, start_s, "Start"), (self.end, end_s, "End")):
            box.setDecimals(GAP_TIME_DECIMALS)
            # Up to the shown (rounded-up) length: the track's last sample must be reachable.
            box.setRange(0.0, math.ceil(duration_s * 10**GAP_TIME_DECIMALS) / 10**GAP_TIME_DECIMALS)
            box.setSingleStep(0.01)
            box.setSuffix(" s")
            box.setValue(value)
            box.setAccessibleName(f"Gap {name.lower()} in seconds")
            form.addRow(name, box)
        self.length = QLabel("")
        self.length.setObjectName("dim")
        form.addRow("Length", self.length)
        lay.addLayout(form)
        buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        lay.addWidget(buttons)
        self.ok = buttons.button(QDialogButtonBox.Ok)
        self.ok.setText("Add gap" if new else "Move gap")
        for box in (self.start, self.end):
            box.valueChanged.connect(self._update_length)
        self._update_length()
        self.start.setFocus()
        self.start.selectAll()

    def times(self) -> tuple[float, float]:
        """(start_s, end_s) as typed."""
        return self.start.value(), self.end.value()

    def _update_length(self, *_) -> None:
        length_s = self.end.value() - self.start.value()
        if self._sr and length_s > 0:
            gap = gap_from_times(*self.times(), self._sr, self._old, n_samples=self._n_samples)
            length_s = gap.duration_s(self._sr)
        self.ok.setEnabled(length_s > 0)
        self.length.setText(format_length(length_s) if length_s > 0 else "end before start")


class ShortcutsDialog(QDialog):
    """Every keyboard shortcut of the window's actions, plus the mouse gestures."""

    MOUSE = (
        ("Drag (left button) on waveform or spectrogram", "Select a new gap"),
        ("Drag a gap's edge", "Adjust the gap"),
        ("Click", "Place the playhead"),
        ("Wheel", "Zoom around the pointer"),
        ("Shift+wheel, middle-drag", "Scroll"),
        ("Overview strip: click or drag", "Move the visible range"),
    )

    def __init__(self, actions: Sequence, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Keyboard shortcuts")
        lay = QVBoxLayout(self)
        tree = QTreeWidget()
        tree.setHeaderLabels(["Action", "Keys"])
        tree.setRootIsDecorated(False)
        tree.setAlternatingRowColors(True)
        tree.setUniformRowHeights(True)
        tree.header().setStretchLastSection(False)  # else it overrides Keys' contents width
        tree.header().setSectionResizeMode(0, QHeaderView.Stretch)
        tree.header().setSectionResizeMode(1, QHeaderView.ResizeToContents)
        for action in actions:
            keys = [
                s.toString(QKeySequence.NativeText) for s in action.shortcuts() if not s.isEmpty()
            ]
            if keys:
                text = action.text().replace("&", "").replace("…", "")
                QTreeWidgetItem(tree, [text, " or ".join(keys)])
        heading = QTreeWidgetItem(tree, ["Mouse", ""])
        heading.setFlags(Qt.NoItemFlags)
        font = heading.font(0)
        font.setBold(True)
        heading.setFont(0, font)
        for gesture, what in self.MOUSE:
            item = QTreeWidgetItem(tree, [what, gesture])
            item.setForeground(1, self.palette().placeholderText())
        lay.addWidget(tree)
        self.tree = tree
        buttons = QDialogButtonBox(QDialogButtonBox.Close)
        buttons.rejected.connect(self.reject)
        lay.addWidget(buttons)
        # Tall enough for every row at once where the screen allows (no scrolling for "Stop").
        rows = tree.topLevelItemCount() + 1
        row_h = tree.fontMetrics().height() + 8
        # Wide enough for both columns' longest text (the mouse gestures), so neither is cut.
        needed = sum(tree.sizeHintForColumn(c) + 24 for c in range(2)) + 60
        self.resize(max(640, needed), min(140 + rows * row_h, 900))


#: How the detector's kinds read in the dialog.
DROPOUT_KIND_LABELS = {"silence": "Silence", "level_drop": "Level drop", "clipping": "Clipping"}


def margin_note(suggestions: Sequence[dict]) -> str:
    """What the Detect dialog says about the margin the detector adds around the damage (from
    the records' ``core_start_sample``/``core_end_sample``; "" when they have none)."""
    margins = [
        (
            d["core_start_sample"] - d["start_sample"],
            d["end_sample"] - d["core_end_sample"],
            d["sr"],
        )
        for d in suggestions
        if {"core_start_sample", "core_end_sample", "start_sample", "end_sample", "sr"} <= d.keys()
    ]
    widest_ms = max((1000 * max(a, b) / sr for a, b, sr in margins), default=0.0)
    if widest_ms <= 0:
        return ""
    return (
        f"Each region reaches up to {widest_ms:.0f} ms past the damage on each side: the samples "
        "next to a dropout are often damaged too (a step or click into the silence), and a fill "
        "that starts on clean audio joins it without one. Start, End and Length include it."
    )


class DetectDialog(QDialog):
    """Detected dropouts as a checklist (kind, start, end, length); accepted ones become gaps.

    Parameters
    ----------
    suggestions : sequence of dict
        ``Dropout.to_dict()`` records (``start_s``, ``end_s``, ``kind``).
    existing : sequence of (float, float), optional
        The session's gaps in seconds: a region overlapping one is shown unticked, marked.
    """

    def __init__(
        self,
        suggestions: Sequence[dict],
        parent=None,
        existing: Sequence[tuple[float, float]] = (),
    ):
        super().__init__(parent)
        self.setWindowTitle("Detected dropouts")
        self.suggestions = list(suggestions)
        lay = QVBoxLayout(self)
        n = len(self.suggestions)
        lay.addWidget(
            QLabel(f"{n} suspicious region{'s' if n != 1 else ''}. Add the checked ones as gaps:")
        )
        self.tree = QTreeWidget()
        self.tree.setRootIsDecorated(False)
        self.tree.setHeaderLabels(["Kind", "Start", "End", "Length", ""])
        for d in self.suggestions:
            a, b = float(d["start_s"]), float(d["end_s"])
            taken = any(a < e and s < b for s, e in existing)
            kind = DROPOUT_KIND_LABELS.get(d.get("kind", ""), str(d.get("kind", "dropout")))
            item = QTreeWidgetItem(
                [
                    kind,
                    format_time(a),
                    format_time(b),
                    f"{(b - a) * 1000:.0f} ms",
                    "already a gap" if taken else "",
                ]
            )
            for col in (1, 2, 3):
                item.setTextAlignment(col, Qt.AlignRight | Qt.AlignVCenter)
            item.setFlags(item.flags() | Qt.ItemIsUserCheckable)
            item.setCheckState(0, Qt.Unchecked if taken else Qt.Checked)
            if taken:
                item.setForeground(4, self.palette().placeholderText())
            self.tree.addTopLevelItem(item)
        for col in range(5):
            self.tree.resizeColumnToContents(col)
        lay.addWidget(self.tree)
        self.margin_note = QLabel(margin_note(self.suggestions))
        self.margin_note.setObjectName("dim")
        self.margin_note.setWordWrap(True)
        self.margin_note.setVisible(bool(self.margin_note.text()))
        lay.addWidget(self.margin_note)
        buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel)
        buttons.button(QDialogButtonBox.Ok).setText("Add as gaps")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        lay.addWidget(buttons)
        self.resize(520, 360)

    def checked(self) -> list[dict]:
        return [
            d
            for i, d in enumerate(self.suggestions)
            if self.tree.topLevelItem(i).checkState(0) == Qt.Checked
        ]


class AboutDialog(QDialog):
    """Version, the model repairs will use, the compute device and library versions.

    Parameters
    ----------
    info : mapping
        :func:`simdps_studio.session.about.build_info`; the dialog adds the Qt version.
    """

    def __init__(self, info: Mapping[str, Any], parent=None):
        import PySide6
        from PySide6.QtCore import qVersion

        from simdps_studio.session.about import format_libraries, format_model

        super().__init__(parent)
        self.info = {**info, "qt": f"{qVersion()} (PySide6 {PySide6.__version__})"}
        self.setWindowTitle(f"About {info['app']}")
        self.setWindowIcon(icon("simdps-studio"))
        lay = QVBoxLayout(self)
        head = QHBoxLayout()
        logo = QLabel()
        logo.setPixmap(icon("simdps-studio").pixmap(64, 64))
        head.addWidget(logo, 0, Qt.AlignTop)
        self.title = QLabel(
            f"<b style='font-size:15pt'>{info['app']} {info['version']}</b><br>"
            "Repairs long gaps in music recordings with similarity-guided diffusion posterior "
            "sampling (Turland, Moliner, Välimäki, arXiv 2509.16342)."
        )
        self.title.setWordWrap(True)
        head.addWidget(self.title, 1)
        lay.addLayout(head)
        form = QFormLayout()
        self.rows: dict[str, QLabel] = {}
        rows = (
            ("Model", format_model(self.info["model"]).replace(": ", " — ", 1)),
            ("Model folder", self.info["model"]["path"]),
            ("Installed models", ", ".join(self.info.get("installed_models") or []) or "none"),
            ("Device", self.info["device"]),
            ("Audio", self.info.get("audio", "unknown")),
            ("Libraries", format_libraries(self.info)),
        )
        for key, text in rows:
            label = QLabel(text)
            label.setWordWrap(True)
            label.setTextInteractionFlags(Qt.TextSelectableByMouse)
            form.addRow(key, label)
            self.rows[key] = label
        lay.addLayout(form)
        buttons = QDialogButtonBox(QDialogButtonBox.Close)
        buttons.rejected.connect(self.reject)
        lay.addWidget(buttons)
        self.setMinimumWidth(520)
