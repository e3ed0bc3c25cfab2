"""The models one server holds: loaded once, described once, predicted through zoo's one path.

``/v1`` goes through ``zoo.use.predict.run_predict``, as ``zoo predict`` and
``LoadedModel.predict`` do, with the options the plugin declares (those that read files,
``kind="path"``, are not accepted from a client). ``/v2`` takes the model's input tensors,
preprocessed as ``zoo export``'s metadata describes, and runs what ``zoo export`` exports
(``adapter.export_module``): its signature is worked out at load from the adapter's example
batch, by one forward pass.
"""

from __future__ import annotations

import logging
import re
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zoo.errors import CheckpointError, UsageError, ZooError
from zoo.serve.inputs import Decoded, as_text, label, short, without_paths, write_image
from zoo.serve.limits import MAX_INPUTS, check_pixels, check_seed, check_texts, json_safe

log = logging.getLogger("zoo.serve")
#: What ``zoo serve NAME=REF`` may call a model: it is a part of the model's URLs.
SERVED_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
#: Names of torch dtypes in the Open Inference Protocol.
DATATYPES = {
    "float32": "FP32",
    "float64": "FP64",
    "float16": "FP16",
    "bfloat16": "BF16",
    "int64": "INT64",
    "int32": "INT32",
    "int16": "INT16",
    "int8": "INT8",
    "uint8": "UINT8",
    "bool": "BOOL",
}


@dataclass
class Signature:
    """A model's tensors for ``/v2``: one input and one output, the batch dimension as -1."""

    input_dtype: str
    input_shape: list[int]
    output_dtype: str
    output_shape: list[int]

    def metadata(self, name: str) -> dict[str, Any]:
        return {
            "name": name,
            "versions": ["1"],
            "platform": "pytorch",
            "inputs": [{"name": "input", "datatype": self.input_dtype, "shape": self.input_shape}],
            "outputs": [{"name": "output", "datatype": self.output_dtype, "shape": self.output_shape}],
        }


