"""A FAKE container runtime for OpenFace 2.x FeatureExtraction (a test fixture only, never a code path
of the package): no container runtime exists on the build machines.

The fake (``apptainer``, ``singularity`` or ``docker``) records its argv (one JSON list per line),
checks that the video and the output folder are visible "in the container" (bound / mounted), and
writes where FeatureExtraction would a real OpenFace 2.x CSV (``../shared/fixtures/openface/``).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

#: what the fake prints when told to fail
STDERR = "FeatureExtraction: reading the video\nERROR: could not open the video stream (codec wmv2)\n"

FAKE = '''#!{python}
"""A FAKE {name} (test fixture): records argv, emulates FeatureExtraction in the container."""
import json, pathlib, sys

argv = [pathlib.Path(sys.argv[0]).name, *sys.argv[1:]]
with open({log!r}, "a") as f:
    f.write(json.dumps(argv) + "\\n")
if {fail!r}:
    sys.stderr.write({stderr!r})
    sys.exit(1)
args = sys.argv[1:]
if argv[0] == "docker":
    visible = [a.split(":")[0] for i, a in enumerate(args) if i and args[i - 1] == "-v"]
else:
    visible = args[args.index("--bind") + 1].split(",") if "--bind" in args else []
video = pathlib.Path(args[args.index("-f") + 1])
out = pathlib.Path(args[args.index("-out_dir") + 1])
for p in (video, out):
    if not any(p == pathlib.Path(d) or pathlib.Path(d) in p.parents for d in visible):
        sys.stderr.write(f"{{p}} is not visible in the container (bound: {{visible}})\\n")
        sys.exit(2)
if not video.is_file():
    sys.stderr.write(f"no such video {{video}}\\n")
    sys.exit(3)
print("FeatureExtraction (fake): processing", video)
out.mkdir(parents=True, exist_ok=True)
(out / (video.stem + ".csv")).write_bytes(pathlib.Path({csv!r}).read_bytes())
(out / (video.stem + "_of_details.txt")).write_text("fake FeatureExtraction")
'''


def install_fake_runtime(bindir: Path, name: str, csv: Path, *, fail: bool = False) -> tuple[Path, Path]:
    """Write the fake ``name`` into ``bindir``; return ``(bindir, argv log)``."""
    bindir.mkdir(parents=True, exist_ok=True)
    log = bindir / f"{name}-argv.jsonl"
    script = bindir / name
    script.write_text(FAKE.format(python=sys.executable, name=name, log=str(log), fail=fail,
                                  stderr=STDERR, csv=str(csv)))
    script.chmod(0o755)
    return bindir, log


def path_with_only(bindir: Path) -> str:
    """PATH with ``bindir`` first and every folder that holds a real container runtime left out."""
    from depsev.features.openface_container import CONTAINER_RUNTIMES

    keep = [d for d in os.environ.get("PATH", "").split(os.pathsep)
            if d and not any((Path(d) / r).exists() for r in CONTAINER_RUNTIMES)]
    return os.pathsep.join([str(bindir), *keep])


def calls(log: Path) -> list[list[str]]:
    """The argv of every call the fake got."""
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
