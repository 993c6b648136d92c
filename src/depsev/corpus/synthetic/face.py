"""The session's face: a per-frame table in E-DAIC's 53 OpenFace 2.1.0 columns, with planted effects.

:func:`synthesize_face` draws slowly drifting AU intensities (AU04, AU15, AU17 at their planted
levels), mouth and brow movement driven by the participant's syllables, spontaneous smiles (AU06/AU12)
and blinks (AU45) at their planted rates, Wizard-of-Oz polite smiles around the end of interviewer
turns, head pose, gaze fixations, and bursts of failed tracking (``success = 0``, every feature 0)
with low-confidence frames around them; it returns the table and the realised episode rates.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import signal

from depsev.constants import AU_IDS_INTENSITY, AU_IDS_PRESENCE, EDAIC_OPENFACE_COLUMNS
from depsev.corpus.synthetic.cohort import _stochastic_round
from depsev.corpus.synthetic.effects import WOZ_SMILE_PEAK
from depsev.corpus.synthetic.timeline import PARTICIPANT, Timeline


def _slow_noise(n: int, fps: float, tau_s: float, rng: np.random.Generator) -> np.ndarray:
    """Unit-variance first-order low-pass Gaussian noise with time constant ``tau_s``."""
    a = float(np.exp(-1.0 / (tau_s * fps)))
    y = signal.lfilter([1.0 - a], [1.0, -a], rng.standard_normal(n))
    return y * np.sqrt((1 + a) / (1 - a))


def _episodes(t: np.ndarray, onsets: np.ndarray, durations: np.ndarray, peaks: np.ndarray) -> np.ndarray:
    """Sum of raised-cosine episodes (loops over episodes, not frames)."""
    out = np.zeros_like(t)
    for on, du, pk in zip(onsets, durations, peaks, strict=True):
        a, b = np.searchsorted(t, [on, on + du])
        out[a:b] += pk * 0.5 * (1 - np.cos(2 * np.pi * (t[a:b] - on) / du))
    return out


def _failure_bursts(n: int, share: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Frames where tracking fails (bursts covering ~``share``) and low-confidence frames next to them."""
    fail = np.zeros(n, bool)
    shaky = np.zeros(n, bool)
    target = int(np.ceil(share * n))
    while (missing := target - int(fail.sum())) > 0:
        length = min(int(rng.integers(5, 61)), max(missing, 5))
        a = int(rng.integers(0, max(1, n - length)))
        fail[a:a + length] = True
        shaky[max(0, a - int(rng.integers(2, 6))):a] = True
        shaky[a + length:a + length + int(rng.integers(2, 6))] = True
    return fail, shaky & ~fail


