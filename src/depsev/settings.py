"""The workflow's settings as one typed tree, built once from Snakemake's ``config``.

:func:`Settings.from_config` is called once, when the DAG is built (``workflow/rules/common.smk``): it
reads every section of ``config.yaml`` into the dataclasses the library uses (:class:`ChunkConfig`,
:class:`~depsev.models.config.ModelConfig`, :class:`~depsev.train.config.TrainConfig`, ...), applies the
demo override of the chunk sizes (in :meth:`ChunkConfig.from_config`, the one place that does),
and fails on a typo or a bad value before any job runs.

Every default is written once, here or in the dataclass the library already owns (``ChunkConfig``,
``QCThresholds``, ``ModelConfig``, ``TrainConfig``). The JSON schema (``workflow/schemas/
config.schema.yaml``) checks types and ranges and repeats the defaults for ``snakemake --lint`` readers
and editors; tests/test_settings.py fails when a schema default differs from the default here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from depsev.constants import FACE_FEATURE_SETS, VGGISH_PRECISIONS
from depsev.corpus.manifest import QCThresholds
from depsev.features.face import CONFIDENCE_THRESHOLD
from depsev.features.openface_container import DEFAULT_BINARY, RUNTIMES
from depsev.models.config import ModelConfig
from depsev.shards.chunks import ChunkConfig
from depsev.train.config import TrainConfig

#: the ``dataset.kind`` values
DATASET_KINDS = ("demo", "edaic", "daic-woz")
#: the name of config.yaml's own configuration (``config_name``)
DEFAULT_CONFIG_NAME = "default"
#: what a ``config_name`` may hold (it is written into file contents, never into a path or a shell line)
CONFIG_NAME_PATTERN = re.compile(r"[A-Za-z0-9_.-]+")
#: the file in ``results/`` that says which configuration wrote it (see :func:`claim_results_dir`)
CONFIG_NAME_MARKER = "config_name.txt"


def _known(section: str, values: Mapping[str, Any] | None, cls: type) -> dict[str, Any]:
    """``values`` as keyword arguments of dataclass ``cls``; unknown keys are an error naming them."""
    values = dict(values or {})
    names = {f.name for f in fields(cls)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise ValueError(f"config.yaml: {section}: unknown key(s) {unknown}; known: {sorted(names)}")
    return values


@dataclass(frozen=True)
class DatasetSettings:
    kind: str
    root: str
    #: optional TSV/CSV of participant_id, interviewer (overrides the E-DAIC ID ranges)
    sessions_table: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in DATASET_KINDS:
            raise ValueError(f"config.yaml: dataset.kind must be one of {DATASET_KINDS}, got {self.kind!r}")


@dataclass(frozen=True)
class DemoSettings:
    """Size of the SYNTHETIC demo cohort, and its chunk sizes (sessions are minutes long)."""

    participants: int = 48
    minutes: float = 2.5
    seed: int = 7
    #: replace ``chunks.video_frames`` / ``chunks.audio_frames`` when ``dataset.kind`` is demo
    chunks: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class FaceSettings:
    #: OpenFace frames below this confidence are invalid (masked)
    confidence_threshold: float = CONFIDENCE_THRESHOLD
    #: face features the models read: all | au | au17
    features: str = "all"


@dataclass(frozen=True)
class OpenFaceSettings:
    """OpenFace 2.x FeatureExtraction for sessions with a video and no CSV
    (:func:`depsev.features.openface_container.run_feature_extraction`)."""

    #: the container image, pinned by digest (config.yaml)
    image: str = ""
    #: FeatureExtraction's path in the image (or on this machine with ``runtime: none``)
    binary: str = DEFAULT_BINARY
    #: auto (first of apptainer, singularity, docker on PATH) | apptainer | singularity | docker | none
    runtime: str = "auto"

    def __post_init__(self) -> None:
        if self.runtime not in RUNTIMES:
            raise ValueError(f"openface.runtime must be one of {', '.join(RUNTIMES)}, not {self.runtime!r}")


@dataclass(frozen=True)
class VGGishSettings:
    weights: str = "random"
    sha256: str | None = None
    batch_size: int = 32
    #: fp32 | bf16 (bfloat16 convolutions: ~2-3x faster on a CPU with native bf16, e.g. AVX512-BF16 or
    #: AMX; much slower without; check fc2 cosine to fp32 with `depsev bench vggish` first)
    precision: str = "fp32"

    def __post_init__(self) -> None:
        if self.precision not in VGGISH_PRECISIONS:
            raise ValueError(f"audio.vggish.precision must be one of {', '.join(VGGISH_PRECISIONS)}, "
                             f"not {self.precision!r}")


@dataclass(frozen=True)
class OpenSmileSettings:
    enabled: bool = False
    feature_set: str = "eGeMAPSv02"
    feature_level: str = "LowLevelDescriptors"


@dataclass(frozen=True)
class AudioSettings:
    source: str = "depsev"
    denoise: bool = True
    normalize: bool = True
    segmentation: str = "auto"
    vggish: VGGishSettings = field(default_factory=VGGishSettings)
    opensmile: OpenSmileSettings = field(default_factory=OpenSmileSettings)


@dataclass(frozen=True)
class EvaluateSettings:
    seeds: tuple[int, ...] = (0, 1, 2)
    baselines: tuple[str, ...] = ("rf", "resnet", "lstm")
    modalities: tuple[str, ...] = ("audio", "video", "fusion")
    shuffled_control: bool = True
    single_stream_mixtures: bool = True
    latency_batch_size: int = 16
    latency_repeats: int = 20


@dataclass(frozen=True)
class Settings:
    """Every section of the workflow config, typed (see the module docstring)."""

    dataset: DatasetSettings
    demo: DemoSettings
    qc: QCThresholds
    face: FaceSettings
    audio: AudioSettings
    #: the chunk sizes in force (the demo's when ``dataset.kind`` is demo)
    chunks: ChunkConfig
    model: ModelConfig
    train: TrainConfig
    evaluate: EvaluateSettings
    openface: OpenFaceSettings = field(default_factory=OpenFaceSettings)
    container: str | None = None
    predict: dict[str, Any] = field(default_factory=dict)
    #: which configuration this is (config.yaml: default; workflow/presets/paper.yaml: paper); written
    #: into the tables and into ``results/config_name.txt`` (:func:`claim_results_dir`)
    config_name: str = DEFAULT_CONFIG_NAME

    def __post_init__(self) -> None:
        if not isinstance(self.config_name, str) or not CONFIG_NAME_PATTERN.fullmatch(self.config_name):
            raise ValueError("config.yaml: config_name must be letters, digits, '_', '.', '-', got "
                             f"{self.config_name!r}")

    @property
    def video_dim(self) -> int:
        """Face features per frame the models read (``face.features``)."""
        return len(FACE_FEATURE_SETS[self.face.features])

    @property
    def is_demo(self) -> bool:
        return self.dataset.kind == "demo"

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Settings:
        """From Snakemake's ``config`` (config.yaml plus any ``--configfile``); ValueError naming the
        key for an unknown key or a bad value."""
        dataset = DatasetSettings(**_known("dataset", config.get("dataset"), DatasetSettings))
        demo = DemoSettings(**_known("demo", config.get("demo"), DemoSettings))
        audio_cfg = _known("audio", config.get("audio"), AudioSettings)
        audio = AudioSettings(**{
            **audio_cfg,
            "vggish": VGGishSettings(**_known("audio.vggish", audio_cfg.get("vggish"), VGGishSettings)),
            "opensmile": OpenSmileSettings(**_known("audio.opensmile", audio_cfg.get("opensmile"),
                                                    OpenSmileSettings))})
        qc = QCThresholds(**_known("qc", config.get("qc"), QCThresholds), audio_source=audio.source)
        evaluate = {k: tuple(v) if isinstance(v, list) else v
                    for k, v in _known("evaluate", config.get("evaluate"), EvaluateSettings).items()}
        return cls(
            dataset=dataset, demo=demo, qc=qc,
            face=FaceSettings(**_known("face", config.get("face"), FaceSettings)),
            audio=audio,
            chunks=ChunkConfig.from_config(config),  # applies the demo's chunk sizes (the one place)
            model=ModelConfig.from_dict(dict(config.get("model") or {}), "config.yaml: model"),
            train=TrainConfig.from_dict(dict(config.get("train") or {}), "config.yaml: train"),
            evaluate=EvaluateSettings(**evaluate),
            openface=OpenFaceSettings(**_known("openface", config.get("openface"), OpenFaceSettings)),
            container=config.get("container"),
            predict=dict(config.get("predict") or {}),
            config_name=config.get("config_name", DEFAULT_CONFIG_NAME))

    def check_inputs(self) -> None:
        """The config's inputs checked when the DAG is built, before any job runs (Snakemake deletes a
        job's outputs before it reruns it): random VGGish weights only for the synthetic demo
        (ValueError); the corpus folder, the sessions table and the VGGish weights file must exist
        (InputError naming the path and the config key)."""
        from depsev.errors import InputError

        vggish = self.audio.vggish
        if vggish.weights == "random" and not self.is_demo:
            raise ValueError(
                "config audio.vggish.weights is 'random', which is allowed only for the synthetic demo "
                f"(dataset.kind is '{self.dataset.kind}'). Fetch the published weights with `depsev "
                "weights vggish --dest weights` and set audio.vggish.weights: weights/vggish-10086976.pth")
        checks = []
        if not self.is_demo:
            checks.append((self.dataset.root, "corpus folder", "dataset.root", True))
        if self.dataset.sessions_table:
            checks.append((self.dataset.sessions_table, "sessions table", "dataset.sessions_table", False))
        if vggish.weights != "random" and self.audio.source == "depsev":
            checks.append((vggish.weights, "VGGish weights file", "audio.vggish.weights", False))
        for path, what, key, folder in checks:
            p = Path(path)
            if not (p.is_dir() if folder else p.is_file()):
                raise InputError(p, f"{what} not found (config {key}); checked before any job runs")

    def as_dict(self, section: str) -> dict[str, Any]:
        """One section as plain values (rule params, JSON)."""
        value = getattr(self, section)
        if isinstance(value, dict):
            return dict(value)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(value).items()}


# ---------------------------------------------------------------- configuration files and presets
def merge_config(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """``override`` merged into ``base`` section by section (nested mappings merged, anything else
    replaced), as Snakemake merges a ``--configfile`` over config.yaml."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = merge_config(merged[key], value)
        else:
            merged[key] = value
    return merged


