"""Gap-repair quality metrics: a repaired signal against the clean reference, inside one gap.

Pure functions on float arrays (numpy; librosa for the chroma filterbank). Signals are ``(n_samples,)`` or
``(channels, n_samples)`` with time on the last axis; a multichannel signal is scored per channel
and the channel values are averaged (SNR and level pool the energy of all channels instead).

What each metric says (see :func:`gap_metrics` for all of them at once):

* :func:`snr_db` -- waveform SNR in the gap, dB (higher is better; ``inf`` for identical signals).
  Harsh on any plausible fill that is not sample-aligned with the original.
* :func:`log_spectral_distance_db` -- RMS over frequency of the log-power difference, averaged
  over STFT frames in the gap, dB (0 is identical; lower is better).
* :func:`chroma_similarity` -- frame-wise cosine similarity of 12-bin chroma vectors, averaged over
  the frames in the gap (1 is the same harmony; white noise against a tone gives about 0.4).
* :func:`seam_smoothness` -- spectral-flux jump at the gap edges relative to the typical flux of the
  surrounding context (1 or less is as smooth as the context; a click or abrupt change gives
  several times that); the worse edge is reported.
* :func:`level_error_db` -- RMS level of the fill minus that of the reference, dB (0 is right;
  negative is too quiet).

STFT settings scale with the sample rate so that they mean the same time span at any rate
(:func:`stft_size`): the log-spectral distance uses a Hann window of about 46 ms (1024 samples at
22.05 kHz, 2048 at 44.1 kHz) with hop a quarter of it; chroma uses windows twice as long (about
93 ms) for the frequency resolution of bass notes; seam flux uses windows half as long (about
23 ms, hop a quarter: ~6 ms) to localise the edge.
"""

from __future__ import annotations

import math

import numpy as np

#: Window of the log-spectral distance, in seconds (rounded to a power of two in samples).
LSD_WINDOW_S = 0.046
#: Window of the chroma analysis, in seconds.
CHROMA_WINDOW_S = 0.093
#: Window of the seam spectral flux, in seconds.
FLUX_WINDOW_S = 0.023
#: Power floor of the log spectra, relative to the reference's peak bin power (-60 dB): bins
#: further down are inaudible next to the loud ones and would otherwise dominate the distance.
LSD_FLOOR_REL = 1e-6
#: Floor of the flux log-magnitudes: this many dB below the excerpt's loudest bin (the same
#: reasoning), and never below :data:`FLUX_FLOOR_DB` dBFS.
FLUX_RANGE_DB = 60.0
FLUX_FLOOR_DB = -100.0
#: Context searched for the typical flux on each side of the gap, seconds.
SEAM_CONTEXT_S = 1.0
#: Smallest typical context flux (dB), so a silent context does not divide by zero.
MIN_CONTEXT_FLUX_DB = 0.5

__all__ = [
    "chroma_similarity",
    "gap_metrics",
    "level_error_db",
    "log_spectral_distance_db",
    "seam_smoothness",
    "snr_db",
    "spectral_flux_db",
    "stft_size",
]


