"""``EngineConfig``: the one frozen description of a layer engine (hw.engine), shared by the RTL,
the program compiler and golden program model (golden.program) and the engine cycle model.

The engine runs a whole network on chip for a *batch* of up to C images at once: lane c of every
activation word is image c. That is how the activation buffer gives the array C activations per
cycle with no bank conflict for any kernel, stride or padding: every lane reads the same address
of its own bank. (Banking C output positions of one image instead needs a stride-aware layout and
wastes lanes when a layer's output is narrower than C; with images on the lanes a layer's P-tile is
one output position of C images.) Throughput per image is the batch's cycles / C; the latency of
an image is the batch's cycles.

Fields
------
array : ArrayConfig
    The array of the network's adder layers (pe="sad"), or, for the CNN twin, of every layer
    (pe="mac"). Its ``k_max`` bounds the reduction length K of every layer that runs on it.
mac_rows : int
    An AdderNet engine (an array of SAD PEs: not ``array.kind.has_multiplier``) runs its multiplier layers (the first conv and the
    classifier, as in the paper) on a second array, of MAC PEs, ``mac_rows`` x C, in the same top.
    0 for an all-adder AdderNet engine, which has no MAC array (its programs have adder layers
    only, golden.addernet.FIRST_LAST), and for a CNN engine (every layer runs on ``array``).
    Filter lanes of a multiplier layer are the first ``mac_rows`` of the weight word.
act_depth : int
    Words of each activation buffer (two, ping-pong); a word holds one value of each of C images.
    A layer's input and output (C·H·W values per image, after pooling) must each fit.
weight_depth : int
    Words of the weight buffer; a word holds R filter values (one per array row).
const_depth : int
    Entries of the post-processing table (one per output channel of every layer).
max_layers : int
    Entries of the descriptor table.
scale_bits, bias_bits : int
    Signed widths of the folded BatchNorm scale M and bias B (see golden.program).
requant : str
    "mul": each post-processing lane multiplies the layer sum by M (one multiplier per lane);
    "shift": M is a sum of ``shift_terms`` signed powers of two (adderhw.base.requant) and each lane
    shifts and adds, so an all-adder engine (``mac_rows`` 0) with it has no multiplier at all.
shift_terms : int
    1 or 2: the signed powers of two of one M on a "shift" engine.
tile_shift : bool
    True builds the per-tile shift at the array's edge (hw.im2col): every activation beat of row
    tile tt of a layer is shifted by that tile's x_shift and saturated (golden.program, step 0)
    before it enters the array, so that each tile of output channels (a group of per-group scales,
    golden.qat) sees its input at its own scale. Its table is a third constant column. False: the
    engine runs only programs without x_shift.
residual : bool
    True builds what residual networks need (golden.program, "Graphs and the residual add"): a third
    activation buffer, so that a block's input (a *kept* tensor) stays where it is while the
    block's layers ping-pong between the other two; each step's buffers named by its descriptor
    (``bufs``: the buffer it reads, the one it writes and a residual add's skip operand, chosen by
    golden.program.memory_images), so that a step may read any earlier tensor still held; and the
    residual add in the post-processing (hw.postproc), whose descriptor has ``main_shift`` and
    ``skip_shift`` too (RESIDUAL_FIELDS). The descriptor then has len(DESCRIPTOR_FIELDS) +
    len(RESIDUAL_FIELDS) fields, so every step's fetch takes that many cycles more
    (:attr:`fetch_cycles`). False (the default): two buffers in ping-pong, chains of layers only,
    and the engine's Verilog is what it was before residual blocks existed.
rounding : str
    How the requantisation's right shift rounds a tie (adderhw.base.requant.ROUNDINGS; it must be
    the program's, golden.program.memory_images refuses another): "half_up" (the default, and
    the Verilog it always was) or "half_even" (Brevitas's programs, golden.brevitas_import), which
    adds one flag per lane beside the shift (the low S bits of the rounding sum all 0) and clears the
    result's lowest bit where it is set (hw.postproc): no adder and no cycle.
post_lanes : int
    L, the post-processing's lanes (hw.postproc), 1 <= L <= C with C a multiple of L; 0 (the
    default) means L = C. With L < C each drained row of C sums is taken in P = C / L chunks of L
    lanes, one chunk per cycle, straight from the array's output stream (whose 3-entry FIFO is the
    buffer): the row is accepted with its last chunk, so the drain waits P − 1 cycles per row and
    every tile's drain takes R·(P − 1) cycles longer (:meth:`drain_wait`). L = C builds the
    post-processing of one row per cycle, as before.
"""
from dataclasses import dataclass, replace

