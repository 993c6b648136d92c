"""Imports only go down, and only evaluation opens the test split (static checks of src/depsev).

Layers, lowest first: ``constants`` / ``errors`` ... ``shards``, ``data``, ``models``; then the model
folder and batched inference (``depsev.checkpoint``, ``depsev.inference``); then ``train``,
``evaluate``, ``predict``.  Every import counts, also one inside a function.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "depsev"


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every module ``path`` imports (``from a import b`` counts as ``a`` and ``a.b``)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = _module_name(path) if path.name == "__init__.py" else _module_name(path).rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            out.add(base)
            out.update(f"{base}.{alias.name}" for alias in node.names)
    return out


def _files(*folders: str) -> list[Path]:
    return sorted(p for f in folders for p in (SRC / f).rglob("*.py")) if folders else []


def _offenders(files: list[Path], forbidden: tuple[str, ...]) -> list[str]:
    return [f"{p.relative_to(SRC.parent)} imports {m}" for p in files for m in sorted(_imports(p))
            if any(m == f or m.startswith(f + ".") for f in forbidden)]


def test_lower_layers_never_import_predict():
    files = _files("train", "evaluate", "data", "shards", "models")
    assert files
    assert _offenders(files, ("depsev.predict",)) == []


@pytest.mark.parametrize("module", ["checkpoint.py", "inference.py"])
def test_checkpoint_and_inference_sit_below_train_evaluate_and_predict(module):
    assert _offenders([SRC / module], ("depsev.train", "depsev.evaluate", "depsev.predict")) == []


def test_models_and_data_import_no_higher_layer():
    higher = ("depsev.train", "depsev.evaluate", "depsev.predict", "depsev.checkpoint", "depsev.inference")
    assert _offenders(_files("data", "shards", "models"), higher) == []


def test_evaluation_and_prediction_never_import_training():
    assert _offenders(_files("evaluate", "predict"), ("depsev.train",)) == []


def test_training_code_never_imports_the_test_split_opener():
    assert _offenders(_files("train"), ("depsev.evaluate.predictions",)) == []


def test_only_evaluation_opens_datasets_for_evaluation():
    """``purpose="evaluate"`` (the only purpose that reads the test split) is passed in
    depsev/evaluate/ only, once; every other ``purpose=`` in src/depsev is the literal ``"train"``."""
    outside, evaluating = [], []
    for path in sorted(SRC.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            for kw in node.keywords if isinstance(node, ast.Call) else ():
                if kw.arg != "purpose":
                    continue
                where = f"{path.relative_to(SRC.parent)}:{node.lineno} purpose={ast.unparse(kw.value)}"
                value = kw.value.value if isinstance(kw.value, ast.Constant) else None
                if value == "evaluate":
                    evaluating.append(where)
                if value != "train" and not path.is_relative_to(SRC / "evaluate"):
                    outside.append(where)
    assert outside == []
    assert [w.split(":")[0] for w in evaluating] == ["depsev/evaluate/predictions.py"]
