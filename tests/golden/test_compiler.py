from collections import OrderedDict

import numpy as np
import pytest
import torch
from torch import nn

from adderhw.base.config import ArrayConfig
from adderhw.base.engine import EngineConfig
from adderhw.golden import BadParameter
from adderhw.golden.addernet import DigitsNet, load_digits_data, train
from adderhw.golden.compiler import (clip_adder_weights, compile_model, compile_network, engine_cost,
                                     evaluate, fold_requant, quantize_images)
from adderhw.golden.mnist import MnistNet, load_mnist_data
from adderhw.golden.program import memory_images, run_program
from adderhw.golden.reference import Adder2d


def _seq(*named):
    return nn.Sequential(OrderedDict(named))


def _set(param, values):
    with torch.no_grad():
        param.copy_(torch.as_tensor(values, dtype=param.dtype).reshape(param.shape))


# ---- a one-layer toy, folded by hand -----------------------------------------------------------

def _toy_linear_bn():
    fc, bn = nn.Linear(4, 2), nn.BatchNorm1d(2, eps=1.0)
    _set(fc.weight, [[1, 0.5, -0.5, 0.25], [-1, 0.25, 0.125, 0]])
    _set(fc.bias, [0.125, -0.25])
    _set(bn.running_mean, [0.5, -0.25])
    _set(bn.running_var, [3.0, 0.0])           # + eps = 4 and 1
    _set(bn.weight, [1.5, -0.5])               # gain = γ/√(var + eps) = 0.75, −0.5
    _set(bn.bias, [0.25, 0.5])
    model = _seq(("flatten", nn.Flatten()), ("fc", fc), ("bn", bn))
    images = np.array([[[[0.75, -0.5], [0.25, 0.0]]], [[[0.0, 0.0], [0.0, 0.0]]]], dtype=np.float32)
    return model, images


def test_linear_with_batchnorm_folds_as_computed_by_hand():
    model, images = _toy_linear_bn()
    compiled = compile_model(model, images, 8, "toy")
    (layer,) = compiled.program.layers
    # the image's largest |x| is 0.75: frac 7 (96); the largest |w| is 1: frac 6 (64)
    assert compiled.program.input_frac == 7
    assert (layer.op, layer.kernel, layer.in_hw, layer.stride, layer.padding) == ("mul", 2, (2, 2), 1, 0)
    assert layer.weights.reshape(2, 4).tolist() == [[64, 32, -32, 16], [-64, 16, 8, 0]]
    # offset = β + gain·(b − mean) = −0.03125, 0.5; float logits (0.25, 0.921875) and (−0.03125, 0.5),
    # so the logits get frac 7 (0.921875·128 = 118)
    assert compiled.logit_frac == 7
    # acc is in 2^-13; M = gain·2^(7 − 13 + S) < 2^15 gives S = 21 (0.75·2^15 = 24576);
    # B = offset·2^(7 + 21) fits 32 bits
    assert layer.shift == 21
    assert layer.scale.tolist() == [24576, -16384]
    assert layer.bias.tolist() == [-8388608, 134217728]
    assert not layer.relu and layer.pool == "none"
    # (3072·24576 − 2^23 + 2^20) >> 21 = 32 (32.5 rounds down past the exact 32), 118.5 -> 118, ...
    run = run_program(compiled.program, quantize_images(compiled.program, images))
    assert run.logits.tolist() == [[32, 118], [-4, 64]]


def test_adder_layer_sign_and_clipped_weights_are_exact():
    # −Σ|x − f| with a weight (3.0) far beyond the input's range [−1, 127/128]: the compiler clips
    # it to 127/128 and moves the constant difference into the bias, which is exact
    add = Adder2d(1, 1, 2)
    _set(add.weight, [3.0, -0.25, 0.5, -2.0])
    model = _seq(("add", add))
    rng = np.random.default_rng(1)
    images = (rng.integers(-96, 97, (16, 1, 2, 2)) / 128).astype(np.float32)
    images[0, 0, 0, 0] = 0.75                 # the largest |x|: frac 7
    compiled = compile_model(model, images, 8, "adder")
    (layer,) = compiled.program.layers
    assert layer.op == "add" and compiled.scales[0].x_frac == compiled.scales[0].w_frac == 7
    assert layer.weights.ravel().tolist() == [127, -32, 64, -128]
    with torch.no_grad():
        y = model(torch.tensor(images)).numpy().reshape(-1)
    assert (y < 0).all()                      # Adder2d returns −Σ|x − f|
    run = run_program(compiled.program, quantize_images(compiled.program, images))
    # every value here is dyadic, so the program is the float layer rounded (half up) to the logits' frac
    expect = np.floor(np.ldexp(y.astype(np.float64), compiled.logit_frac) + 0.5).astype(int)
    assert run.logits.ravel().tolist() == expect.tolist()


