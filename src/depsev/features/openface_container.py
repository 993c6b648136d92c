"""OpenFace 2.x ``FeatureExtraction`` for sessions that come with a video and no OpenFace CSV.

E-DAIC ships no video, so this runs only for new recordings or other corpora.  One function,
:func:`run_feature_extraction`, serves both callers: the workflow rule ``openface_extract`` and
``depsev predict --video``.  It starts FeatureExtraction with an argument list (never a shell line: a
video's name is data) in the container image pinned by digest in the configuration
(``openface.image``, default binary ``/home/openface-build/build/bin/FeatureExtraction``) through the
first container runtime found (``openface.runtime: auto``; or ``apptainer`` / ``singularity`` /
``docker``), or, with ``openface.runtime: none``, runs a FeatureExtraction installed on the machine
(``openface.binary``).  The tool's output goes to a log file; :func:`rename_to_edaic` gives its CSV
the E-DAIC file name so that the rest of the workflow treats it like a shipped file (its columns stay
OpenFace 2.x's: ``face_id`` and eye landmarks included; the reader in :mod:`depsev.corpus.openface`
handles both layouts).

``-au_static`` is NOT passed: without it OpenFace calibrates AU intensities per person over the
video (dynamic models), which is how E-DAIC's features were made.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from pathlib import Path

from depsev.errors import InputError

DEFAULT_BINARY = "/home/openface-build/build/bin/FeatureExtraction"
#: E-DAIC's name of a session's OpenFace file, ``<ID>_OpenFace2.1.0_Pose_gaze_AUs.csv``
EDAIC_OPENFACE_SUFFIX = "_OpenFace2.1.0_Pose_gaze_AUs.csv"
#: container runtimes that can run the pinned OpenFace image, in the order ``auto`` tries them
CONTAINER_RUNTIMES = ("apptainer", "singularity", "docker")
#: values of ``openface.runtime``: ``auto`` (first container runtime on PATH), one of them, or ``none``
#: (FeatureExtraction installed on this machine, ``openface.binary``)
RUNTIMES = ("auto", *CONTAINER_RUNTIMES, "none")
#: lines of the tool's log quoted in an error
LOG_TAIL_CHARS = 800


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


def container_command(runtime: str, video: Path, raw: Path, *, image: str,
                      binary: str | None = None) -> list[str]:
    """The argument list that runs FeatureExtraction (:func:`feature_extraction_command`) on ``video``
    into ``raw`` in ``image`` with ``runtime``.

    Absolute paths, symlinks resolved (a linked video's target folder is what must be visible in
    the container, and FeatureExtraction names its CSV after the target's stem).  ``docker``:
    ``docker run --rm --user UID:GID -v D:D ...`` for the video's folder and ``raw`` (``docker://``
    stripped from the image; run as the calling user so that the CSVs are not owned by root);
    ``apptainer`` / ``singularity``: ``exec --bind D,...`` (by default they see only
    $HOME, /tmp and the working directory).
    """
    video, raw = Path(video).resolve(), Path(raw).resolve()
    cmd = feature_extraction_command(video, raw, binary=binary or DEFAULT_BINARY)
    dirs = list(dict.fromkeys((str(video.parent), str(raw))))
    if runtime == "docker":
        mounts = [a for d in dirs for a in ("-v", f"{d}:{d}")]
        user = ["--user", f"{os.getuid()}:{os.getgid()}"] if hasattr(os, "getuid") else []
        return ["docker", "run", "--rm", *user, *mounts, image.removeprefix("docker://"), *cmd]
    return [runtime, "exec", "--bind", ",".join(dirs), image, *cmd]


def openface_command(video: str | Path, raw: str | Path, *, image: str | None, binary: str | None = None,
                     runtime: str = "auto") -> tuple[str, list[str]]:
    """``(runtime used, argument list)`` of one FeatureExtraction run of ``video`` into ``raw``.

    ``runtime``: one of :data:`RUNTIMES`.  Raises :class:`~depsev.errors.InputError` naming the video
    when no container runtime is found (``auto``), the one asked for is not on PATH, no image is
    given for a container, or ``none`` is asked without a FeatureExtraction on this machine.
    """
    video = Path(video)
    if runtime not in RUNTIMES:
        raise ValueError(f"openface.runtime must be one of {', '.join(RUNTIMES)}, not {runtime!r}")
    if runtime == "none":
        exe = binary or DEFAULT_BINARY
        found = shutil.which(exe)
        if found is None:
            raise InputError(video, f"openface.runtime is none but no FeatureExtraction at {exe!r} "
                                    "(openface.binary: the path of a local OpenFace 2.x build)")
        return "none", feature_extraction_command(video.resolve(), Path(raw).resolve(), binary=found)
    if runtime == "auto":
        runtime = next((r for r in CONTAINER_RUNTIMES if shutil.which(r)), "")
        if not runtime:
            raise InputError(video, "a video needs OpenFace 2.x FeatureExtraction, run in a container, "
                                    f"but no container runtime ({', '.join(CONTAINER_RUNTIMES)}) was "
                                    "found on PATH (or set openface.runtime: none and openface.binary to "
                                    "a FeatureExtraction installed here)")
    elif shutil.which(runtime) is None:
        raise InputError(video, f"openface.runtime is {runtime} but no {runtime} was found on PATH")
    if not image:
        raise InputError(video, "no OpenFace container image given (openface.image)")
    return runtime, container_command(runtime, video, Path(raw), image=image, binary=binary)


def run_feature_extraction(video: str | Path, dest_csv: str | Path, participant_id: int, *,
                           image: str | None, binary: str | None = None, runtime: str = "auto",
                           raw_dir: str | Path | None = None, log: str | Path | None = None) -> Path:
    """Run OpenFace 2.x FeatureExtraction on ``video`` (:func:`openface_command`) and move its CSV to
    ``dest_csv`` (named ``<ID>_OpenFace2.1.0_Pose_gaze_AUs.csv``, :func:`rename_to_edaic`); return it.

    The tool writes into ``raw_dir`` (default: ``raw/`` beside ``dest_csv``); its command and output
    go to ``log`` (default: ``FeatureExtraction.log`` in ``raw_dir``).  A failing run (the tail of
    the log is quoted) or no CSV written: :class:`~depsev.errors.InputError` naming the video.
    """
    video, dest = Path(video), Path(dest_csv)
    raw = Path(raw_dir) if raw_dir is not None else dest.parent / "raw"
    log = Path(log) if log is not None else raw / "FeatureExtraction.log"
    used, cmd = openface_command(video, raw, image=image, binary=binary, runtime=runtime)
    raw.mkdir(parents=True, exist_ok=True)
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w") as fh:
        fh.write("$ " + shlex.join(cmd) + "\n")
        fh.flush()
        code = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL).returncode
    if code != 0:
        tail = log.read_text(errors="replace").split("\n", 1)[-1].strip()[-LOG_TAIL_CHARS:] or "(no output)"
        raise InputError(video, f"OpenFace FeatureExtraction failed ({used}, exit {code}; log {log}): {tail}")
    try:
        # a linked video: FeatureExtraction names its CSV after the target (the command has it resolved)
        return rename_to_edaic(raw, video.resolve(), participant_id, dest)
    except InputError as exc:
        raise InputError(video, f"OpenFace FeatureExtraction ({used}) ran but {exc} (log {log})") from exc
