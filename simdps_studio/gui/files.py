"""File handling for the main window: open (with its project), save, export, the recent
files, autosave and the recovery offer after a crash (docs/architecture.md, sections 2 and 5).

:class:`FileController` runs the slow parts on the window's :class:`~simdps_studio.gui.workers.TaskRunner`
("open", "export") and hands an opened session to the window (``MainWindow.install_session``);
questions go through the window's prompts (``ask``, ``locate_source``), which tests replace.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QSettings, QTimer
from PySide6.QtWidgets import QDialog, QMessageBox

from simdps_studio.core.errors import SimDPSError
from simdps_studio.core.progress import sub_progress
from simdps_studio.gui.dialogs import ExportDialog, ExportOptions
from simdps_studio.gui.file_dialogs import ask_open_path
from simdps_studio.gui.window_part import WindowPart
from simdps_studio.gui.workers import TaskRunner
from simdps_studio.session import recovery
from simdps_studio.session.document import Session
from simdps_studio.session.project import (
    PROJECT_SUFFIX,
    load_project,
    project_path_for,
    save_project,
)

if TYPE_CHECKING:
    from simdps_studio.gui.mainwindow import MainWindow

#: Audio files the open dialog lists.
AUDIO_FILTER = (
    "Audio and projects (*.wav *.flac *.aif *.aiff *.ogg *.mp3 *.w64 *.caf *.simdps.json)"
)
#: Recent files kept.
MAX_RECENT = 10
#: Seconds of inactivity before an autosave.
AUTOSAVE_S = 20


def _loader(path: Path, project: Path | None, *, progress=None, cancel=None):
    """Open a recording (or a project) and build its peak pyramid: the open task.

    Returns the session, its pyramid, a note for the status bar and, when the recording's
    project could not be used, why (else None).
    """
    from simdps_studio.audio.peaks import PeakPyramid

    note, project_error = "", None
    if project is not None:
        try:
            session = load_project(
                project,
                # The recording opened is the source, also when it is a copy of the project's.
                source_path=None if path.name.endswith(PROJECT_SUFFIX) else path,
                progress=sub_progress(progress, 0, 0.7),
                cancel=cancel,
            )
            note = f"opened project {project.name}"
        except SimDPSError as e:
            if path.name.endswith(PROJECT_SUFFIX):
                raise
            project_error = str(e)
            note = f"project not used: {e}"
            session = Session.open(path, progress=sub_progress(progress, 0, 0.7), cancel=cancel)
    else:
        session = Session.open(path, progress=sub_progress(progress, 0, 0.7), cancel=cancel)
    pyramid = PeakPyramid(session.audio, progress=sub_progress(progress, 0.7, 1.0), cancel=cancel)
    note = " · ".join([t for t in (note, *session.audio.meta.get("warnings", ())) if t])
    return session, pyramid, note, project_error


def _export_job(session, options: ExportOptions, *, progress=None, cancel=None):
    """Render and write ``session`` as ``options`` say: the export task (a provenance record)."""
    from simdps_studio.session.render import export

    progress and progress(0.05, "rendering")
    return export(
        session,
        options.path,
        format=options.format,
        subtype=options.subtype,
        dither=options.dither,
        write_provenance=options.provenance,
    )


class FileController(WindowPart):
    """Open, save and export one window's file; its recent files, autosave and recovery.

    Parameters
    ----------
    window : MainWindow
        Shows the opened session, the prompts, the status line and the signals
        (``file_opened``, ``export_finished``).
    settings : QSettings
        ``files/recent``, ``files/last_dir``, ``autosave/seconds``.
    runner : TaskRunner
        The window's background tasks.
    recovery_folder : Path
        Where autosaves go.
    """

    def __init__(
        self, window: MainWindow, settings: QSettings, runner: TaskRunner, recovery_folder: Path
    ) -> None:
        self.window = window
        self.settings = settings
        self.runner = runner
        self.recovery_folder = recovery_folder
        self.autosave_file: Path | None = None
        self._autosave_warned = False
        self._confirmed_state = None  # the state the last "save first?" answer was about
        self._autosave_timer = QTimer(window)
        self._autosave_timer.setSingleShot(True)
        self._autosave_timer.setInterval(
            int(self.settings.value("autosave/seconds", AUTOSAVE_S)) * 1000
        )
        self._autosave_timer.timeout.connect(self.autosave_now)

    def watch(self, session: Session) -> None:
        """Autosave the newly installed ``session`` after its edits (at once if it is dirty)."""
        if session.source_path:
            self.autosave_file = recovery.autosave_path_for(session, self.recovery_folder)
        if session.dirty:
            self._autosave_timer.start()

    def edited(self) -> None:
        """An edit: the autosave follows after a quiet spell."""
        self._autosave_timer.start()

    def open_dialog(self) -> None:
        """File > Open: choose a recording or a project."""
        start = str(self.settings.value("files/last_dir", str(Path.home())))
        path = ask_open_path(self.window, "Open audio or project", start, AUDIO_FILTER)
        if path:
            self.open_path(path)

    def confirm_discard(self) -> bool:
        """Ask to stop a running repair and to save unsaved work; False when the user cancels."""
        if self.runner.running("repair"):
            answer = self.window.ask(
                "A repair is running",
                "A repair is still running. Stop it?",
                QMessageBox.Yes | QMessageBox.Cancel,
                QMessageBox.Cancel,
            )
            if answer == QMessageBox.Cancel:
                return False
        self._confirmed_state = None if self.session is None else self.session.state
        if self.session is None or not self.session.dirty:
            return True
        answer = self.window.ask(
            "Unsaved changes",
            f"Save the project of {self.window.path.name if self.window.path else 'this file'} first?",
            QMessageBox.Save | QMessageBox.Discard | QMessageBox.Cancel,
            QMessageBox.Save,
        )
        if answer == QMessageBox.Cancel:
            return False
        if answer == QMessageBox.Save:
            return self.save()
        return True

    def open_path(self, path: str | os.PathLike) -> None:
        """Open an audio file (with its saved project, if any) or a ``.simdps.json`` project."""
        p = Path(path).expanduser()
        if not p.exists():
            self.window.show_error(f"cannot open {p.name}: there is no such file ({p.parent})")
            return
        if not self.confirm_discard():
            return
        project = None
        if p.name.endswith(PROJECT_SUFFIX):
            project = p
        elif project_path_for(p).is_file():
            project = project_path_for(p)
        self.window.status(f"Opening {p.name}…", 0)
        self.runner.start(
            "open",
            _loader,
            p,
            project,
            on_result=lambda value, p=p: self._opened(p, *value),
            on_error=lambda message, p=p: self.window.show_error(
                message if p.name in message else f"cannot open {p.name}: {message}"
            ),
            on_progress=lambda f, m: self.window.status(f"{m or 'opening'}… {f * 100:.0f} %", 0),
        )

    def _opened(
        self, path: Path, session: Session, pyramid, note: str, project_error: str | None
    ) -> None:
        # The window stayed editable while the file loaded: edits made since the question must
        # be asked about again, not dropped.
        if (
            self.session is not None
            and self.session.state is not self._confirmed_state
            and self.session.dirty
            and not self.confirm_discard()
        ):
            self.window.status(f"Opening {path.name} cancelled")
            return
        self.window.install_session(session, pyramid)
        self._remember_recent(path)
        if project_error:
            self.window.show_error(
                f"The saved project of this file was not opened ({project_error}). It stays on "
                "disk; saving keeps it as a .bak file beside the new one."
            )
        # A note (a project not used, a truncated file) stays up longer than the plain message.
        self.window.status(
            f"Opened {session.source_path.name}" + (f" · {note}" if note else ""),
            30000 if note else 8000,
        )
        self.window.file_opened.emit(str(path))

    def save(self) -> bool:
        """Save the project beside the audio; True on success."""
        if self.session is None:
            return False
        kept: list[Path] = []
        try:
            target = save_project(self.session, on_kept=kept.append)
        except SimDPSError as e:
            self.window.show_error(str(e))
            return False
        self.drop_autosave()
        if kept:
            self.window.status(
                f"Saved project {target.name}; the earlier one was kept as {kept[0].name}", 20000
            )
        else:
            self.window.status(f"Saved project {target.name}")
        self.window.update_title()
        return True

    def export_dialog(self) -> None:
        """File > Export: choose the file and format, then export."""
        if self.session is None:
            return
        a = self.session.audio
        dlg = ExportDialog(self.session.source_path, a.subtype, a.format, self.window)
        if dlg.exec() == QDialog.Accepted and self.may_replace(dlg.options().path):
            self.export(dlg.options())

    def may_replace(self, path: Path) -> bool:
        """Ask before an export replaces an existing file (a typed name gets no file-dialog
        question); refusals of the source itself come from the export."""
        if not path.is_file():
            return True
        answer = self.window.ask(
            "Replace file?",
            f"{path.name} already exists in {path.parent}. Replace it with this export?",
            QMessageBox.Yes | QMessageBox.No,
            QMessageBox.No,
        )
        return answer == QMessageBox.Yes

    def export(self, options: ExportOptions) -> None:
        """Export in the background; ``export_finished`` carries the provenance record."""
        if self.session is None:
            return
        snapshot = Session(
            self.session.audio,
            self.session.source_path,
            self.session.source_sha256,
            self.session.state,
        )
        self.window.status(f"Exporting {options.path.name}…", 0)
        self.runner.start(
            "export",
            _export_job,
            snapshot,
            options,
            on_result=lambda record, session=self.session: self._exported(record, session),
            on_error=self.window.show_error,
        )

    def _exported(self, record: dict, session: Session | None = None) -> None:
        null = record.get("null_test_outside_spans")
        if null is None:  # the export converted the samples: no bit-exact comparison
            notes = record.get("conversion_notes") or ["sample format converted"]
            result = "; ".join(notes)
        else:
            if session is None or session is self.session:  # the badge is the open file's
                self.window.badges.set_null_badge(bool(null))
            result = "outside samples unchanged" if null else "NULL TEST FAILED"
        self.window.status(
            f"Exported {Path(record['output']).name} · {result}", 15000 if null else 30000
        )
        self.window.export_finished.emit(record)

    def _remember_recent(self, path: Path) -> None:
        recent = [str(path.resolve())] + [p for p in self._recent() if p != str(path.resolve())]
        self.settings.setValue("files/recent", recent[:MAX_RECENT])
        self.settings.setValue("files/last_dir", str(path.resolve().parent))
        self.update_recent_menu()

    def _recent(self) -> list[str]:
        value = self.settings.value("files/recent", [])
        if isinstance(value, str):
            value = [value]
        return [str(v) for v in (value or [])]

    def update_recent_menu(self) -> None:
        """File > Open recent: the remembered files, newest first."""
        self.window.recent_menu.clear()
        recent = self._recent()
        for p in recent:
            a = self.window.recent_menu.addAction(Path(p).name)
            a.setToolTip(p)
            a.triggered.connect(lambda _=False, p=p: self.open_path(p))
        self.window.recent_menu.setEnabled(bool(recent))

    def autosave_now(self) -> Path | None:
        """Write the autosave (called by the timer after edits)."""
        if self.session is None or self.autosave_file is None or not self.session.dirty:
            return None
        try:
            self.recovery_folder.mkdir(parents=True, exist_ok=True)
            return recovery.write_autosave(self.session, self.autosave_file)
        except (SimDPSError, OSError) as e:
            reason = getattr(e, "strerror", None) or str(e)
            if not self._autosave_warned:  # once per window: it would fail on every edit
                self._autosave_warned = True
                self.window.show_error(
                    f"Autosave failed ({reason}) in {self.recovery_folder}: unsaved work cannot "
                    "be recovered after a crash. Save the project (Ctrl+S) to keep it."
                )
            else:
                self.window.status(f"autosave failed: {reason}")
            return None

    def drop_autosave(self) -> None:
        """Stop the autosave timer and remove this window's autosave (saved, closed, replaced)."""
        self._autosave_timer.stop()
        if self.autosave_file is not None:
            recovery.remove_autosave(self.autosave_file)

    def offer_recovery(self) -> bool:
        """After a crash: offer the orphaned autosaves, newest first, until one is accepted; True
        when its recovery started (``file_opened`` follows once it is loaded, on a worker thread).

        A declined one is removed; the ones not asked about (after an accepted one) stay and are
        offered the next time the app starts: one window holds one file.
        """
        orphans = recovery.find_orphans(self.recovery_folder)
        for i, orphan in enumerate(orphans):
            answer = self.window.ask(
                "Recover unsaved work",
                f"SimDPS Studio did not close properly. Recover the unsaved work on "
                f"{Path(orphan.source).name}?",
                QMessageBox.Yes | QMessageBox.No,
                QMessageBox.Yes,
            )
            if answer == QMessageBox.Yes:
                self._recover(orphan, waiting=len(orphans) - i - 1)
                return True
            orphan.remove()
        return False

    def _recover(self, orphan: recovery.Autosave, *, waiting: int) -> None:
        name = Path(orphan.source).name
        source = Path(orphan.source)
        if not source.exists():
            # Moved or renamed since the crash: the user can point at it (its hash is checked).
            source = self.window.locate_source(name)
            if source is None:
                self.window.show_error(
                    f"Cannot recover the unsaved work on {name}: the recording is not where it "
                    f"was. Its autosave is kept: {orphan.project}"
                )
                return

        def recovered(value) -> None:
            session, pyramid, _note, project_error = value
            if project_error:  # the plain recording opened instead: keep the unsaved work
                self.window.show_error(
                    f"Cannot recover the unsaved work on {name} ({project_error}). Its autosave "
                    f"is kept: {orphan.project}"
                )
                return
            session.dirty = True
            self.window.install_session(session, pyramid)
            # The crashed session's autosave goes only once this one's is written.
            if self.autosave_now() is not None and orphan.project != self.autosave_file:
                orphan.remove()
            more = (
                f"; {waiting} more will be offered the next time SimDPS Studio starts"
                if waiting
                else ""
            )
            self.window.status(
                f"Recovered unsaved work on {name}{more}", 20000 if waiting else 8000
            )
            self.window.file_opened.emit(orphan.source)

        self.window.status("Recovering unsaved work…", 0)
        self.runner.start(
            "open",
            _loader,
            source,
            orphan.project,
            on_result=recovered,
            on_error=lambda m: self.window.show_error(f"cannot recover {name}: {m}"),
        )
