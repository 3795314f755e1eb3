#!/usr/bin/env python3
"""Render the bundled demo: a piano recording with a real dropout in it.

Scott Joplin's *Maple Leaf Rag* (1899, public domain), its first strain played twice as written
(the score's repeat), is performed with this project's data pipeline (tempo curve, dynamics, pedal),
rendered by FluidSynth through a sampled grand piano SoundFont, given a stereo room, and written as
44.1 kHz stereo 16-bit FLAC. A stretch of digital silence (a buffer underrun or a damaged file)
is then planted mid-phrase in the repeat, so the first time through is the natural candidate for a
similarity-guided repair.

Writes ``resources/demo/demo.flac`` (with the dropout), ``resources/demo/demo_clean.flac`` (the
same samples without it, for evaluation) and ``resources/demo/README.md``. Deterministic: running it
again with the same SoundFont gives the same files. Run ``python scripts/make_demo.py [OUT_DIR]``.
"""

from __future__ import annotations

import argparse
import re
import sys
import textwrap
from dataclasses import replace
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.ndimage import maximum_filter1d

from simdps_studio.core.types import float_to_native
from simdps_studio.data import effects
from simdps_studio.data.midi import Passage, excerpt
from simdps_studio.data.perform import perform
from simdps_studio.data.render import synthesise
from simdps_studio.data.scores import corpus_catalogue, parse_piece
from simdps_studio.data.synth import SoundFont, list_soundfonts

PIECE = "joplin/maple_leaf_rag"
SR = 44_100
SEED = 1899
QPM = 116.0  # quarter notes per minute; Joplin asks for "Tempo di marcia", not fast
#: The pickup (an eighth note) and the first strain (bars 1-16 of 2/4), in quarter notes.
PICKUP_Q = 0.5
STRAIN_Q = 32.0
#: The repeat is played up to the tonic cadence at the end of bar 12 (keeps the files small).
REPEAT_Q = 24.0
#: Dropout: in the repeat's bar 6 (mid-way through its second phrase), a sixteenth after the
#: bar line, 0.6 s long.
DROPOUT_BAR = 16 + 6
DROPOUT_OFFSET_Q = 0.25
DROPOUT_S = 0.6
PEAK_DBFS = -4.0
NOISE_RMS = 10.0 ** (-90.0 / 20.0)

#: SoundFonts in order of preference: file name, Debian package, licence.
SOUNDFONTS = (
    (
        "MuseScore_General_Lite.sf3",
        "musescore-general-soundfont-small",
        "MIT; its grand piano is the public-domain Splendid Grand (AKAI S5000) samples",
    ),
    ("MuseScore_General.sf3", "musescore-general-soundfont", "MIT"),
    ("FluidR3_GM.sf2", "fluid-soundfont-gm", "MIT"),
)

_README = """# Demo recording

`demo.flac` is a short piano recording with a real dropout in it; `make run` opens it.
`demo_clean.flac` holds the same samples without the dropout, as a reference for evaluation:
the two files are identical outside the dropout, sample for sample.

- **Piece:** Scott Joplin, *Maple Leaf Rag* (1899): the pickup and the first strain (bars 1-16),
  then its repeat as far as the cadence at the end of bar 12.
- **Score:** `{piece}` from the music21 corpus, a MusicXML encoding shipped with music21
  (music21's corpus notes: the music is public domain, the encodings public domain or used by
  permission).
- **Performance:** {qpm:.0f} quarter notes per minute with a gentle tempo curve and a closing
  ritardando, varied dynamics, pedal changed on every beat (seed {seed}).
- **Rendering:** FluidSynth {fluid} with the SoundFont `{font}` (Debian package `{package}`;
  licence: {licence}), preset "{preset}"; a synthetic stereo room (RT60 {rt60:.1f} s) added by
  `scripts/make_demo.py`.
- **Format:** FLAC, {sr} Hz, stereo, 16-bit, {duration:.2f} s, peak {peak:.1f} dBFS.
- **Dropout:** digital silence (every sample exactly 0 in both channels) from
  **{start_s:.3f} s to {end_s:.3f} s** (samples {start} to {end}, end exclusive; {length_s:.2f} s),
  mid-phrase in bar 6 of the repeated strain.
- **Same music:** the corresponding passage of the first time through starts near {cand_s:.3f} s.

Licence: the composition is in the public domain; this rendering is part of SimDPS Studio and
carries the project's licence. The SoundFont's samples are used under the licence named above.

Regenerate with `make demo` (or `.venv/bin/python scripts/make_demo.py`); it needs the
`fluidsynth` program and the SoundFont above.
"""


def wrap_markdown(text: str, width: int = 100) -> str:
    """Re-wrap each paragraph and list item of ``text`` to ``width`` columns."""
    blocks = []
    for block in text.strip().split("\n\n"):
        items = re.split(r"\n(?=- )", block)
        wrapped = []
        for item in items:
            if item.startswith("#"):
                wrapped.append(item)
                continue
            indent = "  " if item.startswith("- ") else ""
            wrapped.append(textwrap.fill(" ".join(item.split()), width, subsequent_indent=indent))
        blocks.append("\n".join(wrapped))
    return "\n\n".join(blocks) + "\n"


def pick_soundfont() -> tuple[SoundFont, str, str]:
    """The first installed SoundFont of :data:`SOUNDFONTS`, with its package and licence."""
    found = {sf.name: sf for sf in list_soundfonts()}
    for name, package, licence in SOUNDFONTS:
        if name in found:
            return found[name], package, licence
    wanted = ", ".join(package for _, package, _ in SOUNDFONTS)
    raise SystemExit(f"error: no demo SoundFont installed (Debian: apt-get install {wanted})")


