"""Training smoke test: a few CPU steps lower the loss; cancel + resume reproduce a straight run."""

from __future__ import annotations

import itertools
import json
import re
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from safetensors.torch import load_file

from simdps_studio.core.errors import CancelledError, InputError
from simdps_studio.core.progress import CancelToken
from simdps_studio.inpaint.checkpoint import load_model
from simdps_studio.inpaint.train import (
    CropSampler,
    TrainOptions,
    TrainSettings,
    edm_loss,
    find_audio,
    lr_at,
    make_batch,
    run_options,
    train,
)

SR = 22050


pytestmark = pytest.mark.usefixtures("torch_one_thread")


# A shorter window than the preset's keeps the test quick; the architecture is unchanged.
OPTS = dict(
    preset="tiny",
    overrides={"segment_length": 16384},
    batch_size=2,
    lr=3e-3,
    warmup_steps=2,
    val_every=20,
    val_batches=2,
    log_every=5,
    checkpoint_every_s=1e9,
    seed=3,
    device="cpu",
)


def _train(data, out, *, progress=None, cancel=None, **settings):
    """:func:`train` with its settings as keyword arguments (:meth:`TrainSettings.of`)."""
    return train(data, out, TrainSettings.of(**settings), progress=progress, cancel=cancel)


def _piano_like(seconds: float, sr: int, seed: int) -> np.ndarray:
    """Notes with decaying harmonics at random pitches, onsets every 0.25-0.5 s."""
    rng = np.random.default_rng(seed)
    n = int(seconds * sr)
    x = np.zeros(n)
    t0 = 0
    while t0 < n:
        f0 = 110.0 * 2 ** (rng.integers(0, 36) / 12)
        length = min(int(sr * 1.5), n - t0)
        t = np.arange(length) / sr
        note = sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, 6) if k * f0 < sr / 2)
        x[t0 : t0 + length] += 0.2 * note * np.exp(-3.0 * t)
        t0 += int(sr * rng.uniform(0.25, 0.5))
    return (0.5 * x / np.abs(x).max()).astype(np.float32)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("corpus")
    files = []
    for i, (split, sr) in enumerate([("train", SR), ("train", 44100), ("val", SR)]):
        path = root / split / f"piece{i}.flac"
        path.parent.mkdir(exist_ok=True)
        sf.write(path, _piano_like(3.0, sr, seed=i), sr)
        files.append({"path": f"{split}/{path.name}", "split": split})
    (root / "manifest.json").write_text(json.dumps({"files": files}))
    return root


def test_corpus_and_batches(corpus):
    sources = find_audio(corpus)
    assert sorted(s.split for s in sources) == ["train", "train", "val"]
    train_src = [s for s in sources if s.split == "train"]
    for preload in (2**30, 0):  # in memory, and read (and resampled) crop by crop
        sampler = CropSampler(train_src, SR, 16384, preload_max_bytes=preload)
        assert abs(sampler.seconds - 6.0) < 0.01
        batch = make_batch(sampler, np.random.default_rng(0), 4, 0.08, gain_db=0.0)
        assert batch.shape == (4, 16384) and batch.dtype == np.float32
        np.testing.assert_allclose(np.sqrt((batch**2).mean(axis=1)), 0.08, rtol=1e-4)


