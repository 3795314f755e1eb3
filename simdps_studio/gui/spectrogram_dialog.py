"""View → Spectrogram settings: FFT size and frequency scale, applied as they are chosen
(docs/architecture.md, section 1). The settings themselves are Qt-free
(:class:`~simdps_studio.gui.analysis.SpectrogramSettings`); the window remembers them
(:class:`~simdps_studio.gui.settings_store.SettingsStore`).
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QDialog, QDialogButtonBox, QFormLayout, QLabel, QWidget

from simdps_studio.gui.analysis import FREQ_SCALES, SPEC_FFT_SIZES, SpectrogramSettings

SCALE_TEXTS = {
    "log": "Log (every octave equally tall)",
    "linear": "Linear (Hz)",
    "mel": "Mel (as hearing spaces pitch)",
}


def fft_size_text(fft_size: int, sr: int | None) -> str:
    """A choice of the FFT size box: ``"2048 (46 ms)"`` at ``sr``; 0 is Auto."""
    if fft_size == 0:
        return "Auto (46 ms zoomed in, 93 ms zoomed out)"
    return f"{fft_size} ({1000 * fft_size / sr:.0f} ms)" if sr else str(fft_size)


class SpectrogramDialog(QDialog):
    """The spectrogram's FFT size (time against frequency resolution) and frequency scale.

    Every change applies at once (``settings_changed``), so the spectrogram behind the dialog
    shows it; Close keeps what is shown.

    Parameters
    ----------
    settings : SpectrogramSettings
        The settings in use.
    sr : int, optional
        The open recording's rate, to give each FFT size's length in milliseconds.
    """

    settings_changed = Signal(object)

    def __init__(
        self, settings: SpectrogramSettings, sr: int | None = None, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Spectrogram settings")
        self.fft = QComboBox()
        for size in (0, *SPEC_FFT_SIZES):
            self.fft.addItem(fft_size_text(size, sr), size)
        self.fft.setCurrentIndex(self.fft.findData(settings.fft_size))
        self.fft.setToolTip(
            "Longer FFTs separate close notes (finer frequency) but blur onsets (coarser time)"
        )
        self.scale = QComboBox()
        for name in FREQ_SCALES:
            self.scale.addItem(SCALE_TEXTS[name], name)
        self.scale.setCurrentIndex(self.scale.findData(settings.scale))
        form = QFormLayout(self)
        form.addRow("&FFT size", self.fft)
        form.addRow("Frequency &scale", self.scale)
        note = QLabel("Changes show at once and are kept for the next start.")
        note.setObjectName("dim")
        form.addRow(note)
        buttons = QDialogButtonBox(QDialogButtonBox.Close)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)
        self.fft.currentIndexChanged.connect(self._changed)
        self.scale.currentIndexChanged.connect(self._changed)

    def settings(self) -> SpectrogramSettings:
        """The settings the dialog shows."""
        return SpectrogramSettings(int(self.fft.currentData()), str(self.scale.currentData()))

    def _changed(self) -> None:
        self.settings_changed.emit(self.settings())
