"""Rule predict_summary: one row per new session (thin wrapper)."""

import _depsev  # noqa: F401 - puts the checkout's src/ on sys.path

from depsev.workflow import job

with job(snakemake):  # noqa: F821 - injected by Snakemake
    import json

    import pandas as pd

    from depsev.predict.result import summary_line

    sm = snakemake  # noqa: F821
    rows = []
    for f in sm.input.results:
        r = json.loads(open(f).read())
        rows.append({"session": f, "phq8": r["phq8"]["estimate"], "sigma": r["phq8"]["sigma"],
                     "band": r["band"]["label"], "at_risk": r["binary"]["at_risk"],
                     "low_confidence": r["low_confidence"], "modalities": ",".join(r["modalities_used"]),
                     "summary": summary_line(r)})
    pd.DataFrame(rows).to_csv(sm.output.summary, sep="\t", index=False)