def test_training_lowers_loss_and_resume_reproduces(corpus, tmp_path):
    straight = _train(corpus, tmp_path / "a", steps=20, **OPTS)
    assert straight.step == 20 and straight.finished
    vals = [h["val_loss"] for h in straight.history if "val_loss" in h]
    assert len(vals) == 2 and vals[-1] < 0.8 * vals[0], vals
    assert straight.best_val_loss == vals[-1]
    model = load_model(tmp_path / "a")  # the exported EMA model
    assert model.segment_length == 16384
    assert json.loads((tmp_path / "a" / "config.json").read_text())["training"]["steps"] == 20
    assert (tmp_path / "a" / "best" / "weights.safetensors").is_file()

    # Cancel half-way (a checkpoint is written), then resume to the end.
    token = CancelToken()

    def stop_at_10(fraction: float, message: str) -> None:
        if fraction >= 0.5:
            token.cancel()

    with pytest.raises(CancelledError):
        _train(corpus, tmp_path / "b", steps=20, progress=stop_at_10, cancel=token, **OPTS)
    state = json.loads((tmp_path / "b" / "training" / "state.json").read_text())
    assert state["step"] == 10
    with pytest.raises(InputError, match="already holds a training state"):
        _train(corpus, tmp_path / "b", steps=20, **OPTS)
    resumed = _train(corpus, tmp_path / "b", steps=20, resume=True, **OPTS)
    assert resumed.start_step == 10 and resumed.step == 20
    assert [h["step"] for h in resumed.history if "loss" in h] == [5, 10, 15, 20]

    a = load_file(str(tmp_path / "a" / "training" / "state.safetensors"))
    b = load_file(str(tmp_path / "b" / "training" / "state.safetensors"))
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    chunks = json.loads((tmp_path / "b" / "config.json").read_text())["training"]["chunks"]
    assert [(c["start_step"], c["end_step"]) for c in chunks] == [(0, 10), (10, 20)]


def test_init_from_saved_model_continues_its_record(corpus, tmp_path):
    """A shipped model (weights + config, no training state) can be trained further."""
    _train(corpus, tmp_path / "a", steps=10, **OPTS)
    shipped = tmp_path / "shipped"
    shipped.mkdir()
    for name in ("config.json", "weights.safetensors"):  # what a model folder in models/ holds
        (shipped / name).write_bytes((tmp_path / "a" / name).read_bytes())
    start = load_model(shipped)

    more = _train(corpus, tmp_path / "b", steps=20, init_from=shipped, **OPTS)
    assert more.start_step == 10 and more.step == 20
    # The history and chunks of the first run are carried on, then the new chunk's.
    assert [h["step"] for h in more.history if "loss" in h] == [5, 10, 15, 20]
    # The carried record's validations, this run's of the weights it starts from, its own.
    assert [h["step"] for h in more.history if "val_loss" in h] == [0, 10, 10, 20]
    record = json.loads((tmp_path / "b" / "config.json").read_text())["training"]
    assert [(c["start_step"], c["end_step"]) for c in record["chunks"]] == [(0, 10), (10, 20)]
    # Training continued from the saved weights: the new chunk's validation is no worse than
    # where the first run ended.
    vals = {h["step"]: h["val_loss"] for h in more.history if "val_loss" in h}
    assert vals[20] <= vals[10] * 1.05
    # Same data and seed: the start weights score what the first run's last validation did.
    assert [h["val_loss"] for h in more.history if "val_loss" in h][1:3] == [vals[10]] * 2
    after = load_model(tmp_path / "b")
    assert any(
        not torch.equal(p, q)
        for p, q in zip(start.state_dict().values(), after.state_dict().values())
    )
    # Adam restarts, so the learning rate warms up again from the carried step.
    state = json.loads((tmp_path / "b" / "training" / "state.json").read_text())
    assert state["warmup_base"] == 10
    with pytest.raises(InputError, match="preset"):
        _train(corpus, tmp_path / "c", steps=20, init_from=shipped, **{**OPTS, "preset": "small"})


def test_learning_rate_warms_up_then_decays_to_zero_at_the_end():
    lr = 1e-3
    # Warm-up from where the optimiser started, then constant.
    assert lr_at(100, lr, 10, warmup_base=100) == pytest.approx(1e-4)
    assert lr_at(109, lr, 10, warmup_base=100) == lr == lr_at(5000, lr, 10, total_steps=10_000)
    # A half cosine over the last 1000 of 3000 steps: full, half-way, nearly zero, monotone.
    kw = dict(total_steps=3000, decay_steps=1000)
    assert lr_at(1999, lr, 0, **kw) == lr
    assert lr_at(2000, lr, 0, **kw) == pytest.approx(lr)
    assert lr_at(2500, lr, 0, **kw) == pytest.approx(lr / 2)
    assert 0 < lr_at(2999, lr, 0, **kw) < 1e-5 * lr
    rates = [lr_at(s, lr, 0, **kw) for s in range(1900, 3000)]
    assert all(a >= b for a, b in itertools.pairwise(rates))
    # Both at once (a chunk that warms up again and decays).
    assert lr_at(2000, lr, 100, warmup_base=1990, **kw) == pytest.approx(lr * 11 / 100)


