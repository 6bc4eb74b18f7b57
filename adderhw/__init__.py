"""adderhw: generator of AdderNet hardware. The command-line entry point lives in :mod:`adderhw.cli`;
the libraries are the packages ``golden``, ``hw``, ``sim`` and ``boards``."""
__version__ = "0.1.0"
