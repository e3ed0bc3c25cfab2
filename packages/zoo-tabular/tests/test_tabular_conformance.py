"""zoo-tabular passes zoo's conformance kit: every command a model goes through works on each of its models.

The kit builds, trains a step, saves and loads, evaluates, predicts (also by name with
published weights), exports to ONNX and pt2 and serves each model; it runs here so that
the isolated test sessions (zoo-core and this plugin alone) prove it too.
"""

from __future__ import annotations

from zoo.plugin import assert_plugin_ok


def test_tabular_passes_zoo_check() -> None:
    assert_plugin_ok("tabular")
