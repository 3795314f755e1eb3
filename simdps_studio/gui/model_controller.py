"""The model and the device of the main window: Repair → Model, Precision and Warm start, the
panel's model line, and the device probe (docs/architecture.md, sections 2 and 4).

The probe imports torch only on the "device" task of the window's
:class:`~simdps_studio.gui.workers.TaskRunner`, so the GUI thread never waits for it. The
choices are kept in the window's QSettings (``repair/model``, ``repair/precision``,
``repair/start_sigma``, ``repair/check_fit``).
"""

from __future__ import annotations

import html
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QSettings
from PySide6.QtGui import QAction, QActionGroup
from PySide6.QtWidgets import QFileDialog, QMenu

from simdps_studio.gui.workers import TaskRunner
from simdps_studio.session import engines

if TYPE_CHECKING:
    from simdps_studio.gui.mainwindow import MainWindow

#: Takes per run on a CUDA device when the user has not chosen a number (on a CPU: one).
DEFAULT_GPU_TAKES = 2

#: Repair → Precision: the menu's entries and the settings' values.
PRECISION_ITEMS = (
    ("&Auto (bf16 where measured faster)", "auto"),
    ("fp&32", "fp32"),
    ("&bf16", "bf16"),
)
#: Repair → Warm start: off (from noise at σ 1) or from the candidate at these noise levels.
WARM_START_ITEMS = (
    ("&Off (from noise)", None),
    ("From the candidate at σ &0.3", 0.3),
    ("From the candidate at σ 0.&1", 0.1),
    ("From the candidate at σ 0.0&3", 0.03),
)


def _device_label(
    precision: str = "auto", model: str | None = None, progress=None, cancel=None
) -> str:
    """The device and the precision repairs will run in, and why (``about.device_label``)."""
    from simdps_studio.session.about import device_label

    return device_label(precision, model)


def _stored_start_sigma(value: Any) -> float | None:
    """The remembered warm start: one of :data:`WARM_START_ITEMS`' levels, else None (off)."""
    try:
        sigma = float(value)
    except (TypeError, ValueError):
        return None
    levels = [v for _label, v in WARM_START_ITEMS if v is not None]
    return min(levels, key=lambda v: abs(v - sigma)) if 0 < sigma < 1 else None


