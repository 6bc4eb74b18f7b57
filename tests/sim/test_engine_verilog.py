"""The engine's Verilog on Verilator and Icarus (cocotb): several batches in one run, every layer
output equal to the golden program, classes too, cycles equal to the engine cycle model."""
import numpy as np
import pytest

from adderhw.base.config import ArrayConfig
from adderhw.base.engine import EngineConfig
from adderhw.golden.engine_cycles import engine_cycles
from adderhw.golden.program import run_program
from adderhw.sim.engine_cocotb import run_engine_verilog
from tests.hw.test_engine import random_program


@pytest.mark.parametrize("backend", ["verilator", "icarus"])
@pytest.mark.parametrize("adder", [True, False], ids=["addernet", "cnn"])
def test_engine_verilog_batches(backend, adder):
    rng = np.random.default_rng(7 if adder else 8)
    engine = EngineConfig(array=ArrayConfig(rows=2, cols=3, width=6, k_max=200, pe="sad" if adder else "mac"),
                          mac_rows=1 if adder else 0, act_depth=512, weight_depth=2048, const_depth=64, max_layers=6)
    program = random_program(rng, 6, adder)
    images = rng.integers(-32, 32, (7, *program.input_shape))     # three batches, the last one partial
    golden = run_program(program, images)
    runs = run_engine_verilog(engine, program, images, backend=backend)
    assert [r.images for r in runs] == [3, 3, 1]
    model = engine_cycles(engine, program)["total"]
    for i, run in enumerate(runs):
        part = slice(3 * i, 3 * i + run.images)
        for layer, got, want in zip(program.layers, run.layer_outputs(), golden.outputs):
            assert np.array_equal(got, want[part]), f"batch {i} layer {layer.name} differs"
        assert np.array_equal(run.classes, golden.classes[part])
        assert run.cycles == model