def _as_2d(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 1:
        return x[None, :]
    if x.ndim != 2:
        raise ValueError(f"expected (n_samples,) or (channels, n_samples), got shape {x.shape}")
    return x


def _pair(reference: np.ndarray, estimate: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    r, e = _as_2d(reference), _as_2d(estimate)
    if r.shape != e.shape:
        raise ValueError(f"reference {r.shape} and estimate {e.shape} differ in shape")
    if r.shape[1] == 0:
        raise ValueError("empty signals")
    return r, e


def stft_size(sr: int, window_s: float) -> tuple[int, int]:
    """FFT size (a power of two near ``window_s`` seconds, at least 64) and hop (a quarter).

    Parameters
    ----------
    sr : int
        Sample rate in Hz.
    window_s : float
        Wanted window length in seconds.

    Returns
    -------
    (n_fft, hop_length) : tuple of int
    """
    n_fft = max(64, 2 ** int(round(math.log2(max(window_s * sr, 1.0)))))
    return n_fft, n_fft // 4


def _frames_power(x: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    """Power spectrogram of each channel, shape (channels, n_fft // 2 + 1, n_frames).

    Frames start at sample 0 and cover the signal (zero-padded at the end to whole frames); a
    signal shorter than one window is one zero-padded frame. Framed here rather than with
    ``librosa.stft`` so that frame ``t`` covers exactly ``[t * hop, t * hop + n_fft)``, which the
    seam metric relies on (no centring or edge padding).
    """
    n = x.shape[1]
    n_frames = 1 if n <= n_fft else 1 + math.ceil((n - n_fft) / hop)
    padded = np.zeros((x.shape[0], n_fft + (n_frames - 1) * hop))
    padded[:, :n] = x
    idx = np.arange(n_fft)[None, :] + hop * np.arange(n_frames)[:, None]
    frames = padded[:, idx] * np.hanning(n_fft + 2)[1:-1]  # (channels, n_frames, n_fft)
    spec = np.fft.rfft(frames, axis=-1)
    return np.swapaxes(spec.real**2 + spec.imag**2, 1, 2)


def snr_db(reference: np.ndarray, estimate: np.ndarray) -> float:
    """Signal-to-error ratio ``10 log10(sum r^2 / sum (r - e)^2)`` in dB.

    Parameters
    ----------
    reference, estimate : numpy.ndarray, shape (n,) or (channels, n)
        The clean gap and the repaired gap.

    Returns
    -------
    float
        dB; ``inf`` when the two are identical, ``-inf`` for a silent reference with an error.
    """
    r, e = _pair(reference, estimate)
    err = float(np.sum((r - e) ** 2))
    sig = float(np.sum(r**2))
    if err == 0.0:
        return math.inf
    if sig == 0.0:
        return -math.inf
    return 10.0 * math.log10(sig / err)


def log_spectral_distance_db(
    reference: np.ndarray, estimate: np.ndarray, sr: int, *, window_s: float = LSD_WINDOW_S
) -> float:
    """Log-spectral distance in dB, averaged over STFT frames (and channels).

    Per frame ``sqrt(mean_f (10 log10 P_r(f) - 10 log10 P_e(f))^2)`` with Hann windows of about
    ``window_s`` seconds and hop a quarter window (:func:`stft_size`); both power spectra are
    floored at :data:`LSD_FLOOR_REL` times the reference's peak bin power (-60 dB), so inaudible
    bins do not dominate.

    Parameters
    ----------
    reference, estimate : numpy.ndarray, shape (n,) or (channels, n)
        The clean gap and the repaired gap (same shape).
    sr : int
        Sample rate in Hz.

    Returns
    -------
    float
        dB, 0 for identical signals.
    """
    r, e = _pair(reference, estimate)
    n_fft, hop = stft_size(sr, window_s)
    pr, pe = _frames_power(r, n_fft, hop), _frames_power(e, n_fft, hop)
    values = []
    for c in range(r.shape[0]):
        floor = max(float(pr[c].max()) * LSD_FLOOR_REL, 1e-20)
        diff = 10.0 * (np.log10(np.maximum(pr[c], floor)) - np.log10(np.maximum(pe[c], floor)))
        values.append(float(np.mean(np.sqrt(np.mean(diff**2, axis=0)))))
    return float(np.mean(values))


def _chroma(x: np.ndarray, sr: int, n_fft: int, hop: int) -> np.ndarray:
    """Chroma (12, n_frames) of a mono signal from its power spectrogram, unnormalised."""
    import librosa

    power = _frames_power(x[None, :], n_fft, hop)[0]
    # A fixed tuning: estimating it per excerpt would make the two signals' bins differ.
    return librosa.feature.chroma_stft(
        S=power, sr=sr, n_fft=n_fft, hop_length=hop, norm=None, tuning=0.0
    )


def chroma_similarity(
    reference: np.ndarray, estimate: np.ndarray, sr: int, *, window_s: float = CHROMA_WINDOW_S
) -> float:
    """Mean frame-wise cosine similarity of the two signals' chroma vectors.

    Chroma from :func:`librosa.feature.chroma_stft` on Hann frames of about ``window_s`` seconds
    (hop a quarter window). Each frame's 12-bin vectors are compared by cosine; the cosines are
    averaged over frames (and channels). A frame silent in both counts as 1, silent in one as 0.

    Parameters
    ----------
    reference, estimate : numpy.ndarray, shape (n,) or (channels, n)
    sr : int
        Sample rate in Hz.

    Returns
    -------
    float
        In [0, 1]; 1 when the pitch-class content matches in every frame.
    """
    r, e = _pair(reference, estimate)
    n_fft, hop = stft_size(sr, window_s)
    values = []
    for c in range(r.shape[0]):
        cr, ce = _chroma(r[c], sr, n_fft, hop), _chroma(e[c], sr, n_fft, hop)
        nr, ne = np.linalg.norm(cr, axis=0), np.linalg.norm(ce, axis=0)
        tiny = 1e-12 * max(float(nr.max()), float(ne.max()), 1e-30)
        both_silent = (nr <= tiny) & (ne <= tiny)
        cos = np.sum(cr * ce, axis=0) / np.maximum(nr * ne, tiny**2)
        cos = np.where(both_silent, 1.0, np.where((nr <= tiny) | (ne <= tiny), 0.0, cos))
        values.append(float(np.mean(np.clip(cos, 0.0, 1.0))))
    return float(np.mean(values))


def level_error_db(reference: np.ndarray, estimate: np.ndarray) -> float:
    """RMS level of ``estimate`` relative to ``reference``, dB (``20 log10(rms_e / rms_r)``).

    Parameters
    ----------
    reference, estimate : numpy.ndarray, shape (n,) or (channels, n)

    Returns
    -------
    float
        dB; 0 for equal levels, -6.02 for a copy at half amplitude. Both RMS values are floored at
        1e-5 (-100 dBFS), so a silent fill gives a large but finite number.
    """
    r, e = _pair(reference, estimate)
    rms_r = max(float(np.sqrt(np.mean(r**2))), 1e-5)
    rms_e = max(float(np.sqrt(np.mean(e**2))), 1e-5)
    return 20.0 * math.log10(rms_e / rms_r)


def spectral_flux_db(x: np.ndarray, sr: int, *, window_s: float = FLUX_WINDOW_S) -> np.ndarray:
    """Frame-to-frame spectral change of a signal, dB.

    ``flux[t] = sqrt(mean_f (L[t, f] - L[t-1, f])^2)`` with ``L`` the log magnitude in dB of Hann
    frames of about ``window_s`` seconds, hop a quarter window, floored :data:`FLUX_RANGE_DB`
    below the loudest bin of ``x`` (so changes in inaudible bins, e.g. a near-empty band above a
    model's Nyquist frequency, do not count). Not half-wave rectified: a sudden drop counts as
    much as an onset.

    Parameters
    ----------
    x : numpy.ndarray, shape (n,) or (channels, n)
        The signal (channels are averaged first).
    sr : int
        Sample rate in Hz.

    Returns
    -------
    numpy.ndarray, shape (n_frames,)
        ``flux[0] = 0``; ``flux[t]`` belongs to frame ``t``, which starts at ``t * hop``.
    """
    mono = _as_2d(x).mean(axis=0, keepdims=True)
    n_fft, hop = stft_size(sr, window_s)
    power = _frames_power(mono, n_fft, hop)[0]
    # Magnitudes relative to a full-scale sine's peak bin, so the floor is in dBFS.
    ref = (np.hanning(n_fft + 2)[1:-1].sum() / 2.0) ** 2
    level = 10.0 * np.log10(np.maximum(power / ref, 10.0 ** (FLUX_FLOOR_DB / 10.0)))
    level = np.maximum(level, level.max() - FLUX_RANGE_DB)
    flux = np.zeros(level.shape[1])
    if level.shape[1] > 1:
        flux[1:] = np.sqrt(np.mean(np.diff(level, axis=1) ** 2, axis=0))
    return flux


def _edge_ratio(
    flux: np.ndarray, hop: int, n_fft: int, edge: int, context: tuple[int, int]
) -> float:
    """Max flux of the frames whose windows contain sample ``edge``, over the median of the same
    statistic (a sliding max of as many frames) in the context sample range ``[a, b)``."""
    n = flux.shape[0]
    starts = hop * np.arange(n)
    seam = np.flatnonzero((starts <= edge) & (edge < starts + n_fft))
    # The frame that first contains the edge differs from the one before: include that pair.
    seam = seam[seam >= 1]
    if seam.size == 0:
        return math.nan
    k = seam.size
    seam_value = float(flux[seam].max())
    a, b = context
    inside = np.flatnonzero((starts >= a) & (starts + n_fft <= b))
    inside = inside[inside >= 1]
    if inside.size < k:
        return math.nan
    windows = np.lib.stride_tricks.sliding_window_view(flux[inside[0] : inside[-1] + 1], k)
    typical = max(float(np.median(windows.max(axis=1))), MIN_CONTEXT_FLUX_DB)
    return seam_value / typical


def seam_smoothness(
    repaired: np.ndarray,
    sr: int,
    gap_start_sample: int,
    gap_end_sample: int,
    *,
    margin_samples: int = 0,
    context_s: float = SEAM_CONTEXT_S,
    window_s: float = FLUX_WINDOW_S,
) -> float:
    """How abruptly the sound changes at the gap's edges, relative to its context (worse edge).

    At each edge the largest spectral flux (:func:`spectral_flux_db`) among the frames whose
    windows contain the edge sample is divided by the typical value of the same statistic in the
    context on that side: the median, over positions up to ``context_s`` seconds away, of the
    largest flux among as many consecutive frames. Context frames stay clear of the gap and of
    ``margin_samples`` around it (a Sim crossfade). 1 means the seam changes the sound no more
    than the music does anyway (less than 1 happens in a very steady context, whose typical flux
    is floored at :data:`MIN_CONTEXT_FLUX_DB`); a click or a jump in level or timbre gives several times that.
    A note onset right at the edge scores high in the clean signal too: compare with the
    reference's own value.

    Parameters
    ----------
    repaired : numpy.ndarray, shape (n_samples,) or (channels, n_samples)
        The whole repaired track (or an excerpt that holds the gap and its contexts).
    sr : int
        Sample rate in Hz.
    gap_start_sample, gap_end_sample : int
        The gap ``[start, end)`` in samples of ``repaired``.
    margin_samples : int
        Extra samples on each side excluded from the context (e.g. the repair's crossfade).
    context_s : float
        How far the context reaches on each side, seconds.

    Returns
    -------
    float
        The larger of the two edge ratios (an edge without enough context is ignored); NaN when
        neither edge has enough context.
    """
    x = _as_2d(repaired)
    n = x.shape[1]
    if not 0 <= gap_start_sample < gap_end_sample <= n:
        raise ValueError("gap outside the signal")
    n_fft, hop = stft_size(sr, window_s)
    reach = int(round(context_s * sr)) + n_fft
    # Analyse only the neighbourhood of the gap (the flux of a long track is not needed).
    lo = max(0, gap_start_sample - margin_samples - reach - n_fft)
    hi = min(n, gap_end_sample + margin_samples + reach + n_fft)
    # Start the frame grid at a hop multiple relative to the excerpt.
    flux = spectral_flux_db(x[:, lo:hi], sr, window_s=window_s)
    s, e = gap_start_sample - lo, gap_end_sample - lo
    guard = margin_samples + hop
    ratios = [
        _edge_ratio(flux, hop, n_fft, s, (max(0, s - guard - reach), s - guard)),
        _edge_ratio(flux, hop, n_fft, e, (e + guard, min(hi - lo, e + guard + reach))),
    ]
    finite = [r for r in ratios if not math.isnan(r)]
    return max(finite) if finite else math.nan


def gap_metrics(
    reference: np.ndarray,
    repaired: np.ndarray,
    sr: int,
    gap_start_sample: int,
    gap_end_sample: int,
    *,
    margin_samples: int = 0,
) -> dict[str, float]:
    """All metrics of one repaired gap against the clean reference.

    Parameters
    ----------
    reference, repaired : numpy.ndarray, shape (n_samples,) or (channels, n_samples)
        The clean track and the repaired track, aligned sample for sample.
    sr : int
        Sample rate in Hz.
    gap_start_sample, gap_end_sample : int
        The gap ``[start, end)``.
    margin_samples : int
        The repair's crossfade margin outside the gap (kept out of the seam's context).

    Returns
    -------
    dict
        ``snr_db``, ``lsd_db``, ``chroma_sim``, ``level_db`` (inside the gap), ``seam`` (the
        repaired track's seam ratio) and ``seam_ref`` (the clean track's ratio at the same edges,
        what "seamless" looks like there).
    """
    r, y = _pair(reference, repaired)
    g = slice(gap_start_sample, gap_end_sample)
    return {
        "snr_db": snr_db(r[:, g], y[:, g]),
        "lsd_db": log_spectral_distance_db(r[:, g], y[:, g], sr),
        "chroma_sim": chroma_similarity(r[:, g], y[:, g], sr),
        "level_db": level_error_db(r[:, g], y[:, g]),
        "seam": seam_smoothness(
            y, sr, gap_start_sample, gap_end_sample, margin_samples=margin_samples
        ),
        "seam_ref": seam_smoothness(
            r, sr, gap_start_sample, gap_end_sample, margin_samples=margin_samples
        ),
    }
