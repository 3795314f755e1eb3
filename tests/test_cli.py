"""The CLI contract (docs/architecture.md, section 3): LPC repair end to end, round trips, bad input."""

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
    "negative margin": lambda t, s: (
        ["repair", str(s), "-o", str(t / "o.wav"), "--gap", "1:1.5", "--margin-ms", "-5"],
        "o.wav",
    ),
    "non-number margin": lambda t, s: (
        ["repair", str(s), "-o", str(t / "o.wav"), "--gap", "1:1.5", "--margin-ms", "wide"],
        "o.wav",
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
    "negative margin": "--margin-ms must lie between 0 and",
    "non-number margin": "--margin-ms must be a number",
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


@pytest.mark.parametrize("method", ["lpc", "sim", "simdps"])
def test_a_dual_mono_file_stays_dual_mono(tmp_path, piano, method):
    mono = piano(SR, 12.0, channels=1)[0]
    src = tmp_path / "dual.wav"
    sf.write(src, np.stack([mono, mono], axis=1), SR, subtype="PCM_16")
    out = tmp_path / "out.wav"
    args = ["repair", str(src), "-o", str(out), "--gap", "7.5:7.9", "--method", method]
    if method == "simdps":
        args += ["--model", "piano-tiny", "--draft", "--steps", "3"]
    assert main(args) == 0
    y, _ = sf.read(out, dtype="int16")
    x, _ = sf.read(src, dtype="int16")
    a, b = int(7.5 * SR), int(7.9 * SR)
    assert np.any(y[a:b] != x[a:b])  # repaired ...
    assert np.array_equal(y[:, 0], y[:, 1])  # ... and still dual mono, the repair included


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


def _refusals(t: Path, s: Path) -> dict:
    """Arguments refused before any work (found by an exploratory audit of the CLI)."""
    lpc = ["--gap", "1:1.02", "--method", "lpc"]
    dps_missing_model = ["--gap", "1:1.02", "--method", "dps", "--model", "no-such-model"]
    out = str(t / "o.wav")
    folder = t / "a folder"
    folder.mkdir(exist_ok=True)
    (t / "o2.wav.provenance.json").mkdir(exist_ok=True)
    side_src = t / "x.wav.provenance.json"
    side_src.write_bytes(s.read_bytes())
    pipe, link, six = t / "pipe.wav", t / "link.wav", t / "six.wav"
    if not pipe.exists():
        os.mkfifo(pipe)
    link.unlink(missing_ok=True)
    link.symlink_to(side_src)
    x = np.zeros((SR, 6), np.int16)
    x[:, 0] = 1000
    sf.write(six, x, SR, subtype="PCM_16")
    return {
        "output is a pipe": (["repair", str(s), "-o", str(pipe), *dps_missing_model], s),
        "output is a link": (["repair", str(s), "-o", str(link), *lpc], side_src),
        "six channels to mp3": (
            ["repair", str(six), "-o", str(t / "six.mp3"), "--gap", "0.5:0.52", *lpc[2:]],
            six,
        ),
        "report is the source": (["repair", str(s), "-o", out, *lpc, "--report", str(s)], s),
        "report is the output": (["repair", str(s), "-o", out, *lpc, "--report", out], s),
        "report is the guide": (
            [
                "repair",
                str(s),
                "-o",
                out,
                *lpc,
                "--guide",
                str(side_src),
                "--report",
                str(side_src),
            ],
            side_src,
        ),
        "output is the guide": (
            ["repair", str(s), "-o", str(side_src), *lpc, "--guide", str(side_src)],
            side_src,
        ),
        "report folder missing": (
            ["repair", str(s), "-o", out, *lpc, "--report", str(t / "no" / "r.json")],
            s,
        ),
        "report is a folder": (["repair", str(s), "-o", out, *lpc, "--report", str(folder)], s),
        # With a model that does not exist: the refusal must come first, before the repair.
        "sidecar is a folder": (
            ["repair", str(s), "-o", str(t / "o2.wav"), *dps_missing_model],
            s,
        ),
        "sidecar is the source": (
            ["repair", str(side_src), "-o", str(t / "x.wav"), *lpc],
            side_src,
        ),
        "seed too large": (["repair", str(s), "-o", out, *lpc, "--seed", str(2**64)], s),
        "negative seed": (["repair", str(s), "-o", out, *lpc, "--seed", "-1"], s),
        "omega-y nan": (["repair", str(s), "-o", out, *lpc, "--omega-y", "nan"], s),
        "omega-y negative": (["repair", str(s), "-o", out, *lpc, "--omega-y", "-1"], s),
        "gap is the whole file": (
            ["repair", str(s), "-o", out, "--gap", "0:3", "--method", "lpc"],
            s,
        ),
        "mistyped command": (["reapir", str(s), "-o", out], s),
    }


REFUSAL_MESSAGES = {
    "output is a pipe": "pipe.wav exists and is not a regular file",
    "output is a link": "link.wav exists and is a link",
    "six channels to mp3": r"MP3 \(MPEG_LAYER_III\) cannot hold 6 channel",
    "report is the source": "overwrite the source",
    "report is the output": "--report path .* is also the output",
    "report is the guide": "also the --guide file",
    "output is the guide": "also the --guide file",
    "report folder missing": "--report folder does not exist",
    "report is a folder": "--report path is a folder",
    "sidecar is a folder": "provenance file path is a folder",
    "sidecar is the source": "overwrite the source",
    "seed too large": "--seed must lie between 0 and",
    "negative seed": "--seed must lie between 0 and",
    "omega-y nan": "--omega-y must lie between 0 and 10",
    "omega-y negative": "--omega-y must lie between 0 and 10",
    "gap is the whole file": "no usable context on either side",
    "mistyped command": "no such file or command: reapir .*commands: repair",
}


def test_refused_before_any_work_and_nothing_touched(tmp_path, song, capsys):
    cases = _refusals(tmp_path, song)
    assert set(cases) == set(REFUSAL_MESSAGES)
    for case, (argv, protected) in cases.items():
        before = protected.read_bytes()
        listing = sorted(p.name for p in tmp_path.rglob("*"))
        assert main(argv) == 2, case
        lines = capsys.readouterr().err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), (case, lines)
        assert re.search(REFUSAL_MESSAGES[case], lines[0]), (case, lines[0])
        assert protected.read_bytes() == before, case
        assert sorted(p.name for p in tmp_path.rglob("*")) == listing, case


