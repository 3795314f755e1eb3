"""Playback against a real PortAudio stream on ALSA's null device, and the callback's contract.

An ALSA configuration written to a temporary folder adds a ``null`` PCM (and makes it the default),
so PortAudio has a real output device on any Linux machine, with or without a sound card. The null
device consumes samples as fast as the callback produces them, which makes these tests quick.
The callback itself is also driven directly, to check the A/B crossfade sample by sample and that it
allocates no arrays.
"""

from __future__ import annotations

import os
import time
import tracemalloc
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from simdps_studio.audio.player import Patch, Player, Program, playback_available

pytestmark = pytest.mark.playback

ALSA_CONF = """
pcm.!default { type null }
ctl.!default { type null }
pcm.simdps_null { type null hint { show on description "SimDPS test output" } }
"""
SYSTEM_ALSA_CONF = Path("/usr/share/alsa/alsa.conf")


def _reinit_portaudio() -> None:
    import sounddevice as sd

    sd._terminate()
    sd._initialize()


@pytest.fixture(scope="module")
def null_device(tmp_path_factory):
    """PortAudio with ALSA's null device; skipped only when PortAudio itself is unusable."""
    try:
        import sounddevice  # noqa: F401
    except (OSError, ImportError) as e:
        pytest.skip(f"PortAudio is not usable here: {e}")
    if not SYSTEM_ALSA_CONF.is_file():
        pytest.skip("no ALSA configuration on this machine (not Linux/ALSA)")
    conf = tmp_path_factory.mktemp("alsa") / "asound.conf"
    conf.write_text(ALSA_CONF)
    old = os.environ.get("ALSA_CONFIG_PATH")
    os.environ["ALSA_CONFIG_PATH"] = f"{SYSTEM_ALSA_CONF}:{conf}"
    _reinit_portaudio()
    ok, message = playback_available()
    if not ok:
        pytest.skip(f"PortAudio has no usable output device: {message}")
    yield message
    if old is None:
        os.environ.pop("ALSA_CONFIG_PATH", None)
    else:
        os.environ["ALSA_CONFIG_PATH"] = old
    _reinit_portaudio()


def tone(sr: int, seconds: float, channels: int = 2) -> np.ndarray:
    t = np.arange(int(sr * seconds)) / sr
    x = 0.5 * np.sin(2 * np.pi * 440 * t)
    return np.repeat((x * 32767).astype(np.int16)[None], channels, axis=0)


