"""Tiling of a (T x K)·(K x P) GEMM onto an R x C array, as a sequence of stream beats.

Tiles are visited with p-tiles inside t-tiles. Each tile streams K beats: filter beat k is the
column A[t0:t0+R, k], activation beat k is the row B[k, p0:p0+C] with ``last`` at k = K - 1.
Rows and columns beyond T and P are padded with zeros and their outputs are dropped.
Each tile yields R output beats (tile rows 0 .. R-1), C lanes each.

K beyond k_max (only with ``split_k``): K is cut into ``golden.cycles.k_chunks`` parts; every
part's tiles stream in turn, back to back in the same run, and :meth:`assemble` adds the parts'
partial sums in int64 on the host. That is exact: each partial sum is exact, and for SAD they are
non-negative with a total of at most (2^w - 1)·K (MAC: at most K·2^(2w-2) in magnitude), far
inside int64 for w <= 16.

The packing helpers give the flat bit-vector form of the payloads, as the generated
Verilog sees them: lane i of an ``ArrayLayout`` at bits [i·w, (i+1)·w), and in the
``{data, last}`` structs ``data`` first, then ``last`` in the top bit.
"""
from dataclasses import dataclass

import numpy as np

from adderhw.base.config import ArrayConfig, check_config
from adderhw.base.errors import BadParameter, SimulationError
from adderhw.golden.cycles import k_chunks
from adderhw.golden.gemm import GEMMS, check_gemm_operands

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
    parts: tuple = None    # (k0, k1) ranges of the K chunks; one chunk unless split

    @classmethod
    def build(cls, config, a, b, split_k=False):
        check_config(config)
        a, b, _ = check_gemm_operands(a, b, config.width)
        if a.shape[0] == 0 or b.shape[1] == 0:
            raise BadParameter(f"T and P must be at least 1, not T = {a.shape[0]}, P = {b.shape[1]}")
        K = a.shape[1]
        if K == 0:
            raise BadParameter("K must be at least 1, not 0")
        if K > config.k_max and not split_k:
            raise BadParameter(
                f"K must be an integer from 1 to {config.k_max} (the array's k_max), not {K}; "
                f"split K (run_layer does) or build the array with a larger k_max")
        bounds, k0 = [], 0
        for k in k_chunks(K, config.k_max):
            bounds.append((k0, k0 + k))
            k0 += k
        return cls(config, a, b, tuple(bounds))

    @property
    def shape(self):
        return self.a.shape[0], self.a.shape[1], self.b.shape[1]

    @property
    def tiles(self):
        """(part, t0, p0) of every tile, in stream order."""
        T, _, P = self.shape
        R, C = self.config.rows, self.config.cols
        return [(i, t0, p0) for i in range(len(self.parts))
                for t0 in range(0, T, R) for p0 in range(0, P, C)]

    @property
    def tile_ks(self):
        """Reduction length of every tile, in stream order (what the cycle model needs)."""
        return [self.parts[i][1] - self.parts[i][0] for i, _, _ in self.tiles]

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
        out = []
        for i, t0, p0 in self.tiles:
            k0, k1 = self.parts[i]
            for k in range(k0, k1):
                out.append((ap[t0:t0 + R, k].tolist(), bp[k, p0:p0 + C].tolist(), k == k1 - 1))
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

    def expected_words(self):
        """Golden's output beats, packed as the Verilog's ``o_sum__payload`` (the scoreboard's reference).

        The tests show that the scoreboard can fail by corrupting these (``tests/sim/test_cocotb.py``,
        the ``wrong_expectation`` fixture), not through a switch here."""
        cfg = self.config
        ap, bp = self.padded()
        gemm = GEMMS[cfg.pe]
        refs = [gemm(ap[:, k0:k1], bp[k0:k1], width=cfg.width) for k0, k1 in self.parts]
        words = []
        for i, t0, p0 in self.tiles:
            for r in range(cfg.rows):
                lanes = refs[i][t0 + r, p0:p0 + cfg.cols].tolist()
                words.append(pack_lanes(lanes, cfg.acc_width) | (int(r == cfg.rows - 1) << (cfg.acc_width * cfg.cols)))
        return words

    def assemble(self, rows):
        """The (T, P) result from output beats; each beat is (lanes, last)."""
        T, _, P = self.shape
        R, C = self.config.rows, self.config.cols
        if len(rows) != self.n_out_beats:
            raise SimulationError(f"expected {self.n_out_beats} output beats, got {len(rows)}")
        ap, bp = self.padded()
        out = np.zeros((ap.shape[0], bp.shape[1]), dtype=np.int64)
        for n, (_, t0, p0) in enumerate(self.tiles):
            for r in range(R):
                lanes, last = rows[n * R + r]
                if bool(last) != (r == R - 1):
                    raise SimulationError(f"output beat {n * R + r}: last = {last} on tile row {r}")
                out[t0 + r, p0:p0 + C] += np.asarray(lanes, dtype=np.int64)   # K parts add up here
        return out[:T, :P]
