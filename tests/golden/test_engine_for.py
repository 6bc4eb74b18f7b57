"""golden.network_program.engine_for: the engine a program needs, with the tables rounded up to powers
of two (the built-in networks) or exactly as deep as the program needs (the program-file flows)."""
import numpy as np
import torch

from adderhw.golden.compiler import compile_model
from adderhw.golden.frontend import import_model
from adderhw.golden.network_program import engine_for
from adderhw.golden.program import memory_images

from .user_models import ResidualNet, randomise_batchnorm


def _program():
    torch.manual_seed(6)
    model = randomise_batchnorm(ResidualNet(), seed=6)
    x = np.random.default_rng(6).random((16, 1, 8, 8)).astype(np.float32)
    return compile_model(import_model(model, (1, 8, 8)), x, 8, "res").program


def test_exact_depths_hold_exactly_the_tables_and_power_of_two_depths_round_them_up():
    program = _program()
    pow2 = engine_for(program, 2, 2, "sad", 1)
    exact = engine_for(program, 2, 2, "sad", 1, exact_depths=True)
    mem = memory_images(program, exact)
    assert (exact.weight_depth, exact.const_depth) == (max(len(mem.weights), 16), max(len(mem.consts), 16))
    for depth, need in ((pow2.weight_depth, len(mem.weights)), (pow2.const_depth, len(mem.consts))):
        assert depth >= need and depth & (depth - 1) == 0 and depth < 2 * max(need, 16)
    # the rest of the engine is the same, and so are the images it loads
    assert exact.with_(weight_depth=pow2.weight_depth, const_depth=pow2.const_depth) == pow2
    assert np.array_equal(memory_images(program, pow2).weights, mem.weights)
    assert exact.act_depth == pow2.act_depth and exact.residual and exact.rounding == program.rounding
