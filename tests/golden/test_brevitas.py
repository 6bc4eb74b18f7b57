"""golden.brevitas_import: Brevitas models with fixed-point quantisers imported without re-quantising.

Two small models written as a Brevitas user writes them: ``Net9`` (a signed 8-bit input, 8-bit
conv weights with an Int16Bias, an unsigned 8-bit QuantReLU, 2x2 max pool, 4-bit linear weights
with a float bias, no output quantiser; a width-9 program, since the program saturates a ReLU's
output at 2^(w−1) − 1 = 255) and ``Net5`` (4-bit throughout, a signed 5-bit output quantiser; a
width-5 program). Their activation scales come from Brevitas's own statistics (a few forward passes
in training mode), their weights are random.

Brevitas rounds a quantiser's ties to even (torch.round); the program imported from it does too
(its rounding is "half_even"), so at each quantiser the program's integers are Brevitas's integers
exactly, ties included, and the tests count the ties they meet (where rounding half up would have
differed). Without an output quantiser the logits are Brevitas's float logits rounded to 2^-f,
within 2^-(f+1) plus the float bias's rounding in B (2^-(f+S+1)) and float32's rounding of
Brevitas's sum.
"""
import numpy as np
import pytest
import torch
from torch import nn

brevitas = pytest.importorskip("brevitas")
from brevitas import nn as qnn  # noqa: E402
from brevitas.quant import (Int8ActPerTensorFixedPoint, Int8WeightPerTensorFixedPoint,  # noqa: E402
                            Int8WeightPerTensorFloat, Int16Bias, Uint8ActPerTensorFixedPoint)
from brevitas.quant.fixed_point import Int8WeightPerChannelFixedPoint  # noqa: E402
from brevitas.quant_tensor import IntQuantTensor  # noqa: E402

import adderhw.compile  # noqa: E402
from adderhw.golden import BadParameter  # noqa: E402
from adderhw.golden.brevitas_import import compile_imported, quantize_input  # noqa: E402
from adderhw.golden.fakequant import FakeQuantNet  # noqa: E402
from adderhw.golden.frontend import import_model  # noqa: E402
from adderhw.golden.program import run_program  # noqa: E402


class Int4Weight(Int8WeightPerTensorFixedPoint):
    bit_width = 4


class Int4Act(Int8ActPerTensorFixedPoint):
    bit_width = 4


class Int5Act(Int8ActPerTensorFixedPoint):
    bit_width = 5


class Uint4Act(Uint8ActPerTensorFixedPoint):
    bit_width = 4


class Net9(nn.Module):
    def __init__(self, conv_weight=Int8WeightPerTensorFixedPoint, relu_act=Uint8ActPerTensorFixedPoint):
        super().__init__()
        self.inp = qnn.QuantIdentity(act_quant=Int8ActPerTensorFixedPoint, return_quant_tensor=True)
        self.conv = qnn.QuantConv2d(2, 6, 3, padding=1, weight_quant=conv_weight, bias=True, bias_quant=Int16Bias)
        self.relu = qnn.QuantReLU(act_quant=relu_act, return_quant_tensor=True)
        self.pool = nn.MaxPool2d(2)
        self.fc = qnn.QuantLinear(6 * 4 * 4, 10, weight_quant=Int4Weight, bias=True)

    def forward(self, x):
        x = self.pool(self.relu(self.conv(self.inp(x))))
        return self.fc(torch.flatten(x, 1))


class Net5(nn.Module):
    def __init__(self, conv_weight=Int4Weight):
        super().__init__()
        self.inp = qnn.QuantIdentity(act_quant=Int4Act)
        self.conv = qnn.QuantConv2d(1, 4, 3, weight_quant=conv_weight, bias=False)
        self.relu = qnn.QuantReLU(act_quant=Uint4Act)
        self.fc = qnn.QuantLinear(4 * 4 * 4, 5, weight_quant=Int4Weight, bias=False)
        self.out = qnn.QuantIdentity(act_quant=Int5Act)

    def forward(self, x):
        x = self.relu(self.conv(self.inp(x)))
        return self.out(self.fc(x.view(x.size(0), -1)))


