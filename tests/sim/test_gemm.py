"""run_gemm on Amaranth's simulator against the golden model, and its cycles against the model."""
import numpy as np
import pytest

from adderhw.golden import AdderhwError, mac_gemm, sad_gemm
from adderhw.golden.cycles import gemm_cycles
from adderhw.hw import ArrayConfig
from adderhw.sim import run_gemm
from tests.sim.cases import CASES, case_id, operands


def golden_for(cfg, a, b):
    return sad_gemm(a, b, width=cfg.width) if cfg.pe == "sad" else mac_gemm(a, b, width=cfg.width)


@pytest.mark.parametrize("pe", ["sad", "mac"])
@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_run_gemm_is_bit_exact(case, pe):
    cfg, T, K, P, stall, corner = case
    cfg = cfg.with_(pe=pe)
    a, b = operands(cfg, T, K, P, seed=hash((T, K, P)) % 1000, corner=corner)
    y, cycles = run_gemm(cfg, a, b, seed=7, stall_prob=stall)
    assert np.array_equal(y, golden_for(cfg, a, b))
    if stall == 0.0:
        assert cycles == gemm_cycles(cfg, T, K, P)
    else:
        assert cycles > gemm_cycles(cfg, T, K, P)


def test_output_held_back_for_many_cycles_loses_nothing():
    # bursts of 8-40 cycles without ready while tiles keep computing behind them
    cfg = ArrayConfig(rows=2, cols=2, width=8, k_max=3)
    a, b = operands(cfg, 6, 3, 6, seed=1)
    y, cycles = run_gemm(cfg, a, b, seed=3, stall_prob=0.6)
    assert np.array_equal(y, sad_gemm(a, b))
    assert cycles > 3 * gemm_cycles(cfg, 6, 3, 6)


def test_mac_pipeline_options_are_exact_and_timed():
    for stages in (2, 3):
        cfg = ArrayConfig(rows=3, cols=2, width=8, k_max=12, pe="mac", mul_stages=stages)
        a, b = operands(cfg, 4, 12, 5, seed=stages)
        y, cycles = run_gemm(cfg, a, b)
        assert np.array_equal(y, mac_gemm(a, b))
        assert cycles == gemm_cycles(cfg, 4, 12, 5)


def test_same_seed_same_run():
    cfg = ArrayConfig(rows=2, cols=3, width=6, k_max=5)
    a, b = operands(cfg, 3, 5, 4, seed=2)
    assert run_gemm(cfg, a, b, seed=11, stall_prob=0.3)[1] == run_gemm(cfg, a, b, seed=11, stall_prob=0.3)[1]


@pytest.mark.parametrize("call,msg", [
    (lambda: run_gemm(ArrayConfig(k_max=9), np.zeros((2, 10), int), np.zeros((10, 2), int)),
     "K must be an integer from 1 to 9 .* not 10"),
    (lambda: run_gemm(ArrayConfig(width=4), np.full((1, 1), 8), np.zeros((1, 1), int)),
     r"a holds 8, out of range for width 4"),
    (lambda: run_gemm(ArrayConfig(), np.zeros((2, 3), int), np.zeros((2, 3), int)), "a and b do not chain"),
    (lambda: run_gemm(ArrayConfig(), np.zeros((1, 1), int), np.zeros((1, 1), int), backend="spice"),
     "backend must be one of amaranth, icarus, verilator, not 'spice'"),
    (lambda: run_gemm(ArrayConfig(), np.zeros((1, 1), int), np.zeros((1, 1), int), stall_prob=1.0),
     "stall probability must be at least 0 and below 1, not 1.0"),
])
def test_bad_input(call, msg):
    with pytest.raises(AdderhwError, match=msg):
        call()


def test_a_driver_named_for_amaranths_simulator_is_refused_not_ignored():
    cfg = ArrayConfig(rows=1, cols=1, width=4, k_max=2)
    a, b = operands(cfg, 1, 2, 1, seed=0)
    for driver in ("cocotb", "harness"):
        with pytest.raises(AdderhwError, match=f"driver '{driver}' applies to the Verilog backends"):
            run_gemm(cfg, a, b, backend="amaranth", driver=driver)
    assert np.array_equal(run_gemm(cfg, a, b, backend="amaranth")[0], golden_for(cfg, a, b))
