"""Never lose the user's work: failed saves and exports, damaged or foreign projects, crash
locks, gaps beside repairs, touching gaps, DC offsets and WAV's 4-GiB limit (found by audits;
each test failed on the code before its fix)."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import soundfile as sf

import simdps_studio.session.project as project_module
from simdps_studio.core.errors import ExportError, InputError, ProjectError
from simdps_studio.core.types import Gap
from simdps_studio.session import Repair, Session
from simdps_studio.session.project import load_project, project_path_for, save_project
from simdps_studio.session.render import export, provenance_path

SR = 44100


@pytest.fixture
def wav(tmp_path, piano):
    path = tmp_path / "song.wav"
    sf.write(path, piano(SR, 3.0, channels=2).T, SR, subtype="PCM_16")
    return path


def _repair(gap: Gap, margin: int = 0, value: float = 0.1) -> Repair:
    fill = np.full((2, gap.length + 2 * margin), value, dtype=np.float32)
    return Repair(gap, "sim", gap.start_sample - margin, fill, {"seed": 0})


def _saved_session(wav) -> Session:
    s = Session.open(wav)
    s.add_gap(Gap(10000, 11000))
    s.set_repair(_repair(Gap(10000, 11000)))
    save_project(s)
    return s


def test_a_failed_save_leaves_the_last_good_project_openable(wav, monkeypatch):
    s = _saved_session(wav)
    s.add_gap(Gap(50000, 51000))
    s.set_repair(_repair(Gap(50000, 51000), value=0.2))
    real = project_module.stage_file
    calls = []

    def fail_on_json(path, write):  # the fills stage fine, the JSON runs out of space
        calls.append(path.name)
        if path.name.endswith(".json"):
            raise OSError(28, "No space left on device")
        return real(path, write)

    monkeypatch.setattr(project_module, "stage_file", fail_on_json)
    with pytest.raises(ProjectError, match="No space left"):
        save_project(s)
    monkeypatch.undo()
    assert calls == ["song.wav.simdps.npz", "song.wav.simdps.json"]
    reopened = load_project(project_path_for(wav))
    assert reopened.gaps == (Gap(10000, 11000),)
    assert [p.name for p in wav.parent.iterdir() if p.name.startswith(".")] == []  # no temps


@pytest.mark.parametrize("damage", ["fills missing", "newer version"])
def test_saving_over_an_own_project_that_would_not_open_keeps_it(wav, damage):
    s = _saved_session(wav)
    path = project_path_for(wav)
    if damage == "fills missing":
        path.with_name("song.wav.simdps.npz").unlink()
    else:
        doc = json.loads(path.read_text())
        doc["version"] = 99
        path.write_text(json.dumps(doc))
    with pytest.raises(ProjectError):
        load_project(path)
    kept = []
    fresh = Session.open(wav)
    save_project(fresh, on_kept=kept.append)
    assert [p.name for p in kept] == ["song.wav.simdps.json.bak"]
    assert json.loads(kept[0].read_text())["state"]["gaps"] == [[10000, 11000]]
    # An intact project this session wrote is simply replaced (no backup on every save)...
    save_project(fresh, on_kept=kept.append)
    assert len(kept) == 1
    # ...but one saved by another session since this one read or wrote it is kept.
    save_project(s, on_kept=kept.append)
    assert [p.name for p in kept[1:]] == ["song.wav.simdps.json.bak1"]


@pytest.mark.parametrize(
    "damage",
    ["truncated fills", "empty fills", "no source", "text version", "gap past the end"],
)
def test_a_damaged_project_is_a_project_error_not_a_crash(wav, damage):
    _saved_session(wav)
    path = project_path_for(wav)
    fills = path.with_name("song.wav.simdps.npz")
    doc = json.loads(path.read_text())
    if damage == "truncated fills":
        fills.write_bytes(fills.read_bytes()[: fills.stat().st_size // 2])
    elif damage == "empty fills":
        fills.write_bytes(b"")
    elif damage == "no source":
        del doc["source"]
    elif damage == "text version":
        doc["version"] = "1"
    else:
        doc["state"]["gaps"].append([10**9, 10**9 + 100])
    path.write_text(json.dumps(doc))
    with pytest.raises(ProjectError):
        load_project(path)


def test_a_failed_provenance_write_keeps_the_earlier_export(wav, monkeypatch):
    s = _saved_session(wav)
    out = wav.parent / "master.wav"
    export(s, out)
    before = out.read_bytes(), provenance_path(out).read_bytes()
    s.add_gap(Gap(60000, 61000))
    s.set_repair(_repair(Gap(60000, 61000), value=0.3))
    import simdps_studio.session.render as render

    def no_space(path, write):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(render, "stage_file", no_space)
    with pytest.raises(ExportError, match=r"provenance\.json: no space left on the device"):
        export(s, out)
    assert (out.read_bytes(), provenance_path(out).read_bytes()) == before


def test_a_long_non_ascii_name_can_be_saved_and_autosaved(tmp_path, piano):
    from simdps_studio.session import recovery

    name = "钢琴" * 39 + ".wav"  # 82 characters, 238 bytes: under the 255-byte limit
    assert len(name.encode()) == 238
    path = tmp_path / name
    sf.write(path, piano(SR, 1.0).T, SR, subtype="PCM_16")
    s = Session.open(path)
    s.add_gap(Gap(10000, 11000))
    assert save_project(s).is_file()
    (tmp_path / "rec").mkdir()
    auto = recovery.write_autosave(s, recovery.autosave_path_for(s, tmp_path / "rec"))
    assert auto.is_file() and len(auto.name.encode()) <= 255


def test_a_crash_lock_is_told_from_a_live_process_by_more_than_its_id():
    from simdps_studio.session import recovery

    mine = recovery.lock_text()
    assert recovery.lock_alive(mine)
    pid = os.getpid()
    # The crashed process had this process's id (a container's process 1, after a restart).
    assert not recovery.lock_alive(f"{pid} {'0' * 32} -")
    assert not recovery.lock_alive(str(pid))  # an old lock naming this id: not ours
    assert not recovery.lock_alive("999999999")
    assert not recovery.lock_alive("")
    if os.path.exists("/proc/1/stat") and os.getpid() != 1:  # process 1, started at its own time
        started = recovery._start_time(1)
        if started:
            assert recovery.lock_alive(f"1 x {started}") and not recovery.lock_alive("1 x 1")


def test_a_gap_in_a_repairs_crossfade_drops_that_repair(wav):
    s = Session.open(wav)
    a = Gap(10000, 11000)
    s.add_gap(a)
    s.set_repair(_repair(a, margin=441))  # Sim's 10 ms margins
    s.add_gap(Gap(11200, 12000))  # 200 samples after the gap: inside the margin
    assert s.repair_for(a) is None and len(s.gaps) == 2
    assert s.undo() and s.repair_for(a) is not None  # undo brings it back
    s.add_gap(Gap(12000, 13000))  # beyond the margin: the repair stays
    assert s.repair_for(a) is not None
    with pytest.raises(InputError, match="crossfade reaches into another gap"):
        s.set_repair(_repair(a, margin=1500))


def test_touching_gaps_are_refused(wav):
    s = Session.open(wav)
    s.add_gap(Gap(10000, 11000))
    with pytest.raises(InputError, match="touch: make them one gap"):
        s.add_gap(Gap(11000, 12000))
    s.add_gap(Gap(11001, 12000))  # one sample of context between them is enough


def test_lpc_keeps_a_dc_offset(piano):
    from simdps_studio.search.lpc import ar_extrapolate

    x = piano(SR, 0.5)[0] * 0.5 + 0.05
    fill = ar_extrapolate(x, SR // 2, 32)
    assert abs(fill[-SR // 10 :].mean() - 0.05) < 0.01


def test_a_wav_past_4_gib_is_written_as_rf64(tmp_path, monkeypatch, piano):
    from simdps_studio.audio import io

    assert io.wav_data_bytes(2**30, 2, "PCM_16") == 2**32
    monkeypatch.setattr(io, "WAV_MAX_DATA_BYTES", 1000)  # as if the file were that big
    audio = io.load(_write(tmp_path / "a.flac", piano))
    out = tmp_path / "big.wav"
    io.write(out, audio)
    assert sf.info(str(out)).format == "RF64"
    np.testing.assert_array_equal(io.load(out).samples, audio.samples)


def _write(path, piano):
    sf.write(path, piano(SR, 0.2, channels=2).T, SR, subtype="PCM_16")
    return path


def test_the_null_test_finds_any_changed_sample_outside_the_spans():
    """Checked stretch by stretch (no copies of the track); against the plain mask rule."""
    from simdps_studio.core.types import Audio
    from simdps_studio.session.render import null_test, outside_mask

    rng = np.random.default_rng(5)
    x = rng.integers(-(2**15), 2**15, size=(2, 3000), dtype=np.int16)
    source = Audio(x, SR, "PCM_16", "WAV", {})
    spans = [(100, 400), (350, 900), (2990, 3000), (0, 10)]  # overlapping, at both ends
    outside = outside_mask(3000, spans)
    for i in rng.choice(3000, size=300, replace=False):
        y = x.copy()
        y[int(i) % 2, i] += 1
        assert null_test(source, Audio(y, SR, "PCM_16", "WAV", {}), spans) == bool(not outside[i])
    assert null_test(source, Audio(x.copy(), SR, "PCM_16", "WAV", {}), [])


def test_two_windows_saving_one_project_lose_nothing(wav):
    a, b = Session.open(wav), Session.open(wav)
    a.add_gap(Gap(10000, 11000))
    save_project(a)
    b.add_gap(Gap(20000, 21000))
    kept = []
    save_project(b, on_kept=kept.append)  # b never saw a's project: a's is kept
    assert json.loads(kept[0].read_text())["state"]["gaps"] == [[10000, 11000]]
    assert load_project(project_path_for(wav)).gaps == (Gap(20000, 21000),)
    save_project(b, on_kept=kept.append)  # b's own, unchanged since: replaced
    assert len(kept) == 1


def test_a_project_with_touching_gaps_from_an_earlier_version_still_opens(wav):
    _saved_session(wav)
    path = project_path_for(wav)
    doc = json.loads(path.read_text())
    doc["state"]["gaps"].append([11000, 12000])  # touching, as earlier versions allowed
    path.write_text(json.dumps(doc))
    old = load_project(path)
    assert Gap(11000, 12000) in old.gaps
    old.add_gap(Gap(30000, 31000))  # the old pair does not block new work
    with pytest.raises(InputError, match="touch"):
        old.add_gap(Gap(31000, 32000))
