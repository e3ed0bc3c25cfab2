"""How the trainer and ``zoo predict`` treat the tabular models."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from zoo.plugin import (
    DataBundle,
    ModelAdapter,
    PredictInput,
    Strategy,
    class_names,
    number_row,
    parse_numbers,
)
from zoo_tabular import strategies
from zoo_tabular.predictrows import prediction_features, prediction_meta, prediction_rows
from zoo_tabular.tableio import (
    chosen_metric,
    csv_rows_by_name,
    encode_rows,
    example_rows,
    row_cells,
    table_form,
    table_plan,
    table_preprocessing,
    text_cells,
)


class TabularAdapter(ModelAdapter):
    """Prediction from numbers on the command line or rows of a CSV (``--csv FILE``).

    Inputs get the training split's standardization from the checkpoint's metadata;
    a row may hold just the features or every column of the training file.
    """

    def expand(self, inputs: list[Any], meta: dict[str, Any], options: dict[str, Any]) -> list[PredictInput]:
        """The command line's rows and a ``--csv FILE``'s (``FILE:LINE``), checked with each place named.

        Each result shows its row's ``values``: the numbers given, or a model of typed
        columns' cells by feature.
        """
        if "table" in meta:
            return _table_inputs(inputs, meta, options)
        rows = [parse_numbers(text) for text in inputs]
        names = list(inputs)
        places = [f"input {text!r}" for text in inputs]
        if options.get("csv"):
            _add_csv(prediction_rows(options["csv"], meta), rows, names, places)
        if rows:
            prediction_features(rows, meta, places)  # every row's width, refused by its place
        return [PredictInput(name, row, {"values": row}) for name, row in zip(names, rows, strict=True)]

    def decode(
        self, outputs: torch.Tensor, meta: dict[str, Any], options: dict[str, Any]
    ) -> list[dict[str, Any]]:
        """The task's reading of the outputs; a binary model's line says what its number is."""
        results = super().decode(outputs, meta, options)
        if self.task == "binary" and "table" not in meta:
            for result in results:
                result["display"] = f"(probability of label 1; predicted label {result['label']})"
        return results

    def transforms(self, meta: dict[str, Any]) -> Callable[[Any], torch.Tensor]:
        """Numbers text (the features, or every column of the training file) -> the standardized features.

        A model of typed columns takes a raw row (text, a list of cells, or a mapping of column
        names to cells) and gives the model's row: raw numbers and category indices.
        """
        if "table" in meta:
            plan = table_plan(meta)

            def encode(raw: Any) -> torch.Tensor:
                place = f"input {str(raw)[:60]!r}"
                if isinstance(raw, dict):
                    row = {str(k): str(v) for k, v in raw.items()}
                else:
                    cells = text_cells(raw) if isinstance(raw, str) else [str(v) for v in raw]
                    row = row_cells(plan, cells, place)
                return encode_rows(plan, [row], [place])[0]

            return encode
        prediction_meta(meta, 1)  # a damaged feature count or standardization fails here, by field

        def transform(raw: Any) -> torch.Tensor:
            row = parse_numbers(raw) if isinstance(raw, str) else number_row(raw)
            return prediction_features([row], meta, [f"input {str(raw)[:60]!r}"])[0]

        return transform

    # -- export and serving -----------------------------------------------------
    def input_form(self, meta: dict[str, Any]) -> dict[str, Any]:
        """One field per feature, named after the training file's columns; the raw (unstandardized) values.

        A model of typed columns takes one text row (``kind`` text) and lists its ``fields``: each
        column's name, whether it is a number or a category, and the categories it knows.
        """
        if "table" in meta:
            return table_form(table_plan(meta), meta, self.task == "binary")
        prediction_meta(meta, 1)  # a damaged feature count or standardization fails here, by field
        form = super().input_form(meta)
        form["label"] = meta.get("label", "")
        form["binary"] = self.task == "binary"
        return form

    def example_batch(
        self, meta: dict[str, Any], batch: int = 2, model: nn.Module | None = None
    ) -> torch.Tensor:
        """Typed columns: a row of medians and first categories, then one all missing (NaN, index 1)."""
        if "table" not in meta:
            return super().example_batch(meta, batch, model)
        return example_rows(table_plan(meta), batch)

    def preprocessing(self, meta: dict[str, Any]) -> dict[str, Any]:
        """The training split's standardization, checked: a finite mean and positive std per feature."""
        if "table" in meta:
            return table_preprocessing(table_plan(meta))
        _, _, _, stats = prediction_meta(meta, 1)
        return {"standardize": {"mean": stats[0], "std": stats[1]}} if stats else {}


class LogisticAdapter(TabularAdapter):
    """Three training rows are all classified right long before the fit is done, so
    ``best.safetensors`` follows the loss rather than the accuracy."""

    @property
    def main_metric(self) -> tuple[str, str]:
        return ("loss", "min")


class LineAdapter(TabularAdapter):
    """y = w*x (+ b): adds the hand-written fitting methods and prints w (and b) each epoch."""

    optimizer_free = frozenset({"grid", "gd", "sgd", "minibatch"})

    def check(self, hparams: dict[str, Any], config: dict[str, Any]) -> None:
        """A grid search's size is known before it starts: refuse one that is too large."""
        if hparams.get("method") == "grid":
            strategies.grid_values(hparams, 2 if config.get("bias") else 1)

    def strategies(self) -> dict[str, Strategy]:
        return {
            "autograd": strategies.autograd,
            "grid": strategies.grid_search,
            "gd": strategies.gradient_descent,
            "sgd": strategies.stochastic_gradient_descent,
            "minibatch": strategies.minibatch_gradient_descent,
        }

    def epoch_report(self, model: nn.Module, bundle: DataBundle, device: torch.device) -> str | None:
        line = strategies.line_of(model)
        text = "w=" + ", ".join(f"{v:.6f}" for v in line.weight.detach().float().reshape(-1).tolist())
        if line.bias is not None:
            text += f"  b={line.bias.detach().float().item():.6f}"
        return text


