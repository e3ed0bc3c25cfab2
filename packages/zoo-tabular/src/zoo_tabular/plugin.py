"""Hook implementations: the models and datasets zoo-tabular registers.

Only specs live here. Builders, loaders and adapters are named as strings so that
``zoo list`` never imports torch.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from zoo.plugin import TOP_CLASSES, DatasetSpec, ModelSpec, Option, Recipe, hookimpl, published_weights

#: Options every tabular dataset understands (``--data``, ``--val-fraction``...).
DATA_OPTIONS: dict[str, Any] = {
    "data": "",
    "target": "",
    # Another name for --target, kept for the commands written before --target existed.
    "label_column": "",
    "delimiter": "",
    "val_fraction": 0.2,
    "standardize": False,
    # Cross-validation: with folds = K > 1 the rows are cut into K stratified folds
    # (seeded) and fold i (0-based) is the validation split; --val-fraction is unused.
    "fold": 0,
    "folds": 0,
}

#: What ``zoo predict`` takes for every tabular model, besides comma-separated numbers.
PREDICT_OPTIONS = (Option("csv", "", "also predict every row of this CSV file", kind="path"),)

#: The (w, b) grid that ``--method grid`` scans, as in the notes: 0.0, 0.1, ... 4.0.
GRID: dict[str, Any] = {"grid_min": 0.0, "grid_max": 4.0, "grid_step": 0.1}


def _line_recipes(slow: bool) -> tuple[Recipe, ...]:
    """One recipe per fitting method.

    y = w*x takes the notes' settings (lr 0.01, 100 epochs). The affine loss valley is
    long and flat along one direction (the Hessian's eigenvalues differ 46-fold), so
    there the learning rates are larger: each recipe still lands within 1e-2 of
    w = 2, b = 1.
    """
    gd_lr, gd_epochs = (0.15, 200) if slow else (0.01, 100)
    step_lr, step_epochs = (0.1, 100) if slow else (0.01, 100)
    return (
        Recipe(
            "gd",
            "batch gradient descent, gradient written by hand",
            {"method": "gd", "epochs": gd_epochs, "lr": gd_lr, "batch_size": 0, **GRID},
        ),
        Recipe(
            "grid",
            "exhaustive search over the grid, one pass",
            {"method": "grid", "epochs": 1, "batch_size": 0, **GRID},
        ),
        Recipe(
            "sgd",
            "stochastic gradient descent, one sample per step, gradient by hand",
            {"method": "sgd", "epochs": step_epochs, "lr": step_lr, "batch_size": 1, **GRID},
        ),
        Recipe(
            "minibatch",
            "shuffled mini-batches of 2, gradient by hand averaged over the batch",
            {"method": "minibatch", "epochs": step_epochs, "lr": step_lr, "batch_size": 2, **GRID},
        ),
        Recipe(
            "autograd",
            "torch autograd and the SGD optimizer, one sample per step",
            {
                "method": "autograd",
                "epochs": step_epochs,
                "lr": step_lr,
                "batch_size": 1,
                "optimizer": "sgd",
                **GRID,
            },
        ),
    )


def _line_model(name: str, summary: str, bias: bool) -> ModelSpec:
    """The line through the origin and the affine line differ only in the bias and the summary."""
    return ModelSpec(
        name=name,
        weights=published_weights("zoo_tabular", f"tabular.{name}"),
        summary=summary,
        task="regression",
        builder="zoo_tabular.models:build_line",
        dataset=f"tabular.{name}",
        recipes=_line_recipes(slow=bias),
        default_recipe="gd",
        config={"in_features": 1, "bias": bias, "init_weight": 1.0, "init_bias": 0.0},
        adapter="zoo_tabular.adapters:LineAdapter",
        input_shape="(N, 1)",
        output_shape="(N, 1)",
        predict_options=PREDICT_OPTIONS,
        examples=("4.0",),
    )


MODELS: tuple[ModelSpec, ...] = (
    _line_model(
        "linear",
        "y = w*x without bias, fitted by grid search, gradient descent, SGD, mini-batch or autograd",
        bias=False,
    ),
    _line_model(
        "affine",
        "y = w*x + b, the same methods, grid search draws the loss surface over (w, b)",
        bias=True,
    ),
    ModelSpec(
        name="logistic",
        weights=published_weights("zoo_tabular", "tabular.logistic"),
        summary="logistic regression sigmoid(w*x + b) with binary cross-entropy",
        task="binary",
        builder="zoo_tabular.models:build_logistic",
        dataset="tabular.logistic",
        recipes=(
            Recipe(
                "default",
                "Adam lr 0.1 on the full batch, 200 epochs: P(y=1 | x=4) above 0.99",
                {"epochs": 200, "lr": 0.1, "batch_size": 0, "optimizer": "adam"},
            ),
            Recipe(
                "seed",
                "the notes: 1000 epochs of full-batch SGD, lr 0.01 on summed BCE "
                "(= lr 0.03 on mean BCE over the 3 samples)",
                {"epochs": 1000, "lr": 0.03, "batch_size": 0, "optimizer": "sgd"},
            ),
        ),
        config={"in_features": 1},
        adapter="zoo_tabular.adapters:LogisticAdapter",
        input_shape="(N, 1)",
        output_shape="(N, 1) probabilities",
        predict_options=PREDICT_OPTIONS,
        examples=("4.0",),
    ),
    ModelSpec(
        name="diabetes",
        weights=published_weights("zoo_tabular", "tabular.diabetes"),
        summary="8-6-4-1 sigmoid MLP with binary cross-entropy on the diabetes CSV",
        task="binary",
        builder="zoo_tabular.models:build_mlp",
        dataset="tabular.diabetes",
        recipes=(
            Recipe(
                "default",
                "Adam lr 0.03 with a cosine schedule, shuffled batches of 32, 40 epochs",
                {"epochs": 40, "lr": 0.03, "batch_size": 32, "optimizer": "adam", "schedule": "cosine"},
                space={"lr": "0.001..0.1:log", "batch_size": "16,32,64", "weight_decay": "0,0.0001,0.001"},
            ),
            Recipe(
                "seed",
                "the notes: full-batch SGD, lr 0.1, 100 epochs",
                {"epochs": 100, "lr": 0.1, "batch_size": 0, "optimizer": "sgd"},
            ),
            Recipe(
                "seed-minibatch",
                "the notes' DataLoader: shuffled batches of 32, SGD lr 0.01, 100 epochs",
                {"epochs": 100, "lr": 0.01, "batch_size": 32, "optimizer": "sgd"},
            ),
        ),
        config={"in_features": 8, "hidden": [6, 4]},
        adapter="zoo_tabular.adapters:TabularAdapter",
        input_shape="(N, 8)",
        output_shape="(N, 1) probabilities",
        predict_options=PREDICT_OPTIONS,
        examples=("-0.29,0.49,0.18,-0.29,0,0,-0.53,-0.03",),
    ),
)

#: What ``tabular.classifier`` and ``tabular.regressor`` read (``anycsv`` reads their defaults here).
ANY_CSV_OPTIONS: dict[str, Any] = {
    "data": "",
    "target": "",
    "label_column": "",  # another name for --target
    "delimiter": "",
    "val_fraction": 0.2,
    "standardize": True,
    "fold": 0,
    "folds": 0,
    # Columns as they come: comma lists of column names.
    "ignore": "",
    "keep": "",
    "categorical": "",
    "na_values": "",
    "encoding": "embedding",
    "max_categories": 1000,
    # Imbalanced classes (the classifier): inverse-frequency loss weights, repeated minority rows.
    "class_weight": "none",
    "balanced_sampling": False,
}

#: Adam with a cosine schedule and some weight decay: a few hundred rows overfit an MLP
#: within tens of epochs. ``min_steps`` stretches the epochs on small files (iris: 120
#: training rows, 4 batches an epoch).
ANY_CSV_HPARAMS: dict[str, Any] = {
    "epochs": 40,
    "lr": 0.003,
    "batch_size": 32,
    "optimizer": "adam",
    "schedule": "cosine",
    "weight_decay": 0.001,
    "min_steps": 400,
    # The metric that picks the best epoch, early stopping and zoo tune's objective ("": the task's).
    "metric": "",
}
ANY_CSV_RECIPE = "Adam lr 0.003, weight decay 1e-3, cosine, batches of 32, 40 epochs (at least 400 steps)"

MODELS += (
    ModelSpec(
        name="classifier",
        summary="MLP for any CSV with a class column (text or integer labels, 2+ classes), cross-entropy",
        task="multiclass",
        builder="zoo_tabular.models:build_classifier",
        dataset="tabular.classifier",
        recipes=(Recipe("default", ANY_CSV_RECIPE, ANY_CSV_HPARAMS),),
        config={"in_features": 8, "num_classes": 2, "hidden": [64, 32]},
        adapter="zoo_tabular.adapters:ClassifierAdapter",
        input_shape="(N, F) raw numbers (NaN: missing), then category indices",
        output_shape="(N, C) class scores",
        predict_options=(*PREDICT_OPTIONS, TOP_CLASSES),
        examples=("-0.29,0.49,0.18,-0.29,0,0,-0.53,-0.03",),
    ),
    ModelSpec(
        name="regressor",
        summary="MLP for any CSV with a numeric target column, mean squared error, predictions in its units",
        task="regression",
        builder="zoo_tabular.models:build_regressor",
        dataset="tabular.regressor",
        recipes=(Recipe("default", ANY_CSV_RECIPE, ANY_CSV_HPARAMS),),
        config={"in_features": 3, "hidden": [64, 32], "target_mean": 0.0, "target_std": 1.0},
        adapter="zoo_tabular.adapters:RegressorAdapter",
        input_shape="(N, F) raw numbers (NaN: missing), then category indices",
        output_shape="(N, 1) in the target's units",
        predict_options=PREDICT_OPTIONS,
        examples=("0.5,-1.2,0.3",),
    ),
)

DATASETS: tuple[DatasetSpec, ...] = (
    DatasetSpec(
        "linear",
        "x = 1, 2, 3 and y = 2x (shipped), or --data CSV with one feature",
        "zoo_tabular.datasets:load_linear",
        DATA_OPTIONS,
        path_options=("data",),
    ),
    DatasetSpec(
        "affine",
        "x = 1, 2, 3 and y = 2x + 1 (shipped), or --data CSV with one feature",
        "zoo_tabular.datasets:load_affine",
        DATA_OPTIONS,
        path_options=("data",),
    ),
    DatasetSpec(
        "logistic",
        "x = 1, 2, 3 and y = 0, 0, 1 (shipped), or --data CSV with one feature",
        "zoo_tabular.datasets:load_logistic",
        DATA_OPTIONS,
        path_options=("data",),
    ),
    DatasetSpec(
        "diabetes",
        "the notes' diabetes CSV (759 rows, shipped gzipped), or --data CSV: 8 numeric features, 0/1 label",
        "zoo_tabular.datasets:load_diabetes",
        DATA_OPTIONS,
        files=("diabetes.csv",),
        path_options=("data",),
    ),
    DatasetSpec(
        "classifier",
        "--data CSV with class labels in --target (default: the last column); no --data: the diabetes CSV",
        "zoo_tabular.anycsv:load_classifier",
        ANY_CSV_OPTIONS,
        path_options=("data",),
    ),
    DatasetSpec(
        "regressor",
        "--data CSV with a numeric --target (default: the last column); numeric feature columns",
        "zoo_tabular.anycsv:load_regressor",
        ANY_CSV_OPTIONS,
        sample="zoo_tabular.anycsv:sample_regressor",
        path_options=("data",),
    ),
)


@hookimpl
def zoo_register_models(register: Callable[[Any], None]) -> None:
    for spec in MODELS:
        register(spec)


@hookimpl
def zoo_register_datasets(register: Callable[[Any], None]) -> None:
    for spec in DATASETS:
        register(spec)
