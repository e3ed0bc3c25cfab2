"""Draw the example folder the README trains on: red, green and blue shapes, 12 pictures a class.

python packages/zoo-timm/scripts/make_examples.py
"""

from __future__ import annotations

import sys
from pathlib import Path

from zoo_timm.data import SAMPLE_CLASSES, colour_picture

OUT = Path(__file__).resolve().parent.parent / "examples" / "shapes"


def main() -> int:
    for colour in SAMPLE_CLASSES:
        (OUT / colour).mkdir(parents=True, exist_ok=True)
        for i in range(12):
            colour_picture(colour, 500 + i, (120, 90)).save(OUT / colour / f"{colour}-{i}.png", optimize=True)
    print(f"wrote {12 * len(SAMPLE_CLASSES)} pictures under {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