class ModelController:
    """The model, precision and warm start repairs use, and the device they run on.

    Parameters
    ----------
    window : MainWindow
        The document (``session``, ``workspace``, ``selected_gap``), the Repair → Model menu
        (``model_menu``, ``act_model``), the device line (``device_label``), the repair panel
        and the fit check (``act_check_fit``).
    settings : QSettings
        Where the choices are remembered.
    runner : TaskRunner
        The window's background tasks ("device").
    """

    def __init__(self, window: MainWindow, settings: QSettings, runner: TaskRunner) -> None:
        self.window = window
        self.settings = settings
        self.runner = runner
        self.model_name: str | None = self.settings.value("repair/model", None) or None
        precision = str(self.settings.value("repair/precision", "auto"))
        self.precision = precision if precision in dict(map(reversed, PRECISION_ITEMS)) else "auto"
        self.start_sigma: float | None = _stored_start_sigma(
            self.settings.value("repair/start_sigma", "")
        )
        self.precision_actions: dict[str, QAction] = {}
        self.warm_start_actions: dict[float | None, QAction] = {}

    def probe_device(self) -> None:
        """Find the device and the precision repairs will run in (a worker: ``auto`` measures
        bf16 once per host and model preset)."""
        self.runner.start(
            "device",
            _device_label,
            self.precision,
            self.model_name,
            on_result=self.device_ready,
        )

    def fill_model_menu(self) -> None:
        menu = self.window.model_menu
        menu.clear()
        current = self.model_name or engines.DEFAULT_MODEL
        installed = engines.installed_models()
        for name in installed:
            label = name + (" (default)" if name == engines.DEFAULT_MODEL else "")
            a = menu.addAction(label, lambda name=name: self.set_model(name))
            a.setCheckable(True)
            a.setChecked(name == current)
        if current not in installed:  # a folder chosen elsewhere
            a = menu.addAction(Path(current).name, lambda: None)
            a.setCheckable(True)
            a.setChecked(True)
            a.setToolTip(current)
        menu.addSeparator()
        menu.addAction(self.window.act_model)

    def popup_model_menu(self) -> None:
        """The Repair → Model menu, under the panel's model line (its link)."""
        label = self.window.repair_panel.model
        self.window.model_menu.popup(label.mapToGlobal(label.rect().bottomLeft()))

    def choose_model(self) -> None:
        path = QFileDialog.getExistingDirectory(self.window, "Model folder (config.json + weights)")
        if path:
            self.set_model(path)

    def set_model(self, name_or_dir: str | None) -> None:
        self.model_name = name_or_dir or None
        self.settings.setValue("repair/model", self.model_name or "")
        self.update_model_label()
        self.probe_device()  # the precision is measured per model preset
        w = self.window
        if w.session is not None and w.selected_gap is not None:
            w._refresh()  # the warning and Auto's ω belong to the model
            if w.workspace.has_candidates(w.selected_gap):
                w.candidate_controller.check_fit(w.selected_gap)

    def update_model_label(self) -> None:
        name = self.model_name or engines.DEFAULT_MODEL
        short = Path(name).name if os.sep in name else name
        installed = engines.model_installed(self.model_name)
        self.window.repair_panel.model.setText(
            f'model: <a href="model">{html.escape(short)}</a>'
            + ("" if installed else " (not installed)")
        )
        self.window.repair_panel.model.setToolTip(
            (
                name
                if installed
                else f"{name} is not installed: Auto uses Sim; SimDPS/DPS need a model"
            )
            + "\nClick to choose another model"
        )

    def device_ready(self, label: str) -> None:
        w = self.window
        w.device_label.setText(f"device: {label}")
        takes = w.repair_panel.takes
        if label.startswith("CUDA") and not w.settings_store.takes_chosen and takes.value() == 1:
            takes.setValue(DEFAULT_GPU_TAKES)  # a batch of takes costs little more on a GPU
            w.settings_store.takes_chosen = (
                False  # the device's choice, not the user's: not remembered
            )
        w.repair_controller.update_estimate()  # the pace is remembered per device

    def build_speed_menus(self, menu: QMenu) -> None:
        """Repair → Precision and Repair → Warm start: choices kept in the settings."""
        self.precision_actions.clear()
        self.warm_start_actions.clear()
        for title, items, chosen, store, on_pick in (
            (
                "&Precision",
                PRECISION_ITEMS,
                self.precision,
                self.precision_actions,
                self.set_precision,
            ),
            (
                "&Warm start",
                WARM_START_ITEMS,
                self.start_sigma,
                self.warm_start_actions,
                self.set_start_sigma,
            ),
        ):
            sub = menu.addMenu(title)
            group = QActionGroup(sub)
            for label, value in items:
                a = QAction(label, sub, checkable=True)
                a.setChecked(value == chosen)
                a.triggered.connect(lambda _on=False, v=value, f=on_pick: f(v))
                group.addAction(a)
                sub.addAction(a)
                store[value] = a
        self.precision_actions["auto"].setToolTip(
            "bf16 where this processor has bf16 matrix support and a one-off measurement found "
            "it at least 1.2× faster; fp32 otherwise"
        )

    def set_precision(self, precision: str) -> None:
        """Run repairs in ``precision`` ("auto", "fp32" or "bf16"); remembered."""
        self.precision = precision
        self.settings.setValue("repair/precision", precision)
        self.precision_actions[precision].setChecked(True)
        self.window.device_label.setText("device: …")
        self.probe_device()

    def set_start_sigma(self, start_sigma: float | None) -> None:
        """Warm-start SimDPS at ``start_sigma`` (None: from noise); remembered."""
        self.start_sigma = start_sigma
        self.settings.setValue("repair/start_sigma", "" if start_sigma is None else start_sigma)
        self.warm_start_actions[start_sigma].setChecked(True)
        self.window.repair_controller.update_estimate()

    def toggle_check_fit(self, on: bool) -> None:
        self.settings.setValue("repair/check_fit", bool(on))
        w = self.window
        if w.selected_gap is not None and on and w.workspace.has_candidates(w.selected_gap):
            w.candidate_controller.check_fit(w.selected_gap)
