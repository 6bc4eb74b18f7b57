"""``EngineLink``: the layer engine (hw.engine) behind a UART host link, the core of a board top.

The protocol (frames, commands, replies, error codes) is defined in one place,
``adderhw.base.protocol``; the host side is ``adderhw.base.host``. This module implements the device
side:

* ``hw.uart.UartRx`` gives bytes; the frame parser checks the sync byte, keeps CMD and LEN, stores
  the payload in a frame buffer (``MAX_PAYLOAD`` bytes, one ``amaranth.lib.memory`` block; bytes
  beyond it are counted, not stored) and keeps the first 6 payload bytes (a command's header) in
  registers, and the running sum. After the CHK byte: LEN beyond MAX_PAYLOAD gives ERR_LENGTH, a
  sum other than 0 ERR_CHECKSUM; only a good frame is executed, so a bad one changes nothing.
* A frame that stalls for ``timeout`` cycles (no byte) is dropped with ERR_TIMEOUT; a byte without
  its stop bit inside a frame drops it with ERR_FRAMING (between frames such bytes are ignored, as
  is anything before a sync byte). Bytes that arrive while a command executes or its reply is sent
  are dropped: the host sends the next frame after the reply.
* STATUS replies with a table fixed when the top is built (``status_bytes``): the protocol
  version and the EngineConfig the engine was built from, among them (version 2) how it
  requantises (``requant`` as its index in REQUANT_KINDS, ``shift_terms``) and whether it has the
  per-tile input shift (``tile_shift``, 0 or 1), so that the host loads only programs it can run.
* WRITE first walks its values without writing (n values, and LEN - 6 a multiple of vbytes,
  ERR_LENGTH otherwise; the lane and the last address inside the space, ERR_RANGE otherwise: the
  constant space has lanes 0 (M) and 1 (B), and 2 (x_shift) on an engine with ``tile_shift``,
  protocol.const_lanes), then issues one load beat per value to the engine's ``i_load``
  (sign-extended from vbytes bytes).
* RUN pulses the engine's ``i_start``, waits for ``o_done`` and replies with ``o_cycles`` and
  every lane's ``o_class``; if the run passes its cycle limit (the frame's, or RUN_LIMIT) the
  engine's logic is reset (a ResetInserter; its memories keep the program) and ERR_HANG replies.
  READ replies with words of an activation buffer through the engine's peek port.
* Acknowledged writes are kept (protocol: "What the device keeps"). A WRITE's reply starts after
  its last load beat was taken, and every load beat is a write of one memory word: the engine has
  no register that holds part of a write for a later beat (a constant's M and B are separate
  tables in hw.engine; there was a register for M once, and a hang's reset between an M frame and
  its B frame emptied it). Nothing in this link carries part of a write from one frame to the
  next either: the header registers, the frame buffer and the walk serve only the frame that
  filled them. So neither the hang's reset nor the board's (memories have none) takes back an
  acknowledged write.
* The reply is sent by one transmitter state machine: sync, CMD | 0x80 (or 0xFF), LEN, the payload
  bytes (each fetched one cycle ahead: the peek port and the frame buffer read synchronously) and
  the checksum.

Parameters: ``engine`` (EngineConfig), ``divisor`` (clock cycles per UART bit, hw.uart),
``timeout`` (cycles without a byte that drop a frame; default 64 byte times), ``clk_hz`` (reported
by STATUS so that the host can turn cycles into seconds).

Members
-------
i_rx : In(1, init=1)   the UART's receive pin (host to device)
o_tx : Out(1)          the UART's transmit pin
o_busy : Out(1)        the engine runs (for an LED)
o_error : Out(1)       pulses when an error reply is started (for an LED)
"""
from amaranth.hdl import Cat, Module, Mux, ResetInserter, Signal, signed
from amaranth.lib import memory, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from adderhw.base.engine import EngineConfig
from adderhw.base.errors import BadParameter
from adderhw.base.protocol import (CMD_ERROR, CMD_READ, CMD_RUN, CMD_STATUS, CMD_WRITE, ERR_CHECKSUM, ERR_COMMAND,
                                   ERR_FRAMING, ERR_HANG, ERR_LENGTH, ERR_RANGE, ERR_TIMEOUT, MAX_PAYLOAD,
                                   PROTOCOL_VERSION, REPLY, RUN_LIMIT, STATUS_FIELDS, SYNC, const_lanes,
                                   DESC_SLOTS, SPACE_ACT, SPACE_CONST, SPACE_DESC, SPACE_WEIGHT, WRITE_HEADER)
