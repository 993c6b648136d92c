# depsev: raw interview recordings (E-DAIC / DAIC-WOZ layout) -> multimodal depression-severity model.
# Method: Zhang et al. 2025, Electronics 14:1464.  See README.md for the commands.

from pathlib import Path

from snakemake.utils import min_version, validate

min_version("9.0")


# the working directory's config.yaml when it has one, else the repository's: a run in its own
# directory (`snakemake -d runs/paper --configfile workflow/presets/paper.yaml`) starts from the
# repository's defaults and writes everything under runs/paper/
configfile: "config.yaml" if Path("config.yaml").is_file() else str(Path(workflow.basedir) / "config.yaml")


validate(config, schema="workflow/schemas/config.schema.yaml")


# depsev's own image (envs/apptainer/depsev.def) for every rule under --sdm apptainer; rules with
# their own container (OpenFace) keep theirs
if config.get("container"):

    container: config["container"]


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/corpus.smk"
include: "workflow/rules/face.smk"
include: "workflow/rules/audio.smk"
include: "workflow/rules/shards.smk"
include: "workflow/rules/qc.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/predict.smk"


rule all:
    input:
        all_targets(),
    default_target: True
