"""OpenFace 2.x ``FeatureExtraction`` for sessions that come with a video and no OpenFace CSV.

E-DAIC ships no video, so this runs only for new recordings or other corpora.  The Snakemake rule
``openface_extract`` runs the command below inside the container image pinned by digest in the
configuration (``openface.image``, default binary ``/home/openface-build/build/bin/FeatureExtraction``),
then :func:`rename_to_edaic` gives the output the E-DAIC file name so that the rest of the workflow
treats it like a shipped file (its columns stay OpenFace 2.x's: ``face_id`` and eye landmarks
included; the reader in :mod:`depsev.corpus.openface` handles both layouts).

``-au_static`` is NOT passed: without it OpenFace calibrates AU intensities per person over the
video (dynamic models), which is how E-DAIC's features were made.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from depsev.errors import InputError

DEFAULT_BINARY = "/home/openface-build/build/bin/FeatureExtraction"
#: E-DAIC's name of a session's OpenFace file, ``<ID>_OpenFace2.1.0_Pose_gaze_AUs.csv``
EDAIC_OPENFACE_SUFFIX = "_OpenFace2.1.0_Pose_gaze_AUs.csv"


def feature_extraction_command(video: str | Path, out_dir: str | Path, *,
                               binary: str = DEFAULT_BINARY) -> list[str]:
    """Argument list of one FeatureExtraction run: pose, gaze and AUs of ``video`` into ``out_dir``."""
    return [str(binary), "-f", str(video), "-pose", "-gaze", "-aus", "-out_dir", str(out_dir)]


def edaic_openface_name(participant_id: int) -> str:
    """``<ID>_OpenFace2.1.0_Pose_gaze_AUs.csv`` for a participant ID."""
    return f"{int(participant_id)}{EDAIC_OPENFACE_SUFFIX}"


def rename_to_edaic(out_dir: str | Path, video: str | Path, participant_id: int,
                    dest_csv: str | Path) -> Path:
    """Move FeatureExtraction's ``<video stem>.csv`` from ``out_dir`` to ``dest_csv``; return it.

    ``dest_csv`` must carry the E-DAIC name of ``participant_id`` (``<ID>_OpenFace2.1.0_Pose_gaze_AUs.csv``);
    its folder is created.  Raises :class:`~depsev.errors.InputError` naming ``out_dir`` when the
    CSV is missing or empty (FeatureExtraction failed or wrote elsewhere).
    """
    out_dir, dest = Path(out_dir), Path(dest_csv)
    expected = edaic_openface_name(participant_id)
    if dest.name != expected:
        raise ValueError(f"dest_csv {dest} must be named {expected} (participant {participant_id})")
    produced = out_dir / f"{Path(video).stem}.csv"
    if not produced.is_file():
        found = sorted(p.name for p in out_dir.glob("*.csv")) if out_dir.is_dir() else []
        raise InputError(out_dir, f"FeatureExtraction wrote no {produced.name} for video {Path(video).name} "
                                  f"(CSV files there: {found or 'none'})")
    if produced.stat().st_size == 0:
        raise InputError(out_dir, f"{produced.name} is empty: FeatureExtraction found no frames")
    dest.parent.mkdir(parents=True, exist_ok=True)
    return Path(shutil.move(str(produced), str(dest)))
