"""hw.link_reply.ReplySender on Amaranth's simulator: every kind of reply's frame byte for byte
under random backpressure (the stream rules on ``o_byte``), READ's words through a model of the
engine's peek port, and the reply taken exactly when its CHK byte is."""
import numpy as np
import pytest
from amaranth.sim import Simulator

from adderhw.base.config import ArrayConfig
from adderhw.base.engine import EngineConfig
from adderhw.base.errors import BadParameter
from adderhw.base.protocol import (CMD_ERROR, CMD_READ, CMD_RUN, CMD_STATUS, CMD_WRITE, ERR_HANG, REPLY,
                                   FrameParser, encode_frame)
from adderhw.hw.link_reply import ReplySender


def _engine(width=12, cols=3):
    return EngineConfig(array=ArrayConfig(rows=1, cols=cols, width=width, k_max=4), mac_rows=0, act_depth=32,
                        weight_depth=16, const_depth=8, max_layers=1, scale_bits=8, bias_bits=16)


def test_the_sender_refuses_an_empty_status_table_and_what_is_not_an_engine_config():
    with pytest.raises(BadParameter, match="status must be 1 to 1024 bytes, not 0"):
        ReplySender(_engine(), b"")
    with pytest.raises(BadParameter, match="engine must be an EngineConfig"):
        ReplySender("4x4", b"\x01")


def _send(engine, fields, status=b"\x03\x01\x02", words=None, seed=0):
    """One reply beat of ``fields`` (reply_layout's names) sent with ``o_byte.ready`` random; the
    peek port answers from ``words`` (side, addr) -> C lanes. Returns the bytes sent; checks that
    the reply is taken in the cycle its last byte is, and that nothing follows."""
    rng = np.random.default_rng(seed)
    dut = ReplySender(engine, status)
    sent = []

    async def peek(ctx):                # the engine's peek port: the word two cycles after its address
        blank = [0] * engine.array.cols     # (the block RAM's read register, then the buffer's output register)
        latch = blank
        async for _, _, side, addr in ctx.tick().sample(dut.o_peek_side, dut.o_peek_addr):
            ctx.set(dut.i_peek_data, latch)
            latch = (words or {}).get((side, addr), blank)

    async def bench(ctx):
        r = dut.i_reply.payload
        for name, value in fields.items():
            ctx.set(getattr(r, name), value)
        ctx.set(dut.i_reply.valid, 1)
        offered = None
        for _ in range(5000):
            ready = int(rng.random() < 0.3)
            ctx.set(dut.o_byte.ready, ready)
            if ctx.get(dut.o_byte.valid):
                byte = ctx.get(dut.o_byte.payload)
                assert offered in (None, byte)          # stable until taken
                offered = byte
                if ready:
                    sent.append(byte)
                    offered = None
            else:
                assert offered is None                  # valid is never withdrawn
            if ctx.get(dut.i_reply.ready):
                assert ready and ctx.get(dut.o_byte.valid)
                await ctx.tick()
                ctx.set(dut.i_reply.valid, 0)
                await ctx.tick().repeat(5)
                assert not ctx.get(dut.o_byte.valid)
                return
            await ctx.tick()
        raise AssertionError("the reply was never taken")

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_process(peek)
    sim.add_testbench(bench)
    sim.run()
    return bytes(sent)


def _one_frame(sent, cmd, payload):
    assert sent == encode_frame(cmd, payload)
    assert FrameParser().feed(sent) == [(cmd, payload)]


def test_status_sends_the_table_it_was_built_with():
    status = bytes(range(40, 59))
    sent = _send(_engine(), {"cmd": CMD_STATUS | REPLY, "length": len(status)}, status=status, seed=1)
    _one_frame(sent, CMD_STATUS | REPLY, status)


def test_run_sends_the_cycles_then_a_class_per_lane():
    sent = _send(_engine(), {"cmd": CMD_RUN | REPLY, "length": 7, "cycles": 0x12345678, "classes": [3, 0, 7]},
                 seed=2)
    _one_frame(sent, CMD_RUN | REPLY, bytes([0x78, 0x56, 0x34, 0x12, 3, 0, 7]))


def test_an_error_reply_is_its_code_and_a_write_s_reply_is_empty():
    _one_frame(_send(_engine(), {"cmd": CMD_ERROR, "length": 1, "code": ERR_HANG}, seed=3), CMD_ERROR,
               bytes([ERR_HANG]))
    _one_frame(_send(_engine(), {"cmd": CMD_WRITE | REPLY, "length": 0}, seed=4), CMD_WRITE | REPLY, b"")


# C x abytes bytes per word: 3 and 6 walk with counters, 1, 2, 4 and 8 are bit fields of the byte's index
@pytest.mark.parametrize("width,side,cols", [(4, 1, 3), (8, 1, 3), (12, 1, 3), (16, 1, 3), (8, 2, 3), (8, 1, 1),
                                             (16, 0, 1), (8, 1, 2), (16, 1, 2), (8, 2, 4), (16, 1, 4)])
def test_read_sends_words_lane_by_lane_in_signed_little_endian_bytes(width, side, cols):
    engine = _engine(width, cols).with_(residual=side == 2)   # a residual engine's third buffer: side 2
    C, abytes = engine.array.cols, (width + 7) // 8
    rng = np.random.default_rng(width)
    lo, hi = -(1 << (width - 1)), (1 << (width - 1))
    words = {(s, a): [int(v) for v in rng.integers(lo, hi, C)] for s in range(engine.act_buffers) for a in range(32)}
    words[(side, 29)] = ([lo, hi - 1, -1] * C)[:C]
    addr, count = 28, 4                                      # up to the buffer's last word
    sent = _send(engine, {"cmd": CMD_READ | REPLY, "length": count * C * abytes, "side": side, "addr": addr},
                 words=words, seed=width)
    want = b"".join(int(v).to_bytes(abytes, "little", signed=True) for a in range(addr, addr + count)
                    for v in words[(side, a)])
    _one_frame(sent, CMD_READ | REPLY, want)
