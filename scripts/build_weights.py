"""Train every model's published weight set and ship it inside its plugin package.

    python scripts/build_weights.py [--data-dir MNIST_DIR] [--only PATTERN] [--threads N]

For each model below this runs its recipe on the full data through the real ``zoo``
command (``python -m zoo train NAME --recipe R --seed S --out TMP -q ...``), takes the
final checkpoint (``last.safetensors``, the weights after the last epoch), strips its
resume state (optimizer, scheduler, RNG: only ``model/`` tensors and the metadata
that describes the model and its training are kept), measures it with ``zoo eval``
and copies it to ``packages/<plugin>/src/<package>/weights/<model>-default.safetensors``.
Next to the files, ``weights.json`` records per set: model, tag, file (relative to the
package), sha256, size, dataset, split, metric, value, recipe, the exact command,
seed, train_seconds (the sum of the run's epoch ``seconds``: training alone, measured
inside the run), device and machine (CPU model, cores, torch threads). Plugins read
that manifest to declare their weights.

``tabular.diabetes`` is trained on all 759 rows (``--val-fraction 0``); its metric is
the mean final-epoch validation accuracy of a 5-fold cross-validation of the same
recipe (``--folds 5``). The MNIST models use the CPU recipe on the 60,000 training
images and report the accuracy of the final weights on the 10,000 test images.

Running it again rebuilds and overwrites; ``--only 'vision.*'`` rebuilds a subset and
leaves the other entries of each manifest as they are.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TAG = "default"
MANIFEST = "weights.json"
#: Metadata of ``last.safetensors`` that only resuming needs.
RESUME_KEYS = (
    "optimizer_state",
    "scheduler_state",
    "scaler_state",
    "rng_state",
    "step_in_epoch",
    "partial_loss",
    "partial_n",
    "history_best",
)


@dataclass(frozen=True)
class Build:
    model: str
    recipe: str
    package: str  # import package of the plugin
    distribution: str  # folder under packages/
    metric: str  # key of ``zoo eval --json``
    split: str  # what the metric was measured on, in words
    seed: int = 0
    args: tuple[str, ...] = ()
    needs_mnist: bool = False
    folds: int = 0  # > 0: the metric is the mean of a K-fold cross-validation
    summary: str = ""

    @property
    def stem(self) -> str:
        return self.model.split(".", 1)[1]


TOY = "train (the shipped points; toy data has no held-out split)"
HELLO = "train (the pair hello -> ohlol; no held-out split)"
BUILDS: tuple[Build, ...] = (
    Build("tabular.linear", "gd", "zoo_tabular", "zoo-tabular", "mse", TOY, summary="y = w*x fitted to x=1,2,3"),
    Build("tabular.affine", "gd", "zoo_tabular", "zoo-tabular", "mse", TOY, summary="y = w*x + b fitted to x=1,2,3"),
    Build(
        "tabular.logistic",
        "default",
        "zoo_tabular",
        "zoo-tabular",
        "loss",
        TOY,
        summary="logistic regression on x=1,2,3 -> 0,0,1 (metric: binary cross-entropy)",
    ),
    Build(
        "tabular.diabetes",
        "default",
        "zoo_tabular",
        "zoo-tabular",
        "accuracy",
        "5-fold stratified cross-validation of the recipe (mean of the folds' final epochs); "
        "the weights are trained on all 759 rows",
        args=("--val-fraction", "0"),
        folds=5,
        summary="8-6-4-1 MLP on the notes' diabetes data, all 759 rows",
    ),
    Build(
        "vision.fc",
        "cpu",
        "zoo_vision",
        "zoo-vision",
        "accuracy",
        "test (the 10,000 MNIST test images)",
        needs_mnist=True,
        summary="fully connected net on the 60,000 MNIST training images",
    ),
    Build(
        "vision.cnn",
        "cpu",
        "zoo_vision",
        "zoo-vision",
        "accuracy",
        "test (the 10,000 MNIST test images)",
        needs_mnist=True,
        summary="the notes' CNN on the 60,000 MNIST training images",
    ),
    Build("seq.rnncell", "default", "zoo_seq", "zoo-seq", "accuracy", HELLO, summary="RNNCell on hello -> ohlol"),
    Build("seq.rnn", "default", "zoo_seq", "zoo-seq", "accuracy", HELLO, summary="RNN on hello -> ohlol"),
    Build(
        "seq.embedding", "default", "zoo_seq", "zoo-seq", "accuracy", HELLO, summary="Embedding + RNN on hello -> ohlol"
    ),
)


def zoo(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``python -m zoo ARGS``; a failure stops the build with zoo's own message."""
    result = subprocess.run([sys.executable, "-m", "zoo", *args], capture_output=True, text=True, env=env)
    if result.returncode != 0:
        sys.exit(f"failed ({result.returncode}): zoo {shlex.join(args)}\n{result.stdout}{result.stderr}")
    return result


