"""What every zoo-vision module agrees on about its pictures: MNIST's files, size and classes.

No torch: ``plugin.py`` reads these while ``zoo list`` runs.
"""

from __future__ import annotations

#: MNIST's four IDX files, as torchvision names them in ``<data-dir>/MNIST/raw``.
TRAIN_IMAGES = "train-images-idx3-ubyte"
TRAIN_LABELS = "train-labels-idx1-ubyte"
TEST_IMAGES = "t10k-images-idx3-ubyte"
TEST_LABELS = "t10k-labels-idx1-ubyte"
MNIST_FILES = (TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS)

#: Pixels per side of every image a model sees (MNIST's, and what ``prepare`` frames to).
SIDE = 28
#: MNIST's class count: the models' default head, and the class names when a checkpoint has none.
NUM_CLASSES = 10
#: MNIST's training-set pixel statistics (of ``pixels / 255``), the normalization the weights need.
MEAN = 0.1307
STD = 0.3081


def digit_names(count: int = NUM_CLASSES) -> list[str]:
    """MNIST's class names: ``"0"`` .. ``"9"``."""
    return [str(d) for d in range(count)]
