"""The two networks: the notes' shapes and sizes, and the CNN's computed flattened size."""

from __future__ import annotations

import pytest
import torch

from zoo.plugin import UsageError
from zoo_vision.models import build_cnn, build_fc, cnn_feature_side


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_fc_matches_the_notes() -> None:
    model = build_fc()
    widths = [(m.in_features, m.out_features) for m in (model.l1, model.l2, model.l3, model.l4, model.l5)]
    assert widths == [(784, 512), (512, 256), (256, 128), (128, 64), (64, 10)]
    assert n_params(model) == 575_050
    out = model(torch.randn(5, 1, 28, 28))
    assert out.shape == (5, 10)
    # logits, not probabilities: the loss applies the softmax
    assert not torch.allclose(out.softmax(-1).sum(-1), out.sum(-1))


def test_cnn_matches_the_notes() -> None:
    model = build_cnn()
    assert (model.conv1.in_channels, model.conv1.out_channels, model.conv1.kernel_size) == (1, 10, (5, 5))
    assert (model.conv2.in_channels, model.conv2.out_channels, model.conv2.kernel_size) == (10, 20, (5, 5))
    assert model.fc.in_features == 320 and model.fc.out_features == 10
    assert n_params(model) == 8_490
    assert model(torch.randn(3, 1, 28, 28)).shape == (3, 10)


# Worked by hand, stage by stage: conv side = (n + 2p - k) // s + 1, then pool side = n // pool.
HAND_SIDES = [
    # (kernel, padding, stride, pool, side)      conv1 -> pool1 -> conv2 -> pool2
    (5, 0, 1, 2, 4),  # the notes: 28 -> 24 -> 12 -> 8 -> 4
    (3, 0, 1, 2, 5),  # 28 -> 26 -> 13 -> 11 -> 5
    (3, 1, 1, 2, 7),  # 28 -> 28 -> 14 -> 14 -> 7
    (5, 2, 1, 2, 7),  # 28 -> 28 -> 14 -> 14 -> 7
    (5, 0, 2, 1, 4),  # 28 -> 12 -> 12 -> 4 -> 4
    (7, 3, 2, 2, 2),  # 28 -> 14 -> 7 -> 4 -> 2
    (5, 0, 1, 3, 1),  # 28 -> 24 -> 8 -> 4 -> 1
    (1, 0, 1, 1, 28),  # 28 -> 28 -> 28 -> 28 -> 28
    (3, 1, 2, 1, 7),  # 28 -> 14 -> 14 -> 7 -> 7
    (4, 1, 3, 1, 3),  # 28 -> 9 -> 9 -> 3 -> 3
]


@pytest.mark.parametrize(("kernel_size", "padding", "stride", "pool", "side"), HAND_SIDES)
def test_cnn_flattened_size_is_computed(
    kernel_size: int, padding: int, stride: int, pool: int, side: int
) -> None:
    model = build_cnn(kernel_size=kernel_size, padding=padding, stride=stride, pool=pool)
    assert model.fc.in_features == 20 * side * side
    assert cnn_feature_side(kernel_size, padding, stride, pool) == side
    # a real pass through the conv stack gives the same feature map
    with torch.no_grad():
        x = torch.randn(2, 1, 28, 28)
        features = model.pooling(torch.relu(model.conv2(model.pooling(torch.relu(model.conv1(x))))))
        assert features.shape == (2, 20, side, side)
        assert model(x).shape == (2, 10)


def test_cnn_padding_keeps_the_size() -> None:
    assert cnn_feature_side(5, 2, 1, 2) == 7  # 28 -> 28 -> 14 -> 14 -> 7
    assert cnn_feature_side(5, 0, 1, 2) == 4  # the notes: 28 -> 24 -> 12 -> 8 -> 4


@pytest.mark.parametrize(
    ("kwargs", "stage"),
    [
        ({"kernel_size": 13, "stride": 2}, "conv2"),
        ({"kernel_size": 29}, "conv1"),
        ({"pool": 8}, "conv2"),
        ({"kernel_size": 25, "pool": 5}, "pool1"),
        ({"kernel_size": 3, "pool": 6}, "pool2"),
    ],
)
def test_cnn_that_shrinks_the_image_to_nothing_is_a_usage_error(kwargs: dict[str, int], stage: str) -> None:
    with pytest.raises(UsageError) as info:
        build_cnn(**kwargs)
    message = str(info.value)
    assert "nothing" in message and stage in message and "28x28" in message
    assert "--kernel-size" in message  # the hint says what to change


@pytest.mark.parametrize(
    "kwargs", [{"kernel_size": 0}, {"stride": 0}, {"padding": -1}, {"pool": 0}, {"kernel_size": 2.5}]
)
def test_cnn_rejects_nonsense_arguments(kwargs: dict[str, object]) -> None:
    with pytest.raises(UsageError):
        build_cnn(**kwargs)  # type: ignore[arg-type]
