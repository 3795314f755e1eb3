"""The transport of the main window: play and stop, the pre/post-roll loop around the selected
gap, A/B, the cursor's seek and the playhead (docs/architecture.md, section 2, step 11).

The sound itself is the window's :class:`~simdps_studio.gui.playback.PlaybackController` (the
output, the program, the patches); this class is what the transport bar, the track and the
actions ask of it, and what its signals draw on the transport and the track.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from simdps_studio.core.types import Gap
from simdps_studio.gui.window_part import WindowPart

if TYPE_CHECKING:
    from simdps_studio.gui.mainwindow import MainWindow


class TransportController(WindowPart):
    """Playback as the transport bar, the track and the actions use it.

    Parameters
    ----------
    window : MainWindow
        The document (``session``, ``selected_gap``), the cursor (``cursor_sample``), the
        transport bar, the track, ``playback``, ``toggle_play`` (which tests replace), the actions
        and the status line.
    """

    def __init__(self, window: MainWindow) -> None:
        self.window = window

    def update_playback_message(self) -> None:
        if self.window.playback.available:
            self.window.transport.set_playback_message("")
        else:
            self.window.transport.set_playback_message(self.window.playback.message)
        self.window.update_actions()  # Play and Loop follow the output

    def playback_failed(self, message: str) -> None:
        self.update_playback_message()
        self.window.show_error(message)

    def roll_range(self, gap: Gap) -> tuple[int, int]:
        sr = self.session.audio.sr
        start = max(0, gap.start_sample - int(self.window.transport.pre.value() * sr))
        end = min(
            self.session.audio.n_samples,
            gap.end_sample + int(self.window.transport.post.value() * sr),
        )
        return start, end

    def toggle_play(self) -> None:
        if self.session is None:
            return
        if self.window.playback.playing:
            self.window.playback.stop()
            return
        if not self.window.playback.available:
            self.window.status(self.window.playback.message)
            return
        if self.window.transport.loop_btn.isChecked() and self.window.selected_gap is not None:
            start, end = self.roll_range(self.window.selected_gap)
            self.window.playback.play(start, end, loop=True)
        else:
            self.window.playback.play(0, None, from_sample=self.window.cursor_sample)

    def restart_if_playing(self) -> None:
        if self.window.playback.playing:
            self.window.playback.stop()
            self.window.toggle_play()

    def toggle_ab(self) -> None:
        self.window.transport.set_b(not self.window.transport.is_b())

    def variant_changed(self, b: bool) -> None:
        self.window.playback.set_variant_b(b)
        self.window.track.set_show_repairs(b)
        self.window.status("B: repaired" if b else "A: original")

    def seek(self, sample: int) -> None:
        self.window.cursor_sample = sample
        self.window.track.set_playhead(sample)
        if self.session is not None:
            self.window.transport.set_position(
                sample / self.session.audio.sr, self.session.audio.duration_s
            )
        if self.window.playback.playing and not self.window.transport.loop_btn.isChecked():
            self.window.playback.stop()
            self.window.playback.play(0, None, from_sample=sample)

    def playhead_or_cursor(self) -> int:
        return (
            self.window.playback.position_sample()
            if self.window.playback.playing
            else self.window.cursor_sample
        )

    def playhead_moved(self, sample: int) -> None:
        if self.session is None:
            return
        self.window.track.set_playhead(
            sample, follow=not self.window.transport.loop_btn.isChecked()
        )
        self.window.transport.set_position(
            sample / self.session.audio.sr, self.session.audio.duration_s
        )

    def playback_state(self, playing: bool) -> None:
        self.window.transport.set_playing(playing)
        self.window.update_actions()  # Stop (Esc) follows playback
        if not playing and self.session is not None:
            self.window.track.set_playhead(self.window.cursor_sample)
            self.window.transport.set_position(
                self.window.cursor_sample / self.session.audio.sr, self.session.audio.duration_s
            )
