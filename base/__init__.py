"""The shared vocabulary of adderhw: the array config, the fixed-point widths, parameter checks
and the error hierarchy.

Every package may import this one (``golden``, ``hw``, ``sim``, ``boards`` and the application
layer); it imports nothing else of adderhw, so the dependencies point one way, downwards.
"""
from .errors import AdderhwError, BadParameter, ToolError, ToolMissingError, ToolFailed, SimulationError
from .config import ArrayConfig, PE_KINDS, RTL_WIDTHS, check_config
from .widths import sad_acc_width, mac_acc_width

__all__ = ["AdderhwError", "BadParameter", "ToolError", "ToolMissingError", "ToolFailed", "SimulationError",
           "ArrayConfig", "PE_KINDS", "RTL_WIDTHS", "check_config", "sad_acc_width", "mac_acc_width"]
