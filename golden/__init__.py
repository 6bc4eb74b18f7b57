"""Bit-exact NumPy golden model of adder (SAD) and multiplier (MAC) layers, fixed point and cycles.

This package imports nothing else of adderhw. The PyTorch reference lives in
:mod:`golden.reference` and is imported on demand (it needs torch).
"""
from .errors import AdderhwError, ToolMissingError
from .fixed import Quantized, quantize, dequantize, choose_frac_bits
from .widths import sad_acc_width, mac_acc_width
from .gemm import sad_gemm, mac_gemm
from .conv import adder2d, mac_conv2d, im2col, conv_output_shape

__all__ = [
    "AdderhwError", "ToolMissingError",
    "Quantized", "quantize", "dequantize", "choose_frac_bits",
    "sad_acc_width", "mac_acc_width",
    "sad_gemm", "mac_gemm",
    "adder2d", "mac_conv2d", "im2col", "conv_output_shape",
]