def test_clip_adder_weights_reports_the_distance_removed():
    w = np.array([[[[3.0]], [[-0.5]]], [[[-2.5]], [[0.25]]]])
    clipped, beyond = clip_adder_weights(w, 4, 2)       # range [−8, 7]·2^-2 = [−2, 1.75]
    assert clipped.ravel().tolist() == [1.75, -0.5, -2.0, 0.25]
    assert beyond.tolist() == [1.25, 0.5]


def test_fold_requant_shift_is_the_largest_that_fits():
    m, b, s = fold_requant([1.0, -0.5], [0.0, 0.0], acc_frac=3, out_frac=3, scale_bits=8)
    assert (m.tolist(), b.tolist(), s) == ([64, -32], [0, 0], 6)      # 127 >= 64, 128 would not fit
    # the bias caps the shift: 0.75·2^(2 + S) < 2^11
    m, b, s = fold_requant([1.0], [0.75], acc_frac=0, out_frac=2, scale_bits=16, bias_bits=12)
    assert (m.tolist(), b.tolist(), s) == ([2048], [1536], 9)
    with pytest.raises(BadParameter, match=r"^layer 'big': scale .* beyond signed 8 bits"):
        fold_requant([300.0], [0.0], 0, 0, scale_bits=8, name="big")
    with pytest.raises(BadParameter, match=r"^layer 'b': bias .* beyond signed 8 bits"):
        fold_requant([1.0], [300.0], 0, 0, scale_bits=8, bias_bits=8, name="b")
    # a bias that leaves M a handful of bits is refused rather than compiled badly
    with pytest.raises(BadParameter, match=r"^layer 'c': bias must fit signed 16 bits, which caps the shift"):
        fold_requant([1.0], [100.0], acc_frac=16, out_frac=8, scale_bits=16, bias_bits=16, name="c")


# ---- compiled networks agree with torch ------------------------------------------------------

@pytest.fixture(scope="module")
def digits():
    return load_digits_data(0)


@pytest.fixture(scope="module", params=[True, False], ids=["addernet", "cnn"])
def digits_model(request, digits):
    torch.manual_seed(0)
    model = DigitsNet(adder=request.param, compiled=False)
    train(model, digits, epochs=8, seed=0)
    return model


def test_digits_program_agrees_with_torch(digits, digits_model):
    x = digits.x_test[:200]
    with torch.no_grad():
        ref = digits_model(torch.tensor(x)).numpy()
    assert np.mean(ref.argmax(axis=1) == digits.y_test[:200]) > 0.9       # a trained model
    for width, close, err in ((8, 0.97, 0.06), (12, 0.99, 0.006)):
        compiled = compile_model(digits_model, digits.x_train[:256], width, "digits")
        ops = [layer.op for layer in compiled.program.layers]
        assert ops == (["mul", "add", "add", "mul"] if digits_model.adder else ["mul"] * 4)
        run = run_program(compiled.program, quantize_images(compiled.program, x))
        logits = compiled.dequantize_logits(run.logits)
        span = ref.max() - ref.min()
        assert np.abs(logits - ref).max() < err * span
        assert np.mean(run.classes == ref.argmax(axis=1)) >= close
    ev = evaluate(digits_model, compiled.program, x, digits.y_test[:200])
    assert ev.images == 200 and ev.agreement >= 0.98
    assert abs(ev.float_accuracy - np.mean(ref.argmax(axis=1) == digits.y_test[:200])) < 1e-12
    assert abs(ev.float_accuracy - ev.int_accuracy) <= 1 - ev.agreement + 1e-12


