"""``ArraySpec``: the systolic array's promises as Amaranth properties, proved by ``adderhw prove``.

``ArraySpec(config, groups)`` wraps one :class:`~adderhw.hw.array.SystolicArray`, drives every
input from the solver (``AnySeq``), constrains the environment with ``Assume`` and states the
array's promises with ``Assert`` and ``Cover``. It is a formal-only top: the flow in
``adderhw.prove`` converts it to RTLIL and hands it to SymbiYosys.

Environment (assumed)
---------------------
* The synchronous reset is asserted in the first cycle only. The array's registers see it 3 cycles
  later, through its reset tree (hw.reset), and its ports are silent until then; the checker's
  own bookkeeping is reset with the array's registers, and every property below is checked from
  the cycle after that reset on (``live``), the environment's rules likewise assumed from then on.
* ``i_filter`` and ``i_act`` obey the stream rules: once ``valid`` is high it stays high, and the
  payload stays stable, until ``ready``.
* ``last`` arrives at most ``k_max`` beats after the previous one (a tile has 1..k_max beats).
* ``o_sum.ready`` is free: every stall pattern.

Properties (asserted), one group each, so that each is proved and reported on its own
------------------------------------------------------------------------------------------
``stream``
    ``o_sum`` obeys the stream rules: once ``valid`` rises it stays high, and the payload stays
    stable, until ``ready``.
``join``
    The two inputs are consumed together: a filter beat is accepted exactly when an activation
    beat is.
``no-overflow``
    Every PE's accumulator equals the true running sum of the terms it has received in the current
    tile, kept by the checker in a shadow register two bits wider than the accumulator, for
    Σ|a − b| (SAD) or Σ a·b (MAC); and the sum a PE captures into its result register at the end
    of a tile equals the shadow's final value. A sum that wrapped would differ from its shadow.
``conservation``
    No output row without an accepted tile; ``last`` marks exactly every R-th output row; a tile's
    last beat is never accepted while R rows of the previous tile are still owed (so at most one
    tile is pending); ``o_busy`` is high exactly while a tile is pending. Together: with T tiles
    accepted and B rows delivered, 0 <= R·T − B <= R at every cycle, and the rows of each tile
    leave before the rows of the next.
``equivalence``
    Every output row r of a tile carries, in column c, Σ_k |A[r, k] − B[k, c]| (SAD) or
    Σ_k A[r, k]·B[k, c] (MAC) over exactly the beats accepted for that tile, for every input
    sequence and every stall pattern on all three streams.
``progress``
    Nothing is held back: a tile's last output row is accepted within G − 1 cycles of its last
    beat (G = 2R + C + S − 1, the drain gap of ``hw.array``), not counting the cycles in which
    ``o_sum`` was stalled (valid and not ready). Proved with the ranking invariant
    spent + remaining <= G − 1, where ``remaining`` counts the cycles the tile needs if ``o_sum`` is
    never stalled again. With conservation, every accepted tile is delivered, in order, as long
    as the receiver keeps accepting.

Invariants (asserted, and so proved, alongside the properties that need them for k-induction)
-------------------------------------------------------------------------------------------
``reset``   the reset tree: in the cycle after the reset its root is high, in the next its level-2
            registers, in the next its leaves (the array's registers' reset), and ``quiet`` in all
            three; from then on all are low. Every property needs it: a tree that could fire again
            would reset the array under a checker that did not expect it.
``drain``   the drain controller's own registers agree, whatever its inputs do (FIFO occupancy
            <= 2, the decision's inputs "start or at least 2 rows left" and "1 row left" and their
            per-column copies, the per-column copies of the occupancy, the rows left and the decision
            (``go_ctl``), the registered shift decision and its per-column copies, the registered
            output select ("occupancy == 2") and its per-column copies). The copies of the decision and the select have no reset,
            so they are asserted equal from the second cycle after reset on; in the cycle after reset
            a column may shift once spuriously and its select may differ. The other groups are
            proved with that cycle included (the initial state is arbitrary, see ``adderhw.prove``),
            which shows the spurious shift harmless: no tile is in flight, ``o_sum.valid`` is low,
            and nothing it moves is read before being rewritten (``hw.drain``, "Reset").
``shadow``  the checker's bookkeeping: each shadow has counted exactly the terms that have reached
            its PE, and lies within count × the smallest and largest term.
``phase``   while a tile is being captured nothing drains; while it drains, rows delivered + rows in
            the FIFO + rows left in the chains = R; the drain's row counter and the FIFO entries'
            ``last`` flags match the rows they count or carry.
``values``  the result registers and the FIFO entries hold the expected sums of the rows they
            carry. The FIFO's entries hold its newest rows: with k rows queued, e[k-1] holds the
            oldest (offered) one and e0 the newest.

Covers (``cover``, reached by bounded search)
---------------------------------------------
A tile with the largest possible sum delivered; a full drain under backpressure (the FIFO full and
``o_sum`` stalled) delivered to its last row; two tiles delivered, the second's last beat accepted
in the cycle after the first's last row left.

How the checker keeps its shadows. A beat accepted in cycle t reaches the accumulator of PE(r, c)
in cycle t + r + c + S − 1 (S = ``config.pe_stages``; the skew and the PE latency, see
``hw.array``). The checker keeps the last R + C + S − 3 accepted beats in a delay line of its own
and adds each term to PE(r, c)'s shadow in that cycle, so the shadow and the accumulator can be
compared at every cycle. The delay line is the specification's timing, written independently of
the skew registers it checks.

Observability. The invariants read registers inside the array (``pes[r][c].acc``, the drain
controller's ``start_first``, ``start_early``, ``start_early_grp``, ``start``, ``start_col``, ``left``, ``occ``, ``row``, ``go``, ``go_col``, ``sel``, ``sel_col``, ``left_col``,
``occ_col``, ``go_ctl`` and the FIFO entries ``e``; the reset tree's ``root``, ``level2``, ``leaves`` and ``quiet``),
which the components name after elaboration; the spec elaborates the array first and then reads them.
"""
from amaranth.asserts import AnySeq, Initial
from amaranth.hdl import (Assert, Assume, Cat, Cover, Elaboratable, Fragment, Module, Mux, ResetInserter, ResetSignal,
                          Signal, signed)
