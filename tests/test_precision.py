"""Choosing the network precision: processor flags, the cached measurement, ``auto``'s rule.

The measurement is injected everywhere (the tests must not depend on this machine's processor),
and every cache lives in the test's temporary folder.
"""

from __future__ import annotations

import json

import pytest
import torch

from simdps_studio.core.errors import InputError
from simdps_studio.inpaint import precision as prec
from simdps_studio.inpaint.device import autocast_dtype

AMX = prec.CpuInfo("Intel Xeon", frozenset({"avx512f", "avx512_bf16", "amx_tile", "amx_bf16"}))
AVX512_BF16 = prec.CpuInfo("AMD EPYC", frozenset({"avx512f", "avx512_bf16", "avx512_vnni"}))
PLAIN = prec.CpuInfo("Old CPU", frozenset({"sse2", "avx2", "fma"}))


class Measure:
    """A fake measurement: a fixed speed-up, counting its calls."""

    def __init__(self, speedup: float) -> None:
        self.speedup = speedup
        self.calls = 0

    def __call__(self) -> dict[str, float]:
        self.calls += 1
        return {"fp32_s": 1.0, "bf16_s": 1.0 / self.speedup, "speedup": self.speedup}


def test_cpu_flags_are_read_from_cpuinfo():
    text = (
        "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 9R14\n"
        "flags\t\t: fpu sse2 avx512f avx512_bf16 avx512_vnni\n\nprocessor\t: 1\n"
        "model name\t: AMD EPYC 9R14\nflags\t\t: fpu\n"
    )
    info = prec.read_cpu_info(text)
    assert info.model == "AMD EPYC 9R14"
    assert {"avx512_bf16", "avx512_vnni"} <= info.flags  # the first processor's line
    arm = prec.read_cpu_info("processor\t: 0\nFeatures\t: fp asimd bf16 i8mm\n")
    assert prec.bf16_support(arm) == "ARM BF16"
    assert prec.read_cpu_info("nothing useful\n") is None


def test_bf16_support_names_amx_and_avx512_bf16_and_nothing_else():
    assert prec.bf16_support(AMX) == "AMX"
    assert prec.bf16_support(AVX512_BF16) == "AVX512-BF16"
    assert prec.bf16_support(PLAIN) is None
    # One AMX flag without the other is not AMX.
    half = prec.CpuInfo("x", frozenset({"amx_tile"}))
    assert prec.bf16_support(half) is None
    assert "no amx" in prec.cpu_flags_line(AVX512_BF16)
    assert "amx_bf16" in prec.cpu_flags_line(AMX)


def test_auto_takes_bf16_when_the_measurement_says_it_is_faster(tmp_path):
    measure = Measure(1.8)
    choice = prec.resolve_precision(
        "auto", "cpu", measure=measure, cpu=AMX, cache=tmp_path / "c.json"
    )
    assert (choice.precision, choice.speedup) == ("bf16", 1.8)
    assert choice.reason == "bf16: AMX, 1.8× measured"
    assert measure.calls == 1


@pytest.mark.parametrize("speedup", [0.9, 1.1, 1.19])
def test_auto_falls_back_to_fp32_when_bf16_measures_slower(tmp_path, speedup):
    choice = prec.resolve_precision(
        "auto", "cpu", measure=Measure(speedup), cpu=AVX512_BF16, cache=tmp_path / "c.json"
    )
    assert choice.precision == "fp32"
    assert choice.reason == f"fp32: bf16 measured {speedup:.2f}×"


def test_auto_is_fp32_without_bf16_flags_and_does_not_measure(tmp_path):
    measure = Measure(3.0)
    choice = prec.resolve_precision(
        "auto", "cpu", measure=measure, cpu=PLAIN, cache=tmp_path / "c.json"
    )
    assert (choice.precision, choice.reason) == ("fp32", "fp32: no bf16 matrix support")
    assert measure.calls == 0
    assert not (tmp_path / "c.json").exists()


def test_a_failing_measurement_gives_fp32(tmp_path):
    def broken() -> dict[str, float]:
        raise RuntimeError("oneDNN says no")

    choice = prec.resolve_precision("auto", "cpu", measure=broken, cpu=AMX, cache=tmp_path / "c")
    assert choice.precision == "fp32"
    assert "could not be measured" in choice.reason


def test_explicit_choices_are_honoured_and_bad_names_refused(tmp_path):
    measure = Measure(0.5)
    kw = {"measure": measure, "cpu": PLAIN, "cache": tmp_path / "c.json"}
    assert prec.resolve_precision("fp32", "cpu", **kw).precision == "fp32"
    bf16 = prec.resolve_precision("bf16", "cpu", **kw)
    assert bf16.precision == "bf16" and "likely slower" in bf16.reason
    assert prec.resolve_precision("fp16", "cpu", **kw).precision == "fp32"  # CUDA only
    assert measure.calls == 0
    with pytest.raises(InputError, match="unknown precision"):
        prec.resolve_precision("int8", "cpu", **kw)


