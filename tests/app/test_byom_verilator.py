"""Issue 30's acceptance on Verilator: user-style models, defined in the test files (not the built-in
networks), imported, compiled and run on the engine's Verilog: an adder CNN written with an
adder2d-style module and trained a few epochs on the digits, a model with two residual blocks, and a
Brevitas model (where the extra is installed). Each run is bit-exact with the golden program at every
layer, its cycles equal the engine cycle model, and the fake-quant torch model equals the program."""
import dataclasses

import numpy as np
import pytest
import torch

import adderhw
from adderhw.golden.compiler import quantize_images
from adderhw.golden.fakequant import FakeQuantNet
from adderhw.golden.network_program import engine_for
from adderhw.golden.program import run_program
from adderhw.golden.resnet import randomise_batchnorm
from adderhw.sim.engine_cocotb import run_engine_verilog

from tests.engine_checks import assert_run_equals_golden
from tests.golden.user_models import AdderDigits, ResidualNet


def _digits(n=300):
    from sklearn.datasets import load_digits
    d = load_digits()
    return (d.images[:n] / 16.0).astype(np.float32)[:, None], d.target[:n].astype(np.int64)


def _on_verilator(program, x_int, rows=2, cols=2, mac_rows=1):
    engine = engine_for(program, rows, cols, "sad", mac_rows)
    runs = run_engine_verilog(engine, program, x_int, backend="verilator")
    for i, run in enumerate(runs):
        assert_run_equals_golden(engine, program, x_int[cols * i:cols * i + run.images], run)
    fake = FakeQuantNet(program).integer_outputs(torch.tensor(x_int))
    for got, want in zip(fake, run_program(program, x_int).outputs):
        assert np.array_equal(got.numpy(), want)
    return runs


def test_a_trained_adder_cnn_of_the_adder2d_interface_runs_bit_exact_on_verilator():
    x, y = _digits()
    torch.manual_seed(0)
    model = AdderDigits()
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    xt, yt = torch.tensor(x), torch.tensor(y)
    model.train()
    for _ in range(3):                     # a few epochs: the point is a trained model's value ranges
        for i in torch.randperm(len(xt)).split(30):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(xt[i]), yt[i]).backward()
            opt.step()
    model.eval()
    program = adderhw.compile(model, calib=(x, y), width=8)
    assert any(step.op == "add" for step in program.layers)
    _on_verilator(program, quantize_images(program, x[:4]))


def test_a_model_with_two_residual_blocks_runs_bit_exact_on_verilator():
    torch.manual_seed(3)
    model = randomise_batchnorm(ResidualNet(), seed=3).eval()
    x = np.random.default_rng(3).random((32, 1, 8, 8)).astype(np.float32)
    program = adderhw.compile(model, calib=x, width=8)
    assert sum(step.op == "residual" for step in program.layers) == 2
    _on_verilator(program, quantize_images(program, x[:3]))


def test_a_brevitas_model_runs_bit_exact_on_verilator():
    pytest.importorskip("brevitas")
    from tests.golden.test_brevitas import Net9, _images, _ready
    from adderhw.golden.brevitas_import import quantize_input
    from adderhw.golden.frontend import import_model
    model = _ready(Net9(), (2, 8, 8))
    x = _images((2, 8, 8), n=32)
    program = adderhw.compile(model, x.numpy(), width=9, name="net9")
    assert program.rounding == "half_even"          # Brevitas's quantisers round ties to even
    xq = np.asarray(quantize_input(import_model(model, (2, 8, 8)), x))[:2]
    runs = _on_verilator(program, xq, mac_rows=1)
    assert engine_for(program, 2, 2, "sad", 1).rounding == "half_even"
    # these images meet ties, where rounding half up would give other integers: the engine's ties
    # to even are exercised, not only present
    up = dataclasses.replace(program, rounding="half_up")
    assert any(not np.array_equal(a, b) for a, b in zip(run_program(up, xq).outputs, runs[0].layer_outputs()))
