"""A SYNTHETIC cohort in the exact E-DAIC layout, with planted, known effects.

The real E-DAIC is licensed and not shipped, so the demo workflow runs on this generator's output.
Nothing here is real data: the speech is a formant synthesiser, the faces are random processes shaped
like OpenFace 2.1.0 output, and the labels are drawn at random.  The files are read by the same
readers that read the real corpus (see ``docs/CONTRACT.md`` and ``corpus-formats.md``).

Layout written under ``out`` (E-DAIC's)::

    labels/{train,dev,test}_split.csv        Participant_ID,Gender,PHQ_Binary,PHQ_Score,PCL-C (PTSD),
                                             PTSD Severity
    labels/Detailed_PHQ8_Labels.csv          Participant_ID, 8 PHQ_8* items (0-3), PHQ_8Total (train+dev)
    data/<ID>_P/<ID>_AUDIO.wav               16 kHz mono PCM_16, interviewer + participant + room noise
    data/<ID>_P/<ID>_Transcript.csv          Start_Time,End_Time,Text,Confidence (participant turns only)
    data/<ID>_P/features/<ID>_OpenFace2.1.0_Pose_gaze_AUs.csv   the 53 E-DAIC OpenFace columns
    ground_truth/participants.csv, turns.csv, oracle.json, summary.json, README.txt

Real-corpus quirks planted on purpose: some ``Gender`` values carry a trailing space (``'female '``);
about 20 % of the rows with ``PHQ_Score >= 10`` ship ``PHQ_Binary = 0`` (readers must derive the
binary label); OpenFace frame rate differs per session (28-32 fps: use ``timestamp``); 2-5 % of frames
fail (``success = 0``, low confidence, all features 0) in bursts, with low-confidence frames around them.

Cohort design: Wizard-of-Oz (human-controlled interviewer) sessions get IDs in 300-492, AI-agent
sessions IDs in 600-718.  About 60 % train / 20 % dev / 20 % test; the test split is AI-only, train
and dev are WoZ-heavy with about 25 % AI sessions.  PHQ-8 severity bands follow the E-DAIC band
proportions of each split (train 77/36/26/17/7 of 163, dev 26/15/8/6/1, test 19/16/9/10/2), allocated
per (split, interviewer) group, and every group of two or more holds at least one score below 10 and
one at or above 10.

Latent severity is the standardised score ``z = (PHQ - 7.31) / 6.09`` (mean and SD of E-DAIC's band
distribution with uniform scores inside a band; :data:`PRIOR_MEAN`, :data:`PRIOR_SD`).  Every planted
per-participant value is ``base + effect * z + offset`` with ``offset ~ N(0, noise SD)`` (then clipped
to a plausible range), and the files realise it with further frame / segment-level noise:

==================  ============  ======  ========  ==========  ========  ====  ======================
value               unit          base    per SD z  per PHQ pt  noise SD  r     realised in
==================  ============  ======  ========  ==========  ========  ====  ======================
f0_sd_semitones     semitones     2.6     -0.25     -0.041      0.71      .33   F0 contour
syllable_rate       syllables/s   4.4     -0.28     -0.046      0.8       .33   syllable durations
energy_db           dBFS          -26     -1.2      -0.197      3.4       .33   speech gain
pause_share         share         0.22    +0.04     +0.007      0.115     .33   pauses inside answers
smile_rate          episodes/min  3       -0.8      -0.131      1.2       .55   AU06/AU12 episodes
smile_intensity     AU12_r        2.2     -0.27     -0.044      0.62      .40   AU06/AU12 peaks
au04_level          AU04_r        0.5     +0.08     +0.013      0.24      .32   AU04_r
au15_level          AU15_r        0.35    +0.06     +0.010      0.22      .26   AU15_r
au17_level          AU17_r        0.55    +0.07     +0.011      0.25      .27   AU17_r
blink_rate          blinks/min    17      +1.6      +0.263      7         .22   AU45 blinks
woz_smile_rate      episodes/min  3.5     0         0           0.8       0     AU06/AU12, WoZ only
==================  ============  ======  ========  ==========  ========  ====  ======================

``r`` is the implied correlation of the planted value with the score (``|effect| / sqrt(effect^2 +
noise^2)``).  Interviewer effect: in WoZ sessions the participant also shows *polite* smiles (AU12,
weaker AU06) around the end of the interviewer's turns at ``woz_smile_rate`` -- independent of PHQ --
so a model blind to the interviewer type is biased.  AI-agent sessions have none.

Noise inside a session (on top of the per-participant offsets): F0 cycle jitter 0.6 % and 5 %
shimmer; syllable durations log-normal (SD 0.2) around ``1 / syllable_rate``; each answer's pause total
log-normal (SD 0.15) around the planted share, split at random between its 2-4 phrases (>= 0.25 s
each); smile, polite-smile and blink episodes at random times with random durations and peaks (15 %
SD on smile peaks; counts are the expected number rounded at random, so realised rates stay close to
the planted ones); AU levels drift log-normally (SD 0.5, time constant 2-3 s) plus 0.06 frame noise;
stationary coloured room noise 18-28 dB below the cohort's typical speech level (-26 dBFS), so the
per-participant SNR is about 15-25 dB and lower for quiet (more severe) speakers.

Ground truth: ``participants.csv`` holds the planted values *as realised in the files* (episode and
syllable counts, the actual pause durations, the realised F0 contour and speech gain; the drawn
targets are kept as ``<name>_target``) and ``oracle_phq``, the posterior mean of ``z`` under the prior
``N(0, 1)`` given every per-feature inversion ``(value - base) / effect``, weighted by
``effect^2 / noise^2`` -- fixed weights from the table above, nothing fitted.  ``oracle.json`` scores it
and the train-mean predictor per split (MAE, RMSE, CCC with population variances).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf
from scipy import fft as sp_fft
from scipy import signal

from depsev import __version__
from depsev.constants import (
    AI,
    AI_ID_RANGE,
    AU_IDS_INTENSITY,
    AU_IDS_PRESENCE,
    AUDIO_SR,
    BAND_EDGES,
    BINARY_THRESHOLD,
    EDAIC_OPENFACE_COLUMNS,
    N_BANDS,
    PHQ_MAX,
    SPLITS,
    WOZ,
    WOZ_ID_RANGE,
    phq_band,
)

SYNTHETIC_NOTE = ("SYNTHETIC cohort generated by depsev.corpus.synthetic: not real participants, not real "
                  "speech or faces, not E-DAIC data. Effects were planted on purpose; results on it say "
                  "nothing about depression.")

#: E-DAIC band counts per split (corpus-formats.md) -- the target proportions
EDAIC_BAND_COUNTS = {"train": (77, 36, 26, 17, 7), "dev": (26, 15, 8, 6, 1), "test": (19, 16, 9, 10, 2)}
#: E-DAIC Detailed_PHQ8_Labels.csv columns
PHQ8_ITEMS = ["PHQ_8NoInterest", "PHQ_8Depressed", "PHQ_8Sleep", "PHQ_8Tired", "PHQ_8Appetite",
              "PHQ_8Failure", "PHQ_8Concentrating", "PHQ_8Moving"]
SPLIT_COLUMNS = ["Participant_ID", "Gender", "PHQ_Binary", "PHQ_Score", "PCL-C (PTSD)", "PTSD Severity"]
TRANSCRIPT_COLUMNS = ["Start_Time", "End_Time", "Text", "Confidence"]
MIN_PARTICIPANTS = 10
#: the largest cohort whose AI-agent sessions still fit the E-DAIC AI ID range (600-718)
MAX_PARTICIPANTS = 298
MIN_MINUTES = 0.25


def _band_prior() -> tuple[float, float]:
    """Mean and SD of a PHQ score drawn like E-DAIC (all splits; uniform within a band)."""
    counts = np.sum([EDAIC_BAND_COUNTS[s] for s in SPLITS], axis=0).astype(float)
    p = counts / counts.sum()
    centres = np.array([(BAND_EDGES[b] + BAND_EDGES[b + 1] - 1) / 2 for b in range(N_BANDS)])
    mean = float(p @ centres)
    var = float(p @ ((centres - mean) ** 2 + 2.0))  # uniform over 5 integers has variance 2
    return mean, float(np.sqrt(var))


PRIOR_MEAN, PRIOR_SD = _band_prior()


@dataclass(frozen=True)
class Effect:
    """A planted per-participant value: ``clip(base + per_sd * z + N(0, noise_sd), lo, hi)``."""

    name: str
    unit: str
    base: float
    per_sd: float
    noise_sd: float
    lo: float
    hi: float
    realised_in: str

    @property
    def per_phq_point(self) -> float:
        """Effect per PHQ-8 point."""
        return self.per_sd / PRIOR_SD

    @property
    def implied_r(self) -> float:
        """Correlation of the planted value with the latent severity (before clipping)."""
        return abs(self.per_sd) / float(np.hypot(self.per_sd, self.noise_sd))

    def as_dict(self) -> dict:
        """JSON-friendly description (for oracle.json)."""
        return {"feature": self.name, "unit": self.unit, "base": self.base, "per_sd_latent": self.per_sd,
                "per_phq_point": round(self.per_phq_point, 5), "participant_noise_sd": self.noise_sd,
                "clip": [self.lo, self.hi], "implied_r": round(self.implied_r, 3),
                "realised_in": self.realised_in}


EFFECTS: tuple[Effect, ...] = (
    Effect("f0_sd_semitones", "semitones", 2.6, -0.25, 0.71, 0.5, 6.0, "F0 contour"),
    Effect("syllable_rate", "syllables/s", 4.4, -0.28, 0.80, 2.0, 7.0, "syllable durations"),
    Effect("energy_db", "dBFS", -26.0, -1.20, 3.40, -40.0, -14.0, "speech gain"),
    Effect("pause_share", "share", 0.22, 0.04, 0.115, 0.03, 0.60, "pauses inside answers"),
    Effect("smile_rate", "episodes/min", 3.0, -0.80, 1.20, 0.2, 9.0, "AU06/AU12 episodes"),
    Effect("smile_intensity", "AU12_r", 2.2, -0.27, 0.62, 0.6, 4.5, "AU06/AU12 peaks"),
    Effect("au04_level", "AU04_r", 0.50, 0.08, 0.24, 0.02, 2.5, "AU04_r"),
    Effect("au15_level", "AU15_r", 0.35, 0.06, 0.22, 0.02, 2.0, "AU15_r"),
    Effect("au17_level", "AU17_r", 0.55, 0.07, 0.25, 0.02, 2.5, "AU17_r"),
    Effect("blink_rate", "blinks/min", 17.0, 1.60, 7.00, 3.0, 45.0, "AU45 blinks"),
)
#: polite smiling of Wizard-of-Oz sessions (independent of PHQ)
WOZ_SMILE_RATE, WOZ_SMILE_SD, WOZ_SMILE_PEAK = 3.5, 0.8, 1.4


def effect_table() -> str:
    """The planted effects as a reStructuredText table (the module docstring carries a copy)."""
    widths = (18, 12, 6, 8, 10, 8, 4, 22)
    rule = "  ".join("=" * w for w in widths)
    head = ("value", "unit", "base", "per SD z", "per PHQ pt", "noise SD", "r", "realised in")
    rows = [(e.name, e.unit, f"{e.base:g}", f"{e.per_sd:+.3g}", f"{e.per_phq_point:+.3f}", f"{e.noise_sd:g}",
             f"{e.implied_r:.2f}".lstrip("0"), e.realised_in) for e in EFFECTS]
    rows.append(("woz_smile_rate", "episodes/min", f"{WOZ_SMILE_RATE:g}", "0", "0", f"{WOZ_SMILE_SD:g}", "0",
                 "AU06/AU12, WoZ only"))
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    lines = [rule, fmt.format(*head), rule, *(fmt.format(*r) for r in rows), rule]
    return "\n".join(line.rstrip() for line in lines)

# ---------------------------------------------------------------------------------------------
# cohort design
# ---------------------------------------------------------------------------------------------


def plan_splits(participants: int) -> dict[str, dict[str, int]]:
    """Participants per split and interviewer type: ``{split: {"woz": n, "ai": n}}``.

    About 60/20/20 % train/dev/test; test is AI-only; train and dev hold about 25 % AI sessions
    (at least 2 in train, 1 in dev) and at least one WoZ session.  ValueError below 10
    participants or above :data:`MAX_PARTICIPANTS` (the E-DAIC ID ranges cannot hold the cohort).
    """
    if isinstance(participants, bool) or int(participants) != participants:
        raise ValueError(f"participants must be an integer, got {participants!r}")
    n = int(participants)
    if n < MIN_PARTICIPANTS:
        raise ValueError(f"a synthetic cohort needs at least {MIN_PARTICIPANTS} participants "
                         f"(3 splits, 2 interviewer types), got {n}")
    n_test = max(2, round(0.2 * n))
    n_dev = max(2, round(0.2 * n))
    n_train = n - n_test - n_dev
    train_ai = max(2, round(0.25 * n_train))
    dev_ai = max(1, round(0.25 * n_dev))
    plan = {"train": {WOZ: n_train - train_ai, AI: train_ai},
            "dev": {WOZ: n_dev - dev_ai, AI: dev_ai},
            "test": {WOZ: 0, AI: n_test}}
    n_ai = sum(p[AI] for p in plan.values())
    n_woz = sum(p[WOZ] for p in plan.values())
    cap_ai = AI_ID_RANGE[1] - AI_ID_RANGE[0] + 1
    cap_woz = WOZ_ID_RANGE[1] - WOZ_ID_RANGE[0] + 1
    if n_ai > cap_ai or n_woz > cap_woz:
        raise ValueError(f"{n} participants need {n_ai} AI and {n_woz} WoZ IDs; the E-DAIC ranges hold "
                         f"{cap_ai} and {cap_woz}")
    return plan


def allocate_bands(n: int, proportions: tuple[int, ...]) -> np.ndarray:
    """Counts per severity band for ``n`` people (largest remainder), with a spread.

    A group of two or more gets at least one score below 10 (bands 0-1) and one at or above 10.
    """
    p = np.asarray(proportions, float) / float(sum(proportions))
    raw = p * n
    counts = np.floor(raw).astype(int)
    order = np.argsort(-(raw - counts), kind="stable")
    counts[order[: n - counts.sum()]] += 1
    if n >= 2:
        if counts[:2].sum() == 0:
            counts[int(np.argmax(counts))] -= 1
            counts[0] += 1
        if counts[2:].sum() == 0:
            counts[int(np.argmax(counts[:2]))] -= 1
            counts[2] += 1
    return counts


def _split_scores(n: int, proportions: tuple[int, ...], group_sizes: list[int],
                  rng: np.random.Generator) -> list[np.ndarray]:
    """PHQ scores of one split (bands by :func:`allocate_bands`), dealt to interviewer groups.

    The deal is redrawn (up to 200 times) until every group of two or more has a score below 10 and
    one at or above 10.
    """
    bands = np.repeat(np.arange(N_BANDS), allocate_bands(n, proportions))
    scores = BAND_EDGES[0] + 5 * bands + rng.integers(0, 5, size=n)
    cuts = np.cumsum(group_sizes)[:-1]
    for _ in range(200):
        groups = np.split(rng.permutation(scores), cuts)
        if all(len(g) < 2 or (g.min() < BINARY_THRESHOLD <= g.max()) for g in groups):
            break
    return groups


def _stochastic_round(x: float, rng: np.random.Generator) -> int:
    return int(np.floor(x + rng.random()))


def phq_items(total: int, rng: np.random.Generator) -> np.ndarray:
    """Eight PHQ-8 item scores (0-3) that sum exactly to ``total`` (0-24)."""
    if not 0 <= total <= PHQ_MAX:
        raise ValueError(f"PHQ-8 total {total} outside 0..{PHQ_MAX}")
    items = np.zeros(8, int)
    weights = rng.dirichlet(np.full(8, 2.0))
    for _ in range(int(total)):  # at most 24 units
        free = items < 3
        w = weights * free
        items[rng.choice(8, p=w / w.sum())] += 1
    return items


def draw_participants(participants: int, rng: np.random.Generator) -> pd.DataFrame:
    """The cohort table: id, split, interviewer, gender, phq_score, label quirks."""
    plan = plan_splits(participants)
    n_woz = sum(p[WOZ] for p in plan.values())
    n_ai = sum(p[AI] for p in plan.values())
    woz_ids = list(rng.choice(np.arange(WOZ_ID_RANGE[0], WOZ_ID_RANGE[1] + 1), n_woz, replace=False))
    ai_ids = list(rng.choice(np.arange(AI_ID_RANGE[0], AI_ID_RANGE[1] + 1), n_ai, replace=False))
    rows = []
    for split in SPLITS:
        groups = [(kind, plan[split][kind]) for kind in (WOZ, AI) if plan[split][kind] > 0]
        sizes = [n for _, n in groups]
        scores = _split_scores(sum(sizes), EDAIC_BAND_COUNTS[split], sizes, rng)
        for (kind, _n), group_scores in zip(groups, scores, strict=True):
            pool = woz_ids if kind == WOZ else ai_ids
            for score in group_scores:
                rows.append({"participant_id": int(pool.pop()), "split": split, "interviewer": kind,
                             "phq_score": int(score)})
    df = pd.DataFrame(rows).sort_values("participant_id", kind="stable").reset_index(drop=True)
    n = len(df)
    df["gender"] = rng.choice(["male", "female"], size=n, p=[0.55, 0.45])
    df["gender_trailing_space"] = False
    df.loc[rng.choice(n, max(1, round(0.1 * n)), replace=False), "gender_trailing_space"] = True
    depressed = np.flatnonzero(df["phq_score"].to_numpy() >= BINARY_THRESHOLD)
    df["phq_binary_shipped"] = (df["phq_score"] >= BINARY_THRESHOLD).astype(int)
    if len(depressed):
        k = max(1, _stochastic_round(0.2 * len(depressed), rng))
        df.loc[rng.choice(depressed, k, replace=False), "phq_binary_shipped"] = 0
    ptsd = np.clip(np.round(17 + 1.6 * df["phq_score"] + rng.normal(0, 7, n)), 17, 85).astype(int)
    df["ptsd_severity"] = ptsd
    df["pcl_c_ptsd"] = (ptsd >= 44).astype(int)
    df["latent_severity"] = (df["phq_score"] - PRIOR_MEAN) / PRIOR_SD
    return df


def plant_values(latent: float, interviewer: str, rng: np.random.Generator) -> dict[str, float]:
    """Per-participant target values of every :data:`EFFECTS` row plus the WoZ polite smile rate."""
    out = {}
    for e in EFFECTS:
        out[e.name] = float(np.clip(e.base + e.per_sd * latent + rng.normal(0, e.noise_sd), e.lo, e.hi))
    woz = max(0.5, WOZ_SMILE_RATE + rng.normal(0, WOZ_SMILE_SD)) if interviewer == WOZ else 0.0
    out["woz_smile_rate"] = float(woz)
    return out


# ---------------------------------------------------------------------------------------------
# interview timeline: turns, phrases, syllables
# ---------------------------------------------------------------------------------------------

PARTICIPANT, INTERVIEWER = 0, 1
SPEAKER_NAMES = {PARTICIPANT: "participant", INTERVIEWER: "interviewer"}
#: adult male vowel formants F1-F3 (Hz): a i u e o schwa
VOWELS = np.array([[730, 1090, 2440], [270, 2290, 3010], [300, 870, 2240], [530, 1840, 2480],
                   [570, 840, 2410], [500, 1500, 2500]], float)
INTERVIEWER_RATE = 5.0  # syllables / s, steady agent style


@dataclass
class Timeline:
    """Flat syllable table plus turn spans of one session (seconds, session clock)."""

    syl: dict[str, np.ndarray]  # start, dur, cons, cons_kind, vowel, accent, ph_start, ph_end, speaker
    turns: pd.DataFrame  # speaker, start, end, speech_s, pause_s, n_syllables


def _phrase(start: float, n_syll: int, rate: float, speaker: int, rng: np.random.Generator) -> dict:
    dur = (1.0 / rate) * np.exp(rng.normal(0, 0.2, n_syll))
    starts = start + np.concatenate([[0.0], np.cumsum(dur)[:-1]])
    cons = np.where(rng.random(n_syll) < 0.65, rng.uniform(0.035, 0.08, n_syll), 0.0)
    cons = np.minimum(cons, 0.4 * dur)
    end = float(starts[-1] + dur[-1])
    return {"start": starts, "dur": dur, "cons": cons, "cons_kind": rng.integers(0, 2, n_syll),
            "vowel": rng.integers(0, len(VOWELS), n_syll), "accent": rng.normal(0, 1, n_syll),
            "ph_start": np.full(n_syll, start), "ph_end": np.full(n_syll, end),
            "speaker": np.full(n_syll, speaker)}


def _answer(start: float, rate: float, pause_share: float, rng: np.random.Generator,
            max_syllables: int = 16) -> list[dict]:
    """Two to four phrases separated by pauses whose share of the answer is about ``pause_share``."""
    n_phr = int(rng.integers(2, 5))
    n_syll = rng.integers(min(5, max_syllables), max_syllables + 1, n_phr)
    speech = n_syll.sum() / rate
    pause_total = speech * pause_share / (1 - pause_share) * float(np.exp(rng.normal(0, 0.15)))
    gaps = np.maximum(rng.dirichlet(np.full(n_phr - 1, 4.0)) * pause_total, 0.25)
    phrases, t = [], start
    for i in range(n_phr):
        ph = _phrase(t, int(n_syll[i]), rate, PARTICIPANT, rng)
        phrases.append(ph)
        t = float(ph["ph_end"][0]) + (gaps[i] if i < n_phr - 1 else 0.0)
    return phrases


def _question(start: float, rng: np.random.Generator, max_syllables: int = 15) -> list[dict]:
    """The interviewer's turn: one or two short phrases at a steady rate."""
    n_phr = int(rng.integers(1, 3))
    phrases, t = [], start
    for _ in range(n_phr):
        ph = _phrase(t, int(rng.integers(min(6, max_syllables), max_syllables + 1)), INTERVIEWER_RATE,
                     INTERVIEWER, rng)
        phrases.append(ph)
        t = float(ph["ph_end"][0]) + rng.uniform(0.25, 0.4)
    return phrases


