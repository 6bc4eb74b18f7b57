"""A fake-quantised torch model generated from a program: the engine's integers, on CPU, in torch.

:class:`FakeQuantNet` is built from a golden.program.Program alone (not from the float model it was
compiled from) and computes each step with torch operations on tensors that hold integers:

* the image: round(x·2^input_frac) with torch.round (half to even, as golden.fixed.quantize's
  np.rint), saturated to signed ``width`` bits;
* step 0 of a layer (the per-tile input shift) and steps 2-4 (requantisation, ReLU, saturation,
  pooling) and the residual add are computed on int64 tensors with the program's shifts
  (torch's ``>>`` on int64 is arithmetic, so (v + 2^(S−1)) >> S rounds half up as golden.program
  defines it; a program with rounding "half_even" then clears the lowest bit of a tie's result);
* step 1, the accumulator: Σ x·F with ``torch.nn.functional.conv2d`` and −Σ|x − F| with
  ``unfold``, both in float64 on integer values. Every product and partial sum is an integer below
  2^53 (|acc| <= K·2^(2w−2) for w <= 16 and the K of any engine layer), so float64 is exact whatever
  the order of summation, and the result converts to int64 without rounding.

The post-processing product acc·M + B is kept in int64; a program where it could exceed 2^62 (the
bound from the layer's K, width, and largest |M| and |B|) is refused, naming the layer, where
golden.program switches to Python integers. :meth:`FakeQuantNet.forward` returns the logits as floats
(integers times 2^-logit_frac when ``logit_frac`` is given, else the integers themselves);
:meth:`FakeQuantNet.integer_outputs` returns every step's int64 output, which equal
golden.program.run_program's outputs exactly (tests/golden/test_fakequant.py).
"""
import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from adderhw.base.errors import BadParameter
from adderhw.base.validate import int_range

from .program import LayerProgram, Program, ResidualAdd, check_program

__all__ = ["FakeQuantNet"]

#: output channels per chunk of an adder layer's |x − F| tensor (N·chunk·K·P float64 values)
_CHUNK = 8


class FakeQuantNet(nn.Module):
    """The program ``program`` as a torch module (module docstring). ``logit_frac``: the scale of
    the logits (golden.compiler.Compiled.logit_frac) for :meth:`forward`'s floats."""

    def __init__(self, program, logit_frac=None):
        super().__init__()
        if not isinstance(program, Program):
            raise BadParameter(f"program must be a golden.program.Program, not {type(program).__name__}")
        check_program(program)
        self.program = program
        self.logit_frac = logit_frac
        self.lo, self.hi = int_range(program.width)
        for i, step in enumerate(program.layers):
            if isinstance(step, LayerProgram):
                self.register_buffer(f"w{i}", torch.tensor(np.asarray(step.weights, dtype=np.float64)))
                self.register_buffer(f"m{i}", torch.tensor(np.asarray(step.scale, dtype=np.int64)).reshape(1, -1, 1, 1))
                self.register_buffer(f"b{i}", torch.tensor(np.asarray(step.bias, dtype=np.int64)).reshape(1, -1, 1, 1))
                self._check_int64(step)

    def _check_int64(self, step):
        w = self.program.width
        per_term = (1 << w) - 1 if step.op == "add" else 1 << (2 * w - 2)
        bound = step.k * per_term * int(np.abs(step.scale).max(initial=0)) + int(np.abs(step.bias).max(initial=0))
        if bound + (1 << max(step.shift - 1, 0)) >= 1 << 62:
            raise BadParameter(f"layer {step.name!r}: acc·M + B may reach {bound:.3g}, beyond the fake-quant model's "
                               f"int64 (2^62); golden.program computes such layers with Python integers")

    def quantize_input(self, x):
        """Float images (N, C, H, W) as the program's int64 input."""
        x = torch.as_tensor(x, dtype=torch.float64)
        if tuple(x.shape[1:]) != self.program.input_shape:
            raise BadParameter(f"images must have shape (N, {', '.join(map(str, self.program.input_shape))}), "
                               f"not {tuple(x.shape)}")
        return torch.round(torch.ldexp(x, torch.tensor(float(self.program.input_frac), dtype=torch.float64))) \
            .clamp(self.lo, self.hi).to(torch.int64)

    def integer_outputs(self, xq):
        """Every step's int64 output (N, C, H, W) for int64 images ``xq``."""
        x = torch.as_tensor(xq, dtype=torch.int64)
        outs = []
        for i, step in enumerate(self.program.layers):
            read = [x if j < 0 else outs[j] for j in self.program.sources(i)]
            if isinstance(step, ResidualAdd):
                v = (read[0] << step.main_shift) + (read[1] << step.skip_shift)
                out = self._finish(v, step.shift, step.relu, step.pool)
            else:
                out = self._layer(i, step, read[0])
            outs.append(out)
        return outs

    def forward(self, x):
        logits = self.integer_outputs(self.quantize_input(x))[-1].reshape(len(x), -1).to(torch.float64)
        return logits if self.logit_frac is None else torch.ldexp(logits, torch.tensor(-float(self.logit_frac),
                                                                                      dtype=torch.float64))

    # ---- one layer ----------------------------------------------------------------------

    def _layer(self, i, step, x):
        w = getattr(self, f"w{i}")
        shifts = step.x_shifts
        acc = torch.empty((len(x), step.cout, *step.conv_hw), dtype=torch.int64)
        for d in np.unique(shifts):
            chans = torch.as_tensor(np.flatnonzero(shifts == d))
            acc[:, chans] = self._acc(step, self._tile_shift(x, int(d)), w[chans])
        v = acc * getattr(self, f"m{i}") + getattr(self, f"b{i}")
        return self._finish(v, step.shift, step.relu, step.pool)

    def _tile_shift(self, x, d):
        if d >= 0:
            return (x << d).clamp(self.lo, self.hi)
        return (x + (1 << (-d - 1))) >> -d

    @staticmethod
    def _acc(step, x, w):
        xd = x.to(torch.float64)
        if step.op == "mul":
            acc = F.conv2d(xd, w, stride=step.stride, padding=step.padding)
        else:
            n = len(xd)
            cols = F.unfold(xd, step.kernel, padding=step.padding, stride=step.stride)     # (N, K, P)
            flat = w.reshape(len(w), -1)
            parts = [-(cols.unsqueeze(1) - flat[a:a + _CHUNK].unsqueeze(0).unsqueeze(-1)).abs().sum(dim=2)
                     for a in range(0, len(flat), _CHUNK)]
            acc = torch.cat(parts, dim=1).reshape(n, len(w), *step.conv_hw)
        return acc.round().to(torch.int64)

    def _finish(self, v, shift, relu, pool):
        if shift:
            w = v + (1 << (shift - 1))
            v = w >> shift
            if self.program.rounding == "half_even":
                # a tie leaves w's low shift bits all 0; the even neighbour is v with bit 0 cleared
                v = torch.where((w & ((1 << shift) - 1)) == 0, v & ~1, v)
        if relu:
            v = v.clamp(min=0)
        v = v.clamp(self.lo, self.hi)
        if pool == "max2":
            n, c, h, w = v.shape
            return v.reshape(n, c, h // 2, 2, w // 2, 2).amax(dim=(3, 5))
        if pool == "gap":
            n, c, h, w = v.shape
            log2 = (h * w).bit_length() - 1
            return (v.sum(dim=(2, 3), keepdim=True) + ((1 << log2) >> 1)) >> log2
        return v
