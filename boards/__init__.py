"""FPGA board builds with amaranth-boards and the YoWASP toolchains."""
