"""The Repair panel's band (spectral repair, issue 26): carried by the request, used by the run."""

from __future__ import annotations

import pytest

pytest.importorskip("PySide6")

from test_gui import SR, make_window, open_file, run_and_wait  # noqa: F401 (a fixture)

from simdps_studio.core.types import Gap


@pytest.fixture(scope="module")
def wav_path(tmp_path_factory):
    """4 s of stereo piano (the GUI tests' 16-s file takes seconds to make)."""
    import soundfile as sf
    from conftest import piano_like

    path = tmp_path_factory.mktemp("gui-band") / "band.wav"
    sf.write(path, piano_like(SR, 4.0, seed=5, channels=2).T, SR, subtype="PCM_16")
    return path


def test_the_band_fields_go_into_the_request(qtbot, make_window, wav_path):  # noqa: F811
    w = make_window()
    open_file(qtbot, w, wav_path)
    p = w.repair_panel
    assert w.request().band_hz is None  # both empty: the whole spectrum
    qtbot.keyClicks(p.band_lo, "700")  # typed digits reach the field, not a shortcut ("0")
    assert w.request().band_hz == (700.0, SR / 2)  # an empty edge: Nyquist
    qtbot.keyClicks(p.band_hi, "1400")
    assert w.request().band_hz == (700.0, 1400.0)
    p.set_method("lpc")  # every method can be band-limited
    assert p.band_lo.isEnabled() and p.band_hi.isEnabled()
    p.set_band_hz(None)
    assert w.request().band_hz is None


def test_a_band_limited_repair_from_the_panel(qtbot, make_window, wav_path):  # noqa: F811
    w = make_window()
    open_file(qtbot, w, wav_path)
    gap = Gap(2 * SR, 2 * SR + SR // 50)  # 20 ms
    w._search = lambda gap: None  # no candidates needed for LPC
    assert w.add_gap(gap)
    w.select_gap(gap)
    p = w.repair_panel
    p.set_method("lpc")
    p.set_band_hz((1400.0, 700.0))
    with qtbot.waitSignal(w.repair_failed, timeout=30000) as failed:
        w.run_repair()
    assert "LO must be below HI" in failed.args[0]
    qtbot.waitUntil(lambda: p.run_btn.isEnabled(), timeout=5000)
    p.set_band_hz((700.0, 1400.0))
    (take,) = run_and_wait(qtbot, w, w.run_repair, 30000)
    assert take.params["band_hz"] == {"lo": 700.0, "hi": 1400.0, "transition": 200.0}
    assert take.span_start_sample < gap.start_sample and take.span_end_sample > gap.end_sample
    assert w.session.repair_for(gap) is take
