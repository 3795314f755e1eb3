"""The prior-fit check: the denoising loss of the prior on a gap's context, and what is reported."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
from conftest import piano_like

torch = pytest.importorskip("torch")

from simdps_studio.inpaint import fit  # noqa: E402
from simdps_studio.inpaint.registry import resolve_model_dir  # noqa: E402
from simdps_studio.session import engines  # noqa: E402
from simdps_studio.session.engines import Audio, Gap, RepairRequest  # noqa: E402
from simdps_studio.session.repair import RepairInfo  # noqa: E402

SR = 22050


class Wiener(torch.nn.Module):
    """The optimal denoiser for white Gaussian data of standard deviation ``sigma_data``."""

    def __init__(self, sigma_data: float = 0.5) -> None:
        super().__init__()
        self.sigma_data = sigma_data
        self.unused = torch.nn.Parameter(torch.zeros(1))  # gives the module a device

    def forward(self, x, sigma):
        sd2 = self.sigma_data**2
        return x * sd2 / (sigma[:, None] ** 2 + sd2)


class Oracle(Wiener):
    """Knows the clean signal: returns it whatever the noise."""

    def __init__(self, clean: np.ndarray, sigma_data: float = 0.5) -> None:
        super().__init__(sigma_data)
        self.clean = torch.from_numpy(clean)

    def forward(self, x, sigma):
        return self.clean[None].expand_as(x)


def test_the_optimal_denoiser_of_white_noise_scores_one_and_an_oracle_zero():
    # The EDM weighting makes the Wiener denoiser's expected loss exactly 1 at every noise level:
    # weight * sigma^2 sd^2 / (sigma^2 + sd^2) = 1.
    rng = np.random.default_rng(1)
    window = (0.5 * rng.standard_normal(1 << 16)).astype(np.float32)
    loss = fit.denoising_loss(Wiener(0.5), window)
    assert loss.shape == (len(fit.FIT_SIGMAS),)
    np.testing.assert_allclose(loss, 1.0, rtol=0.03)
    assert np.all(fit.denoising_loss(Oracle(window), window) == 0.0)
    # Predicting zero is worse: (sigma^2 + sd^2) / sigma^2, above 1 at every noise level.
    zero = Wiener(0.5)
    zero.forward = lambda x, sigma: torch.zeros_like(x)
    s = np.array(fit.FIT_SIGMAS)
    np.testing.assert_allclose(fit.denoising_loss(zero, window), (s**2 + 0.25) / s**2, rtol=0.03)


def test_the_fixed_noise_makes_the_measure_repeatable():
    rng = np.random.default_rng(2)
    window = (0.5 * rng.standard_normal(4096)).astype(np.float32)
    a = fit.denoising_loss(Wiener(0.5), window)
    b = fit.denoising_loss(Wiener(0.5), window)
    assert np.array_equal(a, b)
    assert np.array_equal(fit.fit_noise(4096), fit.fit_noise(4096))


def test_the_context_window_ends_at_the_gap_else_starts_after_it():
    x = np.arange(100, dtype=np.float32)[None]
    assert np.array_equal(fit.context_window(x, 50, 60, 30)[0], np.arange(20, 50))
    assert np.array_equal(fit.context_window(x, 20, 30, 30)[0], np.arange(30, 60))
    assert fit.context_window(x, 20, 80, 30) is None  # neither side has 30 samples


def test_the_model_window_is_mono_at_the_model_rate_and_scaled():
    x = piano_like(44100, 4.0, seed=3, channels=2)
    w = fit.model_window(x, 44100, 3 * 44100, 3 * 44100 + 4410, sr_m=SR, n_m=32768, sigma_data=0.08)
    assert w.shape == (32768,) and w.dtype == np.float32
    assert np.sqrt(np.mean(w.astype(np.float64) ** 2)) == pytest.approx(0.08, rel=1e-4)
    # Silence and too little context cannot be judged.
    silent = np.zeros((1, 4 * SR), np.float32)
    assert (
        fit.model_window(silent, SR, 3 * SR, 3 * SR + 100, sr_m=SR, n_m=32768, sigma_data=0.08)
        is None
    )
    short = piano_like(SR, 2.0)
    assert fit.model_window(short, SR, SR, SR + 100, sr_m=SR, n_m=32768, sigma_data=0.08) is None


def test_prior_fit_is_the_mean_loss_on_the_context_before_the_gap():
    model = Wiener(0.08)
    model.sample_rate, model.segment_length = SR, 16384
    x = piano_like(SR, 3.0, seed=5)
    gap = (2 * SR, 2 * SR + 2205)
    window = fit.model_window(x, SR, *gap, sr_m=SR, n_m=16384, sigma_data=0.08)
    expected = float(np.mean(fit.denoising_loss(model, window)))
    assert fit.prior_fit(model, x, SR, *gap) == pytest.approx(expected, rel=1e-6)
    # What lies in and after the gap does not matter when there is context before it.
    y = x.copy()
    y[:, gap[0] :] = 0.9
    assert fit.prior_fit(model, y, SR, *gap) == pytest.approx(expected, rel=1e-6)
    assert fit.prior_fit(model, x[:, :SR], SR, SR // 2, SR // 2 + 100) is None


def test_fit_record_and_warning():
    assert engines.fit_record(None, 0.25, 1.4) is None
    good = engines.fit_record(0.3, 0.25, 1.4)
    assert good == {"loss": 0.3, "reference": 0.25, "ratio": 1.2, "poor": False}
    poor = engines.fit_record(0.45, 0.25, 1.4)
    assert poor["poor"] and poor["ratio"] == pytest.approx(1.8)
    # Without a reference nothing can be called poor.
    assert engines.fit_record(5.0, None, 1.4) == {
        "loss": 5.0,
        "reference": None,
        "ratio": None,
        "poor": False,
    }
    assert engines.fit_warning(RepairInfo(prior_fit=good, model="piano-small")) is None
    assert engines.fit_warning(RepairInfo()) is None
    text = engines.fit_warning(RepairInfo(prior_fit=poor, model="piano-small"))
    assert "'piano-small'" in text and "0.45" in text and "1.8×" in text and "Sim" in text
    assert "ω copy" in text
    raised = RepairInfo(prior_fit=poor, omega=0.5, omega_auto={"raised_for_poor_fit": True})
    assert "automatic ω followed the candidate closely (0.50)" in engines.fit_warning(raised)
    json.dumps(poor)  # goes into reports and provenance as it is
    # Before any repair (the app's check on selection) the advice is about what Auto will do.
    assert engines.fit_warning_before(good, None) is None
    assert engines.fit_warning_before(None, None) is None
    before = engines.fit_warning_before(poor, None)
    assert f"'{engines.DEFAULT_MODEL}'" in before and "1.8×" in before
    assert "automatic ω will follow the candidate closely" in before and "Sim" in before


@pytest.mark.usefixtures("torch_one_thread")
def test_a_diffusion_repair_records_the_fit_and_the_cli_warns(tmp_path, monkeypatch, capsys):
    import soundfile as sf

    from simdps_studio.cli import main

    x = piano_like(SR, 3.0, seed=6)
    audio = Audio(x, SR)
    gap = Gap(int(2.0 * SR), int(2.1 * SR))
    request = RepairRequest(method="dps", steps=2, draft=True, model="piano-tiny", device="cpu")
    record = engines.make_repairs(audio, gap, request)[0].params["prior_fit"]
    reference = json.loads((resolve_model_dir("piano-tiny") / "config.json").read_text("utf-8"))[
        "metrics"
    ]["val_loss"]
    assert record["reference"] == pytest.approx(reference, abs=1e-4)
    assert record["ratio"] == pytest.approx(record["loss"] / reference, abs=2e-3)
    assert record["loss"] > 0 and record["poor"] is (record["ratio"] > engines.POOR_FIT_RATIO)

    # The CLI says so on stderr and in the report when the fit is poor (forced here).
    src, out, report = tmp_path / "in.wav", tmp_path / "out.wav", tmp_path / "r.json"
    sf.write(src, x.T, SR, subtype="FLOAT")
    monkeypatch.setattr(engines, "POOR_FIT_RATIO", 0.0)
    argv = ["repair", str(src), "-o", str(out), "--gap", "2:2.1", "--method", "dps", "--draft"]
    argv += ["--steps", "2", "--model", "piano-tiny", "--device", "cpu", "--report", str(report)]
    monkeypatch.setattr(sys, "argv", ["simdps-studio", *argv])
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert "note: gap 2.000–2.100 s: the model 'piano-tiny' does not know this kind" in err
    entry = json.loads(report.read_text("utf-8"))["gaps"][0]
    assert entry["prior_fit"]["poor"] is True
    assert entry["prior_fit"]["loss"] == pytest.approx(record["loss"], abs=1e-4)


def test_the_fit_cache_key_follows_the_context_and_nothing_else(monkeypatch):
    x = piano_like(SR, 12.0, seed=7)
    gap = Gap(5 * SR, 5 * SR + 2205)

    def key(y, g=gap, model="piano-tiny"):
        return engines._fit_key(model, Audio(y, SR), g)

    k = key(x)
    assert key(x.copy()) == k
    window = int(np.ceil(engines.model_window_s("piano-tiny") * SR))
    far = x.copy()
    far[:, : gap.start_sample - window - 2] = 0.0  # outside anything the fit can read
    assert key(far) == k
    near = x.copy()
    near[:, gap.start_sample - 10] += 0.01  # inside the context window
    assert key(near) != k
    assert key(x, Gap(gap.start_sample + 1, gap.end_sample)) != k
    assert key(x, model="piano-small") != k
    # One recording's context is hashed once, however often the panels ask (samples are read-only).
    audio = Audio(x.copy(), SR)
    hashed = []
    real = engines.hashlib.blake2b
    monkeypatch.setattr(
        engines.hashlib, "blake2b", lambda *a, **kw: hashed.append(1) or real(*a, **kw)
    )
    assert engines._fit_key("piano-tiny", audio, gap) == k
    assert engines._fit_key("piano-tiny", audio, gap) == k
    assert len(hashed) == 1


def test_model_val_loss_reads_the_config():
    config = json.loads((resolve_model_dir("piano-tiny") / "config.json").read_text("utf-8"))
    assert engines.model_val_loss("piano-tiny") == config["metrics"]["val_loss"]
    assert engines.model_val_loss("no-such-model") is None


def test_automatic_omega_copies_where_the_prior_fits_poorly():
    class Cand:
        score = 0.33

    from_score = engines.resolve_omega("auto", Cand())
    assert from_score == pytest.approx(engines.auto_omega(0.33)) and from_score < 0.5
    copy = engines.OMEGA_PRESETS["copy"]
    assert engines.resolve_omega("auto", Cand(), poor_fit=True) == copy
    Cand.score = 0.95  # already copying: a poor fit changes nothing
    assert engines.resolve_omega("AUTO", Cand(), poor_fit=True) == engines.auto_omega(0.95)
    # Only the automatic choice moves: numbers and presets are the user's.
    assert engines.resolve_omega(0.15, Cand(), poor_fit=True) == 0.15
    assert engines.resolve_omega("relaxed", Cand(), poor_fit=True) == 0.04
    assert "poorly" in engines.AUTO_OMEGA_RULE


@pytest.mark.usefixtures("torch_one_thread")
def test_a_repair_with_automatic_omega_uses_the_fit(monkeypatch):
    x = piano_like(SR, 8.0, seed=8)
    audio = Audio(x, SR)
    gap = Gap(int(5.5 * SR), int(5.7 * SR))
    request = RepairRequest(
        method="simdps", omega="auto", steps=2, draft=True, model="piano-tiny", device="cpu"
    )
    for ratio, poor in ((1e9, False), (0.0, True)):
        monkeypatch.setattr(engines, "POOR_FIT_RATIO", ratio)
        params = engines.make_repairs(audio, gap, request)[0].params
        from_score = engines.auto_omega(params["candidate"]["score"])
        assert from_score < 0.5  # so a poor fit has something to raise
        assert params["prior_fit"]["poor"] is poor
        assert params["omega_auto"] == {
            "from_score": pytest.approx(from_score),
            "raised_for_poor_fit": poor,
        }
        assert params["omega"] == pytest.approx(0.5 if poor else from_score)
    # The app can now tell what Auto will do for this gap; not for one never repaired.
    assert engines.known_fit("piano-tiny", audio, gap) == params["prior_fit"]
    assert engines.known_fit("piano-tiny", audio, Gap(gap.start_sample, gap.end_sample + 1)) is None
    # A fixed ω is left alone, and there is no automatic record.
    fixed = RepairRequest(
        method="simdps", omega=0.15, steps=2, draft=True, model="piano-tiny", device="cpu"
    )
    params = engines.make_repairs(audio, gap, fixed)[0].params
    assert params["omega"] == 0.15 and "omega_auto" not in params


@pytest.mark.usefixtures("torch_one_thread")
def test_measure_fit_reads_only_the_context_and_a_repair_reuses_it(monkeypatch):
    from simdps_studio.core.errors import CancelledError
    from simdps_studio.core.progress import CancelToken
    from simdps_studio.inpaint.checkpoint import load_model

    x = piano_like(SR, 14.0, seed=9)
    audio = Audio(x, SR)
    gap = Gap(int(9.0 * SR), int(9.2 * SR))
    engines._FIT_CACHE.clear()
    # A cancelled check measures nothing.
    token = CancelToken()
    token.cancel()
    with pytest.raises(CancelledError):
        engines.measure_fit(audio, gap, "piano-tiny", device="cpu", cancel=token)
    assert engines.known_fit("piano-tiny", audio, gap) is None
    messages = []
    record = engines.measure_fit(
        audio, gap, "piano-tiny", device="cpu", progress=lambda f, m: messages.append(m)
    )
    assert messages == ["checking how well the model knows the music"]
    # The same number as the whole track gives: the slice holds everything the window reads.
    whole = fit.prior_fit(load_model("piano-tiny"), x, SR, gap.start_sample, gap.end_sample)
    assert record["loss"] == pytest.approx(round(whole, 4), abs=1e-4)
    assert engines.known_fit("piano-tiny", audio, gap) == record

    # A repair of that gap (and a second check) reads the measurement instead of measuring.
    def no_second_measurement(*args, **kwargs):
        raise AssertionError("measured twice")

    monkeypatch.setattr(fit, "prior_fit", no_second_measurement)
    assert engines.measure_fit(audio, gap, "piano-tiny", device="cpu") == record
    request = RepairRequest(method="dps", steps=2, draft=True, model="piano-tiny", device="cpu")
    assert engines.make_repairs(audio, gap, request)[0].params["prior_fit"] == record


@pytest.mark.usefixtures("torch_one_thread")
def test_the_fit_window_never_reads_a_neighbouring_gap():
    x = piano_like(SR, 14.0, seed=10)
    window_s = engines.model_window_s("piano-tiny")
    gap = Gap(int(7.0 * SR), int(7.2 * SR))
    # A neighbour inside the window before the gap; there is room for a window after it.
    neighbour = Gap(int((7.0 - window_s / 2) * SR), int((7.0 - window_s / 2 + 0.3) * SR))
    assert gap.end_sample + window_s * SR < x.shape[-1]
    zeroed, noisy = x.copy(), x.copy()
    zeroed[:, neighbour.start_sample : neighbour.end_sample] = 0.0
    noisy[:, neighbour.start_sample : neighbour.end_sample] = 0.3 * np.random.default_rng(
        0
    ).standard_normal((x.shape[0], neighbour.end_sample - neighbour.start_sample))

    def measured(y, others):
        engines._FIT_CACHE.clear()
        return engines.measure_fit(Audio(y, SR), gap, "piano-tiny", other_gaps=others, device="cpu")

    # Told about the neighbour, the check reads context elsewhere: its content does not matter.
    assert measured(zeroed, [neighbour])["loss"] == measured(noisy, [neighbour])["loss"]
    # Without it (the old behaviour) the missing samples were part of the window.
    assert measured(zeroed, [])["loss"] != measured(noisy, [])["loss"]
    # The cache tells the two contexts apart.
    audio = Audio(zeroed, SR)
    assert engines._fit_key("piano-tiny", audio, gap, [neighbour]) != engines._fit_key(
        "piano-tiny", audio, gap
    )
