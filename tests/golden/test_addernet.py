import numpy as np
import pytest
import torch

from adderhw.base.errors import BadParameter
from adderhw.golden.addernet import DigitsNet, load_digits_data
from adderhw.golden.compiler import compile_network, quantize_images
from adderhw.golden.mnist import MnistNet
from adderhw.golden.program import run_program
from adderhw.golden.reference import Adder2d


@pytest.mark.parametrize("make,image", [(DigitsNet, 8), (MnistNet, 28)], ids=["digits", "mnist"])
def test_all_adder_networks_have_no_multiplier_layer(make, image):
    torch.manual_seed(0)
    model = make(adder=True, first_last="adder").eval()
    mods = dict(model.named_modules())
    assert isinstance(mods["conv1"], Adder2d) and isinstance(mods["fc"], Adder2d)
    assert not any(isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)) for m in mods.values())
    x = torch.rand(3, 1, image, image)
    assert model(x).shape == (3, 10)
    # the compiler reads every layer as an adder layer
    program = compile_network(model, x.numpy(), 8, "all-adder")
    assert [layer.op for layer in program.layers] == ["add"] * 4
    assert program.layers[-1].out_shape[0] == 10


def test_the_default_keeps_multiplier_first_and_last_layers():
    torch.manual_seed(0)
    model = DigitsNet(adder=True).eval()
    program = compile_network(model, torch.rand(4, 1, 8, 8).numpy(), 8, "paper")
    assert [layer.op for layer in program.layers] == ["mul", "add", "add", "mul"]


def test_all_adder_program_follows_the_float_network():
    """The 8-bit program of an (untrained) all-adder digits network classifies most images as its
    float model does: the compiler folds the classifier's BatchNorm like any other."""
    torch.manual_seed(1)
    data = load_digits_data(0)
    model = DigitsNet(adder=True, first_last="adder").eval()
    program = compile_network(model, data.x_train[:256], 12, "all-adder")
    golden = run_program(program, quantize_images(program, data.x_test[:100]))
    with torch.no_grad():
        want = model(torch.tensor(data.x_test[:100])).numpy().argmax(1)
    assert np.mean(golden.classes == want) >= 0.9


@pytest.mark.parametrize("kw,msg", [
    ({"first_last": "both"}, "first_last must be one of mul, adder, not 'both'"),
    ({"adder": False, "first_last": "adder"}, "applies to the AdderNet only"),
])
def test_refusals(kw, msg):
    for make in (DigitsNet, MnistNet):
        with pytest.raises(BadParameter, match=msg):
            make(**kw)
