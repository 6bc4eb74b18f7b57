"""Tiling of a (T x K)·(K x P) GEMM onto an R x C array, as a sequence of stream beats.

Tiles are visited with p-tiles inside t-tiles. Each tile streams K beats: filter beat k is the
column A[t0:t0+R, k], activation beat k is the row B[k, p0:p0+C] with ``last`` at k = K - 1.
Rows and columns beyond T and P are padded with zeros and their outputs are dropped.
Each tile yields R output beats (tile rows 0 .. R-1), C lanes each.

The packing helpers give the flat bit-vector form of the payloads, as the generated
Verilog sees them: lane i of an ``ArrayLayout`` at bits [i·w, (i+1)·w), and in the
``{data, last}`` structs ``data`` first, then ``last`` in the top bit.
"""
from dataclasses import dataclass

import numpy as np

from golden.config import ArrayConfig
from golden.errors import AdderhwError
from golden.validate import check_int_array

__all__ = ["GemmPlan", "pack_lanes", "unpack_lanes"]


def pack_lanes(values, width):
    """Flat integer of signed ``values`` (two's complement, lane 0 in the low bits)."""
    mask = (1 << width) - 1
    word = 0
    for i, v in enumerate(values):
        word |= (int(v) & mask) << (i * width)
    return word


def unpack_lanes(word, width, lanes, signed):
    out = []
    mask = (1 << width) - 1
    for i in range(lanes):
        v = (word >> (i * width)) & mask
        if signed and v >> (width - 1):
            v -= 1 << width
        out.append(v)
    return out


@dataclass
class GemmPlan:
    config: ArrayConfig
    a: np.ndarray          # (T, K) int64, checked against config.width
    b: np.ndarray          # (K, P)

    @classmethod
    def build(cls, config, a, b):
        if not isinstance(config, ArrayConfig):
            raise AdderhwError(f"config must be an ArrayConfig, not {type(config).__name__}")
        a = check_int_array("a", a, ndim=2, width=config.width)
        b = check_int_array("b", b, ndim=2, width=config.width)
        if a.shape[1] != b.shape[0]:
            raise AdderhwError(
                f"a and b do not chain: a is {a.shape[0]}x{a.shape[1]} (T x K) and b is "
                f"{b.shape[0]}x{b.shape[1]}, but b must have K = {a.shape[1]} rows")
        if a.shape[0] == 0 or b.shape[1] == 0:
            raise AdderhwError(f"T and P must be at least 1, not T = {a.shape[0]}, P = {b.shape[1]}")
        if a.shape[1] > config.k_max:
            raise AdderhwError(
                f"K must be an integer from 1 to {config.k_max} (the array's k_max), not {a.shape[1]}; "
                f"split K or build the array with a larger k_max")
        config.check_k(a.shape[1])
        return cls(config, a, b)

    @property
    def shape(self):
        return self.a.shape[0], self.a.shape[1], self.b.shape[1]

    @property
    def tiles(self):
        T, _, P = self.shape
        R, C = self.config.rows, self.config.cols
        return [(t0, p0) for t0 in range(0, T, R) for p0 in range(0, P, C)]

    @property
    def n_out_beats(self):
        return len(self.tiles) * self.config.rows

    def padded(self):
        """A padded to a multiple of R rows and B to a multiple of C columns."""
        T, K, P = self.shape
        R, C = self.config.rows, self.config.cols
        ap = np.zeros((-(-T // R) * R, K), dtype=np.int64)
        bp = np.zeros((K, -(-P // C) * C), dtype=np.int64)
        ap[:T] = self.a
        bp[:, :P] = self.b
        return ap, bp

    def beats(self):
        """List of (filter lanes, activation lanes, last) in stream order."""
        ap, bp = self.padded()
        R, C = self.config.rows, self.config.cols
        K = self.shape[1]
        out = []
        for t0, p0 in self.tiles:
            for k in range(K):
                out.append((ap[t0:t0 + R, k].tolist(), bp[k, p0:p0 + C].tolist(), k == K - 1))
        return out

    def packed_beats(self):
        """(filter word, activation word) per beat, as the Verilog ports take them."""
        w, C = self.config.width, self.config.cols
        return [(pack_lanes(f, w), pack_lanes(x, w) | (int(last) << (w * C)))
                for f, x, last in self.beats()]

    def unpack_sum(self, word):
        """(lanes, last) of an output payload word."""
        cfg = self.config
        lanes = unpack_lanes(word, cfg.acc_width, cfg.cols, cfg.acc_signed)
        return lanes, (word >> (cfg.acc_width * cfg.cols)) & 1

    def assemble(self, rows):
        """The (T, P) result from output beats; each beat is (lanes, last)."""
        T, _, P = self.shape
        R, C = self.config.rows, self.config.cols
        if len(rows) != self.n_out_beats:
            raise RuntimeError(f"expected {self.n_out_beats} output beats, got {len(rows)}")
        ap, bp = self.padded()
        out = np.zeros((ap.shape[0], bp.shape[1]), dtype=np.int64)
        for i, (t0, p0) in enumerate(self.tiles):
            for r in range(R):
                lanes, last = rows[i * R + r]
                if bool(last) != (r == R - 1):
                    raise RuntimeError(f"output beat {i * R + r}: last = {last} on tile row {r}")
                out[t0 + r, p0:p0 + C] = lanes
        return out[:T, :P]
