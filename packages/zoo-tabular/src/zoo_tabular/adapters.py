"""How the trainer and ``zoo predict`` treat the tabular models."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from zoo.adapter import ModelAdapter, Strategy, parse_numbers
from zoo.data import DataBundle
from zoo_tabular import strategies
from zoo_tabular.csvfile import read_table
from zoo_tabular.datasets import prediction_features, prediction_meta


class TabularAdapter(ModelAdapter):
    """Prediction from numbers on the command line or rows of a CSV (``--csv FILE``).

    Inputs get the training split's standardization from the checkpoint's metadata;
    a row may hold just the features or every column of the training file.
    """

    def predict(
        self,
        model: nn.Module,
        inputs: list[str],
        meta: dict[str, Any],
        options: dict[str, Any],
        device: torch.device,
    ) -> list[dict[str, Any]]:
        rows = [parse_numbers(text) for text in inputs]
        names = list(inputs)
        places = [f"input {text!r}" for text in inputs]
        if options.get("csv"):
            table = read_table(options["csv"])
            rows += table.rows
            names += [f"{Path(table.path).name}:{line}" for line in table.lines]
            places += [f"{table.path}, line {line}" for line in table.lines]
        x = prediction_features(rows, meta, places).to(device)
        model.eval()
        with torch.no_grad():
            outputs = model(x).float().reshape(len(x), -1).cpu()
        results = []
        for name, row, out in zip(names, rows, outputs.tolist()):
            value = out[0] if len(out) == 1 else out
            result: dict[str, Any] = {"input": name, "values": row, "output": value}
            if self.task == "binary":
                result["probability"] = value
                result["label"] = int(value >= 0.5)
                result["display"] = f"(probability of label 1; predicted label {result['label']})"
            results.append(result)
        return results

    # -- export and serving -----------------------------------------------------
    def input_form(self, meta: dict[str, Any]) -> dict[str, Any]:
        """One field per feature, named after the training file's columns; the raw (unstandardized) values."""
        prediction_meta(meta, 1)  # a damaged feature count or standardization fails here, by field
        form = super().input_form(meta)
        form["label"] = meta.get("label", "")
        form["binary"] = self.task == "binary"
        return form

    def preprocessing(self, meta: dict[str, Any]) -> dict[str, Any]:
        """The training split's standardization, checked: a finite mean and positive std per feature."""
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
