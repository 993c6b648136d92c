"""The fresh process of ``depsev bench stages`` (:mod:`depsev.bench_stages`): imports only what a
rule's script imports, so that its start-up is the rule's start-up.

``python -m depsev.bench_stage_worker SPEC_JSON`` prints one JSON record.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

#: the per-session stages, in pipeline order, and their rule's ``threads:`` (workflow/rules/*.smk)
RULE_THREADS = {"audio_clean": 1, "vggish_embed": 1, "opensmile_lld": 1, "face_frames": 1}
STAGES = tuple(RULE_THREADS)


def _import_stage(stage: str) -> Any:
    """Import what the rule's script imports; return the stage's library function."""
    import depsev.workflow  # noqa: F401 - every rule script imports it (job, write_json)

    if stage == "audio_clean":
        from depsev.features.audio import clean_session as fn
    elif stage == "vggish_embed":
        import torch  # noqa: F401

        from depsev.features.vggish import vggish_session as fn
    elif stage == "opensmile_lld":
        from depsev.features.egemaps import egemaps_session as fn
    elif stage == "face_frames":
        from depsev.features.face import face_frames as fn
    else:
        raise ValueError(f"unknown stage {stage!r}; one of {STAGES}")
    return fn


def _run_stage(stage: str, fn: Any, spec: dict[str, Any]) -> dict[str, Any]:
    """Call the stage's function on one session as its rule does (workflow/scripts/<stage>.py)."""
    from depsev.settings import AudioSettings, FaceSettings

    audio, face, io = AudioSettings(), FaceSettings(), spec["io"]
    if stage == "audio_clean":
        return fn(io["wav"], io["clean_wav"], io["segments"], transcript_path=io.get("transcript"),
                  segmentation=audio.segmentation, denoise=audio.denoise, normalize=audio.normalize)
    if stage == "vggish_embed":
        import torch

        torch.set_num_threads(max(1, spec["threads"]))
        return fn(io["clean_wav"], io["segments"], io["vggish"], weights=spec["weights"],
                  sha256=audio.vggish.sha256, allow_random=True, batch_size=audio.vggish.batch_size)
    if stage == "opensmile_lld":
        return fn(io["clean_wav"], io["segments"], io["egemaps"], feature_set=audio.opensmile.feature_set,
                  feature_level=audio.opensmile.feature_level)
    return fn(io["openface"], io["face"], confidence_threshold=face.confidence_threshold)


def _warm_up(stage: str, spec: dict[str, Any]) -> dict[str, Any]:
    """The one-off set-up a job pays before its data: lazy imports and model/extractor construction
    (the same calls the stage makes first)."""
    if stage == "audio_clean":
        from depsev.corpus.transcripts import read_transcript  # noqa: F401 - imported lazily by the stage
        from depsev.features.audio import _noisereduce

        _noisereduce()
    elif stage == "vggish_embed":
        import torch

        from depsev.features.vggish import load_vggish

        torch.set_num_threads(max(1, spec["threads"]))
        _, meta = load_vggish(spec["weights"], None, allow_random=True)
        return {"weights_mode": meta["mode"]}
    elif stage == "opensmile_lld":
        from depsev.features.egemaps import make_smile
        from depsev.settings import AudioSettings

        make_smile(AudioSettings().opensmile.feature_set, AudioSettings().opensmile.feature_level)
    elif stage == "face_frames":
        from depsev.corpus.openface import read_openface  # noqa: F401 - imported lazily by the stage
    return {}


def peak_rss_mb() -> float:
    """This process' peak resident memory (``VmHWM``, MB; reset by exec, unlike ``ru_maxrss`` of a
    child, which Linux carries over from the parent that forked it)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def worker(spec: dict[str, Any]) -> dict[str, Any]:
    """What one fresh process does: import the stage and do its one-off set-up (``mode`` startup),
    or import it and run it on the session (``mode`` whole, as the rule's script does).  Returns a
    JSON-able record with ``peak_rss_mb``."""
    fn = _import_stage(spec["stage"])
    if spec["mode"] == "startup":
        out = _warm_up(spec["stage"], spec)
    else:
        qc = _run_stage(spec["stage"], fn, spec)
        out = {k: v for k, v in qc.items() if isinstance(v, (int, float, str, bool))}
    return {**out, "peak_rss_mb": peak_rss_mb()}

if __name__ == "__main__":  # pragma: no cover - run by depsev.bench_stages.measure
    print(json.dumps(worker(json.loads(sys.argv[1])), default=str))