from .config import ArrayConfig, check_config
from .errors import BadParameter
from .requant import REQUANT_KINDS, ROUNDINGS, SHIFT_TERMS
from .validate import check_int

__all__ = ["EngineConfig", "check_post_lanes", "DESCRIPTOR_FIELDS", "SIGNED_FIELDS", "ADDRESS_FIELDS", "POOL_KINDS", "LAYER_OPS", "MAX_SHIFT",
           "SHIFT_BITS", "IM2COL_STAGES", "POSTPROC_STAGES", "FETCH_CYCLES", "SCALE_BITS_RANGE", "BIAS_BITS_RANGE", "X_SHIFT_BITS", "X_SHIFT_RANGE",
           "RESIDUAL_FIELDS", "RESIDUAL_FLAG", "RESIDUAL_BUFFERS", "ADD_SHIFT_MAX"]

LAYER_OPS = ("add", "mul")
POOL_KINDS = ("none", "max2", "gap")
#: the largest requantisation shift S of a program (golden.program, its check_program, the compiler's
#: fold_requant and hw.postproc all read this one number). 62 because the golden model sums
#: acc·M + B in int64 while that stays below 2^62 (in Python integers beyond), so adding the
#: rounding half 2^(S−1) <= 2^61 cannot overflow. The RTL holds every S up to it (hw.postproc).
MAX_SHIFT = 62
#: the low bits of the descriptor's shift field that the post-processing reads
SHIFT_BITS = MAX_SHIFT.bit_length()
#: the signed widths of the folded BatchNorm scale M and bias B that a program and an engine may have
SCALE_BITS_RANGE = (2, 32)
BIAS_BITS_RANGE = (2, 48)
#: bits the post-processing's average-pool sums have beyond ``width``: a gap layer pools at most
#: 2^GAP_EXTRA_BITS positions (hw.postproc)
GAP_EXTRA_BITS = 12
#: the per-tile input shift d of a layer's output channels (golden.program, step 0): a signed
#: X_SHIFT_BITS field, d from X_SHIFT_RANGE[0] to X_SHIFT_RANGE[1]
X_SHIFT_BITS = 4
X_SHIFT_RANGE = (-(1 << (X_SHIFT_BITS - 1)), (1 << (X_SHIFT_BITS - 1)) - 1)

#: the fields of one layer descriptor, in table order; each is a ``EngineConfig.field_bits``-bit
#: number, two's complement for the fields in SIGNED_FIELDS (see golden.program.descriptor and
#: hw.sequencer). The compiler precomputes every product the address generator and the
#: post-processing need, so the hardware steps its addresses with adders only.
DESCRIPTOR_FIELDS = (
    "flags",        # bit 0 op (1 = mul), bit 1 relu, bits 2-3 pool (0 none, 1 max2, 2 gap), bit 4 last layer,
                    # bit 5 a residual add (RESIDUAL_FLAG; engines built with residual only)
    "cin", "in_h", "in_w",
    "kernel", "stride", "padding",
    "out_h", "out_w",
    "cout", "t_tiles", "t_beats",            # t_beats = t_tiles·R_L: output rows per position
    "wbase", "cbase", "shift",
    "pos_start",                             # -padding·in_w - padding: address of tap (0, 0) at position (0, 0)
    "row_step",                              # stride·in_w
    "ky_step",                               # in_w - (kernel - 1)
    "ci_step",                               # in_h·in_w - (kernel - 1)·in_w - (kernel - 1)
    "dst_w", "dst_plane",                    # the written output's row width and plane (after pooling)
    "gap_log2",                              # log2 of the positions a global average pool sums
)
SIGNED_FIELDS = ("pos_start", "ky_step", "ci_step")
#: the fields that only ever step an activation address (hw.im2col): the hardware keeps them, and
#: the addresses it sums from them, modulo the activation buffer's depth rounded up to a power of
#: two, so any value of the table's ``field_bits`` is exact there (EngineConfig.field_widths)
ADDRESS_FIELDS = ("pos_start", "row_step", "ky_step", "ci_step")
#: the descriptor's fields after DESCRIPTOR_FIELDS on an engine built with ``residual``
RESIDUAL_FIELDS = (
    "bufs",                                  # bits 0-1 the buffer read, 2-3 the one written, 4-5 the skip's
    "main_shift", "skip_shift",              # a residual add's left shifts (golden.program.ResidualAdd)
)
#: flags bit 5: the step is a residual add (RESIDUAL_FIELDS engines only)
RESIDUAL_FLAG = 1 << 5
#: the activation buffers of an engine built with ``residual`` (two without)
RESIDUAL_BUFFERS = 3
#: the largest left (alignment) or right (rounding) shift of a residual add (golden.program and
#: hw.postproc, which derives the add's widths from it)
ADD_SHIFT_MAX = 40


