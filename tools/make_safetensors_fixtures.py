#!/usr/bin/env python3
"""Writes the safetensors fixtures under tests/data/safetensors/ with the reference
implementation (pip install safetensors numpy), so that vdit's reader is tested on files
it did not write itself. tests/tensor/test_safetensors.c checks the values given here.

  python3 tools/make_safetensors_fixtures.py [OUTPUT_FOLDER]
"""
import os
import sys

import numpy as np
from safetensors.numpy import save_file


def main() -> None:
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    folder = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "tests", "data", "safetensors")
    os.makedirs(folder, exist_ok=True)
    tensors = {
        "blocks.0.weight": np.arange(6, dtype=np.float32).reshape(2, 3) * np.float32(0.5) - np.float32(1),
        "blocks.0.bias": np.array([1.5, -2.0, 65504.0], dtype=np.float16),
        "step": np.array(7, dtype=np.int64),  # a 0-d scalar
        "empty": np.zeros((0, 4), dtype=np.uint8),
        "mask": np.array([True, False, False, True]),
        "ids": np.array([[-3, 100], [32767, -32768]], dtype=np.int16),
    }
    metadata = {"format": "np", "origin": "vdit test fixture"}
    small = os.path.join(folder, "small.safetensors")
    save_file(tensors, small, metadata=metadata)
    # The same file cut short by 5 bytes: the last tensor runs past the end.
    with open(small, "rb") as f:
        data = f.read()
    with open(os.path.join(folder, "truncated.safetensors"), "wb") as f:
        f.write(data[:-5])
    print(f"wrote {small} ({len(data)} bytes) and truncated.safetensors")


if __name__ == "__main__":
    main()