def plan_timeline(duration: float, values: dict[str, float], interviewer: str,
                  rng: np.random.Generator) -> Timeline:
    """Alternating interviewer questions and participant answers with silence gaps between turns."""
    latency = 0.3 if interviewer == AI else 0.0  # the autonomous agent answers a little later
    t = rng.uniform(0.8, 2.0)
    phrases: list[dict] = []
    turns = []
    speaker = INTERVIEWER
    while True:
        for max_syllables in (15, 9, 4):  # shorter turns near the end of the session
            if speaker == INTERVIEWER:
                turn = _question(t, rng, max_syllables)
            else:
                turn = _answer(t, values["syllable_rate_target"], values["pause_share_target"], rng,
                               max_syllables)
            end = float(turn[-1]["ph_end"][0])
            if end <= duration - 0.5:
                break
        if end > duration - 0.5:
            break
        speech = float(sum(p["dur"].sum() for p in turn))
        turns.append({"speaker": SPEAKER_NAMES[speaker], "start": float(turn[0]["ph_start"][0]),
                      "end": end, "speech_s": speech,
                      "pause_s": end - float(turn[0]["ph_start"][0]) - speech,
                      "n_syllables": int(sum(len(p["dur"]) for p in turn))})
        phrases.extend(turn)
        gap = rng.uniform(0.5, 1.4) + (latency if speaker == PARTICIPANT else 0.0)
        t = end + gap
        speaker = PARTICIPANT if speaker == INTERVIEWER else INTERVIEWER
    turns_df = pd.DataFrame(turns, columns=["speaker", "start", "end", "speech_s", "pause_s",
                                            "n_syllables"])
    if (turns_df["speaker"] == "participant").sum() == 0:
        raise ValueError(f"session of {duration:.1f} s is too short for one question and one answer")
    syl = {k: np.concatenate([p[k] for p in phrases]) for k in phrases[0]}
    return Timeline(syl=syl, turns=turns_df)


