"""Qt side of playback: owns the :class:`~simdps_studio.audio.player.Player`, polls its position
for the playhead and the level meter, and turns "play this range / this clip" into programs.

Without PortAudio or an output device, :attr:`PlaybackController.available` is False and
:attr:`message` says why; every method then does nothing, so the rest of the app works unchanged.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal

from simdps_studio.audio.player import Patch, Player, Program, peak_dbfs, playback_available
from simdps_studio.core.errors import SimDPSError
from simdps_studio.core.types import Audio

#: Playhead and meter refresh rate.
POLL_MS = 33


class PlaybackController(QObject):
    """Play ranges of the open recording (variant A or B) and report the playhead.

    Signals
    -------
    position(int)
        Track sample of the playhead, about 30 times a second while playing.
    levels(list)
        Peak level per output channel in dBFS.
    state(bool)
        Playing or not.
    failed(str)
        Playback stopped working (one line for the user).
    """

    position = Signal(int)
    levels = Signal(list)
    state = Signal(bool)
    failed = Signal(str)

    def __init__(self, parent: QObject | None = None, *, enabled: bool = True, device=None):
        super().__init__(parent)
        self.audio: Audio | None = None
        self.patches: tuple[Patch, ...] = ()
        self.player: Player | None = None
        self.device = device
        if enabled:
            self.available, self.message = playback_available(device)
        else:
            self.available, self.message = False, "playback is off (disabled in this session)"
        self._variant_b = True
        self._playing = False
        self._timer = QTimer(self)
        self._timer.setInterval(POLL_MS)
        self._timer.timeout.connect(self._poll)

    # ------------------------------------------------------------------------------ setup

    def set_audio(self, audio: Audio | None) -> None:
        """Prepare the output stream for a recording (its rate and channels)."""
        self.stop()
        self.audio = audio
        self.patches = ()
        if audio is None or not self.available:
            return
        try:
            if self.player is None:
                self.player = Player(self.device)
            self.player.open(audio.sr, audio.channels)
            self.player.set_variant_b(self._variant_b)
        except SimDPSError as e:
            self._disable(str(e))

    def _disable(self, message: str) -> None:
        self.available, self.message = False, message
        if self.player is not None:
            self.player.close()
            self.player = None
        self.failed.emit(message)

    def set_patches(self, patches: list[Patch]) -> None:
        """Variant B's repairs (enabled ones); a playing program picks them up at once."""
        self.patches = tuple(patches)
        if self.player is not None and self._playing and self.player._program is not None:
            prog = self.player._program
            if prog.source is self.audio.samples:
                self.player.set_program(prog.with_patches(self.patches))

    # ------------------------------------------------------------------------------ transport

    @property
    def playing(self) -> bool:
        return self._playing

    def set_variant_b(self, b: bool) -> None:
        self._variant_b = bool(b)
        if self.player is not None:
            self.player.set_variant_b(b)

    def play(
        self,
        start_sample: int,
        end_sample: int | None = None,
        *,
        loop: bool = False,
        extra_patches: list[Patch] | None = None,
        from_sample: int | None = None,
    ) -> bool:
        """Play ``[start_sample, end_sample)`` of the track; ``extra_patches`` replace the repairs
        they overlap (a candidate audition). Returns False when playback is unavailable."""
        if not self.available or self.player is None or self.audio is None:
            return False
        patches = list(self.patches)
        if extra_patches:
            for ex in extra_patches:
                patches = [p for p in patches if p.end <= ex.start or p.start >= ex.end]
            patches += list(extra_patches)
        try:
            program = Program.build(
                self.audio.samples,
                patches=patches,
                start_sample=start_sample,
                end_sample=end_sample,
                loop=loop,
            )
            self.player.play(program, start_sample=from_sample)
        except SimDPSError as e:
            self._disable(str(e))
            return False
        self._playing = True
        self._timer.start()
        self.state.emit(True)
        return True

    def stop(self) -> None:
        if self.player is not None:
            self.player.stop()
        self._timer.stop()
        if self._playing:
            self._playing = False
            self.levels.emit([-90.0] * 2)
            self.state.emit(False)

    def position_sample(self) -> int:
        return self.player.position_sample if self.player is not None else 0

    def close(self) -> None:
        self.stop()
        if self.player is not None:
            self.player.close()
            self.player = None

    def _poll(self) -> None:
        p = self.player
        if p is None:
            return
        self.position.emit(p.position_sample)
        self.levels.emit(peak_dbfs(p.peak))
        if not p.playing:
            self.stop()


def patches_from(spans) -> list[Patch]:
    """Player patches from the views' repair spans (enabled only)."""
    return [Patch(s.start_sample, np.asarray(s.fill, np.float32)) for s in spans if s.enabled]
