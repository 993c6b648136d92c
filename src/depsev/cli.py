"""The ``depsev`` command.

Every sub-command is a thin call into the library; heavy imports happen inside the handlers so that
``depsev --help`` is instant.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from depsev import __version__
from depsev.constants import CHUNK_WEIGHTINGS
from depsev.errors import InputError
from depsev.features.openface_container import RUNTIMES


def _cmd_demo_cohort(args) -> int:
    from depsev.corpus.synthetic import generate_cohort

    try:
        summary = generate_cohort(Path(args.out), participants=args.participants, minutes=args.minutes,
                                  seed=args.seed, overwrite=args.overwrite)
    except ValueError as exc:
        raise InputError(args.out, str(exc)) from exc
    print(f"SYNTHETIC demo cohort written to {args.out} "
          f"({summary.get('participants', args.participants)} participants)")
    return 0


def _cmd_manifest(args) -> int:
    from depsev.corpus.manifest import QCThresholds, build_manifest, write_manifest

    qc = QCThresholds(min_audio_seconds=args.min_audio_seconds,
                      min_face_success_share=args.min_face_success_share,
                      audio_source=args.audio_source)
    df = build_manifest(args.root, args.kind, sessions_table=args.sessions_table, qc=qc)
    counts = write_manifest(df, args.out, args.qc, dataset_kind=args.kind)
    print(json.dumps(counts))
    return 0


def _cmd_weights(args) -> int:
    from depsev.features.vggish import download_vggish_weights

    path = download_vggish_weights(Path(args.dest))
    print(f"VGGish weights at {path}")
    return 0


def _read_yaml(path: str) -> dict:
    import yaml

    p = Path(path)
    if not p.is_file():
        raise InputError(p, "config file not found")
    return yaml.safe_load(p.read_text()) or {}


def _encoder_steps_override(args) -> dict:
    return {} if args.encoder_steps is None else {"encoder_steps": args.encoder_steps}


def _cmd_bench_stages(args) -> dict:
    from depsev import bench_stages as bs

    for path in (args.json, args.markdown):
        _check_output_file(path)
    stages = tuple(args.stages.split(",")) if args.stages else bs.STAGES
    try:
        result = bs.bench_stages(minutes=args.minutes, sessions=args.sessions, stages=stages,
                                 threads=args.threads, weights=args.weights)
    except ValueError as exc:
        raise InputError(None, str(exc)) from exc
    print(result["markdown"])
    if args.markdown:
        Path(args.markdown).write_text(result["markdown"])
    return result


def _cmd_bench(args) -> int:
    if args.what == "stages":
        result = _cmd_bench_stages(args)
        if args.json:
            Path(args.json).write_text(json.dumps(result, indent=2, default=str))
        return 0
    if args.threads is None:
        args.threads = 2
    if args.what == "vggish":
        from depsev import bench

        speech = sorted(Path(args.speech).glob("*.wav")) if args.speech else None
        if args.speech and not speech:
            raise InputError(args.speech, "no .wav files in this folder (--speech)")
        result = bench.bench_vggish(wav=Path(args.wav) if args.wav else None, seconds=args.seconds,
                                    threads=args.threads, weights=args.weights, speech_wavs=speech)
        if args.memory_minutes:
            result["memory"] = bench.bench_vggish_memory(minutes=args.memory_minutes, threads=args.threads,
                                                         weights=args.weights)
            print(json.dumps(result["memory"], indent=2))
    elif args.what == "predict":
        from depsev.predict import bench as pbench

        if not args.model:
            raise InputError(None, "bench predict needs --model (a trained checkpoint folder)")
        from depsev.checkpoint import checkpoint_model_config, read_config

        model_cfg = checkpoint_model_config(read_config(Path(args.model))).to_dict()
        result = {"end_to_end": pbench.bench_predict(args.model, normalize_dir=args.normalize,
                                                     minutes=args.minutes, threads=args.threads),
                  "model": pbench.bench_model(batch_sizes=tuple(args.batch_size), threads=args.threads,
                                              model_cfg=model_cfg)}
        print(json.dumps(result, indent=2, default=str))
    elif args.what == "model":
        from depsev.predict import bench as pbench

        cfg = _read_yaml(args.config) if args.config else {}
        chunks = dict(cfg.get("chunks") or {})
        result = {"model": pbench.bench_model(
            batch_sizes=tuple(args.batch_size), threads=args.threads,
            steps=pbench.model_input_steps(chunks) if chunks else None,
            model_cfg={**dict(cfg.get("model") or {}), **_encoder_steps_override(args)})}
        print(json.dumps(result, indent=2, default=str))
    elif args.what == "report":
        from depsev import bench_report as br

        if not args.out:
            raise InputError(None, "bench report needs --out (a folder for the screenshot and the record)")
        result = br.bench_report(args.report, args.out, browser=args.browser)
        print((Path(args.out) / "report_check.md").read_text())
        if args.json:
            Path(args.json).write_text(json.dumps(result, indent=2))
        return 0 if result["ok"] else 1
    elif args.what == "learning":
        from depsev import bench_learning as bl

        if args.check:
            checks = bl.check_targets(args.check)
            result = {"headline": args.check, "targets": checks.to_dict(orient="records")}
            print(bl.targets_markdown(checks))
        else:
            if not args.out:
                raise InputError(None, "bench learning needs --out (a scratch folder) or --check "
                                       "HEADLINE_CSV")
            result = bl.run_learning_benchmark(args.out, participants=args.participants,
                                               minutes=args.session_minutes, seed=args.seed, cores=args.cores,
                                               config=args.config)
            print((Path(args.out) / "learning_benchmark.md").read_text())
    else:  # pragma: no cover - argparse restricts choices
        raise SystemExit(f"unknown benchmark {args.what}")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    return 0


def _cmd_cost(args) -> int:
    from depsev.cost import cost_table

    table = cost_table(args.benchmarks, args.manifest, cores_per_node=args.cores_per_node,
                       nodes=tuple(args.nodes), label=args.label)
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(table.markdown + "\n")
        table.stages.to_csv(out.with_suffix(".tsv"), sep="\t", index=False)
    print(table.markdown)
    return 0


def _positive_int(text: str) -> int:
    """argparse type: an integer >= 1 (checked before any work)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _fraction(low_open: bool):
    """argparse type: a number in [0, 1] (or (0, 1] with ``low_open``), checked before any work."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if not (0.0 < value <= 1.0 if low_open else 0.0 <= value <= 1.0):
            raise argparse.ArgumentTypeError(f"must be in {'(0, 1]' if low_open else '[0, 1]'}, got {text}")
        return value
    return parse


def _check_output_file(path: str | None) -> None:
    """A result file that can be written: not a folder, its folder exists (InputError before any work)."""
    if path is None:
        return
    p = Path(path)
    if p.is_dir():
        raise InputError(p, "is a folder; --json takes a file name")
    if not p.parent.is_dir():
        raise InputError(p.parent, "no such folder for the --json file")


def _cmd_predict(args) -> int:
    from depsev.predict.result import summary_line, write_result
    from depsev.predict.session import predict_session

    _check_output_file(args.json)

    res = predict_session(args.model, args.session, kind=args.kind, audio=args.audio, openface=args.openface,
                          video=args.video, transcript=args.transcript, participant_id=args.participant_id,
                          interviewer=args.interviewer, normalize_dir=args.normalize,
                          modalities=args.modalities.split(",") if args.modalities else None,
                          vggish_weights=args.vggish_weights, work_dir=args.work_dir,
                          allow_short=args.allow_short, segmentation=args.segmentation,
                          denoise=args.denoise, normalize_audio=args.normalize_audio,
                          confidence_threshold=args.confidence_threshold, min_coverage=args.min_coverage,
                          openface_image=args.openface_image, openface_runtime=args.openface_runtime,
                          threads=args.threads, weighting=args.weighting)
    if args.json:
        write_result(res, args.json)
    print(summary_line(res))
    return 0


def _cmd_export(args) -> int:
    from depsev.predict.export import compare_on_shards, export_model

    info = export_model(args.model, args.out, batch_size=args.batch_size, int8=not args.no_int8)
    if args.shards:
        info["shards"] = compare_on_shards(args.model, args.out, args.shards, args.split)
    print(json.dumps(info, indent=2, default=str))
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="depsev", description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--version", action="version", version=f"depsev {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    d = sub.add_parser("demo-cohort", help="write a SYNTHETIC cohort in the E-DAIC layout (planted effects)")
    d.add_argument("out", help="output folder (the dataset root)")
    d.add_argument("--participants", type=int, default=48)
    d.add_argument("--minutes", type=float, default=2.5, help="approximate session length")
    d.add_argument("--seed", type=int, default=7)
    d.add_argument("--overwrite", action="store_true", help="replace a cohort already in OUT")
    d.set_defaults(func=_cmd_demo_cohort)

    m = sub.add_parser("manifest", help="build the manifest + QC table of a corpus")
    m.add_argument("--root", required=True)
    m.add_argument("--kind", required=True, choices=["demo", "edaic", "daic-woz"])
    m.add_argument("--sessions-table", default=None)
    m.add_argument("--out", default="results/manifest.parquet")
    m.add_argument("--qc", default="results/qc/sessions.tsv")
    m.add_argument("--min-audio-seconds", type=float, default=10.0)
    m.add_argument("--min-face-success-share", type=float, default=0.1)
    m.add_argument("--audio-source", choices=["depsev", "edaic_shipped"], default="depsev")
    m.set_defaults(func=_cmd_manifest)

    w = sub.add_parser("weights", help="download published model weights (needs network)")
    w.add_argument("model", choices=["vggish"])
    w.add_argument("--dest", default="weights", help="folder to write the weights to")
    w.set_defaults(func=_cmd_weights)

    b = sub.add_parser("bench", help="speed benchmarks (not tests)")
    b.add_argument("what", choices=["vggish", "predict", "model", "learning", "report", "stages"])
    b.add_argument("--wav", default=None, help="audio to embed (default: synthetic speech-like signal)")
    b.add_argument("--speech", default=None,
                   help="bench vggish: a folder of real speech .wav files for the bf16-vs-fp32 cosine check")
    b.add_argument("--seconds", type=float, default=60.0)
    b.add_argument("--threads", type=_positive_int, default=None,
                   help="torch/BLAS threads (default 2; bench stages: each rule's threads:)")
    b.add_argument("--weights", default="random", help='VGGish state dict, or "random"')
    b.add_argument("--memory-minutes", type=float, default=0.0,
                   help="also measure peak RSS of embedding a synthetic file this many minutes long")
    b.add_argument("--json", default=None, help="also write the result as JSON here")
    b.add_argument("--model", default=None, help="bench predict: a checkpoint folder")
    b.add_argument("--normalize", default=None, help="bench predict: the training run's results/normalize")
    b.add_argument("--minutes", type=float, default=15.0, help="bench predict / stages: session length")
    b.add_argument("--sessions", type=_positive_int, default=2,
                   help="bench stages: SYNTHETIC sessions to measure (one seed each)")
    b.add_argument("--stages", default=None,
                   help="bench stages: comma-separated subset of audio_clean,vggish_embed,opensmile_lld,"
                        "face_frames (default: all)")
    b.add_argument("--markdown", default=None, help="bench stages: also write the markdown table here")
    b.add_argument("--batch-size", type=int, nargs="+", default=[1, 16],
                   help="bench predict / model: chunk pairs per batch (several allowed)")
    b.add_argument("--config", default=None,
                   help="bench model: a config.yaml whose model and chunks sections to use "
                        "(default: the package defaults = the shipped config, paper chunk sizes)")
    b.add_argument("--encoder-steps", type=int, default=None,
                   help="bench model: override model.encoder_steps (0 = LSTM over every frame)")
    b.add_argument("--check", default=None,
                   help="bench learning: only check the learning targets on a finished run's headline.csv")
    b.add_argument("--out", default=None, help="bench learning: scratch folder for the whole workflow run; "
                                                "bench report: folder for the screenshot and the record")
    b.add_argument("--report", default="results/report.html", help="bench report: the HTML report to open")
    b.add_argument("--browser", default=None, help="bench report: Chromium binary (default: found on PATH)")
    b.add_argument("--participants", type=int, default=120, help="bench learning: SYNTHETIC cohort size")
    b.add_argument("--session-minutes", type=float, default=1.0, help="bench learning: minutes per session")
    b.add_argument("--seed", type=int, default=11, help="bench learning: generator seed")
    b.add_argument("--cores", type=int, default=2, help="bench learning: snakemake --cores")
    b.set_defaults(func=_cmd_bench)
    pr = sub.add_parser("predict", help="predict one NEW session (a research measurement, not a diagnosis)")
    pr.add_argument("session", nargs="?", default=None, help="session folder (E-DAIC / DAIC-WOZ layout)")
    pr.add_argument("--model", required=True, help="checkpoint folder (results/models/<model>/seed<k>)")
    pr.add_argument("--normalize", default=None, help="the training run's results/normalize folder")
    pr.add_argument("--kind", default="edaic", choices=["demo", "edaic", "daic-woz"])
    pr.add_argument("--audio", default=None)
    pr.add_argument("--openface", default=None)
    pr.add_argument("--video", default=None)
    pr.add_argument("--transcript", default=None)
    pr.add_argument("--participant-id", type=int, default=None)
    pr.add_argument("--interviewer", choices=["woz", "ai"], default=None)
    pr.add_argument("--modalities", default=None, help="audio, video or audio,video")
    # feature preparation: left out, each takes the training run's value recorded in the checkpoint;
    # a different explicit value is refused (docs/predict.md)
    pr.add_argument("--vggish-weights", default=None, help="VGGish state dict (default: the trained one)")
    pr.add_argument("--segmentation", default=None, choices=["auto", "transcript", "vad", "none"],
                    help="default: the training run's")
    pr.add_argument("--denoise", action=argparse.BooleanOptionalAction, default=None,
                    help="default: the training run's")
    pr.add_argument("--normalize-audio", action=argparse.BooleanOptionalAction, default=None,
                    help="peak-normalize the cleaned speech (default: the training run's)")
    pr.add_argument("--confidence-threshold", type=_fraction(False), default=None,
                    help="in [0, 1]; default: the training run's")
    pr.add_argument("--min-coverage", type=_fraction(True), default=None,
                    help="in (0, 1]; default: the training run's")
    pr.add_argument("--allow-short", action="store_true",
                    help="low-confidence result for a session shorter than one chunk")
    pr.add_argument("--openface-image", default=None,
                    help="config.yaml openface.image (for --video; default: the training run's)")
    pr.add_argument("--openface-runtime", default="auto", choices=RUNTIMES,
                    help="config.yaml openface.runtime (for --video): auto = first of apptainer, "
                         "singularity, docker on PATH; none = a FeatureExtraction installed here")
    pr.add_argument("--weighting", default=None, choices=CHUNK_WEIGHTINGS,
                    help="how chunk estimates combine (default: the one the workflow's evaluation chose on "
                         "dev for this model, from results/metrics/<model>/<seed>/dev.json; else capped)")
    pr.add_argument("--work-dir", default=None, help="keep the feature files here")
    pr.add_argument("--threads", type=_positive_int, default=None)
    pr.add_argument("--json", default=None, help="write the full result here (a file)")
    pr.set_defaults(func=_cmd_predict)

    ex = sub.add_parser("export", help="ONNX (fp32) + dynamic int8 of a trained model, with parity check")
    ex.add_argument("--model", required=True)
    ex.add_argument("--out", required=True)
    ex.add_argument("--batch-size", type=int, default=16)
    ex.add_argument("--no-int8", action="store_true")
    ex.add_argument("--shards", default=None, help="shard root: compare torch/fp32/int8 on a split")
    ex.add_argument("--split", default="dev")
    ex.set_defaults(func=_cmd_export)

    c = sub.add_parser("cost", help="per-stage cost from a run's benchmarks, extrapolated to the full E-DAIC")
    c.add_argument("--benchmarks", default="benchmarks")
    c.add_argument("--manifest", default="results/manifest.parquet")
    c.add_argument("--cores-per-node", type=int, default=32)
    c.add_argument("--nodes", type=int, nargs="+", default=[1, 4, 16])
    c.add_argument("--label", default="measured on this machine")
    c.add_argument("--out", default=None, help="write the markdown here (and the stage table as .tsv)")
    c.set_defaults(func=_cmd_cost)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except InputError as exc:
        print(f"depsev: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
