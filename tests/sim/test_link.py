"""The board link: the UART against an independent bit-level model, the protocol's framing, and the
whole board top (hw.link.EngineLink) on Verilator under cocotb, with a UART model on its pins:
a trained digits network through the host code (adderhw.base.host), malformed input of every kind, and
acknowledged writes that survive every later error, hang and reset (issue 26: its three frames byte
for byte, and random sequences of updates with disturbances between their halves, checked against
the engine's memories and the golden program); STATUS of protocol version 4 (requant, shift_terms,
tile_shift, post_lanes, field_bits, residual, rounding) byte for byte from tiny tops on Amaranth's simulator, with the constant space's x_shift
lane, and the host's refusals of a version-1 board and of a board of another requantisation."""
import dataclasses
from types import SimpleNamespace

import numpy as np
import pytest
from amaranth.sim import Simulator

from adderhw.base.config import ArrayConfig
from adderhw.base.engine import BIAS_BITS_RANGE, DESCRIPTOR_FIELDS, SCALE_BITS_RANGE, EngineConfig
from adderhw.base.errors import BadParameter
from adderhw.base.protocol import (CMD_ERROR, CMD_READ, CMD_RUN, CMD_STATUS, CMD_WRITE, ERR_CHECKSUM, ERR_COMMAND,
                                   ERR_FRAMING, ERR_HANG, ERR_LENGTH, ERR_RANGE, ERR_TIMEOUT, MAX_PAYLOAD, REPLY, SYNC,
                                   FrameParser, LinkError, checksum, encode_frame)
from adderhw.golden.program import LayerProgram, Program
from adderhw.base.host import EngineHost, HostProgram, value_bytes
from adderhw.golden.host_program import host_program
from adderhw.base.protocol import DESC_SLOTS, SPACE_ACT, SPACE_CONST, SPACE_DESC, SPACE_WEIGHT
from adderhw.hw.link import EngineLink, default_timeout, status_bytes
from adderhw.hw.uart import UartRx, UartTx, uart_divisor

# ---------------------------------------------------------------- the UART on Amaranth's simulator

D = 5


def _bits(byte, stop=1):
    """The line levels of one 8N1 byte, a bit per entry: start, LSB first, stop."""
    return [0] + [(byte >> i) & 1 for i in range(8)] + [stop]


def test_uart_tx_sends_8n1_bits_and_rx_reads_them_back():
    rng = np.random.default_rng(1)
    data = [0x00, 0xFF, 0xA5, 0x5A] + [int(b) for b in rng.integers(0, 256, 12)]
    tx, rx = UartTx(D), UartRx(D)
    from amaranth.hdl import Module
    m = Module()
    m.submodules.tx, m.submodules.rx = tx, rx
    m.d.comb += rx.i_rx.eq(tx.o_tx)
    line, got = [], []

    async def bench(ctx):
        queue = list(data)
        for _ in range(len(data) * 10 * D + 40):
            if queue:
                ctx.set(tx.i_data.valid, 1)
                ctx.set(tx.i_data.payload, queue[0])
            else:
                ctx.set(tx.i_data.valid, 0)
            if ctx.get(tx.i_data.valid) and ctx.get(tx.i_data.ready):
                queue.pop(0)
            line.append(ctx.get(tx.o_tx))
            if ctx.get(rx.o_valid):
                got.append(ctx.get(rx.o_data))
            assert not ctx.get(rx.o_error)
            await ctx.tick()

    sim = Simulator(m)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    assert got == data
    # the line itself, back to back: every bit D cycles, from the first start bit on
    start = line.index(0)
    want = [level for b in data for level in _bits(b) for _ in range(D)]
    assert line[start:start + len(want)] == want


def _drive_rx(levels):
    """UartRx fed with ``levels`` (one per cycle); returns (bytes, framing errors)."""
    rx = UartRx(D)
    got, errors = [], []

    async def bench(ctx):
        for i, level in enumerate(levels):
            ctx.set(rx.i_rx, level)
            if ctx.get(rx.o_valid):
                got.append(ctx.get(rx.o_data))
            if ctx.get(rx.o_error):
                errors.append(i)
            await ctx.tick()

    sim = Simulator(rx)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    return got, errors


def test_uart_rx_reports_a_missing_stop_bit_and_recovers_after_the_break():
    bad = [lvl for lvl in _bits(0x3C, stop=0) for _ in range(D)] + [0] * (3 * D)      # a break
    good = [lvl for lvl in _bits(0xC3) for _ in range(D)]
    got, errors = _drive_rx([1] * 7 + bad + [1] * (2 * D) + good + [1] * (2 * D))
    assert len(errors) == 1 and got == [0xC3]


