"""The generator's oracle: PHQ-8 predicted from the planted values with the stated effect sizes.

:func:`oracle_predict` is the posterior mean of the latent severity given every per-feature inversion
(fixed weights ``effect^2 / noise^2`` from :data:`~depsev.corpus.synthetic.effects.EFFECTS`, nothing
fitted); :func:`oracle_report` scores it and the train-mean predictor per split -- the content of
``ground_truth/oracle.json`` -- with :func:`regression_metrics`, which computes MAE, RMSE and CCC with
depsev's own :mod:`depsev.evaluate.metrics`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from depsev.constants import PHQ_MAX, SPLITS
from depsev.corpus.synthetic.effects import (
    EFFECTS,
    PRIOR_MEAN,
    PRIOR_SD,
    SYNTHETIC_NOTE,
    WOZ_SMILE_PEAK,
    WOZ_SMILE_RATE,
    WOZ_SMILE_SD,
)
from depsev.evaluate.metrics import ccc, mae, rmse


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
    """``n``, MAE, RMSE and Lin's CCC with population (ddof=0) variances, by :mod:`depsev.evaluate.metrics`.

    Its edge cases apply: empty or non-finite input raises InputError, and CCC is NaN with fewer than 2
    values or a truth and prediction both constant and equal.  Neither happens for a generated cohort:
    every split holds at least 2 participants with scores on both sides of 10.
    """
    y = np.asarray(y, float)
    return {"n": int(y.size), "mae": mae(y, pred), "rmse": rmse(y, pred), "ccc": ccc(y, pred)}


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
