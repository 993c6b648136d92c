"""The SYNTHETIC E-DAIC cohort generator: layout, formats, quirks, planted effects, oracle, determinism.

One small cohort (30 participants x 1 min) is generated once for the module; the determinism test
generates two tiny ones of its own.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from scipy.stats import pearsonr, spearmanr

from depsev.constants import (
    AI,
    AI_ID_RANGE,
    AU_IDS_INTENSITY,
    AU_INTENSITY,
    EDAIC_OPENFACE_COLUMNS,
    FACE_FEATURES,
    GAZE,
    WOZ,
    WOZ_ID_RANGE,
)
from depsev.corpus import synthetic as syn

N, MINUTES, SEED = 30, 1.0, 11


@pytest.fixture(scope="module")
def cohort(tmp_path_factory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("synthetic") / "cohort"
    summary = syn.generate_cohort(root, participants=N, minutes=MINUTES, seed=SEED)
    return root, summary


@pytest.fixture(scope="module")
def gt(cohort) -> pd.DataFrame:
    return pd.read_csv(cohort[0] / "ground_truth" / "participants.csv")


@pytest.fixture(scope="module")
def measured(cohort, gt) -> pd.DataFrame:
    """Per participant, what a plain reader measures in the FILES (not the ground truth)."""
    root = cohort[0]
    rows = []
    for pid in gt["participant_id"]:
        face = pd.read_csv(syn.openface_path(root, pid))
        ok = face["success"] == 1
        wav, sr = sf.read(syn.audio_path(root, pid), dtype="float64")
        tr = pd.read_csv(syn.transcript_path(root, pid))
        energy, pause = _speech_stats(wav, sr, tr)
        rows.append({"participant_id": pid, "au12_mean": face.loc[ok, "AU12_r"].mean(),
                     "energy_db": energy, "pause_share": pause})
    return gt.merge(pd.DataFrame(rows), on="participant_id", suffixes=("_gt", ""))


def _frame_db(wav: np.ndarray, sr: int, frame_s: float = 0.02) -> np.ndarray:
    hop = int(sr * frame_s)
    n = wav.size // hop
    power = np.mean(wav[: n * hop].reshape(n, hop) ** 2, axis=1)
    return 10 * np.log10(power + 1e-12)


def _speech_stats(wav: np.ndarray, sr: int, tr: pd.DataFrame) -> tuple[float, float]:
    """Speech level (dB, non-pause frames) and pause share inside the transcript rows.

    A pause is a run of at least 200 ms of 20-ms frames within 8 dB of the file's noise floor.
    """
    db = _frame_db(wav, sr)
    floor = np.percentile(db, 5)
    t = np.arange(db.size) * 0.02
    speech_db, pause_frames, total = [], 0, 0
    for start, end in zip(tr["Start_Time"], tr["End_Time"], strict=True):
        seg = db[(t >= start) & (t + 0.02 <= end)]
        quiet = seg < floor + 8
        runs = np.diff(np.concatenate([[0], quiet.astype(int), [0]]))
        starts, ends = np.flatnonzero(runs == 1), np.flatnonzero(runs == -1)
        long = np.zeros(seg.size, bool)
        for a, b in zip(starts, ends, strict=True):
            if b - a >= 10:
                long[a:b] = True
        pause_frames += long.sum()
        total += seg.size
        speech_db.append(seg[~long])
    voiced = np.concatenate(speech_db)
    return float(10 * np.log10(np.mean(10 ** (voiced / 10)))), pause_frames / total


# ------------------------------------------------------------------ layout and formats


def test_layout_and_headers(cohort, gt):
    root, _ = cohort
    for split in ("train", "dev", "test"):
        header = (root / "labels" / f"{split}_split.csv").read_text().splitlines()[0]
        assert header == "Participant_ID,Gender,PHQ_Binary,PHQ_Score,PCL-C (PTSD),PTSD Severity"
    detailed = (root / "labels" / "Detailed_PHQ8_Labels.csv").read_text().splitlines()[0]
    assert detailed == "Participant_ID," + ",".join(syn.PHQ8_ITEMS) + ",PHQ_8Total"
    for pid in gt["participant_id"]:
        face_header = syn.openface_path(root, pid).read_text().split("\n", 1)[0]
        assert face_header.split(",") == EDAIC_OPENFACE_COLUMNS
        assert len(EDAIC_OPENFACE_COLUMNS) == 53
        tr = pd.read_csv(syn.transcript_path(root, pid))
        assert list(tr.columns) == ["Start_Time", "End_Time", "Text", "Confidence"]
        assert tr["Confidence"].between(0.8, 1.0).all() and (tr["End_Time"] > tr["Start_Time"]).all()
        assert syn.audio_path(root, pid).is_file()
    data_dirs = sorted(p.name for p in (root / "data").iterdir())
    assert data_dirs == sorted(f"{pid}_P" for pid in gt["participant_id"])


def test_wav_format_and_duration(cohort, gt):
    root, _ = cohort
    for pid, dur in zip(gt["participant_id"], gt["duration_s"], strict=True):
        info = sf.info(str(syn.audio_path(root, pid)))
        assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16")
        assert abs(info.duration - MINUTES * 60) <= 0.031 * MINUTES * 60
        assert info.duration == pytest.approx(dur, abs=1e-3)


def test_openface_content(cohort, gt):
    root, _ = cohort
    for pid in gt["participant_id"]:
        face = pd.read_csv(syn.openface_path(root, pid))
        fps = (len(face) - 1) / (face["timestamp"].iloc[-1] - face["timestamp"].iloc[0])
        assert 27.9 <= fps <= 32.1
        assert (face["frame"].to_numpy() == np.arange(1, len(face) + 1)).all()
        assert np.all(np.diff(face["timestamp"]) > 0)
        failed = face["success"] == 0
        assert 0.015 <= failed.mean() <= 0.07  # 2-5 % planted in bursts of 5-60 frames
        assert (face.loc[failed, FACE_FEATURES] == 0).all().all()
        assert (face.loc[failed, "confidence"] < 0.2).all()
        assert ((face["confidence"] < 0.75) & ~failed).any()  # low-confidence frames next to bursts
        assert face[AU_INTENSITY].min().min() >= 0 and face[AU_INTENSITY].max().max() <= 5
        for a in AU_IDS_INTENSITY:  # presence consistent with intensity
            assert ((face[f"AU{a}_r"] >= 1.0) == (face[f"AU{a}_c"] == 1)).all()
        assert set(np.unique(face["AU28_c"])) <= {0, 1}
        ok = face.loc[~failed]
        for eye in ("0", "1"):
            norm = np.sqrt(sum(ok[f"gaze_{eye}_{c}"] ** 2 for c in "xyz"))
            assert np.allclose(norm, 1, atol=2e-5)
        assert ok["pose_Tz"].between(300, 1000).all()
        assert ok[["pose_Rx", "pose_Ry", "pose_Rz"]].abs().max().max() < 1
        assert ok[GAZE[-2:]].abs().max().max() < 1.2


def test_transcripts_cover_only_participant_turns(cohort, gt):
    root, _ = cohort
    turns = pd.read_csv(root / "ground_truth" / "turns.csv")
    for pid in gt["participant_id"]:
        tr = pd.read_csv(syn.transcript_path(root, pid))
        mine = turns[turns["participant_id"] == pid]
        asked = mine[mine["speaker"] == "interviewer"]
        answered = mine[mine["speaker"] == "participant"]
        assert len(asked) >= 1 and len(tr) == len(answered)
        np.testing.assert_allclose(tr["Start_Time"], answered["start"], atol=2e-3)
        for start, end in zip(asked["start"], asked["end"], strict=True):
            assert not ((tr["Start_Time"] < end) & (tr["End_Time"] > start)).any()
        wav, sr = sf.read(syn.audio_path(root, pid), dtype="float64")
        db = _frame_db(wav, sr)
        floor = np.percentile(db, 5)
        for start, end in zip(asked["start"], asked["end"], strict=True):  # the interviewer is audible
            seg = db[int(start / 0.02): int(end / 0.02)]
            assert np.percentile(seg, 75) > floor + 12


# ------------------------------------------------------------------ labels, IDs, splits


def test_ids_splits_and_interviewers(cohort, gt):
    root, summary = cohort
    splits = {s: pd.read_csv(root / "labels" / f"{s}_split.csv") for s in ("train", "dev", "test")}
    ids = {s: set(df["Participant_ID"]) for s, df in splits.items()}
    assert sum(len(v) for v in ids.values()) == len(set().union(*ids.values())) == N
    is_ai = {s: {AI_ID_RANGE[0] <= i <= AI_ID_RANGE[1] for i in v} for s, v in ids.items()}
    assert is_ai["test"] == {True}
    assert is_ai["train"] == {True, False} and is_ai["dev"] == {True, False}
    for pid, kind in zip(gt["participant_id"], gt["interviewer"], strict=True):
        lo, hi = WOZ_ID_RANGE if kind == WOZ else AI_ID_RANGE
        assert lo <= pid <= hi
    for s, df in splits.items():
        assert df["PHQ_Score"].between(0, 24).all()
        assert df["PHQ_Score"].min() < 10 <= df["PHQ_Score"].max(), s  # spread in every split
        assert summary["splits"][s]["n"] == len(df)
    assert summary["synthetic"] is True and "SYNTHETIC" in summary["description"]
    assert "SYNTHETIC" in (root / "ground_truth" / "README.txt").read_text()


def test_label_quirks(cohort):
    root, summary = cohort
    labels = pd.concat([pd.read_csv(root / "labels" / f"{s}_split.csv") for s in ("train", "dev", "test")])
    assert labels["Gender"].str.endswith(" ").any()
    assert set(labels["Gender"].str.strip()) <= {"male", "female"}
    derived = (labels["PHQ_Score"] >= 10).astype(int)
    wrong = labels[labels["PHQ_Binary"] != derived]
    assert len(wrong) >= 1 and (wrong["PHQ_Binary"] == 0).all() and (wrong["PHQ_Score"] >= 10).all()
    assert sorted(wrong["Participant_ID"]) == sorted(summary["phq_binary_disagrees_with_score"])


def test_phq8_items_sum_to_totals(cohort):
    root, _ = cohort
    detailed = pd.read_csv(root / "labels" / "Detailed_PHQ8_Labels.csv")
    items = detailed[syn.PHQ8_ITEMS]
    assert items.isin([0, 1, 2, 3]).all().all()
    assert (items.sum(axis=1) == detailed["PHQ_8Total"]).all()
    known = pd.concat([pd.read_csv(root / "labels" / f"{s}_split.csv") for s in ("train", "dev")])
    merged = known.merge(detailed, on="Participant_ID", validate="one_to_one")
    assert len(merged) == len(known) == len(detailed)  # train + dev only
    assert (merged["PHQ_Score"] == merged["PHQ_8Total"]).all()


@pytest.mark.parametrize("n", [10, 11, 17, 40, 100, 275, syn.MAX_PARTICIPANTS])
def test_plan_splits_proportions(n):
    plan = syn.plan_splits(n)
    assert sum(v for p in plan.values() for v in p.values()) == n
    assert plan["test"][WOZ] == 0 and plan["test"][AI] >= 2
    assert plan["train"][AI] >= 2 and plan["dev"][AI] >= 1 and plan["dev"][WOZ] >= 1
    assert plan["train"][WOZ] > plan["train"][AI]
    assert 0.5 <= (plan["train"][WOZ] + plan["train"][AI]) / n <= 0.7


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="at least 10"):
        syn.generate_cohort(tmp_path / "a", participants=9)
    with pytest.raises(ValueError, match="ID ranges|IDs"):
        syn.generate_cohort(tmp_path / "b", participants=syn.MAX_PARTICIPANTS + 1)
    with pytest.raises(ValueError, match="minutes"):
        syn.generate_cohort(tmp_path / "c", participants=10, minutes=0.1)
    # 0.25 min is allowed, but with seed 2 one session's draws leave no room for an answer: refused
    # before anything is written (it used to fail after the labels and some sessions were)
    with pytest.raises(ValueError, match=r"participant \d+: session of .* too short"):
        syn.generate_cohort(tmp_path / "d", participants=10, minutes=0.25, seed=2)
    assert not any(tmp_path.iterdir())  # nothing written for rejected arguments


def test_refuses_to_mix_with_an_earlier_cohort(tmp_path):
    out = tmp_path / "cohort"
    (out / "ground_truth").mkdir(parents=True)  # an empty folder (as Snakemake makes for its output) is fine
    syn.generate_cohort(out, participants=10, minutes=0.25)
    (out / "data" / "999_P").mkdir()
    with pytest.raises(ValueError, match="already holds a cohort"):
        syn.generate_cohort(out, participants=10, minutes=0.25)
    syn.generate_cohort(out, participants=10, minutes=0.25, overwrite=True)
    assert not (out / "data" / "999_P").exists()
    assert len(list((out / "data").iterdir())) == 10


def test_never_deletes_or_writes_into_a_folder_it_did_not_write(tmp_path):
    """A real corpus (no marker) is neither emptied by overwrite nor mixed with a cohort."""
    corpus = tmp_path / "E-DAIC"
    (corpus / "labels").mkdir(parents=True)
    (corpus / "labels" / "train_split.csv").write_text("Participant_ID,PHQ_Score\n300,4\n")
    (corpus / "data" / "300_P").mkdir(parents=True)
    (corpus / "notes.txt").write_text("mine")
    for overwrite in (False, True):
        with pytest.raises(ValueError, match=r"E-DAIC holds labels/, data/ but no \.depsev-synthetic"):
            syn.generate_cohort(corpus, participants=10, minutes=0.25, overwrite=overwrite)
    assert (corpus / "labels" / "train_split.csv").is_file() and (corpus / "data" / "300_P").is_dir()
    assert (corpus / "notes.txt").read_text() == "mine" and not syn.is_synthetic_cohort(corpus)
    # a marker that is not depsev's (or not JSON) does not count
    (corpus / syn.COHORT_MARKER).write_text("{}")
    with pytest.raises(ValueError, match="no .depsev-synthetic"):
        syn.check_cohort_folder(corpus)
    # a cohort of a depsev version before the marker: its ground_truth/summary.json says so
    (corpus / syn.COHORT_MARKER).unlink()
    (corpus / "ground_truth").mkdir()
    (corpus / "ground_truth" / "summary.json").write_text(
        json.dumps({"synthetic": True, "generator": "depsev.corpus.synthetic"}))
    assert syn.is_synthetic_cohort(corpus)
    # its own cohort: marked, and replaced on request
    own = tmp_path / "own"
    syn.generate_cohort(own, participants=10, minutes=0.25)
    assert syn.is_synthetic_cohort(own) and syn.check_cohort_folder(own)
    (own / "keep.txt").write_text("not a cohort part")
    syn.generate_cohort(own, participants=10, minutes=0.25, seed=3, overwrite=True)
    assert (own / "keep.txt").is_file()  # only labels/, data/, ground_truth/ are replaced


def test_phq_items_unit():
    rng = np.random.default_rng(0)
    for total in range(25):
        items = syn.phq_items(total, rng)
        assert items.sum() == total and items.min() >= 0 and items.max() <= 3
    with pytest.raises(ValueError):
        syn.phq_items(25, rng)


# ------------------------------------------------------------------ planted effects, measured in the files


def test_smiles_fall_with_phq_within_each_interviewer(measured):
    for kind in (WOZ, AI):
        part = measured[measured["interviewer"] == kind]
        assert len(part) >= 8
        rho, _ = spearmanr(part["phq_score"], part["au12_mean"])
        assert rho < 0, (kind, rho)
    # pooled within interviewer type (AU12 centred per type): clearly negative
    centred = measured["au12_mean"] - measured.groupby("interviewer")["au12_mean"].transform("mean")
    assert spearmanr(measured["phq_score"], centred)[0] < -0.3


def test_woz_sessions_smile_more_at_equal_phq(measured):
    x = np.column_stack([np.ones(len(measured)), measured["phq_score"],
                         (measured["interviewer"] == WOZ).astype(float)])
    coef, *_ = np.linalg.lstsq(x, measured["au12_mean"].to_numpy(), rcond=None)
    assert coef[1] < 0  # fewer smiles with severity
    assert coef[2] > 0.03  # polite WoZ smiling, independent of PHQ
    assert spearmanr(measured["woz_smile"], measured["phq_score"])[0] < 0.5


def test_speech_energy_and_pauses_move_as_planted(measured):
    assert pearsonr(measured["energy_db"], measured["energy_db_gt"])[0] > 0.9
    assert spearmanr(measured["energy_db"], measured["phq_score"])[0] < 0
    assert pearsonr(measured["pause_share"], measured["pause_share_gt"])[0] > 0.8
    assert spearmanr(measured["pause_share"], measured["phq_score"])[0] > 0


def test_planted_values_have_the_stated_effects():
    rng = np.random.default_rng(1)
    z = rng.uniform(-1.0, 1.0, 4000)  # a range where clipping is rare
    vals = pd.DataFrame([syn.plant_values(zz, AI, rng) for zz in z])
    assert (vals["woz_smile_rate"] == 0).all()
    for e in syn.EFFECTS:
        slope = np.polyfit(z, vals[e.name], 1)[0]
        assert slope == pytest.approx(e.per_sd, rel=0.25, abs=0.02 * e.noise_sd), e.name
        resid = vals[e.name] - (e.base + e.per_sd * z)
        assert resid.std() == pytest.approx(e.noise_sd, rel=0.1), e.name
    woz = pd.DataFrame([syn.plant_values(zz, WOZ, rng) for zz in z[:500]])
    assert abs(np.corrcoef(z[:500], woz["woz_smile_rate"])[0, 1]) < 0.15


def test_ground_truth_realises_the_targets(gt):
    for name in ("smile_rate", "syllable_rate", "pause_share", "energy_db", "f0_sd_semitones", "blink_rate"):
        assert pearsonr(gt[name], gt[f"{name}_target"])[0] > 0.85, name
    assert (gt.loc[gt["interviewer"] == AI, "woz_smile"] == 0).all()
    assert (gt.loc[gt["interviewer"] == WOZ, "woz_smile"] > 0).all()


def test_oracle_beats_mean_but_is_not_perfect(cohort, gt):
    root, _ = cohort
    report = json.loads((root / "ground_truth" / "oracle.json").read_text())
    assert report["synthetic"] is True and len(report["effects"]) == len(syn.EFFECTS)
    np.testing.assert_allclose(gt["oracle_phq"], syn.oracle_predict(gt), atol=1e-9)
    overall = report["splits"]["all"]
    assert 0.3 < overall["oracle"]["mae"] / overall["train_mean"]["mae"] < 0.85
    recomputed = syn.regression_metrics(gt["phq_score"], gt["oracle_phq"])
    assert recomputed["ccc"] == pytest.approx(overall["oracle"]["ccc"])
    assert overall["train_mean"]["ccc"] == pytest.approx(0.0)


def test_docstring_carries_the_effect_table():
    assert syn.effect_table() in (syn.__doc__ or "")


def test_regression_metrics_population_ccc():
    y = np.array([0.0, 5, 10, 20])
    assert syn.regression_metrics(y, y) == {"n": 4, "mae": 0.0, "rmse": 0.0, "ccc": pytest.approx(1.0)}
    p = y + 2
    m = syn.regression_metrics(y, p)
    expected = 2 * np.var(y) / (2 * np.var(y) + 4)
    assert m["mae"] == 2 and m["ccc"] == pytest.approx(expected)


# ------------------------------------------------------------------ determinism


def _digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_deterministic_for_a_seed(tmp_path):
    a = syn.generate_cohort(tmp_path / "a", participants=10, minutes=0.25, seed=5)
    b = syn.generate_cohort(tmp_path / "b", participants=10, minutes=0.25, seed=5)
    syn.generate_cohort(tmp_path / "c", participants=10, minutes=0.25, seed=6)
    assert a == b
    da, db, dc = _digest(tmp_path / "a"), _digest(tmp_path / "b"), _digest(tmp_path / "c")
    assert da == db
    assert da != dc
    assert set(da.values()).isdisjoint(dc.values())


# ------------------------------------------------------------------ read back with the corpus readers


def test_readers_read_the_cohort(cohort, gt):
    labels = pytest.importorskip("depsev.corpus.labels")
    openface = pytest.importorskip("depsev.corpus.openface")
    transcripts = pytest.importorskip("depsev.corpus.transcripts")
    sessions = pytest.importorskip("depsev.corpus.sessions")
    root, _ = cohort
    lab = labels.read_labels(root, "demo")
    merged = lab.merge(gt, on="participant_id", suffixes=("", "_gt"), validate="one_to_one")
    assert len(merged) == N
    assert (merged["phq_score"] == merged["phq_score_gt"]).all()
    assert (merged["split"] == merged["split_gt"]).all()
    assert (merged["phq_binary"] == (merged["phq_score"] >= 10)).all()
    assert set(merged["gender"]) <= {"male", "female"}
    detailed = labels.read_detailed_phq8(root / "labels" / "Detailed_PHQ8_Labels.csv")
    assert len(detailed) == (gt["split"] != "test").sum()
    found = sessions.find_sessions(root, "demo")
    assert sorted(found) == sorted(gt["participant_id"])
    pid = int(gt["participant_id"].iloc[0])
    files = found[pid]
    info = sessions.audio_info(files.audio)
    assert (info["sample_rate"], info["channels"]) == (16000, 1)
    face = openface.read_openface(files.openface)
    assert face.attrs["openface_format"] == "edaic"
    assert list(face.columns[4:]) == FACE_FEATURES and len(face) > 1000
    tr = transcripts.read_transcript(files.transcript)
    assert set(tr["speaker"]) == {"participant"} and len(tr) >= 1