def test_a_converting_output_says_so_and_makes_no_null_claim(tmp_path, capsys):
    x = 0.5 * np.sin(2 * np.pi * 440 * np.arange(4 * SR) / SR)[:, None]
    x[100:110] = 4.0  # beyond full scale, as a float file may be
    src = tmp_path / "float.wav"
    sf.write(src, x, SR, subtype="FLOAT")
    out = tmp_path / "out.flac"
    assert main(["repair", str(src), "-o", str(out), "--gap", "2:2.02", "--method", "lpc"]) == 0
    err = capsys.readouterr().err
    assert "FLAC PCM_24) is not the source's (FLOAT)" in err
    assert "10 sample(s) beyond full scale are clipped" in err
    record = json.loads(out.with_name(out.name + ".provenance.json").read_text())
    assert record["null_test_outside_spans"] is None and len(record["conversion_notes"]) == 2
    # A lossy output re-encodes everything: no bit-exact claim either.
    ogg = tmp_path / "out.ogg"
    assert main(["repair", str(src), "-o", str(ogg), "--gap", "2:2.02", "--method", "lpc"]) == 0
    assert "the output is lossy (OGG VORBIS)" in capsys.readouterr().err
    record = json.loads(ogg.with_name(ogg.name + ".provenance.json").read_text())
    assert record["null_test_outside_spans"] is None
    # A lossy source's decoded samples are kept exactly as float: no note, and the claim holds.
    from_ogg = tmp_path / "from_ogg.wav"
    argv = ["repair", str(ogg), "-o", str(from_ogg), "--gap", "1:1.02", "--method", "lpc"]
    assert main(argv) == 0
    assert "note:" not in capsys.readouterr().err
    record = json.loads(from_ogg.with_name(from_ogg.name + ".provenance.json").read_text())
    assert record["output_format"] == ["WAV", "FLOAT"] and record["null_test_outside_spans"]
    # Keeping the source's format keeps the claim.
    same = tmp_path / "same.wav"
    assert main(["repair", str(src), "-o", str(same), "--gap", "2:2.02", "--method", "lpc"]) == 0
    assert "note:" not in capsys.readouterr().err
    record = json.loads(same.with_name(same.name + ".provenance.json").read_text())
    assert record["null_test_outside_spans"] is True and record["conversion_notes"] == []


