"""An independent reader of Megatron-LM's indexed dataset (<prefix>.idx + <prefix>.bin), for tests and benchmarks.

Written from Megatron-LM's `megatron/core/datasets/indexed_dataset.py` layout (header, version, dtype code,
counts, lengths, pointers, document indices) with numpy only; it shares no code with `mira_core.megatron`,
so a layout slip on either side shows up as a mismatch.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

# Megatron's DType codes, restated here on purpose (not imported): 4 = int32, 8 = uint16.
_CODES = {1: np.uint8, 2: np.int8, 3: np.int16, 4: np.int32, 5: np.int64, 6: np.float64, 7: np.float32,
          8: np.uint16}


def read_indexed(prefix: Path) -> dict:
    """Read <prefix>.idx/.bin as Megatron's _IndexReader and _MMapBinReader do; return header and docs."""
    idx = Path(str(prefix) + ".idx").read_bytes()
    assert idx[:9] == b"MMIDIDX\x00\x00"
    (version,) = struct.unpack("<Q", idx[9:17])
    (code,) = struct.unpack("<B", idx[17:18])
    seq_count, doc_count = struct.unpack("<QQ", idx[18:34])
    off = 34
    lengths = np.frombuffer(idx, dtype="<i4", count=seq_count, offset=off)
    off += lengths.nbytes
    pointers = np.frombuffer(idx, dtype="<i8", count=seq_count, offset=off)
    off += pointers.nbytes
    doc_idx = np.frombuffer(idx, dtype="<i8", count=doc_count, offset=off)
    off += doc_idx.nbytes
    dtype = np.dtype(_CODES[code]).newbyteorder("<")
    bin_path = Path(str(prefix) + ".bin")
    data = np.memmap(bin_path, dtype=np.uint8, mode="r") if bin_path.stat().st_size else np.zeros(0, np.uint8)
    seqs = [np.frombuffer(data, dtype=dtype, count=int(n), offset=int(p)).tolist()
            for n, p in zip(lengths, pointers, strict=True)]
    docs = [sum(seqs[doc_idx[d]:doc_idx[d + 1]], []) for d in range(doc_count - 1)]
    return {"version": version, "code": code, "seq_count": seq_count, "doc_count": doc_count,
            "lengths": lengths, "pointers": pointers, "doc_idx": doc_idx, "docs": docs, "idx_size": len(idx),
            "idx_end": off, "bin_size": bin_path.stat().st_size, "itemsize": dtype.itemsize}
