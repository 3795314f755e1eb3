#!/usr/bin/env python3
"""Install a trained model into ``models/`` and make its model-card figures.

Sub-commands (run from the repository root with the project's virtualenv):

``install RUN_DIR NAME --data-command CMD [--corpus DIR ...]``
    Copy the best EMA checkpoint of a ``simdps-studio train`` run (``RUN_DIR/best``) to
    ``models/NAME`` and record how its data was made (the command, not a local path); with
    ``--corpus``, also what the rendered corpus holds (hours per piano and split) and the
    attribution and licence of every instrument in it, read from its ``manifest.json``.
``figures NAME``
    Plot the training/validation loss curve and draw a few seconds of unconditional samples
    (FLAC + spectrogram) into ``docs/NAME/``; link them from the card.
``evaluation NAME MARKDOWN``
    Put an evaluation table (e.g. the ``bench quality`` model-card subset) into the card.

The card (``MODEL_CARD.md``) is always regenerated from ``config.json`` by the project's own
renderer, so the two never disagree. Everything here is measured when it runs; nothing is typed in.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]


def _read(model_dir: Path) -> dict:
    return json.loads((model_dir / "config.json").read_text("utf-8"))


def _write(model_dir: Path, record: dict) -> None:
    from simdps_studio.inpaint.checkpoint import render_model_card
    from simdps_studio.session.project import atomic_write_bytes

    text = json.dumps(record, indent=2, ensure_ascii=False, default=str) + "\n"
    atomic_write_bytes(model_dir / "config.json", lambda f: f.write(text.encode("utf-8")))
    card = render_model_card(record, model_dir.name)
    atomic_write_bytes(model_dir / "MODEL_CARD.md", lambda f: f.write(card.encode("utf-8")))


def data_provenance(corpora: list[Path]) -> list[dict]:
    """Per rendered corpus: hours per piano and split, and the attribution lines."""
    from simdps_studio.data.render import MANIFEST, corpus_provenance

    out = []
    for folder in corpora:
        manifest = folder / MANIFEST
        if not manifest.is_file():
            sys.exit(f"error: {folder} is not a rendered corpus (no {MANIFEST})")
        out.append(corpus_provenance(json.loads(manifest.read_text("utf-8"))))
    return out


def install(
    run_dir: Path,
    name: str,
    data_command: str,
    limitations: str | None,
    corpora: list[Path] | None = None,
) -> Path:
    """Copy ``run_dir/best`` to ``models/name`` and fix the card's data entry."""
    best = run_dir / "best"
    if not (best / "config.json").exists():
        sys.exit(f"error: {best} holds no model (has the run validated yet?)")
    # A plain folder name only: "" or "." would be models/ itself (every model deleted below),
    # "../x" a folder outside it.
    if not name or name in (".", "..") or Path(name).name != name or "\\" in name:
        sys.exit(f"error: {name!r} is not a model name (a plain folder name under models/)")
    out = ROOT / "models" / name
    if out.exists():
        shutil.rmtree(out)
    shutil.copytree(best, out)
    record = _read(out)
    record.setdefault("training", {})["data"] = data_command
    if corpora:
        record["data_provenance"] = data_provenance(corpora)
    if limitations:
        record["limitations"] = limitations
    _write(out, record)
    return out


