"""A small AdderNet for the 8x8 handwritten digits of scikit-learn, its CNN twin, training, and
fixed-point inference of its adder layers.

Data: ``sklearn.datasets.load_digits`` (1,797 real 8x8 digits shipped with scikit-learn; nothing
is downloaded). Pixels 0..16 are scaled to [0, 1]. Split: a seeded 75 % / 25 % train / test split.

Network (paper style: the first conv and the last classifier stay multiplier layers, every adder
layer is followed by BatchNorm; Chen et al., CVPR 2020):

    conv1  Conv2d(1 -> c1, 3x3, pad 1)  + BN + ReLU             8x8
    add1   Adder2d(c1 -> c2, 3x3, pad 1) + BN + ReLU + maxpool 2 4x4
    add2   Adder2d(c2 -> c3, 3x3, pad 1) + BN + ReLU + global average pool
    fc     Linear(c3 -> 10)

The CNN twin has Conv2d layers where the adder layers are; both models name them add1 and add2 in
code (one name per place, so one fixed-point hook serves both), and reports call the twin's
conv2 and conv3 (``layer_label``). Adder layers are trained with the
reference's backward pass (full-precision gradient for F, HardTanh-clipped gradient for X) and the
adaptive learning-rate scaling (golden.reference).

Fixed-point inference: each adder layer's input X and weights F are quantised to signed W-bit
integers with one shared power-of-two scale chosen from data (golden.choose_frac_bits: the finest
scale at which neither the calibration activations nor the weights saturate). A finer scale that
saturates a few outliers was tried and is much worse: clipping one large weight changes every
|X - F| of its filter (8 bits: 23 % instead of 95 % on the test set). The layer is computed exactly in integers
(golden.adder2d, or the RTL through a hook) and dequantised; everything else stays float.
"""
import copy
from dataclasses import dataclass

import numpy as np

from adderhw.base.errors import BadParameter
from adderhw.base.networks import NETWORK_EPOCHS

from adderhw.base.pe_kind import MAC, SAD

from .conv import CONVS
from .training import sgd_train
from .fixed import choose_frac_bits, dequantize, quantize

__all__ = ["FIRST_LAST", "check_first_last", "DigitsData", "load_digits_data", "DigitsNet", "train", "accuracy", "FixedPointAdders",
           "ADDER_LAYERS", "ALL_ADDER_LAYERS", "adder_layers", "layer_label"]

ADDER_LAYERS = ("add1", "add2")
#: every adder layer of an all-adder network (first_last "adder"), in order
ALL_ADDER_LAYERS = ("conv1", "add1", "add2", "fc")


def adder_layers(model):
    """The names of ``model``'s layers that its ``layer_fn`` replaces: ALL_ADDER_LAYERS for an
    all-adder network, ADDER_LAYERS (the middle two) otherwise."""
    return ALL_ADDER_LAYERS if getattr(model, "first_last", "mul") == "adder" else ADDER_LAYERS
#: what the CNN twin's layers in the adder layers' places are called in reports
_TWIN_LABELS = {"add1": "conv2", "add2": "conv3"}


#: what the first conv and the classifier of an AdderNet are: multiplier layers (the paper) or adder
#: layers (an all-adder network, which needs no multiplier)
FIRST_LAST = ("mul", "adder")


def check_first_last(first_last, adder):
    """``first_last`` checked: one of :data:`FIRST_LAST`, and "mul" for a CNN (whose layers all
    multiply)."""
    if first_last not in FIRST_LAST:
        raise BadParameter(f"first_last must be one of {', '.join(FIRST_LAST)}, not {first_last!r}")
    if first_last == "adder" and not adder:
        raise BadParameter("first_last 'adder' applies to the AdderNet only; the CNN twin's layers all multiply")
    return first_last


def layer_label(name, adder):
    """The report name of layer ``name`` (one of ADDER_LAYERS) in the AdderNet (``adder``) or its CNN twin."""
    return name if adder else _TWIN_LABELS[name]


