import pytest

from adderhw.golden import AdderhwError
from adderhw.base.config import ArrayConfig
from adderhw.golden.cycles import drain_gap, gemm_cycles, k_chunks, layer_cycles, split_gemm_cycles, tile_sequence_cycles
from adderhw.golden.networks import Layer


def test_formula_by_hand():
    cfg = ArrayConfig(rows=2, cols=3, width=8, k_max=16)       # S = 2, G = 2·2 + 3 + 2 - 1 = 8
    assert drain_gap(cfg) == 8
    assert gemm_cycles(cfg, 2, 9, 3) == 8 + 8                 # one tile: K - 1 + G
    assert gemm_cycles(cfg, 4, 9, 3) == 8 + 9 + 8             # two tiles, K >= G: K apart
    assert gemm_cycles(cfg, 4, 2, 3) == 1 + 8 + 8             # K < G: tiles G apart (the drain shows)
    assert tile_sequence_cycles(cfg, [9, 2, 9]) == 8 + 8 + 9 + 8
    # a consumer that takes each tile's last row 3 cycles late: G = 11 between tiles and at the end
    assert tile_sequence_cycles(cfg, [9, 2, 9], drain_wait=3) == 8 + 11 + 11 + 11
    assert tile_sequence_cycles(cfg, [12, 12], drain_wait=3) == 11 + 12 + 11
    with pytest.raises(AdderhwError, match="drain_wait"):
        tile_sequence_cycles(cfg, [9], drain_wait=-1)


def test_broadcast_formula_by_hand():
    # every PE captures S - 1 cycles after the broadcast registers (1 cycle after the last beat),
    # the chain shifts R times, the FIFO offers the last row a cycle later: G = R + S + 2
    cfg = ArrayConfig(rows=4, cols=8, width=8, k_max=16, dataflow="broadcast")     # G = 4 + 2 + 2
    assert drain_gap(cfg) == 8 and drain_gap(cfg.with_(dataflow="systolic")) == 2 * 4 + 8 + 2 - 1
    assert drain_gap(cfg.with_(cols=64)) == 8                 # the gap does not grow with C
    assert drain_gap(ArrayConfig(rows=2, cols=2, pe="mac", mul_stages=3, dataflow="broadcast")) == 2 + 4 + 2
    assert gemm_cycles(cfg, 8, 9, 8) == 8 + 9 + 8             # two tiles, K >= G
    assert gemm_cycles(cfg, 8, 2, 8) == 1 + 8 + 8             # K < G


def test_k_chunks_are_balanced_and_bounded():
    for K in range(1, 200):
        for k_max in (1, 7, 64, 144):
            parts = k_chunks(K, k_max)
            assert sum(parts) == K and max(parts) <= k_max and max(parts) - min(parts) <= 1
            assert len(parts) == -(-K // k_max)


def test_layer_cycles_split_k():
    cfg = ArrayConfig(rows=4, cols=4, width=8, k_max=20)
    layer = Layer("l", 3, 5, 3, 2, 1, 7, 7)                    # K = 27 -> 14 + 13, T = 5, P = 16
    n = 2 * 4
    G = drain_gap(cfg)
    expect = (14 - 1) + (n - 1) * max(14, G) + n * max(13, G) + G
    assert layer_cycles(cfg, layer) == split_gemm_cycles(cfg, 5, 27, 16) == expect


def test_bad_input():
    cfg = ArrayConfig(k_max=9)
    with pytest.raises(AdderhwError, match="K must be an integer from 1 to 9, not 10"):
        gemm_cycles(cfg, 1, 10, 1)
    with pytest.raises(AdderhwError, match="T must be an integer of at least 1, not 0"):
        gemm_cycles(cfg, 0, 1, 1)
    with pytest.raises(AdderhwError, match="config must be an ArrayConfig"):
        gemm_cycles("8x8", 1, 1, 1)
