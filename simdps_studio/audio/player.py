"""Real-time playback through PortAudio (sounddevice), with click-free A/B switching.

Qt-free. ``sounddevice`` is imported lazily, so a machine without PortAudio can still import this
module: :func:`playback_available` then says why playback is off and the rest of the app works.

Everything the audio callback touches is prepared beforehand on the caller's thread and handed over
as one immutable :class:`Program` (a single reference assignment, atomic under the GIL). The
callback only copies and scales samples into buffers preallocated when the stream is opened: no
array allocation, no locks, no logging, no Qt. The two variants are

* **A**, the source samples (native dtype, referenced, never copied), and
* **B**, the same samples with the program's *patches* (repair fills) written over their spans,

so switching A/B keeps the position and is a gain ramp between two renderings of the same block,
never a jump. Starting, stopping and looping are faded too.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from simdps_studio.core.errors import InputError, NotAvailableError
from simdps_studio.core.types import native_to_float

#: Frames per callback (fixed, so the preallocated buffers always fit).
BLOCK_FRAMES = 512
#: A/B crossfade and start/stop/loop fades, in seconds.
XFADE_S = 0.010
#: Output latency asked of PortAudio, in seconds (A/B answers within about this time).
LATENCY_S = 0.05


def _sounddevice():
    """Import sounddevice, or raise NotAvailableError with a one-line reason."""
    try:
        import sounddevice as sd
    except OSError:
        raise NotAvailableError(
            "playback is off: the PortAudio library is missing (Debian: apt-get install "
            "libportaudio2)"
        ) from None
    except ImportError:
        raise NotAvailableError(
            "playback is off: the Python package 'sounddevice' is not installed"
        ) from None
    return sd


def playback_available(device: int | str | None = None) -> tuple[bool, str]:
    """Whether an output device can be used, and a one-line explanation.

    Returns
    -------
    ok : bool
    message : str
        The device's name when ``ok``, else why playback is off.
    """
    try:
        sd = _sounddevice()
        info = sd.query_devices(device, kind="output")
    except NotAvailableError as e:
        return False, str(e)
    except (ValueError, Exception) as e:  # PortAudioError or "no output device"
        return False, f"playback is off: no audio output device ({str(e).splitlines()[0]})"
    if int(info.get("max_output_channels", 0)) < 1:
        return False, "playback is off: the audio device has no outputs"
    return True, str(info.get("name", "audio output"))


@dataclass(frozen=True)
class Patch:
    """Samples that replace the source's in variant B: ``fill`` over ``[start, start + n)``.

    Parameters
    ----------
    start : int
        First sample replaced (in the program's coordinates).
    fill : numpy.ndarray, shape (channels, n), float32
    """

    start: int
    fill: np.ndarray

    @property
    def end(self) -> int:
        """One past the last sample replaced."""
        return self.start + int(self.fill.shape[1])


@dataclass(frozen=True)
class Program:
    """What to play: a source, its B patches, a range, looping, and where it sits in the track.

    Parameters
    ----------
    source : numpy.ndarray, shape (channels, n)
        Native samples (int16, int32, float32, float64); referenced, not copied.
    patches : tuple of Patch
        Variant B's replacements, non-overlapping, float32 with ``source``'s channels.
    start_sample, end_sample : int
        Range played (source coordinates).
    loop : bool
        Jump back to ``start_sample`` at ``end_sample`` (with a short fade) instead of stopping.
    track_offset : int
        Added to positions when reporting them (a clip cut from the track at this sample).
    """

    source: np.ndarray
    patches: tuple[Patch, ...] = ()
    start_sample: int = 0
    end_sample: int = 0
    loop: bool = False
    track_offset: int = 0
    scale: np.float32 = field(default=np.float32(1.0))

    @classmethod
    def build(
        cls,
        source: np.ndarray,
        *,
        patches=(),
        start_sample: int = 0,
        end_sample: int | None = None,
        loop: bool = False,
        track_offset: int = 0,
    ) -> Program:
        """Validate and freeze a program (call on the GUI thread, never in the callback)."""
        source = np.asarray(source)
        if source.ndim != 2 or source.shape[1] == 0:
            raise InputError(f"playback source must be (channels, n), got {source.shape}")
        n = int(source.shape[1])
        end = n if end_sample is None else min(int(end_sample), n)
        start = max(0, min(int(start_sample), end - 1))
        frozen = []
        for p in sorted(patches, key=lambda p: p.start):
            fill = np.ascontiguousarray(p.fill, dtype=np.float32)
            if fill.shape[0] != source.shape[0]:
                raise InputError("a playback patch has the wrong number of channels")
            frozen.append(Patch(int(p.start), fill))
        # Value of one native unit: the callback converts with a single multiply.
        scale = np.float32(native_to_float(np.ones((1, 1), source.dtype))[0, 0])
        return cls(source, tuple(frozen), start, end, bool(loop), int(track_offset), scale)

    def with_patches(self, patches) -> Program:
        """Same program with other B patches."""
        return Program.build(
            self.source,
            patches=patches,
            start_sample=self.start_sample,
            end_sample=self.end_sample,
            loop=self.loop,
            track_offset=self.track_offset,
        )


class Player:
    """One output stream that plays :class:`Program` objects with A/B switching.

    Parameters
    ----------
    device : int or str, optional
        PortAudio output device (default device when None).
    block_frames : int
        Frames per callback.

    Notes
    -----
    Public methods run on the caller's (GUI) thread; :meth:`_callback` runs on PortAudio's thread
    and reads the attributes they set. Positions are read without locks: a Python int or a
    reference is always seen whole.
    """

    def __init__(self, device: int | str | None = None, *, block_frames: int = BLOCK_FRAMES):
        self.device = device
        self.block_frames = int(block_frames)
        self._sd = None
        self._stream = None
        self._sr = 0
        self._src_channels = 0
        self._out_channels = 0
        self._program: Program | None = None
        self._pos = 0  # next source sample the callback renders
        self._playing = False
        self._stop_requested = False
        self._want_b = False  # the variant asked for
        self._mix_b = 0.0  # current weight of B in [0, 1] (ramps towards _want_b)
        self._fade_in_left = 0  # samples of start fade-in still to apply
        self._xfade_n = 1
        self.underflows = 0
        self.callbacks = 0

    # ------------------------------------------------------------------------------ stream

    @property
    def sr(self) -> int:
        """Sample rate of the open stream (0 when closed)."""
        return self._sr

    @property
    def is_open(self) -> bool:
        return self._stream is not None

    def open(self, sr: int, channels: int) -> None:
        """Open (or reopen) the output stream for audio of ``sr`` Hz and ``channels`` channels.

        Mono is sent to both outputs of a stereo device; with more channels than the device has,
        the first ones are played. All callback buffers are allocated here.

        Raises
        ------
        NotAvailableError
            When PortAudio or an output device is missing or refuses the format.
        """
        if self._stream is not None and sr == self._sr and channels == self._src_channels:
            return
        self.close()
        sd = self._sd = _sounddevice()
        try:
            info = sd.query_devices(self.device, kind="output")
            out_channels = max(1, min(2, int(info["max_output_channels"]), max(channels, 2)))
            self._alloc(channels, out_channels, sr)
            self._stream = sd.OutputStream(
                samplerate=sr,
                channels=out_channels,
                dtype="float32",
                blocksize=self.block_frames,
                latency=LATENCY_S,
                device=self.device,
                callback=self._callback,
            )
        except NotAvailableError:
            raise
        except Exception as e:  # PortAudioError, ValueError from a device query
            self._stream = None
            raise NotAvailableError(
                f"playback is off: cannot open the audio output at {sr} Hz "
                f"({str(e).splitlines()[0]})"
            ) from None
        self._sr = int(sr)
        self._src_channels = int(channels)
        self._out_channels = out_channels

    def _alloc(self, channels: int, out_channels: int, sr: int) -> None:
        cap = self.block_frames * 2
        self._buf_a = np.zeros((cap, channels), np.float32)
        self._buf_b = np.zeros((cap, channels), np.float32)
        self._ramp = np.zeros(cap, np.float32)
        self._tmp = np.zeros((cap, out_channels), np.float32)
        self._steps = np.arange(1, cap + 1, dtype=np.float32)
        self._peak = np.zeros(out_channels, np.float32)
        self._zero, self._one = np.float32(0.0), np.float32(1.0)
        self._xfade_n = max(1, round(XFADE_S * sr))

    def close(self) -> None:
        """Stop and close the stream (safe to call twice)."""
        stream, self._stream = self._stream, None
        self._playing = False
        if stream is not None:
            try:
                stream.abort()
            except Exception:
                pass
            try:
                stream.close()
            except Exception:
                pass
        self._sr = 0

    # ------------------------------------------------------------------------------ transport

    def play(self, program: Program, *, start_sample: int | None = None) -> None:
        """Start playing ``program`` from ``start_sample`` (default its start), with a fade-in."""
        if self._stream is None:
            raise NotAvailableError("playback is off: no open audio output")
        if program.source.shape[0] != self._src_channels:
            raise InputError("program channels differ from the open stream's")
        self._halt_stream()
        pos = program.start_sample if start_sample is None else int(start_sample)
        self._program = program
        self._pos = min(max(pos, program.start_sample), program.end_sample - 1)
        self._mix_b = 1.0 if self._want_b else 0.0
        self._fade_in_left = self._xfade_n
        self._stop_requested = False
        self._peak[:] = 0.0
        self._playing = True
        try:
            self._stream.start()
        except Exception as e:
            self._playing = False
            raise NotAvailableError(f"playback failed: {str(e).splitlines()[0]}") from None

    def _halt_stream(self) -> None:
        if self._stream is not None and not self._stream.stopped:
            try:
                self._stream.stop()
            except Exception:
                self._stream.abort()

    def stop(self, *, timeout_s: float = 0.2) -> None:
        """Fade out and stop (returns once the fade was played or after ``timeout_s``)."""
        if self._stream is None:
            return
        if self._playing and self._stream.active:
            self._stop_requested = True
            deadline = time.monotonic() + timeout_s
            while self._playing and time.monotonic() < deadline:
                time.sleep(0.002)
        self._playing = False
        self._halt_stream()
        self._peak[:] = 0.0

    def set_program(self, program: Program) -> None:
        """Swap what is playing without moving the position (e.g. new patches after a repair)."""
        self._program = program

    def set_variant_b(self, b: bool) -> None:
        """Choose variant B (patched) or A (source); playing audio crossfades in ``XFADE_S``."""
        self._want_b = bool(b)
        if not self._playing:
            self._mix_b = 1.0 if b else 0.0

    @property
    def variant_b(self) -> bool:
        return self._want_b

    @property
    def playing(self) -> bool:
        """True while audio is being produced (False after the end of a non-looping program)."""
        return self._playing

    @property
    def position_sample(self) -> int:
        """Track position of the next sample rendered (stream latency not subtracted)."""
        program = self._program
        return self._pos + (program.track_offset if program is not None else 0)

    @property
    def peak(self) -> np.ndarray:
        """Peak level of the last block per output channel (linear, copy)."""
        return self._peak.copy()

    # ------------------------------------------------------------------------------ callback

    def _render(self, program: Program, buf: np.ndarray, pos: int, k: int, b: bool) -> None:
        """Write ``k`` frames of variant A or B starting at ``pos`` into ``buf[:k]`` (no alloc)."""
        # Cast by copying, then scale in place: a ufunc that casts on the fly would allocate a
        # temporary buffer of the block's size on every call.
        np.copyto(buf[:k], program.source[:, pos : pos + k].T, casting="unsafe")
        if program.scale != 1.0:
            np.multiply(buf[:k], program.scale, out=buf[:k])
        if not b:
            return
        end = pos + k
        for p in program.patches:
            if p.end <= pos:
                continue
            if p.start >= end:
                break
            a, z = max(p.start, pos), min(p.end, end)
            np.copyto(buf[a - pos : z - pos], p.fill[:, a - p.start : z - p.start].T)

    def _render_mixed(self, program: Program, pos: int, k: int, dst: int) -> None:
        """Render ``k`` frames at ``pos`` into ``_buf_a[dst:dst+k]`` with the A/B mix applied."""
        out = self._buf_a[dst : dst + k]
        target = 1.0 if self._want_b else 0.0
        mix = self._mix_b
        if mix == target and (mix == 0.0 or not program.patches):
            self._render(program, out, pos, k, False)
            return
        if mix == target:  # all B
            self._render(program, out, pos, k, True)
            return
        # Ramp the B weight towards the target, one step per sample.
        step = (1.0 if target > mix else -1.0) / self._xfade_n
        ramp = self._make_ramp(k, mix, step)
        b_buf = self._buf_b[:k]
        self._render(program, out, pos, k, False)
        self._render(program, b_buf, pos, k, True)
        np.subtract(b_buf, out, out=b_buf)
        self._scale_rows(b_buf, ramp)
        np.add(out, b_buf, out=out)
        self._mix_b = float(ramp[k - 1])

    def _make_ramp(self, k: int, first: float, step: float) -> np.ndarray:
        """``clip(first + step * (1..k), 0, 1)`` in the preallocated ramp buffer."""
        ramp = self._ramp[:k]
        np.multiply(self._steps[:k], np.float32(step), out=ramp)
        np.add(ramp, np.float32(first), out=ramp)
        np.clip(ramp, self._zero, self._one, out=ramp)
        return ramp

    @staticmethod
    def _scale_rows(buf: np.ndarray, gain: np.ndarray) -> None:
        """``buf[i, c] *= gain[i]`` channel by channel (a broadcast ``out=`` would copy)."""
        for c in range(buf.shape[1]):
            np.multiply(buf[:, c], gain, out=buf[:, c])

    def _fade(self, dst: int, k: int, first: float, step: float) -> None:
        """Multiply ``_buf_a[dst:dst+k]`` by the gain ``first + step * (1..k)`` clipped to [0, 1]."""
        self._scale_rows(self._buf_a[dst : dst + k], self._make_ramp(k, first, step))

    def _callback(self, outdata, frames, time_info, status) -> None:  # PortAudio's thread
        self.callbacks += 1
        if status.output_underflow:
            self.underflows += 1
        program = self._program
        cap = self._buf_a.shape[0]
        if not self._playing or program is None or frames > cap:
            outdata.fill(0.0)
            self._peak.fill(0.0)
            if not self._playing:
                raise self._sd.CallbackStop
            return
        n_fade = self._xfade_n
        stopping = self._stop_requested
        filled = 0
        pos = self._pos
        while filled < frames:
            k = min(frames - filled, program.end_sample - pos)
            if k <= 0:
                if program.loop:
                    pos = program.start_sample
                    self._fade_in_left = n_fade
                    continue
                self._buf_a[filled:frames] = 0.0
                self._playing = False
                break
            if program.loop:
                # Fade out just before the loop point, so the jump back never clicks.
                k = min(k, max(program.end_sample - n_fade - pos, 0) or k)
            self._render_mixed(program, pos, k, filled)
            if self._fade_in_left > 0:
                done = n_fade - self._fade_in_left
                self._fade(filled, k, done / n_fade, 1.0 / n_fade)
                self._fade_in_left = max(0, self._fade_in_left - k)
            if program.loop and pos + k > program.end_sample - n_fade:
                left = program.end_sample - pos  # samples to the loop point, > 0
                self._fade(filled, k, left / n_fade, -1.0 / n_fade)
            pos += k
            filled += k
        if stopping:
            self._fade(0, frames, 1.0, -1.0 / min(frames, n_fade))
            self._playing = False
        self._pos = pos
        src = self._buf_a[:frames]
        if self._out_channels == src.shape[1]:
            np.copyto(outdata, src)
        elif src.shape[1] == 1:
            np.copyto(outdata, src[:, :1])  # broadcast mono to every output
        else:
            np.copyto(outdata, src[:, : self._out_channels])
        tmp = self._tmp[:frames]
        np.abs(outdata, out=tmp)
        np.max(tmp, axis=0, out=self._peak)


def peak_dbfs(peak: np.ndarray, floor_db: float = -90.0) -> list[float]:
    """Linear peaks to dBFS, floored (for a level meter)."""
    return [max(floor_db, 20 * math.log10(p)) if p > 0 else floor_db for p in map(float, peak)]
