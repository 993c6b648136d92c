"""Bad sessions added to a SYNTHETIC cohort, as a careless or hostile corpus would hold them.

:func:`add_bad_sessions` copies one good session of the cohort under new participant IDs (labelled in
the split files, as a real corpus would label them) and breaks each copy in one way.  It returns, per
new ID, the text its QC row must hold: ``"ok"`` for odd input that depsev must read tolerantly (and
carry through the whole run), otherwise a piece of the manifest's ``flagged: ...`` reason.

Used by the whole-DAG run of tests/test_workflow.py: the run must complete with these sessions in the
corpus (``--keep-going`` off), each bad one a QC row with its reason, count in = ok + flagged.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf

OPENFACE = "features/{pid}_OpenFace2.1.0_Pose_gaze_AUs.csv"


def _wav(d: Path, pid: int) -> Path:
    return d / f"{pid}_AUDIO.wav"


def _transcript(d: Path, pid: int) -> Path:
    return d / f"{pid}_Transcript.csv"


def _openface(d: Path, pid: int) -> Path:
    return d / OPENFACE.format(pid=pid)


def _edit_openface(d: Path, pid: int, edit: Callable[[pd.DataFrame, str], None]) -> None:
    path = _openface(d, pid)
    of = pd.read_csv(path)
    stamp = next(c for c in of.columns if c.strip() == "timestamp")
    edit(of, stamp)
    of.to_csv(path, index=False)


def _set(column: str, value) -> Callable[[pd.DataFrame, str], None]:
    def edit(of: pd.DataFrame, _stamp: str) -> None:
        of[next(c for c in of.columns if c.strip() == column)] = value
    return edit


def _ms(of: pd.DataFrame, stamp: str) -> None:
    of[stamp] = of[stamp] * 1000.0


def _jump(of: pd.DataFrame, stamp: str) -> None:
    of.loc[len(of) // 2:, stamp] += 1000.0


def _backwards(of: pd.DataFrame, stamp: str) -> None:
    of.loc[10, stamp] = of.loc[9, stamp] - 1.0


def _rename(of: pd.DataFrame, _stamp: str) -> None:
    of.columns = ["AU12_intensity" if c.strip() == "AU12_r" else c for c in of.columns]


def _nan_samples(d: Path, pid: int) -> None:
    data, rate = sf.read(_wav(d, pid), dtype="float32")
    data[len(data) // 2] = np.nan
    sf.write(_wav(d, pid), data, rate, subtype="FLOAT")


def _short(d: Path, pid: int) -> None:
    data, rate = sf.read(_wav(d, pid), dtype="int16")
    sf.write(_wav(d, pid), data[: 3 * rate], rate, subtype="PCM_16")


def _truncate(d: Path, pid: int) -> None:
    data = _wav(d, pid).read_bytes()
    _wav(d, pid).write_bytes(data[: len(data) // 2])


def _latin1_text(d: Path, pid: int) -> None:
    # one latin-1 byte in the Text column, which no stage uses: read tolerantly, the session stays ok
    path = _transcript(d, pid)
    lines = path.read_bytes().split(b"\n")
    start, end, rest = lines[1].split(b",", 2)
    lines[1] = b",".join([start, end, b"caf\xe9 " + rest])
    path.write_bytes(b"\n".join(lines))


def _bad_start_time(d: Path, pid: int) -> None:
    path = _transcript(d, pid)
    lines = path.read_text().splitlines()
    lines[1] = "abc," + lines[1].split(",", 1)[1]
    path.write_text("\n".join(lines) + "\n")


#: how each added session is broken, and what its QC row must say ("ok": read tolerantly)
CASES: dict[str, tuple[Callable[[Path, int], None], str]] = {
    "audio missing": (lambda d, p: _wav(d, p).unlink(), "no audio file"),
    "audio not a wav": (lambda d, p: _wav(d, p).write_bytes(b"RIFF\x00\x00not a wav at all"), "audio:"),
    "audio truncated": (_truncate, "truncated"),
    "audio with a NaN sample": (_nan_samples, "NaN"),
    "audio too short": (_short, "audio"),
    "face never found": (lambda d, p: _edit_openface(d, p, _set("success", 0)), "face success share"),
    "face column renamed": (lambda d, p: _edit_openface(d, p, _rename), "openface:"),
    "face header only": (lambda d, p: _openface(d, p).write_text(
        _openface(d, p).read_text().splitlines()[0] + "\n"), "openface:"),
    "face file is binary": (lambda d, p: _openface(d, p).write_bytes(bytes(range(256)) * 8), "openface:"),
    "face timestamps go back": (lambda d, p: _edit_openface(d, p, _backwards), "openface:"),
    "face confidence above 1": (lambda d, p: _edit_openface(d, p, _set("confidence", 1.5)), "confidence"),
    "face clock in ms": (lambda d, p: _edit_openface(d, p, _ms), "face timestamps run to"),
    "face clock jumps 1000 s": (lambda d, p: _edit_openface(d, p, _jump), "jump by 1000 s"),
    "transcript start not a number": (_bad_start_time, "'abc'"),
    "transcript empty": (lambda d, p: _transcript(d, p).write_bytes(b""), "transcript"),
    "session folder gone": (lambda d, p: shutil.rmtree(d), "no session files"),
    "transcript text latin-1": (_latin1_text, "ok"),
}


def _copy_session(root: Path, src: int, pid: int) -> Path:
    """``src``'s session folder copied as participant ``pid`` (files renamed, contents as they are)."""
    src_dir = root / "data" / f"{src}_P"
    dst = root / "data" / f"{pid}_P"
    shutil.copytree(src_dir, dst)
    for f in sorted(dst.rglob(f"{src}_*")):
        f.rename(f.with_name(f"{pid}_" + f.name.split("_", 1)[1]))
    return dst