def test_a_run_with_lr_decay_ends_near_zero_and_keeps_the_option(corpus, tmp_path):
    opts = {**OPTS, "log_every": 1, "val_batches": 0}
    run = _train(corpus, tmp_path / "d", steps=6, lr_decay_steps=4, **opts)
    rates = [h["lr"] for h in run.history if "lr" in h]
    assert rates[:2] == [pytest.approx(1.5e-3), pytest.approx(3e-3)]  # the warm-up
    assert rates[2] > rates[3] > rates[4] > rates[5] > 0 and rates[5] < 0.2 * OPTS["lr"]
    state = json.loads((tmp_path / "d" / "training" / "state.json").read_text())
    assert state["options"]["lr_decay_steps"] == 4


def test_bad_data_and_preset(corpus, tmp_path):
    with pytest.raises(InputError, match="not found"):
        _train(tmp_path / "nothing", tmp_path / "m", steps=1, **OPTS)
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("no audio here")
    with pytest.raises(InputError, match="no readable training audio"):
        find_audio(empty)


@pytest.mark.slow
def test_torchrun_ddp_on_cpu_then_resume_alone(corpus, tmp_path):
    """Two gloo processes under torchrun train together; one process resumes their state."""
    import socket
    import subprocess
    import sys

    out = tmp_path / "ddp"
    script = tmp_path / "run.py"
    script.write_text(
        "import sys\n"
        f"sys.path.insert(0, {str(Path(__file__).resolve().parents[1])!r})\n"
        "from simdps_studio.inpaint.train import TrainSettings, train\n"
        f"train({str(corpus)!r}, {str(out)!r}, TrainSettings.of(steps=2, preset='tiny',"
        " overrides={'segment_length': 16384}, batch_size=1, val_every=2, val_batches=1,"
        " log_every=1, device='cpu'))\n"
    )
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2"]
    with socket.socket() as sock:  # a free port for the rendezvous
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    cmd += ["--master_port", str(port), str(script)]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=240, check=False)
    assert res.returncode == 0, res.stderr[-2000:]
    state = json.loads((out / "training" / "state.json").read_text())
    assert state["step"] == 2 and len(state["rng"]) == 2
    assert state["chunks"][0]["batch_size"] == 2 and state["chunks"][0]["hardware"].startswith(
        "2 x"
    )
    resumed = _train(corpus, out, steps=3, resume=True, **{**OPTS, "batch_size": 1})
    assert resumed.start_step == 2 and resumed.step == 3


def test_resume_keeps_the_runs_options_unless_given(corpus, tmp_path):
    """``--resume`` alone continues with the options the run was started with."""
    out = tmp_path / "m"
    opts = {**OPTS, "batch_size": 3, "lr": 1e-3, "ema_decay": 0.9}
    _train(corpus, out, steps=2, **opts)
    # Resume with nothing but the folder: batch 3, lr 1e-3, EMA 0.9 and the step total carry on.
    card = (out / "config.json").read_bytes()
    with pytest.raises(InputError, match="at step 2 already: give --steps above 2"):
        _train(corpus, out, resume=True, device="cpu")  # the run's own total: nothing to do
    assert (out / "config.json").read_bytes() == card  # and the folder is left alone
    more = _train(corpus, out, resume=True, steps=3, device="cpu")
    assert more.step == 3
    state = json.loads((out / "training" / "state.json").read_text())
    assert state["options"]["batch_size"] == 3
    assert state["options"]["lr"] == 1e-3 and state["options"]["ema_decay"] == 0.9
    assert state["options"]["steps"] == 3 and state["options"]["log_every"] == 5
    assert state["chunks"][-1]["batch_size"] == 3
    # A given option applies from the next chunk on.
    _train(corpus, out, resume=True, steps=4, batch_size=1, device="cpu")
    state = json.loads((out / "training" / "state.json").read_text())
    assert state["options"]["batch_size"] == 1 and state["options"]["lr"] == 1e-3
    assert [c["batch_size"] for c in state["chunks"]] == [3, 3, 1]  # no row for the no-op


