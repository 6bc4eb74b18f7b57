"""``FrameReceiver``: the host link's first stage (hw.link): UART bytes in, one checked frame out.

The frame is ``| SYNC | CMD | LEN lo | LEN hi | payload: LEN bytes | CHK |`` (adderhw.base.protocol).
Between frames every byte other than the sync byte is ignored, and so is a framing error. After
the sync byte the receiver keeps CMD and LEN, the running sum of the bytes after the sync byte, the
first ``WRITE_HEADER`` payload bytes (a command's header) in registers and the whole payload in a
frame buffer (``MAX_PAYLOAD`` bytes, one ``amaranth.lib.memory`` block; bytes beyond it are counted,
not stored). The frame ends with a ``code``:

* 0 after the CHK byte of a frame whose LEN is at most MAX_PAYLOAD and whose sum is 0;
* ERR_LENGTH after the CHK byte when LEN is beyond MAX_PAYLOAD, else ERR_CHECKSUM when the sum
  is not 0;
* ERR_FRAMING at once when a byte inside the frame comes without its stop bit (``i_byte_error``);
* ERR_TIMEOUT at once when ``timeout`` cycles pass without a byte inside the frame.

The frame is then offered on ``o_frame``, one beat, and held (valid, its payload and the frame
buffer unchanged) until it is taken; the receiver drops every byte that arrives meanwhile, and
looks for a sync byte again from the cycle after. Taking the beat therefore means "the frame is
done with": hw.link's executor takes it only when the frame's reply has been sent, so the host's
next frame, sent after the reply, finds the receiver listening, and no byte can overwrite a frame
buffer that is still being read.

Latency: the beat is valid in the cycle after the one that decided its code (the CHK byte's
arrival plus one cycle for the checks; a framing error's or a timeout's cycle).

Size (issue 28): the timeout's timer is a Galois LFSR (:func:`lfsr_state`) rather than a binary
counter: it only has to tell when ``timeout`` cycles have passed, and an LFSR steps without a carry
chain (on the iCE40 digits link the binary counter and its comparison were 35 LUT4s and 15 carry
cells, the LFSR's are 19 LUT4s). The frame buffer is read asynchronously into a register of this
module, and the memory carries Yosys's ``no_rw_check``: the buffer is never read while it is
written (it is read only while the frame is held), and without the attribute Yosys emulates around
the iCE40's block RAM the read-during-write behaviour that Amaranth's ports promise (28 flip-flops
and 10 LUT4s there). Yosys honours the attribute when it merges a register into an asynchronous
read port; Amaranth's synchronous port reaches it already merged, promising read-before-write.

Parameters: ``timeout`` (cycles without a byte that end a frame with ERR_TIMEOUT, 1 to 2^32 - 2,
the longest timer of PRIMITIVE_TAPS).

Members
-------
i_byte : In(stream.Signature(8, always_ready=True))
    the UART's received bytes (hw.uart.UartRx); a UART cannot wait, so the stream is always ready.
i_byte_error : In(1)
    pulses when the UART's byte had no stop bit (a framing error, or a break).
o_frame : Out(stream.Signature(frame_layout()))
    the frame: ``cmd`` (8), ``length`` (16, LEN as sent), ``head`` (``WRITE_HEADER`` bytes: the
    first payload bytes; bytes the frame did not carry hold older values), ``code`` (bits_for of
    the largest ERR_* code, 3: 0 or an ERR_* code, as above).
o_payload : Out(memory.ReadPort.Signature(addr_width=ceil_log2(MAX_PAYLOAD), shape=8))
    a synchronous read port of the frame buffer (``en``, ``addr`` in; ``data`` one cycle later),
    valid for the held frame's first min(LEN, MAX_PAYLOAD) bytes.
"""
from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import data, memory, stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import bits_for, ceil_log2

from adderhw.base.protocol import (ERRORS, ERR_CHECKSUM, ERR_FRAMING, ERR_LENGTH, ERR_TIMEOUT, MAX_PAYLOAD, SYNC,
                                   WRITE_HEADER)
from adderhw.base.errors import BadParameter
from adderhw.base.validate import check_int

from .compare import below
from .lfsr_timer import PRIMITIVE_TAPS, lfsr_polynomial, lfsr_state

__all__ = ["FrameReceiver", "frame_layout"]


def frame_layout():
    """The layout of ``FrameReceiver.o_frame``'s payload: one received frame."""
    return data.StructLayout({"cmd": 8, "length": 16, "head": data.ArrayLayout(8, WRITE_HEADER),
                              "code": bits_for(max(ERRORS))})


