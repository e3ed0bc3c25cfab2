"""Registers the sequence models of the notes (section 11) and their dataset.

This module is imported by ``zoo list`` and must stay cheap: it never imports torch.
Builders, the data loader and the adapters are named as ``"module:attr"`` strings.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from zoo.plugin import DatasetSpec, ModelSpec, Option, Recipe, hookimpl, published_weights

DATASET = "seq.chars"

#: Dataset options, with the defaults ``zoo train`` shows and parses by.
DATA_OPTIONS: dict[str, Any] = {
    "input": "",  # one pair: --input hello --target ohlol
    "target": "",
    "data": "",  # a file of input<TAB>target lines
    "text": "",  # a UTF-8 text file for next-character prediction
    "seq_len": 16,  # text mode: characters per training window
    "stride": 0,  # text mode: characters between window starts (0 = seq_len)
    "val_fraction": 0.1,  # text mode: share of the text held out at its end
}

# Tanh outputs that double as logits saturate quickly under Adam at lr 0.1; without
# weight decay about one start in four then sticks at "ohlll". These values learned
# "ohlol" from all 300 seeds tried, within 20 epochs.
RNNCELL_DEFAULT = {"epochs": 30, "batch_size": 1, "lr": 0.1, "optimizer": "adam", "weight_decay": 0.5}
RNN_DEFAULT = {"epochs": 30, "batch_size": 1, "lr": 0.1, "optimizer": "adam", "weight_decay": 0.1}
EMBEDDING_DEFAULT = {"epochs": 20, "batch_size": 1, "lr": 0.05, "optimizer": "adam"}
TEXT = {"epochs": 20, "batch_size": 32, "lr": 0.02, "optimizer": "adam", "weight_decay": 0.0}


#: What ``zoo predict`` takes for these models, besides the input strings.
PREDICT_OPTIONS = (
    Option("top", None, "show the K most likely characters at each position", kind="int", low=1),
    Option(
        "generate",
        None,
        "continue each input by N sampled characters (models trained with --text)",
        kind="int",
        low=0,
        high=100_000,  # each character is a forward pass
    ),
    Option(
        "temperature",
        None,
        "sampling temperature for --generate (0 = greedy; default 1)",
        kind="float",
        low=0,
    ),
    Option("csv", "", "also predict every non-empty line of this file", kind="path"),
)


def _recipes(default: dict[str, Any], notes: str) -> tuple[Recipe, ...]:
    return (
        Recipe("default", notes, default),
        Recipe("text", "next-character training on a text file (--text FILE): batches of 32, Adam", TEXT),
    )


@hookimpl
def zoo_register_datasets(register: Callable[[Any], None]) -> None:
    register(
        DatasetSpec(
            name="chars",
            summary="character pairs (default 'hello' -> 'ohlol', or --input/--target, --data FILE) "
            "or next-character windows of a text (--text FILE)",
            loader="zoo_seq.data:load",
            options=dict(DATA_OPTIONS),
            sample="zoo_seq.data:load",
            path_options=("data", "text"),
        )
    )


@hookimpl
def zoo_register_models(register: Callable[[Any], None]) -> None:
    common: dict[str, Any] = {
        "task": "sequence",
        "dataset": DATASET,
        "input_shape": "(B, T) int64 character indices",
        "output_shape": "(B, T, V) logits",
        "predict_options": PREDICT_OPTIONS,
        "examples": ("hello",),
    }
    register(
        ModelSpec(
            name="rnncell",
            weights=published_weights("zoo_seq", "seq.rnncell"),
            summary="one-hot characters fed step by step through nn.RNNCell; hidden = vocabulary size",
            builder="zoo_seq.models:CharRNNCell",
            adapter="zoo_seq.adapter:StepSumAdapter",
            recipes=_recipes(
                RNNCELL_DEFAULT, "the notes' 11.1: batch 1, loss summed over steps, Adam lr 0.1"
            ),
            config={"vocab_size": 4, "hidden_size": 0},
            **common,
        )
    )
    register(
        ModelSpec(
            name="rnn",
            weights=published_weights("zoo_seq", "seq.rnn"),
            summary="one-hot characters through nn.RNN (layers, hidden size, batch_first configurable)",
            builder="zoo_seq.models:CharRNN",
            adapter="zoo_seq.adapter:SeqAdapter",
            recipes=_recipes(RNN_DEFAULT, "the notes' 11.2: batch 1, Adam lr 0.1, mean loss"),
            config={"vocab_size": 4, "hidden_size": 0, "num_layers": 1, "batch_first": False},
            **common,
        )
    )
    register(
        ModelSpec(
            name="embedding",
            weights=published_weights("zoo_seq", "seq.embedding"),
            summary="nn.Embedding(10) -> nn.RNN(hidden 8, 2 layers) -> nn.Linear to the vocabulary",
            builder="zoo_seq.models:CharEmbeddingRNN",
            adapter="zoo_seq.adapter:SeqAdapter",
            recipes=_recipes(EMBEDDING_DEFAULT, "the notes' 11.3: batch 1, Adam lr 0.05"),
            config={
                "vocab_size": 4,
                "embedding_size": 10,
                "hidden_size": 8,
                "num_layers": 2,
                "batch_first": True,
            },
            **common,
        )
    )