# ---------------------------------------------------------------------------------------------
# audio
# ---------------------------------------------------------------------------------------------

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


# ---------------------------------------------------------------------------------------------
# face (OpenFace 2.1.0 columns)
# ---------------------------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------------------------
# writers
# ---------------------------------------------------------------------------------------------

_WORDS = np.array("yeah i think um well it was okay really work sleep family and so you know "
                  "just like about time friends tired kind of the good not much feel day".split())


def transcript_table(tl: Timeline, rng: np.random.Generator) -> pd.DataFrame:
    """E-DAIC transcript rows: one per participant answer (placeholder words, ASR-like confidence)."""
    ans = tl.turns[tl.turns["speaker"] == "participant"]
    texts = [" ".join(rng.choice(_WORDS, max(1, round(ns / 1.3)))) for ns in ans["n_syllables"]]
    return pd.DataFrame({"Start_Time": ans["start"].round(3).to_numpy(),
                         "End_Time": ans["end"].round(3).to_numpy(), "Text": texts,
                         "Confidence": rng.uniform(0.8, 1.0, len(ans)).round(6)})


def write_labels(labels_dir: Path, cohort: pd.DataFrame, items: dict[int, np.ndarray]) -> None:
    """Split files with the real quirks, and Detailed_PHQ8_Labels.csv for train + dev."""
    labels_dir.mkdir(parents=True, exist_ok=True)
    for split in SPLITS:
        part = cohort[cohort["split"] == split]
        gender = np.where(part["gender_trailing_space"], part["gender"] + " ", part["gender"])
        pd.DataFrame({"Participant_ID": part["participant_id"].to_numpy(), "Gender": gender,
                      "PHQ_Binary": part["phq_binary_shipped"].to_numpy(),
                      "PHQ_Score": part["phq_score"].to_numpy(),
                      "PCL-C (PTSD)": part["pcl_c_ptsd"].to_numpy(),
                      "PTSD Severity": part["ptsd_severity"].to_numpy()},
                     columns=SPLIT_COLUMNS).to_csv(labels_dir / f"{split}_split.csv", index=False)
    known = cohort[cohort["split"] != "test"]
    rows = [[pid, *items[pid], int(items[pid].sum())] for pid in known["participant_id"]]
    pd.DataFrame(rows, columns=["Participant_ID", *PHQ8_ITEMS, "PHQ_8Total"]).to_csv(
        labels_dir / "Detailed_PHQ8_Labels.csv", index=False)


