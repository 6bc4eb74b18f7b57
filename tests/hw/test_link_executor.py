"""hw.link_executor.CommandExecutor on Amaranth's simulator, with a frame buffer and a model of the
engine's ports: each command's reply, WRITE's load beats under stalls, RUN's start, result and hang
reset, the frame and the reply held until the reply is taken, and one test per error path."""
import numpy as np
import pytest
from amaranth.hdl import Module, Shape
from amaranth.lib import memory, wiring
from amaranth.sim import Simulator

from adderhw.base.config import ArrayConfig
from adderhw.base.engine import EngineConfig
from adderhw.base.errors import BadParameter
from adderhw.base.protocol import (CMD_ERROR, CMD_READ, CMD_RUN, CMD_STATUS, CMD_WRITE, DESC_SLOTS, ERR_CHECKSUM,
                                   ERR_COMMAND, ERR_FRAMING, ERR_HANG, ERR_LENGTH, ERR_RANGE, ERR_TIMEOUT,
                                   MAX_PAYLOAD, REPLY, SPACE_ACT, SPACE_CONST, SPACE_DESC, SPACE_WEIGHT, STATUS_BYTES,
                                   WRITE_HEADER)
from adderhw.hw.engine import load_layout
from adderhw.hw.link_executor import CommandExecutor

ENGINE = EngineConfig(array=ArrayConfig(rows=2, cols=3, width=8, k_max=4), mac_rows=0, act_depth=512,
                      weight_depth=32, const_depth=8, max_layers=1, scale_bits=8, bias_bits=16, tile_shift=False)
C = ENGINE.array.cols


def test_the_executor_refuses_what_is_not_an_engine_config():
    with pytest.raises(BadParameter, match="engine must be an EngineConfig, not int"):
        CommandExecutor(4)


def _write(space, lane, addr, vb, values):
    return bytes([space, lane]) + addr.to_bytes(3, "little") + bytes([vb]) + \
        b"".join((v & ((1 << (8 * vb)) - 1)).to_bytes(vb, "little") for v in values)


def _execute(cmd, payload=b"", code=0, length=None, done_after=None, seed=0, engine=ENGINE, cycles=3000):
    """One frame (``cmd``, ``payload``; LEN = ``length`` or the payload's) offered to an executor,
    the reply taken after random stalls, load beats taken under random stalls, ``i_done`` raised
    ``done_after`` cycles after ``o_start`` (never: None). Checks the stream rules on the way and
    returns {"reply": (cmd, length, code), "beats", "starts", "resets" (cycles), "errors", "run",
    "valid_at" (the reply's first valid cycle; the frame is valid from cycle 0)}."""
    rng = np.random.default_rng(seed)
    m = Module()
    m.submodules.exe = dut = CommandExecutor(engine)
    m.submodules.buf = buf = memory.Memory(shape=8, depth=MAX_PAYLOAD, init=payload[:MAX_PAYLOAD])
    wiring.connect(m, dut.i_payload, buf.read_port(transparent_for=()))
    out = {"beats": [], "starts": [], "resets": [], "errors": 0}
    length = len(payload) if length is None else length

    async def bench(ctx):
        f = dut.i_frame.payload
        ctx.set(f.cmd, cmd)
        ctx.set(f.length, length)
        for i, b in enumerate(payload[:6]):
            ctx.set(f.head[i], b)
        ctx.set(f.code, code)
        ctx.set(dut.i_frame.valid, 1)
        ctx.set(dut.i_class, [7, 0, 5])
        held = None
        for cycle in range(cycles):
            out["errors"] += ctx.get(dut.o_error)
            if ctx.get(dut.o_start):
                out["starts"].append(cycle)
            if ctx.get(dut.o_engine_reset):
                out["resets"].append(cycle)
            ready = int(rng.random() < 0.5)
            ctx.set(dut.o_load.ready, ready)
            if ready and ctx.get(dut.o_load.valid):
                p = dut.o_load.payload
                out["beats"].append((ctx.get(p.space), ctx.get(p.lane), ctx.get(p.addr), ctx.get(p.data)))
            ctx.set(dut.i_done, int(done_after is not None and bool(out["starts"]) and
                                    cycle >= out["starts"][0] + done_after))
            r = dut.o_reply.payload
            if ctx.get(dut.o_reply.valid):
                out.setdefault("valid_at", cycle)
                now = (ctx.get(r.cmd), ctx.get(r.length), ctx.get(r.code), ctx.get(r.cycles),
                       [ctx.get(r.classes[c]) for c in range(C)], ctx.get(r.side), ctx.get(r.addr))
                assert held in (None, now)              # stable until taken
                held = now
                take = rng.random() < 0.2
                ctx.set(dut.o_reply.ready, take)
                assert ctx.get(dut.i_frame.ready) == take     # the frame is done with when the reply is
                if take:
                    await ctx.tick()
                    ctx.set(dut.i_frame.valid, 0)
                    ctx.set(dut.o_reply.ready, 0)
                    await ctx.tick().repeat(3)
                    assert not ctx.get(dut.o_reply.valid) and not ctx.get(dut.o_load.valid)
                    out["reply"], out["run"], out["read"] = held[:3], held[3:5], held[5:]
                    return
            else:
                assert held is None                     # valid is never withdrawn
                assert not ctx.get(dut.i_frame.ready)
            await ctx.tick()
        raise AssertionError("no reply")

    sim = Simulator(m)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    return out


