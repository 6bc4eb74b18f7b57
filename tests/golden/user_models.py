"""Models written the way a user of the front end would write them (not adderhw's networks).

``UserAdder2d`` has the interface of huawei-noah/AdderNet's ``adder2d`` (a 4-D parameter ``adder``,
``stride``, ``padding``, a ``bias`` flag with values in ``b``, a forward through a custom autograd
Function), written here from the paper (Chen et al., CVPR 2020: Y = −Σ|X − F|; the gradient for F
is the full-precision X − F, the gradient for X is HardTanh(F − X)), not from that project's code.
"""
from adderhw.golden.resnet import randomise_batchnorm   # noqa: F401 (the tests import it from here)
import torch
from torch import nn
from torch.nn import functional as F


class _UserAdderFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, cols, w):
        # cols (N, K, P), w (T, K): −Σ_k |cols − w| as (N, T, P)
        ctx.save_for_backward(cols, w)
        return -(cols.unsqueeze(1) - w.unsqueeze(0).unsqueeze(-1)).abs().sum(dim=2)

    @staticmethod
    def backward(ctx, grad):
        cols, w = ctx.saved_tensors
        diff = cols.unsqueeze(1) - w.unsqueeze(0).unsqueeze(-1)          # (N, T, K, P)
        grad_w = (diff * grad.unsqueeze(2)).sum(dim=(0, 3))
        grad_cols = (-diff).clamp(-1, 1).mul(grad.unsqueeze(2)).sum(dim=1)
        return grad_cols, grad_w


class UserAdder2d(nn.Module):
    """An adder layer with huawei-noah/AdderNet's ``adder2d`` interface (module docstring)."""

    def __init__(self, input_channel, output_channel, kernel_size, stride=1, padding=0, bias=False, groups=1):
        super().__init__()
        self.stride, self.padding, self.groups = stride, padding, groups
        self.input_channel, self.output_channel, self.kernel_size = input_channel, output_channel, kernel_size
        self.adder = nn.Parameter(nn.init.normal_(torch.empty(output_channel, input_channel // groups,
                                                              kernel_size, kernel_size)))
        self.bias = bias
        if bias:
            self.b = nn.Parameter(nn.init.uniform_(torch.zeros(output_channel), -0.5, 0.5))

    def forward(self, x):
        n, _, h, w = x.shape
        k = self.kernel_size
        ho = (h + 2 * self.padding - k) // self.stride + 1
        wo = (w + 2 * self.padding - k) // self.stride + 1
        cols = F.unfold(x, k, padding=self.padding, stride=self.stride)
        y = _UserAdderFunction.apply(cols, self.adder.reshape(self.output_channel, -1))
        y = y.reshape(n, self.output_channel, ho, wo)
        if self.bias:
            y = y + self.b.reshape(1, -1, 1, 1)
        return y


class AdderDigits(nn.Module):
    """A small adder CNN for the 8x8 digits: a multiplier stem, two adder layers, a linear head."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(1, 8, 3, padding=1, bias=False)
        self.bn0 = nn.BatchNorm2d(8)
        self.add1 = UserAdder2d(8, 8, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(8)
        self.pool = nn.MaxPool2d(2)
        self.add2 = UserAdder2d(8, 16, 3, padding=1, bias=True)
        self.bn2 = nn.BatchNorm2d(16)
        self.head = nn.Linear(16, 10)

    def forward(self, x):
        x = F.relu(self.bn0(self.stem(x)))
        x = self.pool(torch.relu(self.bn1(self.add1(x))))
        x = F.relu(self.bn2(self.add2(x)))
        x = x.mean((2, 3))
        return self.head(x)


class Block(nn.Module):
    """A residual basic block (He et al., 2016): two 3x3 layers with BatchNorm, the identity added,
    then ReLU; ``adder`` makes the first layer an adder layer."""

    def __init__(self, c, adder=False, functional_add=False):
        super().__init__()
        self.a = UserAdder2d(c, c, 3, padding=1) if adder else nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn_a = nn.BatchNorm2d(c)
        self.b = nn.Conv2d(c, c, 3, padding=1)
        self.bn_b = nn.BatchNorm2d(c)
        self.relu = nn.ReLU()
        self.functional_add = functional_add

    def forward(self, x):
        out = self.relu(self.bn_a(self.a(x)))
        out = self.bn_b(self.b(out))
        out = torch.add(out, x) if self.functional_add else out + x
        return self.relu(out)


class ResidualNet(nn.Module):
    """Stem, two residual blocks (one with an adder layer, one with torch.add), a global average
    pool and a linear classifier, on (1, 8, 8) images."""

    def __init__(self, c=6):
        super().__init__()
        self.stem = nn.Conv2d(1, c, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(c)
        self.block1 = Block(c, adder=True)
        self.block2 = Block(c, functional_add=True)
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(c, 10)

    def forward(self, x):
        x = F.relu(self.bn(self.stem(x)))
        x = self.block2(self.block1(x))
        return self.fc(torch.flatten(self.gap(x), 1))


# ---- models the front end refuses ----------------------------------------------------------

class Sigmoid(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.fc = nn.Linear(4 * 64, 10)

    def forward(self, x):
        return self.fc(torch.sigmoid(self.conv(x)).flatten(1))


class Pool5(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.big_pool = nn.MaxPool2d(5)
        self.fc = nn.Linear(4, 10)

    def forward(self, x):
        return self.fc(self.big_pool(self.conv(x)).flatten(1))


class GroupedAdder(nn.Module):
    def __init__(self):
        super().__init__()
        self.grouped = UserAdder2d(4, 4, 3, padding=1, groups=2)
        self.stem = nn.Conv2d(1, 4, 1)
        self.fc = nn.Linear(4 * 64, 10)

    def forward(self, x):
        return self.fc(self.grouped(self.stem(x)).flatten(1))


class Branchy(nn.Module):
    """Data-dependent control flow in a submodule: torch.fx cannot trace it."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.gate = _Gate()
        self.fc = nn.Linear(4 * 64, 10)

    def forward(self, x):
        return self.fc(self.gate(self.conv(x)).flatten(1))


class _Gate(nn.Module):
    def forward(self, x):
        if x.sum() > 0:
            return x
        return -x