def _ready(model, shape, seed=0):
    """``model`` with random weights and Brevitas's activation statistics from a few forward passes
    in training mode (its scales are then parameters), in eval mode."""
    torch.manual_seed(seed)
    for p in model.parameters():
        if p.dim() > 1:
            nn.init.normal_(p, std=0.3)
        else:
            nn.init.uniform_(p, -0.3, 0.3)
    model.train()
    with torch.no_grad():
        for _ in range(40):
            model(torch.rand((16, *shape)) * 2 - 0.5)
    return model.eval()


def _images(shape, n=96, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.rand((n, *shape), generator=g) * 2 - 0.5


@pytest.fixture(scope="module")
def net9():
    model = _ready(Net9(), (2, 8, 8))
    x = _images((2, 8, 8))
    imported = import_model(model, (2, 8, 8))
    return model, imported, compile_imported(imported, x.numpy(), 9, "net9"), x


@pytest.fixture(scope="module")
def net5():
    model = _ready(Net5(), (1, 6, 6))
    x = _images((1, 6, 6))
    imported = import_model(model, (1, 6, 6))
    return model, imported, compile_imported(imported, x.numpy(), 5, "net5"), x


def _frac(scale):
    f = -np.log2(float(scale.detach()))
    assert f == int(f)
    return int(f)


def _capture(model, names, x):
    """Each named module's output (and the module's input) on ``x``."""
    outs, hooks = {}, []
    for name in names:
        def hook(mod, args, out, name=name):
            outs[name] = (args[0], out)
        hooks.append(getattr(model, name).register_forward_hook(hook))
    with torch.no_grad():
        model(x)
    for h in hooks:
        h.remove()
    return outs


def _value(t):
    return t.value if isinstance(t, IntQuantTensor) else t


def _to_even(y, frac, lo, hi):
    """Brevitas's float pre-quantisation values y rounded at 2^-frac, ties to even, and clamped."""
    return torch.round(_value(y).double() * 2.0 ** frac).clamp(lo, hi).to(torch.int64)


def _ties(y, frac):
    """How many of y·2^frac are exactly k + 1/2 with k even: where rounding half up would differ."""
    v = _value(y).double() * 2.0 ** frac
    return int(((v - torch.floor(v) == 0.5) & (torch.floor(v) % 2 == 0)).sum())


# ---- (a) the weights are Brevitas's integers -------------------------------------------------

@pytest.mark.parametrize("which", ["net9", "net5"])
def test_weights_are_brevitas_integers(which, request):
    model, _, compiled, _ = request.getfixturevalue(which)
    layers = {layer.name: layer for layer in compiled.program.layers}
    scales = {s.name: s for s in compiled.scales}
    for name in ("conv", "fc"):
        qw = getattr(model, name).quant_weight()
        want = qw.int().to(torch.int64).numpy()
        assert np.array_equal(layers[name].weights, want.reshape(layers[name].weights.shape))
        assert scales[name].w_frac == _frac(qw.scale)
    # the tensors' scales are Brevitas's: the image's, and the conv's output after its QuantReLU
    assert compiled.program.input_frac == _frac(model.inp.act_quant.scale())
    assert scales["conv"].out_frac == _frac(model.relu.act_quant.scale()) == scales["fc"].x_frac


def test_quantised_bias_is_exact(net9):
    model, _, compiled, _ = net9
    conv = compiled.program.layers[0]
    s = compiled.scales[0]
    qin = model.inp.act_quant.scale()
    qb = model.conv.bias_quant(model.conv.bias, IntQuantTensor(torch.zeros(1, 2, 1, 1), qin, torch.tensor(0.),
                                                              torch.tensor(8.), True, False), model.conv.quant_weight())
    # B = b_int · M with M = 2^(f_out − f_acc + S), a power of two: the bias in accumulator units, exactly
    m = 1 << (s.out_frac - s.acc_frac + s.shift)
    assert np.array_equal(conv.scale, np.full(6, m))
    assert np.array_equal(conv.bias, qb.int().to(torch.int64).numpy() * m)


# ---- (b) the program against Brevitas's integers ---------------------------------------------

def test_net9_layer_by_layer(net9):
    model, imported, compiled, x = net9
    xq = quantize_input(imported, x)
    caps = _capture(model, ["inp", "conv", "relu", "fc"], x)
    assert np.array_equal(xq, caps["inp"][1].int().to(torch.int64).numpy())
    run = run_program(compiled.program, xq)

    # the conv and its QuantReLU, then the max pool (which commutes with the monotone rounding)
    f = compiled.scales[0].out_frac
    y = caps["conv"][1]
    want = torch.nn.functional.max_pool2d(_to_even(torch.relu(y), f, 0, 255).double(), 2).to(torch.int64)
    assert np.array_equal(run.outputs[0], want.numpy())
    # Brevitas's own integers, exactly; and this model meets ties, so the rounding mode matters here
    assert torch.equal(_to_even(torch.relu(y), f, 0, 255), caps["relu"][1].int().to(torch.int64))
    assert _ties(torch.relu(y), f) > 0

    # the linear layer on the program's own pooled activations (so that each layer is checked alone)
    scale = torch.tensor(2.0 ** -f)
    fed = IntQuantTensor(torch.tensor(run.outputs[0], dtype=torch.float32) * scale, scale, torch.tensor(0.),
                         torch.tensor(8.), False, False)
    with torch.no_grad():
        logits = model.fc(torch.flatten(fed, 1))
    logits = _value(logits).double().numpy()
    fl = compiled.logit_frac
    got = np.ldexp(run.logits.astype(np.float64), -fl)
    s = compiled.scales[1].shift
    bound = 2.0 ** -(fl + 1) + 2.0 ** -(fl + s + 1) + np.abs(logits) * 2.0 ** -24
    assert (np.abs(got - logits) <= bound).all()
    # no logit saturated on these images
    assert np.abs(run.logits).max() < 255


def test_net9_end_to_end_exact_with_ties(net9):
    """Whole images: the program's max-pooled activations are Brevitas's integers exactly, on
    images where Brevitas met ties at its QuantReLU too (rounded half up, those would differ)."""
    model, imported, compiled, x = net9
    caps = _capture(model, ["conv", "relu"], x)
    f = compiled.scales[0].out_frac
    v = torch.relu(caps["conv"][1]).double() * 2.0 ** f
    with_ties = ((v - torch.floor(v) == 0.5) & (torch.floor(v) % 2 == 0)).reshape(len(x), -1).any(dim=1)
    assert int(with_ties.sum()) > 0
    run = run_program(compiled.program, quantize_input(imported, x))
    brevitas_pooled = torch.nn.functional.max_pool2d(caps["relu"][1].int().double(), 2).to(torch.int64).numpy()
    assert np.array_equal(run.outputs[0], brevitas_pooled)


def test_net5_exact_with_ties(net5):
    """4 bits throughout and an output quantiser: every layer's integers, logits included."""
    model, imported, compiled, x = net5
    xq = quantize_input(imported, x)
    caps = _capture(model, ["inp", "conv", "relu", "fc", "out"], x)
    assert np.array_equal(xq, caps["inp"][1].detach().mul(2.0 ** compiled.program.input_frac).round().long().numpy())
    run = run_program(compiled.program, xq)
    f = compiled.scales[0].out_frac
    y = torch.relu(caps["conv"][1])
    relu_int = (caps["relu"][1] * 2.0 ** f).round().to(torch.int64)
    assert np.array_equal(run.outputs[0], _to_even(y, f, 0, 15).numpy())
    assert np.array_equal(run.outputs[0], relu_int.numpy())         # Brevitas's own integers
    ties = _ties(y, f)
    # the linear layer on the program's activations, through Brevitas's fc and output quantiser
    fed = torch.tensor(run.outputs[0], dtype=torch.float32) * 2.0 ** -f
    with torch.no_grad():
        pre = model.fc(fed.reshape(len(fed), -1))
        out = model.out(pre)
    fl = compiled.logit_frac
    assert fl == _frac(model.out.act_quant.scale())
    want = _to_even(pre, fl, -16, 15)
    assert np.array_equal(run.logits, want.numpy())
    assert np.array_equal(run.logits, (out * 2.0 ** fl).round().to(torch.int64).reshape(len(x), -1).numpy())
    assert ties + _ties(pre, fl) > 0


def test_forward_of_the_import_is_brevitas(net5):
    """The imported chain's float forward (its FixedPointQuant carriers) is Brevitas's forward."""
    model, imported, _, x = net5
    with torch.no_grad():
        assert torch.equal(imported(x), model(x))


# ---- (c) fake-quant equals the program -------------------------------------------------------

@pytest.mark.parametrize("which", ["net9", "net5"])
def test_fakequant_equals_program(which, request):
    _, imported, compiled, x = request.getfixturevalue(which)
    xq = quantize_input(imported, x)
    fake = FakeQuantNet(compiled.program, compiled.logit_frac).integer_outputs(torch.tensor(xq))
    run = run_program(compiled.program, xq)
    for a, b in zip(fake, run.outputs):
        assert np.array_equal(a.numpy(), b)


# ---- the application's compile dispatches to the import ---------------------------------------

@pytest.mark.parametrize("requant", ["mul", "shift"])
def test_adderhw_compile_dispatches(net9, requant):
    model, imported, compiled, x = net9
    program = adderhw.compile(model, x.numpy(), width=9, requant=requant, name="net9")
    want = compiled.program if requant == "mul" else compile_imported(imported, x.numpy(), 9, "net9",
                                                                       requant="shift").program
    assert program.input_frac == want.input_frac and program.requant == requant
    for a, b in zip(program.layers, want.layers):
        for field in ("weights", "scale", "bias"):
            assert np.array_equal(getattr(a, field), getattr(b, field))
        assert a.shift == b.shift
    # the power-of-two M of an exact import needs no multiplier: both requant kinds give the same integers
    assert np.array_equal(run_program(program, quantize_input(imported, x)).logits,
                          run_program(compiled.program, quantize_input(imported, x)).logits)


def test_adderhw_compile_refuses_qat(net9):
    model, _, _, x = net9
    with pytest.raises(BadParameter, match=r"Brevitas model that is quantised already; use quant 'ptq'"):
        adderhw.compile(model, (x.numpy(), np.zeros(len(x), dtype=np.int64)), width=9, quant="qat")


# ---- (d) refusals ---------------------------------------------------------------------------

def _refused(model, shape, width, match):
    with pytest.raises(BadParameter, match=match) as info:
        compile_imported(import_model(model, shape), _images(shape).numpy(), width, "refused")
    assert "\n" not in str(info.value)


def test_refuses_per_channel_scales():
    _refused(_ready(Net5(conv_weight=Int8WeightPerChannelFixedPoint), (1, 6, 6)), (1, 6, 6), 8,
             r"node 'conv' \(call_module 'conv'\): weight_quant has 4 scales \(per channel or group\).*allowed: a "
             r"per-tensor fixed-point quantiser")


def test_refuses_scale_not_a_power_of_two():
    _refused(_ready(Net5(conv_weight=Int8WeightPerTensorFloat), (1, 6, 6)), (1, 6, 6), 8,
             r"node 'conv' \(call_module 'conv'\): weight_quant has scale 0\.\d+, which is not a power of two; "
             r"allowed: power-of-two scales")


def test_refuses_float_scaling_even_at_a_power_of_two():
    model = _ready(Net5(conv_weight=Int8WeightPerTensorFloat), (1, 6, 6))
    with torch.no_grad():
        model.conv.weight.clamp_(-0.5, 0.5)
        model.conv.weight[0, 0, 0, 0] = 127 / 128        # max |w| / 127: the scale is 2^-7 exactly
    assert float(model.conv.quant_weight().scale.detach()) == 2.0 ** -7
    _refused(model, (1, 6, 6), 8, r"node 'conv' \(call_module 'conv'\): weight_quant scales in FP \(float scaling\)"
             r".*allowed: restrict_scaling_type POWER_OF_TWO")


def test_refuses_weights_wider_than_the_width():
    _refused(_ready(Net5(conv_weight=Int8WeightPerTensorFixedPoint), (1, 6, 6)), (1, 6, 6), 5,
             r"node 'conv' \(call_module 'conv'\): weight_quant is signed 8-bit \(\[-127, 127\]\), wider than the "
             r"program's signed 5 bits")


def test_refuses_an_activation_clamp_the_program_cannot_apply():
    # an unsigned 8-bit QuantReLU clamps at 255; a width-8 program saturates at 127
    _refused(_ready(Net9(), (2, 8, 8)), (2, 8, 8), 8,
             r"node 'relu' \(call_module 'relu'\): its quantiser is unsigned 8-bit, clamping to \[0, 255\], and the "
             r"program saturates layer outputs to \[0, 127\] at width 8; .*compile this one at width 9")


def test_refuses_a_float_activation_quantiser():
    model = _ready(Net5(), (1, 6, 6))
    model.relu = qnn.QuantReLU()        # Uint8ActPerTensorFloat
    _ready(model, (1, 6, 6))
    with pytest.raises(BadParameter, match=r"node 'relu' \(call_module 'relu'\): act_quant has scale .*not a power "
                                           r"of two"):
        import_model(model, (1, 6, 6))


def test_refuses_an_unquantised_input_and_other_brevitas_modules():
    class NoInput(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = qnn.QuantLinear(4, 3, weight_quant=Int4Weight, bias=False)

        def forward(self, x):
            return self.fc(torch.flatten(x, 1))

    with pytest.raises(BadParameter, match=r"node 'fc' \(call_module 'fc'\): reads the image, which no activation "
                                           r"quantiser put on a grid"):
        import_model(NoInput(), (1, 2, 2))

    class Tanh(nn.Module):
        def __init__(self):
            super().__init__()
            self.act = qnn.QuantTanh()

        def forward(self, x):
            return self.act(x)

    with pytest.raises(BadParameter, match=r"node 'act' \(call_module 'act'\): Brevitas QuantTanh is not one the "
                                           r"import reads exactly; allowed: QuantConv2d, QuantLinear"):
        import_model(Tanh(), (1, 2, 2))


@pytest.mark.parametrize("which,match", [
    ("conv", r"node 'conv' \(call_module 'conv'\): weight_quant is disabled, so its weights are floats; allowed: a "
             r"fixed-point weight quantiser"),
    ("relu", r"node 'relu' \(call_module 'relu'\): act_quant is disabled \(act_quant=None\), so the tensor has no "
             r"grid; allowed: a fixed-point activation quantiser"),
])
def test_refuses_a_disabled_quantiser_naming_it(which, match):
    model = Net5()
    if which == "conv":
        model.conv = qnn.QuantConv2d(1, 4, 3, weight_quant=None, bias=False)
    else:
        model.relu = qnn.QuantReLU(act_quant=None)
    with pytest.raises(BadParameter, match=match) as info:
        import_model(_ready(model, (1, 6, 6)), (1, 6, 6))
    assert "\n" not in str(info.value)
