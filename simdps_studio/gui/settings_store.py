"""The main window's remembered settings: its geometry and splitters, the History list's
visibility, the repair panel's settings, the spectrogram's settings and the transport's rolls,
kept in QSettings (docs/architecture.md, section 2).

:class:`SettingsStore` restores them when the window is built, stores the repair and the
spectrogram settings each time one changes, and stores the rest when the window closes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QRect, QSettings, QSize

from simdps_studio.gui.analysis import SpectrogramSettings
from simdps_studio.session import engines

if TYPE_CHECKING:
    from simdps_studio.gui.mainwindow import MainWindow

#: The window's size on first launch, where the screen has room for it.
PREFERRED_SIZE = QSize(1440, 900)


def first_launch_geometry(available: QRect, preferred: QSize = PREFERRED_SIZE) -> QRect:
    """The window's first geometry: ``preferred``, never larger than the screen's ``available``
    area, centred in it."""
    rect = QRect(0, 0, *preferred.boundedTo(available.size()).toTuple())
    rect.moveCenter(available.center())
    return rect


class SettingsStore:
    """The window's settings in QSettings (``window/...``, ``repair/...``, ``spectrogram/...``,
    ``transport/...``).

    Parameters
    ----------
    window : MainWindow
        The geometry and splitters, the repair panel, the transport and the fit check
        (``act_check_fit``) whose settings are kept.
    settings : QSettings
        Where they are kept (tests pass a temporary INI file).
    """

    def __init__(self, window: MainWindow, settings: QSettings) -> None:
        self.window = window
        self.settings = settings
        #: The Takes value is the user's (remembered or edited), not the device's default.
        self.takes_chosen = False
        self._restoring = False

    def repair_settings_changed(self) -> None:
        self.window.repair_controller.update_estimate()
        if self._restoring:
            return
        p = self.window.repair_panel
        s = self.settings
        s.setValue("repair/method", p.method_name())
        s.setValue("repair/omega", p.omega.value())
        s.setValue("repair/omega_auto", p.omega.is_auto())
        s.setValue("repair/steps", p.steps_for(False))
        s.setValue("repair/draft_steps", p.steps_for(True))
        if self.takes_chosen:  # else the device's default applies next time too
            s.setValue("repair/takes", p.takes.value())
        s.setValue("repair/draft", p.draft.isChecked())
        s.setValue("repair/margin_ms", p.margin.value())
        self.window.model_controller.update_model_label()

    def takes_edited(self) -> None:
        self.takes_chosen = True

    def spectrogram_settings_changed(self, settings: SpectrogramSettings) -> None:
        """Keep the spectrogram's settings for the next start (0: Auto's FFT size)."""
        self.settings.setValue("spectrogram/fft_size", settings.fft_size)
        self.settings.setValue("spectrogram/scale", settings.scale)

    def spectrogram_settings(self) -> SpectrogramSettings:
        """The spectrogram's stored settings (the defaults where none or unreadable)."""
        s = self.settings
        return SpectrogramSettings.from_stored(
            s.value("spectrogram/fft_size", 0), s.value("spectrogram/scale", "log")
        )

    def restore(self) -> None:
        """Bring the window and its panels back as they were left (the repair settings are
        not stored again while they are set)."""
        self._restoring = True
        try:
            self._restore_now()
        finally:
            self._restoring = False

    def _restore_now(self) -> None:
        s, w = self.settings, self.window
        geom = s.value("window/geometry")
        if geom is not None:
            w.restoreGeometry(geom)  # Qt moves it onto the available area if it is off
        else:
            w._first_geometry = first_launch_geometry(w.available_geometry())
            w.setGeometry(w._first_geometry)
        state = s.value("window/main_splitter")
        if state is not None:
            w.main_splitter.restoreState(state)
        else:
            em = w.fontMetrics().horizontalAdvance("M")
            w.main_splitter.setSizes([w.width() - 40 * em, 40 * em])
        side = s.value("window/side_splitter")
        if side is not None:
            w.side_splitter.restoreState(side)
        else:
            row = w.fontMetrics().height() + 8
            # Room for three gaps, the eight candidates and the repair panel.
            w.side_splitter.setSizes([7 * row, 14 * row, 17 * row])
        w.history_panel.setVisible(str(s.value("window/history", "false")).lower() == "true")
        w.track.set_spectrogram_settings(self.spectrogram_settings())
        p = w.repair_panel
        p.set_method(str(s.value("repair/method", "auto")))
        try:
            p.omega.set_value(float(s.value("repair/omega", engines.OMEGA_PRESETS["strict"])))
            saved_takes = s.value("repair/takes")
            if saved_takes is not None:
                p.takes.setValue(int(saved_takes))
                self.takes_chosen = True
            p.margin.setValue(float(s.value("repair/margin_ms", engines.DIFFUSION_MARGIN_MS)))
            w.transport.pre.setValue(float(s.value("transport/pre_s", 2.0)))
            w.transport.post.setValue(float(s.value("transport/post_s", 1.5)))
        except (TypeError, ValueError):
            pass
        p.draft.setChecked(str(s.value("repair/draft", "false")).lower() == "true")
        w.act_check_fit.setChecked(str(s.value("repair/check_fit", "true")).lower() == "true")
        try:
            p.set_steps(
                int(s.value("repair/steps", engines.FULL_STEPS)),
                int(s.value("repair/draft_steps", engines.DRAFT_STEPS)),
            )
        except (TypeError, ValueError):
            pass
        # Auto is the default: the measured best for good matches, looser for poor ones.
        p.omega.set_auto(str(s.value("repair/omega_auto", "true")).lower() == "true")
        w.model_controller.update_model_label()

    def save(self) -> None:
        """Store the geometry, the splitters, the rolls and the repair settings (on close)."""
        s, w = self.settings, self.window
        s.setValue("window/geometry", w.saveGeometry())
        s.setValue("window/main_splitter", w.main_splitter.saveState())
        s.setValue("window/side_splitter", w.side_splitter.saveState())
        s.setValue("window/history", not w.history_panel.isHidden())
        s.setValue("transport/pre_s", w.transport.pre.value())
        s.setValue("transport/post_s", w.transport.post.value())
        self.repair_settings_changed()
        s.sync()