@dataclass
class Served:
    """One loaded model and what the API says about it (described once, when it is loaded)."""

    name: str
    loaded: Any
    adapter: Any
    description: dict[str, Any] = field(default_factory=dict)
    load_seconds: float = 0.0
    signature: Signature | None = None
    no_signature: str = ""  # why there is no /v2 signature, when there is none
    forward: Any = None  # the module /v2 runs (through ``infer``)

    def __post_init__(self) -> None:
        if not self.description:
            self.description = describe(self.name, self.loaded, self.adapter)
        if self.signature is None and not self.no_signature:
            self._find_signature()

    @property
    def data_meta(self) -> dict[str, Any]:
        meta = self.loaded.metadata.get("data_meta")
        return meta if isinstance(meta, dict) else {}

    def describe(self) -> dict[str, Any]:
        return self.description

    def predict(
        self, inputs: list[Any], options: dict[str, Any], names: list[str | None] | None = None
    ) -> list[dict[str, Any]]:
        """Inputs from JSON (or uploads) through ``run_predict``, answered as ``zoo predict --json``.

        ``names`` are the uploads' file names (None for inputs from JSON), used in errors.
        """
        from zoo.use.predict import run_predict

        if not isinstance(inputs, list) or not inputs:
            raise UsageError('give a non-empty list "inputs"', hint='{"inputs": ["1.5"], "options": {}}')
        if len(inputs) > MAX_INPUTS:
            raise UsageError(f"at most {MAX_INPUTS} inputs per request, got {len(inputs)}")
        given, seed = self.options(options)
        kind = self.description["input_form"].get("kind")
        names = names or []
        noun = "image" if kind == "image" else "input"
        labels = [label(i, names[i] if i < len(names) else None, noun) for i in range(len(inputs))]
        with tempfile.TemporaryDirectory(prefix="zoo-serve-") as tmp:
            folder = Path(tmp)
            try:
                if kind == "image" and all(isinstance(item, Decoded) for item in inputs):
                    texts = [item.value for item in inputs]  # decoded ahead of the queue (serve.decoding)
                elif kind == "image":
                    texts = [write_image(item, folder, i) for i, item in enumerate(inputs)]
                    check_pixels([Path(p) for p in texts], labels)
                else:
                    texts = [as_text(item, kind, labels[i]) for i, item in enumerate(inputs)]
                    check_texts(texts, self.adapter.extra_steps(len(texts), given))
                results = run_predict(self.loaded, texts, given, seed=seed)
            except ZooError as exc:
                raise without_paths(exc, folder, labels) from None
        if kind == "image":
            for i, result in enumerate(results):
                result["input"] = f"image {i + 1}"
        return results

    def options(self, options: Any) -> tuple[dict[str, Any], int]:
        """The client's options that this model declares (none that read files), and the seed.

        Types and the declared bounds are checked here as ``run_predict`` checks them; what
        serve adds is the refusal of file options (the cost of a request is ``check_texts``'s).
        """
        if options is None:
            options = {}
        if not isinstance(options, dict):
            raise UsageError('"options" must be an object', hint='{"options": {"top": 3}}')
        allowed = [o for o in self.loaded.spec.predict_options if o.kind != "path"]
        names = {o.name for o in allowed}
        unknown = sorted(str(k)[:40] for k in options if k not in names and k != "seed")
        if unknown:
            hint = f"this model's options are {', '.join(sorted(names | {'seed'}))}"
            raise UsageError(f"unknown option(s) {', '.join(unknown)}", hint=hint)
        given = {k: v for k, v in options.items() if k != "seed" and v is not None and v != ""}
        seed = options.get("seed")
        if seed is None or seed == "":
            seed = 0
        elif isinstance(seed, bool) or not isinstance(seed, (int, str)):
            raise UsageError(f"option seed must be a whole number, got {short(seed)}")
        else:
            try:
                seed = int(seed)
            except ValueError:
                raise UsageError(f"option seed must be a whole number, got {short(seed)}") from None
            check_seed(seed)
        from zoo.contracts.options import typed_options

        typed = typed_options(given, allowed)  # typed here too: the cost checks read the numbers
        return {k: typed[k] for k in given}, seed

    def infer(self, x: Any) -> Any:
        """``/v2``'s model step: the exported module on a batch of model inputs, as the predict path runs it."""
        from zoo.contracts.pipeline import forward

        return forward(self.forward, x)

    def _find_signature(self) -> None:
        """The input and output tensors of the exported module, from one pass over the example batch."""
        import torch

        from zoo.contracts.pipeline import forward
        from zoo.plugins.meta import plugin_call
        from zoo.use.export import example_batch

        try:
            example = example_batch(self.adapter, self.loaded, 2)
            module = plugin_call(
                self.loaded.path,
                self.loaded.spec,
                "export_module",
                lambda: self.adapter.export_module(self.loaded.model, self.data_meta),
            )
            output = forward(module, example)
        except ZooError as exc:
            self.no_signature = exc.message
            return
        except Exception as exc:  # the plugin's example does not run through its model
            self.no_signature = f"its example inputs do not run through the model ({type(exc).__name__}: {exc})"
            return
        if not isinstance(output, torch.Tensor) or example.dim() < 1 or output.dim() < 1:
            self.no_signature = "its model does not take and return one batched tensor"
            return
        kinds = [DATATYPES.get(str(t.dtype).removeprefix("torch.")) for t in (example, output)]
        if None in kinds:
            self.no_signature = f"its tensors' types ({example.dtype}, {output.dtype}) have no v2 name"
            return
        self.signature = Signature(str(kinds[0]), [-1, *example.shape[1:]], str(kinds[1]), [-1, *output.shape[1:]])
        self.forward = module


