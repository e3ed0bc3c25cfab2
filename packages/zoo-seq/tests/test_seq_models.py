"""The three models: shapes, equivalence with the notes' formulation, builder arguments."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from zoo.plugin import UsageError

from zoo_seq.models import CharEmbeddingRNN, CharRNN, CharRNNCell

HELLO = torch.tensor([[1, 0, 2, 2, 3]])


@pytest.mark.parametrize("cls", [CharRNNCell, CharRNN, CharEmbeddingRNN])
def test_indices_in_logits_out(cls: type[torch.nn.Module]) -> None:
    model = cls(vocab_size=7)
    x = torch.randint(0, 7, (3, 11))
    assert model(x).shape == (3, 11, 7)


def test_rnncell_is_the_notes_loop_with_the_hidden_state_as_logits() -> None:
    torch.manual_seed(0)
    model = CharRNNCell(vocab_size=4)
    assert isinstance(model.head, torch.nn.Identity) and model.cell.hidden_size == 4
    hidden = torch.zeros(1, 4)
    expected = []
    for index in HELLO[0]:
        hidden = model.cell(F.one_hot(index.view(1), 4).float(), hidden)
        expected.append(hidden)
    assert torch.allclose(model(HELLO), torch.stack(expected, dim=1))


def test_rnn_matches_rnncell_with_the_same_weights() -> None:
    cell, rnn = CharRNNCell(vocab_size=4), CharRNN(vocab_size=4)
    rnn.rnn.load_state_dict({f"{name}_l0": value for name, value in cell.cell.state_dict().items()})
    x = torch.randint(0, 4, (2, 6))
    assert torch.allclose(cell(x), rnn(x), atol=1e-6)


def test_batch_first_changes_the_layout_not_the_result() -> None:
    torch.manual_seed(1)
    seq_first = CharRNN(vocab_size=5, hidden_size=6, num_layers=2, batch_first=False)
    batch_first = CharRNN(vocab_size=5, hidden_size=6, num_layers=2, batch_first=True)
    batch_first.load_state_dict(seq_first.state_dict())
    x = torch.randint(0, 5, (3, 4))
    assert torch.allclose(seq_first(x), batch_first(x), atol=1e-6)
    emb = CharEmbeddingRNN(vocab_size=5, batch_first=True)
    emb_seq = CharEmbeddingRNN(vocab_size=5, batch_first=False)
    emb_seq.load_state_dict(emb.state_dict())
    assert torch.allclose(emb(x), emb_seq(x), atol=1e-6)


def test_builder_arguments() -> None:
    rnn = CharRNN(vocab_size=4, hidden_size=16, num_layers=3)
    assert rnn.rnn.hidden_size == 16 and rnn.rnn.num_layers == 3
    assert isinstance(rnn.head, torch.nn.Linear)  # a read-out once hidden != vocabulary
    emb = CharEmbeddingRNN(vocab_size=4)
    assert emb.emb.embedding_dim == 10 and emb.rnn.hidden_size == 8 and emb.rnn.num_layers == 2
    assert emb.fc.out_features == 4
    with pytest.raises(UsageError, match="num_layers"):
        CharRNN(vocab_size=4, num_layers=0)
    with pytest.raises(UsageError, match="vocab_size"):
        CharRNNCell(vocab_size=0)