def test_status_replies_with_the_status_table_s_length():
    got = _execute(CMD_STATUS)
    assert got["reply"] == (CMD_STATUS | REPLY, STATUS_BYTES, 0) and not got["errors"]


@pytest.mark.parametrize("vb", [1, 2, 3, 4])
def test_write_issues_one_sign_extended_load_per_value_under_stalls_then_an_empty_reply(vb):
    lo = -(1 << (8 * vb - 1))
    values = [lo, -lo - 1, -1, 0, 1, 77 % (-lo)]
    got = _execute(CMD_WRITE, _write(1, 1, 25, vb, values), seed=vb)
    w = Shape.cast(load_layout(ENGINE).members["data"]).width     # the load port's data field keeps w bits
    wrap = lambda v: (v + (1 << (w - 1))) % (1 << w) - (1 << (w - 1))    # noqa: E731
    assert got["beats"] == [(1, 1, 25 + i, wrap(v)) for i, v in enumerate(values)]
    assert got["reply"] == (CMD_WRITE | REPLY, 0, 0)


@pytest.mark.parametrize("done_after", [1, 2, 40])
def test_run_starts_the_engine_once_and_replies_with_its_cycles_and_classes(done_after):
    got = _execute(CMD_RUN, done_after=done_after)
    assert len(got["starts"]) == 1 and not got["resets"]
    # o_start in cycle s, i_done from s + done_after: the cycles s + 1 .. s + done_after - 1, as the
    # engine's o_cycles counts them (from the cycle after i_start to the one that raises o_done)
    assert got["reply"] == (CMD_RUN | REPLY, 4 + C, 0) and got["run"] == (done_after - 1, [7, 0, 5])


def test_read_replies_with_the_words_bytes_and_passes_side_and_address_through():
    got = _execute(CMD_READ, bytes([1]) + (13).to_bytes(3, "little") + (3).to_bytes(2, "little"))
    assert got["reply"] == (CMD_READ | REPLY, 3 * C, 0) and got["read"] == (1, 13)


@pytest.mark.parametrize("side", [0, 1, 2, 3])
def test_a_residual_engine_reads_its_third_buffer_and_refuses_a_fourth(side):
    engine = ENGINE.with_(residual=True)
    got = _execute(CMD_READ, bytes([side]) + (5).to_bytes(3, "little") + (2).to_bytes(2, "little"), engine=engine)
    if side < 3:
        assert got["reply"] == (CMD_READ | REPLY, 2 * C, 0) and got["read"] == (side, 5) and not got["errors"]
    else:
        assert got["reply"] == (CMD_ERROR, 1, ERR_RANGE) and got["errors"] == 1


@pytest.mark.parametrize("code", [ERR_CHECKSUM, ERR_LENGTH, ERR_TIMEOUT, ERR_FRAMING])
def test_a_receiver_s_error_is_answered_with_its_code_and_nothing_else(code):
    got = _execute(CMD_WRITE, _write(0, 0, 0, 1, [1, 2]), code=code)
    assert got["reply"] == (CMD_ERROR, 1, code) and got["errors"] == 1
    assert not got["beats"] and not got["starts"]


