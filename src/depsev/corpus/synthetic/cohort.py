"""Who is in the SYNTHETIC cohort: splits, interviewer types, PHQ-8 scores, labels, planted targets.

:func:`plan_splits` sizes the splits per interviewer type (test AI-only); :func:`draw_participants`
draws the cohort table -- E-DAIC IDs per interviewer type, PHQ-8 scores in E-DAIC's band proportions
(:func:`allocate_bands`), gender, the shipped binary label with its planted disagreements, the PTSD
columns and the latent severity.  :func:`phq_items` splits a total into the eight PHQ-8 items;
:func:`plant_values` draws one participant's target of every planted effect.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from depsev.constants import (
    AI,
    AI_ID_RANGE,
    BAND_EDGES,
    BINARY_THRESHOLD,
    N_BANDS,
    PHQ_MAX,
    SPLITS,
    WOZ,
    WOZ_ID_RANGE,
)
from depsev.corpus.synthetic.effects import (
    EDAIC_BAND_COUNTS,
    EFFECTS,
    PRIOR_MEAN,
    PRIOR_SD,
    WOZ_SMILE_RATE,
    WOZ_SMILE_SD,
)

MIN_PARTICIPANTS = 10
#: the largest cohort whose AI-agent sessions still fit the E-DAIC AI ID range (600-718)
MAX_PARTICIPANTS = 298


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
