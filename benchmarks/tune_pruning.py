"""Does ``zoo tune``'s default pruner throw winners away? Every pruned trial is rerun to the end.

Three studies, each with the default pruner and a seeded TPE sampler, one after the other
in this process (one torch thread):

- ``logistic``: ``tabular.logistic``, ``lr=0.001..1:log`` (the notes' three points);
- ``diabetes``: ``tabular.diabetes``, ``lr`` and ``batch_size`` (the shipped CSV, or ``--diabetes FILE``);
- ``vision``: ``vision.cnn`` on ``--vision-size`` MNIST training images, judged on 5,000
  other training images, ``epochs=3..8`` searched too, so trials of different schedule
  lengths meet the pruner.

Every pruned trial is then trained to completion with the same settings and seed (runs
are deterministic on the CPU with one thread), and its best value is compared with the
best of the study's completed trials. The JSON holds, per study and in total: trials,
pruned, pruned trials that would have beaten the best (goal 0), and the share of
trial-epochs the pruning saved (goal >= 30 %). ``--sweep`` then replays other pruner
settings (``CANDIDATES``) on the now complete histories (same trials, in the same order;
a sampler seeing other outcomes would have drawn other trials, so this ranks settings, it
does not prove them). ``--save FILE`` keeps those histories, and ``--replay FILE...``
sweeps several saved runs together (other sampler seeds) without training anything.

    python benchmarks/tune_pruning.py --mnist /work/shared/data/mnist
    python benchmarks/tune_pruning.py --mnist /work/shared/data/mnist --trials 24 --vision-size 4000 --sweep
    python benchmarks/tune_pruning.py --sampler-seed 1 --save seed1.json   # then: --replay seed0.json seed1.json
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

#: What each study searches and fixes.
STUDIES: dict[str, dict[str, Any]] = {
    "logistic": {"model": "tabular.logistic", "space": ["lr=0.001..1:log"], "fixed": {}},
    "diabetes": {
        "model": "tabular.diabetes",
        "space": ["lr=0.001..0.1:log", "batch_size=16,32,64"],
        "fixed": {},
    },
    "vision": {
        "model": "vision.cnn",
        "space": ["epochs=3..8", "lr=0.003..0.05:log"],
        "fixed": {"batch_size": 128},
    },
}


def history(run_dir: Path) -> list[dict[str, Any]]:
    path = run_dir / "metrics.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.is_file() else []


def best_of(rows: list[dict[str, Any]], key: str, maximize: bool) -> float | None:
    values = [r[key] for r in rows if isinstance(r.get(key), (int, float)) and math.isfinite(r[key])]
    return (max(values) if maximize else min(values)) if values else None


def planned_epochs(run_dir: Path) -> int:
    return int(json.loads((run_dir / "config.json").read_text())["hparams"]["epochs"])


def run_study(name: str, case: dict[str, Any], trials: int, seed: int, work: Path) -> dict[str, Any]:
    """The study with the default pruner, then every pruned trial rerun to the end."""
    import zoo
    from zoo.tuning.study import tune

    options = {"device": "cpu", "threads": 1, "seed": 0, "download": False, **case["fixed"]}
    started = time.perf_counter()
    tune(case["model"], space=case["space"], trials=trials, sampler_seed=seed, out=work / name, study=name, **options)
    tuned_s = time.perf_counter() - started
    import optuna
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    storage = JournalStorage(JournalFileBackend(str(work / name / "study.journal")))
    study = optuna.load_study(study_name=name, storage=storage)
    maximize = study.direction.name == "MAXIMIZE"
    key = study.user_attrs["metric"]
    rows = []
    for trial in study.get_trials(deepcopy=False):
        run_dir = Path(trial.user_attrs["run"])
        done, planned = len(history(run_dir)), planned_epochs(run_dir)
        full = history(run_dir)
        if trial.state.name == "PRUNED":
            rerun = zoo.train(case["model"], out=work / f"{name}-rerun-{trial.number}", quiet=True,
                              **options, **trial.params)  # fmt: skip
            full = list(rerun.history)
        rows.append({
            "trial": trial.number, "state": trial.state.name.lower(), "params": trial.params,
            "epochs_run": done, "epochs_planned": planned, "best": best_of(full, key, maximize),
            "curve": [(r["epoch"], r.get(key)) for r in full],
        })  # fmt: skip
    return {"key": key, "maximize": maximize, "rows": rows, "tune_seconds": round(tuned_s, 1)}


def judge(study: dict[str, Any], pruned_of: dict[int, int] | None = None) -> dict[str, Any]:
    """Trials, pruned, winners lost and trial-epochs saved; ``pruned_of`` maps a trial to its epochs run."""
    rows, maximize = study["rows"], study["maximize"]
    ran = {r["trial"]: r["epochs_run"] for r in rows if r["state"] == "pruned"} if pruned_of is None else pruned_of
    complete = [r["best"] for r in rows if r["trial"] not in ran and r["best"] is not None]
    best = (max(complete) if maximize else min(complete)) if complete else None
    lost = [
        r["trial"]
        for r in rows
        if r["trial"] in ran and r["best"] is not None and best is not None
        and (r["best"] > best if maximize else r["best"] < best)
    ]  # fmt: skip
    planned = sum(r["epochs_planned"] for r in rows)
    spent = sum(ran.get(r["trial"], r["epochs_planned"]) for r in rows)
    return {
        "trials": len(rows), "pruned": len(ran), "winners_lost": len(lost), "lost_trials": lost,
        "best_kept": best, "best_any": max(r["best"] for r in rows if r["best"] is not None) if maximize
        else min(r["best"] for r in rows if r["best"] is not None),
        "trial_epochs": planned, "trial_epochs_saved": planned - spent,
        "saved_share": round((planned - spent) / planned, 3) if planned else 0.0,
    }  # fmt: skip


def replay(study: dict[str, Any], stages: tuple[tuple[float, float], ...], startup: int) -> dict[int, int]:
    """Which trials a pruner with these settings would stop, and after how many epochs, on the full curves."""
    from zoo.tuning.pruning import schedule_step, should_prune

    direction = SimpleNamespace(name="MAXIMIZE" if study["maximize"] else "MINIMIZE")
    finished: list[Any] = []
    stopped: dict[int, int] = {}
    for row in study["rows"]:
        values: dict[int, float] = {}
        epochs = row["epochs_planned"]
        for epoch, value in row["curve"]:
            if isinstance(value, (int, float)):
                values[schedule_step(epoch, epochs)] = float(value)
            trial = SimpleNamespace(last_step=max(values) if values else None, intermediate_values=dict(values))
            fake = SimpleNamespace(direction=direction, get_trials=lambda deepcopy=False, states=(): list(finished))
            if epoch < epochs and should_prune(fake, trial, stages, startup):
                stopped[row["trial"]] = epoch
                break
        else:
            finished.append(SimpleNamespace(intermediate_values=values))
    return stopped


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mnist", type=Path, default=Path("/work/shared/data/mnist"), help="MNIST data folder")
    parser.add_argument("--studies", nargs="+", default=list(STUDIES), choices=list(STUDIES))
    parser.add_argument("--trials", type=int, default=16, help="trials per study")
    parser.add_argument("--vision-size", type=int, default=1000, help="MNIST training images of the vision study")
    parser.add_argument("--sampler-seed", type=int, default=0)
    parser.add_argument("--sweep", action="store_true", help="replay other pruner settings on the full curves")
    parser.add_argument("--save", type=Path, help="write the studies' full curves to this JSON file")
    parser.add_argument("--replay", type=Path, nargs="+", help="sweep earlier --save files; train nothing")
    args = parser.parse_args()
    if args.replay:
        saved = [json.loads(path.read_text()) for path in args.replay]
        print(json.dumps(sweep_runs([s for run in saved for s in run.values()]), indent=2))
        return

    import torch

    torch.set_num_threads(1)
    os.environ["ZOO_NO_PLOTS"] = "1"
    results: dict[str, Any] = {
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}",
        "trials_per_study": args.trials,
        "studies": {},
    }
    studies: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="zoo-prune-") as tmp:
        work = Path(tmp)
        os.environ["ZOO_DATA_DIR"] = str(work / "zoo-data")
        for name in args.studies:
            case = dict(STUDIES[name])
            if name == "vision":
                from small_data import write_subsets

                folder = write_subsets(args.mnist, work / "mnist", [args.vision_size])[args.vision_size]
                case["fixed"] = {**case["fixed"], "data_dir": str(folder)}
            studies[name] = run_study(name, case, args.trials, args.sampler_seed, work)
            results["studies"][name] = {**judge(studies[name]), "seconds": studies[name]["tune_seconds"]}
    totals = [results["studies"][n] for n in studies]
    planned = sum(t["trial_epochs"] for t in totals)
    results["total"] = {
        "winners_lost": sum(t["winners_lost"] for t in totals),
        "pruned": sum(t["pruned"] for t in totals),
        "saved_share": round(sum(t["trial_epochs_saved"] for t in totals) / planned, 3) if planned else 0.0,
        "goal": "0 winners lost, saved_share >= 0.30",
    }
    if args.save:
        args.save.write_text(json.dumps(studies))
    if args.sweep:
        results["sweep"] = sweep(studies)
    print(json.dumps(results, indent=2))


#: The pruner settings ``--sweep`` and ``--replay`` compare: (stages, startup trials). One stage: a warm-up,
#: then a percentile; two: an early stage stopping only the trials behind (nearly) every finished one.
CANDIDATES: list[tuple[tuple[tuple[float, float], ...], int]] = [
    (((warmup, percentile),), startup)
    for warmup in (0.2, 0.25, 0.3, 0.4)
    for percentile in (30.0, 40.0, 50.0, 75.0)
    for startup in (2, 3, 4)
] + [
    (((early, bottom), (warmup, 50.0)), startup)
    for early in (0.1, 0.15, 0.2)
    for bottom in (90.0, 100.0)
    for warmup in (0.3, 0.4)
    for startup in (3, 4)
]


def sweep(studies: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Each candidate setting replayed on these studies: winners lost and trial-epochs saved, in total."""
    return sweep_runs(list(studies.values()))


def sweep_runs(studies: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each candidate replayed on every study given (several runs' studies too), worst study first."""
    out = []
    for stages, startup in CANDIDATES:
        judged = [judge(s, replay(s, stages, startup)) for s in studies]
        planned = sum(j["trial_epochs"] for j in judged)
        out.append({
            "stages": [f"{share:g}:{percentile:g}" for share, percentile in stages], "startup": startup,
            "winners_lost": sum(j["winners_lost"] for j in judged),
            "saved_share": round(sum(j["trial_epochs_saved"] for j in judged) / planned, 3),
            "least_saved": min(j["saved_share"] for j in judged),
        })  # fmt: skip
    return sorted(out, key=lambda r: (r["winners_lost"], -r["saved_share"]))


if __name__ == "__main__":
    main()
