"""The drain's order and hand-over under output backpressure placed at exact cycles, on every
simulator: results against golden, cycles against the cycle model plus the stalls' length."""
import numpy as np
import pytest

from adderhw.golden import mac_gemm, sad_gemm
from adderhw.golden.cycles import drain_gap, gemm_cycles
from adderhw.hw import ArrayConfig
from adderhw.sim import run_gemm
from adderhw.sim.stalls import StallPattern

BACKENDS = ["amaranth", "icarus", "verilator"]


def _script(windows, n):
    """Inputs always offered; the output not ready in the given [start, end) windows."""
    words = [7] * n
    for start, end in windows:
        for t in range(start, end):
            words[t] = 0b011
    return words


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("pe", ["sad", "mac"])
def test_stalls_at_tile_boundaries_with_tiles_shorter_than_the_drain(backend, pe):
    cfg = ArrayConfig(rows=3, cols=2, width=6, k_max=4, pe=pe)
    K, T, P = 2, 6, 4                               # four tiles of K = 2 < G: every drain shows
    G, R = drain_gap(cfg), cfg.rows
    assert K < R < G
    rng = np.random.default_rng(5)
    a = rng.integers(-32, 32, (T, K))
    b = rng.integers(-32, 32, (K, P))
    a[0, :] = -32                                    # corner values in the first tile
    b[:, 0] = 31
    # Stall-free schedule: tile j's last beat at L_j = K - 1 + j·G, its rows offered at L_j + G - R + r.
    # Stall 1 (6 cycles) starts exactly when tile 0 offers its last row: tile 1's last beat waits
    # for it. Stall 2 (4 cycles) starts exactly at tile 1's first row (the tile boundary, tile 0
    # gone), and stall 3 (3 cycles) in the middle of tile 2, between rows 0 and 1. Each stall
    # delays everything after it by its own length.
    n1, n2, n3 = 6, 4, 3
    last_row_0 = (K - 1) + G - 1
    first_row_1 = (K - 1) + G + n1 + G - R
    row_1_of_2 = (K - 1) + 2 * G + n1 + n2 + G - R + 1
    windows = [(last_row_0, last_row_0 + n1), (first_row_1, first_row_1 + n2), (row_1_of_2, row_1_of_2 + n3)]
    stalls = StallPattern(script=_script(windows, row_1_of_2 + n3 + 5))
    y, cycles = run_gemm(cfg, a, b, backend=backend, stalls=stalls)
    expect = sad_gemm(a, b) if pe == "sad" else mac_gemm(a, b)
    assert np.array_equal(y, expect)
    assert cycles == gemm_cycles(cfg, T, K, P) + n1 + n2 + n3


@pytest.mark.parametrize("backend", ["amaranth", "verilator"])
def test_one_row_arrays_and_k_of_one(backend):
    # R = 1: the chain is the result register alone; K = 1: every beat ends a tile
    cfg = ArrayConfig(rows=1, cols=3, width=4, k_max=1)
    rng = np.random.default_rng(2)
    a, b = rng.integers(-8, 8, (3, 1)), rng.integers(-8, 8, (1, 6))
    G = drain_gap(cfg)
    stalls = StallPattern(script=_script([(G - 1, G + 6)], G + 10))   # tile 0's only row held 7 cycles
    y, cycles = run_gemm(cfg, a, b, backend=backend, stalls=stalls)
    assert np.array_equal(y, sad_gemm(a, b))
    assert cycles == gemm_cycles(cfg, 3, 1, 6) + 7