@dataclass
class DigitsData:
    x_train: np.ndarray      # (N, 1, 8, 8) float32 in [0, 1]
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def load_digits_data(seed=0, test_fraction=0.25):
    from sklearn.datasets import load_digits  # start-up: deferred (golden/__init__ docstring)
    d = load_digits()
    x = (d.images / 16.0).astype(np.float32)[:, None]
    y = d.target.astype(np.int64)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(y))
    n_test = int(round(len(y) * test_fraction))
    test, train = order[:n_test], order[n_test:]
    return DigitsData(x[train], y[train], x[test], y[test])


def _torch():
    import torch            # torch: deferred (start-up, golden/__init__ docstring)
    return torch


def DigitsNet(adder=True, channels=(8, 16, 16), eta=0.2, compiled=False, first_last="mul"):
    """The digits network (adder=True) or its CNN twin (adder=False), as a torch.nn.Module.

    ``compiled`` (golden.reference.Adder2d) is False by default: the fused kernel sums in another
    order than the eager code and exists only where a C++ compiler does, so a seed would give other
    weights on another machine (golden.determinism); at these sizes the eager code is as fast.

    ``first_last`` (AdderNet only): "mul" keeps the first conv and the classifier as multiplier
    layers (Conv2d, Linear), as the AdderNet paper does; "adder" makes them adder layers too, as
    spinalAdderNetMNIST does, so the network needs no multiplier anywhere: conv1 is a 3x3 adder
    layer on the image, and the classifier a 1x1 adder layer on the pooled features followed by a
    BatchNorm (``bn_fc``, which the compiler folds into the post-processing like any other)."""
    torch = _torch()
    first_last = check_first_last(first_last, adder)
    # torch: deferred (start-up, golden/__init__ docstring)
    from torch import nn
    from .reference import Adder2d

    c1, c2, c3 = channels

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.adder = adder
            self.first_last = first_last
            if first_last == "adder":
                self.conv1 = Adder2d(1, c1, 3, padding=1, eta=eta, compiled=compiled)
            else:
                self.conv1 = nn.Conv2d(1, c1, 3, padding=1, bias=False)
            self.bn1 = nn.BatchNorm2d(c1)
            if adder:
                self.add1 = Adder2d(c1, c2, 3, padding=1, eta=eta, compiled=compiled)
                self.add2 = Adder2d(c2, c3, 3, padding=1, eta=eta, compiled=compiled)
            else:
                self.add1 = nn.Conv2d(c1, c2, 3, padding=1, bias=False)
                self.add2 = nn.Conv2d(c2, c3, 3, padding=1, bias=False)
            self.bn2 = nn.BatchNorm2d(c2)
            self.bn3 = nn.BatchNorm2d(c3)
            if first_last == "adder":
                self.fc = Adder2d(c3, 10, 1, eta=eta, compiled=compiled)
                self.bn_fc = nn.BatchNorm2d(10)
            else:
                self.fc = nn.Linear(c3, 10)

        def chain(self):
            """The layers in execution order, as golden.compiler reads them."""
            head = [("conv1", self.conv1), ("bn1", self.bn1), ("relu1", nn.ReLU()),
                    ("add1", self.add1), ("bn2", self.bn2), ("relu2", nn.ReLU()), ("pool2", nn.MaxPool2d(2)),
                    ("add2", self.add2), ("bn3", self.bn3), ("relu3", nn.ReLU()), ("gap", nn.AdaptiveAvgPool2d(1))]
            if first_last == "adder":
                # no Flatten: the adder classifier's 10x1x1 output is the logits
                return head + [("fc", self.fc), ("bn_fc", self.bn_fc)]
            return head + [("flatten", nn.Flatten()), ("fc", self.fc)]

        def forward(self, x, layer_fn=None, taps=None):
            """``layer_fn(name, module, x)`` replaces the adder (or twin conv) layers when given
            (:func:`adder_layers`: add1 and add2, and conv1 and fc of an all-adder network);
            ``taps`` (a dict) receives each such layer's input."""
            def run(name, x):
                mod = getattr(self, name)
                if taps is not None:
                    taps.setdefault(name, []).append(x.detach())
                return layer_fn(name, mod, x) if layer_fn else mod(x)
            # an all-adder network's conv1 and classifier are adder layers too, and go through run()
            x = torch.relu(self.bn1(run("conv1", x) if first_last == "adder" else self.conv1(x)))
            x = torch.relu(self.bn2(run("add1", x)))
            x = torch.nn.functional.max_pool2d(x, 2)
            x = torch.relu(self.bn3(run("add2", x)))
            if first_last == "adder":
                return self.bn_fc(run("fc", x.mean(dim=(2, 3), keepdim=True))).flatten(1)
            x = x.mean(dim=(2, 3))
            return self.fc(x)

    return Net()