def test_run_options_merge_and_check():
    assert run_options({}).batch_size == TrainOptions().batch_size
    saved = asdict(TrainOptions(batch_size=4, lr=4e-4))
    merged = run_options({"lr": 1e-4, "batch_size": None}, {**saved, "retired_option": 1})
    assert (merged.batch_size, merged.lr) == (4, 1e-4)
    with pytest.raises(InputError, match="batch_size"):
        run_options({"batch_size": 0}, saved)
    with pytest.raises(InputError, match="unknown"):
        run_options({"batch": 4})


def test_cli_help_states_the_training_defaults():
    """The CLI cannot import the trainer (torch) to show its defaults, so they are copied: check."""
    import contextlib
    import io

    from simdps_studio.cli import build_parser

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf), pytest.raises(SystemExit):
        build_parser().parse_args(["train", "--help"])
    text = " ".join(buf.getvalue().split())
    d = TrainOptions()
    for option, default in [
        ("--steps", d.steps),
        ("--batch-size", d.batch_size),
        ("--lr", d.lr),
        ("--warmup-steps", d.warmup_steps),
        ("--lr-decay-steps", d.lr_decay_steps),
        ("--ema-decay", d.ema_decay),
        ("--val-every", d.val_every),
        ("--seed", d.seed),
        ("--checkpoint-minutes", d.checkpoint_every_s / 60),
        ("--snr-cap", d.snr_cap),
        ("--short-crop-s", d.short_crop_s),
        ("--short-crop-steps", d.short_crop_steps),
    ]:
        after = text.split(f" {option} ")[-1]  # the option's own help line
        stated = re.search(r"\(([0-9.e+-]+); a resumed run keeps its own\)", after)
        assert stated is not None and float(stated.group(1)) == default, option


def test_resume_without_a_state_says_it_starts_anew(corpus, tmp_path, capsys):
    from simdps_studio.cli import main

    out = tmp_path / "typo"
    argv = ["train", "--data", str(corpus), "--out", str(out), "--preset", "tiny", "--steps", "1"]
    assert main([*argv, "--resume"]) == 0
    assert "holds no training state; starting a new run" in capsys.readouterr().err
    assert main([*argv, "--steps", "2", "--resume"]) == 0  # now it resumes, without the note
    assert "no training state" not in capsys.readouterr().err


def test_a_resumed_chunk_without_a_validation_keeps_the_models_val_loss(corpus, tmp_path):
    """The prior-fit check reads ``metrics.val_loss``: a short chunk must not erase it."""
    out = tmp_path / "m"
    first = _train(corpus, out, steps=20, **OPTS)  # validates at 0, 20
    # A chunk cut short by its time limit after one step: no validation in it.
    chunk = _train(corpus, out, steps=40, resume=True, max_seconds=1e-6, **OPTS)
    assert chunk.step == 21 and not chunk.finished
    config = json.loads((out / "config.json").read_text())
    assert config["metrics"]["val_loss"] == first.val_loss
    assert config["training"]["val_loss"] == first.val_loss


def test_a_new_run_never_replaces_a_model_without_training_state(corpus, tmp_path):
    _train(corpus, tmp_path / "a", steps=10, **OPTS)
    shipped = tmp_path / "shipped"
    shipped.mkdir()
    for name in ("config.json", "weights.safetensors", "MODEL_CARD.md"):
        (shipped / name).write_bytes((tmp_path / "a" / name).read_bytes())
    weights = (shipped / "weights.safetensors").read_bytes()
    for kwargs in ({}, {"resume": True}):
        with pytest.raises(InputError, match="already holds a model; train into a new folder"):
            _train(corpus, shipped, steps=12, **kwargs, **OPTS)
    assert (shipped / "weights.safetensors").read_bytes() == weights
    assert not (shipped / "training").exists()
    # Continuing it in place is a deliberate choice: --init FOLDER --out FOLDER.
    more = _train(corpus, shipped, steps=12, init_from=shipped, **OPTS)
    assert more.start_step == 10 and more.step == 12


