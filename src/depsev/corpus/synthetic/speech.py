"""The session audio: a formant synthesiser for both speakers plus room noise (16 kHz mono).

:func:`synthesize_audio` turns a :class:`~depsev.corpus.synthetic.timeline.Timeline` and each speaker's
:class:`Voice` into control tracks (5 ms), a Rosenberg glottal source with F0 jitter and shimmer shaped
by a time-varying three-formant cascade (in the STFT domain), band-passed noise bursts for consonants,
a per-speaker gain to the speaker's level and stationary coloured room noise; it returns the signal
and what it realised (the participant's speech level, SNR, F0 variability, clipped share).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import fft as sp_fft
from scipy import signal

from depsev.constants import AUDIO_SR
from depsev.corpus.synthetic.timeline import INTERVIEWER, PARTICIPANT, VOWELS, Timeline

CTRL_RATE = 200.0  # control tracks (amplitudes, F0, formants) at 5 ms


@dataclass(frozen=True)
class Voice:
    """A speaker's voice: F0 mean and variability, formant scale and bandwidths, level."""

    f0_mean: float
    f0_sd_semitones: float
    formant_scale: float
    bandwidths: tuple[float, float, float]
    level_db: float


def _control_tracks(duration: float, tl: Timeline, voices: dict[int, Voice]) -> dict[str, np.ndarray]:
    """Voiced/noise amplitudes, F0, formants, bandwidths and speaker at the control rate."""
    s = tl.syl
    tc = np.arange(int(np.ceil(duration * CTRL_RATE)) + 1) / CTRL_RATE
    idx = np.searchsorted(s["start"], tc, side="right") - 1
    ic = np.clip(idx, 0, None)
    u = tc - s["start"][ic]
    inside = (idx >= 0) & (u < s["dur"][ic])
    cons = s["cons"][ic]
    in_cons = inside & (u < cons)
    in_vow = inside & ~in_cons
    w = np.clip((u - cons) / np.maximum(s["dur"][ic] - cons, 1e-3), 0, 1)
    stress = 0.8 + 0.2 * np.tanh(s["accent"][ic])
    vamp = np.where(in_vow, np.sin(np.pi * w) ** 0.6 * stress, 0.0)
    namp = np.where(in_cons, np.sin(np.pi * np.clip(u / np.maximum(cons, 1e-3), 0, 1)), 0.0)
    spk = np.where(inside, s["speaker"][ic], -1)
    ph_pos = np.clip((tc - s["ph_start"][ic]) / np.maximum(s["ph_end"][ic] - s["ph_start"][ic], 1e-3), 0, 1)
    decl = np.where(inside, 0.5 - ph_pos, 0.0)
    centre = s["start"] + s["cons"] + (s["dur"] - s["cons"]) / 2
    st = np.zeros_like(tc)
    f0 = np.full_like(tc, voices[PARTICIPANT].f0_mean)
    formants = np.zeros((3, tc.size))
    bw = np.zeros((3, tc.size))
    f0_sd_realised = {}
    for sp, voice in voices.items():
        mine = s["speaker"] == sp
        accent = np.interp(tc, centre[mine], s["accent"][mine])
        pattern = 0.6 * decl + accent
        voiced = in_vow & (spk == sp)
        scale = voice.f0_sd_semitones / max(float(pattern[voiced].std()), 1e-6)
        st_sp = (pattern - pattern[voiced].mean()) * scale
        sel = spk == sp
        st[sel] = st_sp[sel]
        f0[sel] = voice.f0_mean * 2.0 ** (st_sp[sel] / 12.0)
        f0_sd_realised[sp] = float(st_sp[voiced].std())
        targets = VOWELS[s["vowel"][mine]] * voice.formant_scale
        for k in range(3):
            track = np.interp(tc, centre[mine], targets[:, k])
            formants[k, sel] = track[sel]
            bw[k, sel] = voice.bandwidths[k]
    # outside speech: neutral formants (no energy there anyway)
    silent = spk < 0
    formants[:, silent] = (VOWELS[5] * voices[PARTICIPANT].formant_scale)[:, None]
    bw[:, silent] = np.array(voices[PARTICIPANT].bandwidths)[:, None]
    return {"t": tc, "vamp": vamp, "namp": namp, "kind": s["cons_kind"][ic], "spk": spk, "f0": f0,
            "formants": formants, "bw": bw, "f0_sd_realised": f0_sd_realised, "voiced": in_vow}


