"""What ``zoo export`` writes and how strictly it checks it, readable without torch.

The command line shows these as defaults and ``zoo.use.export`` applies them, so the
tolerance of the numeric check is stated once.
"""

from __future__ import annotations

FORMATS = ("onnx", "pt2")
#: Largest absolute difference accepted between PyTorch and the exported model.
TOLERANCE = 1e-4
#: Batch size for checking: not the traced one, so a fixed batch dimension shows up.
CHECK_BATCH = 3
EXPORT_EXTRA = "pip install 'zoo-core[export]'"
