"""``ReplySender``: the host link's last stage (hw.link): one reply in, its frame's bytes out.

A reply (``i_reply``, from hw.link's executor) is sent as ``| SYNC | CMD | LEN lo | LEN hi |
payload | CHK |`` (adderhw.base.protocol), CHK making the sum of the bytes after the sync byte 0.
The payload comes from the reply's ``cmd``:

* ``CMD_STATUS | REPLY``: the ``status`` bytes given to the constructor (a table fixed when the top
  is built; hw.link.status_bytes);
* ``CMD_RUN | REPLY``: ``cycles`` (4 bytes, LE), then ``classes`` (a byte per lane, the class
  index zero-extended);
* ``CMD_READ | REPLY``: ``length`` bytes of words ``addr``, ``addr + 1``, ... of activation buffer
  ``side``, read through the engine's peek port (``o_peek_*`` → ``i_peek_data`` two cycles later):
  each word's C lanes in turn, each lane's ``abytes`` = ceil(width / 8) bytes LE, sign-extended;
* ``CMD_ERROR``: the one byte ``code``;
* any other (WRITE's reply): ``length`` is 0, no payload.

Protocol and latency: the reply beat is held by its producer while its frame is sent and taken (its
``ready``) in the cycle the CHK byte is taken by ``o_byte``, so its fields need no copy here and
"taken" means "sent". One register holds the byte offered (header, payload and CHK alike), and CHK
is kept as minus the running sum, so no negation follows the last byte. READ's byte, lane and word
are bit fields of the payload byte's index when a word has a power-of-two number of bytes (C and
abytes powers of two: no counters, the peek address is ``addr`` plus the index's high bits), else
counters of their own. The sync byte is offered one cycle after the beat becomes valid, each header
byte in the cycle after the one before it was taken, each payload byte five cycles after (the
address set, the peek word registered twice, then the byte, so no path runs from the activation
buffer's output through the lane and byte multiplexers: it was the ECP5 8x8 engine's critical path,
12.9 ns), the CHK byte two cycles after the last payload byte (or LEN hi). A reply of n payload bytes
is n + 5 bytes of ``o_byte``.

Parameters: ``engine`` (EngineConfig: C, the width and the activation depth), ``status`` (bytes,
STATUS's payload).

Members
-------
i_reply : In(stream.Signature(reply_layout(engine)))
    ``cmd`` (8), ``length`` (bits_for(MAX_PAYLOAD): 11), ``code`` (bits_for of the largest ERR_*
    code: 3), ``side`` (hw.engine.side_bits: 1, or 2 with ``residual``) and ``addr``
    (ceil_log2(act_depth), READ's first word), ``cycles`` (32), ``classes``
    (hw.engine.class_layout: a class index per lane).
o_byte : Out(stream.Signature(8))
    the frame's bytes, for hw.uart.UartTx; the stream rules hold (valid kept, the byte stable).
o_peek_side : Out(side_bits(engine)), o_peek_addr : Out(ceil_log2(act_depth))
    the activation word being read (hw.engine's peek port).
i_peek_data : In(ArrayLayout(signed(width), C))
    that word, two cycles after its address (held while the address is): hw.engine's activation
    buffers have an output register each, which is the first of the two registers the word passes.
"""
from amaranth.hdl import Cat, Const, Module, Signal, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import bits_for, ceil_log2, exact_log2

from adderhw.base.engine import EngineConfig
from adderhw.base.errors import BadParameter
from adderhw.base.protocol import CMD_ERROR, CMD_READ, CMD_RUN, CMD_STATUS, ERRORS, MAX_PAYLOAD, REPLY, SYNC

from .engine import class_layout, side_bits

__all__ = ["ReplySender", "reply_layout"]


def reply_layout(engine):
    """The layout of ``ReplySender.i_reply``'s payload for an engine of ``engine``: each field as wide
    as the protocol lets it be (a payload of at most MAX_PAYLOAD bytes, an ERR_* code, an address
    inside the activation buffer, the engine's class indices)."""
    return data.StructLayout({"cmd": 8, "length": bits_for(MAX_PAYLOAD), "code": bits_for(max(ERRORS)),
                              "side": side_bits(engine), "addr": ceil_log2(engine.act_depth), "cycles": 32,
                              "classes": class_layout(engine)})


