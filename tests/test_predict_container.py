"""``depsev predict`` with a VIDEO: OpenFace 2.x FeatureExtraction through a container runtime
(:func:`depsev.predict.features.openface_from_video`).

No container runtime exists on the build machines, so these tests put a FAKE ``apptainer`` (or
``docker``) first on PATH -- a test fixture only, never a code path of the package.  The fake records
its argv, checks that the video and the output folder are visible "in the container" (bound /
mounted), and writes where FeatureExtraction would the real OpenFace 2.x output of the real video
``changeLighting.wmv`` from ``../shared/fixtures/openface/`` (``changeLighting.csv``).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import yaml
from fake_openface import calls, install_fake_runtime, path_with_only

from depsev.errors import InputError

REPO = Path(__file__).resolve().parents[1]
OPENFACE_CFG = yaml.safe_load((REPO / "config.yaml").read_text())["openface"]
IMAGE, BINARY = OPENFACE_CFG["image"], OPENFACE_CFG["binary"]
FLAGS = ["-pose", "-gaze", "-aus"]  # as the workflow rule openface_extract runs it
@pytest.fixture()
def fake_runtime(tmp_path, monkeypatch, openface_fixtures):
    """``make(name, fail=False) -> log``: a fake runtime ``name`` first on PATH; real runtimes hidden."""

    def make(name: str, fail: bool = False) -> Path:
        bindir, log = install_fake_runtime(tmp_path / f"fake-{name}", name,
                                           openface_fixtures / "changeLighting.csv", fail=fail)
        monkeypatch.setenv("PATH", path_with_only(bindir))
        assert shutil.which(name) == str(bindir / name)
        return log

    return make


@pytest.fixture()
def video(tmp_path, openface_fixtures) -> Path:
    """The real video, in a folder of its own (apart from the work folder)."""
    d = tmp_path / "recordings"
    d.mkdir()
    return Path(shutil.copy(openface_fixtures / "changeLighting.wmv", d / "changeLighting.wmv"))


def test_config_pins_the_image_by_digest():
    assert IMAGE.startswith("docker://") and "@sha256:" in IMAGE and len(IMAGE.rsplit(":", 1)[1]) == 64


def test_apptainer_command_line_and_csv(fake_runtime, video, tmp_path, openface_fixtures):
    from depsev.predict.features import openface_from_video

    log = fake_runtime("apptainer")
    work = tmp_path / "work" / "openface"
    csv = openface_from_video(video, work, 612, image=IMAGE, binary=BINARY)
    raw = (work / "openface_raw").resolve()
    assert calls(log) == [["apptainer", "exec", "--bind", f"{video.parent.resolve()},{raw}", IMAGE, BINARY,
                            "-f", str(video.resolve()), *FLAGS, "-out_dir", str(raw)]]
    assert csv == work / "612_OpenFace2.1.0_Pose_gaze_AUs.csv"
    assert csv.read_bytes() == (openface_fixtures / "changeLighting.csv").read_bytes()


def test_docker_command_line_and_a_symlinked_video(fake_runtime, video, tmp_path, openface_fixtures):
    from depsev.predict.features import openface_from_video

    log = fake_runtime("docker")
    work = tmp_path / "work" / "openface"
    csv = openface_from_video(video, work, None, image=IMAGE, binary=BINARY)
    raw = (work / "openface_raw").resolve()
    vdir = video.parent.resolve()
    user = f"{os.getuid()}:{os.getgid()}"
    assert calls(log)[0] == ["docker", "run", "--rm", "--user", user,
                              "-v", f"{vdir}:{vdir}", "-v", f"{raw}:{raw}",
                              IMAGE.removeprefix("docker://"), BINARY, "-f", str(video.resolve()), *FLAGS,
                              "-out_dir", str(raw)]
    assert csv.name == "0_OpenFace2.1.0_Pose_gaze_AUs.csv"
    # a video given as a symlink from another folder under another name: the target's folder is
    # mounted, and FeatureExtraction's CSV (named after the target) is found
    link_dir = tmp_path / "session"
    link_dir.mkdir()
    link = link_dir / "612_video.wmv"
    link.symlink_to(video)
    csv = openface_from_video(link, tmp_path / "work2", 612, image=IMAGE, binary=BINARY)
    assert csv.read_bytes() == (openface_fixtures / "changeLighting.csv").read_bytes()
    argv = calls(log)[1]
    assert f"{vdir}:{vdir}" in argv and argv[argv.index("-f") + 1] == str(video.resolve())


def test_failing_runtime_says_why_and_how_to_give_the_csv(fake_runtime, video, tmp_path):
    from depsev.predict.features import openface_from_video

    fake_runtime("apptainer", fail=True)
    with pytest.raises(InputError) as err:
        openface_from_video(video, tmp_path / "work", 612, image=IMAGE, binary=BINARY)
    msg = str(err.value)
    assert err.value.path == video and msg.startswith(str(video))
    assert "apptainer, exit 1" in msg and "could not open the video stream (codec wmv2)" in msg
    assert "pass the CSV it writes with --openface" in msg and f"{BINARY} -f {video}" in msg


def test_predict_session_from_wav_and_video(fake_runtime, video, demo_run, tmp_path, speech_fixtures):
    """A session given as wav + video runs end to end through the (fake) container; the image and
    binary default to the ones the training run's configuration recorded."""
    from depsev.predict.result import summary_line
    from depsev.predict.session import predict_session

    model = tmp_path / "model"
    shutil.copytree(demo_run["fusion"], model)
    cfg = json.loads((model / "config.json").read_text())
    cfg["features"]["preparation"].update(openface_image=IMAGE, openface_binary=BINARY)
    (model / "config.json").write_text(json.dumps(cfg))
    log = fake_runtime("apptainer")
    wav = speech_fixtures / "pyannote_sample_2speakers_16k.wav"
    res = predict_session(model, audio=wav, video=video, interviewer="ai", allow_short=True,
                          normalize_dir=demo_run["normalize"], work_dir=tmp_path / "work", threads=2)
    (argv,) = calls(log)
    assert argv[:2] == ["apptainer", "exec"] and argv[4:6] == [IMAGE, BINARY] and FLAGS[0] in argv
    assert res["modalities_used"] == ["audio", "video"] and res["modalities_missing"] == []
    assert res["qc"]["face_frames"] == 88 and res["qc"]["face_valid_share"] == pytest.approx(1.0)
    assert res["qc"]["face_fps"] == pytest.approx(15.0, rel=0.05)
    assert res["modality_gates"]["video"] > 0 and res["n_chunks"] == 1 and res["low_confidence"]
    prov = res["provenance"]
    assert prov["inputs"]["video"] == str(video) and prov["inputs"]["openface"] is None
    assert prov["preparation"]["openface_image"] == {"value": IMAGE, "trained": IMAGE, "source": "checkpoint"}
    assert "openface" in res["timings_s"] and Path(res["files"]["video"]).is_file()
    assert "used audio+video" in summary_line(res)