def sha256(path: Path) -> str:
    from zoo.files.weights import sha256_of

    return sha256_of(path)


def strip_resume_state(source: Path, target: Path) -> dict[str, str]:
    """Write ``source``'s model tensors and descriptive metadata alone to ``target``."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    with safe_open(str(source), framework="pt") as f:
        metadata = dict(f.metadata() or {})
        tensors = {k: f.get_tensor(k).contiguous() for k in f.keys() if k.startswith("model/")}  # noqa: SIM118
    for key in RESUME_KEYS:
        metadata.pop(key, None)
    metadata = shareable(metadata, source)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    save_file(tensors, str(partial), metadata=metadata)
    os.replace(partial, target)
    return metadata


def shareable(raw: dict[str, str], source: Path) -> dict[str, str]:
    """Metadata in the current format, without anything that names a place on this machine."""
    from zoo.contracts import metadata as schema
    from zoo.plugins.registry import get_registry

    meta = schema.decode(raw, source)
    meta.pop("data_dir", None)  # older files recorded the data folder
    local = set(get_registry().dataset(str(meta["dataset"])).path_options)
    meta["data_options"] = {k: v for k, v in meta.get("data_options", {}).items() if k not in local}
    meta["format_version"] = schema.FORMAT_VERSION
    return schema.encode(meta)


def restamp(build: Build) -> dict[str, Any]:
    """Rewrite a shipped file's metadata in the current format (same weights) and update its manifest entry."""
    package_dir = ROOT / "packages" / build.distribution / "src" / build.package
    manifest = json.loads((package_dir / "weights" / MANIFEST).read_text(encoding="utf-8"))["weights"]
    entry = next(e for e in manifest if e["model"] == build.model and e["tag"] == TAG)
    path = package_dir / entry["file"]
    strip_resume_state(path, path)
    return {**entry, "sha256": sha256(path), "size": path.stat().st_size}


#: What a published command shows in place of this machine's MNIST folder.
MNIST_FOLDER = "<MNIST folder>"


def shown(argv: list[str], tmp: Path) -> str:
    """The command as it ran, in the scratch folder: run folders relative to it, no folder of this machine."""
    if "--data-dir" in argv:
        argv = [*argv]
        argv[argv.index("--data-dir") + 1] = "MNIST_FOLDER"
    text = shlex.join(["python", "-m", "zoo", *argv]).replace(f"{tmp}{os.sep}", "")
    return text.replace("MNIST_FOLDER", MNIST_FOLDER)


def in_run_seconds(metrics: Path) -> float:
    """The run's training time as it measured it: the sum of its epochs' ``seconds``.

    Process start, the torch import, data loading and the final save are left out; they
    depend on the machine's load far more than training does.
    """
    lines = metrics.read_text(encoding="utf-8").splitlines()
    return sum(float(json.loads(line).get("seconds", 0.0)) for line in lines if line.strip())


def machine(threads: int, given: bool) -> str:
    """What the build ran on, in words: CPU model, cores, the torch threads the run used and who chose them."""
    import platform

    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                model = line.partition(":")[2].strip()
                break
    except OSError:
        pass
    who = "--threads" if given else "zoo's choice"
    return f"{model}, {os.cpu_count()} cores, {threads} torch thread{'s' if threads != 1 else ''} ({who})"