class ReplySender(wiring.Component):
    def __init__(self, engine, status):
        status = bytes(status)
        if not isinstance(engine, EngineConfig) or not 0 < len(status) <= MAX_PAYLOAD:
            self._MustUse__used = True           # refused, never returned: no "created but never used"
            if not isinstance(engine, EngineConfig):
                raise BadParameter(f"engine must be an EngineConfig, not {type(engine).__name__}")
            raise BadParameter(f"status must be 1 to {MAX_PAYLOAD} bytes, not {len(status)}")
        self.engine, self.status = engine, status
        a = engine.array
        super().__init__({
            "i_reply": In(stream.Signature(reply_layout(engine))),
            "o_byte": Out(stream.Signature(8)),
            "o_peek_side": Out(side_bits(engine)), "o_peek_addr": Out(ceil_log2(engine.act_depth)),
            "i_peek_data": In(data.ArrayLayout(signed(a.width), a.cols)),
        })

    def elaborate(self, platform):
        m = Module()
        a = self.engine.array
        C, abytes = a.cols, (a.width + 7) // 8
        reply, out = self.i_reply.payload, self.o_byte
        chk = Signal(8)                      # minus the sum of the bytes sent after the sync byte
        rep_i = Signal.like(reply.length)    # payload byte being sent
        tx_byte = Signal(8)                  # the byte offered on o_byte
        # rep_i == length, registered when rep_i is set (rep_i against the reply's length into the
        # byte register's multiplexer was the iCE40 engine's critical path, 27.5 ns)
        pay_end = Signal(name="pay_end")
        m.d.comb += [self.o_peek_side.eq(reply.side), out.payload.eq(tx_byte)]
        # READ: the lane and byte of the byte being sent, and its word. With a power-of-two number of
        # bytes per word they are bit fields of rep_i; else counters of their own.
        pow2 = (C * abytes) & (C * abytes - 1) == 0
        if pow2:
            lane_at, word_at = exact_log2(abytes), exact_log2(C * abytes)
            b_i, l_i = rep_i[:lane_at], rep_i[lane_at:word_at]
            m.d.comb += self.o_peek_addr.eq(reply.addr + rep_i[word_at:])
        else:
            l_i, b_i = Signal(range(C)), Signal(range(abytes))
            peek_addr = Signal.like(self.o_peek_addr)
            m.d.comb += self.o_peek_addr.eq(peek_addr)

        peek = Signal.like(self.i_peek_data, name="peek_word")
        pay = Signal(8)                      # the payload byte rep_i, from registers only
        # the bytes of STATUS, RUN and ERROR replies depend on rep_i and the reply only: selected into
        # a register in every cycle (rep_i holds from PAY_FETCH to PAY_SEND), so PAY_LATCH takes them
        # from a flip-flop, not through the table's multiplexer tree and the command's decoder (that
        # chain into the byte register was the iCE40 engine's critical path, 25.4 ns)
        fixed = Signal(8, name="fixed_byte")
        # the reply's kind, decoded from its cmd into flags in IDLE (the beat is held from then on, and
        # the payload begins five cycles later)
        kinds = {CMD_STATUS | REPLY: "is_status", CMD_RUN | REPLY: "is_run", CMD_READ | REPLY: "is_read",
                 CMD_ERROR: "is_error"}
        is_ = {cmd: Signal(name=name) for cmd, name in kinds.items()}
        with m.If(is_[CMD_STATUS | REPLY]):
            table = Const(int.from_bytes(self.status, "little"), 8 * len(self.status))
            m.d.sync += fixed.eq(table.word_select(rep_i[:ceil_log2(len(self.status) + 1)], 8))
        with m.Elif(is_[CMD_RUN | REPLY]):
            run_bytes = Cat(reply.cycles, *(Cat(c, Const(0, 8 - len(c))) for c in reply.classes))
            m.d.sync += fixed.eq(run_bytes.word_select(rep_i[:ceil_log2(4 + C + 1)], 8))
        with m.Elif(is_[CMD_ERROR]):
            m.d.sync += fixed.eq(reply.code)
        with m.If(is_[CMD_READ | REPLY]):    # the peek port's word registered, then the byte
            lane_val = Signal(signed(8 * abytes))
            lane = peek.as_value().word_select(l_i, a.width) if C > 1 else peek.as_value()
            m.d.comb += lane_val.eq(lane.as_signed())
            m.d.comb += pay.eq(lane_val.as_unsigned().word_select(b_i, 8) if abytes > 1 else lane_val)
        with m.Else():
            m.d.comb += pay.eq(fixed)
        # the peek port's word passes two registers: from the activation buffer's block RAM (5.6 ns
        # clock-to-output on the ECP5) across the chip into one register was the ECP5 8x16 engine's
        # critical path, 11.0 ns. The first is the buffer's output register in hw.engine (beside
        # the block RAM; until issue 28's eighth round it was a register here, after the engine's
        # choice of the buffer, and the block RAM's word through that choice into it was again the
        # critical path, 10.1-10.2 ns), the second is here
        m.d.sync += peek.eq(self.i_peek_data)

        with m.FSM(name="reply"):
            with m.State("IDLE"):
                m.d.sync += [chk.eq(0), rep_i.eq(0), tx_byte.eq(SYNC)]
                m.d.sync += [flag.eq(reply.cmd == cmd) for cmd, flag in is_.items()]
                if not pow2:
                    m.d.sync += [l_i.eq(0), b_i.eq(0), peek_addr.eq(reply.addr)]
                with m.If(self.i_reply.valid):
                    m.next = "SEND_SYNC"
            # the header: each state sends ``tx_byte`` and loads the next one; CHK counts all but SYNC
            for state, nxt_byte, nxt in (("SEND_SYNC", reply.cmd, "SEND_CMD"),
                                         ("SEND_CMD", reply.length[:8], "SEND_LEN0"),
                                         ("SEND_LEN0", reply.length[8:], "SEND_LEN1"),
                                         ("SEND_LEN1", None, "PAY_FETCH")):
                with m.State(state):
                    m.d.comb += out.valid.eq(1)
                    with m.If(out.ready):
                        if state != "SEND_SYNC":
                            m.d.sync += chk.eq(chk - tx_byte)
                        if nxt_byte is not None:
                            m.d.sync += tx_byte.eq(nxt_byte)
                        else:                # the header's last byte: is there no payload?
                            m.d.sync += pay_end.eq(reply.length == 0)
                        m.next = nxt
            with m.State("PAY_FETCH"):       # the peek port's address is set for rep_i
                with m.If(pay_end):
                    m.d.sync += tx_byte.eq(chk)
                    m.next = "SEND_CHK"
                with m.Else():
                    m.next = "PAY_WAIT"
            with m.State("PAY_WAIT"):        # the peek port's data, in the buffer's output register
                m.next = "PAY_WAIT2"
            with m.State("PAY_WAIT2"):       # and again in ``peek_word``
                m.next = "PAY_LATCH"
            with m.State("PAY_LATCH"):       # the payload byte registered from it
                m.d.sync += tx_byte.eq(pay)
                m.next = "PAY_SEND"
            with m.State("PAY_SEND"):
                m.d.comb += out.valid.eq(1)
                with m.If(out.ready):
                    m.d.sync += [chk.eq(chk - tx_byte), rep_i.eq(rep_i + 1), pay_end.eq(rep_i + 1 == reply.length)]
                    if not pow2:
                        with m.If(b_i == abytes - 1):
                            m.d.sync += b_i.eq(0)
                            with m.If(l_i == C - 1):
                                m.d.sync += [l_i.eq(0), peek_addr.eq(peek_addr + 1)]
                            with m.Else():
                                m.d.sync += l_i.eq(l_i + 1)
                        with m.Else():
                            m.d.sync += b_i.eq(b_i + 1)
                    m.next = "PAY_FETCH"
            with m.State("SEND_CHK"):        # the reply is sent when its last byte is taken
                m.d.comb += out.valid.eq(1)
                with m.If(out.ready):
                    m.d.comb += self.i_reply.ready.eq(1)
                    m.next = "IDLE"
        return m