from adderhw.base.requant import REQUANT_KINDS
from adderhw.base.validate import check_int

from .engine import LayerEngine
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
              "tile_shift": int(engine.tile_shift), "post_lanes": engine.pp_lanes, "field_bits": engine.field_bits}
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
        self.timeout = check_int("timeout", default_timeout(divisor) if timeout is None else timeout, lo=20 * divisor)
        if engine.array.cols > 255 or engine.array.width > 16:
            raise BadParameter(f"the host link carries at most 255 lanes of at most 16 bits, not "
                               f"{engine.array.cols} lanes of {engine.array.width}")
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        e = self.engine
        a = e.array
        C, R = a.cols, a.rows
        abytes = (a.width + 7) // 8

        m.submodules.rx = rx = UartRx(self.divisor)
        m.submodules.tx = tx = UartTx(self.divisor)
        eng = LayerEngine(e)
        # resets the engine's logic (not its memories) after a hang: a register, so that the reset net,
        # which reaches nearly every flip-flop of the engine, starts at a flip-flop (driven from the
        # 32-bit cycle limit's comparison it was the iCE40 engine's critical path, 39.5 ns)
        eng_rst = Signal()
        m.d.sync += eng_rst.eq(0)
        m.submodules.engine = ResetInserter({"sync": eng_rst})(eng)
        m.submodules.frame = fmem = memory.Memory(shape=8, depth=MAX_PAYLOAD, init=[])
        f_wr = fmem.write_port()
        f_rd = fmem.read_port(transparent_for=())
        m.d.comb += [rx.i_rx.eq(self.i_rx), self.o_tx.eq(tx.o_tx), self.o_busy.eq(eng.o_busy)]

        # ---- frame registers
        cmd = Signal(8)
        length = Signal(16)
        idx = Signal(16)                     # payload bytes received so far
        total = Signal(8)                    # running sum of the bytes after the sync byte
        hdr = [Signal(8, name=f"hdr{i}") for i in range(WRITE_HEADER)]
        idle_timer = Signal(range(self.timeout + 1))
        byte = rx.o_data
        got = rx.o_valid
        m.d.comb += [f_wr.addr.eq(idx), f_wr.data.eq(byte)]

        # ---- command fields (from the header registers)
        space, lane = hdr[0][:2], hdr[1]
        addr = Cat(hdr[2], hdr[3], hdr[4])
        vbytes = hdr[5]
        space_ok = hdr[0] < 4
        depth = Signal(25)
        lanes = Signal(8)
        with m.Switch(space):
            with m.Case(SPACE_ACT):
                m.d.comb += [depth.eq(e.act_depth), lanes.eq(C)]
            with m.Case(SPACE_WEIGHT):
                m.d.comb += [depth.eq(e.weight_depth), lanes.eq(R)]
            with m.Case(SPACE_CONST):
                m.d.comb += [depth.eq(e.const_depth), lanes.eq(const_lanes(e))]
            with m.Case(SPACE_DESC):
                m.d.comb += [depth.eq(e.max_layers * DESC_SLOTS), lanes.eq(1)]

        # ---- WRITE's walk: pos (payload byte), k (byte of the value), value assembly
        pos = Signal(16)
        k = Signal(3)
        count = Signal(16)                   # values in the frame (the dry walk counts them)
        waddr = Signal(25)
        value = Signal(32)
        load = eng.i_load
        ext = Signal(signed(32))
        with m.Switch(vbytes):
            for n in (1, 2, 3, 4):
                with m.Case(n):
                    m.d.comb += ext.eq(value[:8 * n].as_signed())
        m.d.comb += [load.payload.space.eq(space), load.payload.addr.eq(waddr), load.payload.lane.eq(lane),
                     load.payload.data.eq(ext)]

        # ---- READ's fields and the reply
        r_side, r_addr, r_count = hdr[0][0], Cat(hdr[1], hdr[2], hdr[3]), Cat(hdr[4], hdr[5])
        rep_cmd = Signal(8)
        rep_len = Signal(16)
        rep_sum = Signal(8)
        rep_i = Signal(16)                   # payload byte being sent
        err = Signal(8)
        w_i = Signal(16)                     # READ: word, lane and byte of the byte being sent
        l_i = Signal(range(max(C, 2)))
        b_i = Signal(range(max(abytes, 2)))
        cycles = Signal(32)
        run_left = Signal(32)                # RUN: cycles left before the run counts as hung
        run_hung = Signal()
        classes = Signal(8 * C)
        m.d.comb += [eng.i_peek_side.eq(r_side), eng.i_peek_addr.eq(r_addr + w_i)]
        status = status_bytes(e, self.clk_hz)
        pay = Signal(8)                      # the payload byte rep_i, valid one cycle after rep_i is set
        run_bytes = Cat(cycles, classes)
        with m.Switch(rep_cmd):
            with m.Case(CMD_STATUS | REPLY):
                table = Signal(8 * len(status), init=int.from_bytes(status, "little"))
                m.d.sync += pay.eq(table.word_select(rep_i[:ceil_log2(len(status) + 1)], 8))
            with m.Case(CMD_RUN | REPLY):
                m.d.sync += pay.eq(run_bytes.word_select(rep_i[:ceil_log2(4 + C + 1)], 8))
            with m.Case(CMD_READ | REPLY):
                # the peek port's word registered first (PAY_WAIT), then the byte (PAY_LATCH), so no
                # path runs from the activation buffer's output through the lane and byte
                # multiplexers (it was the ECP5 8x8 engine's critical path, 12.9 ns)
                peek = Signal.like(eng.o_peek_data, name="peek_word")
                m.d.sync += peek.eq(eng.o_peek_data)
                lane_val = Signal(signed(16))
                m.d.comb += lane_val.eq(peek.as_value().word_select(l_i, a.width).as_signed())
                m.d.sync += pay.eq(lane_val.as_unsigned().word_select(b_i, 8))
            with m.Case(CMD_ERROR):
                m.d.sync += pay.eq(err)

        tx_byte = Signal(8)
        m.d.comb += tx.i_data.payload.eq(tx_byte)
        fail = Signal()                      # start an error reply with code ``err`` (set with it)
        m.d.comb += self.o_error.eq(fail)

        with m.FSM(name="link"):
            # ---------------- receiving a frame
            with m.State("IDLE"):
                with m.If(got & (byte == SYNC)):
                    m.d.sync += [total.eq(0), idx.eq(0), idle_timer.eq(0)]
                    m.next = "CMD"
            for state, nxt in (("CMD", "LEN0"), ("LEN0", "LEN1"), ("LEN1", "PAYLOAD"), ("CHK", "CHECK")):
                with m.State(state):
                    with m.If(got):
                        m.d.sync += [total.eq(total + byte), idle_timer.eq(0)]
                        if state == "CMD":
                            m.d.sync += cmd.eq(byte)
                        if state == "LEN0":
                            m.d.sync += length[:8].eq(byte)
                        if state == "LEN1":
                            m.d.sync += length[8:].eq(byte)
                        m.next = nxt
                    with m.Elif(rx.o_error):
                        m.d.sync += err.eq(ERR_FRAMING)
                        m.d.comb += fail.eq(1)
                        m.next = "REPLY_ERR"
                    with m.Elif(idle_timer == self.timeout):
                        m.d.sync += err.eq(ERR_TIMEOUT)
                        m.d.comb += fail.eq(1)
                        m.next = "REPLY_ERR"
                    with m.Else():
                        m.d.sync += idle_timer.eq(idle_timer + 1)
            with m.State("PAYLOAD"):
                with m.If(idx == length):
                    m.next = "CHK"
                with m.Elif(got):
                    m.d.sync += [total.eq(total + byte), idle_timer.eq(0), idx.eq(idx + 1)]
                    m.d.comb += f_wr.en.eq(idx < MAX_PAYLOAD)
                    for i in range(WRITE_HEADER):
                        with m.If(idx == i):
                            m.d.sync += hdr[i].eq(byte)
                with m.Elif(rx.o_error):
                    m.d.sync += err.eq(ERR_FRAMING)
                    m.d.comb += fail.eq(1)
                    m.next = "REPLY_ERR"
                with m.Elif(idle_timer == self.timeout):
                    m.d.sync += err.eq(ERR_TIMEOUT)
                    m.d.comb += fail.eq(1)
                    m.next = "REPLY_ERR"
                with m.Else():
                    m.d.sync += idle_timer.eq(idle_timer + 1)
            with m.State("CHECK"):
                with m.If(length > MAX_PAYLOAD):
                    m.d.sync += err.eq(ERR_LENGTH)
                    m.d.comb += fail.eq(1)
                    m.next = "REPLY_ERR"
                with m.Elif(total != 0):
                    m.d.sync += err.eq(ERR_CHECKSUM)
                    m.d.comb += fail.eq(1)
                    m.next = "REPLY_ERR"
                with m.Else():
                    m.next = "EXEC"

            # ---------------- executing a good frame
            with m.State("EXEC"):
                with m.Switch(cmd):
                    with m.Case(CMD_STATUS):
                        with m.If(length != 0):
                            m.d.sync += err.eq(ERR_LENGTH)
                            m.d.comb += fail.eq(1)
                            m.next = "REPLY_ERR"
                        with m.Else():
                            m.d.sync += [rep_cmd.eq(CMD_STATUS | REPLY), rep_len.eq(len(status))]
                            m.next = "REPLY"
                    with m.Case(CMD_WRITE):
                        with m.If((length < WRITE_HEADER) | (vbytes == 0) | (vbytes > 4)):
                            m.d.sync += err.eq(Mux(length < WRITE_HEADER, ERR_LENGTH, ERR_RANGE))
                            m.d.comb += fail.eq(1)
                            m.next = "REPLY_ERR"
                        with m.Else():
                            m.d.sync += [pos.eq(WRITE_HEADER), count.eq(0)]
                            m.next = "WRITE_COUNT"
                    with m.Case(CMD_RUN):
                        with m.If((length != 0) & (length != 4)):
                            m.d.sync += err.eq(ERR_LENGTH)
                            m.d.comb += fail.eq(1)
                            m.next = "REPLY_ERR"
                        with m.Else():
                            m.d.comb += eng.i_start.eq(1)
                            m.d.sync += [run_left.eq(Mux(length == 4, Cat(*hdr[:4]), RUN_LIMIT)), run_hung.eq(0)]
                            m.next = "RUN"
                    with m.Case(CMD_READ):
                        words_ok = (r_addr + r_count <= e.act_depth) & (hdr[0] < 2)
                        with m.If(length != 6):
                            m.d.sync += err.eq(ERR_LENGTH)
                            m.d.comb += fail.eq(1)
                            m.next = "REPLY_ERR"
                        with m.Elif(~words_ok):
                            m.d.sync += err.eq(ERR_RANGE)
                            m.d.comb += fail.eq(1)
                            m.next = "REPLY_ERR"
                        with m.Elif(r_count * (C * abytes) > MAX_PAYLOAD):
                            m.d.sync += err.eq(ERR_LENGTH)
                            m.d.comb += fail.eq(1)
                            m.next = "REPLY_ERR"
                        with m.Else():
                            m.d.sync += [rep_cmd.eq(CMD_READ | REPLY), rep_len.eq(r_count * (C * abytes))]
                            m.next = "REPLY"
                    with m.Default():
                        m.d.sync += err.eq(ERR_COMMAND)
                        m.d.comb += fail.eq(1)
                        m.next = "REPLY_ERR"

            with m.State("WRITE_COUNT"):     # the dry walk: how many values, and do they fit
                with m.If(pos == length):
                    with m.If(~space_ok | (lane >= lanes) | (addr + count > depth)):
                        m.d.sync += err.eq(ERR_RANGE)
                        m.d.comb += fail.eq(1)
                        m.next = "REPLY_ERR"
                    with m.Else():
                        m.d.sync += [pos.eq(WRITE_HEADER), k.eq(0), waddr.eq(addr), value.eq(0)]
                        m.next = "WRITE_FETCH"
                with m.Elif(pos > length):
                    m.d.sync += err.eq(ERR_LENGTH)
                    m.d.comb += fail.eq(1)
                    m.next = "REPLY_ERR"
                with m.Else():
                    m.d.sync += [pos.eq(pos + vbytes), count.eq(count + 1)]
            with m.State("WRITE_FETCH"):     # frame buffer address set: the byte arrives next cycle
                m.d.comb += [f_rd.addr.eq(pos), f_rd.en.eq(1)]
                with m.If(pos == length):
                    m.d.sync += [rep_cmd.eq(CMD_WRITE | REPLY), rep_len.eq(0)]
                    m.next = "REPLY"
                with m.Else():
                    m.next = "WRITE_BYTE"
            with m.State("WRITE_BYTE"):
                m.d.sync += [value.eq(value | (f_rd.data << (k * 8))), pos.eq(pos + 1)]
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
                with m.If(run_hung):        # the engine is reset in this cycle
                    m.d.sync += err.eq(ERR_HANG)
                    m.d.comb += fail.eq(1)
                    m.next = "REPLY_ERR"
                with m.Elif((run_left == 0) & ~eng.o_done):
                    m.d.sync += [eng_rst.eq(1), run_hung.eq(1)]     # the reset is in the next cycle
                with m.Elif(eng.o_done):
                    m.d.sync += [cycles.eq(eng.o_cycles), rep_cmd.eq(CMD_RUN | REPLY), rep_len.eq(4 + C)]
                    m.d.sync += [classes.word_select(c, 8).eq(eng.o_class[c]) for c in range(C)]
                    m.next = "REPLY"

            # ---------------- the reply: sync, cmd, len, payload, checksum
            with m.State("REPLY_ERR"):
                m.d.sync += [rep_cmd.eq(CMD_ERROR), rep_len.eq(1)]
                m.next = "REPLY"
            with m.State("REPLY"):
                m.d.sync += [rep_sum.eq(0), rep_i.eq(0), w_i.eq(0), l_i.eq(0), b_i.eq(0), tx_byte.eq(SYNC)]
                m.next = "SEND_SYNC"
            with m.State("SEND_SYNC"):
                m.d.comb += tx.i_data.valid.eq(1)
                with m.If(tx.i_data.ready):
                    m.d.sync += tx_byte.eq(rep_cmd)
                    m.next = "SEND_CMD"
            with m.State("SEND_CMD"):
                m.d.comb += tx.i_data.valid.eq(1)
                with m.If(tx.i_data.ready):
                    m.d.sync += [rep_sum.eq(rep_sum + rep_cmd), tx_byte.eq(rep_len[:8])]
                    m.next = "SEND_LEN0"
            with m.State("SEND_LEN0"):
                m.d.comb += tx.i_data.valid.eq(1)
                with m.If(tx.i_data.ready):
                    m.d.sync += [rep_sum.eq(rep_sum + rep_len[:8]), tx_byte.eq(rep_len[8:])]
                    m.next = "SEND_LEN1"
            with m.State("SEND_LEN1"):
                m.d.comb += tx.i_data.valid.eq(1)
                with m.If(tx.i_data.ready):
                    m.d.sync += rep_sum.eq(rep_sum + rep_len[8:])
                    m.next = "PAY_FETCH"
            with m.State("PAY_FETCH"):       # ``pay`` (and the peek port) settle for rep_i
                with m.If(rep_i == rep_len):
                    m.d.sync += tx_byte.eq(-rep_sum)
                    m.next = "SEND_CHK"
                with m.Else():
                    m.next = "PAY_WAIT"
            with m.State("PAY_WAIT"):        # the peek port's data for w_i, registered in ``peek_word``
                m.next = "PAY_LATCH"
            with m.State("PAY_LATCH"):       # ``pay`` registered from it
                m.next = "PAY_SEND"
            with m.State("PAY_SEND"):
                m.d.comb += tx.i_data.valid.eq(1)
                m.d.comb += tx.i_data.payload.eq(pay)
                with m.If(tx.i_data.ready):
                    m.d.sync += [rep_sum.eq(rep_sum + pay), rep_i.eq(rep_i + 1)]
                    with m.If(b_i == abytes - 1):
                        m.d.sync += b_i.eq(0)
                        with m.If(l_i == C - 1):
                            m.d.sync += [l_i.eq(0), w_i.eq(w_i + 1)]
                        with m.Else():
                            m.d.sync += l_i.eq(l_i + 1)
                    with m.Else():
                        m.d.sync += b_i.eq(b_i + 1)
                    m.next = "PAY_FETCH"
            with m.State("SEND_CHK"):
                m.d.comb += tx.i_data.valid.eq(1)
                with m.If(tx.i_data.ready):
                    m.next = "IDLE"
        return m