#: The flows' default post-processing lanes (``adderhw engine``, ``run``, ``build --top engine``,
#: ``bench engine-fmax``). Chosen from ``adderhw bench lanes`` (docs/results/bench_lanes_*): one
#: lane gives the most images/s per logic cell on both boards: on the ULX3S-85F at 8x8, 0.51x the
#: LUT4 of one lane per column for 1.32x the cycles; on the iCE40 at 2x4, 0.65x the cells for
#: 1.03x the cycles. ``EngineConfig.post_lanes`` itself keeps 0 (one lane per column), the
#: hardware's widest form, so that a config written out in full means the same thing everywhere.
DEFAULT_POST_LANES = 1


def check_post_lanes(post_lanes, cols):
    """``post_lanes`` if an engine of ``cols`` columns can have it (0, or a divisor of ``cols``);
    else a BadParameter naming it (the engine flows call this before any training)."""
    post_lanes = check_int("post_lanes", post_lanes, lo=0, hi=cols)
    if post_lanes and cols % post_lanes:
        raise BadParameter(f"post_lanes must divide the array's {cols} columns (1 to {cols}, or 0 for {cols}), "
                           f"not {post_lanes}")
    return post_lanes


@dataclass(frozen=True)
class EngineConfig:
    array: ArrayConfig = ArrayConfig(rows=8, cols=8, width=8, k_max=256)
    mac_rows: int = 2
    act_depth: int = 1024
    weight_depth: int = 1024
    const_depth: int = 128
    max_layers: int = 8
    scale_bits: int = 16
    bias_bits: int = 32
    requant: str = "mul"
    shift_terms: int = 2
    tile_shift: bool = False
    post_lanes: int = 0
    residual: bool = False
    rounding: str = "half_up"

    def __post_init__(self):
        if not isinstance(self.tile_shift, bool):
            raise BadParameter(f"tile_shift must be True or False, not {self.tile_shift!r}")
        if not isinstance(self.residual, bool):
            raise BadParameter(f"residual must be True or False, not {self.residual!r}")
        check_config(self.array, "array")
        if self.requant not in REQUANT_KINDS:
            raise BadParameter(f"requant must be one of {', '.join(REQUANT_KINDS)}, not {self.requant!r}")
        if self.shift_terms not in SHIFT_TERMS:
            raise BadParameter(f"shift_terms must be one of {', '.join(map(str, SHIFT_TERMS))}, not "
                               f"{self.shift_terms!r}")
        if self.rounding not in ROUNDINGS:
            raise BadParameter(f"rounding must be one of {', '.join(ROUNDINGS)}, not {self.rounding!r}")
        for name, lo, hi in (("act_depth", 1, 1 << 20), ("weight_depth", 1, 1 << 20),
                             ("const_depth", 1, 1 << 16), ("max_layers", 1, 64),
                             ("scale_bits", *SCALE_BITS_RANGE), ("bias_bits", *BIAS_BITS_RANGE)):
            object.__setattr__(self, name, check_int(name, getattr(self, name), lo=lo, hi=hi))
        rows = self.array.rows
        if not self.array.kind.has_multiplier:
            object.__setattr__(self, "mac_rows", check_int("mac_rows", self.mac_rows, lo=0, hi=rows))
        elif self.mac_rows not in (0, rows):
            raise BadParameter(f"mac_rows applies to an AdderNet engine (array pe 'sad'); a CNN engine "
                               f"runs every layer on its MAC array and takes 0, not {self.mac_rows}")
        else:
            object.__setattr__(self, "mac_rows", 0)
        object.__setattr__(self, "post_lanes", check_post_lanes(self.post_lanes, self.array.cols))

    @property
    def adder(self):
        """True for an AdderNet engine (SAD array plus a MAC array for multiplier layers)."""
        return not self.array.kind.has_multiplier

    @property
    def has_mac_array(self):
        """True when the engine can run multiplier layers: a CNN engine, or an AdderNet engine with
        ``mac_rows`` >= 1."""
        return not self.adder or self.mac_rows > 0

    @property
    def ops(self):
        """The layer ops this engine runs: ("add", "mul"), ("add",) (all-adder) or ("mul",) (CNN)."""
        if not self.adder:
            return ("mul",)
        return ("add", "mul") if self.mac_rows else ("add",)

    @property
    def multipliers(self):
        """What multiplies in this engine, as built: {"mac_array": MAC PEs, "postproc": lanes that
        multiply by M}."""
        mac = self.array.pes if not self.adder else self.mac_rows * self.array.cols
        return {"mac_array": mac, "postproc": self.pp_lanes if self.requant == "mul" else 0}

    @property
    def lanes(self):
        """Images per batch: the array's columns."""
        return self.array.cols

    @property
    def pp_lanes(self):
        """L as built: ``post_lanes``, or C where that is 0 (so a config resized with :meth:`with_`
        keeps one lane per column)."""
        return self.post_lanes or self.array.cols

    @property
    def post_chunks(self):
        """P = C / L: the cycles the post-processing takes per drained row."""
        return self.array.cols // self.pp_lanes

    def drain_wait(self, op):
        """Cycles the drain of one tile of a layer of ``op`` waits for the post-processing: R·(P − 1),
        R the rows of the array that runs ``op`` (golden.engine_cycles)."""
        return self.rows_for(op) * (self.post_chunks - 1)

    @property
    def descriptor_fields(self):
        """The fields of this engine's descriptors, in table order: DESCRIPTOR_FIELDS, and with
        ``residual`` RESIDUAL_FIELDS after them."""
        return DESCRIPTOR_FIELDS + (RESIDUAL_FIELDS if self.residual else ())

    @property
    def fetch_cycles(self):
        """Cycles the sequencer spends fetching one descriptor: a field per cycle, plus the first
        read's latency and its register (FETCH_CYCLES without ``residual``)."""
        return len(self.descriptor_fields) + 2

    @property
    def act_buffers(self):
        """Activation buffers: 2 (ping-pong), or RESIDUAL_BUFFERS with ``residual``."""
        return RESIDUAL_BUFFERS if self.residual else 2

    def array_for(self, op):
        """The ArrayConfig that runs a layer of ``op`` ("add" or "mul")."""
        if op not in LAYER_OPS:
            raise BadParameter(f"layer op must be one of {', '.join(LAYER_OPS)}, not {op!r}")
        if not self.adder:
            return self.array
        if op == "add":
            return self.array
        if not self.mac_rows:
            raise BadParameter("a multiplier layer (op 'mul') needs a MAC array, and this AdderNet engine has "
                               "none (mac_rows 0); build it with mac_rows >= 1 or make the layer an adder layer")
        return self.array.with_(pe="mac", rows=self.mac_rows)

    def rows_for(self, op):
        return self.array_for(op).rows

    @property
    def field_bits(self):
        """Bits of one descriptor field, from the engine's memories' depths: one bit more than the
        largest depth has, and at least 8 (the small fields, flags, the shift S <= MAX_SHIFT and
        gap_log2 <= GAP_EXTRA_BITS, need at most 7). The sizes, base addresses and most steps of a
        descriptor are bounded by a depth (a layer's input and output fit the activation buffer, its
        weights and constants their tables), but not all: pos_start = −p·(in_w + 1) − ... can pass
        −depth with a wide padding, ci_step is negative when the kernel is taller than the input,
        and t_beats can reach cout + R − 1. memory_images (golden.program) refuses a program with a
        value that does not fit, naming the layer and the field, so nothing is truncated; such a
        program needs an engine with deeper memories. (Fields were at least 16 bits, which widened
        every counter of the address generator and the post-processing on engines whose memories
        need 10 or 11.)"""
        biggest = max(self.act_depth, self.weight_depth, self.const_depth, MAX_SHIFT, 1 << GAP_EXTRA_BITS.bit_length())
        return max(8, biggest.bit_length() + 1)

    @property
    def field_widths(self):
        """{field: bits} the hardware keeps of each descriptor field (hw.sequencer registers those
        low bits of the table's ``field_bits``; hw.im2col and hw.postproc count in them). Every
        width comes from what STATUS reports (the depths' ceil(log2), R, ``residual``), so a board
        whose STATUS passes the host's check (adderhw.base.host) keeps at least these bits:

        * sizes, strides and the pooled output's row and plane (``cin``, ``in_h`` .. ``out_w``,
          ``dst_w``, ``dst_plane``): values up to 2^ceil(log2 act_depth) (a layer's input and output
          fit the activation buffer);
        * ``cout``, ``t_tiles``: up to 2^ceil(log2 const_depth); ``t_beats`` = t_tiles·R up to that
          plus R − 1; ``cbase``, ``wbase``: addresses of the constant and weight tables;
        * ``shift``: SHIFT_BITS; ``gap_log2``: GAP_EXTRA_BITS; ``flags``: its six bits; ``bufs``:
          three 2-bit buffer numbers; ``main_shift``, ``skip_shift``: up to ADD_SHIFT_MAX;
        * ADDRESS_FIELDS: ceil(log2 act_depth) bits, two's complement for the signed ones; the
          address generator sums them modulo the depth, so no value is refused for these.

        golden.program.memory_images refuses, naming the layer and the field, a value the width does
        not hold (a kernel or padding wider than the activation buffer), so nothing is truncated."""
        act = (self.act_depth - 1).bit_length()             # ceil(log2), as STATUS reports it
        const = (self.const_depth - 1).bit_length()
        widths = {"flags": 6 if self.residual else 5}
        for name in ("cin", "in_h", "in_w", "kernel", "stride", "padding", "out_h", "out_w", "dst_w", "dst_plane"):
            widths[name] = act + 1
        widths.update(cout=const + 1, t_tiles=const + 1,
                      t_beats=((1 << const) + self.array.rows - 1).bit_length(),
                      wbase=max(1, (self.weight_depth - 1).bit_length()), cbase=max(1, const),
                      shift=SHIFT_BITS, gap_log2=GAP_EXTRA_BITS.bit_length())
        for name in ADDRESS_FIELDS:
            widths[name] = max(2, act)
        if self.residual:
            widths.update(bufs=6, main_shift=ADD_SHIFT_MAX.bit_length(), skip_shift=ADD_SHIFT_MAX.bit_length())
        assert tuple(sorted(widths)) == tuple(sorted(self.descriptor_fields))
        return {name: min(widths[name], self.field_bits) for name in self.descriptor_fields}

    def with_(self, **changes):
        return replace(self, **changes)

    def describe(self):
        a = self.array
        extra = f" + {self.mac_rows}x{a.cols} MAC" if self.adder and self.mac_rows else ""
        shift = f", shift-only requant ({self.shift_terms} term{'s' if self.shift_terms > 1 else ''})" \
            if self.requant == "shift" else ""
        if self.tile_shift:
            shift += ", per-tile input shift"
        if self.pp_lanes < a.cols:
            shift += f", {self.pp_lanes} post-processing lane{'s' if self.pp_lanes > 1 else ''}"
        if self.residual:
            shift += ", residual adds"
        if self.rounding == "half_even":
            shift += ", ties to even"
        flow = " broadcast" if a.dataflow == "broadcast" else ""
        return (f"{a.rows}x{a.cols}{flow} {a.pe.upper()}{extra}, {a.width}-bit, act {self.act_depth} x{self.act_buffers}, "
                f"weights {self.weight_depth}, consts {self.const_depth}{shift}")


#: Cycles the sequencer spends fetching one descriptor (one field per cycle from a synchronous
#: table, plus the first read's latency and the register its word passes); hw.sequencer builds exactly this.
FETCH_CYCLES = len(DESCRIPTOR_FIELDS) + 2
#: Cycles from a layer's start to its first beat offered to the array: the address generator's
#: counters, the memories' read, the read words registered, the registered payload (hw.im2col)
IM2COL_STAGES = 3
#: Cycles from a chunk's entry into the post-processing to the cycle its write happens
#: (stages A, A2, B, B1, B2, C1, C2, C3, D, E; the write is in the tenth cycle after entry); hw.postproc.
POSTPROC_STAGES = 10