def build_one(build: Build, options: argparse.Namespace, env: dict[str, str]) -> dict[str, Any]:
    started = time.perf_counter()
    data_args: tuple[str, ...] = ()
    if build.needs_mnist and options.data_dir:
        data_args = ("--data-dir", str(Path(options.data_dir).resolve()))
    thread_args = ("--threads", str(options.threads)) if options.threads else ()
    common = ("--recipe", build.recipe, "--seed", str(build.seed), "--device", "cpu", *thread_args, *data_args)
    with tempfile.TemporaryDirectory(prefix="zoo-weights-") as tmp_name:
        tmp = Path(tmp_name)
        run = tmp / "run"
        argv = ["train", build.model, *common, *build.args, "--out", str(run), "-q"]
        zoo(*argv, env=env)
        train_seconds = in_run_seconds(run / "metrics.jsonl")

        package_dir = ROOT / "packages" / build.distribution / "src" / build.package
        relative = f"weights/{build.stem}-{TAG}.safetensors"
        target = package_dir / relative
        metadata = strip_resume_state(run / "last.safetensors", target)
        evaluated = json.loads(zoo("eval", str(target), *data_args, "--json", env=env).stdout)

        entry: dict[str, Any] = {
            "model": build.model,
            "tag": TAG,
            "file": relative,
            "sha256": sha256(target),
            "size": target.stat().st_size,
            "dataset": metadata.get("dataset", ""),
            "split": build.split,
            "metric": build.metric,
            "value": float(evaluated[build.metric]),
            "recipe": build.recipe,
            "command": shown(argv, tmp),
            "seed": build.seed,
            "train_seconds": round(train_seconds, 3),
            "device": "cpu",
            "machine": machine(json.loads((run / "config.json").read_text())["threads"], bool(options.threads)),
            "summary": build.summary,
            "epochs": int(json.loads(metadata.get("hparams", "{}")).get("epochs", 0)),
            "torch_version": metadata.get("torch_version", ""),
        }
        if build.folds:
            cv_argv = ["train", build.model, *common, "--folds", str(build.folds), "--out", str(tmp / "cv"), "-q"]
            zoo(*cv_argv, env=env)
            summary = json.loads((tmp / "cv" / "folds.json").read_text(encoding="utf-8"))
            entry["value"] = float(summary["mean"])
            entry["value_std"] = float(summary["std"])
            entry["per_fold"] = [round(float(r["value"]), 6) for r in summary["per_fold"]]
            entry["metric_command"] = shown(cv_argv, tmp)
            entry["train_value"] = float(evaluated[build.metric])  # on the rows it was trained on
    entry["build_seconds"] = round(time.perf_counter() - started, 2)
    return entry


def write_manifest(package_dir: Path, entries: list[dict[str, Any]]) -> Path:
    path = package_dir / "weights" / MANIFEST
    old: list[dict[str, Any]] = []
    if path.is_file():
        old = json.loads(path.read_text(encoding="utf-8")).get("weights", [])
    fresh = {(e["model"], e["tag"]): e for e in entries}
    kept = [e for e in old if (e["model"], e["tag"]) not in fresh]
    order = {b.model: i for i, b in enumerate(BUILDS)}
    merged = sorted([*kept, *fresh.values()], key=lambda e: (order.get(e["model"], 99), e["tag"]))
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {"format": 1, "weights": merged}
    partial = path.with_name(f".{MANIFEST}.tmp-{os.getpid()}")
    partial.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    os.replace(partial, path)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", help="folder holding MNIST/raw/* (default: zoo's data folder)")
    parser.add_argument("--only", default="*", help="shell pattern of the models to rebuild, e.g. 'vision.*'")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads per run (default: zoo's choice)")
    parser.add_argument(
        "--restamp",
        action="store_true",
        help="do not train: rewrite the shipped files' metadata in the current format and update the manifests",
    )
    options = parser.parse_args()

    chosen = [b for b in BUILDS if fnmatch.fnmatchcase(b.model, options.only)]
    if not chosen:
        sys.exit(f"no model matches {options.only!r}: " + ", ".join(b.model for b in BUILDS))
    env = {k: v for k, v in os.environ.items() if k not in ("ZOO_LOAD_PLUGINS", "ZOO_STRICT_PLUGINS")}
    env.setdefault("MPLBACKEND", "Agg")
    if shutil.which("nvidia-smi"):
        env.setdefault("CUDA_VISIBLE_DEVICES", "")  # the published sets are CPU builds
    by_package: dict[Path, list[dict[str, Any]]] = {}
    for build in chosen:
        entry = restamp(build) if options.restamp else build_one(build, options, env)
        package_dir = ROOT / "packages" / build.distribution / "src" / build.package
        by_package.setdefault(package_dir, []).append(entry)
        extra = f" ± {entry['value_std']:.3f} over {build.folds} folds" if build.folds else ""
        print(
            f"{build.model:18} {entry['metric']} {entry['value']:.4f}{extra} on {build.split.split(' (')[0]}; "
            f"train {entry['train_seconds']:.1f} s, build {entry['build_seconds']:.1f} s; "
            f"{entry['size']:,} bytes -> {build.package}/{entry['file']}",
            flush=True,
        )
    for package_dir, entries in by_package.items():
        print(f"wrote {write_manifest(package_dir, entries).relative_to(ROOT)}")


if __name__ == "__main__":
    main()