def write_csv_fast(df: pd.DataFrame, path: Path) -> None:
    """Plain comma-separated CSV (unquoted header, shortest float repr) via pyarrow: fast for big tables."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    with open(path, "wb") as fh:
        fh.write((",".join(df.columns) + "\n").encode())
        pacsv.write_csv(pa.Table.from_pandas(df, preserve_index=False), fh,
                        pacsv.WriteOptions(include_header=False))


def openface_path(root: Path, pid: int) -> Path:
    """Where the E-DAIC OpenFace CSV of a session lives."""
    return root / "data" / f"{pid}_P" / "features" / f"{pid}_OpenFace2.1.0_Pose_gaze_AUs.csv"


def audio_path(root: Path, pid: int) -> Path:
    """Where the session audio lives."""
    return root / "data" / f"{pid}_P" / f"{pid}_AUDIO.wav"


def transcript_path(root: Path, pid: int) -> Path:
    """Where the session transcript lives."""
    return root / "data" / f"{pid}_P" / f"{pid}_Transcript.csv"


# ---------------------------------------------------------------------------------------------
# oracle and metrics
# ---------------------------------------------------------------------------------------------


def oracle_predict(values: pd.DataFrame) -> np.ndarray:
    """PHQ predicted from the planted values with the stated effect sizes (nothing fitted).

    Each feature gives ``z_k = (value - base) / effect`` with noise SD ``noise / |effect|``; the
    posterior mean of ``z`` under the prior ``N(0, 1)`` is mapped back to PHQ and clipped to 0..24.
    """
    num = np.zeros(len(values))
    den = np.ones(len(values))
    for e in EFFECTS:
        w = (e.per_sd / e.noise_sd) ** 2
        num += w * (values[e.name].to_numpy(float) - e.base) / e.per_sd
        den += w
    return np.clip(PRIOR_MEAN + PRIOR_SD * num / den, 0, PHQ_MAX)


def regression_metrics(y: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    """MAE, RMSE and Lin's CCC with population (ddof=0) variances."""
    y = np.asarray(y, float)
    pred = np.asarray(pred, float)
    err = pred - y
    cov = float(np.mean((y - y.mean()) * (pred - pred.mean())))
    den = float(y.var() + pred.var() + (y.mean() - pred.mean()) ** 2)
    return {"n": int(y.size), "mae": float(np.mean(np.abs(err))), "rmse": float(np.sqrt(np.mean(err ** 2))),
            "ccc": 2 * cov / den if den > 0 else 0.0}


