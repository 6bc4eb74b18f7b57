"""The engine's netlist (Yosys after proc and opt_dff, which makes an enable part of its
flip-flop): what hw.engine's docstring promises about the activation buffers' read data
("Memories": an output register of its own, no logic before it). It fails on the engine before
those registers, whose read data went through the choice of the buffer."""
import pytest

from adderhw.base.config import ArrayConfig
from adderhw.base.engine import EngineConfig
from adderhw.hw.engine import LayerEngine

from .netlist import netlist_module


@pytest.mark.parametrize("residual,post_lanes", [(False, 0), (False, 1), (True, 0)], ids=["L=C", "L=1", "residual"])
def test_every_activation_buffer_reads_into_a_register_of_its_own(residual, post_lanes):
    engine = EngineConfig(array=ArrayConfig(rows=2, cols=2, width=8, k_max=64), mac_rows=0, act_depth=64,
                          post_lanes=post_lanes, residual=residual)
    module = netlist_module(LayerEngine(engine), "proc\nflatten\nopt_clean\nopt_dff\nopt_clean")
    loads = {}
    for name, cell in module["cells"].items():
        for port, bits in cell["connections"].items():
            if cell["port_directions"][port] == "input":
                for bit in bits:
                    loads.setdefault(bit, []).append((cell["type"], port, name))
    # each buffer's read port, a $memrd_v2 cell after proc (its read register is inside the cell)
    buffers = {name: cell for name, cell in module["cells"].items()
               if cell["type"] == "$memrd_v2" and cell["parameters"]["MEMID"].lstrip("\\").startswith("act")}
    assert len(buffers) == engine.act_buffers
    for name, cell in buffers.items():
        data = cell["connections"]["DATA"]
        assert len(data) == 2 * 8                      # one read port of C lanes x width bits
        for bit in data:
            # the bit's only load is the D input of one flip-flop (with an enable: the reader's)
            assert [(kind, port) for kind, port, _ in loads.get(bit, [])] in ([("$dffe", "D")], [("$dff", "D")]), \
                (name, bit, loads.get(bit))