@pytest.mark.parametrize("adder", [True, False], ids=["addernet", "cnn"])
def test_mnist_net_compiles_to_its_layers(adder):
    torch.manual_seed(1)
    model = MnistNet(adder=adder, compiled=False)
    x = np.random.default_rng(2).random((64, 1, 28, 28)).astype(np.float32)
    for mod in model.modules():              # BatchNorm statistics of the data, as after training
        if isinstance(mod, nn.BatchNorm2d):
            mod.momentum = None
            _set(mod.weight, torch.rand(mod.num_features) + 0.5)
            _set(mod.bias, torch.randn(mod.num_features) * 0.2)
    model.train()
    with torch.no_grad():
        model(torch.tensor(x))
    model.eval()
    compiled = compile_model(model, x, 12, "mnist")
    layers = compiled.program.layers
    c1, c2, c3 = (layers[0].cout, layers[1].cout, layers[2].cout)
    assert [(l.name, l.op, l.kernel, l.stride, l.padding, l.pool, l.relu) for l in layers] == [
        ("conv1", "mul", 6, 4, 3, "none", True),
        ("add1", "add" if adder else "mul", 3, 2, 1, "none", True),
        ("add2", "add" if adder else "mul", 3, 1, 1, "none", True),
        ("fc", "mul", 4, 1, 0, "none", False)]
    assert [l.in_hw for l in layers] == [(28, 28), (8, 8), (4, 4), (4, 4)]
    assert compiled.program.input_shape == (1, 28, 28) and compiled.program.classes == 10
    assert layers[3].cin == c3 and layers[2].cin == c2 and layers[1].cin == c1
    with torch.no_grad():
        ref = model(torch.tensor(x)).numpy()
    logits = compiled.dequantize_logits(run_program(compiled.program, quantize_images(compiled.program, x)).logits)
    assert np.abs(logits - ref).max() < 0.02 * (ref.max() - ref.min())
    engine = EngineConfig(array=ArrayConfig(rows=16, cols=24, width=12, k_max=256, pe="sad" if adder else "mac"),
                          mac_rows=4 if adder else 0)
    memory_images(compiled.program, engine)           # it fits the proposed engine


def test_engine_cost_counts_tiles_of_max_k_and_drain():
    model, images = _toy_linear_bn()
    program = compile_network(model, images, 8, "toy")
    sad = EngineConfig(array=ArrayConfig(rows=16, cols=24, width=8, k_max=256), mac_rows=4)
    cost = engine_cost(program, sad)
    # one position, ceil(2 / 4) = 1 tile, K = 4 < G = 2·4 + 24 + 2 − 1 = 33
    assert cost.layers == (("fc", "mul", 4, 33, 33),)
    assert cost.pes == 16 * 24 + 4 * 24 and cost.cycles_per_image == 33 / 24
    assert cost.pe_cycles_per_image == pytest.approx(480 * 33 / 24)
    model = MnistNet(adder=True, compiled=False)
    model.eval()
    x = np.random.default_rng(0).random((8, 1, 28, 28)).astype(np.float32)
    cost = engine_cost(compile_network(model, x, 8, "m"), sad)
    # conv1: 8x8 positions, 1 tile, K = 36 > 33; add1: 4x4, K = 36 < G = 57; add2: 4x4, K = 144;
    # fc: 1 position, 3 tiles, K = 256
    assert [row[-1] for row in cost.layers] == [64 * 36, 16 * 57, 16 * 144, 3 * 256]


def test_quantize_images():
    model, images = _toy_linear_bn()
    program = compile_network(model, images, 8, "toy")
    q = quantize_images(program, np.array([[[[0.5, 2.0], [-2.0, 0.00390625]]]]))
    # frac 7: 2 and −2 saturate, 2^-8 is 0.5 of a step and rounds to even (0)
    assert q.dtype == np.int64 and q.tolist() == [[[[64, 127], [-128, 0]]]]
    with pytest.raises(BadParameter, match=r"images must have shape \(N, 1, 2, 2\)"):
        quantize_images(program, np.zeros((1, 2, 2)))


# ---- refusals --------------------------------------------------------------------------------

