"""``CommandExecutor``: the host link's middle stage (hw.link): a received frame in, the engine
driven, one reply out.

A frame (``i_frame``, from hw.link_receiver) whose ``code`` is not 0 is answered at once with an
error reply of that code: it changes nothing. A good frame is executed (adderhw.base.protocol):

* STATUS (LEN 0, else ERR_LENGTH): replies with the status table (hw.link_reply sends it).
* WRITE: LEN at least ``WRITE_HEADER`` (ERR_LENGTH) and ``vbytes`` 1 to 4 (ERR_RANGE); then a dry
  walk over the values' bytes counts the values (LEN - 6 a multiple of vbytes, ERR_LENGTH
  otherwise) and checks the space, the lane and the last address (ERR_RANGE: the constant space has
  lanes 0 (M) and 1 (B), and 2 (x_shift) on an engine with ``tile_shift``, protocol.const_lanes).
  Only then does the same walk issue one beat per value on ``o_load`` (sign-extended from vbytes
  bytes, read from the frame buffer through ``i_payload``). Each walk takes 2 cycles per byte and 1
  per value, plus the engine's stalls, and the dry walk one more for its range check. The (empty) reply starts after the last beat was taken, and
  every beat is a write of one memory word, so nothing of an acknowledged write waits in a
  register: neither the hang's reset nor the board's takes it back.
* RUN (LEN 0 or 4, else ERR_LENGTH): pulses ``o_start`` (a register, in the cycle after the
  frame is decided) and waits for ``i_done``; the reply holds
  the run's cycles and ``i_class``, registered when ``i_done`` rises. The cycles are counted here,
  every cycle from the one after ``o_start`` to the one before ``i_done`` is seen: the cycles the
  engine's ``o_cycles`` counts (from the one after its ``i_start`` to the one that raises its
  registered ``o_done``), with the counter the cycle limit needs anyway. If the run passes its limit
  (the frame's, or RUN_LIMIT) ``o_engine_reset`` is high for one cycle and ERR_HANG replies.
  ``o_engine_reset`` is a register: the reset net reaches nearly every flip-flop of the engine, and
  driven from the 32-bit limit's comparison it was the iCE40 engine's critical path (39.5 ns).
* READ (LEN 6, else ERR_LENGTH; a side below the engine's activation buffers (2, or 3 with
  ``residual``) and the words inside the buffer, else ERR_RANGE; a reply of at most MAX_PAYLOAD
  bytes, else ERR_LENGTH): replies with the words (hw.link_reply reads them).
* any other CMD: ERR_COMMAND.

Every register is as wide as the protocol lets its value be, not wider: a good frame's LEN is at
most MAX_PAYLOAD (the receiver answers a longer one with ERR_LENGTH), so the walk's byte position
needs bits_for(MAX_PAYLOAD); a WRITE address at or past 2^bits_for(deepest space) is past every
space whatever its count, so the walk's word address keeps those bits plus room for the most values
a frame carries; READ's address and count are checked the same way against the activation depth;
the value under assembly is no wider than the load port's ``data`` (at most 4 bytes).

Protocol: the frame is taken (``i_frame.ready``) in the cycle its reply is taken, that is when the
reply has been sent; until then both beats are held, so the reply's ``side`` and ``addr`` are
derived from the frame's header, ``cmd`` and ``length`` from ``code`` and registers loaded from the
header in IDLE, and ``code`` (0 for a good reply), ``cycles`` and ``classes`` are registers. The
header's checks are registered too: IDLE loads them in every cycle, and the frame is decided in
DECIDE, the cycle after it became valid. Latency: the reply is valid two cycles after the frame for
a receiver's error, STATUS, READ and every error found in the header; WRITE and RUN take as long as
their work (a WRITE's error after its dry walk, ERR_HANG one cycle after the reset).

Parameters: ``engine`` (EngineConfig).

Members
-------
i_frame : In(stream.Signature(hw.link_receiver.frame_layout()))
i_payload : In(memory.ReadPort.Signature(addr_width=ceil_log2(MAX_PAYLOAD), shape=8))
    the frame buffer's read port: ``addr`` and ``en`` driven here, ``data`` one cycle later.
o_reply : Out(stream.Signature(hw.link_reply.reply_layout(engine)))
o_load : Out(stream.Signature(hw.engine.load_layout(engine)))   the engine's memory writes
o_start : Out(1)                     starts a run (one cycle)
i_done : In(1), i_class : In(hw.engine.class_layout(engine))   the run's end
o_engine_reset : Out(1)              resets the engine's logic (not its memories) after a hang
o_error : Out(1)                     pulses once for each error reply, when it is decided
"""
from amaranth.hdl import Cat, Module, Mux, Signal
from amaranth.lib import memory, stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import bits_for, ceil_log2, exact_log2

