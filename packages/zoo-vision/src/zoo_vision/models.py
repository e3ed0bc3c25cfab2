"""The two MNIST networks of the notes, built from keyword arguments.

Layer names follow the notes (``l1``..``l5``, ``conv1``, ``conv2``, ``pooling``,
``fc``) so a checkpoint's tensor names read like the code they came from.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from zoo.plugin import UsageError
from zoo_vision.facts import NUM_CLASSES, SIDE

FC_WIDTHS = (SIDE * SIDE, 512, 256, 128, 64)


class FullyConnected(nn.Module):
    """784 -> 512 -> 256 -> 128 -> 64 -> classes with ReLU; the last layer returns logits."""

    def __init__(self, num_classes: int = NUM_CLASSES) -> None:
        super().__init__()
        widths = (*FC_WIDTHS, num_classes)
        self.l1 = nn.Linear(widths[0], widths[1])
        self.l2 = nn.Linear(widths[1], widths[2])
        self.l3 = nn.Linear(widths[2], widths[3])
        self.l4 = nn.Linear(widths[3], widths[4])
        self.l5 = nn.Linear(widths[4], widths[5])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.flatten(1)
        x = F.relu(self.l1(x))
        x = F.relu(self.l2(x))
        x = F.relu(self.l3(x))
        x = F.relu(self.l4(x))
        return self.l5(x)


class SmallCNN(nn.Module):
    """conv(1->10) -> ReLU -> pool -> conv(10->20) -> ReLU -> pool -> linear, with the sizes computed."""

    def __init__(self, kernel_size: int, padding: int, stride: int, pool: int, num_classes: int) -> None:
        super().__init__()
        side = cnn_feature_side(kernel_size, padding, stride, pool)
        self.conv1 = nn.Conv2d(1, 10, kernel_size=kernel_size, padding=padding, stride=stride)
        self.conv2 = nn.Conv2d(10, 20, kernel_size=kernel_size, padding=padding, stride=stride)
        self.pooling = nn.MaxPool2d(pool)
        self.fc = nn.Linear(20 * side * side, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pooling(F.relu(self.conv1(x)))
        x = self.pooling(F.relu(self.conv2(x)))
        return self.fc(x.flatten(1))


def build_fc(num_classes: int = NUM_CLASSES) -> FullyConnected:
    """The notes' fully connected network (section 9)."""
    _check_positive("num_classes", num_classes, minimum=2)
    return FullyConnected(num_classes)


def build_cnn(
    kernel_size: int = 5, padding: int = 0, stride: int = 1, pool: int = 2, num_classes: int = NUM_CLASSES
) -> SmallCNN:
    """The notes' CNN (section 10); kernel, padding, stride and pooling are the notes' experiments."""
    _check_positive("kernel_size", kernel_size)
    _check_positive("padding", padding, minimum=0)
    _check_positive("stride", stride)
    _check_positive("pool", pool)
    _check_positive("num_classes", num_classes, minimum=2)
    return SmallCNN(kernel_size, padding, stride, pool, num_classes)


def cnn_feature_side(kernel_size: int, padding: int, stride: int, pool: int, image: int = SIDE) -> int:
    """Side of the square feature map that reaches the linear layer (4 for the notes' settings).

    Raises a UsageError naming the stage where the image shrinks to nothing, since
    torch would only fail later with a shape error deep inside the forward pass.
    """

    def conv(n: int) -> int:
        return (n + 2 * padding - kernel_size) // stride + 1

    def pooled(n: int) -> int:
        return n // pool

    side = image
    trace = [f"{image}x{image}"]
    for stage, step in (("conv1", conv), ("pool1", pooled), ("conv2", conv), ("pool2", pooled)):
        side = step(side)
        if side < 1:
            trace.append("nothing")
            raise UsageError(
                f"vision.cnn with kernel_size={kernel_size}, padding={padding}, stride={stride}, pool={pool} "
                f"shrinks the {image}x{image} image to nothing at {stage} ({' -> '.join(trace)})",
                hint="use a smaller --kernel-size, --stride or --pool, or a larger --padding",
            )
        trace.append(f"{side}x{side}")
    return side


def _check_positive(name: str, value: object, minimum: int = 1) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise UsageError(f"--{name.replace('_', '-')} must be an integer >= {minimum}, got {value!r}")