def synthesize_face(duration: float, fps: float, values: dict[str, float], tl: Timeline,
                    rng: np.random.Generator) -> tuple[pd.DataFrame, dict[str, float]]:
    """Per-frame OpenFace 2.1.0 table (the 53 E-DAIC columns) and realised episode rates."""
    n = int(np.floor(duration * fps))
    t = np.arange(n) / fps
    minutes = duration / 60.0
    au: dict[str, np.ndarray] = {}
    for a in AU_IDS_INTENSITY:
        level = rng.uniform(0.03, 0.3) if a not in ("12", "06") else rng.uniform(0.02, 0.08)
        au[a] = level * np.exp(0.5 * _slow_noise(n, fps, 2.0, rng) - 0.125)
    for a, key in (("04", "au04_level_target"), ("15", "au15_level_target"),
                     ("17", "au17_level_target")):
        au[a] = values[key] * np.exp(0.5 * _slow_noise(n, fps, 3.0, rng) - 0.125)
    # speaking drives lips/jaw/brows
    turns = tl.turns
    speak = np.zeros(n)
    s = tl.syl
    part = s["speaker"] == PARTICIPANT
    idx = np.searchsorted(s["start"][part], t, side="right") - 1
    ic = np.clip(idx, 0, None)
    inside = (idx >= 0) & (t - s["start"][part][ic] < s["dur"][part][ic])
    speak[inside] = np.sin(np.pi * (t[inside] - s["start"][part][ic[inside]]) / s["dur"][part][ic[inside]])
    au["25"] += 1.6 * speak
    au["26"] += 0.9 * speak
    au["01"] += 0.3 * speak
    au["02"] += 0.2 * speak
    # spontaneous smiles (planted, PHQ-dependent)
    k = _stochastic_round(values["smile_rate_target"] * minutes, rng)
    peaks = values["smile_intensity_target"] * np.exp(rng.normal(0, 0.15, k))
    smiles = _episodes(t, rng.uniform(0, duration, k), rng.uniform(1.5, 4.0, k), peaks)
    # polite smiles of WoZ sessions around the end of interviewer turns (PHQ-independent)
    k_woz = _stochastic_round(values["woz_smile_rate"] * minutes, rng)
    q_end = turns.loc[turns["speaker"] == "interviewer", "end"].to_numpy()
    on_woz = rng.choice(q_end, k_woz) + rng.uniform(-1.0, 0.5, k_woz) if k_woz else np.zeros(0)
    polite = _episodes(t, on_woz, rng.uniform(1.0, 2.5, k_woz),
                       WOZ_SMILE_PEAK * np.exp(rng.normal(0, 0.2, k_woz)))
    au["12"] += smiles + polite
    au["06"] += 0.75 * smiles + 0.35 * polite
    k_blink = _stochastic_round(values["blink_rate_target"] * minutes, rng)
    au["45"] = 0.08 + _episodes(t, rng.uniform(0, duration, k_blink), rng.uniform(0.12, 0.3, k_blink),
                                rng.uniform(1.5, 3.5, k_blink))
    intensity = {a: np.clip(v + rng.normal(0, 0.06, n), 0, 5).round(2) for a, v in au.items()}
    presence = {a: (intensity[a] >= 1.0).astype(float) for a in AU_IDS_INTENSITY}
    k28 = _stochastic_round(0.3 * minutes, rng)
    presence["28"] = (_episodes(t, rng.uniform(0, duration, k28), rng.uniform(0.5, 1.5, k28),
                                np.ones(k28)) > 0.5).astype(float)
    # pose (mm, radians) and gaze (unit vectors, radians)
    pose = {"pose_Tx": rng.normal(15, 25) + 8 * _slow_noise(n, fps, 4.0, rng),
            "pose_Ty": rng.normal(5, 15) + 5 * _slow_noise(n, fps, 4.0, rng),
            "pose_Tz": rng.uniform(450, 750) + 15 * _slow_noise(n, fps, 6.0, rng),
            "pose_Rx": rng.normal(0.1, 0.08) + 0.04 * _slow_noise(n, fps, 2.0, rng),
            "pose_Ry": rng.normal(0.0, 0.1) + 0.06 * _slow_noise(n, fps, 2.0, rng),
            "pose_Rz": rng.normal(0.0, 0.05) + 0.03 * _slow_noise(n, fps, 3.0, rng)}
    fix_ends = np.cumsum(rng.uniform(0.25, 1.5, int(duration / 0.25) + 2))
    fix = np.searchsorted(fix_ends, t)
    ax = rng.normal(0.05, 0.08) + rng.normal(0, 0.08, fix_ends.size)[fix]
    ay = rng.normal(0.15, 0.08) + rng.normal(0, 0.06, fix_ends.size)[fix]
    vecs = []
    for conv in (0.03, -0.03):
        gx = np.sin(ax + conv + rng.normal(0, 0.01, n))
        gy = np.sin(ay + rng.normal(0, 0.01, n))
        vecs.append((gx, gy, -np.sqrt(1 - gx ** 2 - gy ** 2)))
    mean = [(vecs[0][i] + vecs[1][i]) / 2 for i in range(3)]
    gaze = {"gaze_0_x": vecs[0][0], "gaze_0_y": vecs[0][1], "gaze_0_z": vecs[0][2],
            "gaze_1_x": vecs[1][0], "gaze_1_y": vecs[1][1], "gaze_1_z": vecs[1][2],
            "gaze_angle_x": np.arctan2(mean[0], -mean[2]), "gaze_angle_y": np.arctan2(mean[1], -mean[2])}
    fail, shaky = _failure_bursts(n, rng.uniform(0.02, 0.05), rng)
    confidence = np.clip(0.98 - np.abs(rng.normal(0, 0.02, n)), 0.8, 0.98)
    confidence[shaky] = rng.uniform(0.45, 0.74, int(shaky.sum()))
    confidence[fail] = rng.uniform(0.0, 0.15, int(fail.sum()))
    cols: dict[str, np.ndarray] = {"frame": np.arange(1, n + 1), "timestamp": t.round(3),
                                   "confidence": confidence.round(2), "success": (~fail).astype(int)}
    cols.update({k: v.round(1 if k[-2] == "T" else 3) for k, v in pose.items()})
    cols.update({k: v.round(3 if "angle" in k else 6) for k, v in gaze.items()})
    cols.update({f"AU{a}_r": intensity[a] for a in AU_IDS_INTENSITY})
    cols.update({f"AU{a}_c": presence[a] for a in AU_IDS_PRESENCE})
    df = pd.DataFrame(cols)[EDAIC_OPENFACE_COLUMNS]
    feat = EDAIC_OPENFACE_COLUMNS[4:]
    df.loc[fail, feat] = 0.0
    realised = {"smile_rate": k / minutes, "blink_rate": k_blink / minutes, "woz_smile_rate": k_woz / minutes,
                "face_failure_share": float(fail.mean()), "fps": fps}
    return df, realised
