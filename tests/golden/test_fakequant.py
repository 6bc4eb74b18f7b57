"""golden.fakequant: the torch model generated from a program equals golden.program's integers
layer by layer, on random and real images, at widths 4..8 and with both requant kinds."""
import dataclasses

import numpy as np
import pytest
import torch

from adderhw.base.requant import ROUNDINGS
from adderhw.golden import BadParameter
from adderhw.golden.addernet import load_digits_data
from adderhw.golden.compiler import compile_model, quantize_images
from adderhw.golden.fakequant import FakeQuantNet
from adderhw.golden.frontend import import_model
from adderhw.golden.program import LayerProgram, Program, run_program

from .user_models import AdderDigits, ResidualNet, randomise_batchnorm


@pytest.fixture(scope="module")
def digits():
    return load_digits_data()


@pytest.fixture(scope="module")
def nets():
    torch.manual_seed(7)
    return {"adder": import_model(randomise_batchnorm(AdderDigits(), seed=7), (1, 8, 8)),
            "residual": import_model(randomise_batchnorm(ResidualNet(), seed=8), (1, 8, 8))}


@pytest.mark.parametrize("width", [4, 5, 6, 7, 8])
@pytest.mark.parametrize("requant", ["mul", "shift"])
@pytest.mark.parametrize("net", ["adder", "residual"])
def test_fake_quant_equals_the_program_model(nets, digits, width, requant, net):
    compiled = compile_model(nets[net], digits.x_train[:128], width, net, requant=requant)
    program = compiled.program
    fq = FakeQuantNet(program, compiled.logit_frac)
    rng = np.random.default_rng(width)
    for x in (digits.x_test[:40], rng.uniform(-0.5, 1.5, (8, 1, 8, 8)).astype(np.float32)):
        xq = quantize_images(program, x)
        assert np.array_equal(fq.quantize_input(torch.tensor(x)).numpy(), xq)
        want = run_program(program, xq).outputs
        with torch.no_grad():
            got = fq.integer_outputs(torch.tensor(xq))
        for step, g, w in zip(program.layers, got, want):
            assert np.array_equal(g.numpy(), w), step.name
        with torch.no_grad():
            logits = fq(torch.tensor(x)).numpy()
        assert np.array_equal(logits, np.ldexp(want[-1].reshape(len(x), -1).astype(np.float64), -compiled.logit_frac))


def _tie_program(rng):
    """A 4-bit adder layer whose sums land on ties often: acc = −(|x0 − f0| + |x1 − f1|) in [−30, 0],
    B even and S = 2, so acc + B is a tie (k + 1/2 units of 4) wherever it is 2 modulo 4."""
    w = rng.integers(-8, 8, (6, 2, 1, 1))
    bias = 2 * rng.integers(4, 9, 6)
    return Program("ties", 4, (_fc(w, np.ones(6, np.int64), bias, 2, op="add"),), 0)


@pytest.mark.parametrize("net", ["handmade", "residual"])
def test_fake_quant_rounds_ties_to_even_as_the_program_does(nets, digits, net):
    rng = np.random.default_rng(11)
    if net == "handmade":
        up, logit_frac = _tie_program(rng), None
        xq = rng.integers(-8, 8, (64, 2, 1, 1))
    else:           # 4 bits with shift-only scales: the residual adds' roundings land on ties
        compiled = compile_model(nets[net], digits.x_train[:128], 4, net, requant="shift")
        up, logit_frac = compiled.program, compiled.logit_frac
        xq = quantize_images(up, digits.x_test[:60])
    even = dataclasses.replace(up, rounding="half_even")
    want = run_program(even, xq).outputs
    with torch.no_grad():
        got = FakeQuantNet(even, logit_frac).integer_outputs(torch.tensor(xq))
    for step, g, w in zip(even.layers, got, want):
        assert np.array_equal(g.numpy(), w), step.name
    # the two roundings differ on these images, so ties were reached
    assert any(not np.array_equal(a, b) for a, b in zip(run_program(up, xq).outputs, want))


def _fc(weights, scale, bias, shift, relu=False, op="mul", x_shift=None):
    w = np.asarray(weights, dtype=np.int64)
    return LayerProgram("fc", op, w, np.asarray(scale, dtype=np.int64), np.asarray(bias, dtype=np.int64), shift,
                        (1, 1), relu=relu, x_shift=x_shift)


@pytest.mark.parametrize("rounding", ROUNDINGS)
def test_corner_values_round_and_saturate_as_the_program(rounding):
    # the 4-bit corners −8 and 7, exact halves of the shift, and a per-tile input shift of each sign
    w = np.array([[[[-8]], [[7]]], [[[7]], [[-8]]], [[[1]], [[1]]], [[[-1]], [[3]]]])
    program = Program("c", 4, (_fc(w, [1, -3, 5, 2], [4, -4, 0, 1], 3, x_shift=(0, 0, -1, 1)),), 0,
                      rounding=rounding)
    xq = np.array([[[[-8]], [[7]]], [[[7]], [[-8]]], [[[0]], [[0]]], [[[-1]], [[1]]]])
    want = run_program(program, xq).outputs[0]
    got = FakeQuantNet(program).integer_outputs(torch.tensor(xq))[0].numpy()
    assert np.array_equal(got, want)
    assert want.min() == -8 and want.max() == 7           # both ends reached: saturation is exercised


def test_refuses_a_layer_whose_sums_leave_int64():
    # 16 bits: |acc| <= K·2^30 = 2^32 with K = 4, times |M| < 2^31: beyond 2^62
    w = np.full((1, 4, 1, 1), 7)
    program = Program("wide", 16, (_fc(w, [(1 << 31) - 1], [(1 << 47) - 1], 0),), 0, scale_bits=32, bias_bits=48)
    with pytest.raises(BadParameter, match="layer 'fc': acc·M \\+ B may reach"):
        FakeQuantNet(program)