def _add_label(root: Path, split: str, pid: int, like: int) -> None:
    """A label row for ``pid`` in ``split``'s file (copied from ``like``'s row: same score)."""
    frames = {s: pd.read_csv(root / "labels" / f"{s}_split.csv", dtype=str) for s in ("train", "dev", "test")}
    every = pd.concat(frames.values())
    row = every.loc[every["Participant_ID"] == str(like)].iloc[[0]].copy()
    row["Participant_ID"] = str(pid)
    pd.concat([frames[split], row]).to_csv(root / "labels" / f"{split}_split.csv", index=False)
    detailed = root / "labels" / "Detailed_PHQ8_Labels.csv"
    if detailed.is_file():
        d = pd.read_csv(detailed, dtype=str)
        extra = d.loc[d["Participant_ID"] == str(like)].copy()
        extra["Participant_ID"] = str(pid)
        pd.concat([d, extra]).to_csv(detailed, index=False)


def add_bad_sessions(root: Path, unlabelled: bool = True) -> dict[int, tuple[str, str]]:
    """Add one broken copy of a good session per :data:`CASES` entry (plus, with ``unlabelled``, a
    session on disk without a label). Returns ``{participant_id: (case, expected QC text)}``.

    The copies are AI-agent sessions (IDs from 700 down, the test split is AI-only) spread over the
    three splits, so that every split's stages meet bad sessions."""
    labels = pd.concat([pd.read_csv(root / "labels" / f"{s}_split.csv") for s in ("train", "dev", "test")])
    taken = set(labels["Participant_ID"].astype(int)) | {
        int(p.name.split("_")[0]) for p in (root / "data").glob("*_P")}
    ai = sorted(int(p) for p in labels["Participant_ID"] if 600 <= int(p) <= 718)
    src = ai[0]
    free = (i for i in range(700, 599, -1) if i not in taken)
    splits = ("train", "dev", "test")
    added: dict[int, tuple[str, str]] = {}
    for k, (case, (breaker, expected)) in enumerate(CASES.items()):
        pid = next(free)
        d = _copy_session(root, src, pid)
        _add_label(root, splits[k % 3], pid, like=src)
        breaker(d, pid)
        added[pid] = (case, expected)
    if unlabelled:
        pid = next(free)
        _copy_session(root, src, pid)
        added[pid] = ("session without a label", "no label")
    return added