def describe(name: str, loaded: Any, adapter: Any) -> dict[str, Any]:
    """What GET /v1/models says about one model: only valid JSON, or a CheckpointError at startup.

    Metadata fields that cannot be shown (a metric of Infinity, a label list of objects) are
    dropped with a warning; a model whose inputs cannot be described is refused.
    """
    meta = loaded.metadata
    data_meta = meta.get("data_meta") if isinstance(meta.get("data_meta"), dict) else {}
    try:
        form = adapter.input_form(data_meta)
    except Exception as exc:  # the plugin read metadata it cannot use
        raise CheckpointError(
            loaded.path,
            f"cannot be served: its metadata does not describe its inputs ({type(exc).__name__}: {exc})",
            hint="serve a checkpoint written by zoo train, or retrain the model",
        ) from None
    if not isinstance(form, dict) or not json_safe(form):
        raise CheckpointError(loaded.path, "cannot be served: its input description is not valid JSON")
    raw_metrics = meta.get("metrics") if isinstance(meta.get("metrics"), dict) else {}
    metrics = {k: v for k, v in raw_metrics.items() if isinstance(k, str) and json_safe(v)}
    dropped = sorted(str(k)[:40] for k in set(raw_metrics) - set(metrics))
    if dropped:
        log.warning(
            "warning: %s: metric(s) %s are not valid JSON (not finite?) and are not shown", name, ", ".join(dropped)
        )
    labels = data_meta.get("classes")
    epoch = meta.get("epoch")
    description = {
        "name": name,
        "model": loaded.spec.full_name,
        "task": loaded.spec.task,
        "summary": loaded.spec.summary,
        "checkpoint": loaded.path.name,
        "epoch": epoch if isinstance(epoch, int) and not isinstance(epoch, bool) else None,
        "metrics": metrics,
        "input_form": form,
        "labels": labels if isinstance(labels, list) and json_safe(labels) else None,
        "options": [o.name for o in loaded.spec.predict_options if o.kind != "path"],
    }
    description.update(page_words(description, data_meta, adapter))
    if not json_safe(description):
        raise CheckpointError(loaded.path, "cannot be served: its description is not valid JSON")
    return description


def page_words(description: dict[str, Any], data_meta: dict[str, Any], adapter: Any) -> dict[str, str]:
    """``about`` (what the model is, from its checkpoint) and ``prompt`` (what its form asks for)."""
    from zoo.serve.pagewords import about, prompt

    labels = description["labels"]
    target = data_meta.get("label") if isinstance(data_meta.get("label"), str) else None
    return {
        "about": about(description, data_meta, adapter.main_metric),
        "prompt": prompt(description["input_form"], str(description["task"]), labels, target),
    }


def load_models(refs: list[str]) -> dict[str, Served]:
    """Each reference (file, run folder, NAME[:TAG], or NAME=REF to choose its name) loaded once.

    Without a chosen name a model is served under its model's name, and a second one of
    the same model as NAME-2, NAME-3...
    """
    from zoo.contracts.adapter import adapter_for
    from zoo.files.weights import open_weights

    chosen = [split_name(ref) for ref in refs]
    named = [name for name, _ in chosen if name]
    twice = sorted({name for name in named if named.count(name) > 1})
    if twice:
        raise UsageError(f"two models are named {twice[0]}", hint="give each NAME=REF a different NAME")
    served: dict[str, Served] = {}
    for given, ref in chosen:
        start = time.perf_counter()
        loaded = open_weights(ref)
        loaded.model.eval()
        name, n = given or loaded.spec.full_name, 1
        while not given and (name in served or name in named):
            n += 1
            name = f"{loaded.spec.full_name}-{n}"
        model = Served(name, loaded, adapter_for(loaded.spec))
        model.load_seconds = time.perf_counter() - start
        served[name] = model
    return served


def split_name(ref: str) -> tuple[str | None, str]:
    """``NAME=REF`` as (NAME, REF); anything else (an existing path with ``=`` too) as (None, ref)."""
    name, sep, rest = ref.partition("=")
    if not sep or Path(ref).exists():
        return None, ref
    if not SERVED_NAME.fullmatch(name) or not rest:
        raise UsageError(
            f"{ref!r}: a served model's name is 1-64 letters, digits, '.', '_' or '-', followed by =REF",
            hint="e.g. zoo serve letters=runs/vision.cnn/latest",
        )
    return name, rest