def oracle_report(gt: pd.DataFrame) -> dict:
    """Per split (and all): the oracle's and the train-mean predictor's MAE, RMSE, CCC."""
    train_mean = float(gt.loc[gt["split"] == "train", "phq_score"].mean())
    out: dict = {"synthetic": True, "note": SYNTHETIC_NOTE, "prior": {"mean": PRIOR_MEAN, "sd": PRIOR_SD},
                 "train_mean": train_mean, "effects": [e.as_dict() for e in EFFECTS],
                 "woz_polite_smile": {"rate_per_min": WOZ_SMILE_RATE, "sd": WOZ_SMILE_SD,
                                      "peak_au12": WOZ_SMILE_PEAK, "depends_on_phq": False},
                 "splits": {}}
    for split in (*SPLITS, "all"):
        part = gt if split == "all" else gt[gt["split"] == split]
        y = part["phq_score"].to_numpy(float)
        oracle = regression_metrics(y, part["oracle_phq"].to_numpy(float))
        mean = regression_metrics(y, np.full(y.size, train_mean))
        ratio = oracle["mae"] / mean["mae"] if mean["mae"] else None
        out["splits"][split] = {"oracle": oracle, "train_mean": mean, "oracle_mae_over_mean_mae": ratio}
    return out


# ---------------------------------------------------------------------------------------------
# one session, the whole cohort
# ---------------------------------------------------------------------------------------------


