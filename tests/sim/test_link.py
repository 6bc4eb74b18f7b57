"""The board link: the UART against an independent bit-level model, the protocol's framing, and the
whole board top (hw.link.EngineLink) on Verilator under cocotb, with a UART model on its pins:
a trained digits network through the host code (adderhw.host) and malformed input of every kind."""
import numpy as np
import pytest
from amaranth.sim import Simulator

from adderhw.base.errors import BadParameter
from adderhw.base.protocol import (CMD_ERROR, CMD_READ, CMD_RUN, CMD_STATUS, CMD_WRITE, ERR_CHECKSUM, ERR_COMMAND,
                                   ERR_FRAMING, ERR_HANG, ERR_LENGTH, ERR_RANGE, ERR_TIMEOUT, MAX_PAYLOAD, REPLY, SYNC,
                                   FrameParser, LinkError, checksum, encode_frame)
from adderhw.host import value_bytes
from adderhw.hw.link import status_bytes
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
    from adderhw.engine import engine_for, network_program
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
    from adderhw.host import HostSession
    program, engine, x = digits
    HostSession(program, engine, x[:0]).run(_Replay(engine))          # the same engine: accepted
    for other in (engine.with_(mac_rows=2), engine.with_(weight_depth=engine.weight_depth * 2)):
        with pytest.raises(BadParameter, match="is not the one the program was compiled for"):
            HostSession(program, other, x[:1]).run(_Replay(engine))


class _Replay:
    """A transport that answers as the board of ``engine`` would, STATUS with its status and any other
    command with an empty reply (no simulator needed)."""

    def __init__(self, engine):
        self.engine, self.out = engine, b""

    def write(self, data):
        cmd = data[1]
        payload = status_bytes(self.engine, 100_000_000) if cmd == CMD_STATUS else b""
        self.out += encode_frame(cmd | REPLY, payload)

    def read(self, n):
        chunk, self.out = self.out[:n], self.out[n:]
        return chunk


# ---------------------------------------------------------------- acknowledged writes survive (issue 26)

def _with_const(program, entry, lane, value):
    """``program`` with M (lane 0) or B (lane 1) of constant entry ``entry`` set to ``value``."""
    import dataclasses
    layers = list(program.layers)
    for i, layer in enumerate(layers):
        if entry < layer.cout:
            name = "scale" if lane == 0 else "bias"
            values = np.array(getattr(layer, name))
            values[entry] = value
            layers[i] = dataclasses.replace(layer, **{name: values})
            return dataclasses.replace(program, layers=tuple(layers))
        entry -= layer.cout
    raise IndexError("no such constant entry")


def _signed(words, bits):
    words = np.asarray(words, dtype=np.int64)
    return np.where(words >= 1 << (bits - 1), words - (1 << bits), words)


def test_a_hang_between_the_m_and_b_frames_of_a_constant_keeps_the_acknowledged_m(digits):
    # issue 26's reproduction on the digits top, byte for byte: M of entry 42 (0x4000), acknowledged;
    # a RUN with a limit of 0 cycles, ERR_HANG (the engine's logic reset); B of entry 42, acknowledged
    from adderhw.golden.program import run_program
    from adderhw.sim.link import run_link_exchanges
    program, engine, x = digits
    images = x[:engine.lanes]
    frames = [bytes.fromhex(h) for h in ("a5020a0002002a0000040040000084", "a503040000000000f9",
                                         "a5020a0002012a0000040ccc0a00e1")]
    steps = [("host", "load_program", (program, engine))]
    steps += [s for f in frames for s in (("send", f), ("reply",))]
    steps += [("memories", ("scales", "biases")), ("host", "classify", (program, engine, images)),
              ("host", "read", (len(program.layers) % 2, 0, program.classes, engine))]
    _, *replies, memories, (classes, cycles), logits = run_link_exchanges(engine, steps)
    assert replies == [(CMD_WRITE | REPLY, b""), (CMD_ERROR, bytes([ERR_HANG])), (CMD_WRITE | REPLY, b"")]
    m, b = 0x4000, 0x0ACC0C                    # the frames' values
    want = _with_const(_with_const(program, 42, 0, m), 42, 1, b)
    golden = run_program(want, images)
    lost = run_program(_with_const(want, 42, 0, 0), images)
    assert not np.array_equal(lost.logits, golden.logits)      # the check below would see a lost M
    assert classes.tolist() == golden.classes.tolist()
    assert np.array_equal(logits.T, golden.logits)
    assert _signed(memories["scales"], engine.scale_bits)[42] == m
    assert _signed(memories["biases"], engine.bias_bits)[42] == b
