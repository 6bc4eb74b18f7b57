"""adderhw: generator of AdderNet hardware.

Packages: :mod:`adderhw.base` (the shared config, widths and errors), :mod:`adderhw.golden`
(models), :mod:`adderhw.hw` (Amaranth RTL), :mod:`adderhw.sim` (simulation) and
:mod:`adderhw.boards` (FPGA builds). The application flows (demo, digits, compare, benchmarks)
and the command line (:mod:`adderhw.cli`) sit in this package, above them all."""
__version__ = "0.1.0"