def _voices(row: pd.Series, values: dict[str, float], rng: np.random.Generator) -> dict[int, Voice]:
    female = row["gender"] == "female"
    # participant F0 ranges stay below the interviewer's 240 Hz agent voice
    f0 = float(np.clip(rng.normal(195, 12), 165, 215) if female else np.clip(rng.normal(115, 10), 90, 145))
    scale = (1.15 if female else 1.0) * float(np.exp(rng.normal(0, 0.03)))
    participant = Voice(f0, values["f0_sd_semitones_target"], scale, (90.0, 110.0, 160.0),
                        values["energy_db_target"])
    interviewer = Voice(240.0, 1.5, 1.24, (60.0, 80.0, 120.0), -24.0 + rng.normal(0, 1.0))
    return {PARTICIPANT: participant, INTERVIEWER: interviewer}


def generate_session(root: Path, row: pd.Series, minutes: float, seed: int) -> dict:
    """Write one session's wav, transcript and OpenFace CSV; return its ground-truth row."""
    pid = int(row["participant_id"])
    rng = np.random.default_rng([seed, pid])
    targets = plant_values(float(row["latent_severity"]), row["interviewer"], rng)
    values = {f"{k}_target" if k != "woz_smile_rate" else k: v for k, v in targets.items()}
    duration = minutes * 60.0 * rng.uniform(0.97, 1.03)
    tl = plan_timeline(duration, values, row["interviewer"], rng)
    voices = _voices(row, values, rng)
    noise_db = EFFECTS[2].base - rng.uniform(18, 28)
    wav, audio_real = synthesize_audio(duration, tl, voices, noise_db, rng)
    face, face_real = synthesize_face(duration, rng.uniform(28, 32), values, tl, rng)
    session = root / "data" / f"{pid}_P"
    (session / "features").mkdir(parents=True, exist_ok=True)
    sf.write(audio_path(root, pid), wav, AUDIO_SR, subtype="PCM_16")
    transcript_table(tl, rng).to_csv(transcript_path(root, pid), index=False)
    write_csv_fast(face, openface_path(root, pid))
    ans = tl.turns[tl.turns["speaker"] == "participant"]
    gt = {"participant_id": pid, "duration_s": len(wav) / AUDIO_SR, "noise_db": noise_db,
          "f0_mean_hz": voices[PARTICIPANT].f0_mean,
          "f0_sd_semitones": audio_real["f0_sd_semitones"],
          "syllable_rate": float(ans["n_syllables"].sum() / ans["speech_s"].sum()),
          "energy_db": audio_real["energy_db"],
          "pause_share": float(ans["pause_s"].sum() / (ans["end"] - ans["start"]).sum()),
          "smile_rate": face_real["smile_rate"], "smile_intensity": values["smile_intensity_target"],
          "au04_level": values["au04_level_target"], "au15_level": values["au15_level_target"],
          "au17_level": values["au17_level_target"], "blink_rate": face_real["blink_rate"],
          "woz_smile": face_real["woz_smile_rate"], "snr_db": audio_real["snr_db"],
          "clipped_share": audio_real["clipped_share"], "fps": face_real["fps"],
          "face_failure_share": face_real["face_failure_share"], "n_answers": len(ans),
          "n_questions": int((tl.turns["speaker"] == "interviewer").sum())}
    gt.update({k: v for k, v in values.items() if k.endswith("_target")})
    gt["woz_smile_rate_target"] = targets["woz_smile_rate"]
    turns = tl.turns[["speaker", "start", "end"]].copy()
    turns.insert(0, "participant_id", pid)
    return {"gt": gt, "turns": turns}


