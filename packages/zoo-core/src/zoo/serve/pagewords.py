"""The words the page of ``zoo serve`` shows for one model, from its checkpoint: task, classes, data, metric.

A model family's summary (``vision.cnn``'s ``fc(320->10)``) describes the notes' MNIST
model, not a checkpoint trained on five letters; so the page says what the checkpoint
itself records. Built here, in Python, so ``GET /v1/models`` carries them and a test can
read them without a browser.
"""

from __future__ import annotations

import math
from typing import Any

#: Class names listed in a sentence before the rest are counted.
SHOWN_CLASSES = 12


def class_list(classes: list[str]) -> str:
    """``a, b, c`` (or ``0, 1, ..., 9 and 40 more``)."""
    shown = ", ".join(classes[:SHOWN_CLASSES])
    more = len(classes) - SHOWN_CLASSES
    return f"{shown} and {more} more" if more > 0 else shown


def about(description: dict[str, Any], data_meta: dict[str, Any], main_metric: tuple[str, str]) -> str:
    """One sentence: what the model answers, what it was trained on, and its held-out main metric."""
    task = description.get("task")
    classes = description.get("labels") or []
    target = data_meta.get("label")
    if task == "multiclass" and classes:
        what = f"a classifier of {len(classes)} classes ({class_list([str(c) for c in classes])})"
    elif task == "binary":
        what = f"a binary classifier (the probability that {target} is 1)" if target else "a binary classifier"
    elif task == "regression":
        what = f"a regressor of {target}" if target else "a regressor"
    elif task == "sequence":
        what = "a character model"
    else:
        what = f"a {task} model"
    sentence = f"{description.get('model')}: {what}"
    source = data_meta.get("source")
    if isinstance(source, str) and source:
        sentence += f", trained on {source[:80]}"
    score = metric_words(description.get("metrics") or {}, data_meta, main_metric)
    return f"{sentence}{'; ' + score if score else ''}."


def metric_words(metrics: dict[str, Any], data_meta: dict[str, Any], main_metric: tuple[str, str]) -> str:
    """``val accuracy 91.2% on 200 samples`` from the checkpoint's metrics; empty when it has none."""
    split = metrics.get("eval_split") if isinstance(metrics.get("eval_split"), str) else "val"
    shown = []
    for name in dict.fromkeys((main_metric[0], "r2")):  # r2 beside an mse says how good that is
        value = metrics.get(f"val_{name}", metrics.get(name))  # val_ even when evaluated on the training rows
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            shown.append(f"{name} {value * 100:.1f}%" if name == "accuracy" else f"{name} {value:.4g}")
    if not shown:
        return ""
    counts = data_meta.get("split")
    count = counts.get(str(split)) if isinstance(counts, dict) else None
    on = f" on {count} samples" if isinstance(count, int) and not isinstance(count, bool) and count > 0 else ""
    noun = {"val": "validation", "train": "training"}.get(str(split), str(split))
    return f"{noun} {', '.join(shown)}{on}"


def prompt(form: dict[str, Any], task: str, classes: list[Any] | None, target: Any) -> str:
    """What the form asks for, in the model's own terms."""
    kind = form.get("kind")
    if kind == "image":
        names = [str(c) for c in classes or form.get("classes") or []]
        one_of = f"one of {class_list(names)}" if names else "a picture"
        return f"Draw {one_of} in white on black, or upload a picture; it is read as a {form.get('size')}-pixel square."
    fields = form.get("fields")
    if kind == "text" and not isinstance(fields, list):
        vocab = form.get("vocab")
        return f"Type text using the characters {vocab!r}." if vocab else "Type some text."
    count = form.get("count", 1)
    start = f" The fields start at {form['example_from']}." if form.get("example_from") else ""
    if isinstance(fields, list):  # typed columns: numbers and categories, each with its example
        start = " The fields start at the training medians and each category's first value."
    if task == "regression":
        goal = f"predicts {target}" if target else "predicts a value"
    elif task == "binary":
        goal = f"gives the probability that {target} is 1" if target else "gives the probability of label 1"
    elif classes:
        goal = f"picks one of {len(classes)} classes"
    else:
        goal = "answers"
    return f"Enter the {count} column(s) of one row; the model {goal}.{start}"
