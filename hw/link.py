"""``EngineLink``: the layer engine (hw.engine) behind a UART host link, the core of a board top.

The protocol (frames, commands, replies, error codes) is defined in one place,
``adderhw.base.protocol``; the host side is ``adderhw.base.host``. This module is the device side's
composition, a pipeline of three components joined by ``amaranth.lib.stream`` hand-offs, each with
its own specification::

    i_rx -> UartRx -> FrameReceiver --o_frame--> CommandExecutor --o_reply--> ReplySender -> UartTx -> o_tx
                     (hw.link_receiver)    |      (hw.link_executor)             (hw.link_reply)
                          frame buffer <---+ i_payload     |  o_load, o_start,        | o_peek_*
                                                           v  i_done ...              v
                                                   LayerEngine (ResetInserter: o_engine_reset)

* ``FrameReceiver`` checks the sync byte, LEN, the checksum, the timeout (no byte for ``timeout``
  cycles: ERR_TIMEOUT) and framing (a byte without its stop bit: ERR_FRAMING), keeps the payload
  in a frame buffer, and offers one beat per frame, good or not (its ``code``).
* ``CommandExecutor`` answers a bad frame with its code, executes a good one (STATUS, WRITE's
  checks and load beats, RUN with its cycle limit and the hang's reset of the engine's logic,
  READ's checks) and offers one reply beat. It counts a run's cycles itself, for the limit and the
  reply alike (the cycles the engine's ``o_cycles`` counts, which the link does not read).
* ``ReplySender`` sends the reply's frame: the status table, RUN's cycles and classes, READ's words
  through the engine's peek port, or the error code, and the checksum.

Each beat is taken when the work it started is finished: the reply when its CHK byte is taken by
the transmitter, the frame in that same cycle. So a frame is executed only after its checksum is
good (a bad one changes nothing), bytes that arrive while a command executes or its reply is sent
are dropped (the host sends the next frame after the reply), and the receiver listens again from
the cycle after the reply's last byte was taken. The device answers byte for byte as the single
state machine it was split from (compared on Amaranth's simulator, every cycle of ``o_tx`` and
``o_busy``, over every command and error); since the stages were made lean (issue 28) it is no
longer cycle for cycle: an error the executor finds in a frame's header is answered one cycle
sooner, a WRITE walks its bytes twice (a dry walk, then the loads), ERR_HANG one cycle sooner, and
RUN starts the engine one cycle later (``o_start`` is a register).
``o_error`` pulses once per error reply, in the cycle after the executor decides it.

STATUS replies with a table fixed when the top is built (:func:`status_bytes`): the protocol
version and the EngineConfig the engine was built from, among them (version 2) how it requantises
(``requant`` as its index in REQUANT_KINDS, ``shift_terms``) and whether it has the per-tile input
shift (``tile_shift``, 0 or 1), (version 3) ``post_lanes`` and ``field_bits``, and (version 4)
``residual`` and ``rounding``, so that the host loads only programs it can run.

Acknowledged writes are kept (protocol: "What the device keeps"). A WRITE's reply starts after its
last load beat was taken, and every load beat is a write of one memory word: the engine has no
register that holds part of a write for a later beat (a constant's M and B are separate tables in
hw.engine; there was a register for M once, and a hang's reset between an M frame and its B frame
emptied it). Nothing in this link carries part of a write from one frame to the next either: the
header registers, the frame buffer and the walk serve only the frame that filled them. So neither
the hang's reset nor the board's (memories have none) takes back an acknowledged write.

Parameters: ``engine`` (EngineConfig), ``divisor`` (clock cycles per UART bit, hw.uart),
``timeout`` (cycles without a byte that drop a frame; default 64 byte times), ``clk_hz`` (reported
by STATUS so that the host can turn cycles into seconds).

Members
-------
i_rx : In(1, init=1)   the UART's receive pin (host to device)
o_tx : Out(1)          the UART's transmit pin
o_busy : Out(1)        the engine runs (for an LED)
o_error : Out(1)       pulses once for each error reply (for an LED; a register)
"""
from amaranth.hdl import Module, ResetInserter
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from adderhw.base.engine import EngineConfig
from adderhw.base.errors import BadParameter
from adderhw.base.protocol import MAX_PAYLOAD, PROTOCOL_VERSION, STATUS_FIELDS, WRITE_HEADER
from adderhw.base.requant import REQUANT_KINDS, ROUNDINGS
from adderhw.base.validate import check_int

