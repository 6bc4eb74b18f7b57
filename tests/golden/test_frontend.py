"""golden.frontend and the residual add: user-style models (tests/golden/user_models.py) imported,
compiled and checked against an independent integer brute force and the float model."""
import numpy as np
import pytest
import torch

from adderhw.base.config import ArrayConfig
from adderhw.base.engine import EngineConfig
from adderhw.golden import BadParameter
from adderhw.golden.addernet import load_digits_data
from adderhw.golden.compiler import compile_model, quantize_images
from adderhw.golden.fakequant import FakeQuantNet
from adderhw.golden.frontend import ImportedAdder, import_model
from adderhw.golden.program import LayerProgram, ResidualAdd, memory_images, run_program

from .test_program import brute_layer
from .user_models import AdderDigits, Branchy, GroupedAdder, Pool5, ResidualNet, Sigmoid, randomise_batchnorm


@pytest.fixture(scope="module")
def digits():
    return load_digits_data()


def _train(make_model, data, epochs=4, seed=0):
    """``make_model()`` built after seeding torch (its initial weights must not depend on what ran
    before in this process: under xdist a worker that had run other tests first drew other weights,
    and the accuracy bound failed by 0.004), then Adam for a few epochs, then BatchNorm's running
    statistics recomputed over the training set (a few epochs leave them behind the fast-moving
    adder layers)."""
    torch.manual_seed(seed)
    model = make_model()
    g = torch.Generator().manual_seed(seed)
    x, y = torch.tensor(data.x_train), torch.tensor(data.y_train)
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    for _ in range(epochs):
        model.train()
        perm = torch.randperm(len(y), generator=g)
        for i in range(0, len(y), 64):
            idx = perm[i:i + 64]
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
            opt.step()
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.reset_running_stats()
            m.momentum = None           # a plain average over the recalibration batches
    with torch.no_grad():
        for i in range(0, len(y), 256):
            model(x[i:i + 256])
    model.eval()
    return model


@pytest.fixture(scope="module")
def trained_adder(digits):
    return _train(AdderDigits, digits)


def test_adder_cnn_from_the_adder2d_interface_compiles_close_to_float(trained_adder, digits):
    net = import_model(trained_adder, (1, 8, 8))
    kinds = {name: type(mod).__name__ for name, mod, _ in net.graph_chain()}
    assert kinds["add1"] == "ImportedAdder" and kinds["add2"] == "ImportedAdder"
    # add2 has a bias (the interface's b); the imported layer carries exactly those values
    assert torch.equal(dict((n, m) for n, m, _ in net.graph_chain())["add2"].bias, trained_adder.add2.b.detach())
    compiled = compile_model(net, digits.x_train[:512], 8, "user-adder")
    ops = [(l.name, l.op, l.relu, l.pool) for l in compiled.program.layers]
    assert ops == [("stem", "mul", True, "none"), ("add1", "add", True, "max2"), ("add2", "add", True, "gap"),
                   ("head", "mul", False, "none")]
    with torch.no_grad():
        float_acc = float(np.mean(trained_adder(torch.tensor(digits.x_test)).numpy().argmax(1) == digits.y_test))
    xq = quantize_images(compiled.program, digits.x_test)
    run = run_program(compiled.program, xq)
    int_acc = float(np.mean(run.classes == digits.y_test))
    # a few epochs of an adder CNN: well above chance (10 %), not converged
    assert float_acc > 0.5, float_acc
    # stated bound: the 8-bit program loses at most 3 points against the float model
    assert int_acc >= float_acc - 0.03, (float_acc, int_acc)
    fq = FakeQuantNet(compiled.program, compiled.logit_frac)
    with torch.no_grad():
        outs = fq.integer_outputs(torch.tensor(xq))
    for got, want in zip(outs, run.outputs):
        assert np.array_equal(got.numpy(), want)


