"""hw.link_receiver.FrameReceiver on Amaranth's simulator: a good frame's fields and buffer, its
beat held (and bytes dropped) until taken, its latency, and each way a frame ends in an error."""
import numpy as np
import pytest
from amaranth.sim import Simulator

from adderhw.base.errors import BadParameter
from adderhw.base.protocol import (CMD_STATUS, CMD_WRITE, ERR_CHECKSUM, ERR_FRAMING, ERR_LENGTH, ERR_TIMEOUT,
                                   MAX_PAYLOAD, SYNC, checksum, encode_frame)
from adderhw.hw.compare import below
from adderhw.hw.lfsr_timer import PRIMITIVE_TAPS, lfsr_polynomial, lfsr_state
from adderhw.hw.link_receiver import FrameReceiver

TIMEOUT = 50


def test_the_timeout_must_be_a_positive_number_of_cycles_that_the_timer_can_count():
    with pytest.raises(BadParameter, match="timeout"):
        FrameReceiver(0)
    with pytest.raises(BadParameter, match="timeout must be an integer from 1 to 4294967294, not 4294967295"):
        FrameReceiver((1 << 32) - 1)


def test_below_is_less_than_a_constant_for_every_value_and_limit_of_five_bits():
    from amaranth.hdl import Module, Signal
    x = Signal(5)
    limits = range(-1, 35)
    outs = [Signal(name=f"below_{i}") for i in range(len(limits))]
    m = Module()
    m.d.comb += [o.eq(below(x, limit)) for o, limit in zip(outs, limits)]

    async def bench(ctx):
        for v in range(32):
            ctx.set(x, v)
            assert [ctx.get(o) for o in outs] == [int(v < limit) for limit in limits], v

    sim = Simulator(m)
    sim.add_testbench(bench)
    sim.run()


def _prime_factors(n):
    out, p = set(), 2
    while p * p <= n:
        while n % p == 0:
            out.add(p)
            n //= p
        p += 1
    return out | ({n} if n > 1 else set())


