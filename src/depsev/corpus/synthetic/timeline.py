"""The interview timeline of one session: interviewer questions, participant answers, syllables.

:func:`plan_timeline` alternates questions (one or two phrases at the agent's steady rate) and answers
(two to four phrases at the participant's planted syllable rate, with pauses making up the planted
pause share) with silent gaps between turns, until the session ends.  The :class:`Timeline` it returns
-- a flat syllable table plus the turn spans -- is what the audio, the face and the transcript follow.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from depsev.constants import AI

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