def test_uart_rx_ignores_a_glitch_shorter_than_half_a_bit():
    got, errors = _drive_rx([1] * 5 + [0] * (D // 2 - 1) + [1] * (3 * D) +
                            [lvl for lvl in _bits(0x81) for _ in range(D)] + [1] * (2 * D))
    assert got == [0x81] and not errors


def test_uart_divisor_refuses_rates_the_clock_cannot_make():
    assert uart_divisor(12_000_000, 115_200) == 104
    with pytest.raises(BadParameter, match="baud must be a rate a 12000000 Hz clock makes"):
        uart_divisor(12_000_000, 4_000_000)


# ---------------------------------------------------------------- framing (host side)

def test_frames_sum_to_zero_and_parse_back_across_chunks():
    rng = np.random.default_rng(2)
    frames = [(int(rng.integers(0, 256)), bytes(rng.integers(0, 256, int(n)).astype(np.uint8)))
              for n in (0, 1, 7, 300, MAX_PAYLOAD)]
    stream = b"\x00\x13" + b"".join(encode_frame(c, p) for c, p in frames)
    for c, p in frames:
        f = encode_frame(c, p)
        assert f[0] == SYNC and sum(f[1:]) % 256 == 0 and len(f) == 5 + len(p)
    parser, out = FrameParser(), []
    for i in range(0, len(stream), 97):                # arbitrary chunking
        out += parser.feed(stream[i:i + 97])
    assert out == frames
    with pytest.raises(BadParameter, match=f"at most {MAX_PAYLOAD} bytes, not {MAX_PAYLOAD + 1}"):
        encode_frame(1, bytes(MAX_PAYLOAD + 1))
    broken = bytearray(encode_frame(3, b"abc"))
    broken[5] ^= 1
    with pytest.raises(LinkError, match="bad checksum"):
        FrameParser().feed(bytes(broken))


def test_value_bytes_is_the_fewest_signed_bytes():
    for values in ([0], [-128, 127], [128], [-129], [32767], [-32769], [(1 << 23) - 1], [-(1 << 31)]):
        n = value_bytes(values)
        lo, hi = -(1 << (8 * n - 1)), (1 << (8 * n - 1)) - 1
        assert all(lo <= v <= hi for v in values)
        if n > 1:
            lo2, hi2 = -(1 << (8 * n - 9)), (1 << (8 * n - 9)) - 1
            assert not all(lo2 <= v <= hi2 for v in values)
    with pytest.raises(BadParameter):
        value_bytes([1 << 31])


# ---------------------------------------------------------------- the board top on Verilator

@pytest.fixture(scope="module")
def digits():
    """The digits AdderNet of ``adderhw engine`` (trained once, then cached), compiled for a 4x4 engine."""
    from adderhw.golden.network_program import engine_for, network_program
    from adderhw.golden.compiler import quantize_images
    data, _, program, _ = network_program("digits", "sad", 8, progress=lambda *_: None)
    engine = engine_for(program, 4, 4, "sad", 1)
    return program, engine, quantize_images(program, data.x_test)


def test_fifty_two_digits_through_the_simulated_uart_equal_golden_and_the_cycle_model(digits):
    from adderhw.golden.engine_cycles import engine_cycles
    from adderhw.golden.program import run_program
    from adderhw.sim.link import run_link_session
    program, engine, x = digits
    images = x[:52]
    result = run_link_session(engine, program, images)
    golden = run_program(program, images)
    assert result["classes"] == [int(c) for c in golden.classes]
    assert len(set(result["classes"])) > 3                   # a real comparison, not one class
    assert result["cycles"] == [engine_cycles(engine, program)["total"]] * 13
    assert result["status"]["rows"] == 4 and result["status"]["cols"] == 4


@pytest.mark.parametrize("board,clock_mhz", [("icebreaker", 20), ("ulx3s-85f", 50)])
def test_a_session_with_each_board_top_at_its_pll_clock_equals_golden_and_the_cycle_model(digits, board, clock_mhz):
    """``adderhw run --port sim --board B --clock-mhz F``: the link at the PLL's clock and the UART
    divisor of the baud the board top uses there (boards.engine_top.board_clock, as the build)."""
    from adderhw.boards.engine_top import board_clock
    from adderhw.golden.engine_cycles import engine_cycles
    from adderhw.golden.program import run_program
    from adderhw.sim.link import run_link_session
    program, engine, x = digits
    clock = board_clock(board, clock_mhz)
    assert clock["pll"] is not None and clock["clk_hz"] <= clock_mhz * 1e6 and clock["divisor"] >= 4
    images = x[:6]
    result = run_link_session(engine, program, images, clk_hz=clock["clk_hz"], divisor=clock["divisor"])
    assert result["classes"] == [int(c) for c in run_program(program, images).classes]
    assert result["cycles"] == [engine_cycles(engine, program)["total"]] * 2
    assert result["status"]["clk_khz"] == clock["clk_hz"] // 1000
    # the simulated seconds are the board's: every image byte took at least a 10-bit UART frame
    assert result["images_seconds"] >= result["image_bytes"] * 10 / clock["baud"]


def test_the_simulated_clock_of_every_board_top_has_two_equal_halves():
    # cocotb's Clock refuses an odd period at 1 ps precision: 12 MHz (the iCEBreaker's oscillator) is
    # 83,333.3 ps, and many PLL clocks are odd too
    from adderhw.boards.engine_top import board_clock
    from adderhw.sim.link import clock_period_ps
    for board, clocks in (("icebreaker", (None, 20, 30, 33, 48, 60, 75, 100)), ("ulx3s-85f", (None, 30, 33, 48, 50, 75))):
        for mhz in clocks:
            clk = board_clock(board, mhz)["clk_hz"]
            ps = clock_period_ps(clk)
            assert ps % 2 == 0 and abs(ps - 1e12 / clk) <= 1, (board, mhz, clk, ps)


def _status():
    return encode_frame(CMD_STATUS)


def _write(space, lane, addr, vb, values):
    payload = bytes([space, lane]) + addr.to_bytes(3, "little") + bytes([vb])
    payload += b"".join((v & ((1 << (8 * vb)) - 1)).to_bytes(vb, "little") for v in values)
    return encode_frame(CMD_WRITE, payload)


def _read(side, addr, count):
    return encode_frame(CMD_READ, bytes([side]) + addr.to_bytes(3, "little") + count.to_bytes(2, "little"))


def test_malformed_frames_get_an_error_reply_and_the_next_good_frame_works(digits):
    from adderhw.sim.link import run_link_exchanges
    _, engine, _ = digits
    C = engine.lanes
    ok = (CMD_STATUS | REPLY, status_bytes(engine, 100_000_000))
    bad_sum = bytearray(_status())
    bad_sum[-1] ^= 0x40
    too_long = bytes([SYNC, CMD_WRITE]) + (MAX_PAYLOAD + 10).to_bytes(2, "little")
    too_long += bytes(MAX_PAYLOAD + 10) + bytes([checksum(too_long[1:])])
    values = [-128, 127, -1, 0, 5, -77, 100, -3]
    cases = [   # (name, steps, the replies expected)
        ("good", [("send", _status()), ("reply",)], [ok]),
        ("checksum", [("send", bytes(bad_sum)), ("reply",), ("send", _status()), ("reply",)],
         [(CMD_ERROR, bytes([ERR_CHECKSUM])), ok]),
        ("unknown command", [("send", encode_frame(0x33)), ("reply",), ("send", _status()), ("reply",)],
         [(CMD_ERROR, bytes([ERR_COMMAND])), ok]),
        ("length beyond MAX_PAYLOAD", [("send", too_long), ("reply",), ("send", _status()), ("reply",)],
         [(CMD_ERROR, bytes([ERR_LENGTH])), ok]),
        ("STATUS with a payload", [("send", encode_frame(CMD_STATUS, b"\x01")), ("reply",)],
         [(CMD_ERROR, bytes([ERR_LENGTH]))]),
        ("WRITE past the weights (a program too large)",
         [("send", _write(1, 0, engine.weight_depth - 1, 1, [1, 2])), ("reply",), ("send", _status()), ("reply",)],
         [(CMD_ERROR, bytes([ERR_RANGE])), ok]),
        ("WRITE to a lane the space lacks", [("send", _write(0, C, 0, 1, [1])), ("reply",)],
         [(CMD_ERROR, bytes([ERR_RANGE]))]),
        ("WRITE with 5-byte values", [("send", _write(0, 0, 0, 5, [1])), ("reply",)],
         [(CMD_ERROR, bytes([ERR_RANGE]))]),
        ("WRITE with a torn value", [("send", encode_frame(CMD_WRITE, bytes([0, 0, 0, 0, 0, 2, 1, 2, 3]))),
                                     ("reply",)], [(CMD_ERROR, bytes([ERR_LENGTH]))]),
        ("READ of more than a frame", [("send", _read(0, 0, MAX_PAYLOAD // C + 1)), ("reply",)],
         [(CMD_ERROR, bytes([ERR_LENGTH]))]),
        ("READ past the buffer", [("send", _read(1, engine.act_depth - 1, 2)), ("reply",)],
         [(CMD_ERROR, bytes([ERR_RANGE]))]),
        ("a stalled frame times out", [("send", _status()[:3]), ("reply",), ("send", _status()), ("reply",)],
         [(CMD_ERROR, bytes([ERR_TIMEOUT])), ok]),
        ("a byte without its stop bit", [("send", _status()[:2]), ("break", 12), ("reply",), ("wait", 200),
                                         ("send", _status()), ("reply",)],
         [(CMD_ERROR, bytes([ERR_FRAMING])), ok]),
        ("reset in the middle of a frame", [("send", _write(0, 1, 0, 1, values)[:7]), ("reset", 4),
                                            ("send", _status()), ("reply",)], [ok]),
        ("noise before a frame", [("send", b"\x00\x13\x37"), ("send", _status()), ("reply",)], [ok]),
        # no program loaded: the engine never finishes; the run's limit answers, and the device goes on
        ("RUN past its cycle limit", [("send", encode_frame(CMD_RUN, (3000).to_bytes(4, "little"))), ("reply",),
                                      ("send", _status()), ("reply",)], [(CMD_ERROR, bytes([ERR_HANG])), ok]),
        ("RUN with a 2-byte payload", [("send", encode_frame(CMD_RUN, b"\x01\x02")), ("reply",)],
         [(CMD_ERROR, bytes([ERR_LENGTH]))]),
        # WRITE, READ back (sign extension from 2-byte values); a bad WRITE changes nothing
        ("write and read back",
         [("send", _write(0, 2, 3, 2, values)), ("reply",),
          ("send", _write(0, 2, 3, 1, [9] * 8)[:-1] + b"\x00"), ("reply",),
          ("send", _read(0, 3, len(values))), ("reply",)],
         [(CMD_WRITE | REPLY, b""), (CMD_ERROR, bytes([ERR_CHECKSUM])), "readback"]),
    ]
    steps = [s for _, ss, _ in cases for s in ss]
    replies = run_link_exchanges(engine, steps)
    i = 0
    for name, ss, want in cases:
        n = sum(1 for s in ss if s[0] == "reply")
        got, i = replies[i:i + n], i + n
        if want[-1] == "readback":
            assert got[:2] == want[:2], name
            cmd, payload = got[2]
            assert cmd == CMD_READ | REPLY, name
            words = np.frombuffer(payload, dtype=np.int8).reshape(len(values), C)
            assert words[:, 2].tolist() == values, name
        else:
            assert got == want, (name, got)


def test_the_host_refuses_a_board_built_for_another_engine(digits):
    from adderhw.base.host import HostSession
    program, engine, x = digits
    HostSession(host_program(program, engine), engine, x[:0]).run(_Replay(engine))          # the same engine: accepted
    for other in (engine.with_(mac_rows=2), engine.with_(weight_depth=engine.weight_depth * 2)):
        with pytest.raises(BadParameter, match="is not the one the program was compiled for"):
            HostSession(host_program(program, engine), other, x[:1]).run(_Replay(engine))


class _Replay:
    """A transport that answers as the board of ``engine`` would, STATUS with its status (or with
    ``status``, bytes, when given) and any other command with an empty reply (no simulator needed);
    ``frames`` keeps every frame the host sent, as (cmd, payload)."""

    def __init__(self, engine, status=None):
        self.engine, self.status, self.out, self.frames = engine, status, b"", []

    def write(self, data):
        cmd = data[1]
        self.frames.append((cmd, bytes(data[4:-1])))
        status = status_bytes(self.engine, 100_000_000) if self.status is None else self.status
        self.out += encode_frame(cmd | REPLY, status if cmd == CMD_STATUS else b"")

    def read(self, n):
        chunk, self.out = self.out[:n], self.out[n:]
        return chunk


# ------------------- STATUS version 4: requant, shift_terms, tile_shift, post_lanes, field_bits, residual, rounding

#: (requant, shift_terms, tile_shift, residual, rounding) and the STATUS bytes the protocol's table
#: gives them (requant's code: 0 mul, 1 shift; rounding's: 0 half_up, 1 half_even), requant to
#: tile_shift and residual to rounding; together every value of each field
STATUS_CASES = [pytest.param(r, t, ts, res, rnd, mid, last,
                             id=f"{r}-{t}-{'tile_shift' if ts else 'no_tile_shift'}-{'residual-' if res else ''}{rnd}")
                for r, t, ts, res, rnd, mid, last in (
                    ("mul", 1, False, False, "half_up", bytes([0, 1, 0]), bytes([0, 0])),
                    ("mul", 2, True, True, "half_even", bytes([0, 2, 1]), bytes([1, 1])),
                    ("shift", 1, True, False, "half_even", bytes([1, 1, 1]), bytes([0, 1])),
                    ("shift", 2, False, True, "half_up", bytes([1, 2, 0]), bytes([1, 0])))]


def _tiny_engine(requant="mul", shift_terms=2, tile_shift=False, cols=1, post_lanes=0, act_depth=16, residual=False,
                 rounding="half_up"):
    """A 1x1 all-adder engine with 16-word buffers: enough for the link, quick to simulate."""
    return EngineConfig(array=ArrayConfig(rows=1, cols=cols, width=4, k_max=4), mac_rows=0, act_depth=act_depth,
                        weight_depth=16, const_depth=4, max_layers=1, scale_bits=8, bias_bits=16,
                        requant=requant, shift_terms=shift_terms, tile_shift=tile_shift, post_lanes=post_lanes,
                        residual=residual, rounding=rounding)


def _link_replies(engine, frames, clk_hz=1_000_000):
    """``frames`` sent one by one to EngineLink(engine) on Amaranth's simulator, the UART's bits
    driven and sampled here; returns the reply frames (cmd, payload), one per frame."""
    dut = EngineLink(engine, divisor=D, clk_hz=clk_hz)
    line = bytearray()                     # the bytes on o_tx

    async def monitor(ctx):                # 8N1 sampled mid-bit
        while True:
            await ctx.tick()
            if ctx.get(dut.o_tx) == 0:
                await ctx.tick().repeat(D // 2)
                byte = 0
                for i in range(8):
                    await ctx.tick().repeat(D)
                    byte |= ctx.get(dut.o_tx) << i
                await ctx.tick().repeat(D)
                assert ctx.get(dut.o_tx) == 1, "a reply byte without its stop bit"
                line.append(byte)

    replies = []

    async def host(ctx):
        parser = FrameParser()
        for frame in frames:
            for b in frame:
                for level in _bits(b):
                    ctx.set(dut.i_rx, level)
                    await ctx.tick().repeat(D)
            for _ in range(200 * 10 * D):   # a reply of up to 200 bytes
                got = parser.feed(bytes(line))
                line.clear()
                if got:
                    break
                await ctx.tick()
            assert len(got) == 1, f"{len(got)} replies to one frame"
            replies.append(got[0])

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(monitor, background=True)
    sim.add_testbench(host)
    sim.run()
    return replies


@pytest.mark.parametrize("requant,shift_terms,tile_shift,residual,rounding,mid,last", STATUS_CASES)
def test_status_reports_the_engines_requantisation_and_tile_shift_and_the_constant_lanes_follow(
        requant, shift_terms, tile_shift, residual, rounding, mid, last):
    engine = _tiny_engine(requant, shift_terms, tile_shift, residual=residual, rounding=rounding)
    frames = [_status(), _write(SPACE_CONST, 1, 0, 1, [-3, 5]), _write(SPACE_CONST, 2, 0, 1, [-8, 7, 0, -1]),
              _write(SPACE_CONST, 3, 0, 1, [1])]
    status, lane1, lane2, lane3 = _link_replies(engine, frames)
    # the protocol's table, byte for byte: version 4, SAD, 1x1, 4 bits, no MAC rows, depths 2^4, 2^4,
    # 2^2, 1 layer, MAX_PAYLOAD 1024, 1000 kHz, then requant, shift_terms, tile_shift, one
    # post-processing lane, 8-bit descriptor fields (the least: MAX_SHIFT = 62 needs 7), residual, rounding
    want = bytes([4, 0, 1, 1, 4, 0, 4, 4, 2, 1]) + (1024).to_bytes(2, "little") + (1000).to_bytes(4, "little") + mid \
        + bytes([1, 8]) + last
    assert status == (CMD_STATUS | REPLY, want)
    assert lane1 == (CMD_WRITE | REPLY, b"")
    # x_shift's lane exists only on an engine with the per-tile shift; there is never a fourth
    assert lane2 == ((CMD_WRITE | REPLY, b"") if tile_shift else (CMD_ERROR, bytes([ERR_RANGE])))
    assert lane3 == (CMD_ERROR, bytes([ERR_RANGE]))


@pytest.mark.parametrize("requant,shift_terms,tile_shift,residual,rounding,mid,last", STATUS_CASES)
def test_the_host_decodes_status_into_names(requant, shift_terms, tile_shift, residual, rounding, mid, last):
    engine = _tiny_engine(requant, shift_terms, tile_shift, residual=residual, rounding=rounding)
    s = EngineHost(_Replay(engine)).status()
    assert (s["version"], s["rows"], s["cols"], s["width"], s["clk_khz"]) == (4, 1, 1, 4, 100_000)
    assert (s["post_lanes"], s["field_bits"]) == (1, 8)
    assert (s["requant"], s["shift_terms"], s["tile_shift"]) == (requant, shift_terms, tile_shift)
    assert s["tile_shift"] is tile_shift and s["residual"] is residual and s["rounding"] == rounding
    assert EngineHost(_Replay(engine)).check_engine(engine) == s


def test_a_version_4_host_refuses_a_version_1_2_or_3_board_in_one_sentence():
    # what a version-1 board of _tiny_engine() sends: 16 bytes, no requant, shift_terms or tile_shift;
    # a version-2 board: 19 bytes, no post_lanes or field_bits; a version-3 board: 21, no residual or rounding
    v1 = bytes([1, 0, 1, 1, 4, 0, 4, 4, 2, 1]) + (1024).to_bytes(2, "little") + (1000).to_bytes(4, "little")
    v2 = bytes([2]) + v1[1:] + bytes([0, 2, 0])
    v3 = bytes([3]) + v1[1:] + bytes([0, 2, 0, 1, 8])
    engine = _tiny_engine()
    for old, version in ((v1, 1), (v2, 2), (v3, 3)):
        for run in (lambda host: host.status(), lambda host: host.check_engine(engine)):
            with pytest.raises(LinkError) as info:
                run(EngineHost(_Replay(engine, status=old)))
            msg = str(info.value)
            assert msg.startswith(f"the board speaks host-link protocol version {version} and this host speaks "
                                  f"version 4")
            assert "field_bits, residual and rounding" in msg and "rebuild the board" in msg
            assert msg.count(". ") == 0 and "\n" not in msg
    with pytest.raises(LinkError, match="protocol version 5 and this host speaks version 4; update adderhw"):
        EngineHost(_Replay(engine, status=bytes([5]) + v1[1:] + bytes(7))).status()
    with pytest.raises(LinkError, match="has 22 bytes, not the 23 of protocol version 4"):
        EngineHost(_Replay(engine, status=bytes([4]) + v1[1:] + bytes(6))).status()
    with pytest.raises(LinkError, match="requant code 2, which protocol version 4 does not define"):
        EngineHost(_Replay(engine, status=bytes([4]) + v1[1:] + bytes([2, 1, 0, 1, 8, 0, 0]))).status()
    with pytest.raises(LinkError, match="rounding code 2, which protocol version 4 does not define"):
        EngineHost(_Replay(engine, status=bytes([4]) + v1[1:] + bytes([0, 1, 0, 1, 8, 0, 2]))).status()
    with pytest.raises(LinkError, match="the device reports residual 2, not 0 or 1"):
        EngineHost(_Replay(engine, status=bytes([4]) + v1[1:] + bytes([0, 1, 0, 1, 8, 2, 0]))).status()


@pytest.mark.parametrize("board,host,message", [
    (dict(requant="mul"), dict(requant="shift"), "has requant 'mul' but the program was compiled for requant 'shift'"),
    (dict(requant="shift"), dict(requant="mul"), "has requant 'shift' but the program was compiled for requant 'mul'"),
    (dict(requant="shift", shift_terms=1), dict(requant="shift", shift_terms=2),
     "has shift_terms 1 but the program was compiled for shift_terms 2"),
    (dict(tile_shift=False), dict(tile_shift=True), "has tile_shift False but the program was compiled for "
                                                    "tile_shift True"),
    (dict(requant="shift", tile_shift=True), dict(requant="shift", tile_shift=False),
     "has tile_shift True but the program was compiled for tile_shift False"),
    (dict(cols=2, post_lanes=1), dict(cols=2), "has post_lanes 1 but the program was compiled for post_lanes 2"),
    (dict(cols=2), dict(cols=2, post_lanes=1), "has post_lanes 2 but the program was compiled for post_lanes 1"),
    (dict(residual=False), dict(residual=True), "has residual False but the program was compiled for residual True"),
    (dict(rounding="half_up"), dict(rounding="half_even"),
     "has rounding 'half_up' but the program was compiled for rounding 'half_even'"),
    # a board of 1,000 words reports 2^10 and passes the depth check, but its fields have a bit less
    (dict(act_depth=1000), dict(act_depth=1024), "has 11-bit descriptor fields but the program needs 12"),
])
def test_the_host_refuses_a_board_of_another_requantisation_tile_shift_or_post_lanes_naming_the_field(
        board, host, message):
    with pytest.raises(BadParameter) as info:
        EngineHost(_Replay(_tiny_engine(**board))).check_engine(_tiny_engine(**host))
    msg = str(info.value)
    assert msg.startswith(f"the board's engine {message} (")
    assert msg.endswith("; build the board for this network") and "\n" not in msg


def test_a_mul_boards_shift_terms_is_not_refused():
    # a "mul" engine's post-processing multiplies: shift_terms builds nothing, so it may differ
    board = _tiny_engine("mul", shift_terms=1)
    assert EngineHost(_Replay(board)).check_engine(_tiny_engine("mul", shift_terms=2))["shift_terms"] == 1


def _const_writes(frames):
    """{lane: values} of the SPACE_CONST WRITE frames among ``frames`` (cmd, payload), from address 0."""
    out = {}
    for cmd, p in frames:
        if cmd == CMD_WRITE and p[0] == SPACE_CONST:
            vb = p[5]
            vals = [int.from_bytes(p[i:i + vb], "little", signed=True) for i in range(6, len(p), vb)]
            out.setdefault(p[1], []).extend(vals)
            assert int.from_bytes(p[2:5], "little") == len(out[p[1]]) - len(vals)
    return out


@pytest.mark.parametrize("tile_shift", [False, True])
@pytest.mark.parametrize("has_x_shifts", [False, True])
def test_load_program_writes_the_x_shift_lane_only_on_a_tile_shift_engine(tile_shift, has_x_shifts):
    consts = np.array([[3, -100], [-2, 7], [0, 1], [5, -5]])
    mem = SimpleNamespace(weights=np.zeros((0, 1), dtype=np.int64), consts=consts, descriptors=[])
    if has_x_shifts:
        mem.x_shifts = np.array([-8, 7, 0, -1])
    transport = _Replay(_tiny_engine())
    EngineHost(transport).load_program(HostProgram(mem, (1, 1, 1), 0), _tiny_engine(tile_shift=tile_shift))
    want = {0: [3, -2, 0, 5], 1: [-100, 7, 1, -5]}
    if tile_shift:          # the program's shifts, or 0 (no shift) for a program without any
        want[2] = [-8, 7, 0, -1] if has_x_shifts else [0, 0, 0, 0]
    assert _const_writes(transport.frames) == want


# ---------------------------------------------------------------- acknowledged writes survive (issue 26)

def _table_exponents(program, engine):
    """Per constant entry, the e of its layer's normal form in ``engine``'s tables
    (golden.requant_normal: the table's M and B are the program's divided by 2^e, its shift S − e)."""
    from adderhw.golden.program import memory_images
    descs = memory_images(program, engine).descriptors
    return np.concatenate([np.full(layer.cout, layer.shift - d["shift"]) for layer, d in zip(program.layers, descs)])


def _with_const(program, entry, lane, value, exponents):
    """``program`` with M (lane 0) or B (lane 1) of constant entry ``entry`` set to what a table
    value ``value`` means there: ``value``·2^e with e the entry's layer's normal-form exponent
    (:func:`_table_exponents`), so that (acc·M·2^e + B·2^e + 2^(S−1)) >> S equals the engine's
    (acc·M + B + 2^(S−e−1)) >> (S − e); the program's format is widened to hold it."""
    value = int(value) << int(exponents[entry])
    layers = list(program.layers)
    for i, layer in enumerate(layers):
        if entry < layer.cout:
            name = "scale" if lane == 0 else "bias"
            values = np.array(getattr(layer, name))
            values[entry] = value
            layers[i] = dataclasses.replace(layer, **{name: values})
            return dataclasses.replace(program, layers=tuple(layers), scale_bits=SCALE_BITS_RANGE[1],
                                       bias_bits=BIAS_BITS_RANGE[1])
        entry -= layer.cout
    raise IndexError("no such constant entry")


def _signed(words, bits):
    words = np.asarray(words, dtype=np.int64)
    return np.where(words >= 1 << (bits - 1), words - (1 << bits), words)


def test_a_hang_between_the_m_and_b_frames_of_a_constant_keeps_the_acknowledged_m(digits):
    # issue 26's reproduction on the digits top, byte for byte: M of entry 42 (0x4000), acknowledged;
    # a RUN with a limit of 0 cycles, ERR_HANG (the engine's logic reset); B of entry 42, acknowledged
    from adderhw.golden.engine_cycles import engine_cycles
    from adderhw.golden.program import run_program
    from adderhw.sim.link import run_link_exchanges
    program, engine, x = digits
    images = x[:engine.lanes]
    frames = [bytes.fromhex(h) for h in ("a5020a0002002a0000040040000084", "a503040000000000f9",
                                         "a5020a0002012a0000040ccc0a00e1")]
    hp = host_program(program, engine)
    steps = [("host", "load_program", (hp, engine))]
    steps += [s for f in frames for s in (("send", f), ("reply",))]
    steps += [("memories", ("scales", "biases")), ("host", "classify", (hp, engine, images)),
              ("host", "read", (len(program.layers) % 2, 0, program.classes, engine))]
    _, *replies, memories, (classes, cycles), logits = run_link_exchanges(engine, steps)
    assert replies == [(CMD_WRITE | REPLY, b""), (CMD_ERROR, bytes([ERR_HANG])), (CMD_WRITE | REPLY, b"")]
    m, b = 0x4000, 0x0ACC0C                    # the frames' values
    exps = _table_exponents(program, engine)
    want = _with_const(_with_const(program, 42, 0, m, exps), 42, 1, b, exps)
    golden = run_program(want, images)
    lost = run_program(_with_const(want, 42, 0, 0, exps), images)
    assert not np.array_equal(lost.logits, golden.logits)      # the check below would see a lost M
    assert classes.tolist() == golden.classes.tolist()
    assert np.array_equal(logits.T, golden.logits)
    assert cycles == engine_cycles(engine, want)["total"]
    assert _signed(memories["scales"], engine.scale_bits)[42] == m
    assert _signed(memories["biases"], engine.bias_bits)[42] == b


SEQUENCES = 40      # random sequences of the randomised protocol test, each checked on its own


def _small_program(rng, width):
    """A multiplier layer, an adder layer (max-pooled) and a classifier, with random weights and
    constants: a program that loads in a few hundred bytes and runs in about a thousand cycles, so
    that a random sequence is cheap, and in which a wrong constant nearly always shows in the logits
    (the memory checks see it regardless)."""
    lo, hi = -(1 << (width - 1)), (1 << (width - 1)) - 1
    w = lambda *shape: rng.integers(lo, hi + 1, shape)                               # noqa: E731
    layers = (LayerProgram("l0", "mul", w(3, 1, 3, 3), rng.integers(-200, 200, 3), rng.integers(-3000, 3000, 3),
                           6, (4, 4), 1, 1, True, "none"),
              LayerProgram("l1", "add", w(4, 3, 3, 3), rng.integers(-200, 200, 4), rng.integers(-3000, 3000, 4),
                           8, (4, 4), 1, 1, True, "max2"),
              LayerProgram("fc", "mul", w(4, 4, 2, 2), rng.integers(1, 100, 4), rng.integers(-100, 100, 4),
                           6, (2, 2), 1, 0, False, "none"))
    return Program("link-writes", width, layers, input_frac=4)


class _MemoryModel:
    """What the engine's memories must hold, as a model: every acknowledged write and nothing else
    (hw.engine's memories start at 0), and the program they make."""

    def __init__(self, program, engine):
        from adderhw.golden.program import memory_images
        self.program, self.engine = program, engine
        mem = memory_images(program, engine)
        self.weights = np.zeros((engine.weight_depth, engine.array.rows), dtype=np.int64)
        self.weights[:len(mem.weights)] = mem.weights
        self.consts = np.zeros((engine.const_depth, 2), dtype=np.int64)
        self.consts[:len(mem.consts)] = mem.consts
        self.descs = np.zeros(engine.max_layers * DESC_SLOTS, dtype=np.int64)
        for i, d in enumerate(mem.descriptors):
            self.descs[i * DESC_SLOTS:i * DESC_SLOTS + len(DESCRIPTOR_FIELDS)] = [d[f] for f in DESCRIPTOR_FIELDS]
        self.program_descs = self.descs.copy()
        self.n_consts, self.n_weights = len(mem.consts), len(mem.weights)
        self.exponents = _table_exponents(program, engine)
        self.act0 = np.zeros((engine.act_depth, engine.lanes), dtype=np.int64)

    def write(self, space, lane, addr, values):
        for i, v in enumerate(values):
            if space == SPACE_CONST:
                self.consts[addr + i, lane] = v
                self.program = _with_const(self.program, addr + i, lane, v, self.exponents)
            elif space == SPACE_WEIGHT:
                self.weights[addr + i, lane] = v
            elif space == SPACE_DESC:
                self.descs[addr + i] = v
            else:
                self.act0[addr + i, lane] = v

    def intact(self):
        """The descriptors are the program's (so a run takes the program's cycles)."""
        return np.array_equal(self.descs, self.program_descs)

    def memories_check(self, why, act_words):
        """A check of a "memories" step's result against the model as it is now: every word of the
        weights, constants and descriptors, and the first ``act_words`` words of activation buffer 0
        (the images; a RUN writes the rest of both buffers)."""
        e, a = self.engine, self.engine.array
        want = {"weights": self.weights.copy(), "scales": self.consts[:, 0].copy(), "biases": self.consts[:, 1].copy(),
                "descs": self.descs & ((1 << e.field_bits) - 1), "act0": self.act0[:act_words].copy()}

        def lanes(words, n, bits):
            return np.stack([_signed((np.asarray(words, dtype=np.int64) >> (bits * i)) & ((1 << bits) - 1), bits)
                             for i in range(n)], axis=1)

        def check(got):
            have = {"weights": lanes(got["weights"], a.rows, a.width), "scales": _signed(got["scales"], e.scale_bits),
                    "biases": _signed(got["biases"], e.bias_bits), "descs": np.asarray(got["descs"]),
                    "act0": lanes(got["act0"][:act_words], e.lanes, a.width)}
            for name, w in want.items():
                if not len(w):
                    continue
                bad = np.flatnonzero((have[name] != w).reshape(len(w), -1).any(axis=1))
                assert not len(bad), f"{why}: {name} words {bad[:8].tolist()} hold " \
                                     f"{have[name][bad[:8]].tolist()}, not the acknowledged {w[bad[:8]].tolist()}"
        return check


class _Plan:
    """Steps for sim.link_tb's ``exchanges`` and, for each step that gives a result, its check."""

    MEMORIES = ("weights", "scales", "biases", "descs", "act0")

    def __init__(self, rng, model):
        self.rng, self.model, self.engine = rng, model, model.engine
        self.steps, self.checks, self.kinds = [], [], []
        self.where = ""

    def pick(self, options):
        return options[int(self.rng.integers(0, len(options)))]

    def expect(self, step, want):
        self.steps.append(step)
        self.checks.append((self.where, want))

    def frame(self, data, want, gap=0):
        """``data`` sent (with ``gap`` idle clocks between its bytes: a slow host), then its reply."""
        if gap:
            for b in data:
                self.steps += [("send", bytes([b])), ("wait", gap)]
        else:
            self.steps.append(("send", data))
        self.expect(("reply",), want)

    def write(self, space, lane, addr, values, gap=0):
        """An acknowledged WRITE: the model takes it."""
        vb = max(value_bytes(values), int(self.rng.integers(1, 5)))
        self.frame(_write(space, lane, addr, vb, values), (CMD_WRITE | REPLY, b""), gap)
        self.model.write(space, lane, addr, values)

    def check_memories(self, act_words):
        self.expect(("memories", self.MEMORIES), self.model.memories_check(self.where, act_words))

    # ---- disturbances: each changes nothing the memories must hold
    def disturb(self, space, lane, addr, cycles, allow_run=True):
        rng, e = self.rng, self.engine
        kinds = ["bad checksum", "bad length", "unknown command", "out of range", "truncated", "framing",
                 "reset mid-frame", "reset", "stall", "slow status", "read"] + (["hang"] if allow_run else [])
        kind = kinds[int(rng.integers(0, len(kinds)))]
        self.kinds.append(kind)
        garbage = [int(rng.integers(-100, 100))]
        target = _write(space, lane, addr, 4, garbage)       # what the frames below would write
        err = lambda code: (CMD_ERROR, bytes([code]))        # noqa: E731
        if kind == "bad checksum":                           # a payload or CHK byte flipped in flight
            f = bytearray(target)
            f[int(rng.integers(4, len(f)))] ^= 1 << int(rng.integers(0, 8))
            self.frame(bytes(f), err(ERR_CHECKSUM))
        elif kind == "bad length":
            self.frame(self.pick([encode_frame(CMD_WRITE, target[4:-2]),           # a torn value
                                  encode_frame(CMD_STATUS, b"\x01"), encode_frame(CMD_RUN, b"\x01\x02"),
                                  encode_frame(CMD_READ, target[4:9])]), err(ERR_LENGTH))
        elif kind == "unknown command":
            self.frame(encode_frame(int(rng.choice([0x00, 0x05, 0x33, 0x7F, 0x82])), target[4:-1]), err(ERR_COMMAND))
        elif kind == "out of range":
            depth = {SPACE_ACT: e.act_depth, SPACE_CONST: e.const_depth, SPACE_WEIGHT: e.weight_depth,
                     SPACE_DESC: e.max_layers * DESC_SLOTS}[space]
            lanes = {SPACE_ACT: e.lanes, SPACE_CONST: 3 if e.tile_shift else 2, SPACE_WEIGHT: e.array.rows,
                     SPACE_DESC: 1}[space]
            self.frame(self.pick([_write(space, lanes, addr, 4, garbage), _write(space, lane, depth - 1, 4, garbage * 2),
                                  encode_frame(CMD_WRITE, target[4:9] + bytes([int(rng.choice([0, 5, 255]))]) +
                                               bytes(5))]), err(ERR_RANGE))
        elif kind == "truncated":                            # cut short: dropped after the timeout
            self.frame(target[:int(rng.integers(2, len(target)))], err(ERR_TIMEOUT))
        elif kind == "framing":                              # the line held low inside a frame
            self.steps += [("send", target[:int(rng.integers(2, len(target)))]), ("break", 12)]
            self.expect(("reply",), err(ERR_FRAMING))
            self.steps.append(("wait", 200))
        elif kind == "reset mid-frame":                      # the board's reset, part of a frame in
            self.steps += [("send", target[:int(rng.integers(1, len(target)))]), ("reset", int(rng.integers(1, 5)))]
            self.expect(("reply",), None)
        elif kind == "reset":
            self.steps.append(("reset", int(rng.integers(1, 5))))
        elif kind == "stall":                                # the host quiet for a while: no reply
            self.steps.append(("wait", int(rng.integers(1, default_timeout(8) + 1000))))
        elif kind == "slow status":                          # stalls between bytes, shorter than the timeout
            from adderhw.sim.link import SIM_CLK_HZ
            near = rng.random() < 0.2                        # sometimes just short of the timeout
            gap = default_timeout(8) - int(rng.integers(100, 200)) if near else int(rng.integers(1, 400))
            self.frame(encode_frame(CMD_STATUS), (CMD_STATUS | REPLY, status_bytes(e, SIM_CLK_HZ)), gap=gap)
        elif kind == "read":
            self.frame(_read(int(rng.integers(0, 2)), 0, 2), lambda got: got[0] == CMD_READ | REPLY)
        else:                                                # a RUN past a limit below the program's cycles
            self.steps.append(("send", encode_frame(CMD_RUN, int(rng.integers(0, cycles - 16)).to_bytes(4, "little"))))
            if self.model.intact():
                self.expect(("reply",), err(ERR_HANG))
            else:                                            # a descriptor half rewritten: the run may end
                self.expect(("reply",), lambda got: got == err(ERR_HANG) or got[0] == CMD_RUN | REPLY)

    def disturbances(self, *args, **kw):
        for _ in range(int(self.rng.integers(0, 3))):
            self.disturb(*args, **kw)

    # ---- the halves of multi-frame updates, disturbed
    def update(self, cycles):
        rng, b = self.rng, self.model
        gap = lambda: int(rng.integers(1, 300)) if rng.random() < 0.2 else 0          # noqa: E731
        kind = rng.choice(["const", "const", "const", "weight", "desc"])
        if kind == "const":        # M and B of n entries: a frame per lane or per entry, either order
            n = int(rng.integers(1, 4))
            addr = int(rng.integers(0, b.n_consts - n + 1))
            first_fc = b.n_consts - b.program.classes
            values = {0: [int(rng.integers(1, 100) if e >= first_fc else rng.integers(-200, 200))
                          for e in range(addr, addr + n)],
                      1: [int(rng.integers(-100, 100) if e >= first_fc else rng.integers(-3000, 3000))
                          for e in range(addr, addr + n)]}
            order = [0, 1] if rng.random() < 0.8 else [1, 0]
            if rng.random() < 0.5:
                writes = [(SPACE_CONST, lane, addr, values[lane]) for lane in order]
            else:
                writes = [(SPACE_CONST, lane, addr + i, [values[lane][i]]) for i in range(n) for lane in order]
        elif kind == "weight":     # a weight overwritten, then restored
            addr, lane = int(rng.integers(0, b.n_weights)), int(rng.integers(0, self.engine.array.rows))
            lo = -(1 << (self.engine.array.width - 1))
            writes = [(SPACE_WEIGHT, lane, addr, [int(rng.integers(lo, -lo))]),
                      (SPACE_WEIGHT, lane, addr, [int(b.weights[addr, lane])])]
        else:                      # a descriptor slot overwritten, then restored
            slot = int(rng.integers(0, len(b.program.layers) * DESC_SLOTS))
            writes = [(SPACE_DESC, 0, slot, [int(b.descs[slot]) ^ 1]), (SPACE_DESC, 0, slot, [int(b.descs[slot])])]
        for space, lane, addr, values in writes:
            self.disturbances(space, lane, addr, cycles)
            self.write(space, lane, addr, values, gap())
            if rng.random() < 0.3:     # an acknowledged half is in the memory already, alone
                self.check_memories(0)
        self.disturbances(*writes[-1][:3], cycles)

    def classify(self, images):
        """The images written lane by lane (disturbed, but not by a RUN: a RUN spends them), the
        memories checked, a RUN and the logits: all against the golden program of the model."""
        from adderhw.golden.engine_cycles import engine_cycles
        from adderhw.golden.program import run_program
        flat = images.reshape(len(images), -1)
        for c in range(len(images)):
            self.disturbances(SPACE_ACT, c, 0, 0, allow_run=False)
            self.write(SPACE_ACT, c, 0, flat[c].tolist())
        self.check_memories(flat.shape[1])
        program, e = self.model.program, self.engine
        golden = run_program(program, images)
        cycles = engine_cycles(e, program)["total"]
        run = cycles.to_bytes(4, "little") + bytes(int(c) for c in golden.classes)
        self.frame(encode_frame(CMD_RUN, (2 * cycles + 1000).to_bytes(4, "little")), (CMD_RUN | REPLY, run))
        L = len(program.layers)
        logits = golden.logits.T.astype(np.int8).tobytes()                   # words = classes, lanes = images
        self.frame(_read(L % 2, 0, program.classes), (CMD_READ | REPLY, logits))
        return cycles


def test_random_errors_hangs_resets_and_stalls_between_halves_of_updates_lose_no_acknowledged_write(digits):
    from adderhw.sim.link import run_link_exchanges
    _, engine, _ = digits
    rng = np.random.default_rng(26)
    program = _small_program(rng, engine.array.width)
    model = _MemoryModel(program, engine)
    plan = _Plan(rng, model)
    lo, hi = -(1 << (engine.array.width - 1)), (1 << (engine.array.width - 1))
    plan.where = "loading the program"
    plan.expect(("host", "load_program", (host_program(program, engine), engine)), None)
    cycles = plan.classify(rng.integers(lo, hi, (engine.lanes, *program.input_shape)))
    for s in range(SEQUENCES):
        plan.where = f"sequence {s}"
        for _ in range(int(rng.integers(1, 3))):
            plan.update(cycles)
        cycles = plan.classify(rng.integers(lo, hi, (engine.lanes, *program.input_shape)))
    assert set(plan.kinds) >= {"bad checksum", "bad length", "unknown command", "out of range", "truncated",
                               "framing", "reset mid-frame", "reset", "stall", "slow status", "read", "hang"}
    # a reply (the longest: a RUN, or ERR_TIMEOUT) comes within this; waiting for none takes as long
    results = run_link_exchanges(engine, plan.steps, reply_timeout_cycles=default_timeout(8) + 2 * cycles + 1000)
    assert len(results) == len(plan.checks)
    for (where, want), got in zip(plan.checks, results):
        if callable(want):
            assert want(got) in (None, True), (where, got)
        else:
            assert got == want, (where, got, want)