class FrameReceiver(wiring.Component):
    def __init__(self, timeout):
        try:
            self.timeout = check_int("timeout", timeout, lo=1, hi=(1 << max(PRIMITIVE_TAPS)) - 2)
        except BadParameter:
            self._MustUse__used = True           # refused, never returned: no "created but never used"
            raise
        super().__init__({
            "i_byte": In(stream.Signature(8, always_ready=True)),
            "i_byte_error": In(1),
            "o_frame": Out(stream.Signature(frame_layout())),
            "o_payload": Out(memory.ReadPort.Signature(addr_width=ceil_log2(MAX_PAYLOAD), shape=8)),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.buffer = buf = memory.Memory(shape=8, depth=MAX_PAYLOAD, init=[], attrs={"no_rw_check": 1})
        wr = buf.write_port()
        rd = buf.read_port(domain="comb")
        m.d.comb += [rd.addr.eq(self.o_payload.addr)]
        with m.If(self.o_payload.en):
            m.d.sync += self.o_payload.data.eq(rd.data)

        frame = self.o_frame.payload
        byte, got = self.i_byte.payload, self.i_byte.valid
        idx = Signal(16)                     # payload bytes received so far
        total = Signal(8)                    # running sum of the bytes after the sync byte
        # the timer: a Galois LFSR, state x^t (modulo a primitive polynomial) t cycles after it was set
        # to 1; x^t differs for every t below 2^n - 1, so it is x^timeout first after exactly timeout
        # cycles, and it steps without a carry chain
        n = max(2, bits_for(self.timeout + 1))
        timer = Signal(n, init=1)
        timer_step = Cat(Const(0, 1), timer[:-1]) ^ Mux(timer[-1], lfsr_polynomial(n) & ~(1 << n), 0)
        m.d.comb += [wr.addr.eq(idx), wr.data.eq(byte)]
        # timer == x^timeout, registered: set in the cycle the timer steps from x^(timeout - 1), so the
        # comparison does not feed the states' decisions (the iCE40 engine's critical path, 26.4 ns)
        timed_out = Signal(name="timed_out")

        def end(code):
            m.d.sync += frame.code.eq(code)
            m.next = "FRAME"

        def no_byte():                       # the Elif/Else arms after ``If(got)``: wait, or give up
            with m.Elif(self.i_byte_error):
                end(ERR_FRAMING)
            with m.Elif(timed_out):
                end(ERR_TIMEOUT)

        timer_hold = Signal()                # the cycle between the last payload byte and CHK's wait
        # registered, so that a payload byte's enables are flip-flops, not comparators of idx (idx ==
        # LEN and idx == i into the header registers were the iCE40 engine's critical path, 30.2 ns):
        # idx_end is idx == LEN, set when LEN's last byte arrives and when idx steps; head_at is one
        # hot, bit i while idx == i < WRITE_HEADER (zero beyond)
        idx_end = Signal(name="idx_end")
        # LEN - 1, registered with LEN: idx + 1 == LEN as idx == LEN - 1, a comparison of two registers
        # (through idx's incrementer it was the iCE40 engine's critical path, 22.6 ns, 11 logic levels)
        length_m1 = Signal(16, name="length_m1")
        head_at = Signal(WRITE_HEADER, name="head_at")
        with m.FSM(name="receiver") as fsm:
            with m.State("IDLE"):
                with m.If(got & (byte == SYNC)):
                    m.next = "CMD"
            for state, field, nxt in (("CMD", frame.cmd, "LEN0"), ("LEN0", frame.length[:8], "LEN1"),
                                      ("LEN1", frame.length[8:], "PAYLOAD"), ("CHK", None, "CHECK")):
                with m.State(state):
                    with m.If(got):
                        if field is not None:
                            m.d.sync += field.eq(byte)
                        if state == "LEN1":     # LEN complete: no payload byte yet
                            length = Cat(frame.length[:8], byte)
                            m.d.sync += [idx_end.eq(length == 0), head_at.eq(1), length_m1.eq(length - 1)]
                        m.next = nxt
                    no_byte()
            with m.State("PAYLOAD"):
                with m.If(idx_end):
                    m.d.comb += timer_hold.eq(1)
                    m.next = "CHK"
                with m.Elif(got):
                    m.d.sync += [idx.eq(idx + 1), idx_end.eq(idx == length_m1),
                                 head_at.eq(head_at << 1)]
                    m.d.comb += wr.en.eq(below(idx, MAX_PAYLOAD))
                    for i in range(WRITE_HEADER):
                        with m.If(head_at[i]):
                            m.d.sync += frame.head[i].eq(byte)
                no_byte()
            with m.State("CHECK"):
                with m.If(~below(frame.length, MAX_PAYLOAD + 1)):
                    end(ERR_LENGTH)
                with m.Elif(total != 0):
                    end(ERR_CHECKSUM)
                with m.Else():
                    m.next = "FRAME"
            with m.State("FRAME"):           # held, every byte dropped, until the frame is done with
                m.d.comb += self.o_frame.valid.eq(1)
                with m.If(self.o_frame.ready):
                    m.next = "IDLE"

        # outside the states, so that each is a flip-flop's reset and enable rather than logic: the
        # frame's registers start in IDLE (the sync byte leaves it), every byte restarts the timer,
        # and only the frame's bytes before CHECK count (the sum is read there, a byte comes at most
        # every other cycle, and bytes after it are dropped)
        with m.If(fsm.ongoing("IDLE")):
            m.d.sync += [total.eq(0), idx.eq(0), frame.code.eq(0)]
        with m.Elif(got):
            m.d.sync += total.eq(total + byte)
        with m.If(got):
            m.d.sync += [timer.eq(1), timed_out.eq(0)]      # timeout >= 1: state 1 is not x^timeout
        with m.Elif(~timer_hold):
            m.d.sync += [timer.eq(timer_step), timed_out.eq(timer == lfsr_state(n, self.timeout - 1))]
        return m
