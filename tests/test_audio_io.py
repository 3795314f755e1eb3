"""Audio file I/O: lossless round trips, bad inputs, atomic writes, dither, cue markers."""

from __future__ import annotations

import hashlib
import os
import struct
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from simdps_studio.audio import file_sha256, info, load, read_cues, write
from simdps_studio.audio import io as audio_io
from simdps_studio.audio.dsp import quantize
from simdps_studio.core.errors import CancelledError, ExportError, InputError
from simdps_studio.core.progress import CancelToken
from simdps_studio.core.types import Audio, native_dtype_for_subtype

DURATION_S = 0.2


def synth(sr: int, channels: int, n: int | None = None, seed: int = 0) -> np.ndarray:
    """Piano-ish partials plus a little noise, different per channel; shape (n, channels)."""
    n = int(DURATION_S * sr) if n is None else n
    t = np.arange(n) / sr
    rng = np.random.default_rng(seed)
    out = np.empty((n, channels))
    for c in range(channels):
        f0 = min(110.0 * (c + 2), sr / 8)
        tone = sum(0.4 / k * np.sin(2 * np.pi * k * f0 * t + c) for k in range(1, 4))
        out[:, c] = tone * np.exp(-3 * t) + 0.01 * rng.standard_normal(n)
    return out


def native_read(path: Path) -> tuple[np.ndarray, sf._SoundFileInfo]:
    """Reference decode by soundfile in the native dtype, shape (channels, n)."""
    meta = sf.info(str(path))
    data, _ = sf.read(str(path), dtype=native_dtype_for_subtype(meta.subtype).name, always_2d=True)
    return data.T, meta


def no_leftovers(folder: Path) -> bool:
    return not [p for p in folder.iterdir() if p.name.endswith(".tmp")]


# ------------------------------------------------------------------------------ round-trip matrix

MATRIX = [
    (fmt, sub, ch, sr)
    for fmt, subs in (("WAV", ("PCM_16", "PCM_24", "FLOAT")), ("FLAC", ("PCM_16", "PCM_24")))
    for sub in subs
    for ch in (1, 2, 6)
    for sr in (8000, 44100, 48000, 96000, 192000)
]


@pytest.mark.parametrize(("fmt", "subtype", "channels", "sr"), MATRIX)
def test_round_trip_outside_gap_bit_identical(tmp_path, fmt, subtype, channels, sr):
    ext = {"WAV": ".wav", "FLAC": ".flac"}[fmt]
    src = tmp_path / f"src{ext}"
    sf.write(str(src), synth(sr, channels), sr, format=fmt, subtype=subtype)
    reference, _ = native_read(src)

    audio = load(src)
    assert (audio.sr, audio.channels, audio.subtype, audio.format) == (sr, channels, subtype, fmt)
    assert audio.samples.dtype == native_dtype_for_subtype(subtype)
    assert audio.samples.shape == reference.shape
    assert np.array_equal(audio.samples, reference)

    n = audio.n_samples
    g0, g1 = n // 3, n // 3 + n // 5
    fill = Audio.from_float(
        np.random.default_rng(1).uniform(-0.5, 0.5, (channels, g1 - g0)),
        sr,
        subtype=subtype,
        format=fmt,
    ).samples
    repaired = audio.samples.copy()
    repaired[:, g0:g1] = fill
    out = tmp_path / f"out{ext}"
    write(out, Audio(repaired, sr, audio.subtype, audio.format))

    back = load(out)
    assert (back.sr, back.channels, back.subtype, back.format) == (sr, channels, subtype, fmt)
    assert back.samples.shape == audio.samples.shape
    assert np.array_equal(back.samples[:, :g0], audio.samples[:, :g0])
    assert np.array_equal(back.samples[:, g1:], audio.samples[:, g1:])
    # Inside the gap: the fill, rounded to 24 bits where from_float made 32-bit values.
    err = np.abs(back.samples[:, g0:g1].astype(np.int64) - fill.astype(np.int64))
    assert err.max() <= (128 if subtype == "PCM_24" else 0)
    assert no_leftovers(tmp_path)