def test_init_measures_its_own_best_on_this_runs_data(corpus, tmp_path):
    """A model's best validation loss belongs to its own data: --init starts a new best."""
    _train(corpus, tmp_path / "a", steps=10, **OPTS)
    shipped = tmp_path / "shipped"
    shipped.mkdir()
    config = json.loads((tmp_path / "a" / "config.json").read_text())
    config["training"]["best_val_loss"] = 1e-6  # as if measured on easier data
    (shipped / "config.json").write_text(json.dumps(config))
    (shipped / "weights.safetensors").write_bytes(
        (tmp_path / "a" / "weights.safetensors").read_bytes()
    )
    more = _train(corpus, tmp_path / "b", steps=12, init_from=shipped, **{**OPTS, "val_every": 100})
    assert more.best_val_loss > 1e-3
    best = json.loads((tmp_path / "b" / "best" / "config.json").read_text())
    assert best["metrics"]["val_loss"] == more.best_val_loss  # the start weights, measured here


def test_the_validation_crops_do_not_depend_on_the_batch_size(corpus):
    from simdps_studio.inpaint.train import _val_set

    sampler = CropSampler(find_audio(corpus)[:1], SR, 16384)
    sets = [
        _val_set(sampler, TrainOptions(batch_size=b, val_batches=2, val_batch_size=3), 0.08, -3.0)
        for b in (1, 8)
    ]
    assert [x.shape[0] for x, _, _ in sets[0]] == [3, 3]
    for (x0, n0, s0), (x1, n1, s1) in zip(*sets):
        assert torch.equal(x0, x1) and torch.equal(n0, n1) and torch.equal(s0, s1)