def loss_plot(record: dict, png: Path, title: str) -> None:
    """Training loss (per logging interval) and EMA validation loss against step."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    history = record.get("training", {}).get("history", [])
    train = [(h["step"], h["loss"]) for h in history if h.get("loss") is not None]
    val = [(h["step"], h["val_loss"]) for h in history if h.get("val_loss") is not None]
    fig, ax = plt.subplots(figsize=(7, 3.6), dpi=110)
    if train:
        ax.plot(*zip(*train), color="#8aa", lw=1.2, label="training loss (batch mean)")
    if val:
        ax.plot(*zip(*val), "o-", color="#c52", lw=1.6, ms=4, label="validation loss (EMA)")
    ax.set_yscale("log")
    ax.set_xlabel("optimiser step")
    ax.set_ylabel("EDM loss")
    ax.set_title(title)
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    fig.tight_layout()
    fig.savefig(png)
    plt.close(fig)


def unconditional_samples(
    model_dir: Path, n_samples: int, steps: int, seed: int
) -> tuple[np.ndarray, int]:
    """Draw ``n_samples`` segments from the prior alone (no observation, no candidate).

    Returns
    -------
    audio : np.ndarray
        Shape (n_samples, segment_length), float32.
    sr : int
        The model's sample rate.
    """
    import torch

    from simdps_studio.inpaint.checkpoint import load_model
    from simdps_studio.inpaint.sampler import edm_sigmas, generators_for_seeds, sample_heun

    denoiser = load_model(model_dir, device="cpu")
    cfg = denoiser.config
    gens = generators_for_seeds([seed + i for i in range(n_samples)])
    sigmas = edm_sigmas(steps)
    x0 = torch.stack([torch.randn(cfg.segment_length, generator=g) for g in gens]) * float(
        sigmas[0]
    )
    with torch.no_grad():
        out = sample_heun(lambda x, s: denoiser(x, s), x0, sigmas, generator=gens)
    return out.numpy().astype(np.float32), int(cfg.sample_rate)


def spectrogram_png(y: np.ndarray, sr: int, png: Path, title: str) -> None:
    """Log-frequency magnitude spectrogram in seconds × Hz."""
    import librosa
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    spec = np.abs(librosa.stft(y, n_fft=2048, hop_length=256))
    db = librosa.amplitude_to_db(spec, ref=np.max(spec), top_db=80)
    freqs = librosa.fft_frequencies(sr=sr, n_fft=2048)
    times = np.arange(db.shape[1]) * 256 / sr
    fig, ax = plt.subplots(figsize=(8, 3.6), dpi=110)
    mesh = ax.pcolormesh(times, freqs, db, shading="auto", cmap="magma")
    ax.set_yscale("symlog", linthresh=200)
    ax.set_ylim(30, sr / 2)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("frequency (Hz)")
    ax.set_title(title)
    fig.colorbar(mesh, ax=ax, label="dB")
    fig.tight_layout()
    fig.savefig(png)
    plt.close(fig)


def figures(name: str, n_samples: int, steps: int, seed: int) -> None:
    model_dir = ROOT / "models" / name
    record = _read(model_dir)
    docs = ROOT / "docs" / name
    docs.mkdir(parents=True, exist_ok=True)
    loss_plot(record, docs / "loss.png", f"{name}: training and validation loss")
    segs, sr = unconditional_samples(model_dir, n_samples, steps, seed)
    gap = np.zeros(int(0.4 * sr), np.float32)
    joined = np.concatenate([p for s in segs for p in (s, gap)][:-1])
    peak = float(np.max(np.abs(joined))) or 1.0
    sf.write(docs / "unconditional.flac", joined / peak * 0.7, sr, subtype="PCM_16")
    spectrogram_png(
        joined,
        sr,
        docs / "unconditional.png",
        f"{name}: {n_samples} unconditional samples ({steps} Heun steps, seeds {seed}..)",
    )
    record.setdefault("figures", {}).update(
        {
            "loss_curve": f"docs/{name}/loss.png",
            "unconditional_audio": f"docs/{name}/unconditional.flac",
            "unconditional_spectrogram": f"docs/{name}/unconditional.png",
            "unconditional_settings": {"samples": n_samples, "steps": steps, "seed": seed},
        }
    )
    _write(model_dir, record)
    print(f"wrote {docs}/loss.png, unconditional.flac, unconditional.png")


def evaluation(name: str, markdown: Path) -> None:
    model_dir = ROOT / "models" / name
    record = _read(model_dir)
    record["evaluation"] = markdown.read_text("utf-8")
    _write(model_dir, record)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("install")
    a.add_argument("run_dir", type=Path)
    a.add_argument("name")
    a.add_argument("--data-command", required=True)
    a.add_argument("--limitations")
    a.add_argument(
        "--corpus",
        type=Path,
        action="append",
        metavar="DIR",
        help="rendered corpus the model was trained on (its manifest gives hours and licences)",
    )
    f = sub.add_parser("figures")
    f.add_argument("name")
    f.add_argument("--samples", type=int, default=3)
    f.add_argument("--steps", type=int, default=35)
    f.add_argument("--seed", type=int, default=0)
    e = sub.add_parser("evaluation")
    e.add_argument("name")
    e.add_argument("markdown", type=Path)
    args = p.parse_args(argv)
    if args.cmd == "install":
        print(install(args.run_dir, args.name, args.data_command, args.limitations, args.corpus))
    elif args.cmd == "figures":
        figures(args.name, args.samples, args.steps, args.seed)
    else:
        evaluation(args.name, args.markdown)


if __name__ == "__main__":
    main()