class ChosenMetric(TabularAdapter):
    """A recipe's ``metric`` (``--metric NAME``) as the main metric: best epoch, early stopping, tune."""

    chosen: tuple[str, str] | None = None
    #: Metrics this adapter logs beyond its task's.
    extra_metrics: tuple[str, ...] = ()

    def check(self, hparams: dict[str, Any], config: dict[str, Any]) -> None:
        self.chosen = chosen_metric(self.task_type, hparams.get("metric"), self.extra_metrics)

    @property
    def main_metric(self) -> tuple[str, str]:
        return self.chosen or self.task_type.main_metric


class ClassifierAdapter(ChosenMetric):
    """``tabular.classifier``: class names from the training file, ``--top K`` for the K likeliest.

    ``--class-weight auto`` reaches the loss through the model config's ``class_weight``.
    """

    weight: torch.Tensor | None = None

    def check(self, hparams: dict[str, Any], config: dict[str, Any]) -> None:
        super().check(hparams, config)
        weights = config.get("class_weight")
        self.weight = torch.tensor(weights, dtype=torch.float32) if weights else None

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        if self.weight is None:
            return super().loss(outputs, targets)
        if self.weight.device != outputs.device:
            self.weight = self.weight.to(outputs.device)
        return nn.functional.cross_entropy(outputs.float(), targets, weight=self.weight)

    def input_form(self, meta: dict[str, Any]) -> dict[str, Any]:
        form = super().input_form(meta)
        form["classes"] = class_names(meta) or []
        return form


class RegressorAdapter(ChosenMetric):
    """``tabular.regressor``: mean squared error picks the best epoch; MAE and R² are logged beside it."""

    extra_metrics = ("mae", "r2")

    def batch_stats(
        self, outputs: torch.Tensor, targets: torch.Tensor, num_classes: int | None
    ) -> dict[str, torch.Tensor]:
        stats = super().batch_stats(outputs, targets, num_classes)
        y = targets.float()
        stats["abs_err"] = (outputs.float() - y).abs().sum()
        stats["y_sum"] = y.sum()
        stats["y_sq_sum"] = y.pow(2).sum()
        return stats

    def finalize(self, stats: dict[str, torch.Tensor]) -> dict[str, Any]:
        out = super().finalize(stats)
        values = float(stats["values"].item()) if "values" in stats else 0.0
        if values and "abs_err" in stats:
            out["mae"] = float(stats["abs_err"].item()) / values
            y_sum, y_sq = float(stats["y_sum"].item()), float(stats["y_sq_sum"].item())
            spread = y_sq - y_sum * y_sum / values  # the sum of squares around the split's mean
            if spread > 1e-12 * max(y_sq, 1.0):
                out["r2"] = 1.0 - float(stats["sq_err"].item()) / spread
        return out

    def export_module(self, model: nn.Module, meta: dict[str, Any]) -> nn.Module:
        """The network before the output scaling: standardized targets, well inside float32's precision.

        Scaled to the target's units, a target of millions would differ between the export and
        PyTorch by more than the export check allows; the scaling is in ``preprocessing`` instead.
        """
        net = getattr(model, "net", None)
        return net if isinstance(net, nn.Module) else model

    def preprocessing(self, meta: dict[str, Any]) -> dict[str, Any]:
        """The features' standardization, and how the exported output becomes the target's units."""
        steps = super().preprocessing(meta)
        scale = meta.get("target_scale")
        if isinstance(scale, dict):
            mean, std = scale.get("mean"), scale.get("std")
            if not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                for v in (mean, std)
            ):
                raise ValueError(
                    f"data_meta.target_scale must hold a finite mean and std, got {str(scale)[:60]}"
                )
            steps["output"] = {"mean": mean, "std": std, "how": "prediction = output * std + mean"}
        return steps


def _table_inputs(inputs: list[Any], meta: dict[str, Any], options: dict[str, Any]) -> list[PredictInput]:
    """Raw rows (text and numbers, as in the training file) read by the checkpoint's table plan."""
    plan = table_plan(meta)
    rows = [row_cells(plan, text_cells(text), f"input {text[:60]!r}") for text in inputs]
    names, places = list(inputs), [f"input {text[:60]!r}" for text in inputs]
    if options.get("csv"):
        _add_csv(csv_rows_by_name(options["csv"], plan), rows, names, places)
    if rows:
        encode_rows(plan, rows, places)  # every row's cells, refused by its place
    return [
        PredictInput(name, row, {"values": [row.get(c, "") for c in plan.features]})
        for name, row in zip(names, rows, strict=True)
    ]


def _add_csv(
    found: tuple[str, list[int], list[Any]], rows: list[Any], names: list[str], places: list[str]
) -> None:
    """Append a ``--csv`` file's rows, each named ``FILE:LINE`` and placed by path and line for errors."""
    path, lines, csv_rows = found
    rows += csv_rows
    names += [f"{Path(path).name}:{line}" for line in lines]
    places += [f"{path}, line {line}" for line in lines]
