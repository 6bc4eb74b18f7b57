"""ResNet for CIFAR-shaped images as a torch module, with adder layers: what a user of the AdderNet
papers brings (He et al. 2016, the CIFAR ResNet: 3 stages of (depth - 2)/6 basic blocks of 16, 32
and 64 channels; Chen et al. 2020 run it with every convolution but the first an adder layer).

The stage-changing blocks downsample their shortcut with a 1x1 stride-2 adder layer and BatchNorm,
as the AdderNet code does (golden.networks.cifar_resnet has the same shapes for the cycle model).
Used by ``adderhw bench compile`` (import, quantise and compile a 20-layer model) and by the
engine's residual tests; its weights are random unless trained.
"""
import torch
from torch import nn

from .reference import Adder2d

__all__ = ["AdderBasicBlock", "AdderResNet", "randomise_batchnorm"]


class AdderBasicBlock(nn.Module):
    """adder 3x3 (stride s) → BN → ReLU → adder 3x3 → BN, plus the shortcut (identity, or a 1x1
    stride-s adder layer and BN), then ReLU."""

    def __init__(self, cin, cout, stride=1):
        super().__init__()
        self.conv1, self.bn1 = Adder2d(cin, cout, 3, stride=stride, padding=1), nn.BatchNorm2d(cout)
        self.conv2, self.bn2 = Adder2d(cout, cout, 3, padding=1), nn.BatchNorm2d(cout)
        self.down = None
        if stride != 1 or cin != cout:
            self.down = nn.Sequential(Adder2d(cin, cout, 1, stride=stride), nn.BatchNorm2d(cout))

    def forward(self, x):
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return torch.relu(out + (x if self.down is None else self.down(x)))


class AdderResNet(nn.Module):
    """CIFAR ResNet-``depth`` (20, 32, ...: 6n + 2) for 3x32x32 images and ``classes`` outputs; the
    first convolution and the classifier are multiplier layers, the rest adder layers."""

    def __init__(self, depth=20, classes=10, widths=(16, 32, 64)):
        super().__init__()
        if depth < 8 or (depth - 2) % 6:
            raise ValueError(f"depth must be 6n + 2 with n >= 1, not {depth}")
        n = (depth - 2) // 6
        self.conv1, self.bn1 = nn.Conv2d(3, widths[0], 3, padding=1, bias=False), nn.BatchNorm2d(widths[0])
        blocks, cin = [], widths[0]
        for stage, cout in enumerate(widths):
            for b in range(n):
                blocks.append(AdderBasicBlock(cin, cout, 2 if stage and not b else 1))
                cin = cout
        self.blocks = nn.Sequential(*blocks)
        self.pool, self.fc = nn.AdaptiveAvgPool2d(1), nn.Linear(cin, classes)

    def forward(self, x):
        x = self.blocks(torch.relu(self.bn1(self.conv1(x))))
        return self.fc(torch.flatten(self.pool(x), 1))


def randomise_batchnorm(model, seed=0):
    """``model`` with random BatchNorm running statistics and affine parameters (means N(0, 2²),
    variances U(0.5, 4.5), scales U(0.5, 1.5), shifts N(0, 0.5²); seeded), so that an untrained
    model's folding is exercised as a trained one's would be."""
    gen = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d)):
            n = m.num_features
            m.running_mean.copy_(torch.randn(n, generator=gen) * 2)
            m.running_var.copy_(torch.rand(n, generator=gen) * 4 + 0.5)
            m.weight.data.copy_(torch.rand(n, generator=gen) + 0.5)
            m.bias.data.copy_(torch.randn(n, generator=gen) * 0.5)
    return model
