"""Seeded GEMM cases shared by the simulator tests: operands drawn with corner values."""
import numpy as np

from adderhw.hw import ArrayConfig


def operands(cfg, T, K, P, seed, corner=None):
    """Random signed ``cfg.width``-bit a (T x K), b (K x P); ``corner`` forces extremes:
    'minmax' (a = min, b = max: the largest |a - b| and the largest MAC sum), 'equal' (a = b)."""
    rng = np.random.default_rng(seed)
    lo, hi = -(1 << (cfg.width - 1)), (1 << (cfg.width - 1)) - 1
    a = rng.integers(lo, hi + 1, (T, K))
    b = rng.integers(lo, hi + 1, (K, P))
    # sprinkle the extremes into every random case
    a[rng.random((T, K)) < 0.15] = lo
    b[rng.random((K, P)) < 0.15] = hi
    if corner == "minmax":
        a[:] = lo
        b[:] = hi if cfg.pe == "sad" else lo
    elif corner == "equal":
        a[:] = 3 % (hi + 1)
        b[:] = 3 % (hi + 1)
    return a, b


# (config, T, K, P, stall probability, corner): widths 2-16, arrays 1x1 to 8x8, K in {1, 2, 9, 144, k_max},
# T and P not multiples of R and C.
CASES = [
    (ArrayConfig(rows=1, cols=1, width=2, k_max=4), 3, 1, 2, 0.0, None),
    (ArrayConfig(rows=1, cols=1, width=8, k_max=9), 2, 9, 3, 0.3, None),
    (ArrayConfig(rows=3, cols=1, width=6, k_max=9), 7, 3, 2, 0.3, None),
    (ArrayConfig(rows=2, cols=3, width=4, k_max=16), 5, 2, 7, 0.0, None),
    (ArrayConfig(rows=2, cols=3, width=4, k_max=16), 5, 9, 7, 0.4, None),
    (ArrayConfig(rows=2, cols=3, width=12, k_max=9), 3, 9, 4, 0.2, "minmax"),
    (ArrayConfig(rows=4, cols=4, width=8, k_max=144), 6, 144, 5, 0.0, None),
    (ArrayConfig(rows=4, cols=4, width=16, k_max=37), 5, 37, 6, 0.25, "minmax"),
    (ArrayConfig(rows=4, cols=4, width=16, k_max=37), 4, 1, 9, 0.0, "equal"),
    (ArrayConfig(rows=8, cols=8, width=8, k_max=144), 9, 144, 10, 0.0, None),
    (ArrayConfig(rows=8, cols=8, width=8, k_max=144), 9, 2, 17, 0.3, None),
    (ArrayConfig(rows=8, cols=8, width=2, k_max=20), 8, 20, 8, 0.3, "minmax"),
    # the broadcast dataflow (hw.array)
    (ArrayConfig(rows=4, cols=8, width=8, k_max=144, dataflow="broadcast"), 9, 144, 19, 0.0, None),
    (ArrayConfig(rows=8, cols=4, width=8, k_max=16, dataflow="broadcast"), 11, 2, 6, 0.3, None),
    (ArrayConfig(rows=3, cols=2, width=12, k_max=9, dataflow="broadcast"), 5, 9, 5, 0.2, "minmax"),
]


def case_id(case):
    cfg, T, K, P, stall, corner = case
    return (f"{cfg.rows}x{cfg.cols}-w{cfg.width}-T{T}K{K}P{P}-s{stall}" + (f"-{corner}" if corner else "")
            + ("" if cfg.dataflow == "systolic" else f"-{cfg.dataflow}"))
