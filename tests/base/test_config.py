import pytest

from adderhw.golden import AdderhwError, mac_acc_width, sad_acc_width
from adderhw.hw import ArrayConfig


@pytest.mark.parametrize("kwargs,msg", [
    (dict(rows=0), "rows must be an integer from 1 to 64, not 0"),
    (dict(cols=65), "cols must be an integer from 1 to 64, not 65"),
    (dict(width=1), "width must be an integer from 2 to 16, not 1"),
    (dict(width=17), "width must be an integer from 2 to 16, not 17"),
    (dict(k_max=0), "k_max must be an integer from 1 to 1048576, not 0"),
    (dict(pe="add"), "pe must be one of 'sad', 'mac', not 'add'"),
    (dict(rows=2.5), "rows must be an integer, not 2.5"),
    (dict(pe="sad", mul_stages=2), "mul_stages applies to the MAC PE only"),
    (dict(pe="mac", mul_stages=4), "mul_stages must be an integer from 1 to 3, not 4"),
    (dict(pe="sad", sad_stage="sum"), "sad_stage must be one of 'difference', 'operands', not 'sum'"),
    (dict(pe="mac", sad_stage="operands"), "sad_stage applies to the SAD PE only"),
    (dict(skew="fifo"), "skew must be one of 'registers', 'memory', not 'fifo'"),
    (dict(dataflow="wavefront"), "dataflow must be one of 'systolic', 'broadcast', not 'wavefront'"),
    (dict(dataflow="broadcast", skew="memory"), "skew applies to the systolic dataflow only; a broadcast array "
                                                "has no skew and takes 'registers', not 'memory'"),
])
def test_bad_config_is_refused(kwargs, msg):
    with pytest.raises(AdderhwError, match=msg):
        ArrayConfig(**kwargs)


def test_derived_widths_come_from_the_worst_case():
    c = ArrayConfig(width=8, k_max=144)
    assert c.acc_width == sad_acc_width(8, 144) == 16 and not c.acc_signed
    m = c.with_(pe="mac")
    assert m.acc_width == mac_acc_width(8, 144) and m.acc_signed
    assert c.pe_stages == 2 and m.pe_stages == 2 and m.with_(mul_stages=3).pe_stages == 4


def test_frozen_and_hashable():
    c = ArrayConfig()
    with pytest.raises(AttributeError):
        c.rows = 3
    assert c == ArrayConfig() and hash(c) == hash(ArrayConfig())


def test_run_time_k_is_checked():
    c = ArrayConfig(k_max=9)
    assert c.check_k(9) == 9
    with pytest.raises(AdderhwError, match="K must be an integer from 1 to 9, not 10"):
        c.check_k(10)


def test_a_command_and_a_directory_name_the_dataflow_only_when_it_is_not_the_default():
    from adderhw.base.config import dataflow_flag, dataflow_suffix
    assert dataflow_flag("systolic") == dataflow_flag(None) == "" and dataflow_flag("broadcast") == " --dataflow broadcast"
    assert dataflow_suffix("systolic") == dataflow_suffix(None) == "" and dataflow_suffix("broadcast") == "-broadcast"