def test_the_measurement_is_cached_per_host_and_torch_version(tmp_path, monkeypatch):
    cache = tmp_path / "speed.json"
    measure = Measure(1.5)
    for _ in range(3):
        prec.resolve_precision("auto", "cpu", measure=measure, cpu=AMX, cache=cache)
    assert measure.calls == 1  # measured once, then read
    stored = json.loads(cache.read_text())
    (entry,) = stored.values()
    assert entry["speedup"] == 1.5 and "torch " + torch.__version__ in entry["key"]

    # Another torch version: measured again (and both kept).
    monkeypatch.setattr(torch, "__version__", "9.9.9")
    prec.resolve_precision("auto", "cpu", measure=measure, cpu=AMX, cache=cache)
    assert measure.calls == 2
    # Another processor (model or flags): measured again.
    other = prec.CpuInfo("Intel Xeon", AMX.flags | {"avx512_fp16"})
    prec.resolve_precision("auto", "cpu", measure=measure, cpu=other, cache=cache)
    assert measure.calls == 3
    assert len(json.loads(cache.read_text())) == 3
    # The same host again: from the cache, whatever the measurement would say now.
    slower = Measure(0.5)
    choice = prec.resolve_precision("auto", "cpu", measure=slower, cpu=other, cache=cache)
    assert (choice.precision, slower.calls) == ("bf16", 0)


def test_an_unreadable_cache_is_measured_again_and_rewritten(tmp_path):
    cache = tmp_path / "speed.json"
    cache.write_text("{not json")
    measure = Measure(2.0)
    assert prec.resolve_precision("auto", "cpu", measure=measure, cpu=AMX, cache=cache).speedup
    assert measure.calls == 1 and json.loads(cache.read_text())


def test_the_cache_location_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv(prec.CACHE_ENV, str(tmp_path / "elsewhere.json"))
    assert prec.cache_path() == tmp_path / "elsewhere.json"
    monkeypatch.delenv(prec.CACHE_ENV)
    monkeypatch.setenv("SIMDPS_CACHE_DIR", str(tmp_path / "cache"))
    assert prec.cache_path() == tmp_path / "cache" / "precision" / prec.CACHE_NAME


def test_cpu_autocast_runs_bf16_but_never_fp16():
    cpu = torch.device("cpu")
    assert autocast_dtype(cpu, "bf16") is torch.bfloat16
    assert autocast_dtype(cpu, "fp16") is None
    assert autocast_dtype(cpu, "fp32") is None


def test_the_cqt_stays_fp32_under_bf16_autocast():
    from simdps_studio.inpaint.precond import build_denoiser

    torch.manual_seed(0)
    model = build_denoiser("tiny", segment_length=16384).eval()
    x = torch.randn(1, 16384) * 0.1
    with torch.autocast("cpu", dtype=torch.bfloat16):
        coefs = model.net.cqt(x)
        out = model(x, torch.full((1,), 0.5))
    assert all(c.dtype == torch.complex64 for c in coefs)  # FFTs are not lowered
    assert out.dtype == torch.float32


def test_training_auto_needs_a_bf16_training_step_to_survive(tmp_path):
    cache = tmp_path / "speed.json"
    calls = []

    def crashes() -> bool:
        calls.append(1)
        return False  # as probe_bf16_training reports a child killed by a segfault

    kw = {"measure": Measure(1.9), "cpu": AMX, "cache": cache}
    choice = prec.resolve_precision("auto", "cpu", training=True, train_probe=crashes, **kw)
    assert (choice.precision, choice.reason) == ("fp32", "fp32: a bf16 training step crashed here")
    prec.resolve_precision("auto", "cpu", training=True, train_probe=crashes, **kw)
    assert len(calls) == 1  # the verdict is cached with the measurement
    # Inference on the same host is not affected by the training verdict.
    assert prec.resolve_precision("auto", "cpu", **kw).precision == "bf16"
    other = tmp_path / "other.json"
    ok = prec.resolve_precision(
        "auto", "cpu", training=True, train_probe=lambda: True, **{**kw, "cache": other}
    )
    assert ok.precision == "bf16"


def test_training_auto_is_fp32_without_amx_whatever_a_probe_says(tmp_path):
    """torch 2.13's AVX512-BF16 backward crashes after a varying number of steps: no probe."""
    probed = []
    kw = {"measure": Measure(1.9), "cpu": AVX512_BF16, "cache": tmp_path / "speed.json"}
    choice = prec.resolve_precision(
        "auto", "cpu", training=True, train_probe=lambda: probed.append(1) or True, **kw
    )
    assert choice.precision == "fp32" and "without AMX" in choice.reason and not probed
    assert prec.resolve_precision("auto", "cpu", **kw).precision == "bf16"  # inference: measured
    assert prec.resolve_precision("bf16", "cpu", training=True, **kw).precision == "bf16"  # asked