def _conv_stage(*tail, name="c"):
    return _seq((name, nn.Conv2d(1, 2, 3, padding=1, bias=False)), *tail,
                ("flatten", nn.Flatten()), ("fc", nn.Linear(2 * 16, 3)))


@pytest.mark.parametrize("tail, layer, field", [
    ((("pool", nn.AvgPool2d(2)),), "pool", "pool"),
    ((("pool", nn.MaxPool2d(3, stride=1, padding=1)),), "pool", "kernel_size"),
    ((("pool", nn.AdaptiveAvgPool2d(2)),), "pool", "output_size"),
    ((("act", nn.Sigmoid()),), "act", "type"),
    ((("relu", nn.ReLU()), ("bn", nn.BatchNorm2d(2))), "bn", "position"),
    ((("pool", nn.MaxPool2d(2)), ("pool2", nn.MaxPool2d(2))), "pool2", "pool"),
])
def test_refuses_what_the_engine_cannot_run(tail, layer, field):
    model = _conv_stage(*tail)
    x = np.zeros((2, 1, 4, 4), np.float32)
    with pytest.raises(BadParameter) as info:
        compile_network(model, x, 8, "bad")
    msg = str(info.value)
    assert msg.startswith(f"layer {layer!r}: {field} "), msg
    assert "\n" not in msg and ". " not in msg


