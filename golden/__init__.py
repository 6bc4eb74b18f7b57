"""Bit-exact NumPy golden model of adder (SAD) and multiplier (MAC) layers, fixed point and cycles.

It imports only the shared base (:mod:`adderhw.base`). The PyTorch reference lives in
:mod:`adderhw.golden.reference` and is imported on demand (it needs torch).
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
