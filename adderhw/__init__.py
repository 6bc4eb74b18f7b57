"""adderhw: generator of AdderNet hardware.

Packages: :mod:`adderhw.base` (the shared config, widths and errors), :mod:`adderhw.golden`
(models), :mod:`adderhw.hw` (Amaranth RTL), :mod:`adderhw.sim` (simulation) and
:mod:`adderhw.boards` (FPGA builds). The application flows (demo, digits, compare, benchmarks)
and the command line (:mod:`adderhw.cli`) sit in this package, above them all.

Importing any part of adderhw pins torch's CPU kernels to one instruction set before torch runs
(adderhw.base.kernels), so that a seeded training gives the same weights on every x86-64 machine."""
import importlib

from adderhw.base.kernels import pin_kernels as _pin_kernels

_pin_kernels()

__version__ = "0.1.0"


def __getattr__(name):
    # adderhw.compile(...) without importing torch and the golden layer when adderhw is imported: the
    # front door (adderhw/compile.py) loads on first use
    if name in ("compile", "compile_to_file"):
        func = getattr(importlib.import_module("adderhw.compile"), name)
        globals()[name] = func      # the import set adderhw.compile to the module; the function wins
        return func
    raise AttributeError(f"module 'adderhw' has no attribute {name!r}")
