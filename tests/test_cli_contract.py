"""The command-line contract under hostile conditions (issue 27): closed or broken standard
streams, full disks, ``ulimit -f``, over-long names, unwritable system folders, stop signals and
killed runs, absurd sample levels, and errors that must stay one line.

Each test names the audit row it covers. The commands run as a user runs them, in a fresh
interpreter, where the row is about the process (its streams, limits, signals); elsewhere
in-process through :func:`simdps_studio.cli.main`. Every repair is LPC on a few seconds.
"""

from __future__ import annotations

import errno
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from simdps_studio.cli import main

SR = 22050
REPO = Path(__file__).resolve().parents[1]
#: Refused before any work: were the output accepted, the missing model would be the error.
NO_MODEL = ["--method", "dps", "--model", "no-such-model"]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONIOENCODING": "utf-8", "PYTHONPATH": str(REPO)}


def run_cli(*args: str, cwd: Path, **popen) -> subprocess.CompletedProcess:
    """The real command in a fresh interpreter, with ``popen``'s arguments (streams, limits)."""
    popen.setdefault("stdout", subprocess.PIPE)
    popen.setdefault("stderr", subprocess.PIPE)
    return subprocess.run(
        [sys.executable, "-m", "simdps_studio", *args],
        cwd=cwd,
        env=_env(),
        text=True,
        timeout=300,
        **popen,
    )


def _lines(text: str | None) -> list[str]:
    return (text or "").strip().splitlines()


def _listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.fixture
def song(tmp_path, piano) -> Path:
    """8 s of stereo 16-bit piano at 22.05 kHz (700 KiB as WAV)."""
    path = tmp_path / "song.wav"
    sf.write(path, piano(SR, 8.0, channels=2).T, SR, subtype="PCM_16")
    return path


def _repair(src: Path, out: Path | str, *extra: str) -> list[str]:
    return ["repair", str(src), "-o", str(out), "--gap", "3:3.02", "--method", "lpc", *extra]


# ------------------------------------------------------------------ rows 1-5: standard streams


def _close_stdout() -> None:
    os.close(1)


def test_row1_repair_with_stdout_closed_keeps_its_outcome(tmp_path, song):
    # The result is the file: a closed stdout loses only the closing message.
    out = tmp_path / "out.wav"
    r = run_cli(*_repair(song, out), cwd=tmp_path, stdout=None, preexec_fn=_close_stdout)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    assert sf.info(out).frames == sf.info(song).frames
    assert out.with_name("out.wav.provenance.json").is_file()
    assert _listing(tmp_path) == ["out.wav", "out.wav.provenance.json", "song.wav"]


