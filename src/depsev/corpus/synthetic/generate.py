"""Writing the SYNTHETIC cohort: one session's files, then the whole cohort and its ground truth.

:func:`generate_session` draws one participant's planted values, timeline, voices, audio and face from
the session's own ``(seed, id)`` generator and writes its wav, transcript and OpenFace CSV;
:func:`generate_cohort` checks the folder (:func:`~depsev.corpus.synthetic.layout.check_cohort_folder`),
writes the marker, the labels and every session, then ``ground_truth/`` (participants.csv, turns.csv,
oracle.json, summary.json and a README.txt carrying the package docstring).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf

from depsev import __version__
from depsev.constants import AI, AUDIO_SR, BINARY_THRESHOLD, N_BANDS, SPLITS, WOZ, phq_band
from depsev.corpus.synthetic.cohort import draw_participants, phq_items, plant_values
from depsev.corpus.synthetic.effects import EFFECTS, SYNTHETIC_NOTE
from depsev.corpus.synthetic.face import synthesize_face
from depsev.corpus.synthetic.layout import (
    _COHORT_PARTS,
    COHORT_MARKER,
    _prepare_out,
    audio_path,
    openface_path,
    transcript_path,
    transcript_table,
    write_csv_fast,
    write_labels,
)
from depsev.corpus.synthetic.oracle import oracle_predict, oracle_report
from depsev.corpus.synthetic.speech import Voice, synthesize_audio
from depsev.corpus.synthetic.timeline import INTERVIEWER, PARTICIPANT, plan_timeline

MIN_MINUTES = 0.25


def _voices(row: pd.Series, values: dict[str, float], rng: np.random.Generator) -> dict[int, Voice]:
    female = row["gender"] == "female"
    # participant F0 ranges stay below the interviewer's 240 Hz agent voice
    f0 = float(np.clip(rng.normal(195, 12), 165, 215) if female else np.clip(rng.normal(115, 10), 90, 145))
    scale = (1.15 if female else 1.0) * float(np.exp(rng.normal(0, 0.03)))
    participant = Voice(f0, values["f0_sd_semitones_target"], scale, (90.0, 110.0, 160.0),
                        values["energy_db_target"])
    interviewer = Voice(240.0, 1.5, 1.24, (60.0, 80.0, 120.0), -24.0 + rng.normal(0, 1.0))
    return {PARTICIPANT: participant, INTERVIEWER: interviewer}


def _plan_session(row: pd.Series, minutes: float, seed: int):
    """The session's own generator, planted targets and values, duration and timeline (the first draws of
    :func:`generate_session`; also run for every session before anything is written, so that a
    session too short for one question and answer fails first, naming the participant)."""
    pid = int(row["participant_id"])
    rng = np.random.default_rng([seed, pid])
    targets = plant_values(float(row["latent_severity"]), row["interviewer"], rng)
    values = {f"{k}_target" if k != "woz_smile_rate" else k: v for k, v in targets.items()}
    duration = minutes * 60.0 * rng.uniform(0.97, 1.03)
    try:
        tl = plan_timeline(duration, values, row["interviewer"], rng)
    except ValueError as exc:
        raise ValueError(f"participant {pid}: {exc}; use longer sessions (minutes)") from exc
    return rng, targets, values, duration, tl


def generate_session(root: Path, row: pd.Series, minutes: float, seed: int) -> dict:
    """Write one session's wav, transcript and OpenFace CSV; return its ground-truth row."""
    pid = int(row["participant_id"])
    rng, targets, values, duration, tl = _plan_session(row, minutes, seed)
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
    from depsev.corpus import synthetic  # the package docstring: how the cohort was made

    doc = synthetic.__doc__ or ""
    return (f"{SYNTHETIC_NOTE}\n\nSYNTHETIC cohort: {summary['participants']} participants, about "
            f"{summary['minutes']} min each, seed {summary['seed']}, depsev {__version__}.\n"
            "Files: labels/ and data/ are in the E-DAIC layout; ground_truth/ (this folder) holds what was "
            "planted: participants.csv (per participant, realised planted values and oracle_phq), "
            "turns.csv (interviewer and participant turn spans; transcripts list only participant turns), "
            "oracle.json (oracle and train-mean scores per split) and summary.json.\n\n"
            "How the cohort was made (module docstring of depsev.corpus.synthetic):\n\n" + doc)


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
    for _, row in cohort.iterrows():  # and every session's timeline
        _plan_session(row, minutes, seed)
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
