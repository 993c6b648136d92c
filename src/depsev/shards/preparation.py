"""The feature preparation, carried forward from the feature files to the shards and the checkpoint.

Provenance flows forward only; each stage reads the stage before it:

1. each feature stage records its settings in its file's ``depsev`` metadata: ``audio_clean`` in the
   segments table, which VGGish copies into its own file under ``audio_clean``
   (:func:`depsev.features.io.audio_clean_settings`) with its weights mode / file / sha256 / path;
   ``face_frames`` its confidence threshold and the OpenFace image / binary of the workflow;
   ``normalize_apply`` keeps the metadata of the file it normalizes;
2. the shard stage reads these settings from the files it chunks (:func:`session_preparation`,
   :class:`PreparationCollector`), adds its own ``min_coverage``, and writes them into the shard
   metadata under :data:`PREPARATION_KEY`; sessions of one shard set prepared differently are refused;
3. training reads the preparation of its train and dev shards (:func:`merge_splits`; shards that
   disagree are refused) and records it once, in ``config.json["features"]["preparation"]``;
4. ``depsev predict`` reads that one key (:mod:`depsev.predict.contract`).

The settings are named after the arguments of :func:`depsev.predict.session.predict_session`:
``segmentation``, ``denoise``, ``normalize_audio`` (audio_clean), ``vggish_weights_mode`` /
``vggish_weights_file`` / ``vggish_weights_sha256`` (pretrained weights only) / ``vggish_weights_path``,
``confidence_threshold``, ``openface_image`` / ``openface_binary`` (face), ``min_coverage`` (chunking).
Two more keys count sessions: ``segmentation_used`` (sessions per segmentation actually used:
transcript / vad / none) and ``sessions`` (sessions whose feature files were read).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from depsev.errors import InputError

#: key of the preparation in the shard metadata and in ``config.json["features"]``
PREPARATION_KEY = "preparation"
#: the settings each stream's feature files carry
STREAM_SETTINGS: dict[str, tuple[str, ...]] = {
    "audio": ("segmentation", "denoise", "normalize_audio", "vggish_weights_mode", "vggish_weights_file",
              "vggish_weights_sha256", "vggish_weights_path", "vggish_precision"),
    "video": ("confidence_threshold", "openface_image", "openface_binary"),
}
#: keys that count sessions (summed, never compared)
COUNT_KEYS = ("segmentation_used", "sessions")


def vggish_weights(prep: Mapping[str, Any]) -> dict[str, Any] | None:
    """``{"weights_mode", "weights_file"}`` of a preparation (``None``: no VGGish weights recorded)."""
    if not prep.get("vggish_weights_mode"):
        return None
    return {"weights_mode": prep["vggish_weights_mode"], "weights_file": prep.get("vggish_weights_file")}


def session_preparation(stream: str, meta: Mapping[str, Any]) -> tuple[dict[str, Any], str | None]:
    """``(settings, segmentation used)`` recorded in the metadata of one session's feature file of
    ``stream`` (``audio``: a VGGish file; ``video``: a face file; normalized copies carry the same)."""
    out: dict[str, Any] = {}
    used = None
    if stream == "audio":
        mode = meta.get("weights_mode")
        if mode:
            out.update(vggish_weights_mode=mode, vggish_weights_file=meta.get("weights_file"))
            if mode == "pretrained" and meta.get("sha256"):
                out["vggish_weights_sha256"] = meta["sha256"]
            if mode == "pretrained" and meta.get("weights_path"):
                out["vggish_weights_path"] = meta["weights_path"]
            if meta.get("precision"):
                out["vggish_precision"] = str(meta["precision"])
        clean = meta.get("audio_clean") or {}
        for key in ("segmentation", "denoise", "normalize_audio"):
            if clean.get(key) is not None:
                out[key] = clean[key]
        used = clean.get("segmentation_used") or None
    elif stream == "video":
        if meta.get("confidence_threshold") is not None:
            out["confidence_threshold"] = float(meta["confidence_threshold"])
        for key in ("openface_image", "openface_binary"):
            if meta.get(key):
                out[key] = str(meta[key])
    else:
        raise ValueError(f"stream must be 'audio' or 'video', got {stream!r}")
    return out, used


class PreparationCollector:
    """Collects the settings of the sessions of one shard set; a setting on which two sessions
    disagree is refused (:class:`~depsev.errors.InputError` naming the setting and a file of each)."""

    def __init__(self) -> None:
        self.values: dict[str, tuple[Any, Path]] = {}
        self.segmentation_used: dict[str, int] = {}
        self.sessions: set[int] = set()

    def add(self, pid: int, stream: str, meta: Mapping[str, Any], path: Path) -> None:
        settings, used = session_preparation(stream, meta)
        for key, value in settings.items():
            if key not in self.values:
                self.values[key] = (value, path)
            elif _encoded(self.values[key][0]) != _encoded(value):
                first, where = self.values[key]
                raise InputError(path, f"sessions' feature files were prepared differently: {key} is "
                                       f"{value!r} here but {first!r} in {where}")
        if used is not None:
            self.segmentation_used[str(used)] = self.segmentation_used.get(str(used), 0) + 1
        if settings:
            self.sessions.add(int(pid))

    def preparation(self, min_coverage: float) -> dict[str, Any]:
        """The preparation block of the shard metadata."""
        prep = {k: v for k, (v, _) in sorted(self.values.items())}
        prep["min_coverage"] = float(min_coverage)
        prep["segmentation_used"] = dict(sorted(self.segmentation_used.items()))
        prep["sessions"] = len(self.sessions)
        return prep


def _encoded(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def merge_splits(metas: Mapping[str, Mapping[str, Any]], where: str | Path | None = None) -> dict[str, Any]:
    """One preparation from the shard metadata of several splits (``{"train": meta, "dev": meta}``).

    Every shard set must carry :data:`PREPARATION_KEY` and the settings must agree (InputError naming
    the setting and each split's value otherwise); the session counts are summed.
    """
    merged: dict[str, Any] = {}
    seen: dict[str, str] = {}
    counts: dict[str, Any] = {"segmentation_used": {}, "sessions": 0}
    for split, meta in metas.items():
        prep = meta.get(PREPARATION_KEY)
        if not isinstance(prep, Mapping):
            raise InputError(where, f"the {meta.get('modality')}/{split} shards carry no feature "
                                    f"'{PREPARATION_KEY}' in their metadata: rebuild them with this depsev")
        for key, value in prep.items():
            if key in COUNT_KEYS:
                continue
            if key in merged and _encoded(merged[key]) != _encoded(value):
                raise InputError(where, f"the shards disagree on the feature preparation: {key} is "
                                        f"{merged[key]!r} in the {seen[key]} shards ({meta.get('modality')}) "
                                        f"but {value!r} in the {split} shards ({meta.get('modality')})")
            merged.setdefault(key, value)
            seen.setdefault(key, f"{split}")
        for name, n in (prep.get("segmentation_used") or {}).items():
            counts["segmentation_used"][name] = counts["segmentation_used"].get(name, 0) + int(n)
        counts["sessions"] += int(prep.get("sessions") or 0)
    counts["segmentation_used"] = dict(sorted(counts["segmentation_used"].items()))
    return {**dict(sorted(merged.items())), **counts}
