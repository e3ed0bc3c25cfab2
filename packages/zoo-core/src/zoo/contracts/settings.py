"""Every run option and shared hyperparameter of ``zoo train``, declared once.

Each ``Setting`` says its type, default, bounds or choices, help and metavar, and what
it is to each reader: where it is a command-line option (``commands``), whether
``config.json`` keeps it as a setting or only as information (``config``), what
``--resume`` does with it (``on_resume``) and what ``zoo tune`` does with it (``tune``).
The CLI options (``zoo.cli.common``), the configuration schema
(``zoo.training.runconfig``), ``zoo.train``'s and ``zoo.fit``'s keywords, tune's fixed
and refused keys and the resume rules are all read from ``SETTINGS``; ``check`` is the
one range check, so a bound gives one message wherever the value came from. No torch.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from zoo.contracts.metadata import PRECISIONS
from zoo.contracts.setting import Group, Kind, Setting
from zoo.contracts.spec import BASE_HPARAMS

#: The largest seed torch accepts: seeds are whole numbers in [0, 2**63).
MAX_SEED = 2**63 - 1
#: The largest number of epochs or batch size zoo accepts; larger is a typo or an attack.
MAX_COUNT = 10**9
OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULES = ("none", "cosine", "onecycle")


def _hparam(name: str, kind: Kind, help: str, **more: Any) -> Setting:
    """A key every recipe has: typed by the shared default, kept inside ``hparams`` in config.json."""
    more.setdefault("on_resume", "keep")
    return Setting(name, kind, help, default=BASE_HPARAMS[name], group="hparams", **more)


SETTINGS: tuple[Setting, ...] = (
    Setting("recipe", "str", "Named recipe (see zoo info NAME).", group="recipe", metavar="RECIPE", config="setting"),
    # Only the epochs of a resumed run may change (and only without a schedule: zoo.training.resumeplan).
    _hparam("epochs", "int", "Number of epochs.", metavar="N", low=1, high=MAX_COUNT, on_resume="change"),
    _hparam("batch_size", "int", "Batch size (0 = full batch).", metavar="N", low=0, high=MAX_COUNT),
    _hparam("lr", "float", "Learning rate.", metavar="LR", low=0.0, above=True),
    _hparam("optimizer", "str", "sgd, adam or adamw.", metavar="|".join(OPTIMIZERS), choices=OPTIMIZERS),
    _hparam("momentum", "float", "SGD momentum.", metavar="M", low=0.0),
    _hparam("weight_decay", "float", "Weight decay (L2 penalty).", metavar="W", low=0.0),
    _hparam(
        "schedule",
        "str",
        "none, cosine or onecycle.",
        metavar="|".join(SCHEDULES),
        choices=SCHEDULES,
    ),
    _hparam("method", "str", "How the model is fitted (see zoo info NAME).", metavar="METHOD"),
    _hparam(
        "min_steps",
        "int",
        "The fewest optimizer steps the run takes (0: epochs alone decide).",
        metavar="N",
        low=0,
        high=MAX_COUNT,
    ),
    Setting(
        "seed",
        "int",
        "Random seed (default 0).",
        metavar="N",
        low=0,
        high=MAX_SEED,
        commands=("train", "bench"),
        config="setting",
        on_resume="keep",
        checkpoint=True,
    ),
    Setting(
        "device",
        "str",
        "auto, cpu, cuda, mps, npu (or NAME:INDEX); auto: the first accelerator, else the CPU.",
        default="auto",
        metavar="DEVICE",
        commands=("train", "bench", "eval"),
        config="info",
    ),
    Setting(
        "data_dir",
        "path",
        "Data folder (default $ZOO_DATA_DIR or ~/.cache/zoo).",
        metavar="DIR",
        commands=("train", "bench", "eval"),
        config="info",
    ),
    Setting("out", "path", "Run folder (default runs/<model>/<timestamp>).", metavar="RUN_DIR", tune=None),
    Setting("resume", "path", "Continue the run in this folder.", metavar="RUN_DIR", tune="refused"),
    Setting(
        "precision",
        "str",
        "fp32 (default), bf16 or fp16 (autocast).",
        metavar="|".join(PRECISIONS),
        choices=PRECISIONS,
        config="setting",
        on_resume="keep",
        checkpoint=True,
    ),
    Setting(
        "deterministic",
        "bool",
        "Deterministic kernels, reproducible bit for bit.",
        default=False,
        negatable=True,
        config="setting",
        checkpoint=True,
    ),
    Setting(
        "quiet",
        "bool",
        "Print only the final summary, no line per epoch or trial.",
        default=False,
        short=("-q",),
        commands=("train", "tune"),
        tune="refused",
    ),
    Setting(
        "download",
        "bool",
        "Fetch missing data sets (off with ZOO_OFFLINE=1 too).",
        default=True,
        negatable=True,
        commands=("train", "eval"),
    ),
    Setting(
        "weights",
        "str",
        "Start from these weights: a tag of the model's published weights, or a checkpoint.",
        metavar="TAG|CKPT",
        config="setting",
        on_resume="keep",
    ),
    Setting(
        "save_every",
        "int",
        "Save last.safetensors every N epochs (0: only at the end; default: every 10 s of training).",
        metavar="N",
        low=0,
        high=MAX_SEED,
        config="setting",
    ),
    Setting(
        "early_stop",
        "int",
        "Stop when the main validation metric has not improved for PATIENCE epochs "
        "(last.safetensors is saved). --resume keeps a run's patience; --early-stop 0 turns it off.",
        metavar="PATIENCE",
        low=0,
        high=MAX_SEED,
        config="setting",
    ),
    Setting(
        "threads",
        "int",
        "CPU threads for torch (default: 1 for small models or a busy machine, else the free "
        "cores; the run's config.json records it).",
        metavar="N",
        low=1,
        high=MAX_COUNT,
        config="info",
    ),
    Setting(
        "log_every",
        "int",
        "Print every N-th epoch (default: about 30 lines at most); the first and last always.",
        metavar="N",
        low=1,
        high=MAX_COUNT,
        group="cli",
    ),
    Setting(
        "json",
        "bool",
        "Print JSON on stdout and nothing else there (progress and notes go to stderr).",
        default=False,
        group="cli",
        commands=("train", "tune", "bench", "eval"),
        tune=None,
        keyword=False,
    ),
    Setting(
        "folds",
        "int",
        "K > 1: K-fold cross-validation, one run per fold in RUN_DIR/fold-<i>, with mean ± std.",
        default=1,
        metavar="K",
        low=1,
        high=MAX_COUNT,
        group="cli",
        on_resume="refuse",
        tune="refused",
        keyword=False,
    ),
    Setting(
        "config",
        "path",
        "Train as this file says (a run's config.json, or --print-config's output); options given here override it.",
        metavar="FILE",
        group="cli",
        on_resume="refuse",
        tune="refused",
        keyword=False,
    ),
    Setting(
        "print_config",
        "bool",
        "Print the configuration as JSON (for --config) and exit without training.",
        default=False,
        group="cli",
        tune="refused",
        keyword=False,
    ),
)

#: Keys of config.json that say what happened, not what to do, besides the informational settings:
#: ``data_config`` holds the builder arguments the data decided (``in_features``), which the data
#: decides again; ``epochs_note`` says why the epochs were raised; ``weights_transfer`` which
#: tensors of ``weights`` were re-initialised for new layer sizes.
RECORDS = ("data_source", "data_config", "world_size", "versions", "epochs_note", "weights_transfer")


def setting_or_none(name: str) -> Setting | None:
    """The declared setting of that name, or None."""
    return next((s for s in SETTINGS if s.name == name), None)


def setting(name: str) -> Setting:
    """The declared setting of that name (KeyError when there is none)."""
    for s in SETTINGS:
        if s.name == name:
            return s
    raise KeyError(name)


def named(group: Group | None = None, **wanted: Any) -> list[Setting]:
    """The settings of ``group`` whose attributes equal ``wanted`` (``config="setting"``), in declared order."""
    return [
        s
        for s in SETTINGS
        if (group is None or s.group == group) and all(getattr(s, k) == v for k, v in wanted.items())
    ]


def names(settings: Iterable[Setting]) -> list[str]:
    return [s.name for s in settings]


def keywords() -> list[str]:
    """``zoo.train``'s and ``zoo.fit``'s keywords: the run options, the recipe, hyperparameters and ``log_every``."""
    return [s.name for s in SETTINGS if s.keyword]


def on_command(command: str) -> list[Setting]:
    """The settings a command shows as options of its own, in declared order."""
    return [s for s in SETTINGS if command in s.commands]


def refused_on_resume(given: dict[str, Any]) -> list[str]:
    """Flags of the settings in ``given`` (not None) that a resumed run keeps and so refuses."""
    return [s.flag for s in SETTINGS if s.group == "run" and s.on_resume == "keep" and given.get(s.name) is not None]


def check_given(given: dict[str, Any]) -> None:
    """Every declared setting in ``given`` within its bounds: the one check of the CLI, the API and the files."""
    for key, value in given.items():
        declared = setting_or_none(key)
        if declared is not None and declared.kind != "path":
            declared.check(value)