def _brute_residual(step, a, b, width):
    """The docstring's rule for one residual add on nested lists (C, H, W) of Python ints."""
    lo, hi = -(1 << (width - 1)), (1 << (width - 1)) - 1
    out = []
    for pa, pb in zip(a, b):
        plane = []
        for ra, rb in zip(pa, pb):
            row = []
            for va, vb in zip(ra, rb):
                s = va * 2 ** step.main_shift + vb * 2 ** step.skip_shift
                if step.shift:
                    s = (2 * s + 2 ** step.shift) // 2 ** (step.shift + 1)     # floor(s / 2^r + 1/2)
                if step.relu:
                    s = max(s, 0)
                row.append(min(max(s, lo), hi))
            plane.append(row)
        out.append(plane)
    if step.pool == "gap":
        n = len(out[0]) * len(out[0][0])
        out = [[[(2 * sum(sum(r) for r in pl) + n) // (2 * n)]] for pl in out]
    return out


def _brute(program, image):
    outs = []
    for i, step in enumerate(program.layers):
        src = i - 1 if step.src is None else step.src
        a = image if src < 0 else outs[src]
        if isinstance(step, ResidualAdd):
            outs.append(_brute_residual(step, a, image if step.skip < 0 else outs[step.skip], program.width))
        else:
            outs.append(brute_layer(step, a, program.width))
    return outs


@pytest.fixture(scope="module")
def residual():
    torch.manual_seed(1)
    model = randomise_batchnorm(ResidualNet())
    x = np.random.default_rng(1).random((64, 1, 8, 8)).astype(np.float32)
    return model, import_model(model, (1, 8, 8)), x


@pytest.mark.parametrize("width", [5, 8])
def test_residual_network_equals_brute_force_and_fake_quant(residual, width):
    model, net, x = residual
    compiled = compile_model(net, x, width, "res")
    program = compiled.program
    adds = [s for s in program.layers if isinstance(s, ResidualAdd)]
    assert [s.name for s in adds] == ["add", "add_1"]
    # block 1 adds its input (the stem's output, step 0); block 2 the first add's output (step 3)
    assert [s.skip for s in adds] == [0, 3] and [s.relu for s in adds] == [True, True]
    assert adds[1].pool == "gap" and program.kept == (0, 3)
    # the scales: the add aligns both operands to the finest of the three and rounds once
    by_name = {s.name: s for s in compiled.scales}
    for s in adds:
        sc = by_name[s.name]
        fm = max(sc.x_frac, sc.w_frac, sc.out_frac)
        assert (s.main_shift, s.skip_shift, s.shift) == (fm - sc.x_frac, fm - sc.w_frac, fm - sc.out_frac)
    xq = quantize_images(program, x[:6])
    run = run_program(program, xq)
    for n in range(len(xq)):
        want = _brute(program, xq[n].tolist())
        for got, w in zip(run.outputs, want):
            assert got[n].tolist() == w
    with torch.no_grad():
        outs = FakeQuantNet(program, compiled.logit_frac).integer_outputs(torch.tensor(xq))
    for got, want in zip(outs, run.outputs):
        assert np.array_equal(got.numpy(), want)
    if width == 8:
        # the program follows the float model: at 8 bits, most classes agree on random images
        xq_all = quantize_images(program, x)
        with torch.no_grad():
            f_cls = model(torch.tensor(x)).numpy().argmax(1)
        assert np.mean(run_program(program, xq_all).classes == f_cls) >= 0.8


def test_residual_add_rounds_half_up_once_and_saturates():
    # a = 3 at 2^-1, b = 1 at 2^-2, out at 2^-1: s = 3·2 + 1 = 7 (units 2^-2), v = (7 + 1) >> 1 = 4
    from adderhw.golden.program import residual_add
    step = ResidualAdd("r", skip=0, shape=(1, 1, 3), main_shift=1, skip_shift=0, shift=1, relu=False)
    got = residual_add(step, np.array([[[[3, -3, 100]]]]), np.array([[[[1, -1, 100]]]]), 8)
    # -3·2 − 1 = −7: (−7 + 1) >> 1 = −3 (half up: −3.5 → −3); 100·2 + 100 = 300 → 150 → saturates at 127
    assert got.tolist() == [[[[4, -3, 127]]]]
    relu = ResidualAdd("r", skip=0, shape=(1, 1, 3), main_shift=1, skip_shift=0, shift=1, relu=True)
    assert residual_add(relu, np.array([[[[3, -3, 100]]]]), np.array([[[[1, -1, 100]]]]), 8).tolist() == [[[[4, 0, 127]]]]


def test_memory_images_refuses_a_residual_program(residual):
    _, net, x = residual
    program = compile_model(net, x, 8, "res").program
    engine = EngineConfig(array=ArrayConfig(rows=4, cols=4, width=8, k_max=64, pe="sad"), mac_rows=4)
    with pytest.raises(BadParameter, match="layer 'add': op is a residual add, which needs an engine built with residual"):
        memory_images(program, engine)


# ---- refusals -------------------------------------------------------------------------------

@pytest.mark.parametrize("model, names", [
    (Sigmoid(), ["node 'sigmoid'", "call_function 'sigmoid'", "operation the engine cannot run"]),
    (Pool5(), ["node 'big_pool'", "kernel 5", "2x2 with stride 2"]),
    (GroupedAdder(), ["node 'grouped'", "groups 2"]),
])
def test_refusals_name_the_node(model, names):
    with pytest.raises(BadParameter) as info:
        import_model(model, (1, 8, 8))
    msg = str(info.value)
    for part in names:
        assert part in msg, msg
    assert "supported: Conv2d, Linear" in msg and "\n" not in msg


def test_a_failing_trace_names_the_module_and_reason():
    with pytest.raises(BadParameter) as info:
        import_model(Branchy(), (1, 8, 8))
    msg = str(info.value)
    assert msg.startswith("model Branchy cannot be traced by torch.fx in module 'gate': ")
    assert "control flow" in msg and "\n" not in msg


def test_a_tensor_beyond_the_activation_buffer_is_refused(residual):
    model = residual[0]
    engine = EngineConfig(array=ArrayConfig(rows=4, cols=4, width=8, k_max=64, pe="sad"), mac_rows=4, act_depth=256)
    with pytest.raises(BadParameter, match=r"node 'stem' \(call_module 'stem'\): its output 6x8x8 = 384 values does not "
                                           r"fit the engine's activation buffer \(act_depth=256\)"):
        import_model(model, (1, 8, 8), engine=engine)


def test_functional_forms_import_as_their_modules():
    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(1, 4, 3, padding=1)
            self.bn = torch.nn.BatchNorm1d(10)
            self.fc = torch.nn.Linear(4 * 4 * 4, 10)

        def forward(self, x):
            x = torch.nn.functional.max_pool2d(torch.relu(self.conv(x)), 2)
            return self.bn(self.fc(x.view(x.size(0), -1)))

    model = randomise_batchnorm(Net())
    net = import_model(model, (1, 8, 8))
    assert [type(m).__name__ for _, m, _ in net.graph_chain()] == ["Conv2d", "ReLU", "MaxPool2d", "Flatten", "Linear",
                                                                    "BatchNorm1d"]
    x = np.random.default_rng(2).random((32, 1, 8, 8)).astype(np.float32)
    program = compile_model(net, x, 8, "f").program
    assert [(l.op, l.relu, l.pool, l.kernel) for l in program.layers] == [("mul", True, "max2", 3),
                                                                         ("mul", False, "none", 4)]


def test_imported_adder_equals_the_user_layer():
    from .user_models import UserAdder2d
    torch.manual_seed(3)
    layer = UserAdder2d(3, 5, 3, stride=2, padding=1, bias=True)
    imported = ImportedAdder(layer, "l")
    x = torch.randn(2, 3, 7, 7)
    with torch.no_grad():
        assert torch.allclose(imported(x), layer(x), atol=1e-4)
    assert (imported.stride, imported.padding) == (2, 1)