@pytest.mark.parametrize("n", sorted(PRIMITIVE_TAPS))
def test_each_timer_polynomial_is_primitive_so_the_timer_counts_2_to_the_n_minus_1_states(n):
    # x has order 2^n - 1 modulo the polynomial: x^(2^n - 1) = 1, and no x^((2^n - 1) / q) for a prime q
    period = (1 << n) - 1
    assert lfsr_polynomial(n) >> n == 1 and lfsr_state(n, period) == 1 and lfsr_state(n, 0) == 1
    assert all(lfsr_state(n, period // q) != 1 for q in _prime_factors(period))


def test_the_timer_state_after_t_steps_is_the_hardware_s_step_repeated():
    n, poly = 7, lfsr_polynomial(7)
    state, seen = 1, []
    for t in range(300):
        assert lfsr_state(n, t) == state
        seen.append(state)
        state = ((state << 1) ^ (poly if state >> (n - 1) & 1 else 0)) & ((1 << n) - 1)
    assert len(set(seen[:127])) == 127 and seen[127] == 1


def _receive(events, hold=0, read=0, timeout=TIMEOUT):
    """Play ``events`` (a byte, ("gap", n) idle cycles, or ("error",) a framing error; a byte or an
    error takes two cycles, the second idle, as a UART's bytes are never back to back) into a
    receiver; each frame's beat is taken ``hold`` cycles after it becomes valid, its first ``read``
    buffer bytes read before. Returns [(cycle valid, cycle taken, fields, buffer bytes)], and checks
    that a beat's payload stays stable until it is taken."""
    dut = FrameReceiver(timeout)
    frames = []
    events = list(events) + [("gap", max(hold, read) + 20)]      # time for the last frame to be taken

    async def feed(ctx):
        for ev in events:
            if ev == ("error",):
                ctx.set(dut.i_byte_error, 1)
            elif isinstance(ev, tuple):
                if ev[1]:
                    await ctx.tick().repeat(ev[1])
                continue
            else:
                ctx.set(dut.i_byte.payload, ev)
                ctx.set(dut.i_byte.valid, 1)
            await ctx.tick()
            ctx.set(dut.i_byte.valid, 0)
            ctx.set(dut.i_byte_error, 0)
            await ctx.tick()

    async def take(ctx):
        cycle = 0
        while True:
            if ctx.get(dut.o_frame.valid):
                start, p = cycle, dut.o_frame.payload
                fields = {"cmd": ctx.get(p.cmd), "length": ctx.get(p.length),
                          "head": bytes(ctx.get(p.head[i]) for i in range(6)), "code": ctx.get(p.code)}
                buf = []
                for i in range(max(hold, read)):
                    if i < read:
                        ctx.set(dut.o_payload.addr, i)
                    await ctx.tick()
                    cycle += 1
                    assert ctx.get(dut.o_frame.valid)               # valid is never withdrawn
                    assert {"cmd": ctx.get(p.cmd), "length": ctx.get(p.length),
                            "head": bytes(ctx.get(p.head[i]) for i in range(6)), "code": ctx.get(p.code)} == fields
                    if i < read:
                        buf.append(ctx.get(dut.o_payload.data))
                ctx.set(dut.o_frame.ready, 1)
                await ctx.tick()
                cycle += 1
                ctx.set(dut.o_frame.ready, 0)
                frames.append((start, cycle - 1, fields, bytes(buf)))
            else:
                await ctx.tick()
                cycle += 1

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(take, background=True)
    sim.add_testbench(feed)
    sim.run()
    return frames


def test_a_good_frame_gives_its_fields_and_buffer_after_noise_and_stalls():
    rng = np.random.default_rng(1)
    payload = bytes(rng.integers(0, 256, 40).astype(np.uint8))
    events = [0x00, 0x13, ("error",), ("gap", 3)]                      # ignored between frames
    for b in encode_frame(CMD_WRITE, payload):
        events += [b, ("gap", int(rng.integers(0, TIMEOUT - 1)))]
    (frame,) = _receive(events, read=len(payload))
    assert frame[2] == {"cmd": CMD_WRITE, "length": 40, "head": payload[:6], "code": 0}
    assert frame[3] == payload


def test_the_beat_is_valid_two_cycles_after_the_chk_byte():
    frame = encode_frame(CMD_STATUS)
    # the bytes in cycles 0, 2, .. 8 (CHK): the checks in cycle 9, the beat from cycle 10
    (got,) = _receive(list(frame) + [("gap", 10)])
    assert got[0] == 2 * (len(frame) - 1) + 2


def test_bytes_are_dropped_while_the_frame_is_held_and_heard_again_after():
    hold = 200
    second, third = encode_frame(CMD_STATUS), encode_frame(0x33, b"\x07")
    # the second frame arrives while the first is held: dropped whole; the third after: received
    got = _receive(list(encode_frame(CMD_WRITE, b"abcdef")) + list(second) + [("gap", hold)] + list(third) +
                   [("gap", 10)], hold=hold)
    assert [f[2]["cmd"] for f in got] == [CMD_WRITE, 0x33]
    assert got[0][1] - got[0][0] == hold and got[1][2]["head"][0] == 7


def test_a_bad_checksum_ends_the_frame_with_err_checksum():
    bad = bytearray(encode_frame(CMD_STATUS, b"\x01\x02"))
    bad[-1] ^= 1
    (got,) = _receive(list(bad) + [("gap", 5)])
    assert (got[2]["code"], got[2]["length"]) == (ERR_CHECKSUM, 2)


def test_a_length_beyond_max_payload_ends_with_err_length_and_keeps_the_buffer_s_bytes():
    n = MAX_PAYLOAD + 3
    body = bytes([CMD_WRITE]) + n.to_bytes(2, "little") + bytes(range(256)) * 4 + b"xyz"
    (got,) = _receive([SYNC] + list(body) + [checksum(body), ("gap", 5)], read=4)
    assert (got[2]["code"], got[2]["length"]) == (ERR_LENGTH, n)       # the sum is good: the length decides
    assert got[3] == bytes([0, 1, 2, 3])                                # bytes past the buffer not stored


def test_a_byte_without_its_stop_bit_inside_a_frame_ends_it_with_err_framing_at_once():
    (got,) = _receive([SYNC, CMD_STATUS, ("gap", 7), ("error",), ("gap", 5)])
    # the error in cycle 11 (SYNC 0, CMD 2, 7 idle cycles after cycle 3): the beat from cycle 12
    assert got[2]["code"] == ERR_FRAMING and got[0] == 12


# the timer's LFSR has n = bits_for(T + 1) bits: timeouts at both ends of a width, and the test's own
@pytest.mark.parametrize("T", [1, 2, 5, 6, 7, TIMEOUT, 62, 63])
def test_a_frame_that_stalls_for_the_timeout_ends_with_err_timeout(T):
    # T idle cycles between two bytes are in time (SYNC in cycle 0, CMD in T + 1, LEN lo
    # in 2 T + 2); after LEN lo the state is entered in 2 T + 3 and gives up T cycles later
    (got,) = _receive([SYNC, ("gap", T - 1), CMD_STATUS, ("gap", T - 1), 0, ("gap", 3 * T)], timeout=T)
    assert (got[2]["code"], got[2]["cmd"], got[0]) == (ERR_TIMEOUT, CMD_STATUS, 3 * T + 4)
    # one idle cycle more before CMD: the frame ends in CMD's state, the late bytes are noise
    (got,) = _receive([SYNC, ("gap", T)] + list(encode_frame(CMD_STATUS))[1:] + [("gap", 3 * T)], timeout=T)
    assert (got[2]["code"], got[0]) == (ERR_TIMEOUT, T + 2)


@pytest.mark.parametrize("T", [2, TIMEOUT])
def test_the_wait_for_the_chk_byte_has_the_whole_timeout_too(T):
    # the last payload byte in cycle 8 (SYNC 0, CMD 2, LEN 4 and 6): T idle cycles before CHK are in
    # time, T + 1 are not (the beat from the cycle after the timeout's)
    body = encode_frame(CMD_WRITE, b"\x07")[:-1]
    (got,) = _receive(list(body) + [("gap", T - 1), encode_frame(CMD_WRITE, b"\x07")[-1], ("gap", 3 * T)], timeout=T)
    assert got[2]["code"] == 0 and got[2]["head"][0] == 7
    (got,) = _receive(list(body) + [("gap", T), ("gap", 3 * T)], timeout=T)
    assert got[2]["code"] == ERR_TIMEOUT and got[0] == 8 + T + 3
