import json
from pathlib import Path

import numpy as np
import pytest
import torch

from adderhw.base.errors import BadParameter
from adderhw.golden.addernet import DigitsNet, load_digits_data, train
from adderhw.golden.determinism import deterministic
from adderhw.golden.mnist import MnistNet, load_mnist_data, train_mnist


def _weights(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _trained(threads_outside, make, fit):
    old = torch.get_num_threads()
    torch.set_num_threads(threads_outside)
    try:
        torch.manual_seed(12345 + threads_outside)     # state the training must not depend on
        with deterministic(3):
            model = make()
        fit(model)
        return _weights(model)
    finally:
        torch.set_num_threads(old)


def _small_digits():
    d = load_digits_data(0)
    d.x_train, d.y_train = d.x_train[:256], d.y_train[:256]
    return d


@pytest.mark.parametrize("adder", [True, False])
def test_digits_training_is_bit_identical_whatever_the_threads_outside(adder):
    d = _small_digits()
    runs = [_trained(t, lambda: DigitsNet(adder=adder), lambda m: train(m, d, epochs=2, seed=3)) for t in (1, 2)]
    assert runs[0].keys() == runs[1].keys()
    for k in runs[0]:
        assert torch.equal(runs[0][k], runs[1][k]), k
    # and training did something: the weights moved from their initialisation
    with deterministic(3):
        init = _weights(DigitsNet(adder=adder))
    assert not torch.equal(init["add1.weight"], runs[0]["add1.weight"])


def test_mnist_training_with_distortions_is_bit_identical():
    d = load_mnist_data(0)
    d.x_train, d.y_train = d.x_train[:256], d.y_train[:256]
    runs = [_trained(t, MnistNet, lambda m: train_mnist(m, d, epochs=1, seed=5)) for t in (2, 1)]
    for k in runs[0]:
        assert torch.equal(runs[0][k], runs[1][k]), k


def test_another_seed_gives_other_weights():
    d = _small_digits()
    a = _trained(1, DigitsNet, lambda m: train(m, d, epochs=1, seed=3))
    b = _trained(1, DigitsNet, lambda m: train(m, d, epochs=1, seed=4))
    assert not torch.equal(a["add2.weight"], b["add2.weight"])


def test_settings_are_restored():
    old = (torch.get_num_threads(), torch.are_deterministic_algorithms_enabled())
    with deterministic(0, threads=1):
        assert torch.get_num_threads() == 1 and torch.are_deterministic_algorithms_enabled()
    assert (torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()) == old


@pytest.mark.parametrize("kw,msg", [({"seed": -1}, "seed"), ({"seed": 0, "threads": 0}, "threads")])
def test_refusals(kw, msg):
    with pytest.raises(BadParameter, match=msg):
        with deterministic(**kw):
            pass


_RECORDED = json.loads((Path(__file__).parent / "baselines" / "training_sha256.json").read_text())


@pytest.mark.parametrize("adder", [True, False], ids=["addernet", "cnn"])
def test_training_from_scratch_gives_the_recorded_weights(adder):
    """The digits seed-0 networks, trained from scratch here (2 epochs), hash to the value recorded in
    the repository for the kernels this process runs. On x86-64 with AVX2 the kernels are pinned to
    AVX2 (adderhw.base.kernels), so an AVX-512 machine must give the AVX2 hashes too."""
    from adderhw.base.kernels import PINNED_ISA, cpu_has_avx2
    from adderhw.golden.trained import weights_sha256
    cap = torch.backends.cpu.get_cpu_capability()
    if cpu_has_avx2():
        assert cap == PINNED_ISA, f"adderhw's kernel pin did not take effect: torch runs {cap}"
    if torch.__version__ != _RECORDED["torch"] or cap not in _RECORDED:
        pytest.skip(f"no hash recorded for torch {torch.__version__} with {cap} kernels (recorded: torch "
                    f"{_RECORDED['torch']}, {', '.join(k for k in _RECORDED if k.isupper())})")
    d = load_digits_data(0)
    with deterministic(0):
        model = DigitsNet(adder=adder)
    train(model, d, epochs=_RECORDED["epochs"], seed=0)
    assert weights_sha256(model.state_dict()) == _RECORDED[cap]["addernet" if adder else "cnn"]
