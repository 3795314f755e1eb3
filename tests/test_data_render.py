"""Piano corpus rendering (simdps_studio.data): scores, textures, performance, SoundFonts, FluidSynth.

The rendering tests need the ``fluidsynth`` program (CI installs it with a SoundFont) and are skipped
without it; everything else runs anywhere.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import shutil
import struct
from pathlib import Path

import mido
import numpy as np
import pytest
import soundfile as sf
from scipy import signal

from simdps_studio.core.errors import CancelledError, InputError, NotAvailableError
from simdps_studio.core.progress import CancelToken
from simdps_studio.data import effects, render_corpus
from simdps_studio.data.midi import (
    Passage,
    Performance,
    PerformedNote,
    ScoreNote,
    excerpt,
    merge_unisons,
    write_midi,
)
from simdps_studio.data.perform import perform
from simdps_studio.data.synth import (
    Preset,
    is_acoustic_piano,
    list_soundfonts,
    read_presets,
    soundfont_info,
)
from simdps_studio.data.textures import (
    TEXTURES,
    Key,
    accompany,
    estimate_key,
    generate_texture,
    harmonise,
)

needs_fluidsynth = pytest.mark.skipif(
    shutil.which("fluidsynth") is None, reason="the fluidsynth program is not installed"
)

#: Cheap sources for the tests (no string quartets to parse).
TEST_CATEGORIES = {"chorale": 1.0, "folk": 1.0, "texture": 1.0}
TEST_SR = 16_000


# --- helpers --------------------------------------------------------------------------------


def make_soundfont(path: Path, presets: list[tuple[str, int, int]], *, pad: bool = True) -> Path:
    """A minimal SF2 file: INFO, an odd-sized sample chunk (padded or not) and a preset table."""

    def chunk(tag: bytes, body: bytes, pad_odd: bool = True) -> bytes:
        data = tag + struct.pack("<I", len(body)) + body
        return data + (b"\0" if pad_odd and len(body) % 2 else b"")

    records = b"".join(
        struct.pack("<20sHHHIII", name.encode().ljust(20, b"\0"), program, bank, 0, 0, 0, 0)
        for name, bank, program in [*presets, ("EOP", 0, 0)]
    )
    info = chunk(b"LIST", b"INFO" + chunk(b"ifil", struct.pack("<HH", 2, 1)))
    sdta = chunk(b"LIST", b"sdta" + chunk(b"smpl", b"\1\2\3", pad_odd=False), pad_odd=pad)
    pdta = chunk(b"LIST", b"pdta" + chunk(b"phdr", records))
    body = b"sfbk" + info + sdta + pdta
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    return path


def tree_hashes(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def soundfont() -> Path:
    """The smallest installed piano SoundFont (TimGM6mb when there)."""
    if shutil.which("fluidsynth") is None:
        pytest.skip("the fluidsynth program is not installed")
    fonts = list_soundfonts()
    assert fonts, (
        "fluidsynth is installed but no piano SoundFont (apt-get install timgm6mb-soundfont)"
    )
    small = [f for f in fonts if f.name == "TimGM6mb.sf2"]
    return (small or sorted(fonts, key=lambda f: f.path.stat().st_size))[0].path


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, soundfont) -> Path:
    out = tmp_path_factory.mktemp("corpus") / "seed3"
    messages = []
    render_corpus(
        out,
        hours=0.015,
        seed=3,
        sample_rate=TEST_SR,
        soundfonts=[soundfont],
        categories=TEST_CATEGORIES,
        progress=lambda f, m: messages.append((f, m)),
    )
    assert messages and messages[-1][0] == 1.0
    assert all(0.0 <= f <= 1.0 for f, _ in messages)
    assert [f for f, _ in messages] == sorted(f for f, _ in messages)
    return out


def render_tiny(out: Path, seed: int, soundfont: Path) -> Path:
    return render_corpus(
        out,
        hours=0.015,
        seed=seed,
        sample_rate=TEST_SR,
        soundfonts=[soundfont],
        categories=TEST_CATEGORIES,
    )


# --- SoundFonts -----------------------------------------------------------------------------


@pytest.mark.parametrize("pad", [True, False])
def test_read_presets_from_a_minimal_soundfont(tmp_path, pad):
    presets = [("Grand Piano", 0, 0), ("Bright Grand", 0, 1), ("Tine EP", 0, 4), ("Strings", 0, 48)]
    path = make_soundfont(tmp_path / "t.sf2", presets, pad=pad)
    got = read_presets(path)
    assert [(p.name, p.bank, p.program) for p in got] == presets
    info = soundfont_info(path)
    assert [p.label() for p in info.pianos] == ["000:000 Grand Piano", "000:001 Bright Grand"]


def test_acoustic_piano_filter():
    assert is_acoustic_piano(Preset(0, 0, "Yamaha Grand Piano"))
    assert is_acoustic_piano(Preset(8, 0, "Mellow Grand Piano"))
    assert is_acoustic_piano(Preset(0, 3, "Steinway Deep Grand"))
    assert not is_acoustic_piano(Preset(0, 2, "Electric Grand"))
    assert not is_acoustic_piano(Preset(0, 4, "Legend EP 2"))
    assert not is_acoustic_piano(Preset(0, 3, "Honky-Tonk Piano"))
    assert not is_acoustic_piano(Preset(128, 0, "Standard Drums"))
    assert not is_acoustic_piano(Preset(0, 40, "Violin"))


def test_soundfont_errors(tmp_path):
    with pytest.raises(NotAvailableError, match="not found"):
        soundfont_info(tmp_path / "missing.sf2")
    (tmp_path / "junk.sf2").write_bytes(b"not a soundfont at all")
    with pytest.raises(NotAvailableError, match="not a SoundFont"):
        soundfont_info(tmp_path / "junk.sf2")
    strings = make_soundfont(tmp_path / "strings.sf2", [("Strings", 0, 48)])
    with pytest.raises(NotAvailableError, match="no acoustic piano"):
        soundfont_info(strings)


def test_list_soundfonts_searches_given_folders(tmp_path):
    make_soundfont(tmp_path / "b.sf2", [("Piano 1", 0, 0)])
    make_soundfont(tmp_path / "a.sf3", [("Grand", 0, 0)])
    make_soundfont(tmp_path / "drums.sf2", [("Drums", 128, 0)])
    (tmp_path / "link.sf2").symlink_to(tmp_path / "b.sf2")
    assert [f.name for f in list_soundfonts([tmp_path])] == ["a.sf3", "b.sf2"]


def test_missing_soundfont_raises_and_writes_nothing(tmp_path):
    out = tmp_path / "out"
    with pytest.raises(NotAvailableError, match="SoundFont not found"):
        render_corpus(out, hours=0.01, seed=1, soundfonts=[tmp_path / "nope.sf2"])
    assert not out.exists()


def test_missing_fluidsynth_raises(tmp_path, monkeypatch):
    monkeypatch.setattr("simdps_studio.data.synth.shutil.which", lambda name: None)
    font = make_soundfont(tmp_path / "piano.sf2", [("Grand Piano", 0, 0)])
    with pytest.raises(NotAvailableError, match="fluidsynth program is not installed"):
        render_corpus(tmp_path / "out", hours=0.01, seed=1, soundfonts=[font])
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "kwargs",
    [
        {"hours": 0},
        {"hours": -1.0},
        {"hours": float("nan")},
        {"hours": 0.01, "seed": -1},
        {"hours": 0.01, "sample_rate": 4000},
        {"hours": 0.01, "subtype": "FLOAT"},
        {"hours": 0.01, "categories": {"jazz": 1.0}},
    ],
)
def test_bad_arguments(tmp_path, kwargs):
    kwargs = {"seed": 1, **kwargs}
    with pytest.raises(InputError):
        render_corpus(tmp_path / "out", **kwargs)
    assert not (tmp_path / "out").exists()


@needs_fluidsynth
def test_refuses_non_empty_folder(tmp_path, soundfont):
    (tmp_path / "keep.txt").write_text("mine")
    with pytest.raises(InputError, match="not empty"):
        render_corpus(tmp_path, hours=0.01, seed=1, soundfonts=[soundfont])
    assert (tmp_path / "keep.txt").read_text() == "mine"


# --- music: textures, harmony, performance, MIDI ---------------------------------------------


def test_key_estimation_known_answers():
    c_major = [
        ScoreNote(i, 1.0, p) for i, p in enumerate([60, 62, 64, 65, 67, 69, 71, 72, 67, 64, 60])
    ]
    assert estimate_key(c_major) == Key(0, minor=False)
    a_minor = [
        ScoreNote(i, 1.0, p) for i, p in enumerate([57, 59, 60, 62, 64, 65, 68, 69, 64, 60, 57])
    ]
    assert estimate_key(a_minor) == Key(9, minor=True)


def test_harmonise_picks_the_chord_of_the_melody():
    key = Key(0)
    melody = [ScoreNote(0, 1, 60), ScoreNote(1, 1, 64), ScoreNote(2, 1, 67), ScoreNote(3, 1, 64)]
    melody += [ScoreNote(4, 1, 71), ScoreNote(5, 1, 74), ScoreNote(6, 1, 67), ScoreNote(7, 1, 74)]
    melody += [ScoreNote(8, 1, 65), ScoreNote(9, 1, 69), ScoreNote(10, 1, 72), ScoreNote(11, 1, 69)]
    melody += [ScoreNote(12, 2, 67), ScoreNote(14, 2, 72)]
    chords = harmonise(melody, key, [(0, 4), (4, 4), (8, 4), (12, 4)], 1.0)
    assert [c.pcs for c in chords] == [(0, 4, 7), (7, 11, 2), (5, 9, 0), (0, 4, 7)]
    bass = accompany(chords, "oompah", 1.0)
    downbeats = sorted(n.pitch % 12 for n in bass if n.onset_q in (0.0, 4.0, 8.0, 12.0))
    assert downbeats == sorted([0, 7, 5, 0])


@pytest.mark.parametrize("kind", sorted(TEXTURES))
def test_textures_are_deterministic_and_playable(kind):
    a = generate_texture(kind, np.random.default_rng(11))
    b = generate_texture(kind, np.random.default_rng(11))
    c = generate_texture(kind, np.random.default_rng(12))
    assert a == b and a != c
    assert len(a.notes) >= 16
    assert all(n.duration_q > 0 and 21 <= n.pitch <= 108 for n in a.notes)
    assert [n.onset_q for n in a.notes] == sorted(n.onset_q for n in a.notes)
    assert a.end_q >= max(n.onset_q + n.duration_q for n in a.notes) - 1e-9


def test_performance_timing_dynamics_and_pedal():
    bars = tuple(float(b) for b in range(0, 32, 4))
    notes = tuple(ScoreNote(float(q), 1.0, 60 + (q % 12), part=q % 2) for q in range(32))
    passage = Passage("t", notes, bars, 1.0, 120.0, 32.0, pedal_modes=("bar",))
    perf = perform(passage, np.random.default_rng(5), qpm=120.0)
    # 32 quarters at 120 qpm is 16 s; rubato, ritardando and lead-in stay within a few seconds.
    assert 15.0 < perf.notes[-1].start_s < 20.0
    assert all(1 <= n.velocity <= 127 for n in perf.notes)
    assert len({n.velocity for n in perf.notes}) > 5
    assert len(perf.bars_s) == len(bars) and np.all(np.diff(perf.bars_s) > 1.5)
    times = [t for t, _ in perf.pedal]
    states = [down for _, down in perf.pedal]
    assert times == sorted(times)
    assert states[0] and not states[-1]
    assert all(a != b for a, b in itertools.pairwise(states))
    assert sum(states) == len(bars)
    assert perform(passage, np.random.default_rng(5), qpm=120.0) == perf


def test_merge_unisons_leaves_no_overlap_on_a_pitch():
    notes = [
        PerformedNote(0.0, 1.0, 60, 50),
        PerformedNote(0.01, 0.8, 60, 70),  # a doubled voice: merged into the first
        PerformedNote(0.5, 1.5, 60, 40),  # restrikes while the first still sounds: first is cut
        PerformedNote(0.2, 0.4, 64, 60),
    ]
    merged = merge_unisons(notes)
    on_60 = [n for n in merged if n.pitch == 60]
    assert len(merged) == 3 and len(on_60) == 2
    assert on_60[0].velocity == 70 and on_60[0].end_s <= on_60[1].start_s
    assert on_60[1] == notes[2]


def test_write_midi_round_trip(tmp_path):
    perf = Performance(
        notes=(PerformedNote(0.1, 0.6, 60, 80), PerformedNote(0.5, 1.0, 64, 70)),
        pedal=((0.2, True), (1.2, False)),
    )
    path = write_midi(perf, tmp_path / "x.mid", bank=8, program=1, tail_s=2.0)
    midi = mido.MidiFile(path)
    messages = [m for m in midi.tracks[0] if not m.is_meta]
    assert (messages[0].control, messages[0].value) == (0, 8)
    assert any(m.type == "program_change" and m.program == 1 for m in messages)
    ons = [m for m in messages if m.type == "note_on" and m.velocity > 0]
    assert [(m.note, m.velocity) for m in ons] == [(60, 80), (64, 70)]
    assert midi.length == pytest.approx(1.2 + 2.0, abs=0.01)


def test_excerpt_shifts_and_clips():
    notes = tuple(ScoreNote(float(q), 2.0, 60) for q in range(8))
    passage = Passage("p", notes, (0.0, 4.0), 1.0, 100.0, 8.0, fermatas_q=((5.0, 1.0),))
    part = excerpt(passage, 4.0, 7.0)
    assert [(n.onset_q, n.duration_q) for n in part.notes] == [(0.0, 2.0), (1.0, 2.0), (2.0, 1.0)]
    assert part.bars_q == (0.0,) and part.fermatas_q == ((1.0, 1.0),) and part.end_q == 3.0


# --- effects --------------------------------------------------------------------------------


@pytest.mark.parametrize("gain_db", [-4.0, 3.0])
def test_shelves_have_their_gain_at_the_band_edges(gain_db):
    sr = 44_100
    for kind, inside_hz, outside_hz in (("low", 0.0, sr / 2), ("high", sr / 2, 0.0)):
        sos = effects.shelf_sos(kind, 1000.0, gain_db, sr)
        _, h = signal.sosfreqz(sos, worN=[inside_hz, outside_hz], fs=sr)
        assert 20 * np.log10(abs(h[0])) == pytest.approx(gain_db, abs=0.01)
        assert 20 * np.log10(abs(h[1])) == pytest.approx(0.0, abs=0.01)


def test_room_impulse_response_decays_at_its_rt60():
    sr = 16_000
    ir = effects.room_impulse_response(
        np.random.default_rng(0), sr, rt60_s=0.5, predelay_s=0.01, damping_hz=5000.0, n_channels=2
    )
    assert ir.shape[0] == 2
    assert np.sum(ir**2, axis=-1) == pytest.approx([1.0, 1.0])
    assert abs(np.corrcoef(ir)[0, 1]) < 0.3  # decorrelated channels: stereo width
    # Energy 0.25 s later has fallen by about 30 dB (60 dB per RT60), early reflections aside.
    e1 = np.sum(ir[:, int(0.06 * sr) : int(0.11 * sr)] ** 2)
    e2 = np.sum(ir[:, int(0.31 * sr) : int(0.36 * sr)] ** 2)
    assert 10 * np.log10(e1 / e2) == pytest.approx(30.0, abs=5.0)


def test_trim_silence_and_normalise():
    sr = 1000
    x = np.zeros((1, 3000))
    x[0, 1000:2000] = np.sin(np.arange(1, 1001) / 5.0)
    y = effects.trim_silence(x, sr, lead_s=0.01, fade_s=0.05)
    assert y.shape[-1] == 1010 and np.all(y[0, :10] == 0.0) and y[0, -1] == pytest.approx(0.0)
    z = effects.normalise_peak(y, -6.0)
    assert 20 * np.log10(np.max(np.abs(z))) == pytest.approx(-6.0)


# --- rendering ------------------------------------------------------------------------------


@needs_fluidsynth
def test_corpus_files_match_the_manifest(corpus):
    manifest = json.loads((corpus / "manifest.json").read_text())
    assert manifest["sample_rate"] == TEST_SR and manifest["seed"] == 3
    files = manifest["files"]
    on_disk = {p.relative_to(corpus).as_posix() for p in corpus.rglob("*.flac")}
    assert on_disk == {f["path"] for f in files}
    assert not list(corpus.rglob("*.part.flac"))
    total = 0.0
    for f in files:
        info = sf.info(corpus / f["path"])
        assert (info.samplerate, info.channels, info.format, info.subtype) == (
            TEST_SR,
            1,
            "FLAC",
            "PCM_16",
        )
        assert info.frames == f["n_samples"] and f["seconds"] == pytest.approx(
            info.frames / TEST_SR, abs=1e-3
        )
        audio, _ = sf.read(corpus / f["path"], dtype="float64")
        rms_db = 10 * np.log10(np.mean(audio**2))
        peak_db = 20 * np.log10(np.max(np.abs(audio)))
        assert rms_db > -45.0, f"{f['path']} is nearly silent"
        assert peak_db == pytest.approx(f["peak_dbfs"], abs=0.1)
        assert f["soundfont"] in {s["name"] for s in manifest["soundfonts"]}
        assert f["category"] in TEST_CATEGORIES
        # A piano, not noise: most energy below 4 kHz, and a clear fundamental-range content.
        spectrum = np.abs(np.fft.rfft(audio)) ** 2
        freqs = np.fft.rfftfreq(audio.size, 1 / TEST_SR)
        assert spectrum[freqs < 4000].sum() > 0.9 * spectrum.sum()
        total += f["seconds"]
    assert total >= 0.015 * 3600
    assert manifest["seconds"]["val"] + manifest["seconds"]["train"] == pytest.approx(
        total, abs=0.01
    )


@needs_fluidsynth
def test_split_is_by_piece(corpus):
    files = json.loads((corpus / "manifest.json").read_text())["files"]
    splits = {f["split"] for f in files}
    assert splits == {"train", "val"}
    for f in files:
        assert f["path"].startswith(f["split"] + "/")
    train = {f["group"] for f in files if f["split"] == "train"}
    val = {f["group"] for f in files if f["split"] == "val"}
    assert train and val and not train & val
    val_s = sum(f["seconds"] for f in files if f["split"] == "val")
    assert val_s < 0.5 * sum(f["seconds"] for f in files)


@needs_fluidsynth
def test_same_seed_gives_identical_files(corpus, tmp_path, soundfont):
    render_tiny(tmp_path / "again", 3, soundfont)
    assert tree_hashes(tmp_path / "again") == tree_hashes(corpus)


@needs_fluidsynth
def test_different_seed_gives_different_files(corpus, tmp_path, soundfont):
    render_tiny(tmp_path / "other", 4, soundfont)
    ours = json.loads((corpus / "manifest.json").read_text())["files"]
    theirs = json.loads((tmp_path / "other" / "manifest.json").read_text())["files"]
    assert [f["piece"] for f in ours] != [f["piece"] for f in theirs]
    assert not set(tree_hashes(corpus).values()) & set(tree_hashes(tmp_path / "other").values())


@needs_fluidsynth
def test_cancel_removes_partial_output(tmp_path, soundfont):
    token = CancelToken()
    out = tmp_path / "cancelled"
    with pytest.raises(CancelledError):
        render_corpus(
            out,
            hours=0.05,
            seed=1,
            sample_rate=TEST_SR,
            soundfonts=[soundfont],
            categories={"texture": 1.0},
            progress=lambda f, m: token.cancel(),
            cancel=token,
        )
    assert not out.exists()


@needs_fluidsynth
def test_parallel_rendering_gives_the_same_files(corpus, tmp_path, soundfont):
    render_corpus(
        tmp_path / "parallel",
        hours=0.015,
        seed=3,
        sample_rate=TEST_SR,
        soundfonts=[soundfont],
        categories=TEST_CATEGORIES,
        workers=2,
    )
    assert tree_hashes(tmp_path / "parallel") == tree_hashes(corpus)


@pytest.mark.parametrize("piano", ["soundfont", "mix", "salamander"])
def test_a_missing_music21_is_named_before_any_pianos_needs(tmp_path, monkeypatch, piano):
    """Every piano plays music21's scores: without it (the desktop bundle) the one error says
    so, not that the Salamander samples or a SoundFont are missing."""
    import sys

    from simdps_studio.core.errors import NotAvailableError
    from simdps_studio.data.render import render_corpus

    monkeypatch.setitem(sys.modules, "music21", None)
    with pytest.raises(NotAvailableError, match="music21"):
        render_corpus(
            tmp_path / "out", hours=0.01, seed=0, piano=piano, salamander=tmp_path / "none"
        )
    assert not (tmp_path / "out").exists()