def read_config_file(path: str | Path) -> dict[str, Any]:
    """A YAML configuration file (config.yaml, a preset) as a dict; ValueError naming the file."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: configuration file not found")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a configuration file must hold a mapping, got {type(data).__name__}")
    return data


@dataclass(frozen=True)
class SizedModel:
    """One fusion model configuration for the lightweight table (Table 4), at the paper's chunk sizes."""

    #: the ``config_name`` it comes from
    config_name: str
    #: the fusion model's configuration (``video_dim`` from ``face.features``)
    model: ModelConfig
    #: the configuration's own chunk settings (``chunks``; the demo's override NOT applied)
    chunks: ChunkConfig


def sized_model(config: Mapping[str, Any]) -> SizedModel:
    """The fusion model a configuration trains, with its chunk settings for a real corpus."""
    settings = Settings.from_config(config)
    model = ModelConfig.from_dict({**settings.model.to_dict(), "video_dim": settings.video_dim})
    chunks = ChunkConfig.coerce(dict(config.get("chunks") or {}))
    return SizedModel(config_name=settings.config_name, model=model, chunks=chunks)


def table4_models(config: Mapping[str, Any], preset: str | Path) -> list[SizedModel]:
    """This run's fusion model and the one of ``preset`` (merged over this run's config, as
    ``--configfile preset`` would be), for the lightweight table's rows at the paper's chunk sizes."""
    return [sized_model(config), sized_model(merge_config(config, read_config_file(preset)))]


def claim_results_dir(results: str | Path, config_name: str) -> None:
    """Refuse to write a configuration's outputs into a ``results/`` another configuration wrote.

    ``results/config_name.txt`` names the configuration that wrote the folder (written here when
    absent; a folder holding a manifest but no such file was written before it existed, by the
    default).  A different name is a ValueError that says how to run it in its own directory.
    """
    results = Path(results)
    marker = results / CONFIG_NAME_MARKER
    if marker.is_file():
        owner = marker.read_text().strip()
    elif (results / "manifest.parquet").exists():
        owner = DEFAULT_CONFIG_NAME
    else:
        owner = None
    if owner is not None and owner != config_name:
        raise ValueError(
            f"{results.resolve()} holds the outputs of configuration {owner!r}; this run's config_name is "
            f"{config_name!r}. Run it in its own working directory, e.g. `snakemake --cores all "
            f"-d runs/{config_name} --configfile ...` (the tables of the two are never mixed)")
    if not marker.is_file():
        results.mkdir(parents=True, exist_ok=True)
        marker.write_text(config_name + "\n")