def test_a_damaged_file_is_skipped_with_a_note(corpus, tmp_path):
    """A file whose header reads but whose data does not (a cut-off download) costs only itself."""
    data = tmp_path / "data"
    data.mkdir()
    for name in ("piece0.flac", "piece1.flac"):
        (data / name).write_bytes((corpus / "train" / name).read_bytes())
    good = (corpus / "train" / "piece0.flac").read_bytes()
    (data / "cut.flac").write_bytes(good[: len(good) // 3] + bytes(200))  # header intact
    assert sf.info(str(data / "cut.flac")).frames > 0
    for preload in (2**30, 0):  # in memory, and crop by crop from disk
        notes: list[str] = []
        sources = [s for s in find_audio(data, val_fraction=0.0) if s.split == "train"]
        sampler = CropSampler(sources, SR, 16384, preload_max_bytes=preload, notes=notes)
        rng = np.random.default_rng(0)
        batch = make_batch(sampler, rng, 24, 0.08)
        assert np.isfinite(batch).all()
        assert len(notes) == 1 and "cut.flac" in notes[0], notes
    out = tmp_path / "m"
    run = _train(data, out, steps=2, **{**OPTS, "val_batches": 0})
    assert any("cut.flac" in h.get("note", "") for h in run.history)


def test_a_folder_too_small_for_a_held_out_share_trains_on_all(tmp_path):
    data = tmp_path / "one"
    data.mkdir()
    sf.write(data / "only.wav", _piano_like(2.0, SR, seed=9), SR)
    (data / "broken.wav").write_bytes(b"RIFF1234WAVEjunk")
    for fraction in (0.05, 0.999):  # hashed into the training share, or the held-out one
        notes: list[str] = []
        sources = find_audio(data, val_fraction=fraction, notes=notes)
        assert [(s.path.name, s.split) for s in sources] == [("only.wav", "train")]
        assert any("broken.wav" in n for n in notes)


def test_options_that_cannot_work_are_refused(corpus, tmp_path):
    for bad in ({"seed": -1}, {"seed": 2**64}, {"lr": float("inf")}, {"lr": float("nan")}):
        with pytest.raises(InputError):
            run_options(bad)
    with pytest.raises(InputError, match="positive"):
        _train(corpus, tmp_path / "m", steps=2, max_seconds=-60, **OPTS)
    assert not (tmp_path / "m").exists()


def test_sigterm_stops_training_with_a_checkpoint(corpus, tmp_path):
    """A scheduler's SIGTERM (or Ctrl+C) costs at most the current step, not the unsaved chunk."""
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "m"
    cmd = [sys.executable, "-m", "simdps_studio", "train", "--data", str(corpus)]
    cmd += ["--out", str(out), "--preset", "tiny", "--steps", "100000", "--batch-size", "1"]
    cmd += ["--checkpoint-minutes", "60", "--val-every", "100000", "--device", "cpu"]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
    try:
        for line in proc.stderr:  # JSON log lines (stderr is not a terminal)
            if '"loss"' in line and json.loads(line)["step"] >= 50:
                break
        time.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        rest = proc.communicate(timeout=120)[1]
    finally:
        proc.kill()
    assert proc.returncode == 130, rest
    assert "continue with --resume" in rest
    state = json.loads((out / "training" / "state.json").read_text())
    assert state["step"] >= 50


class _Echo(torch.nn.Module):
    """A 'denoiser' that returns a fixed estimate, so the loss is a known weighted error."""

    def __init__(self, estimate: torch.Tensor) -> None:
        super().__init__()
        self.estimate = estimate

    def forward(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        return self.estimate


def test_the_snr_cap_clips_only_the_low_noise_weights():
    sigma_data = 0.5
    sigma = torch.tensor([0.05, 0.5, 5.0])  # SNR 100, 1, 0.01
    x = torch.zeros(3, 4)
    model = _Echo(torch.ones(3, 4))  # squared error 1 everywhere
    zeros = torch.zeros(3, 4)
    per_item = []
    for cap in (0.0, 5.0):
        per_item.append(
            [
                4
                * edm_loss(model, x[i : i + 1], sigma[i : i + 1], zeros[i : i + 1], sigma_data, cap)
                for i in range(3)
            ]
        )
    edm, capped = per_item
    # EDM's weight (sigma^2 + sigma_data^2) / (sigma sigma_data)^2, error 1 per sample, 4 samples.
    expected = [4 * (s**2 + sigma_data**2) / (s * sigma_data) ** 2 for s in (0.05, 0.5, 5.0)]
    for got, want in zip(edm, expected):
        assert float(got) == pytest.approx(want, rel=1e-5)
    assert float(capped[0]) == pytest.approx(4 * (1 + 5.0) / sigma_data**2, rel=1e-5)
    assert float(capped[1]) == pytest.approx(float(edm[1]), rel=1e-6)
    assert float(capped[2]) == pytest.approx(float(edm[2]), rel=1e-6)


def test_a_short_crop_phase_trains_on_short_crops_first(corpus, tmp_path, monkeypatch):
    import simdps_studio.inpaint.train as train_module

    lengths: list[int] = []
    real = train_module.make_batch

    def spy(sampler, rng, batch_size, sigma_data, **kwargs):
        batch = real(sampler, rng, batch_size, sigma_data, **kwargs)
        lengths.append(batch.shape[1])
        return batch

    opts = {**OPTS, "val_batches": 0}
    monkeypatch.setattr(train_module, "make_batch", spy)
    result = _train(
        corpus, tmp_path / "m", steps=4, short_crop_s=0.5, short_crop_steps=2, snr_cap=5, **opts
    )
    assert result.step == 4
    short = lengths[0]
    assert short <= 0.5 * SR and short < 16384
    assert lengths == [short, short, 16384, 16384]
    saved = json.loads((tmp_path / "m" / "training" / "state.json").read_text())["options"]
    assert (saved["snr_cap"], saved["short_crop_s"], saved["short_crop_steps"]) == (5, 0.5, 2)


def test_a_short_crop_the_network_cannot_run_is_refused(corpus, tmp_path):
    with pytest.raises(InputError, match="short-crop"):
        _train(corpus, tmp_path / "m", steps=2, short_crop_s=0.001, short_crop_steps=1, **OPTS)
    for bad in ({"snr_cap": -1}, {"short_crop_s": float("nan")}, {"short_crop_steps": -1}):
        with pytest.raises(InputError):
            run_options(bad)


def test_train_settings_route_options_and_refuse_unknown_names(corpus, tmp_path):
    settings = TrainSettings.of(steps=3, batch_size=2, preset="tiny", resume=True, device="cpu")
    assert settings.options == {"steps": 3, "batch_size": 2}
    assert (settings.preset, settings.resume, settings.device) == ("tiny", True, "cpu")
    with pytest.raises(InputError, match="unknown training options: batch"):
        train(corpus, tmp_path / "m", TrainSettings(options={"batch": 4}, preset="tiny"))
    assert not (tmp_path / "m").exists()
