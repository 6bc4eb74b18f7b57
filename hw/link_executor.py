"""``CommandExecutor``: the host link's middle stage (hw.link): a received frame in, the engine
driven, one reply out.

A frame (``i_frame``, from hw.link_receiver) whose ``code`` is not 0 is answered at once with an
error reply of that code: it changes nothing. A good frame is executed (adderhw.base.protocol):

* STATUS (LEN 0, else ERR_LENGTH): replies with the status table (hw.link_reply sends it).
* WRITE: LEN at least ``WRITE_HEADER`` (ERR_LENGTH) and ``vbytes`` 1 to 4 (ERR_RANGE); then a dry
  walk counts the values (LEN - 6 a multiple of vbytes, ERR_LENGTH otherwise) and checks the space,
  the lane and the last address (ERR_RANGE: the constant space has lanes 0 (M) and 1 (B), and 2
  (x_shift) on an engine with ``tile_shift``, protocol.const_lanes). Only then does it issue one
  beat per value on ``o_load`` (sign-extended from vbytes bytes, read from the frame buffer through
  ``i_payload``: vbytes x 2 cycles per value, plus the engine's stalls). Its (empty) reply starts
  after the last beat was taken, and every beat is a write of one memory word, so nothing of an
  acknowledged write waits in a register: neither the hang's reset nor the board's takes it back.
* RUN (LEN 0 or 4, else ERR_LENGTH): pulses ``o_start`` and waits for ``i_done``; the reply holds
  ``i_cycles`` and ``i_class``, registered when ``i_done`` rises. If the run passes its cycle limit
  (the frame's, or RUN_LIMIT) ``o_engine_reset`` is high for one cycle and ERR_HANG replies.
  ``o_engine_reset`` is a register: the reset net reaches nearly every flip-flop of the engine, and
  driven from the 32-bit limit's comparison it was the iCE40 engine's critical path (39.5 ns).
* READ (LEN 6, else ERR_LENGTH; a side below the engine's activation buffers (2, or 3 with
  ``residual``) and the words inside the buffer, else ERR_RANGE; a
  reply of at most MAX_PAYLOAD bytes, else ERR_LENGTH): replies with the words (hw.link_reply reads
  them).
* any other CMD: ERR_COMMAND.

Protocol: the frame is taken (``i_frame.ready``) in the cycle its reply is taken, that is when the
reply has been sent; until then both beats are held, so the reply's ``side`` and ``addr`` are the
frame's header, passed through. Latency: the reply is valid one cycle after the frame for a
receiver's error, STATUS and READ; an error found here adds a cycle (the error reply is formed
in its own state); WRITE and RUN take as long as their work.

Parameters: ``engine`` (EngineConfig).

Members
-------
i_frame : In(stream.Signature(hw.link_receiver.frame_layout()))
i_payload : In(memory.ReadPort.Signature(addr_width=ceil_log2(MAX_PAYLOAD), shape=8))
    the frame buffer's read port: ``addr`` and ``en`` driven here, ``data`` one cycle later.
o_reply : Out(stream.Signature(hw.link_reply.reply_layout(engine)))
o_load : Out(stream.Signature(hw.engine.load_layout(engine)))   the engine's memory writes
o_start : Out(1)                     starts a run (one cycle)
i_done : In(1), i_cycles : In(32), i_class : In(hw.engine.class_layout(engine))   the run's end
o_engine_reset : Out(1)              resets the engine's logic (not its memories) after a hang
o_error : Out(1)                     pulses once for each error reply, when it is decided
"""
from amaranth.hdl import Cat, Module, Mux, Signal, signed
from amaranth.lib import memory, stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from adderhw.base.engine import EngineConfig
from adderhw.base.errors import BadParameter
from adderhw.base.protocol import (CMD_ERROR, CMD_READ, CMD_RUN, CMD_STATUS, CMD_WRITE, DESC_SLOTS,
                                   ERR_COMMAND, ERR_HANG, ERR_LENGTH, ERR_RANGE, MAX_PAYLOAD, REPLY, RUN_LIMIT,
                                   SPACE_ACT, SPACE_CONST, SPACE_DESC, SPACE_WEIGHT, STATUS_BYTES, WRITE_HEADER,
                                   const_lanes)