from .engine import LayerEngine
from .link_executor import CommandExecutor
from .link_receiver import FrameReceiver
from .link_reply import ReplySender
from .uart import UartRx, UartTx

__all__ = ["EngineLink", "status_bytes", "default_timeout", "WRITE_HEADER"]



def default_timeout(divisor):
    """Cycles without a byte that drop a frame, by default: 64 byte times."""
    return 64 * 10 * divisor


def status_bytes(engine, clk_hz):
    """The STATUS reply's payload for ``engine`` at ``clk_hz`` (protocol.STATUS_FIELDS)."""
    a = engine.array
    values = {"version": PROTOCOL_VERSION, "pe": a.kind.code, "rows": a.rows, "cols": a.cols,
              "width": a.width, "mac_rows": engine.mac_rows, "act_depth_log2": ceil_log2(engine.act_depth),
              "weight_depth_log2": ceil_log2(engine.weight_depth), "const_depth_log2": ceil_log2(engine.const_depth),
              "max_layers": engine.max_layers, "max_payload": MAX_PAYLOAD, "clk_khz": clk_hz // 1000,
              "requant": REQUANT_KINDS.index(engine.requant), "shift_terms": engine.shift_terms,
              "tile_shift": int(engine.tile_shift), "post_lanes": engine.pp_lanes, "field_bits": engine.field_bits,
              "residual": int(engine.residual), "rounding": ROUNDINGS.index(engine.rounding)}
    out = bytearray()
    for name, n in STATUS_FIELDS:
        out += int(values[name]).to_bytes(n, "little")
    return bytes(out)


class EngineLink(wiring.Component):
    i_rx: In(1, init=1)
    o_tx: Out(1, init=1)
    o_busy: Out(1)
    o_error: Out(1)

    def __init__(self, engine, divisor, clk_hz, timeout=None):
        if not isinstance(engine, EngineConfig):
            raise BadParameter(f"engine must be an EngineConfig, not {type(engine).__name__}")
        self.engine = engine
        self.divisor = check_int("divisor", divisor, lo=4)
        self.clk_hz = check_int("clk_hz", clk_hz, lo=1000)
        self.timeout = check_int("timeout", default_timeout(divisor) if timeout is None else timeout,
                                 lo=20 * divisor)
        if engine.array.cols > 255 or engine.array.width > 16:
            raise BadParameter(f"the host link carries at most 255 lanes of at most 16 bits, not "
                               f"{engine.array.cols} lanes of {engine.array.width}")
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        m.submodules.rx = rx = UartRx(self.divisor)
        m.submodules.receiver = receiver = FrameReceiver(self.timeout)
        m.submodules.executor = executor = CommandExecutor(self.engine)
        m.submodules.reply = reply = ReplySender(self.engine, status_bytes(self.engine, self.clk_hz))
        m.submodules.tx = tx = UartTx(self.divisor)
        eng = LayerEngine(self.engine)
        m.submodules.engine = ResetInserter({"sync": executor.o_engine_reset})(eng)

        m.d.comb += [rx.i_rx.eq(self.i_rx), receiver.i_byte.payload.eq(rx.o_data),
                     receiver.i_byte.valid.eq(rx.o_valid), receiver.i_byte_error.eq(rx.o_error)]
        wiring.connect(m, receiver.o_frame, executor.i_frame)
        wiring.connect(m, receiver.o_payload, executor.i_payload)
        wiring.connect(m, executor.o_reply, reply.i_reply)
        wiring.connect(m, reply.o_byte, tx.i_data)
        m.d.comb += [self.o_tx.eq(tx.o_tx), self.o_busy.eq(eng.o_busy)]
        # registered: from a frame's LEN through the executor's header checks into the board's
        # error LED was the iCE40 engine's critical path (31.6–31.9 ns)
        m.d.sync += self.o_error.eq(executor.o_error)

        wiring.connect(m, executor.o_load, eng.i_load)
        m.d.comb += [eng.i_start.eq(executor.o_start), executor.i_done.eq(eng.o_done),
                     executor.i_class.eq(eng.o_class),
                     eng.i_peek_side.eq(reply.o_peek_side), eng.i_peek_addr.eq(reply.o_peek_addr),
                     reply.i_peek_data.eq(eng.o_peek_data)]
        return m