from amaranth.lib import data

from adderhw.base.config import check_config
from adderhw.base.errors import BadParameter

from .array import SystolicArray
from .drain import FIFO_DEPTH
from .pe import PE_CLASSES

__all__ = ["ArraySpec", "PROPERTIES", "INVARIANTS", "COVER", "NEEDS", "term_bounds"]

PROPERTIES = ("stream", "join", "no-overflow", "conservation", "equivalence", "progress")
INVARIANTS = ("reset", "drain", "shadow", "phase", "values")
COVER = "cover"
#: the invariants (and properties) each property needs beside it for k-induction to close
NEEDS = {
    "stream": ("reset", "drain"),
    "join": (),
    "no-overflow": ("reset", "shadow"),
    "conservation": ("reset", "drain", "phase"),
    "equivalence": ("reset", "drain", "shadow", "phase", "values", "no-overflow", "conservation"),
    "progress": ("reset", "drain", "phase", "conservation"),
}


def term_bounds(config):
    """(smallest, largest) value of one term: |a − b| for SAD, a·b for MAC, on signed ``width``-bit operands."""
    return config.kind.term_bounds(config.width)


class ArraySpec(Elaboratable):
    """Formal harness around ``SystolicArray(config)``; see the module docstring.

    ``groups`` names what to assert: any of :data:`PROPERTIES` and :data:`INVARIANTS`, and
    :data:`COVER` for the cover statements. Assumptions are always present.
    """

    def __new__(cls, config, groups):
        # Refuse bad arguments before the object exists (see ProcessingElement.__new__).
        check_config(config)
        known = PROPERTIES + INVARIANTS + (COVER,)
        for g in groups:
            if g not in known:
                raise BadParameter(f"property must be one of {', '.join(known)}, not {g!r}")
        return super().__new__(cls)

    def __init__(self, config, groups):
        self.config = config
        self.groups = frozenset(groups)

    def elaborate(self, platform):
        cfg = self.config
        R, C, K, S = cfg.rows, cfg.cols, cfg.k_max, cfg.pe_stages
        top = Module()
        dut = SystolicArray(cfg)
        # Elaborate the array now, so that its internal registers exist and can be observed.
        top.submodules.dut = Fragment.get(dut, platform)
        pes, drain, tree = dut.pes, dut.drain, dut.reset_tree

        def on_diagonal(d):
            """A PE with r + c = d (the capture wave reaches every PE of a diagonal in one cycle)."""
            r = min(R - 1, d)
            return pes[r][d - r]
        want = self.groups.__contains__

        rst = ResetSignal()
        top.d.comb += Assume(rst == Initial(), "reset in the first cycle only")

        # -- the reset tree (hw.reset): ``boot`` counts the cycles since the reset (0 in the cycle
        # after it, saturating at 4). The array's registers are reset when boot == 2 and its ports
        # are quiet while boot <= 2; the checker's bookkeeping (module ``m``) is reset with them, and
        # the array's promises are checked from boot == 3 on (``live``).
        boot = Signal(range(5), name="boot")
        with top.If(boot < 4):
            top.d.sync += boot.eq(boot + 1)
        live = Signal(name="live")
        book_rst = Signal(name="book_rst")
        top.d.comb += [live.eq(~rst & (boot >= 3)), book_rst.eq(boot <= 2)]
        if want("reset"):
            with top.If(~rst):
                top.d.comb += [
                    Assert(boot <= 4, "boot saturates at 4"),
                    Assert(tree.root == (boot == 0), "reset tree: the root is high in the cycle after reset"),
                    Assert(tree.quiet == (boot <= 2), "reset tree: quiet until the leaves' reset is over"),
                ]
                with top.If(boot >= 1):
                    top.d.comb += [Assert(r == (boot == 1), f"reset tree: level-2 register {r.name}")
                                   for r in tree.level2]
                with top.If(boot >= 2):
                    top.d.comb += [Assert(r == (boot == 2), f"reset tree: leaf {r.name}") for r in tree.leaves]
        m = Module()        # the checker's bookkeeping, reset with the array's registers (book_rst)

        # -- free inputs
        f, a, o = dut.i_filter, dut.i_act, dut.o_sum
        m.d.comb += [f.valid.eq(AnySeq(1)), f.payload.eq(AnySeq(len(f.payload.as_value()))),
                     a.valid.eq(AnySeq(1)), a.payload.eq(AnySeq(len(a.payload.as_value()))),
                     o.ready.eq(AnySeq(1))]

        # -- stream rules: assumed on the inputs, asserted on the output
        rules = [("i_filter", f, Assume), ("i_act", a, Assume)]
        if want("stream"):
            rules.append(("o_sum", o, Assert))
        for name, stream, check in rules:
            held = Signal(name=f"{name}_held")          # valid and not ready in the previous cycle
            before = Signal(stream.payload.shape(), name=f"{name}_before")
            m.d.sync += [held.eq(stream.valid & ~stream.ready), before.eq(stream.payload)]
            with m.If(held & live):
                m.d.comb += [check(stream.valid, f"{name}.valid held until ready"),
                             check(stream.payload.as_value() == before.as_value(),
                                   f"{name}.payload stable until ready")]

        accept = a.valid & a.ready
        last_in = accept & a.payload.last
        out = o.valid & o.ready
        if want("join"):
            with m.If(live):
                m.d.comb += Assert((f.valid & f.ready) == accept, "i_filter and i_act accepted together")

        # -- k_max: ``n`` beats of the current tile accepted so far; beat k_max - 1 must be last
        n = Signal(range(K), name="beats")
        with m.If(accept):
            m.d.sync += n.eq(Mux(a.payload.last, 0, n + 1))
        with m.If(live):
            m.d.comb += Assume(~(a.valid & (n == K - 1)) | a.payload.last, "at most k_max beats per tile")

        # -- the delay line of accepted beats: hist[d] is the beat accepted d cycles ago
        beat = data.StructLayout({"fire": 1, "last": 1, "idx": range(K),
                                  "a": data.ArrayLayout(signed(cfg.width), R),
                                  "b": data.ArrayLayout(signed(cfg.width), C)})
        depth = R + C + S - 3                      # the lag of PE(R-1, C-1)
        hist = [Signal(beat, name="beat_now")]
        m.d.comb += [hist[0].fire.eq(accept), hist[0].last.eq(a.payload.last), hist[0].idx.eq(n),
                     hist[0].a.eq(f.payload), hist[0].b.eq(a.payload.data)]
        for d in range(1, depth + 1):
            hist.append(Signal(beat, name=f"beat_{d}"))
            m.d.sync += hist[d].eq(hist[d - 1])

        # -- per PE: the wide shadow of the running sum, its term count, and the finished tile's sum
        wide = signed(cfg.acc_width + 2)
        lo, hi = term_bounds(cfg)
        shadow = [[Signal(wide, name=f"shadow_{r}_{c}") for c in range(C)] for r in range(R)]
        count = [[Signal(range(K), name=f"count_{r}_{c}") for c in range(C)] for r in range(R)]
        expect = [[Signal(wide, name=f"expect_{r}_{c}") for c in range(C)] for r in range(R)]
        for r in range(R):
            for c in range(C):
                lag = r + c + S - 1
                h = hist[lag]
                term = Signal(wide, name=f"term_{r}_{c}")
                x, y = h.a[r], h.b[c]
                m.d.comb += term.eq(PE_CLASSES[cfg.pe].term_value(x, y))
                sh, cnt = shadow[r][c], count[r][c]
                with m.If(h.fire):
                    with m.If(h.last):
                        m.d.sync += [expect[r][c].eq(sh + term), sh.eq(0), cnt.eq(0)]
                    with m.Else():
                        m.d.sync += [sh.eq(sh + term), cnt.eq(cnt + 1)]
                if want("no-overflow"):
                    captured = Signal(name=f"captured_{r}_{c}")      # the PE wrote its result register
                    m.d.sync += captured.eq(pes[r][c].o_capture)
                    with m.If(live):
                        m.d.comb += Assert(pes[r][c].acc == sh, f"PE({r},{c}) accumulator equals its wide shadow")
                        with m.If(captured):
                            m.d.comb += Assert(pes[r][c].o_sum == expect[r][c],
                                               f"PE({r},{c}) captured sum equals its wide shadow")
                if want("shadow"):
                    # the next beat to reach this PE is the oldest one in flight, or else the next accepted
                    next_idx = n
                    for d in range(1, lag + 1):
                        next_idx = Mux(hist[d].fire, hist[d].idx, next_idx)
                    with m.If(live):
                        m.d.comb += [Assert(cnt == next_idx, f"shadow({r},{c}) counts the terms that reached it"),
                                     Assert(sh >= lo * cnt, f"shadow({r},{c}) >= count x smallest term"),
                                     Assert(sh <= hi * cnt, f"shadow({r},{c}) <= count x largest term")]
        if want("shadow"):
            with m.If(live):
                m.d.comb += Assert(n < K, "beat count below k_max")

        # -- the pending tile: accepted (last beat in), not yet fully delivered
        pending = Signal()
        age = Signal(range(depth + 2))             # cycles since its last beat, saturating at depth + 1
        out_row = Signal(range(R))                 # the row the next output beat must carry
        full = depth + 1
        with m.If(pending & (age < full)):
            m.d.sync += age.eq(age + 1)
        with m.If(out):
            m.d.sync += out_row.eq(Mux(out_row == R - 1, 0, out_row + 1))
            with m.If(out_row == R - 1):
                m.d.sync += pending.eq(0)
        with m.If(last_in):
            m.d.sync += [pending.eq(1), age.eq(1)]
        draining = pending & (age == full)         # every PE has captured; the chains may shift

        if want("conservation"):
            with m.If(live):
                with m.If(out):
                    m.d.comb += [Assert(pending, "no output row without an accepted tile"),
                                 Assert(o.payload.last == (out_row == R - 1), "o_sum.last on every R-th row")]
                with m.If(last_in):
                    m.d.comb += Assert(~pending, "a last beat waits while a tile is pending")
                m.d.comb += Assert(dut.o_busy == pending, "o_busy high exactly while a tile is pending")

        if want("progress"):
            # ``spent``: cycles since the tile's last beat in which o_sum was not stalled (valid and not
            # ready). ``remaining``: cycles the tile still needs if o_sum is never stalled again: the
            # capture wave, one cycle to push the first row, then one row per cycle.
            gap = 2 * R + C + S - 1                # G of hw.array: the unstalled drain takes G - 1 cycles
            spent = Signal(range(gap + 1))
            with m.If(pending & ~(o.valid & ~o.ready) & (spent < gap)):
                m.d.sync += spent.eq(spent + 1)
            with m.If(last_in):
                m.d.sync += spent.eq(0)
            remaining = Signal(range(gap + 1))
            m.d.comb += remaining.eq(Mux(~draining, full - age + R + 1,
                                         Mux(drain.occ == 0, R - out_row + 1, R - out_row)))
            with m.If(live & pending):
                m.d.comb += [Assert(spent + remaining <= gap - 1, "spent + remaining <= G - 1"),
                             Assert(spent < gap - 1, "last row within G - 1 unstalled cycles of the last beat")]

        if want("equivalence"):
            with m.If(live & out):
                for row in range(R):
                    with m.If(out_row == row):
                        m.d.comb += [Assert(o.payload.data[c] == expect[row][c],
                                            f"o_sum row {row} column {c} equals the sum") for c in range(C)]

        if want("drain"):
            popped = Signal(name="popped")      # a row was accepted in the previous cycle
            m.d.sync += popped.eq(out)
            with m.If(live):
                m.d.comb += [
                    Assert(drain.occ <= FIFO_DEPTH, f"drain FIFO holds at most {FIFO_DEPTH} rows"),
                    Assert(drain.left <= R, "drain: at most R rows left"),
                    # the decision made in the previous cycle without its pop: room for a row even then
                    Assert(drain.go == ((drain.left != 0) & (drain.occ + popped <= FIFO_DEPTH - 1)),
                           "drain: shift decision"),
                    Assert(drain.sel == Cat(drain.occ == 2, drain.occ == 3),
                           "drain: output select, the oldest row in e[occ - 1]"),
                    *(Assert(drain.occ_col[c] == drain.occ, f"drain: column {c}'s copy of the occupancy")
                      for c in range(C)),
                    *(Assert(drain.left_col[c] == drain.left, f"drain: column {c}'s copy of the rows left")
                      for c in range(C)),
                    *(Assert(drain.go_ctl[c] == drain.go, f"drain: column {c}'s controller copy of the decision")
                      for c in range(C)),
                    # the registered start agrees with the capture of PE(R-1, C-1) (hw.drain)
                    Assert(drain.start == pes[R - 1][C - 1].o_capture, "drain: start is PE(R-1, C-1)'s capture"),
                    *([Assert(drain.start_early == on_diagonal(R + C - 3).o_capture,
                              "drain: the early start is the capture one step before PE(R-1, C-1)")]
                      if drain.start_early is not None else []),
                    *(Assert(copy == drain.start_early, f"drain: column group {g}'s copy of the early start")
                      for g, copy in enumerate(drain.start_early_grp)),
                    *([Assert(drain.start_first == on_diagonal(R + C - 4).o_capture,
                              "drain: the first start stage is the capture two steps before PE(R-1, C-1)")]
                      if drain.start_first is not None else []),
                    *(Assert(drain.start_col[c] == drain.start, f"drain: column {c}'s copy of the start")
                      for c in range(C)),
                    # the decision's one-LUT inputs: "a start or at least 2 rows left" and "1 row left"
                    Assert(drain.many == (drain.start | (drain.left >= 2)), "drain: many = start or left >= 2"),
                    Assert(drain.one == (drain.left == 1), "drain: one = left == 1"),
                    *(Assert(drain.many_col[c] == (drain.start_col[c] | (drain.left_col[c] >= 2)),
                             f"drain: column {c}'s many") for c in range(C)),
                    *(Assert(drain.one_col[c] == (drain.left_col[c] == 1), f"drain: column {c}'s one")
                      for c in range(C)),
                ]
            # The per-column copies have no reset (hw.drain): in the cycle after the array's reset
            # (boot == 3) they hold what the decision logic made of the state before it; from then on
            # they equal the central copies.
            with m.If(live & (boot == 4)):
                m.d.comb += [
                    Assert(Cat(*(g for col in drain.go_col for g in col)) == drain.go.replicate(C * len(drain.go_col[0])),
                           "drain: every column's and row group's copy of the decision"),
                    Assert(Cat(*drain.sel_col) == drain.sel.replicate(C), "drain: every column's copy of the select"),
                ]

        if want("phase"):
            with m.If(live):
                m.d.comb += [Assert(age <= full, "age saturates at the capture wave's length"),
                             Assert(~pending | (age != 0), "a pending tile has an age"),
                             Assert(out_row < R, "the next output row is a row")]
                with m.If(draining):
                    m.d.comb += Assert(out_row + drain.occ + drain.left == R, "rows delivered + queued + left = R")
                with m.Else():
                    m.d.comb += [Assert(drain.left == 0, "no rows left in the chains outside a drain"),
                                 Assert(drain.occ == 0, "FIFO empty outside a drain"),
                                 Assert(~drain.go, "no shift outside a drain"),
                                 Assert(out_row == 0, "no row delivered outside a drain")]
                # the drain's row counter follows the rows left (it holds for any i_start only when the
                # drain is never restarted early, which is what this group establishes)
                m.d.comb += Assert(drain.row == Mux(drain.left == 0, 0, R - drain.left), "drain: row counter")
                # the rows queued in the FIFO are out_row (offered, in e[occ - 1]), out_row + 1, ...,
                # the newest in e0
                for k in range(1, FIFO_DEPTH + 1):
                    with m.If(drain.occ == k):
                        m.d.comb += [Assert(drain.e[k - 1 - i].last == (out_row + i == R - 1),
                                            f"FIFO: e{k - 1 - i}'s last flag, {k} rows") for i in range(k)]
                with m.If(drain.occ != 0):
                    m.d.comb += Assert(o.payload.last == (out_row == R - 1), "FIFO: the offered row's last flag")

        if want("values"):
            shifted = Signal(range(R + 1))         # rows already moved out of the chains
            m.d.comb += shifted.eq(Mux(draining, R - drain.left, 0))
            with m.If(live & pending):
                for r in range(R):
                    for c in range(C):
                        with m.If(age > r + c + S - 1):        # PE(r, c) has captured this tile
                            for s in range(R - r):
                                with m.If(shifted == s):
                                    m.d.comb += Assert(pes[r][c].o_sum == expect[r + s][c],
                                                       f"result register ({r},{c}) holds row {r + s}")
                # the entries hold the newest ``occ`` rows: e0 the newest, e[occ - 1] the oldest
                for row in range(R):
                    with m.If(out_row == row):
                        for k in range(1, FIFO_DEPTH + 1):
                            with m.If(drain.occ == k):
                                m.d.comb += [Assert(drain.e[k - 1 - i].data[c] == expect[row + i][c],
                                                    f"FIFO: e{k - 1 - i} holds row {row + i}, {k} rows")
                                             for i in range(k) if row + i < R for c in range(C)]
                        with m.If(drain.occ != 0):
                            m.d.comb += [Assert(o.payload.data[c] == expect[row][c], f"FIFO: offered row {row}")
                                         for c in range(C)]

        if want(COVER):
            done = Signal(range(3), name="tiles_done")         # tiles delivered, saturating at 2
            stalled_full = Signal()         # this tile's drain stalled with the FIFO full (min(R, FIFO_DEPTH) rows)
            done_before = Signal()                              # the previous cycle delivered a tile's last row
            m.d.sync += done_before.eq(out & o.payload.last)
            with m.If(out & o.payload.last & (done < 2)):
                m.d.sync += done.eq(done + 1)
            with m.If(pending & (drain.occ == min(R, FIFO_DEPTH)) & ~o.ready):
                m.d.sync += stalled_full.eq(1)
            with m.If(last_in):
                m.d.sync += stalled_full.eq(0)
            with m.If(live):
                m.d.comb += [
                    Cover(out & (o.payload.data[0] == K * hi), "largest sum delivered"),
                    Cover(out & o.payload.last & stalled_full, "full drain under backpressure"),
                    Cover(last_in & done_before & (done == 1), "back-to-back tiles"),
                ]
        top.submodules.checker = ResetInserter({"sync": book_rst})(m)
        return top