from adderhw.base.engine import EngineConfig
from adderhw.base.errors import BadParameter
from adderhw.base.protocol import (CMD_ERROR, CMD_READ, CMD_RUN, CMD_STATUS, CMD_WRITE, DESC_SLOTS,
                                   ERR_COMMAND, ERR_HANG, ERR_LENGTH, ERR_RANGE, MAX_PAYLOAD, REPLY, RUN_LIMIT,
                                   SPACE_ACT, SPACE_CONST, SPACE_DESC, SPACE_WEIGHT, STATUS_BYTES, WRITE_HEADER,
                                   const_lanes)

from .engine import class_layout, load_layout
from .compare import below
from .link_receiver import frame_layout
from .link_reply import reply_layout

__all__ = ["CommandExecutor"]


class CommandExecutor(wiring.Component):
    def __init__(self, engine):
        if not isinstance(engine, EngineConfig):
            self._MustUse__used = True           # refused, never returned: no "created but never used"
            raise BadParameter(f"engine must be an EngineConfig, not {type(engine).__name__}")
        self.engine = engine
        super().__init__({
            "i_frame": In(stream.Signature(frame_layout())),
            "i_payload": In(memory.ReadPort.Signature(addr_width=ceil_log2(MAX_PAYLOAD), shape=8)),
            "o_reply": Out(stream.Signature(reply_layout(engine))),
            "o_load": Out(stream.Signature(load_layout(engine))),
            "o_start": Out(1), "i_done": In(1), "i_class": In(class_layout(engine)),
            "o_engine_reset": Out(1), "o_error": Out(1),
        })

    def _spaces(self):
        """{space: (depth, lanes)} of WRITE's spaces (protocol.const_lanes: 2 or 3 constant lanes)."""
        e = self.engine
        return {SPACE_ACT: (e.act_depth, e.array.cols), SPACE_WEIGHT: (e.weight_depth, e.array.rows),
                SPACE_CONST: (e.const_depth, const_lanes(e)), SPACE_DESC: (e.max_layers * DESC_SLOTS, 1)}

    def elaborate(self, platform):
        m = Module()
        e = self.engine
        C = e.array.cols
        word_bytes = C * ((e.array.width + 7) // 8)          # READ: reply bytes per activation word
        frame, head = self.i_frame.payload, self.i_frame.payload.head
        length = frame.length[:bits_for(MAX_PAYLOAD)]        # all of a good frame's LEN (module docstring)
        reply, load, rd = self.o_reply.payload, self.o_load, self.i_payload

        # WRITE's header and its walk: pos (payload byte), k (byte of the value), waddr, the value
        space, lane, addr, vbytes = head[0][:2], head[1], Cat(head[2], head[3], head[4]), head[5]
        spaces = self._spaces()
        addr_bits = bits_for(max(depth for depth, _ in spaces.values()))
        pos, k, dry = Signal(range(MAX_PAYLOAD + 1)), Signal(2), Signal()
        pos_end = Signal(name="pos_end")                     # pos == LEN, registered when pos is set
        waddr = Signal(bits_for((1 << addr_bits) - 1 + MAX_PAYLOAD - WRITE_HEADER))
        value = Signal(min(32, len(load.payload.data)))
        fits = Signal()                                      # the lane, and waddr as an end address
        with m.Switch(space):
            for code, (depth, lanes) in spaces.items():
                with m.Case(code):
                    m.d.comb += fits.eq(below(lane, lanes) & below(waddr, depth + 1))
        in_range = fits & (head[0][2:] == 0) & (addr[addr_bits:] == 0)
        last = k + 1 == vbytes                               # the value's last byte
        # the range check, registered: the dry walk's end reads it one cycle later (WRITE_CHECK), so
        # that the space's comparators do not feed the walk's next-state logic (waddr through them
        # into the walk's registers was the iCE40 engine's critical path, 27.4 ns)
        in_range_r = Signal()
        m.d.sync += in_range_r.eq(in_range)
        m.d.comb += [load.payload.space.eq(space), load.payload.addr.eq(waddr), load.payload.lane.eq(lane),
                     load.payload.data.eq(value.as_signed())]

        # READ's fields, checked and passed through to the reply (the frame is held while it is sent)
        act_bits = bits_for(e.act_depth)
        r_side, r_addr, r_count = head[0], Cat(head[1], head[2], head[3]), Cat(head[4], head[5])
        m.d.comb += [reply.side.eq(r_side), reply.addr.eq(r_addr)]
        r_outside = (~below(r_side, e.act_buffers) | (r_addr[act_bits:] != 0) | (r_count[act_bits:] != 0) |
                     ~below(r_addr[:act_bits] + r_count[:act_bits], e.act_depth + 1))

        # the reply's command and length follow from the frame; code is 0 for a good reply. A good
        # reply's are registered in every idle cycle (so from the frame that leaves IDLE, held while it
        # is), and only the error's multiplexer follows: READ's length, a sum of shifted counts, went
        # into the reply's first bytes (the iCE40 engine's critical path, 26.9 ns)
        good_cmd, good_length = Signal(8, name="good_cmd"), Signal.like(reply.length, name="good_length")
        length_of = Signal.like(reply.length)
        with m.Switch(frame.cmd):
            with m.Case(CMD_STATUS):
                m.d.comb += length_of.eq(STATUS_BYTES)
            with m.Case(CMD_RUN):
                m.d.comb += length_of.eq(4 + C)
            with m.Case(CMD_READ):
                # count · word_bytes as shifts and adds: an engine without multipliers has none
                # here either (Yosys put a constant product of 3 lanes in an iCE40 DSP block)
                count = r_count[:act_bits]
                m.d.comb += length_of.eq(sum(count << i for i in range(word_bytes.bit_length())
                                             if word_bytes >> i & 1))
        with m.If(reply.code != 0):
            m.d.comb += [reply.cmd.eq(CMD_ERROR), reply.length.eq(1)]
        with m.Else():
            m.d.comb += [reply.cmd.eq(good_cmd), reply.length.eq(good_length)]

        # RUN: cycles since the start, from 0 (a flip-flop's reset, where a down-counter loaded with
        # the limit needs a multiplexer per bit), held from i_done on as the reply's cycles; and the
        # limit reached: the frame's, or RUN_LIMIT, a power of two whose bit rises first when the
        # count reaches it
        run_count = Signal(32)
        m.d.comb += reply.cycles.eq(run_count)
        # the frame's limit L is compared ahead: at_limit is run_count == L, set in DECIDE (L = 0) and,
        # in each counting cycle, from run_count == L - 1 (registered in DECIDE): a 32-bit comparison
        # into the engine's reset was the iCE40 engine's critical path, 25.1 ns
        limit_m1, at_limit, own_limit = Signal(32, name="limit_m1"), Signal(name="at_limit"), Signal(name="own_limit")
        run_limit = Mux(own_limit, at_limit, run_count[exact_log2(RUN_LIMIT)])
        run_hung = Signal()
        # o_start is a register, high in RUN's first cycle: decided from the frame's header in IDLE
        # and driven straight into the sequencer, it was the iCE40 1x1 engine's critical path
        # (30.4 ns from the frame's LEN to the descriptor table's address)
        start = Signal()
        m.d.comb += self.o_start.eq(start)
        m.d.sync += [self.o_engine_reset.eq(0), start.eq(0)]

        # the header's checks, registered in IDLE and read in DECIDE, the cycle after the frame became
        # valid (the frame is held): from the frame's fields through these comparisons into the
        # decision and the error pulse was the iCE40 engine's critical path, 24.8 ns
        status_long, write_short, write_vbytes_bad, run_length_bad, read_length_bad, read_outside, read_too_long = (
            Signal(name=name) for name in ("status_long", "write_short", "write_vbytes_bad", "run_length_bad",
                                           "read_length_bad", "read_outside", "read_too_long"))
        checks = [(status_long, length != 0), (write_short, below(length, WRITE_HEADER)),
                  (write_vbytes_bad, (vbytes == 0) | ~below(vbytes, 5)),
                  (run_length_bad, (length != 0) & (length != 4)), (read_length_bad, length != 6),
                  (read_outside, r_outside), (read_too_long, ~below(r_count[:act_bits], MAX_PAYLOAD // word_bytes + 1))]
        # and the command, decoded (one flag per command; none for an unknown one), and the receiver's error
        cmd_is = {cmd: Signal(name=f"cmd_is_{name}") for cmd, name in
                  ((CMD_STATUS, "status"), (CMD_WRITE, "write"), (CMD_RUN, "run"), (CMD_READ, "read"))}
        rx_error = Signal(name="rx_error")
        checks += [(flag, frame.cmd == cmd) for cmd, flag in cmd_is.items()] + [(rx_error, frame.code != 0)]

        # per command: its checks in order (a registered flag and the error it answers), then the state
        # a good frame goes to
        decisions = {CMD_STATUS: ([(status_long, ERR_LENGTH)], "REPLY"),
                     CMD_WRITE: ([(write_short, ERR_LENGTH), (write_vbytes_bad, ERR_RANGE)], "WRITE_FETCH"),
                     CMD_RUN: ([(run_length_bad, ERR_LENGTH)], "RUN"),
                     CMD_READ: ([(read_length_bad, ERR_LENGTH), (read_outside, ERR_RANGE),
                                 (read_too_long, ERR_LENGTH)], "REPLY")}

        def fail(code):
            m.d.sync += reply.code.eq(code)
            m.d.comb += self.o_error.eq(1)
            m.next = "REPLY"

        with m.FSM(name="executor"):
            with m.State("IDLE"):
                # loaded in every idle cycle, used by the frame that leaves it (fail overrides code)
                m.d.sync += [good_cmd.eq(frame.cmd | REPLY), good_length.eq(length_of)]
                m.d.sync += [reply.code.eq(frame.code), pos.eq(WRITE_HEADER), pos_end.eq(length == WRITE_HEADER),
                             k.eq(0), dry.eq(1),
                             waddr.eq(addr[:addr_bits]), run_hung.eq(0), run_count.eq(0)]
                m.d.sync += [flag.eq(check) for flag, check in checks]
                with m.If(self.i_frame.valid):
                    m.next = "DECIDE"
            with m.State("DECIDE"):          # the frame's header checks, registered in IDLE
                with m.If(rx_error):         # the receiver's error
                    m.d.comb += self.o_error.eq(1)
                    m.next = "REPLY"
                for cmd, (rules, then) in decisions.items():
                    with m.Elif(cmd_is[cmd]):
                        for i, (flag, code) in enumerate(rules):     # the first failed check answers
                            with (m.Elif if i else m.If)(flag):
                                fail(code)
                        with m.Else():
                            if cmd == CMD_RUN:
                                m.d.sync += [start.eq(1), own_limit.eq(length == 4),
                                             limit_m1.eq(Cat(*head[:4]) - 1), at_limit.eq(Cat(*head[:4]) == 0)]
                            m.next = then
                with m.Else():
                    fail(ERR_COMMAND)

            # the walk, twice: dry (count the values: waddr ends at addr + count), then for real
            with m.State("WRITE_FETCH"):     # frame buffer address set: the byte arrives next cycle
                m.d.comb += [rd.addr.eq(pos), rd.en.eq(1)]
                with m.If(~pos_end):
                    m.next = "WRITE_BYTE"
                with m.Elif(~dry):
                    m.next = "REPLY"
                with m.Elif(k != 0):         # a torn value
                    fail(ERR_LENGTH)
                with m.Else():
                    m.next = "WRITE_CHECK"
            with m.State("WRITE_CHECK"):     # the dry walk's end: its range, registered in WRITE_FETCH
                with m.If(~in_range_r):
                    fail(ERR_RANGE)
                with m.Else():
                    m.d.sync += [pos.eq(WRITE_HEADER), pos_end.eq(length == WRITE_HEADER), waddr.eq(addr[:addr_bits]),
                                 dry.eq(0)]
                    m.next = "WRITE_FETCH"
            with m.State("WRITE_BYTE"):      # byte k of the value; its last one also sign-fills the rest
                for j in range(0, len(value), 8):
                    part = value[j:j + 8]
                    with m.If(k == j // 8):
                        m.d.sync += part.eq(rd.data)
                    if j:                    # a byte above the first one: the sign, after the last byte
                        with m.Elif(last & below(k, j // 8)):
                            m.d.sync += part.eq(Mux(rd.data[7], -1, 0))
                m.d.sync += [pos.eq(pos + 1), pos_end.eq(pos + 1 == length), k.eq(Mux(last, 0, k + 1))]
                with m.If(last):
                    m.next = "WRITE_LOAD"
                with m.Else():
                    m.next = "WRITE_FETCH"
            with m.State("WRITE_LOAD"):      # a beat (none in the dry walk), then the next address
                m.d.comb += load.valid.eq(~dry)
                with m.If(load.ready | dry):
                    m.d.sync += waddr.eq(waddr + 1)
                    m.next = "WRITE_FETCH"

            with m.State("RUN"):
                with m.If(~start):           # the engine starts in the first cycle; counting begins after it
                    with m.If(~self.i_done):
                        m.d.sync += [run_count.eq(run_count + 1), at_limit.eq(run_count == limit_m1)]
                    with m.If(run_hung):     # the engine is reset in this cycle
                        fail(ERR_HANG)
                    with m.Elif(run_limit & ~self.i_done):
                        m.d.sync += [self.o_engine_reset.eq(1), run_hung.eq(1)]     # the reset: next cycle
                    with m.Elif(self.i_done):
                        m.d.sync += [reply.classes[c].eq(self.i_class[c]) for c in range(C)]
                        m.next = "REPLY"

            with m.State("REPLY"):           # held until sent; then the frame is done with too
                m.d.comb += [self.o_reply.valid.eq(1), self.i_frame.ready.eq(self.o_reply.ready)]
                with m.If(self.o_reply.ready):
                    m.next = "IDLE"
        return m