_GLOTTAL_TABLE_SIZE = 4096  # a power of two (phase wraps with a bit mask)


def _glottal_table(open_q: float = 0.42, close_q: float = 0.16) -> np.ndarray:
    """One period of the Rosenberg glottal-flow derivative, sampled on a table."""
    frac = np.arange(_GLOTTAL_TABLE_SIZE) / _GLOTTAL_TABLE_SIZE
    flow = np.where(frac < open_q, 0.5 * (1 - np.cos(np.pi * frac / open_q)),
                    np.where(frac < open_q + close_q,
                             np.cos(0.5 * np.pi * (frac - open_q) / close_q), 0.0))
    return np.diff(flow, append=flow[:1]).astype(np.float32) * _GLOTTAL_TABLE_SIZE / 100.0


_GLOTTAL = _glottal_table()


def _glottal_source(f0: np.ndarray) -> np.ndarray:
    """Glottal pulse train following the F0 track (sample rate; jitter comes with the F0 track)."""
    phase = np.cumsum(f0 * (_GLOTTAL_TABLE_SIZE / AUDIO_SR), dtype=np.float64)
    return _GLOTTAL[phase.astype(np.int64) & (_GLOTTAL_TABLE_SIZE - 1)]


_NFFT = 512
_HOP = _NFFT // 2
#: sqrt-Hann analysis and synthesis windows: their product overlap-adds to 1 at 50 % overlap
_SQRT_HANN = np.sqrt(0.5 * (1 - np.cos(2 * np.pi * np.arange(_NFFT) / _NFFT))).astype(np.float32)


def _formant_filter(x: np.ndarray, ctrl: dict[str, np.ndarray]) -> np.ndarray:
    """Time-varying cascade of three resonators, applied frame-wise in the STFT domain."""
    n = x.size
    n_blocks = int(np.ceil(n / _HOP)) + 2
    padded = np.zeros(n_blocks * _HOP, np.float32)
    padded[_HOP:_HOP + n] = x
    frames = np.lib.stride_tricks.sliding_window_view(padded, _NFFT)[::_HOP]
    active = np.abs(padded).reshape(n_blocks, _HOP).max(axis=1) > 0
    active = active[:-1] | active[1:]  # frame i covers blocks i and i + 1
    spec = sp_fft.rfft(frames[active] * _SQRT_HANN, axis=1)
    centres = (np.flatnonzero(active) * _HOP + _NFFT / 2 - _HOP) / AUDIO_SR
    ff = (np.fft.rfftfreq(_NFFT, 1 / AUDIO_SR).astype(np.float32) ** 2)[None, :]
    gain = np.ones(spec.shape, np.float32)
    for k in range(3):
        fk = np.interp(centres, ctrl["t"], ctrl["formants"][k]).astype(np.float32)[:, None] ** 2
        bk = np.interp(centres, ctrl["t"], ctrl["bw"][k]).astype(np.float32)[:, None] ** 2
        gain *= fk / np.sqrt((fk - ff) ** 2 + bk * ff)
    y = np.zeros((active.size, _NFFT), np.float32)
    y[active] = sp_fft.irfft(spec * gain, n=_NFFT, axis=1) * _SQRT_HANN
    out = np.zeros(n_blocks * _HOP, np.float32)
    halves = y.reshape(y.shape[0], 2, _HOP)
    out[: y.shape[0] * _HOP] += halves[:, 0].ravel()
    out[_HOP: (y.shape[0] + 1) * _HOP] += halves[:, 1].ravel()
    return out[_HOP:_HOP + n]