def test_row1_repair_into_a_broken_pipe_keeps_its_outcome(tmp_path, song):
    out = tmp_path / "out.wav"
    cmd = [sys.executable, "-m", "simdps_studio", *_repair(song, out)]
    p = subprocess.Popen(
        cmd, cwd=tmp_path, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    p.stdout.close()  # the reader is gone (`| head -0`)
    err = p.stderr.read().decode()
    assert p.wait(timeout=300) == 0 and err == "", err
    assert _listing(tmp_path) == ["out.wav", "out.wav.provenance.json", "song.wav"]


@pytest.mark.parametrize(
    "args",
    [["detect", "IN"], ["candidates", "IN", "--gap", "3:3.3"], ["--version"], ["model", "info"]],
    ids=["row2-detect", "row3-candidates", "row4-version", "row5-model-info"],
)
def test_rows2_5_a_result_for_a_closed_stdout_is_one_error_line(tmp_path, song, args):
    args = [str(song) if a == "IN" else a for a in args]
    r = run_cli(*args, cwd=tmp_path, stdout=None, preexec_fn=_close_stdout)
    assert r.returncode == 1
    assert _lines(r.stderr) == ["error: cannot write the standard output: it is closed"]
    assert _listing(tmp_path) == ["song.wav"]


def test_a_closed_stderr_changes_nothing(tmp_path, song):
    # The error line has nowhere to go; it must not go to stdout instead, nor change the status.
    argv = _repair(song, tmp_path / "o.wav", "--gap", "9:10")
    r = run_cli(*argv, cwd=tmp_path, stderr=None, preexec_fn=lambda: os.close(2))
    assert r.returncode == 2 and r.stdout == ""
    assert _listing(tmp_path) == ["song.wav"]


# ---------------------------------------------------------------------- rows 6-9: a full disk


@pytest.fixture
def small_fs(tmp_path):
    """A 1-MiB tmpfs, mounted where the test may (as root, with a working ``mount``)."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small tmpfs needs root and mount(8); see the injected-ENOSPC test")
    folder = tmp_path / "small"
    folder.mkdir()
    r = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(folder)], capture_output=True
    )
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.decode().strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=False)


def _fill(folder: Path, leave_bytes: int) -> None:
    """Fill the file system of ``folder`` up to ``leave_bytes`` of free space."""
    free = shutil.disk_usage(folder).free
    with open(folder / "filler", "wb") as f:
        f.write(b"\0" * max(free - leave_bytes, 0))


@pytest.mark.parametrize(
    ("name", "leave_kib", "old"),
    [
        ("out.wav", None, False),  # 1.4 MB of PCM on 1 MiB
        ("out.wav", None, True),  # an earlier output present: it stays as it was
        ("out.flac", 96, False),
        ("out.mp3", 64, False),
    ],
    ids=["row6-wav", "row7-old-output-kept", "row8-flac", "row9-mp3-64k"],
)
def test_rows6_9_a_full_disk_is_exit_1_with_the_cause(
    tmp_path, piano, small_fs, capsys, name, leave_kib, old
):
    src = tmp_path / "long.wav"
    sf.write(src, piano(44100, 8.0, channels=2).T, 44100, subtype="PCM_16")
    out = small_fs / name
    before = None
    if old:
        before = os.urandom(300_000)
        out.write_bytes(before)
    if leave_kib is not None:
        _fill(small_fs, leave_kib * 1024)
    listing = _listing(small_fs)
    assert main(_repair(src, out)) == 1
    (line,) = _lines(capsys.readouterr().err)
    assert line.startswith(f"error: cannot write {out}: no space left on the device ("), line
    assert _listing(small_fs) == listing  # no output, no provenance, no temporary file
    if before is not None:
        assert out.read_bytes() == before


@pytest.mark.parametrize(
    ("code", "cause"),
    [
        (errno.ENOSPC, "no space left on the device ("),
        (errno.EDQUOT, "disk quota exceeded"),
        (errno.EFBIG, "file too large"),
    ],
    ids=["enospc", "edquot", "efbig"],
)
def test_storage_failures_are_exit_1_injected(tmp_path, song, monkeypatch, capsys, code, cause):
    # Wherever no tmpfs can be mounted, and for a quota: the failure injected where libsndfile
    # writes (a failed system call reaches Python as this OSError).
    from simdps_studio.audio import io

    def failing(*args, **kwargs):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(io, "_write_samples", failing)
    out = tmp_path / "out.wav"
    out.write_bytes(b"earlier output")
    assert main(_repair(song, out)) == 1
    (line,) = _lines(capsys.readouterr().err)
    assert line.startswith(f"error: cannot write {out}: {cause}"), line
    assert _listing(tmp_path) == ["out.wav", "song.wav"] and out.read_bytes() == b"earlier output"


# ----------------------------------------------------------------------- row 10: ulimit -f


def test_row10_ulimit_f_is_exit_1_with_the_cause(tmp_path, song):
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (300_000, resource.RLIM_INFINITY))

    r = run_cli(*_repair(song, tmp_path / "out.wav"), cwd=tmp_path, preexec_fn=limit)
    assert r.returncode == 1, r.stderr
    assert _lines(r.stderr) == [
        f"error: cannot write {tmp_path / 'out.wav'}: file too large: this process may write "
        "files of up to 0.3 MiB (ulimit -f)"
    ]
    assert _listing(tmp_path) == ["song.wav"]


# ------------------------------------------------------------- rows 11-12, 17-18: output paths


@pytest.mark.parametrize(
    ("stem_bytes", "what"),
    [(242, "provenance file"), (296, "output")],
    ids=["row11-246", "row12-300"],
)
def test_rows11_12_a_name_too_long_is_refused_before_the_work(
    tmp_path, song, capsys, stem_bytes, what
):
    out = tmp_path / ("a" * stem_bytes + ".wav")
    assert main(_repair(song, out)[:-2] + NO_MODEL) == 2
    (line,) = _lines(capsys.readouterr().err)
    assert line.startswith(f"error: {what} name is too long: ") and "at most 255" in line
    assert _listing(tmp_path) == ["song.wav"]


def test_a_path_longer_than_the_system_takes_is_a_bad_argument(tmp_path, song, capsys):
    out = str(tmp_path) + "/d" * 2100 + "/o.wav"  # past PATH_MAX (4096 bytes on Linux)
    assert main(_repair(song, out)) == 2
    (line,) = _lines(capsys.readouterr().err)
    assert line.startswith("error: output path ") and line.endswith("/o.wav: File name too long")


@pytest.mark.parametrize("folder", ["/proc", "/sys"], ids=["row17-proc", "row18-sys"])
def test_rows17_18_system_folders_are_refused_before_the_work(tmp_path, song, capsys, folder):
    if not os.path.isdir(folder):
        pytest.skip(f"no {folder} here")
    assert main(_repair(song, f"{folder}/out.wav")[:-2] + NO_MODEL) == 2
    (line,) = _lines(capsys.readouterr().err)
    # As root: the trial file cannot be made; otherwise the folder is plainly not writable.
    assert line in (
        f"error: output folder {folder} does not take new files (no such file or directory)",
        f"error: output folder {folder} does not take new files (permission denied)",
        f"error: output folder is not writable: {folder}",
    ), line
    assert not os.path.exists(f"{folder}/out.wav")


def test_an_output_ending_in_a_slash_names_a_folder(tmp_path, song, capsys):
    for target in ("newdir/", f"{tmp_path}/"):
        assert main(_repair(song, target)) == 2
        (line,) = _lines(capsys.readouterr().err)
        assert "ends in a slash, so it names" in line and line.endswith("(the folder must exist)")
    assert not (Path.cwd() / "newdir").exists() and _listing(tmp_path) == ["song.wav"]


# ------------------------------------------------------------ row 13: absurd sample levels


def _loud(path: Path, piano, value: float) -> Path:
    x = piano(SR, 8.0).astype(np.float32)
    x[0, 1000:1100] = value
    sf.write(path, x.T, SR, subtype="FLOAT")
    return path


@pytest.mark.parametrize(
    "command", ["repair", "candidates"], ids=["row13-repair", "row13-candidates"]
)
def test_row13_samples_far_outside_the_usual_range_are_one_clear_error(
    tmp_path, piano, capsys, command
):
    src = _loud(tmp_path / "loud.wav", piano, 2e20)
    args = {
        "repair": [
            "repair",
            str(src),
            "-o",
            str(tmp_path / "o.wav"),
            "--gap",
            "3:3.5",
            "--method",
            "sim",
        ],
        "candidates": ["candidates", str(src), "--gap", "3:3.5", "--json"],
    }[command]
    with np.errstate(all="warn"):
        assert main(args) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert _lines(err) == [
        f"error: {src} has samples far outside the usual range (peak 2e+20; full scale is ±1, "
        "at most ±1e+12 is accepted): a corrupt file, or not audio"
    ]
    assert _listing(tmp_path) == ["loud.wav"]


def test_loud_but_plausible_float_files_still_work(tmp_path, piano, capsys):
    src = _loud(tmp_path / "hot.wav", piano, 1e4)  # 80 dB over full scale: odd, not corrupt
    assert main(["candidates", str(src), "--gap", "3:3.5", "--json"]) == 0
    assert '"candidates"' in capsys.readouterr().out


def test_candidates_never_succeeds_with_an_empty_list(tmp_path, song, monkeypatch, capsys):
    import simdps_studio.session.engines as engines

    monkeypatch.setattr(engines, "find_candidates", lambda *a, **k: [])
    assert main(["candidates", str(song), "--gap", "3:3.5", "--json"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and _lines(err) == ["error: no usable candidate found for gap 3.000–3.500 s"]


def test_a_library_warning_is_a_note_not_source_lines(tmp_path, song, monkeypatch, capsys):
    import simdps_studio.session.engines as engines

    real = engines.find_candidates

    def warn(*a, **k):
        np.float32(3e38) * np.float32(10)  # numpy: "overflow encountered in scalar multiply"
        return real(*a, **k)

    monkeypatch.setattr(engines, "find_candidates", warn)
    with np.errstate(all="warn"):
        assert main(["candidates", str(song), "--gap", "3:3.3", "--json"]) == 0
    err = _lines(capsys.readouterr().err)
    assert err == ["note: RuntimeWarning: overflow encountered in scalar multiply"]


# -------------------------------------------------- rows 14-16: one line, whatever came before


def _truncated(path: Path, song: Path) -> Path:
    data = song.read_bytes()
    path.write_bytes(data[: len(data) // 2])  # the header still says 8 s; 4 s are there
    return path


def test_row14_a_note_before_an_error_is_folded_into_its_line(tmp_path, song, capsys):
    src = _truncated(tmp_path / "cut.wav", song)
    assert main(_repair(src, tmp_path / "o.wav", "--gap", "6:6.1")) == 2
    assert _lines(capsys.readouterr().err) == [
        "error: gap 6.000–6.100 s lies outside the track (0 to 4.000 s); note: cut.wav is "
        "shorter than its header says (4.000 of 8.000 s are in the file): truncated, e.g. by an "
        "interrupted copy"
    ]


def test_row15_a_corpus_holding_only_a_copy_is_one_line(tmp_path, song, capsys):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(song, corpus / "copy.wav")
    assert main(["candidates", str(song), "--gap", "3:3.5", "--corpus", str(corpus)]) == 2
    assert _lines(capsys.readouterr().err) == [
        f"error: --corpus folder has no recordings other than the input: {corpus}; "
        f"note: --corpus: skipped {corpus / 'copy.wav'} (a copy of the input)"
    ]


def test_row16_a_newline_in_a_name_cannot_split_the_line(tmp_path, song, capsys):
    src = _truncated(tmp_path / "cut\nfile.wav", song)
    assert main(_repair(src, tmp_path / "o.wav", "--gap", "6:6.1")) == 2
    (line,) = _lines(capsys.readouterr().err)
    assert "note: 'cut\\nfile.wav' is shorter than its header says" in line
    missing = tmp_path / "no\nsuch.wav"
    assert main(["detect", str(missing)]) == 2
    assert _lines(capsys.readouterr().err) == [
        f"error: cannot read audio from {str(missing)!r}: no such file"
    ]


def test_notes_come_before_a_success(tmp_path, song, capsys):
    src = _truncated(tmp_path / "cut.wav", song)
    assert main(_repair(src, tmp_path / "o.wav", "--takes", "2")) == 0
    out, err = capsys.readouterr()
    assert out.startswith("repaired 1 gap(s) with lpc")
    assert [line[:40] for line in _lines(err)] == [
        "note: --takes not used by --method lpc (",
        "note: cut.wav is shorter than its header",
    ]


# --------------------------------------------------------- stop signals and killed runs


STALLED_WRITE = """
import pathlib, sys, time
import simdps_studio.audio.io as io
blocks = io._blocks_for_target
def stalled(*a, **k):
    for i, item in enumerate(blocks(*a, **k)):
        if i == 1:
            marker = pathlib.Path(sys.argv[1])
            marker.touch()  # mid-write: tell the test, then wait for it to say "go on"
            go, deadline = marker.with_suffix(".go"), time.monotonic() + 120
            while not go.exists() and time.monotonic() < deadline:
                time.sleep(0.05)
        yield item
io._blocks_for_target = stalled
io.BLOCK_FRAMES = 4096
from simdps_studio.cli import main
sys.exit(main(sys.argv[2:]))
"""


def _default_stop_signals() -> None:
    """In the child: stop signals at their defaults, as in a terminal. The test runner may itself
    have been started with SIGINT or SIGHUP ignored (a background job of a script, nohup), and a
    child inherits that, which the CLI rightly keeps."""
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)


def _start_stalled_write(
    tmp_path: Path, song: Path, out: Path, preexec_fn=_default_stop_signals
) -> tuple[subprocess.Popen, Path]:
    """The CLI in a process whose write stops after its first blocks, until a signal comes."""
    marker = tmp_path.parent / f"{tmp_path.name}.writing"
    cmd = [sys.executable, "-c", STALLED_WRITE, str(marker), *_repair(song, out)]
    p = subprocess.Popen(
        cmd,
        cwd=tmp_path,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=preexec_fn,
    )
    deadline = time.monotonic() + 240
    while not marker.exists():
        assert p.poll() is None, p.communicate()
        assert time.monotonic() < deadline, "the write never started"
        time.sleep(0.1)
    return p, marker


@pytest.mark.parametrize(
    ("sig", "message"),
    [
        (signal.SIGINT, "error: interrupted"),
        (signal.SIGTERM, "error: interrupted by SIGTERM"),
        (signal.SIGHUP, "error: interrupted by SIGHUP"),
    ],
    ids=["ctrl-c", "sigterm", "sighup"],
)
def test_a_stop_signal_mid_write_is_ctrl_c(tmp_path, song, sig, message):
    p, _ = _start_stalled_write(tmp_path, song, tmp_path / "out.wav")
    assert [n for n in _listing(tmp_path) if n.startswith(".simdps-")]  # mid-write, indeed
    p.send_signal(sig)
    out, err = p.communicate(timeout=120)
    assert p.returncode == 1 and _lines(err) == [message] and out == ""
    assert _listing(tmp_path) == ["song.wav"]  # neither output, provenance nor temporary file


def test_a_stop_signal_ignored_from_the_start_stays_ignored(tmp_path, song):
    # `nohup simdps-studio repair ...`: the hang-up of the terminal must not stop the repair.
    p, marker = _start_stalled_write(
        tmp_path, song, tmp_path / "out.wav", lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN)
    )
    p.send_signal(signal.SIGHUP)
    marker.with_suffix(".go").touch()
    out, err = p.communicate(timeout=120)
    assert p.returncode == 0 and err == "" and out.startswith("repaired 1 gap(s)"), err
    assert _listing(tmp_path) == ["out.wav", "out.wav.provenance.json", "song.wav"]


def test_a_killed_runs_temporary_files_are_removed_by_the_next_run(tmp_path, song, capsys):
    p, _ = _start_stalled_write(tmp_path, song, tmp_path / "out.wav")
    p.kill()  # kill -9: no clean-up
    p.communicate(timeout=60)
    left = [n for n in _listing(tmp_path) if n.startswith(".simdps-")]
    assert len(left) == 2 and all(str(p.pid) in n for n in left)  # the audio and the provenance
    assert main(_repair(song, tmp_path / "other.wav")) == 0
    assert _listing(tmp_path) == ["other.wav", "other.wav.provenance.json", "song.wav"]


def test_only_temporary_files_whose_owner_is_gone_are_removed(tmp_path, song):
    from simdps_studio.audio.io import remove_stale_temps, temp_file_beside

    mine = temp_file_beside(tmp_path / "x.wav")  # this process is alive: a run in progress
    unknown = tmp_path / ".simdps-q1w2e3r4.tmp"  # no owner named (an older version's)
    unknown.touch()
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    orphan = tmp_path / mine.name.replace(f"-{os.getpid()}-", f"-{dead.stdout.strip()}-")
    orphan.touch()
    assert remove_stale_temps(tmp_path) == [orphan]
    assert mine.exists() and unknown.exists() and not orphan.exists()


def test_a_stop_between_the_renames_does_not_split_output_and_provenance(
    tmp_path, song, monkeypatch, capsys
):
    from simdps_studio.audio import io

    real = os.replace
    renamed = []

    def replace_then_stop(src, dst):
        real(src, dst)
        renamed.append(Path(dst).name)
        if len(renamed) == 1:  # the audio is in place, its provenance not yet
            os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(io.os, "replace", replace_then_stop)
    assert main(_repair(song, tmp_path / "out.wav")) == 1
    assert _lines(capsys.readouterr().err) == ["error: interrupted by SIGTERM"]
    assert renamed == ["out.wav", "out.wav.provenance.json"]  # the stop waited for both
    assert _listing(tmp_path) == ["out.wav", "out.wav.provenance.json", "song.wav"]
