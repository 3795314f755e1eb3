"""The CLI contract (DESIGN.md section 5): LPC repair end to end, the round-trip matrix, bad input."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from simdps_studio.cli import main
from simdps_studio.search.testsignals import snr_db

SR = 44100


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run the real command in a fresh interpreter (as a user would)."""
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    return subprocess.run(
        [sys.executable, "-m", "simdps_studio", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=300,
    )


@pytest.fixture
def song(tmp_path, piano):
    path = tmp_path / "song.wav"
    sf.write(path, piano(SR, 3.0, channels=2).T, SR, subtype="PCM_16")
    return path


def _outside_equal(src: Path, out: Path, a_s: float, b_s: float) -> bool:
    x, sr = sf.read(src, dtype="int32", always_2d=True)
    y, sr2 = sf.read(out, dtype="int32", always_2d=True)
    a, b = round(a_s * sr), round(b_s * sr)
    keep = np.ones(len(x), bool)
    keep[a:b] = False
    return sr == sr2 and x.shape == y.shape and np.array_equal(x[keep], y[keep])


def test_lpc_repair_end_to_end(tmp_path, song):
    out = tmp_path / "out.wav"
    report = tmp_path / "report.json"
    before = song.read_bytes()
    r = run_cli(
        "repair",
        str(song),
        "-o",
        str(out),
        "--gap",
        "1.0:1.02",
        "--method",
        "lpc",
        "--report",
        str(report),
    )
    assert r.returncode == 0, r.stderr
    assert "lpc" in r.stdout and str(out) in r.stdout
    assert song.read_bytes() == before
    assert _outside_equal(song, out, 1.0, 1.02)
    info = sf.info(out)
    assert (info.samplerate, info.channels, info.subtype) == (SR, 2, "PCM_16")
    rep = json.loads(report.read_text())
    assert rep["gaps"][0]["method"] == "lpc"
    assert rep["gaps"][0]["gap_s"] == pytest.approx([1.0, 1.02])
    assert "seconds" in rep["gaps"][0]
    assert (tmp_path / "out.wav.provenance.json").exists()


MATRIX = [
    (fmt, subtype, ch, sr)
    for fmt, subtypes in (("WAV", ("PCM_16", "PCM_24", "FLOAT")), ("FLAC", ("PCM_16", "PCM_24")))
    for subtype in subtypes
    for ch in (1, 2, 6)
    for sr in (8000, 44100, 48000, 96000, 192000)
]


@pytest.mark.parametrize(("fmt", "subtype", "channels", "sr"), MATRIX)
def test_round_trip_matrix(tmp_path, piano, fmt, subtype, channels, sr):
    ext = fmt.lower()
    src = tmp_path / f"in.{ext}"
    x = piano(sr, 0.6, channels=channels, seed=channels)
    sf.write(src, x.T, sr, format=fmt, subtype=subtype)
    out = tmp_path / f"out.{ext}"
    assert main(["repair", str(src), "-o", str(out), "--gap", "0.25:0.27", "--method", "lpc"]) == 0
    info = sf.info(out)
    assert (info.format, info.subtype, info.channels, info.samplerate) == (
        fmt,
        subtype,
        channels,
        sr,
    )
    dtype = "float32" if subtype == "FLOAT" else "int32"
    a, _ = sf.read(src, dtype=dtype, always_2d=True)
    b, _ = sf.read(out, dtype=dtype, always_2d=True)
    g0, g1 = round(0.25 * sr), round(0.27 * sr)
    keep = np.ones(len(a), bool)
    keep[g0:g1] = False
    assert np.array_equal(a[keep], b[keep])
    assert not np.array_equal(a[~keep], b[~keep])  # the gap was really rewritten


def _nan_wav(path: Path) -> Path:
    x = np.zeros((SR, 1), np.float32)
    x[100] = np.nan
    x[200] = np.inf
    sf.write(path, x, SR, subtype="FLOAT")
    return path


BAD = {
    "missing input": lambda t, s: (
        ["repair", str(t / "nope.wav"), "-o", str(t / "o.wav"), "--gap", "0:1"],
        "o.wav",
    ),
    "not audio": lambda t, s: (
        ["repair", str(_text(t)), "-o", str(t / "o.wav"), "--gap", "0:1"],
        "o.wav",
    ),
    "empty file": lambda t, s: (
        ["repair", str(_empty(t)), "-o", str(t / "o.wav"), "--gap", "0:1"],
        "o.wav",
    ),
    "truncated wav": lambda t, s: (
        ["repair", str(_truncated(t, s)), "-o", str(t / "o.wav"), "--gap", "0:1"],
        "o.wav",
    ),
    "nan samples": lambda t, s: (
        ["repair", str(_nan_wav(t / "n.wav")), "-o", str(t / "o.wav"), "--gap", "0.1:0.2"],
        "o.wav",
    ),
    "gap past end": lambda t, s: (
        ["repair", str(s), "-o", str(t / "o.wav"), "--gap", "2.5:3.5"],
        "o.wav",
    ),
    "reversed gap": lambda t, s: (
        ["repair", str(s), "-o", str(t / "o.wav"), "--gap", "2:1"],
        "o.wav",
    ),
    "zero-length gap": lambda t, s: (
        ["repair", str(s), "-o", str(t / "o.wav"), "--gap", "1:1"],
        "o.wav",
    ),
    "malformed gap": lambda t, s: (
        ["repair", str(s), "-o", str(t / "o.wav"), "--gap", "abc"],
        "o.wav",
    ),
    "overlapping gaps": lambda t, s: (
        ["repair", str(s), "-o", str(t / "o.wav"), "--gap", "1:1.5", "--gap", "1.2:1.8"],
        "o.wav",
    ),
    "output is input": lambda t, s: (["repair", str(s), "-o", str(s), "--gap", "1:1.02"], None),
    "unwritable folder": lambda t, s: (
        ["repair", str(s), "-o", str(_readonly(t) / "o.wav"), "--gap", "1:1.02"],
        "ro/o.wav",
    ),
    "missing folder": lambda t, s: (
        ["repair", str(s), "-o", str(t / "nodir" / "o.wav"), "--gap", "1:1.02"],
        "nodir/o.wav",
    ),
    "unknown option": lambda t, s: (
        ["repair", str(s), "-o", str(t / "o.wav"), "--gap", "1:1.02", "--bogus"],
        "o.wav",
    ),
    "bad method": lambda t, s: (
        ["repair", str(s), "-o", str(t / "o.wav"), "--gap", "1:1.02", "--method", "magic"],
        "o.wav",
    ),
    "bad omega": lambda t, s: (
        [
            "repair",
            str(s),
            "-o",
            str(t / "o.wav"),
            "--gap",
            "1:1.5",
            "--method",
            "simdps",
            "--omega",
            "lots",
        ],
        "o.wav",
    ),
    "unknown extension": lambda t, s: (
        ["repair", str(s), "-o", str(t / "o.xyz"), "--gap", "1:1.02", "--method", "lpc"],
        "o.xyz",
    ),
}


EXPECTED = {
    "missing input": "no such file|does not exist|not found",
    "not audio": "cannot read audio",
    "empty file": "empty|cannot read audio",
    "truncated wav": "cannot read audio|truncated",
    "nan samples": "non-finite",
    "gap past end": "outside the track",
    "reversed gap": "reversed",
    "zero-length gap": "zero-length",
    "malformed gap": "not a gap",
    "overlapping gaps": "overlap",
    "output is input": "overwrite the source",
    "unwritable folder": "not writable",
    "missing folder": "does not exist",
    "unknown option": "unrecognized arguments",
    "bad method": "invalid choice",
    "bad omega": "--omega",
    "unknown extension": "unknown audio file extension",
}


def _text(t: Path) -> Path:
    p = t / "notes.wav"
    p.write_text("this is not audio\n")
    return p


def _empty(t: Path) -> Path:
    p = t / "empty.wav"
    p.write_bytes(b"")
    return p


def _truncated(t: Path, song: Path) -> Path:
    p = t / "trunc.wav"
    p.write_bytes(song.read_bytes()[:30])
    return p


def _readonly(t: Path) -> Path:
    p = t / "ro"
    p.mkdir(exist_ok=True)
    p.chmod(0o500)
    return p


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input(tmp_path, song, case):
    if case == "unwritable folder" and os.geteuid() == 0:
        pytest.skip("root can write into read-only folders")
    argv, leftover = BAD[case](tmp_path, song)
    expected = EXPECTED[case]
    before = song.read_bytes()
    r = run_cli(*argv)
    assert r.returncode == 2, (r.returncode, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr
    assert "Traceback" not in r.stderr
    assert re.search(expected, lines[0], re.IGNORECASE), lines[0]
    if leftover:
        assert not (tmp_path / leftover).exists()
    assert song.read_bytes() == before
    assert not [p for p in tmp_path.rglob("*.tmp")]


def test_unwritable_folder_is_refused(tmp_path, song, monkeypatch):
    # Root ignores permission bits, so check the refusal through os.access as a user would see it.
    import simdps_studio.session.render as render

    monkeypatch.setattr(render.os, "access", lambda p, mode: False)
    with pytest.raises(Exception, match="not writable"):
        render.check_output_path(tmp_path / "o.wav", song)


def test_non_ascii_paths(tmp_path, piano):
    folder = tmp_path / "Müsik ♫ 音楽"
    folder.mkdir()
    src = folder / "Étude №1.flac"
    sf.write(src, piano(SR, 1.0).T, SR, subtype="PCM_16")
    out = folder / "Étude №1 — repaired.flac"
    r = run_cli("repair", str(src), "-o", str(out), "--gap", "0.5:0.52", "--method", "lpc")
    assert r.returncode == 0, r.stderr
    assert _outside_equal(src, out, 0.5, 0.52)


def test_engine_not_available_is_a_clear_error(tmp_path, song, monkeypatch):
    import simdps_studio.session.engines as engines

    def missing(module, what):
        raise engines.NotAvailableError(f"not available yet: {what}")

    monkeypatch.setattr(engines, "_engine", missing)
    with pytest.raises(engines.NotAvailableError, match="not available yet"):
        engines.make_repairs(
            engines.Audio.from_float(np.zeros((1, SR), np.float32), SR),
            engines.Gap(1000, 2000),
            engines.RepairRequest(method="lpc"),
        )


def test_version():
    r = run_cli("--version")
    assert r.returncode == 0 and "SimDPS Studio" in r.stdout


# ----------------------------------------------------------------------------- search commands


@pytest.fixture(scope="module")
def repeat_track(tmp_path_factory):
    """24 s of stereo music whose 3–9 s passage recurs at 15–21 s; the gap is cut in the copy."""
    from simdps_studio.search.testsignals import piano_music, plant_repeat

    x = plant_repeat(piano_music(24.0, SR, seed=5, channels=2), 3 * SR, 15 * SR, 6 * SR)
    folder = tmp_path_factory.mktemp("repeat")
    path = folder / "repeat.wav"
    sf.write(path, x.T, SR, subtype="FLOAT")
    return path, x


def test_candidates_json_finds_the_planted_copy(repeat_track, capsys):
    path, _ = repeat_track
    assert main(["candidates", str(path), "--gap", "17:19", "--top", "3", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    top = out["candidates"][0]
    assert set(top) >= {
        "rank",
        "start_sample",
        "start_s",
        "cost",
        "score",
        "cost_stft",
        "cost_chroma",
        "gain_db",
    }
    assert top["rank"] == 1 and abs(top["start_sample"] - 5 * SR) <= SR // 1000
    assert len(out["candidates"]) == 3


def test_sim_repair_restores_planted_copy(repeat_track, tmp_path):
    path, x = repeat_track
    out = tmp_path / "sim.wav"
    rep = tmp_path / "r.json"
    assert (
        main(
            [
                "repair",
                str(path),
                "-o",
                str(out),
                "--gap",
                "17:19",
                "--method",
                "sim",
                "--report",
                str(rep),
            ]
        )
        == 0
    )
    y, _ = sf.read(out, dtype="float32", always_2d=True)
    a, b = 17 * SR, 19 * SR
    assert snr_db(x[:, a:b], y[a:b].T) >= 30
    entry = json.loads(rep.read_text())["gaps"][0]
    assert entry["method"] == "sim" and abs(entry["candidate_start_s"] - 5.0) < 0.001
    # The Sim span includes its 10 ms crossfade margins; beyond them the file is untouched.
    m = int(0.01 * SR)
    keep = np.ones(len(y), bool)
    keep[a - m : b + m] = False
    assert np.array_equal(y[keep], x.T[keep])


def test_guide_file_is_used_as_candidate(repeat_track, tmp_path):
    path, x = repeat_track
    guide = tmp_path / "guide.wav"
    sf.write(guide, x[:, 5 * SR : 7 * SR].T, SR, subtype="FLOAT")
    out = tmp_path / "g.wav"
    assert (
        main(
            [
                "repair",
                str(path),
                "-o",
                str(out),
                "--gap",
                "17:19",
                "--method",
                "sim",
                "--guide",
                str(guide),
            ]
        )
        == 0
    )
    y, _ = sf.read(out, dtype="float32", always_2d=True)
    a, b = 17 * SR, 19 * SR
    assert np.allclose(y[a:b].T, x[:, a:b], atol=1e-6)


def test_corpus_candidate_comes_from_the_other_file(tmp_path):
    from simdps_studio.search.testsignals import piano_music

    # The track has no internal repeat; another recording holds the missing passage.
    other = piano_music(10.0, SR, seed=11, channels=2)
    track = piano_music(8.0, SR, seed=12, channels=2)
    track[:, 2 * SR : 6 * SR] = other[:, 4 * SR : 8 * SR]
    src = tmp_path / "track.wav"
    sf.write(src, track.T, SR, subtype="FLOAT")
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    sf.write(corpus / "other.wav", other.T, SR, subtype="FLOAT")
    out = tmp_path / "c.wav"
    assert (
        main(
            [
                "repair",
                str(src),
                "-o",
                str(out),
                "--gap",
                "3:5",
                "--method",
                "sim",
                "--corpus",
                str(corpus),
            ]
        )
        == 0
    )
    y, _ = sf.read(out, dtype="float32", always_2d=True)
    a, b = 3 * SR, 5 * SR
    assert snr_db(track[:, a:b], y[a:b].T) >= 30


def test_no_candidate_is_a_clear_error(tmp_path, piano):
    path = tmp_path / "short.wav"
    sf.write(path, piano(SR, 2.5).T, SR, subtype="PCM_16")
    r = run_cli(
        "repair", str(path), "-o", str(tmp_path / "o.wav"), "--gap", "1:1.8", "--method", "sim"
    )
    assert r.returncode == 2
    assert r.stderr.startswith("error: ") and len(r.stderr.strip().splitlines()) == 1
    assert "candidate" in r.stderr.lower()
    assert not (tmp_path / "o.wav").exists()


def test_detect_json_finds_planted_dropout(tmp_path, capsys):
    from simdps_studio.search.testsignals import piano_music

    x = piano_music(6.0, SR, seed=2, channels=2)
    x[:, int(3.0 * SR) : int(3.4 * SR)] = 0.0
    path = tmp_path / "drop.flac"
    sf.write(path, x.T, SR, subtype="PCM_24")
    assert main(["detect", str(path), "--json"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert len(found) == 1 and found[0]["kind"] == "silence"
    assert found[0]["start_s"] <= 3.0 and found[0]["end_s"] >= 3.4
    assert found[0]["end_s"] - found[0]["start_s"] < 0.6