@pytest.mark.parametrize(
    ("fmt", "subtype", "ext"),
    [
        ("WAV", "PCM_U8", ".wav"),
        ("WAV", "PCM_32", ".wav"),
        ("WAV", "DOUBLE", ".wav"),
        ("AIFF", "PCM_S8", ".aiff"),
        ("AIFF", "PCM_24", ".aiff"),
        ("FLAC", "PCM_S8", ".flac"),
        ("W64", "FLOAT", ".w64"),
    ],
)
def test_other_depths_load_and_write_exactly(tmp_path, fmt, subtype, ext):
    src = tmp_path / f"src{ext}"
    sf.write(str(src), synth(22050, 2), 22050, format=fmt, subtype=subtype)
    reference, _ = native_read(src)
    audio = load(src)
    assert (audio.subtype, audio.format) == (subtype, fmt)
    assert np.array_equal(audio.samples, reference)
    out = tmp_path / f"out{ext}"
    write(out, audio)
    again, meta = native_read(out)
    assert (meta.subtype, meta.format) == (subtype, fmt)
    assert np.array_equal(again, audio.samples)


def test_blockwise_read_and_write_across_block_edges(tmp_path, monkeypatch):
    monkeypatch.setattr(audio_io, "BLOCK_FRAMES", 1000)
    src = tmp_path / "long.wav"
    sf.write(str(src), synth(8000, 3, n=5555), 8000, subtype="PCM_24")
    reference, _ = native_read(src)
    fractions = []
    audio = load(src, progress=lambda f, m="": fractions.append(f))
    assert np.array_equal(audio.samples, reference)
    assert fractions == sorted(fractions) and fractions[-1] == 1.0 and len(fractions) == 6
    out = tmp_path / "copy.wav"
    write(out, audio)
    assert np.array_equal(native_read(out)[0], reference)


def test_info_reports_header(tmp_path):
    path = tmp_path / "x.flac"
    sf.write(str(path), synth(44100, 2), 44100, subtype="PCM_24")
    meta = info(path)
    assert (meta.sr, meta.channels, meta.n_samples, meta.subtype, meta.format) == (
        44100,
        2,
        8820,
        "PCM_24",
        "FLAC",
    )
    assert meta.duration_s == pytest.approx(0.2)