def _readme(summary: dict) -> str:
    doc = __doc__ or ""
    return (f"{SYNTHETIC_NOTE}\n\nSYNTHETIC cohort: {summary['participants']} participants, about "
            f"{summary['minutes']} min each, seed {summary['seed']}, depsev {__version__}.\n"
            "Files: labels/ and data/ are in the E-DAIC layout; ground_truth/ (this folder) holds what was "
            "planted: participants.csv (per participant, realised planted values and oracle_phq), "
            "turns.csv (interviewer and participant turn spans; transcripts list only participant turns), "
            "oracle.json (oracle and train-mean scores per split) and summary.json.\n\n"
            "How the cohort was made (module docstring of depsev.corpus.synthetic):\n\n" + doc)


#: The file ``generate_cohort`` writes into its folder before anything else; only a folder holding it
#: is ever emptied (``overwrite``): depsev deletes only what it wrote itself.
COHORT_MARKER = ".depsev-synthetic-cohort.json"
_COHORT_PARTS = ("labels", "data", "ground_truth")


def is_synthetic_cohort(out: str | Path) -> bool:
    """Whether ``out`` holds :data:`COHORT_MARKER` as :func:`generate_cohort` writes it (or, from depsev
    versions before the marker, its ``ground_truth/summary.json`` with the same generator)."""
    for marker in (Path(out) / COHORT_MARKER, Path(out) / "ground_truth" / "summary.json"):
        try:
            meta = json.loads(marker.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(meta, dict) and meta.get("generator") == "depsev.corpus.synthetic" \
                and meta.get("synthetic") is True:
            return True
    return False


def check_cohort_folder(out: str | Path) -> list[Path]:
    """The non-empty ``labels/``, ``data/``, ``ground_truth/`` of ``out`` (an earlier cohort).

    Raises ValueError when there are any and ``out`` has no :data:`COHORT_MARKER`: that is data
    depsev did not write (a real corpus, say), which it must neither delete nor mix a cohort into.
    Called when the workflow's DAG is built (``dataset.kind: demo``) and before writing a cohort.
    """
    out = Path(out)
    parts = [out / name for name in _COHORT_PARTS]
    stale = [p for p in parts if p.is_dir() and any(p.iterdir())]
    if stale and not is_synthetic_cohort(out):
        held = ", ".join(p.name + "/" for p in stale)
        raise ValueError(f"{out} holds {held} but no {COHORT_MARKER}: not a synthetic cohort written by "
                         "depsev (a real corpus?); depsev will neither delete nor write into it. Write the "
                         "demo cohort to another folder (dataset.root), or set dataset.kind to edaic / "
                         "daic-woz for a real corpus")
    return stale


def _prepare_out(out: Path, overwrite: bool) -> None:
    """Refuse (or, with ``overwrite``, remove) an earlier cohort: stale sessions must never mix in.
    Only a cohort depsev wrote (:func:`check_cohort_folder`) is ever removed."""
    import shutil

    stale = check_cohort_folder(out)
    if stale and not overwrite:
        raise ValueError(f"{out} already holds a cohort ({', '.join(p.name for p in stale)} not empty); "
                         "remove it first or pass overwrite=True")
    for p in stale:
        shutil.rmtree(p)


def generate_cohort(out: Path, participants: int = 40, minutes: float = 3.0, seed: int = 7, *,
                    overwrite: bool = False) -> dict:
    """Write a SYNTHETIC cohort in the E-DAIC layout under ``out``; return (and write) its summary.

    Deterministic for a seed (every session draws from its own ``(seed, id)`` generator).  Raises
    ValueError for fewer than 10 or more than :data:`MAX_PARTICIPANTS` participants, sessions
    shorter than 0.25 min, or an ``out`` that already holds a cohort (non-empty ``labels/``,
    ``data/`` or ``ground_truth/``) unless ``overwrite`` (which deletes those three folders first,
    and only when ``out`` holds the :data:`COHORT_MARKER` an earlier call wrote; without it: ValueError).
    """
    if not np.isfinite(minutes) or minutes < MIN_MINUTES:
        raise ValueError(f"minutes must be at least {MIN_MINUTES}, got {minutes!r}")
    out = Path(out)
    rng = np.random.default_rng(seed)
    cohort = draw_participants(participants, rng)  # validates `participants` before anything is written
    _prepare_out(out, overwrite)
    out.mkdir(parents=True, exist_ok=True)
    (out / COHORT_MARKER).write_text(json.dumps({
        "generator": "depsev.corpus.synthetic", "synthetic": True, "depsev_version": __version__,
        "participants": int(participants), "minutes": float(minutes), "seed": int(seed),
        "written": list(_COHORT_PARTS),
        "note": "depsev wrote this folder's labels/, data/ and ground_truth/ and may replace them"}) + "\n")
    items = {int(pid): phq_items(int(score), rng)
             for pid, score in zip(cohort["participant_id"], cohort["phq_score"], strict=True)}
    write_labels(out / "labels", cohort, items)
    sessions = [generate_session(out, row, minutes, seed) for _, row in cohort.iterrows()]
    gt = cohort.drop(columns=["gender_trailing_space"]).merge(
        pd.DataFrame([s["gt"] for s in sessions]), on="participant_id", validate="one_to_one")
    gt["oracle_phq"] = oracle_predict(gt)
    gt_dir = out / "ground_truth"
    gt_dir.mkdir(parents=True, exist_ok=True)
    gt.to_csv(gt_dir / "participants.csv", index=False)
    pd.concat([s["turns"] for s in sessions], ignore_index=True).round(3).to_csv(
        gt_dir / "turns.csv", index=False)
    report = oracle_report(gt)
    (gt_dir / "oracle.json").write_text(json.dumps(report, indent=2) + "\n")
    summary = _summary(cohort, participants, minutes, seed, report)
    (gt_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    (gt_dir / "README.txt").write_text(_readme(summary))
    return summary


def _summary(cohort: pd.DataFrame, participants: int, minutes: float, seed: int, report: dict) -> dict:
    splits = {}
    for split in SPLITS:
        part = cohort[cohort["split"] == split]
        bands = np.bincount([phq_band(s) for s in part["phq_score"]], minlength=N_BANDS)
        splits[split] = {"n": len(part), WOZ: int((part["interviewer"] == WOZ).sum()),
                         AI: int((part["interviewer"] == AI).sum()), "bands": bands.tolist(),
                         "participant_ids": part["participant_id"].astype(int).tolist()}
    mism = cohort[cohort["phq_binary_shipped"] != (cohort["phq_score"] >= BINARY_THRESHOLD).astype(int)]
    return {"synthetic": True, "description": SYNTHETIC_NOTE, "generator": "depsev.corpus.synthetic",
            "depsev_version": __version__, "participants": int(participants), "minutes": float(minutes),
            "seed": int(seed), "layout": "edaic", "sample_rate": AUDIO_SR, "splits": splits,
            "phq_binary_disagrees_with_score": mism["participant_id"].astype(int).tolist(),
            "gender_with_trailing_space": cohort.loc[cohort["gender_trailing_space"], "participant_id"]
            .astype(int).tolist(),
            "oracle_mae": {s: report["splits"][s]["oracle"]["mae"] for s in report["splits"]},
            "train_mean_mae": {s: report["splits"][s]["train_mean"]["mae"] for s in report["splits"]},
            "ground_truth": ["ground_truth/participants.csv", "ground_truth/turns.csv",
                             "ground_truth/oracle.json", "ground_truth/README.txt"]}
