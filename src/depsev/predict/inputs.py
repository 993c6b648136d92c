"""The inputs of one new session for ``depsev predict``: its recordings, found in a session folder
(E-DAIC / DAIC-WOZ / demo layout, :func:`depsev.corpus.sessions.find_sessions`) or given as files,
and its interviewer type.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from depsev.constants import INTERVIEWERS, interviewer_from_id
from depsev.errors import InputError


@dataclass(frozen=True)
class SessionInput:
    """The recordings of one new session (``None`` where absent)."""

    audio: Path | None = None
    openface: Path | None = None
    openface_pose: Path | None = None
    openface_gaze: Path | None = None
    video: Path | None = None
    transcript: Path | None = None
    participant_id: int | None = None

    @property
    def name(self) -> str:
        """File stem used for the work files (the participant ID when known)."""
        return str(self.participant_id) if self.participant_id is not None else "session"


def existing_file(path: str | Path | None, what: str) -> Path | None:
    """``path`` as a Path (``None`` stays ``None``); InputError ``<what> not found`` unless it is a file."""
    if path is None:
        return None
    p = Path(path)
    if not p.is_file():
        raise InputError(p, f"{what} not found")
    return p


def find_session_inputs(session_dir: str | Path | None = None, *, kind: str = "edaic",
                        audio: str | Path | None = None, openface: str | Path | None = None,
                        video: str | Path | None = None, transcript: str | Path | None = None,
                        participant_id: int | None = None) -> SessionInput:
    """The inputs of one session: files found in ``session_dir`` (``kind`` layout: demo | edaic |
    daic-woz, exactly one session inside), overridden by the explicit files given."""
    found: dict[str, Any] = {}
    if session_dir is not None:
        from depsev.corpus.sessions import find_sessions

        sessions = find_sessions(session_dir, kind)
        if len(sessions) != 1:
            raise InputError(session_dir, f"expected one session in {kind} layout, found "
                                          f"{len(sessions)} ({sorted(sessions)[:5]})")
        s = next(iter(sessions.values()))
        found = {"audio": s.audio, "openface": s.openface, "openface_pose": s.openface_pose,
                 "openface_gaze": s.openface_gaze, "video": s.video, "transcript": s.transcript,
                 "participant_id": s.participant_id}
    given = {"audio": audio, "openface": openface, "video": video, "transcript": transcript}
    found.update({k: v for k, v in given.items() if v is not None})
    if participant_id is not None:
        found["participant_id"] = int(participant_id)
    inputs = SessionInput(
        audio=existing_file(found.get("audio"), "audio file"),
        openface=existing_file(found.get("openface"), "OpenFace CSV"),
        openface_pose=existing_file(found.get("openface_pose"), "pose file"),
        openface_gaze=existing_file(found.get("openface_gaze"), "gaze file"),
        video=existing_file(found.get("video"), "video file"),
        transcript=existing_file(found.get("transcript"), "transcript"),
        participant_id=found.get("participant_id"))
    if inputs.audio is None and inputs.openface is None and inputs.video is None:
        raise InputError(session_dir, "no recording: give a wav and/or an OpenFace CSV (or a video)")
    return inputs


def resolve_interviewer(interviewer: str | None, inputs: SessionInput) -> str:
    """The session's interviewer type: the one given, else the E-DAIC range of its participant ID;
    InputError when neither says."""
    if interviewer is not None:
        if interviewer not in INTERVIEWERS:
            raise InputError(None, f"interviewer must be one of {INTERVIEWERS}, got {interviewer!r}")
        return interviewer
    if inputs.participant_id is not None:
        try:
            return interviewer_from_id(inputs.participant_id)
        except ValueError:
            pass
    raise InputError(None, "give the interviewer type of the session (woz = human-controlled, ai = "
                           "autonomous agent): the model's experts and gate depend on it")
