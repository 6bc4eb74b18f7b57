"""Bit-exact NumPy golden model of adder (SAD) and multiplier (MAC) layers, fixed point and cycles.

It imports only the shared base (:mod:`adderhw.base`). The PyTorch reference lives in
:mod:`adderhw.golden.reference` and is imported on demand (it needs torch).

Why torch (and scikit-learn) are imported inside the functions that use them, in the modules that
also serve the NumPy model, the compiler and the program model (addernet, compiler, determinism,
mnist, trained, training): ``python -c "import torch"`` takes 3.4 s and ``import sklearn.datasets``
2.9 s, against 0.26 s for ``import adderhw.golden`` (best of 5, wall clock, the 2-core test machine
under load, 2026-12-07). So the golden model, the cycle models, the RTL simulations and the CLI's
checks start without them. Modules that are about torch (reference, qat, frontend, fakequant,
resnet, brevitas_import) import it at the top.
"""
from adderhw.base.errors import AdderhwError, BadParameter, ToolMissingError
from .fixed import Quantized, quantize, dequantize, choose_frac_bits
from adderhw.base.widths import sad_acc_width, mac_acc_width
from .gemm import sad_gemm, mac_gemm
from .conv import adder2d, mac_conv2d, im2col, conv_output_shape

__all__ = [
    "AdderhwError", "BadParameter", "ToolMissingError",
    "Quantized", "quantize", "dequantize", "choose_frac_bits",
    "sad_acc_width", "mac_acc_width",
    "sad_gemm", "mac_gemm",
    "adder2d", "mac_conv2d", "im2col", "conv_output_shape",
]