def fluidsynth_version() -> str:
    import subprocess

    from simdps_studio.data.synth import fluidsynth_executable

    out = subprocess.run(
        [fluidsynth_executable(), "--version"], capture_output=True, text=True, check=False
    )
    for line in out.stdout.splitlines():
        if "runtime version" in line:
            return line.rsplit(" ", 1)[-1]
    return ""


def play_twice(passage: Passage, start_q: float, stop_q: float, again_q: float) -> Passage:
    """``passage`` up to ``stop_q``, then the first ``again_q`` quarters of ``[start_q, stop_q)``
    once more (a written-out repeat)."""
    head = excerpt(passage, 0.0, stop_q)
    section = excerpt(passage, start_q, min(start_q + again_q, stop_q))
    shift = stop_q
    notes = head.notes + tuple(replace(n, onset_q=n.onset_q + shift) for n in section.notes)
    return replace(
        head,
        notes=notes,
        bars_q=head.bars_q + tuple(b + shift for b in section.bars_q),
        fermatas_q=(),
        end_q=stop_q + section.end_q,
    )


def noise_floor(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A faint noise floor (``NOISE_RMS``) where the music is quiet, as in a real recording.

    It keeps the lead-in and the fade-out from being digital silence, so the planted dropout is the
    only such stretch in the file. Under the music it would be masked and would only make the FLAC
    files larger, so it is gated to stretches more than 60 dB below full scale.
    """
    quiet = maximum_filter1d(np.max(np.abs(x), axis=0), size=int(0.001 * SR)) < 1e-3
    smooth = np.hanning(int(0.01 * SR))
    gate = np.maximum(quiet, np.convolve(quiet, smooth / smooth.sum(), "same"))
    return NOISE_RMS * gate * rng.standard_normal(x.shape)


def render_clean(font: SoundFont) -> tuple[np.ndarray, tuple[float, ...], dict]:
    """The undamaged demo at 44.1 kHz, stereo float32, with the performed bar times (seconds)."""
    entry = next(e for e in corpus_catalogue() if e.name == PIECE)
    piece = parse_piece(entry, expand_repeats=False)
    if piece is None or piece.passage.bars_q[:2] != (0.0, PICKUP_Q):
        raise SystemExit(f"error: cannot read {PIECE} from the music21 corpus")
    # music21's expandRepeats leaves this strain's repeat out, so it is written out here.
    passage = play_twice(piece.passage, PICKUP_Q, PICKUP_Q + STRAIN_Q, REPEAT_Q)

    rng = np.random.default_rng(SEED)
    performance = perform(passage, rng, qpm=QPM, pedal_mode="beat")
    preset = font.pianos[0]
    dry = synthesise(performance, font, preset, sr=SR)
    rt60_s = 1.1
    ir = effects.room_impulse_response(
        rng, SR, rt60_s=rt60_s, predelay_s=0.012, damping_hz=6500.0, n_channels=2
    )
    x = effects.add_room(dry.astype(np.float64), ir, wet=0.2)
    x = effects.trim_silence(x, SR, threshold_db=-50.0, lead_s=None, fade_s=0.3)
    x = effects.normalise_peak(x, PEAK_DBFS)
    x += noise_floor(x, np.random.default_rng(SEED + 1))
    info = {"preset": preset.name, "rt60": rt60_s, "qpm": performance.info["qpm"]}
    return x.astype(np.float32), performance.bars_s, info


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", nargs="?", default="resources/demo", type=Path)
    args = parser.parse_args(argv)

    font, package, licence = pick_soundfont()
    clean_float, bars_s, info = render_clean(font)
    clean = float_to_native(clean_float, np.dtype(np.int16))

    bar_s = bars_s[DROPOUT_BAR + 1] - bars_s[DROPOUT_BAR]
    start_s = bars_s[DROPOUT_BAR] + DROPOUT_OFFSET_Q / 2.0 * bar_s  # 2/4: two quarters per bar
    start = int(round(start_s * SR))
    end = start + int(round(DROPOUT_S * SR))
    damaged = clean.copy()
    damaged[:, start:end] = 0
    cand_s = bars_s[DROPOUT_BAR - 16] + DROPOUT_OFFSET_Q / 2.0 * (
        bars_s[DROPOUT_BAR - 15] - bars_s[DROPOUT_BAR - 16]
    )

    args.out_dir.mkdir(parents=True, exist_ok=True)
    for name, data in (("demo_clean.flac", clean), ("demo.flac", damaged)):
        sf.write(
            args.out_dir / name, data.T, SR, subtype="PCM_16", format="FLAC", compression_level=1.0
        )
    readme = _README.format(
        piece=PIECE,
        qpm=info["qpm"],
        seed=SEED,
        fluid=fluidsynth_version(),
        font=font.name,
        package=package,
        licence=licence,
        preset=info["preset"],
        rt60=info["rt60"],
        sr=SR,
        duration=clean.shape[-1] / SR,
        peak=PEAK_DBFS,
        start_s=start / SR,
        end_s=end / SR,
        start=start,
        end=end,
        length_s=(end - start) / SR,
        cand_s=cand_s,
    )
    (args.out_dir / "README.md").write_text(wrap_markdown(readme), encoding="utf-8")
    sizes = sum((args.out_dir / n).stat().st_size for n in ("demo.flac", "demo_clean.flac"))
    print(
        f"wrote {args.out_dir}/demo.flac and demo_clean.flac ({clean.shape[-1] / SR:.2f} s, "
        f"{sizes / 1e6:.2f} MB together); dropout {start / SR:.3f}-{end / SR:.3f} s; "
        f"same music near {cand_s:.3f} s; SoundFont {font.name}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