ERROR_CASES = {   # name: (cmd, payload, LEN or None, the code)
    "status with a payload": (CMD_STATUS, b"\x01", None, ERR_LENGTH),
    "unknown command": (0x33, b"", None, ERR_COMMAND),
    "write shorter than its header": (CMD_WRITE, b"\x00\x00\x00\x00\x00", None, ERR_LENGTH),
    "write with 0-byte values": (CMD_WRITE, _write(0, 0, 0, 0, []), None, ERR_RANGE),
    "write with 5-byte values": (CMD_WRITE, _write(0, 0, 0, 5, [1]), None, ERR_RANGE),
    "write with a torn value": (CMD_WRITE, _write(0, 0, 0, 2, [1]) + b"\x05", None, ERR_LENGTH),
    "write to a space the engine lacks": (CMD_WRITE, _write(4, 0, 0, 1, [1]), None, ERR_RANGE),
    "write to a lane the space lacks": (CMD_WRITE, _write(0, C, 0, 1, [1]), None, ERR_RANGE),
    "write to a third constant lane without tile_shift": (CMD_WRITE, _write(2, 2, 0, 1, [1]), None, ERR_RANGE),
    "write past the weights": (CMD_WRITE, _write(1, 0, 31, 1, [1, 2]), None, ERR_RANGE),
    "write past the descriptors": (CMD_WRITE, _write(3, 0, 32, 1, [1]), None, ERR_RANGE),
    "run with a 2-byte payload": (CMD_RUN, b"\x01\x02", None, ERR_LENGTH),
    "read of 5 bytes": (CMD_READ, bytes(5), None, ERR_LENGTH),
    "read of side 2": (CMD_READ, bytes([2, 0, 0, 0, 1, 0]), None, ERR_RANGE),
    "read past the buffer": (CMD_READ, bytes([0, 0xFF, 0x01, 0, 2, 0]), None, ERR_RANGE),
    "read of more than a frame": (CMD_READ, bytes([0, 0, 0, 0]) + (MAX_PAYLOAD // C + 1).to_bytes(2, "little"),
                                  None, ERR_LENGTH),
}


@pytest.mark.parametrize("name", ERROR_CASES)
def test_each_error_path_answers_its_code_once_and_touches_nothing(name):
    cmd, payload, length, code = ERROR_CASES[name]
    got = _execute(cmd, payload, length=length)
    assert got["reply"] == (CMD_ERROR, 1, code) and got["errors"] == 1
    assert not got["beats"] and not got["starts"] and not got["resets"]


def test_a_run_past_its_limit_resets_the_engine_for_one_cycle_and_answers_err_hang():
    limit = 100
    got = _execute(CMD_RUN, limit.to_bytes(4, "little"))
    (start,) = got["starts"]
    # the limit counted down from the cycle after the start, the reset register set when it reaches 0
    assert got["resets"] == [start + limit + 2]
    assert got["reply"] == (CMD_ERROR, 1, ERR_HANG) and got["errors"] == 1


@pytest.mark.parametrize("limit", [0, 1, 2, 255, 256, 257])
def test_a_run_s_limit_counts_exactly_its_cycles(limit):
    got = _execute(CMD_RUN, limit.to_bytes(4, "little"))
    assert got["resets"] == [got["starts"][0] + limit + 2] and got["reply"] == (CMD_ERROR, 1, ERR_HANG)
    assert got["valid_at"] == got["resets"][0] + 1              # ERR_HANG: one cycle after the reset
    if limit:
        got = _execute(CMD_RUN, limit.to_bytes(4, "little"), done_after=limit + 1)
        assert got["reply"] == (CMD_RUN | REPLY, 4 + C, 0) and not got["resets"]


def test_a_run_without_a_limit_has_run_limit(monkeypatch):
    # RUN_LIMIT (2^26) made 2^7 here, to be simulated: the run without a limit in its frame
    import adderhw.hw.link_executor as executor
    monkeypatch.setattr(executor, "RUN_LIMIT", 1 << 7)
    got = _execute(CMD_RUN)
    assert got["resets"] == [got["starts"][0] + (1 << 7) + 2] and got["reply"] == (CMD_ERROR, 1, ERR_HANG)
    got = _execute(CMD_RUN, done_after=(1 << 7) + 1)
    assert got["reply"] == (CMD_RUN | REPLY, 4 + C, 0) and not got["resets"]


def test_a_run_that_ends_on_its_last_allowed_cycle_is_not_a_hang():
    limit = 60
    got = _execute(CMD_RUN, limit.to_bytes(4, "little"), done_after=limit + 1)
    assert got["reply"] == (CMD_RUN | REPLY, 4 + C, 0) and not got["resets"]


#: WRITE's spaces of ENGINE: (depth, lanes)
SPACES = {SPACE_ACT: (ENGINE.act_depth, C), SPACE_WEIGHT: (ENGINE.weight_depth, ENGINE.array.rows),
          SPACE_CONST: (ENGINE.const_depth, 2), SPACE_DESC: (ENGINE.max_layers * DESC_SLOTS, 1)}


@pytest.mark.parametrize("space", SPACES)
def test_a_write_may_end_at_the_last_word_of_its_space_but_not_one_past_it(space):
    depth, lanes = SPACES[space]
    got = _execute(CMD_WRITE, _write(space, lanes - 1, depth - 2, 2, [300, -7]))
    assert got["reply"] == (CMD_WRITE | REPLY, 0, 0) and not got["errors"]
    assert got["beats"] == [(space, lanes - 1, depth - 2, 300), (space, lanes - 1, depth - 1, -7)]
    got = _execute(CMD_WRITE, _write(space, lanes - 1, depth - 1, 2, [300, -7]))
    assert got["reply"] == (CMD_ERROR, 1, ERR_RANGE) and got["errors"] == 1 and not got["beats"]


# every address a WRITE can name, near the edges of the registers that hold it: the deepest space
# (512 words) needs 10 bits for its depth, and a frame carries at most MAX_PAYLOAD - 6 values
FAR = {"an empty write at the depth": (512, 0, True), "an empty write one past it": (513, 0, False),
       "the last word": (511, 1, True), "the first address past 10 bits": (1 << 10, 1, False),
       "the last address of 10 bits": ((1 << 10) - 1, 1, False),
       "the last address of 24 bits": ((1 << 24) - 1, 1, False),
       "a full frame from 0": (0, MAX_PAYLOAD - WRITE_HEADER, False),
       "a full frame wrapping 11 bits": ((1 << 11) - (MAX_PAYLOAD - WRITE_HEADER), MAX_PAYLOAD - WRITE_HEADER, False),
       "a full frame wrapping 24 bits": ((1 << 24) - 8, MAX_PAYLOAD - WRITE_HEADER, False)}


@pytest.mark.parametrize("name", FAR)
def test_a_write_s_address_and_count_are_checked_over_the_whole_range_the_frame_allows(name):
    addr, n, ok = FAR[name]
    got = _execute(CMD_WRITE, _write(SPACE_ACT, 0, addr, 1, [3] * n), cycles=4000)
    if ok:
        assert got["reply"] == (CMD_WRITE | REPLY, 0, 0) and got["beats"] == [(0, 0, addr + i, 3) for i in range(n)]
    else:
        assert got["reply"] == (CMD_ERROR, 1, ERR_RANGE) and got["errors"] == 1 and not got["beats"]


# READs of ENGINE (512 words of C = 3 bytes; MAX_PAYLOAD // 3 = 341 words fit a reply): the reply's
# LEN, or the error
WORDS = MAX_PAYLOAD // C
READS = {"the largest": (512 - WORDS, WORDS, 3 * WORDS), "one word too many": (0, WORDS + 1, ERR_LENGTH),
         "the largest one word late": (512 - WORDS + 1, WORDS, ERR_RANGE), "none at the depth": (512, 0, 0),
         "none past the depth": (513, 0, ERR_RANGE), "none past 10 bits": (1 << 10, 0, ERR_RANGE),
         "the last address of 24 bits": ((1 << 24) - 1, 1, ERR_RANGE), "the largest count": (0, 0xFFFF, ERR_RANGE),
         "a count past 10 bits": (0, 1 << 10, ERR_RANGE), "a count of 10 bits": (0, (1 << 10) - 1, ERR_RANGE)}


@pytest.mark.parametrize("name", READS)
def test_a_read_s_address_and_count_are_checked_over_the_whole_range_the_frame_allows(name):
    addr, count, want = READS[name]
    got = _execute(CMD_READ, bytes([1]) + addr.to_bytes(3, "little") + count.to_bytes(2, "little"))
    if want in (ERR_LENGTH, ERR_RANGE):
        assert got["reply"] == (CMD_ERROR, 1, want) and got["errors"] == 1
    else:
        assert got["reply"] == (CMD_READ | REPLY, want, 0) and not got["errors"]


@pytest.mark.parametrize("cmd,payload,code", [(CMD_STATUS, b"", 0), (CMD_STATUS, b"\x01", 0), (0x33, b"", 0),
                                              (CMD_READ, bytes([0, 0, 0, 0, 2, 0]), 0),
                                              (CMD_READ, bytes([0, 0xFF, 0x01, 0, 2, 0]), 0),
                                              (CMD_WRITE, _write(0, 0, 0, 5, [1]), 0),
                                              (CMD_WRITE, _write(0, 0, 0, 1, [1]), ERR_CHECKSUM)])
def test_a_reply_decided_from_the_header_is_valid_two_cycles_after_the_frame(cmd, payload, code):
    got = _execute(cmd, payload, code=code)
    assert got["valid_at"] == 2                 # IDLE registers the header's checks, DECIDE reads them


@pytest.mark.parametrize("cols, width", [(3, 8), (5, 12), (4, 8)])
def test_the_executor_has_no_multiplier_for_any_word_size(cols, width):
    """READ's reply length, count x bytes per word, is shifts and adds: with 3 lanes the product
    was a $mul, which an iCE40 build put in a DSP block of a multiplier-free engine."""
    from tests.hw.netlist import netlist_cells
    engine = EngineConfig(array=ArrayConfig(rows=2, cols=cols, width=width, k_max=16), mac_rows=0,
                          requant="shift")
    kinds = {kind for kind, _ in netlist_cells(CommandExecutor(engine))}
    assert "$mul" not in kinds and "$add" in kinds
