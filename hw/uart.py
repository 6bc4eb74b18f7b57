"""``UartRx`` and ``UartTx``: an 8N1 UART for the host link (hw.link), one clock domain.

Both take ``divisor`` = clock cycles per bit (clock / baud, rounded; at least 4). At 12 MHz and
115200 baud that is 104 (0.16 % off, well inside 8N1's few per cent).

``UartRx``: ``i_rx`` passes two synchronising flip-flops (it comes from a pin). A falling edge
starts a byte; the start bit is checked again half a bit later (a glitch shorter than that is
ignored), then every bit is sampled in its middle, LSB first. After the stop bit's sample,
``o_valid`` pulses for one cycle (the next) with ``o_data``; ``o_error`` pulses instead when the stop bit is
0 (a framing error, or a break), and the receiver waits for the line to go idle (high) before it
looks for the next start bit. Latency: a byte is out 9.5 bit times after its start edge, plus 4
cycles.

``UartTx``: a stream of bytes in (``i_data``: valid/ready, the stream rules); a byte is taken when
the transmitter is idle and sent as start bit, 8 data bits LSB first, stop bit, ``divisor`` cycles
each. ``o_tx`` idles high and is registered (no glitches on the pin).

Members
-------
UartRx: i_rx : In(1); o_data : Out(8); o_valid, o_error : Out(1)
UartTx: i_data : In(stream.Signature(8)); o_tx : Out(1)
"""
from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from adderhw.base.errors import BadParameter
from adderhw.base.validate import check_int

__all__ = ["UartRx", "UartTx", "uart_divisor"]


def uart_divisor(clk_hz, baud):
    """Clock cycles per bit for ``baud`` at ``clk_hz``; refuses a rate the clock cannot make within
    2 % or with fewer than 4 cycles per bit."""
    clk_hz = check_int("clk_hz", clk_hz, lo=1)
    baud = check_int("baud", baud, lo=1)
    d = round(clk_hz / baud)
    if d < 4 or abs(clk_hz / d - baud) > 0.02 * baud:
        raise BadParameter(f"baud must be a rate a {clk_hz} Hz clock makes within 2 % with at least 4 cycles "
                          f"per bit (at most {clk_hz // 4}), not {baud}")
    return d


class UartRx(wiring.Component):
    i_rx: In(1, init=1)
    o_data: Out(8)
    o_valid: Out(1)
    o_error: Out(1)

    def __init__(self, divisor):
        self.divisor = check_int("divisor", divisor, lo=4)
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        D = self.divisor
        meta = Signal(init=1)
        rx = Signal(init=1)
        m.d.sync += [meta.eq(self.i_rx), rx.eq(meta)]
        timer = Signal(range(D))
        # the data bits shift in from the top behind a marker bit, which reaches bit 0 with the
        # eighth: the register counts the bits itself
        shreg = Signal(9)
        m.d.comb += self.o_data.eq(shreg[1:])
        # o_valid and o_error are registers (a pulse in the cycle after the stop bit's sample): the
        # stop bit's decision drove the link's receiver through the bit timer's comparison (the iCE40
        # engine's critical path, 27.8 ns). o_data holds until the next byte's first bit, a bit later.
        m.d.sync += [self.o_valid.eq(0), self.o_error.eq(0)]
        with m.FSM():
            with m.State("IDLE"):
                with m.If(~rx):
                    m.d.sync += timer.eq(D // 2 - 1)
                    m.next = "START"
            with m.State("START"):
                with m.If(timer != 0):
                    m.d.sync += timer.eq(timer - 1)
                with m.Elif(rx):                     # a glitch, not a start bit
                    m.next = "IDLE"
                with m.Else():
                    m.d.sync += [timer.eq(D - 1), shreg.eq(1 << 8)]
                    m.next = "DATA"
            with m.State("DATA"):
                with m.If(timer != 0):
                    m.d.sync += timer.eq(timer - 1)
                with m.Else():
                    m.d.sync += [timer.eq(D - 1), shreg.eq(Cat(shreg[1:], rx))]
                    with m.If(shreg[1]):             # the marker, one above bit 0: the eighth bit
                        m.next = "STOP"
            with m.State("STOP"):
                with m.If(timer != 0):
                    m.d.sync += timer.eq(timer - 1)
                with m.Elif(rx):
                    m.d.sync += self.o_valid.eq(1)
                    m.next = "IDLE"
                with m.Else():
                    m.d.sync += self.o_error.eq(1)
                    m.next = "BREAK"
            with m.State("BREAK"):                    # wait for the idle line after a framing error
                with m.If(rx):
                    m.next = "IDLE"
        return m


class UartTx(wiring.Component):
    i_data: In(stream.Signature(8))
    o_tx: Out(1, init=1)

    def __init__(self, divisor):
        self.divisor = check_int("divisor", divisor, lo=4)
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        D = self.divisor
        timer = Signal(range(D))
        # the bits to send, from bit 0; zeros shift in from the top, so the register counts the bits
        # itself: it is 1 (the stop bit, or the idle line) once the start and data bits are sent
        shreg = Signal(10, init=1)
        m.d.comb += self.o_tx.eq(shreg[0])
        # ready in the stop bit's last cycle too, so that bytes go back to back (exactly 10 bits each);
        # the timer rests at 0 when idle
        # the timer rests at 0 when idle. Both conditions are registered flags, set beside the timer
        # and the shift register (``timer == 0`` and ``shreg[1:] == 0`` of the values they load), so
        # that ready is one gate: through the comparisons, ready reached the link's receiver (the
        # iCE40 engine's critical path, 26.0 ns)
        timer_zero, sent = Signal(init=1, name="timer_zero"), Signal(init=1, name="sent")
        m.d.comb += self.i_data.ready.eq(sent & timer_zero)
        with m.If(self.i_data.valid & self.i_data.ready):
            m.d.sync += [shreg.eq(Cat(0, self.i_data.payload, 1)), timer.eq(D - 1), timer_zero.eq(0), sent.eq(0)]
        with m.Elif(~timer_zero):
            m.d.sync += [timer.eq(timer - 1), timer_zero.eq(timer == 1)]
        with m.Elif(~sent):
            m.d.sync += [timer.eq(D - 1), timer_zero.eq(0), shreg.eq(shreg[1:]), sent.eq(shreg[2:] == 0)]
        return m
