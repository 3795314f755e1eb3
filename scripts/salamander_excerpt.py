#!/usr/bin/env python3
"""Render a short Salamander Grand Piano excerpt for the docs, its spectrogram, and a click check.

A Chopin mazurka (op. 6 no. 2, from the music21 corpus: public domain, a ``train``-split piece, so
nothing the quality benchmark measures) is arranged, performed and played through the sampled
piano exactly as ``simdps-studio data render-piano --piano salamander`` does, with a fixed mild room,
and written at the model rate (22.05 kHz mono FLAC) to ``docs/salamander/excerpt.flac`` with
``excerpt.png`` (spectrogram; the ticks on top mark where dampers fall).

The click check looks at the dry rendering around every damper fall: the energy above 3 kHz in
2.9-ms frames from 3 ms before to 25 ms after it, against that band's median over the 100 ms before
(a click is broadband and shows as a jump there). Only damper falls with no note onset from
100 ms before to 50 ms after count (an onset's hammer noise would mask a click, and be counted as
one). It is measured with the release samples on (as rendered: the damper noise is meant to be
heard) and off (the fade alone), on a control rendering whose notes stop dead at the damper (which
must show clicks), and at note onsets for scale. Results go to ``excerpt.json``. Deterministic. Run
``python scripts/salamander_excerpt.py [--samples DIR] [--out DIR]``.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy import signal

from simdps_studio.data import effects
from simdps_studio.data.midi import Performance
from simdps_studio.data.perform import perform
from simdps_studio.data.render import Finish, choose_excerpt
from simdps_studio.data.salamander import ATTRIBUTION, default_dir, load_sample_set
from simdps_studio.data.sampler_piano import (
    NO_DAMPER_FROM,
    SamplerPiano,
    _Ending,
    damper_times,
)
from simdps_studio.data.scores import arrange, corpus_catalogue, parse_piece

ROOT = Path(__file__).resolve().parents[1]
PIECE = "chopin/mazurka06-2"
SEED = 1832
SR = 22_050
TARGET_S = 16.0
ROOM = Finish(shelves=(), rt60_s=0.9, predelay_s=0.012, damping_hz=5000.0, wet=0.22, peak_dbfs=-1.0)


def performance() -> tuple[Performance, str]:
    """The performed excerpt and a description of it."""
    entry = next(e for e in corpus_catalogue() if e.name == PIECE)
    rng = np.random.default_rng(SEED)
    piece = parse_piece(entry)
    if piece is None:
        raise SystemExit(f"error: {PIECE} cannot be parsed")
    passage = choose_excerpt(arrange(piece, rng), rng, TARGET_S)
    passage = replace(passage, pedal_modes=("bar",))
    return perform(passage, rng), passage.name


class _HardCut(SamplerPiano):
    """The control of the click check: notes stop dead where the damper falls."""

    def _ending(self, pitch, start, damper_s, restrike_s, settings):
        ending = super()._ending(pitch, start, damper_s, restrike_s, settings)
        return None if ending is None else _Ending(ending.begin, 1, 0.0)


def single_note_sweep(samples) -> dict:
    """The click check on single notes, every damped key at two velocities, released at 0.5 s:
    nothing else sounds, so a click has nothing to hide behind."""
    from simdps_studio.data.midi import PerformedNote

    renders = {
        "fade_no_release": SamplerPiano(replace(samples, releases={}), SR),
        "fade_with_release": SamplerPiano(samples, SR),
        "hard_cut_control": _HardCut(replace(samples, releases={}), SR),
    }
    out = {}
    for label, piano in renders.items():
        jumps = []
        for pitch in range(21, NO_DAMPER_FROM):
            for velocity in (40, 100):
                note = PerformedNote(0.05, 0.55, pitch, velocity)
                y = piano.render(Performance(notes=(note,)))
                jumps.append(jumps_db(y, SR, np.array([0.55]))[0])
        out[label] = _stats(np.asarray(jumps))
    return out


def with_room(dry: np.ndarray) -> np.ndarray:
    """The corpus renderer's room and level (no EQ), the start kept as it is so that the
    performance's times stay the file's times (the corpus trims the lead-in)."""
    ir = effects.room_impulse_response(
        np.random.default_rng(SEED),
        SR,
        rt60_s=ROOM.rt60_s,
        predelay_s=ROOM.predelay_s,
        damping_hz=ROOM.damping_hz,
        n_channels=1,
    )
    wet = effects.add_room(dry[None].astype(np.float64), ir, ROOM.wet)
    wet = effects.trim_silence(wet, SR, lead_s=None)
    return effects.normalise_peak(wet, ROOM.peak_dbfs)[0].astype(np.float32)


def hf_frames(x: np.ndarray, sr: int, frame: int = 64) -> np.ndarray:
    """Energy above 3 kHz per ``frame`` samples."""
    sos = signal.butter(8, 3000.0, "highpass", fs=sr, output="sos")
    # Silence after the end: a rendering that stops dead must show its step.
    hp = signal.sosfilt(sos, np.concatenate([x.astype(np.float64), np.zeros(sr // 5)]))
    n = hp.size // frame
    return (hp[: n * frame].reshape(n, frame) ** 2).sum(axis=1)


def jumps_db(x: np.ndarray, sr: int, times_s: np.ndarray, frame: int = 64) -> np.ndarray:
    """Per time: the largest frame energy above 3 kHz just after it over the median before, dB."""
    e = hf_frames(x, sr, frame)
    out = []
    for t in times_s:
        k = int(t * sr) // frame
        before = e[max(k - int(0.1 * sr) // frame, 0) : max(k - int(0.003 * sr) // frame, 1)]
        after = e[max(k - int(0.003 * sr) // frame, 0) : k + int(0.025 * sr) // frame + 1]
        if before.size == 0 or after.size == 0:
            continue
        out.append(10 * np.log10((after.max() + 1e-20) / (np.median(before) + 1e-20)))
    return np.asarray(out)


def spectrogram(x: np.ndarray, sr: int, png: Path, marks_s: np.ndarray, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    f, t, s = signal.stft(x, sr, nperseg=1024, noverlap=768)
    db = 20 * np.log10(np.abs(s) + 1e-9)
    fig, ax = plt.subplots(figsize=(9, 4), dpi=110)
    mesh = ax.pcolormesh(t, f / 1000, db, vmin=db.max() - 90, vmax=db.max(), shading="auto")
    ax.set_ylim(0, sr / 2000)
    ax.vlines(marks_s, sr / 2000 * 0.97, sr / 2000, color="w", lw=0.6)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("frequency (kHz)")
    ax.set_title(title, fontsize=9)
    fig.colorbar(mesh, ax=ax, label="dB")
    fig.tight_layout()
    fig.savefig(png)
    plt.close(fig)


def main() -> None:
    a = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    a.add_argument("--samples", type=Path, default=default_dir())
    a.add_argument("--out", type=Path, default=ROOT / "docs" / "salamander")
    args = a.parse_args()
    samples = load_sample_set(args.samples)
    piano = SamplerPiano(samples, SR)
    perf, name = performance()
    dry = piano.render(perf)
    no_release = SamplerPiano(replace(samples, releases={}), SR).render(perf)
    audio = with_room(dry)
    args.out.mkdir(parents=True, exist_ok=True)
    sf.write(args.out / "excerpt.flac", audio, SR, subtype="PCM_16")

    falls = damper_times(perf)
    damped = np.array(
        [t for t, n in zip(falls, perf.notes, strict=True) if n.pitch < NO_DAMPER_FROM]
    )
    damped = np.unique(damped[np.isfinite(damped)])
    onsets = np.unique([n.start_s for n in perf.notes])
    # A damper falling as another key is struck is masked by that onset's hammer noise: the check
    # uses the falls with no onset from 100 ms before to 50 ms after.
    near = np.array([np.any((onsets > t - 0.1) & (onsets < t + 0.05)) for t in damped], bool)
    isolated = damped[~near]
    hard_cut = _HardCut(replace(samples, releases={}), SR).render(perf)
    report = {
        "piece": name,
        "seconds": round(len(audio) / SR, 2),
        "notes": len(perf.notes),
        "damper_falls": int(damped.size),
        "isolated_damper_falls": int(isolated.size),
        "hf_jump_db": {
            "isolated_damper_falls_no_release": _stats(jumps_db(no_release, SR, isolated)),
            "isolated_damper_falls_with_release": _stats(jumps_db(dry, SR, isolated)),
            "isolated_damper_falls_hard_cut_control": _stats(jumps_db(hard_cut, SR, isolated)),
            "all_damper_falls_with_release": _stats(jumps_db(dry, SR, damped)),
            "note_onsets_with_release": _stats(jumps_db(dry, SR, onsets[onsets > 0.2])),
        },
        "single_notes": single_note_sweep(samples),
        "attribution": ATTRIBUTION,
    }
    (args.out / "excerpt.json").write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    spectrogram(
        audio,
        SR,
        args.out / "excerpt.png",
        damped[damped < len(audio) / SR],
        f"Salamander Grand Piano V3 (A. Holm, CC BY 3.0): {name}, 22.05 kHz; ticks: damper falls",
    )
    print(json.dumps(report, indent=1))


def _stats(values: np.ndarray) -> dict:
    if values.size == 0:
        return {}
    return {
        "n": int(values.size),
        "median": round(float(np.median(values)), 1),
        "p90": round(float(np.percentile(values, 90)), 1),
        "max": round(float(values.max()), 1),
    }


if __name__ == "__main__":
    main()