def test_a_report_that_cannot_be_written_leaves_no_output(tmp_path, song, monkeypatch, capsys):
    import simdps_studio.session.render as render

    real = render.stage_file

    def failing(path, write):
        if str(path).endswith("r.json"):
            raise OSError(28, "No space left on device")
        return real(path, write)

    monkeypatch.setattr(render, "stage_file", failing)
    out = tmp_path / "o.wav"
    out.write_bytes(b"an earlier output")
    argv = ["repair", str(song), "-o", str(out), "--gap", "1:1.02", "--method", "lpc"]
    assert main([*argv, "--report", str(tmp_path / "r.json")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith(f"error: cannot write {tmp_path / 'r.json'}: no space left on the")
    # Written with the output or not at all: the earlier output is still there, untouched.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.wav", "song.wav"]
    assert out.read_bytes() == b"an earlier output"
    out.unlink()
    # The same for the provenance sidecar: no export without its record.
    monkeypatch.setattr(
        render,
        "stage_file",
        lambda path, write: (_ for _ in ()).throw(OSError(28, "No space left on device")),
    )
    assert main(argv) == 1
    assert "provenance.json: no space left on the device" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["song.wav"]


def test_exports_get_the_usual_file_mode(tmp_path, song):
    old = os.umask(0o022)
    try:
        out = tmp_path / "o.wav"
        argv = ["repair", str(song), "-o", str(out), "--gap", "1:1.02", "--method", "lpc"]
        assert main([*argv, "--report", str(tmp_path / "r.json")]) == 0
    finally:
        os.umask(old)
    for name in ("o.wav", "o.wav.provenance.json", "r.json"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o644, name


def test_corpus_holding_the_input_skips_it(tmp_path, capsys):
    x = np.random.default_rng(5).standard_normal((1, 8 * SR)).astype(np.float32) * 0.1
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    src = corpus / "take.wav"
    sf.write(src, x.T, SR, subtype="FLOAT")
    sf.write(corpus / "copy.flac", x.T, SR, subtype="PCM_24")  # not identical: a new recording
    sf.write(corpus / "same.wav", x.T, SR, subtype="FLOAT")  # identical samples
    assert main(["candidates", str(src), "--gap", "4:4.5", "--corpus", str(corpus), "--json"]) == 0
    out, err = capsys.readouterr()
    assert f"skipped {src} (the input itself)" in err
    assert f"skipped {corpus / 'same.wav'} (a copy of the input)" in err
    sources = {c.get("source") for c in json.loads(out)["candidates"]}
    assert not any(str(s).endswith(("take.wav", "same.wav")) for s in sources if s)


def test_a_closed_or_full_stdout_ends_without_a_traceback(tmp_path, song):
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    cmd = [sys.executable, "-m", "simdps_studio", "detect", str(song), "--json"]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    p.stdout.close()  # the reader is gone before the command writes (`| head` that ended)
    err = p.stderr.read().decode()
    assert p.wait(timeout=120) == 1 and "Traceback" not in err, err
    if Path("/dev/full").exists():
        with open("/dev/full", "w") as full:
            r = subprocess.run(cmd, stdout=full, stderr=subprocess.PIPE, text=True, env=env)
        assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
        assert (
            r.stderr.strip() == "error: cannot write the standard output: No space left on device"
        )


def test_numba_gets_a_writable_cache_when_the_home_has_none(tmp_path, monkeypatch):
    from simdps_studio.core.paths import ensure_numba_cache

    monkeypatch.setenv("NUMBA_CACHE_DIR", "/somewhere/set")
    assert ensure_numba_cache() is None  # the user's choice stands
    monkeypatch.delenv("NUMBA_CACHE_DIR")
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("x")  # ~/.cache that cannot hold a numba folder (as an unwritable home)
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocked))
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    folder = ensure_numba_cache()
    assert folder == os.environ["XDG_CACHE_HOME"] and (Path(folder) / "numba").is_dir()
    assert Path(folder).parent == tmp_path
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert ensure_numba_cache() is None and (tmp_path / "cache" / "numba").is_dir()


def test_a_bare_system_error_on_a_full_disk_says_so(tmp_path, monkeypatch):
    from collections import namedtuple

    from simdps_studio.audio import io
    from simdps_studio.core.types import Audio

    audio = Audio.from_float(np.zeros((1, SR), np.float32), SR)
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(io.shutil, "disk_usage", lambda p: usage(10, 10, 1024))
    error = RuntimeError("System error.")  # what libsndfile says for a failed write
    assert io._write_reason(error, tmp_path / "o.wav", audio) == (
        "no space left on the device (0.0 MiB free)"
    )
    monkeypatch.setattr(io.shutil, "disk_usage", lambda p: usage(10, 10, 2**40))
    assert io._write_reason(error, tmp_path / "o.wav", audio) == "system error"


def test_model_info_loads_the_weights(tmp_path, capsys):
    import shutil

    from simdps_studio.inpaint.registry import models_dir

    folder = tmp_path / "copy"
    shutil.copytree(models_dir() / "piano-tiny", folder)
    assert main(["model", "info", str(folder), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["weights"]["verified"] is True
    weights = folder / "weights.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    assert main(["model", "info", str(folder)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "corrupt or truncated" in err[0]


def test_options_the_method_does_not_use_are_noted(tmp_path, song, capsys):
    out = str(tmp_path / "o.wav")
    base = ["repair", str(song), "-o", out, "--gap", "1:1.02"]
    assert main([*base, "--method", "lpc", "--takes", "3", "--candidate", "2"]) == 0
    err = capsys.readouterr().err
    assert "note: --takes, --candidate not used by --method lpc (no candidate and no model)" in err
    assert main([*base, "--method", "lpc"]) == 0
    assert "note:" not in capsys.readouterr().err
    assert main([*base, "--method", "dps", "--draft", "--omega-y", "0.5", "--model", "nope"]) == 2
    err = capsys.readouterr().err  # noted before the model is looked for
    assert "note: --omega-y not used with --draft" in err.splitlines()[0]


def test_repair_option_defaults_are_the_requests():
    # _unused_options tells "given" from "default" by RepairRequest's defaults.
    from simdps_studio.cli import build_parser
    from simdps_studio.session.engines import RepairRequest

    args = build_parser().parse_args(["repair", "in.wav", "-o", "o.wav", "--gap", "1:2"])
    d = RepairRequest()
    assert (args.omega, args.omega_y, args.takes, args.seed) == (
        str(d.omega),
        d.omega_y,
        d.takes,
        d.seed,
    )
    assert (args.candidate, args.device, args.method) == (d.candidate_rank, d.device, d.method)
    assert (args.precision, args.start_sigma) == (d.precision, d.start_sigma) == ("auto", None)


def test_precision_and_start_sigma_options(tmp_path, song, capsys):
    out = str(tmp_path / "o.wav")
    base = ["repair", str(song), "-o", out, "--gap", "1:1.02"]
    assert main([*base, "--method", "lpc", "--precision", "bf16", "--start-sigma", "0.1"]) == 0
    err = capsys.readouterr().err
    assert "note: --precision, --start-sigma not used by --method lpc" in err
    bad_out = ["repair", str(song), "-o", str(tmp_path / "never.wav"), "--gap", "1:1.02"]
    for bad in ("0", "1.5", "nan"):
        assert main([*bad_out, "--method", "simdps", "--start-sigma", bad]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "--start-sigma must lie in (0, 1]" in err[0]
    assert main([*bad_out, "--precision", "fp16"]) == 2  # not a choice on the command line
    assert "invalid choice" in capsys.readouterr().err
    assert not (tmp_path / "never.wav").exists()


def test_progress_is_shared_by_gap_length():
    from simdps_studio.cli import progress_shares
    from simdps_studio.core.types import Gap

    shares = progress_shares([Gap(0, 100), Gap(1000, 1900)])
    assert shares == [(0.0, 0.1), (0.1, 1.0)]


def test_margin_ms_widens_the_repaired_span(tmp_path, piano):
    src = tmp_path / "in.wav"
    sf.write(src, piano(22050, 4.0, channels=1).T, 22050, subtype="PCM_16")
    out, report = tmp_path / "out.wav", tmp_path / "r.json"
    args = ["repair", str(src), "-o", str(out), "--gap", "2:2.1", "--method", "dps"]
    args += ["--model", "piano-tiny", "--draft", "--steps", "2", "--report", str(report)]
    assert main([*args, "--margin-ms", "15"]) == 0
    a, b, m = 44100, 46305, 331
    entry = json.loads(report.read_text())["gaps"][0]
    assert entry["span_samples"] == [a - m, b + m] and entry["margin_ms"] == 15
    side = json.loads(Path(str(out) + ".provenance.json").read_text())
    assert side["repairs"][0]["margin_samples"] == [m, m]
    assert side["null_test_outside_spans"] is True
    y, _ = sf.read(out, dtype="int16")
    x, _ = sf.read(src, dtype="int16")
    assert np.array_equal(y[: a - m], x[: a - m]) and np.array_equal(y[b + m :], x[b + m :])
    assert np.any(y[a - m : a] != x[a - m : a])  # the margin is cross-faded