def test_refuses_conv_options_and_shapes():
    x = np.zeros((2, 1, 4, 4), np.float32)
    grouped = _seq(("c", nn.Conv2d(1, 2, 1)), ("g", nn.Conv2d(2, 2, 3, groups=2)),
                   ("flatten", nn.Flatten()), ("fc", nn.Linear(8, 2)))
    with pytest.raises(BadParameter, match=r"^layer 'g': groups must be 1"):
        compile_network(grouped, x, 8, "bad")
    dilated = _seq(("d", nn.Conv2d(1, 2, 3, dilation=2)), ("flatten", nn.Flatten()), ("fc", nn.Linear(2, 2)))
    with pytest.raises(BadParameter, match=r"^layer 'd': dilation must be 1"):
        compile_network(dilated, np.zeros((2, 1, 5, 5), np.float32), 8, "bad")
    wide = _seq(("c", nn.Conv2d(1, 2, 1)), ("flatten", nn.Flatten()), ("fc", nn.Linear(2 * 4 * 2, 2)))
    with pytest.raises(BadParameter, match=r"^layer 'fc': input 2x4x2 must be square"):
        compile_network(wide, np.zeros((2, 1, 4, 2), np.float32), 8, "bad")
    dangling = _seq(("c", nn.Conv2d(1, 2, 4)), ("flatten", nn.Flatten()))
    with pytest.raises(BadParameter, match=r"^layer 'flatten': position"):
        compile_network(dangling, x, 8, "bad")
    # a model whose declared chain is not what its forward does
    class Liar(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(16, 2)

        def chain(self):
            return [("flatten", nn.Flatten()), ("fc", self.fc)]

        def forward(self, x):
            return self.fc(x.flatten(1)) * 2 + 1
    with pytest.raises(BadParameter, match="forward differs from its chain"):
        compile_network(Liar(), np.random.default_rng(0).random((4, 1, 4, 4)).astype(np.float32), 8, "bad")
    with pytest.raises(BadParameter, match="not one the compiler can read"):
        compile_network(nn.Module(), x, 8, "bad")
    with pytest.raises(BadParameter, match="calib_x must be float images"):
        compile_network(_conv_stage(), np.zeros((2, 4, 4), np.float32), 8, "bad")


def test_last_layer_must_give_the_logits():
    # pooling on the classifier is the program's refusal, with the layer's name
    model = _seq(("c", nn.Conv2d(1, 2, 1)), ("pool", nn.AdaptiveAvgPool2d(1)))
    with pytest.raises(BadParameter, match=r"^layer 'c': "):
        compile_network(model, np.zeros((2, 1, 4, 4), np.float32), 8, "bad")


# ---- data ------------------------------------------------------------------------------------

def test_load_mnist_data_is_a_seeded_stratified_split():
    a, b, c = load_mnist_data(0), load_mnist_data(0), load_mnist_data(1)
    assert a.x_train.shape == (4000, 1, 28, 28) and a.x_test.shape == (1000, 1, 28, 28)
    assert a.x_train.dtype == np.float32 and a.x_train.min() == 0.0 and a.x_train.max() == 1.0
    assert np.bincount(a.y_test).tolist() == [100] * 10 and np.bincount(a.y_train).tolist() == [400] * 10
    assert np.array_equal(a.x_test, b.x_test) and np.array_equal(a.y_train, b.y_train)
    assert not np.array_equal(a.y_test, c.y_test)
    # train and test are disjoint and, for any seed, together the same 5,000 images
    key = lambda x: [hash(im.tobytes()) for im in x]
    assert not set(key(a.x_train)) & set(key(a.x_test))
    assert sorted(key(a.x_train) + key(a.x_test)) == sorted(key(c.x_train) + key(c.x_test))
    assert a.y_test[:20].tolist() != sorted(a.y_test[:20].tolist())   # shuffled, not grouped by class


# ---- scales from quantisation-aware training (fracs) ---------------------------------------

def _digits_all_adder():
    from adderhw.golden.trained import trained_network
    return trained_network("digits", True, 0, 40, first_last="adder", progress=lambda m: None)


def test_qat_scales_become_the_programs_scales_and_per_tile_shifts():
    from adderhw.golden.qat import calibrate_fracs
    net = _digits_all_adder()
    calib = net.data.x_train[:256]
    fracs = calibrate_fracs(net.model, calib, 6, group=8)
    compiled = compile_model(net.model, calib, 6, "g", fracs=fracs)
    by_name = {s.name: s for s in compiled.scales}
    for layer in compiled.program.layers:
        f = np.repeat(fracs[layer.name], layer.cout // len(fracs[layer.name]))
        x_frac = by_name[layer.name].x_frac
        assert list(by_name[layer.name].group_fracs) == f.tolist()
        assert layer.x_shifts.tolist() == (f - x_frac).tolist()
        if layer.name != "fc":          # fc follows the global average pool: its stored scale may be capped
            assert x_frac == f.max()
    assert compiled.program.input_frac == max(fracs["conv1"])


def test_a_qat_program_agrees_with_the_qat_models_integer_layers():
    # two paths to nearly the same numbers: the fine-tuned model with its adder layers in integers
    # (golden.qat.ClampedFixedPoint: float BatchNorm, float logits) and the compiled integer program
    # (BatchNorm folded, rounded, 6-bit logits); at 6 bits they agree within 2 points (at 4 bits the
    # 4-bit logits and the saturation before the global average pool cost the program about 9)
    from adderhw.golden.addernet import accuracy
    from adderhw.golden.qat import ClampedFixedPoint, qat_compile
    net = _digits_all_adder()
    for group in (None, 8):
        compiled, fracs, tuned = qat_compile(net.model, net.data, 6, "q", group=group, epochs=2, seed=0)
        qat_acc = accuracy(tuned, net.data.x_test, net.data.y_test, ClampedFixedPoint(6, fracs))
        program_acc = evaluate(tuned, compiled.program, net.data.x_test, net.data.y_test).int_accuracy
        assert abs(program_acc - qat_acc) <= 0.02, (group, program_acc, qat_acc)


@pytest.mark.parametrize("fracs,match", [
    ({"nope": 3}, "fracs names layer 'nope', which the model's chain does not have"),
    ({"add1": (3, 4, 5)}, "layer 'add1': fracs must be an integer or one integer per group"),
    ({"add1": (0, 12)}, r"layer 'add1': fracs \[0, 12\] need input shifts"),
    ({"add1": 99}, "fracs\\['add1'\\] must be"),
])
def test_bad_qat_scales_are_refused(fracs, match):
    net = _digits_all_adder()
    with pytest.raises(BadParameter, match=match):
        compile_model(net.model, net.data.x_train[:64], 6, "bad", fracs=fracs)


def test_qat_scales_on_a_multiplier_layer_are_refused():
    from adderhw.golden.trained import trained_network
    net = trained_network("digits", True, 0, 40, progress=lambda m: None)
    with pytest.raises(BadParameter, match="layer 'conv1': fracs apply to adder layers only"):
        compile_model(net.model, net.data.x_train[:64], 6, "bad", fracs={"conv1": 4})