#: the digits network's training epochs (base.networks, the flows' default)
TRAIN_EPOCHS = NETWORK_EPOCHS["digits"]


def train(model, data, epochs=TRAIN_EPOCHS, batch=64, lr=0.05, seed=0, progress=None):
    """SGD with momentum and a cosine schedule; seeded and deterministic (golden.determinism: one
    thread, deterministic algorithms), so a seed gives the same weights bit for bit on any machine
    of this kind. Returns per-epoch losses."""
    kind = "AdderNet" if model.adder else "CNN"
    return sgd_train(model, data, epochs, batch, lr, seed, progress=progress, label=f"  {kind}",
                     every=max(1, epochs // 10))


def predict(model, x, layer_fn=None, batch=512):
    torch = _torch()
    out = []
    with torch.no_grad():
        for i in range(0, len(x), batch):
            out.append(model(torch.tensor(x[i:i + batch]), layer_fn=layer_fn).numpy())
    return np.concatenate(out)


def accuracy(model, x, y, layer_fn=None):
    return float(np.mean(predict(model, x, layer_fn).argmax(axis=1) == y))


class FixedPointAdders:
    """A ``layer_fn`` that runs the adder layers (or, for the CNN twin, the convolutions in their
    place) in W-bit fixed point with one shared scale 2^-f for X and F.

    ``compute(name, xq, wq, stride, padding)`` computes the integer layer; the default is the golden
    model (golden.adder2d, or golden.mac_conv2d for the twin). A hardware run passes a function that
    calls the RTL. With ``keep``, every call's integer inputs and outputs are kept in
    ``self.records`` so callers can compare paths bit for bit. Outputs are dequantised with 2^-f
    (an L1 distance is in the units of its inputs) or 2^-2f (a sum of products).
    """

    def __init__(self, model, width, calib_x, compute=None, keep=False):
        torch = _torch()
        self.width = width
        self.kind = SAD if model.adder else MAC
        golden_fn = CONVS[self.kind.name]
        self.compute = compute or (lambda name, xq, wq, s, p: golden_fn(xq, wq, s, p, width=width))
        self.keep = keep
        self.records = {}
        self.saturated = {}
        taps = {}
        with torch.no_grad():
            model(torch.tensor(calib_x), taps=taps)
        self.frac = {}
        for name in adder_layers(model):
            w = getattr(model, name).weight.detach().numpy()
            xs = torch.cat(taps[name]).numpy()
            self.frac[name] = choose_frac_bits([xs, w], width)
            self.saturated[name] = 0

    def with_compute(self, compute):
        """The same scales with another integer compute function (for example, the RTL)."""
        other = copy.copy(self)
        other.compute = compute
        other.records = {}
        other.saturated = {k: 0 for k in self.saturated}
        return other

    def __call__(self, name, module, x):
        torch = _torch()
        f = self.frac[name]
        xq, nx = quantize(x.numpy(), self.width, f)
        wq, nw = quantize(module.weight.detach().numpy(), self.width, f)
        self.saturated[name] += nx + nw
        stride = module.stride if isinstance(module.stride, int) else module.stride[0]
        padding = module.padding if isinstance(module.padding, int) else module.padding[0]
        yq = self.compute(name, xq, wq, stride, padding)
        if self.keep:
            self.records.setdefault(name, []).append((xq, wq, yq))
        return torch.tensor(dequantize(yq, self.kind.product_scale * f), dtype=x.dtype)