def test_lossy_formats_load(tmp_path):
    sr = 44100
    tone = 0.5 * np.sin(2 * np.pi * 440 * np.arange(sr) / sr)
    cases = [("OGG", "VORBIS", ".ogg")]
    if sf.check_format("MP3", "MPEG_LAYER_III"):
        cases.append(("MP3", "MPEG_LAYER_III", ".mp3"))
    for fmt, subtype, ext in cases:
        path = tmp_path / f"tone{ext}"
        sf.write(str(path), np.stack([tone, tone], 1), sr, format=fmt, subtype=subtype)
        audio = load(path)
        assert (audio.format, audio.subtype, audio.sr, audio.channels) == (fmt, subtype, sr, 2)
        assert audio.samples.dtype == np.float32
        assert abs(audio.n_samples - sr) < sr // 10
        # The decoded tone is the tone (up to the codec's delay): a 440 Hz peak, right level.
        spectrum = np.abs(np.fft.rfft(audio.samples[0, : sr // 2]))
        assert abs(np.argmax(spectrum) * 2 - 440) <= 2
        assert np.sqrt(np.mean(audio.samples[0, 4000:20000] ** 2)) == pytest.approx(0.354, rel=0.1)


# ------------------------------------------------------------------------------------ bad inputs


def _make_bad(kind: str, folder: Path) -> Path:
    path = folder / f"{kind}.wav"
    good = folder / "good.wav"
    sf.write(str(good), synth(8000, 1), 8000, subtype="PCM_16")
    if kind == "missing":
        return folder / "does-not-exist.wav"
    if kind == "empty_file":
        path.write_bytes(b"")
    elif kind == "zero_frames":
        sf.write(str(path), np.zeros((0, 2)), 44100, subtype="PCM_16")
    elif kind == "truncated_header":
        path.write_bytes(good.read_bytes()[:30])
    elif kind == "text_file":
        path.write_text("these are not the samples you are looking for\n" * 20)
    elif kind == "folder":
        path.mkdir()
    elif kind == "truncated_flac":
        path = folder / "cut.flac"
        sf.write(str(path), synth(44100, 2, n=44100), 44100, subtype="PCM_16")
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif kind == "nan_float":
        x = synth(8000, 2)
        x[10, 0] = np.nan
        x[20, 1] = np.inf
        sf.write(str(path), x, 8000, subtype="FLOAT")
    return path


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("missing", "no such file"),
        ("empty_file", "the file is empty"),
        ("zero_frames", "contains no samples"),
        ("truncated_header", "cannot read audio from"),
        ("text_file", "not a recognised audio format"),
        ("folder", "it is a folder"),
        ("truncated_flac", "truncated or corrupt"),
        ("nan_float", "contains 2 non-finite samples (NaN/Inf)"),
    ],
)
def test_bad_input_raises_one_line_input_error(tmp_path, kind, expected):
    path = _make_bad(kind, tmp_path)
    with pytest.raises(InputError) as caught:
        load(path)
    message = str(caught.value)
    assert expected in message
    assert "\n" not in message
    assert str(path) in message


def test_info_rejects_non_audio(tmp_path):
    with pytest.raises(InputError, match="not a recognised audio format"):
        info(_make_bad("text_file", tmp_path))


def test_load_cancel(tmp_path, monkeypatch):
    monkeypatch.setattr(audio_io, "BLOCK_FRAMES", 100)
    path = tmp_path / "a.wav"
    sf.write(str(path), synth(8000, 1), 8000)
    token = CancelToken()
    token.cancel()
    with pytest.raises(CancelledError):
        load(path, cancel=token)


# --------------------------------------------------------------------------------- atomic writes


def _audio(sr: int = 8000, channels: int = 2, subtype: str = "PCM_16") -> Audio:
    """Valid audio of ``subtype`` (24-bit samples have their low 8 bits zero)."""
    return Audio(quantize(synth(sr, channels).T, subtype), sr, subtype, "WAV")


def test_write_cancelled_midway_leaves_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(audio_io, "BLOCK_FRAMES", 100)
    token = CancelToken()

    def progress(fraction, message=""):
        if fraction > 0.3:
            token.cancel()

    out = tmp_path / "out.wav"
    with pytest.raises(CancelledError):
        write(out, _audio(), progress=progress, cancel=token)
    assert list(tmp_path.iterdir()) == []


def test_failed_write_keeps_previous_file_and_no_temp(tmp_path, monkeypatch):
    out = tmp_path / "out.wav"
    write(out, _audio())
    before = out.read_bytes()
    monkeypatch.setattr(audio_io, "BLOCK_FRAMES", 100)
    calls = {"n": 0}
    real_write = sf.SoundFile.write

    def failing_write(self, data):
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError(28, "No space left on device")
        return real_write(self, data)

    monkeypatch.setattr(sf.SoundFile, "write", failing_write)
    with pytest.raises(ExportError, match=r"cannot write .*out\.wav: no space left on the device"):
        write(out, Audio.from_float(np.zeros((2, 800)), 8000, subtype="PCM_16"))
    assert out.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["out.wav"]


@pytest.mark.parametrize(
    ("name", "kwargs", "channels", "expected"),
    [
        ("a.flac", {"subtype": "FLOAT"}, 2, "format FLAC cannot hold FLOAT"),
        ("a.wav", {"format": "NOPE"}, 2, "unknown audio format NOPE"),
        ("a.flac", {}, 9, "cannot write"),  # FLAC holds at most 8 channels: libsndfile refuses
        ("missing/a.wav", {}, 2, "does not exist"),
        ("file.txt/a.wav", {}, 2, "is not a folder"),
        ("sub", {"format": "WAV"}, 2, "it is a folder"),
    ],
)
def test_unwritable_targets_raise_and_leave_nothing(tmp_path, name, kwargs, channels, expected):
    (tmp_path / "file.txt").write_text("x")
    (tmp_path / "sub").mkdir()
    out = tmp_path / name
    with pytest.raises(InputError, match=expected) as caught:
        write(out, _audio(channels=channels), **kwargs)
    assert "\n" not in str(caught.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.txt", "sub"]
    assert list((tmp_path / "sub").iterdir()) == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores folder permissions")
def test_read_only_folder(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(InputError, match="cannot write"):
            write(folder / "a.wav", _audio())
    finally:
        folder.chmod(0o700)


def test_write_uses_extension_format_and_default_permissions(tmp_path):
    audio = _audio(subtype="FLOAT")
    out = tmp_path / "a.flac"
    write(out, audio)
    meta = sf.info(str(out))
    assert (meta.format, meta.subtype) == ("FLAC", "PCM_24")
    mode = out.stat().st_mode & 0o777
    umask = os.umask(0)
    os.umask(umask)
    assert mode == 0o666 & ~umask


def test_int_to_float_and_double_targets_are_exact(tmp_path):
    audio = _audio(subtype="PCM_24")
    for subtype, dtype in (("FLOAT", "float32"), ("DOUBLE", "float64")):
        out = tmp_path / f"{subtype}.wav"
        write(out, audio, subtype=subtype)
        data, _ = sf.read(str(out), dtype=dtype, always_2d=True)
        expected = audio.samples.astype(np.float64) / 2**31
        assert np.array_equal(data.T.astype(np.float64), expected)


# ----------------------------------------------------------------------------------------- dither


def _write_read_int16(path: Path, audio: Audio, **kwargs) -> np.ndarray:
    write(path, audio, subtype="PCM_16", **kwargs)
    data, _ = sf.read(str(path), dtype="int16", always_2d=True)
    return data.T.astype(np.float64)


def test_float_to_pcm16_tpdf_dither(tmp_path):
    rng = np.random.default_rng(5)
    x = rng.uniform(-0.9, 0.9, (2, 48000)).astype(np.float32)
    audio = Audio(x, 48000, "FLOAT", "WAV")
    y = _write_read_int16(tmp_path / "a.wav", audio, seed=7)
    err_lsb = y - x.astype(np.float64) * 32768
    assert np.abs(err_lsb).max() <= 1.5
    assert abs(err_lsb.mean()) < 0.01
    # TPDF of ±1 LSB plus rounding: error power 1/4 LSB², independent of the signal.
    assert err_lsb.var() == pytest.approx(0.25, rel=0.05)
    # Deterministic for a seed, different for another.
    assert np.array_equal(_write_read_int16(tmp_path / "b.wav", audio, seed=7), y)
    assert not np.array_equal(_write_read_int16(tmp_path / "c.wav", audio, seed=8), y)
    # Without dither: plain rounding, error <= 1/2 LSB.
    plain = _write_read_int16(tmp_path / "d.wav", audio, dither=False)
    assert np.abs(plain - x * 32768.0).max() <= 0.5


def test_dither_keeps_a_minus_100_dbfs_sine(tmp_path):
    sr, n = 48000, 48000
    t = np.arange(n) / sr
    amplitude = 10 ** (-100 / 20)  # 0.33 LSB at 16 bits
    sine = amplitude * np.sin(2 * np.pi * 1000 * t)
    audio = Audio(sine[None].astype(np.float32), sr, "FLOAT", "WAV")
    plain = _write_read_int16(tmp_path / "plain.wav", audio, dither=False)
    assert not plain.any()  # rounding alone erases it
    y = _write_read_int16(tmp_path / "dith.wav", audio)[0] / 32768
    # Project onto the sine: the signal survives at its level under the noise.
    measured = 2 * np.dot(y, np.sin(2 * np.pi * 1000 * t)) / n
    assert measured == pytest.approx(amplitude, rel=0.1)


def test_pcm24_to_pcm16_dithers_and_pcm16_to_pcm24_is_exact(tmp_path):
    a24 = _audio(subtype="PCM_24")
    y = _write_read_int16(tmp_path / "a.wav", a24)
    err = y - a24.samples / 65536.0
    assert np.abs(err).max() <= 1.5 and 0.15 < err.var() < 0.35
    a16 = _audio(subtype="PCM_16")
    out = tmp_path / "b.wav"
    write(out, a16, subtype="PCM_24")
    data, _ = sf.read(str(out), dtype="int32", always_2d=True)
    assert np.array_equal(data.T, a16.samples.astype(np.int32) << 16)


# ------------------------------------------------------------------------------------------- cues


def _riff_chunk_ids(path: Path) -> list[bytes]:
    data = path.read_bytes()
    assert struct.unpack("<I", data[4:8])[0] == len(data) - 8
    ids, pos = [], 12
    while pos + 8 <= len(data):
        size = struct.unpack("<I", data[pos + 4 : pos + 8])[0]
        ids.append(data[pos : pos + 4])
        pos += 8 + size + size % 2
    assert pos == len(data)
    return ids


@pytest.mark.parametrize(("subtype", "n"), [("PCM_16", 8000), ("PCM_24", 1001)])
def test_cue_markers_round_trip(tmp_path, subtype, n):
    # PCM_24 mono with an odd frame count: odd-sized data chunk, needs its pad byte.
    audio = Audio(quantize(synth(8000, 1, n=n).T, subtype), 8000, subtype, "WAV")
    cues = [(700, "repair lpc end"), (100, "repair lpc start"), (n, "Reparatur Ende – ü")]
    out = tmp_path / "cues.wav"
    write(out, audio, cues=cues)
    assert read_cues(out) == sorted(cues)
    assert _riff_chunk_ids(out)[-2:] == [b"cue ", b"LIST"]
    assert np.array_equal(load(out).samples, audio.samples)
    assert np.array_equal(native_read(out)[0], audio.samples)


def test_cues_skipped_for_flac_and_out_of_range_rejected(tmp_path):
    audio = _audio()
    out = tmp_path / "a.flac"
    write(out, audio, cues=[(10, "x")])
    assert read_cues(out) == []
    with pytest.raises(InputError, match="outside the audio"):
        write(tmp_path / "b.wav", audio, cues=[(audio.n_samples + 1, "late")])
    assert [p.name for p in tmp_path.iterdir()] == ["a.flac"]


# ------------------------------------------------------------------------------ paths and hashing


def test_non_ascii_paths(tmp_path):
    folder = tmp_path / "Aufnahmen – späť 録音"
    folder.mkdir()
    src = folder / "Klavier ü 1.flac"
    sf.write(str(src), synth(44100, 2), 44100, subtype="PCM_16")
    audio = load(src)
    assert info(src).n_samples == audio.n_samples
    out = folder / "répáré 修复.wav"
    write(out, audio, cues=[(5, "ñ")])
    assert np.array_equal(load(out).samples, audio.samples)
    assert read_cues(out) == [(5, "ñ")]
    assert file_sha256(str(out)) == hashlib.sha256(out.read_bytes()).hexdigest()
    with pytest.raises(InputError, match="録音"):
        load(folder / "fehlt ö.wav")


def test_file_sha256(tmp_path):
    path = tmp_path / "blob.bin"
    data = np.random.default_rng(0).bytes(3 * (1 << 20) + 17)
    path.write_bytes(data)
    assert file_sha256(path) == hashlib.sha256(data).hexdigest()
    with pytest.raises(InputError, match="cannot read"):
        file_sha256(tmp_path / "none.bin")


def test_a_wav_cut_short_loads_with_a_warning(tmp_path, capsys):
    sr = 8000
    whole = tmp_path / "whole.wav"
    sf.write(whole, synth(sr, 2, n=2 * sr), sr, subtype="PCM_16")
    data = whole.read_bytes()
    cut = tmp_path / "cut.wav"
    cut.write_bytes(data[: 44 + (len(data) - 44) // 2])  # an interrupted copy: half the samples
    assert audio_io.wav_declared_frames(whole) == 2 * sr == load(whole).n_samples
    assert "warnings" not in load(whole).meta
    audio = load(cut)
    assert audio.n_samples == sr
    (warning,) = audio.meta["warnings"]
    assert "cut.wav is shorter than its header says (1.000 of 2.000 s" in warning
    # Our own exports (cue chunks after the samples) declare what they hold.
    marked = tmp_path / "marked.wav"
    write(marked, Audio.from_float(synth(sr, 1, n=sr).T, sr, subtype="PCM_16"), cues=[(10, "x")])
    assert "warnings" not in load(marked).meta
    # The CLI says so before it works on the file.
    from simdps_studio.cli import main

    assert main(["detect", str(cut)]) == 0
    assert f"note: {warning}" in capsys.readouterr().err


def test_a_lossy_source_exports_as_float_not_with_its_codec(tmp_path):
    # Decoded MP3/Vorbis samples are float: WAV gets them exactly as 32-bit float, FLAC as PCM.
    x = (0.1 * synth(22050, 2, n=22050)).T.astype(np.float32)
    for subtype, fmt in (("MPEG_LAYER_III", "MP3"), ("VORBIS", "OGG")):
        audio = Audio(x, 22050, subtype, fmt)
        assert audio_io.resolve_format(tmp_path / "o.wav", audio, format="WAV") == ("WAV", "FLOAT")
        assert audio_io.resolve_format(tmp_path / "o.flac", audio) == ("FLAC", "PCM_24")
        write(tmp_path / "o.wav", audio, format="WAV")
        y, _ = sf.read(tmp_path / "o.wav", dtype="float32", always_2d=True)
        assert np.array_equal(y.T, x)
    # Lossless sources keep their own subtype, as before.
    pcm = Audio.from_float(x, 22050, subtype="PCM_16")
    assert audio_io.resolve_format(tmp_path / "o.wav", pcm, format="WAV") == ("WAV", "PCM_16")


def test_a_header_with_sample_rate_zero_is_named(tmp_path):
    path = tmp_path / "sr0.wav"
    sf.write(path, np.zeros(100, np.float32), 8000, subtype="PCM_16")
    data = bytearray(path.read_bytes())
    data[24:28] = (0).to_bytes(4, "little")  # the fmt chunk's sample rate
    path.write_bytes(bytes(data))
    with pytest.raises(
        InputError, match=r"invalid header \(its sample rate or channel count is 0\)"
    ):
        load(path)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_a_named_pipe_is_refused_not_waited_on(tmp_path):
    fifo = tmp_path / "stream.wav"
    os.mkfifo(fifo)  # opening it to read would block until a writer came
    with pytest.raises(InputError, match="not a regular file"):
        load(fifo)
