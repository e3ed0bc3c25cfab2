"""``zoo tune``: hyperparameter search on Optuna, each trial a real run (``zoo.tune`` is ``study.tune``).

The package is not called ``tune`` so that importing it never shadows the function
``zoo.tune``. Modules: ``space`` (KEY=SPEC), ``storage`` (journal file or database),
``study`` (the trials), ``workers`` (local processes), ``report`` (trials.csv, the best
link, plots). Importing it imports neither Optuna nor torch.
"""
