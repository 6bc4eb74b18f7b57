"""The stream-rule monitor: it passes a correct stream, and it catches a source that breaks the rules,
in isolation and on a real simulation with a deliberately broken driver."""
import numpy as np
import pytest

from adderhw.golden import sad_gemm
from adderhw.hw import ArrayConfig
from adderhw.sim import run_gemm
from adderhw.sim.driver import StreamDriver
from adderhw.sim.monitor import StreamMonitor, StreamRuleViolation


def _feed(samples):
    m = StreamMonitor("s")
    for valid, payload, ready in samples:
        m.sample(valid, payload, ready=ready)


def test_a_held_beat_passes():
    _feed([(1, 5, 0), (1, 5, 0), (1, 5, 1), (0, 9, 0), (1, 7, 1), (1, 8, 0), (1, 8, 1)])


def test_withdrawn_valid_is_caught():
    with pytest.raises(StreamRuleViolation, match="s: valid was withdrawn at cycle 2 before the beat offered at cycle 1"):
        _feed([(0, 0, 0), (1, 5, 0), (0, 5, 0)])


def test_changed_payload_is_caught():
    with pytest.raises(StreamRuleViolation, match="the payload changed at cycle 1"):
        _feed([(1, 5, 0), (1, 6, 1)])


def test_a_broken_driver_is_caught_on_the_amaranth_simulator(monkeypatch):
    # a driver that withdraws its filter beat every third cycle even when it was not accepted
    drive = StreamDriver.drive

    def broken(self):
        fv, fp, av, ap, ready = drive(self)
        return (fv and self.cycle % 3 != 2), fp, av, ap, ready
    monkeypatch.setattr(StreamDriver, "drive", broken)
    cfg = ArrayConfig(rows=2, cols=2, width=6, k_max=8)
    rng = np.random.default_rng(0)
    a, b = rng.integers(-32, 32, (2, 8)), rng.integers(-32, 32, (8, 2))
    with pytest.raises(StreamRuleViolation, match="i_filter: valid was withdrawn"):
        run_gemm(cfg, a, b, backend="amaranth", seed=1, stall_prob=0.4)


def test_the_same_run_with_the_correct_driver_passes():
    cfg = ArrayConfig(rows=2, cols=2, width=6, k_max=8)
    rng = np.random.default_rng(0)
    a, b = rng.integers(-32, 32, (2, 8)), rng.integers(-32, 32, (8, 2))
    y, _ = run_gemm(cfg, a, b, backend="amaranth", seed=1, stall_prob=0.4)
    assert np.array_equal(y, sad_gemm(a, b))