_UP = int(AUDIO_SR // CTRL_RATE)  # samples per control frame
_RAMP = (np.arange(_UP) / _UP).astype(np.float32)


def _upsample(track: np.ndarray, n: int) -> np.ndarray:
    """Linear interpolation of a control-rate track to ``n`` samples (float32)."""
    y = np.asarray(track, np.float32)
    return (y[:-1, None] + np.diff(y)[:, None] * _RAMP[None, :]).ravel()[:n]


def _rms_db(x: np.ndarray) -> float:
    return float(10 * np.log10(np.mean(np.square(x, dtype=np.float64)) + 1e-20))


def _unit_rms(x: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``x`` scaled to RMS 1 over ``mask`` (unchanged when the mask is empty)."""
    return x / np.float32(np.sqrt(np.mean(np.square(x[mask], dtype=np.float64)))) if mask.any() else x


def synthesize_audio(duration: float, tl: Timeline, voices: dict[int, Voice], noise_db: float,
                     rng: np.random.Generator) -> tuple[np.ndarray, dict[str, float]]:
    """The session's mono 16 kHz signal (float32 in [-1, 1]) and what it realised.

    Voiced syllables: glottal source -> formant cascade; consonants: band-passed noise bursts; each
    speaker is scaled to its own speech level (RMS over its phrases); stationary coloured room noise
    at ``noise_db`` dBFS.
    """
    n = int(round(duration * AUDIO_SR))
    ctrl = _control_tracks(duration, tl, voices)
    vamp = _upsample(ctrl["vamp"], n)
    jitter = 1.0 + 0.006 * rng.standard_normal(ctrl["t"].size)  # 0.6 % F0 jitter per 5 ms
    f0 = _upsample(ctrl["f0"] * jitter, n)
    shimmer = 1.0 + 0.05 * _upsample(rng.standard_normal(ctrl["t"].size), n)
    white = rng.standard_normal(n, np.float32)  # aspiration and frication
    voiced = _formant_filter((_glottal_source(f0) * shimmer + 0.004 * white) * vamp, ctrl)
    sos_s = signal.butter(4, [3500, 7200], btype="bandpass", fs=AUDIO_SR, output="sos").astype(np.float32)
    sos_f = signal.butter(2, [1200, 6000], btype="bandpass", fs=AUDIO_SR, output="sos").astype(np.float32)
    namp_s = _upsample(ctrl["namp"] * (ctrl["kind"] == 0), n)
    namp_f = _upsample(ctrl["namp"] * (ctrl["kind"] == 1), n)
    fric = signal.sosfilt(sos_s, white) * namp_s + signal.sosfilt(sos_f, white) * namp_f
    speech = _unit_rms(voiced, vamp > 0.3) + 0.3 * _unit_rms(fric, (namp_s + namp_f) > 0.3)
    # per-speaker gain, constant over each turn and the silence after it
    turns = tl.turns
    turn_idx = np.clip(np.searchsorted(turns["start"].to_numpy(), ctrl["t"], side="right") - 1, 0, None)
    is_part = (turns["speaker"].to_numpy() == "participant")[turn_idx]
    masks = {sp: np.repeat(ctrl["spk"] == sp, _UP)[:n] for sp in voices}  # inside the speaker's phrases
    gains = {sp: 10 ** ((v.level_db - _rms_db(speech[masks[sp]])) / 20) for sp, v in voices.items()}
    speech *= _upsample(np.where(is_part, gains[PARTICIPANT], gains[INTERVIEWER]), n)
    room = rng.standard_normal(n, np.float32)
    noise = (signal.lfilter([1.0], [1.0, -0.9], room) + 0.5 * room).astype(np.float32)
    noise *= np.float32(10 ** (noise_db / 20) / 10 ** (_rms_db(noise) / 20))
    x = speech + noise
    energy = _rms_db(speech[masks[PARTICIPANT]])
    realised = {"energy_db": energy, "snr_db": energy - noise_db,
                "clipped_share": float(np.mean(np.abs(x) > 1.0)),
                "f0_sd_semitones": ctrl["f0_sd_realised"][PARTICIPANT]}
    return np.clip(x, -1.0, 1.0), realised