def test_stream_plays_to_the_end_and_stops(null_device):
    sr = 44100
    x = tone(sr, 2.0)
    player = Player()
    try:
        player.open(sr, 2)
        player.play(Program.build(x, start_sample=sr // 2, end_sample=sr))
        deadline = time.monotonic() + 5
        while player.playing and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not player.playing
        assert player.position_sample == sr  # stopped exactly at the end of the range
        assert player.callbacks >= (sr // 2) // player.block_frames
        # The level meter saw the tone at -6 dBFS. The meter holds the last block's peak, and the
        # null device plays faster than real time, so a single read may land on the fade before
        # the loop point: take the loudest of 20 or more reads while at least 20 blocks play.
        player.play(Program.build(x, loop=True))
        n0 = player.callbacks
        deadline = time.monotonic() + 5
        loudest, reads = 0.0, 0
        while (player.callbacks < n0 + 20 or reads < 20) and time.monotonic() < deadline:
            loudest = max(loudest, float(player.peak.max()))
            reads += 1
            time.sleep(0.005)
        assert 0.45 < loudest <= 0.51
        player.stop()
        assert not player.playing
    finally:
        player.close()


def test_loop_stays_inside_its_range_and_ab_switches_while_playing(null_device):
    sr = 48000
    x = tone(sr, 3.0)
    fill = np.zeros((2, sr // 2), np.float32)
    player = Player()
    try:
        player.open(sr, 2)
        prog = Program.build(
            x, patches=[Patch(sr, fill)], start_sample=sr // 2, end_sample=2 * sr, loop=True
        )
        player.play(prog)
        three_loops = 3 * (1.5 * sr) / player.block_frames
        # Poll until it has looped three times (the null device plays faster than real time, but a
        # busy machine may hold it back, so there is a deadline, not a fixed wait).
        seen = []
        deadline = time.monotonic() + 5
        while (player.callbacks <= three_loops or len(seen) < 40) and time.monotonic() < deadline:
            seen.append(player.position_sample)
            time.sleep(0.005)
        assert all(sr // 2 <= p <= 2 * sr for p in seen)
        assert player.callbacks > three_loops  # it looped
        for b in (True, False):
            player.set_variant_b(b)
            deadline = time.monotonic() + 2
            while player._mix_b != float(b) and time.monotonic() < deadline:
                time.sleep(0.005)
            assert player._mix_b == float(b)  # the crossfade completed
        player.stop()
    finally:
        player.close()
    assert not player.is_open


def _status():
    return SimpleNamespace(output_underflow=False)


def _drive(player: Player, frames: int, blocks: int) -> np.ndarray:
    out = np.zeros((frames, player._out_channels), np.float32)
    chunks = []
    for _ in range(blocks):
        player._callback(out, frames, None, _status())
        chunks.append(out.copy())
    return np.concatenate(chunks)


def _offline_player(sr: int, channels: int, out_channels: int = 2, block_frames=512) -> Player:
    """A Player with its buffers but no stream: the callback is called directly."""
    player = Player(block_frames=block_frames)
    player._sd = SimpleNamespace(CallbackStop=type("CallbackStop", (Exception,), {}))
    player._alloc(channels, out_channels, sr)
    player._src_channels, player._out_channels, player._sr = channels, out_channels, sr
    return player


def test_ab_switch_is_a_short_crossfade_at_the_same_position():
    sr = 48000
    n = sr
    source = np.zeros((1, n), np.float32)  # A: silence
    ones = np.ones((1, n), np.float32)  # B: the patch is a constant 1.0 over the whole range
    player = _offline_player(sr, 1)
    prog = Program.build(source, patches=[Patch(0, ones)], start_sample=0, end_sample=n)
    player._program, player._playing, player._pos = prog, True, 0
    before = _drive(player, 512, 4)
    assert np.all(before == 0.0)
    pos = player._pos
    player.set_variant_b(True)
    after = _drive(player, 512, 4)[:, 0]
    assert player._pos == pos + 4 * 512  # the position never jumps
    xfade = player._xfade_n
    # A linear ramp from A to B over the crossfade length: no step larger than one ramp step.
    assert np.max(np.abs(np.diff(np.concatenate([[0.0], after])))) <= 1.0 / xfade + 1e-6
    np.testing.assert_allclose(after[: xfade - 1], np.arange(1, xfade) / xfade, atol=1e-5)
    assert np.all(after[xfade:] == 1.0)
    # Mono is sent to both outputs.
    assert player._out_channels == 2


def test_loop_point_and_stop_are_faded():
    sr = 8000
    x = np.full((2, sr), 0.5, np.float32)
    player = _offline_player(sr, 2)
    player._program = Program.build(x, start_sample=0, end_sample=1000, loop=True)
    player._playing, player._pos = True, 0
    player._fade_in_left = player._xfade_n
    out = _drive(player, 256, 12)[:, 0]
    n = player._xfade_n
    assert out[0] < 0.5 / n * 1.5  # faded in
    # Around each loop point (every 1000 samples) the signal dips to zero and comes back.
    assert out[999] < 0.5 / n * 1.5 and out[1000] < 0.5 / n * 1.5
    assert np.max(np.abs(np.diff(out))) <= 0.5 / n + 1e-6
    player._stop_requested = True
    tail = _drive(player, 256, 1)[:, 0]
    assert tail[-1] == 0.0 and not player.playing
    assert np.max(np.abs(np.diff(tail))) <= 0.5 / n + 1e-6


def test_callback_allocates_no_block_sized_memory():
    """With 4096-frame blocks any array the callback made would take >= 32 KiB (a block of
    float32 stereo); NumPy's own per-call bookkeeping stays at a few KiB whatever the block size."""
    sr, frames = 44100, 4096
    x = tone(sr, 4.0)
    patch = Patch(sr // 2, np.zeros((2, sr // 4), np.float32))
    player = _offline_player(sr, 2, block_frames=frames)
    player._program = Program.build(x, patches=[patch], loop=True, end_sample=2 * sr)
    player._playing, player._pos = True, 0
    out = np.zeros((frames, 2), np.float32)
    for _ in range(10):  # warm up (first-call caches)
        player._callback(out, frames, None, _status())
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        for i in range(200):  # loops, crosses the patch, fades, switches A/B on the way
            if i % 5 == 0:
                player.set_variant_b(not player.variant_b)
            player._callback(out, frames, None, _status())
        current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak - base < 16 * 1024, f"the callback allocated {peak - base} bytes at peak"
    assert current - base < 4 * 1024


def test_no_device_means_a_clear_message():
    ok, message = playback_available(device="no-such-device-xyz")
    assert not ok
    assert message.startswith("playback is off")


def test_window_plays_loops_and_switches_ab(qtbot, null_device, tmp_path):
    """The app with a real output: Space plays, the playhead moves, A/B and loop work."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ["SIMDPS_NO_DIALOGS"] = "1"
    import soundfile as sf
    from PySide6.QtCore import QSettings, Qt
    from PySide6.QtWidgets import QMessageBox

    from simdps_studio.core.types import Gap
    from simdps_studio.gui.app import create_app
    from simdps_studio.gui.mainwindow import MainWindow

    sr = 22050
    path = tmp_path / "tone.wav"
    sf.write(path, tone(sr, 6.0).T, sr, subtype="PCM_16")
    create_app()
    w = MainWindow(
        QSettings(str(tmp_path / "s.ini"), QSettings.IniFormat), recovery_dir=tmp_path / "rec"
    )
    w.ask = lambda *a: QMessageBox.Discard
    qtbot.addWidget(w)
    w.show()
    assert w.playback.available, w.playback.message
    with qtbot.waitSignal(w.file_opened, timeout=10000):
        w.open_path(path)
    positions = []
    w.playback.position.connect(positions.append)
    states = []
    w.playback.state.connect(states.append)
    qtbot.keyClick(w, Qt.Key_Space)
    # The null device is faster than real time: playback reaches the end and stops by itself.
    qtbot.waitUntil(lambda: states == [True, False], timeout=10000)
    assert w.playback.player.position_sample == 6 * sr
    assert w.transport.play_btn.accessibleName() == "Play"
    # Loop a gap with pre/post roll; switch A/B while it loops.
    gap = Gap(2 * sr, 2 * sr + sr // 4)
    w.add_gap(gap)
    w.transport.pre.setValue(0.5)
    w.transport.post.setValue(0.5)
    qtbot.keyClick(w, Qt.Key_L)
    assert w.transport.loop_btn.isChecked()
    positions.clear()
    qtbot.keyClick(w, Qt.Key_Space)
    assert w.playback.playing
    qtbot.waitUntil(lambda: len(positions) >= 5, timeout=5000)
    assert all(int(1.5 * sr) <= p <= int(2.75 * sr) + 1 for p in positions)
    qtbot.keyClick(w, Qt.Key_B)
    assert w.playback.player.variant_b is False
    qtbot.keyClick(w, Qt.Key_B)
    assert w.playback.player.variant_b is True
    qtbot.keyClick(w, Qt.Key_Space)
    assert not w.playback.playing
    w.close()
    assert w.runner.thread_count() == 0
