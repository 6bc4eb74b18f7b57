"""The one check of an engine run against the golden program: every layer's values, the classes,
and the cycles against the engine cycle model (tests/hw/test_engine.py, tests/sim/test_engine_random.py)."""
import numpy as np

from adderhw.golden.engine_cycles import engine_cycles
from adderhw.golden.program import run_program


def assert_run_equals_golden(engine, program, images, run):
    """Assert ``run`` (an engine run of ``images``) equals the golden program; returns golden's run."""
    golden = run_program(program, images)
    for layer, got, want in zip(program.layers, run.layer_outputs(), golden.outputs):
        assert np.array_equal(got, want), f"layer {layer.name} differs"
    assert np.array_equal(run.classes, golden.classes)
    assert run.cycles == engine_cycles(engine, program)["total"]
    return golden