from .engine import class_layout, load_layout
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
            "o_start": Out(1), "i_done": In(1), "i_cycles": In(32), "i_class": In(class_layout(engine)),
            "o_engine_reset": Out(1), "o_error": Out(1),
        })

    def _space_bounds(self, m, space):
        """The depth and the lanes of WRITE's ``space`` (protocol.const_lanes: 2 or 3 constant lanes)."""
        e = self.engine
        depth, lanes = Signal(25), Signal(8)
        for code, d, n in ((SPACE_ACT, e.act_depth, e.array.cols), (SPACE_WEIGHT, e.weight_depth, e.array.rows),
                           (SPACE_CONST, e.const_depth, const_lanes(e)),
                           (SPACE_DESC, e.max_layers * DESC_SLOTS, 1)):
            with m.If(space == code):
                m.d.comb += [depth.eq(d), lanes.eq(n)]
        return depth, lanes

    @staticmethod
    def _sign_extend(m, value, vbytes):
        """``value``'s low ``vbytes`` bytes (1 to 4), sign-extended to 32 bits (0 for another vbytes)."""
        ext = Signal(signed(32))
        for n in (1, 2, 3, 4):
            with m.If(vbytes == n):
                m.d.comb += ext.eq(value[:8 * n].as_signed())
        return ext

    def elaborate(self, platform):
        m = Module()
        e = self.engine
        C = e.array.cols
        abytes = (e.array.width + 7) // 8
        frame, head, length = self.i_frame.payload, self.i_frame.payload.head, self.i_frame.payload.length
        reply, load, rd = self.o_reply.payload, self.o_load, self.i_payload

        # WRITE's header, and its walk: pos (payload byte), k (byte of the value), the value
        space, lane, addr, vbytes = head[0][:2], head[1], Cat(head[2], head[3], head[4]), head[5]
        depth, lanes = self._space_bounds(m, space)
        pos, k, count, waddr, value = Signal(16), Signal(3), Signal(16), Signal(25), Signal(32)
        m.d.comb += [load.payload.space.eq(space), load.payload.addr.eq(waddr), load.payload.lane.eq(lane),
                     load.payload.data.eq(self._sign_extend(m, value, vbytes))]
        # READ's fields, passed through to the reply (the frame is held while the reply is sent)
        r_addr, r_count = Cat(head[1], head[2], head[3]), Cat(head[4], head[5])
        m.d.comb += [reply.side.eq(head[0]), reply.addr.eq(r_addr)]
        run_left = Signal(32)                # RUN: cycles left before the run counts as hung
        run_hung = Signal()
        m.d.sync += self.o_engine_reset.eq(0)

        def answer(cmd, n):
            m.d.sync += [reply.cmd.eq(cmd), reply.length.eq(n)]
            m.next = "REPLY"

        def fail(code):
            m.d.sync += reply.code.eq(code)
            m.d.comb += self.o_error.eq(1)
            m.next = "FAIL"

        with m.FSM(name="executor"):
            with m.State("IDLE"):
                with m.If(self.i_frame.valid & (frame.code != 0)):      # the receiver's error
                    m.d.sync += reply.code.eq(frame.code)
                    m.d.comb += self.o_error.eq(1)
                    answer(CMD_ERROR, 1)
                with m.Elif(self.i_frame.valid):
                    with m.Switch(frame.cmd):
                        with m.Case(CMD_STATUS):
                            with m.If(length != 0):
                                fail(ERR_LENGTH)
                            with m.Else():
                                answer(CMD_STATUS | REPLY, STATUS_BYTES)
                        with m.Case(CMD_WRITE):
                            with m.If((length < WRITE_HEADER) | (vbytes == 0) | (vbytes > 4)):
                                fail(Mux(length < WRITE_HEADER, ERR_LENGTH, ERR_RANGE))
                            with m.Else():
                                m.d.sync += [pos.eq(WRITE_HEADER), count.eq(0)]
                                m.next = "WRITE_COUNT"
                        with m.Case(CMD_RUN):
                            with m.If((length != 0) & (length != 4)):
                                fail(ERR_LENGTH)
                            with m.Else():
                                m.d.comb += self.o_start.eq(1)
                                m.d.sync += [run_left.eq(Mux(length == 4, Cat(*head[:4]), RUN_LIMIT)),
                                             run_hung.eq(0)]
                                m.next = "RUN"
                        with m.Case(CMD_READ):
                            with m.If(length != 6):
                                fail(ERR_LENGTH)
                            with m.Elif((r_addr + r_count > e.act_depth) | (head[0] >= e.act_buffers)):
                                fail(ERR_RANGE)
                            with m.Elif(r_count * (C * abytes) > MAX_PAYLOAD):
                                fail(ERR_LENGTH)
                            with m.Else():
                                answer(CMD_READ | REPLY, r_count * (C * abytes))
                        with m.Default():
                            fail(ERR_COMMAND)

            with m.State("WRITE_COUNT"):     # the dry walk: how many values, and do they fit
                with m.If(pos == length):
                    with m.If((head[0] >= 4) | (lane >= lanes) | (addr + count > depth)):
                        fail(ERR_RANGE)
                    with m.Else():
                        m.d.sync += [pos.eq(WRITE_HEADER), k.eq(0), waddr.eq(addr), value.eq(0)]
                        m.next = "WRITE_FETCH"
                with m.Elif(pos > length):
                    fail(ERR_LENGTH)
                with m.Else():
                    m.d.sync += [pos.eq(pos + vbytes), count.eq(count + 1)]
            with m.State("WRITE_FETCH"):     # frame buffer address set: the byte arrives next cycle
                m.d.comb += [rd.addr.eq(pos), rd.en.eq(1)]
                with m.If(pos == length):
                    answer(CMD_WRITE | REPLY, 0)
                with m.Else():
                    m.next = "WRITE_BYTE"
            with m.State("WRITE_BYTE"):
                m.d.sync += [value.eq(value | (rd.data << (k * 8))), pos.eq(pos + 1)]
                with m.If(k + 1 == vbytes):
                    m.next = "WRITE_LOAD"
                with m.Else():
                    m.d.sync += k.eq(k + 1)
                    m.next = "WRITE_FETCH"
            with m.State("WRITE_LOAD"):
                m.d.comb += load.valid.eq(1)
                with m.If(load.ready):
                    m.d.sync += [waddr.eq(waddr + 1), k.eq(0), value.eq(0)]
                    m.next = "WRITE_FETCH"

            with m.State("RUN"):
                m.d.sync += run_left.eq(run_left - 1)
                with m.If(run_hung):         # the engine is reset in this cycle
                    fail(ERR_HANG)
                with m.Elif((run_left == 0) & ~self.i_done):
                    m.d.sync += [self.o_engine_reset.eq(1), run_hung.eq(1)]     # the reset: next cycle
                with m.Elif(self.i_done):
                    m.d.sync += reply.cycles.eq(self.i_cycles)
                    m.d.sync += [reply.classes[c].eq(self.i_class[c]) for c in range(C)]
                    answer(CMD_RUN | REPLY, 4 + C)

            with m.State("FAIL"):
                answer(CMD_ERROR, 1)
            with m.State("REPLY"):           # held until sent; then the frame is done with too
                m.d.comb += [self.o_reply.valid.eq(1), self.i_frame.ready.eq(self.o_reply.ready)]
                with m.If(self.o_reply.ready):
                    m.next = "IDLE"
        return m
