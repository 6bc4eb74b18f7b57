"""``ArraySpec``: the systolic array's promises as Amaranth properties, proved by ``adderhw prove``.

``ArraySpec(config, groups)`` wraps one :class:`~adderhw.hw.array.SystolicArray`, drives every
input from the solver (``AnySeq``), constrains the environment with ``Assume`` and states the
array's promises with ``Assert`` and ``Cover``. It is a formal-only top: the flow in
``adderhw.prove`` converts it to RTLIL and hands it to SymbiYosys. Each group below is one method
of ``ArraySpec``, whose docstring says what it proves and what it is proved beside; ``elaborate``
builds the harness and the checker's bookkeeping and adds the groups asked for.
``ArraySpec(config, groups, mutation=NAME)`` wraps an array with a deliberate bug (``hw.mutation``).

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
    beat (G = ``config.drain_gap``: 2R + C + S − 1 systolic, R + S + 2 broadcast), not counting the cycles in which
    ``o_sum`` was stalled (valid and not ready). Proved with the ranking invariant
    spent + remaining <= G − 1, where ``remaining`` counts the cycles the tile needs if ``o_sum`` is
    never stalled again. With conservation, every accepted tile is delivered, in order, as long
    as the receiver keeps accepting.

Invariants (asserted, and so proved, alongside the properties that need them for k-induction)
-------------------------------------------------------------------------------------------
``reset``   the reset tree: in the cycle after the reset its root is high, in the next its level-2
            registers, in the next its leaves (the array's registers' reset), and ``quiet`` in all
            three; from then on all are low. Every property but ``join`` needs it: a tree that could fire again
            would reset the array under a checker that did not expect it.
``drain``   the drain controller's own registers agree, whatever its inputs do (FIFO occupancy
            <= FIFO_DEPTH, the decision's inputs "start or at least 2 rows left" and "1 row left" and their
            per-column copies, the per-column copies of the occupancy, the rows left and the decision
            (``go_ctl``), the registered shift decision and its per-column copies, the registered
            output select ("occupancy == 2") and its per-column copies). The copies of the decision
            and the select have no reset, so they are asserted equal from the second cycle after
            reset on; in the cycle after reset a column may shift once spuriously and its select may
            differ. The other groups are proved with that cycle included (the initial state is
            arbitrary, see ``adderhw.prove``), which shows the spurious shift harmless: no tile is in
            flight, ``o_sum.valid`` is low, and nothing it moves is read before being rewritten
            (``hw.drain``, "Reset").
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
in cycle t + a(r, c) + S − 1 (S = ``config.pe_stages``; a(r, c) = ``config.arrival(r, c)``, r + c
behind the systolic skew and 1 in a broadcast array; then the PE latency, see ``hw.array``). The
checker keeps the last a(R-1, C-1) + S − 1 accepted beats in a delay line of its own
and adds each term to PE(r, c)'s shadow in that cycle, so the shadow and the accumulator can be
compared at every cycle. The delay line is the specification's timing, written independently of
the skew registers it checks.

Observability. The invariants read registers inside the array (``pes[r][c].acc``, the drain
controller's ``start_first``, ``start_early``, ``start_early_grp``, ``start``, ``start_col``,
``left``, ``occ``, ``row``, ``go``, ``go_col``, ``sel``, ``sel_col``, ``left_col``, ``occ_col``,
``go_ctl`` and the FIFO entries ``e``; the reset tree's ``root``, ``level2``, ``leaves`` and ``quiet``),
which the components name after elaboration; the spec elaborates the array first and then reads them.
"""
from types import SimpleNamespace

from amaranth.asserts import AnySeq, Initial
from amaranth.hdl import (Assert, Assume, Cat, Cover, Elaboratable, Fragment, Module, Mux, ResetInserter, ResetSignal,
                          Signal, signed)
from amaranth.lib import data

from adderhw.base.config import check_config
from adderhw.base.errors import BadParameter

from .array import SystolicArray
from .drain import FIFO_DEPTH
from .mutation import check_mutation
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


#: group name -> the ArraySpec method that states it, in the order elaborate adds them
_GROUPS = {}


def _group(name):
    """Register the decorated method as the one that states group ``name``."""
    def register(method):
        _GROUPS[name] = method
        return method
    return register


class _Checker(SimpleNamespace):
    """What the checks are stated over; :meth:`ArraySpec._harness` and the bookkeeping methods
    fill it in during elaboration.

    ``top``, ``m``: the harness module (the array and the reset's bookkeeping) and the checker's
    module, which is reset with the array's registers. ``dut``, ``pes``, ``drain``, ``tree``: the
    array and the submodules whose registers the invariants read. ``boot``, ``live``: cycles since
    the reset, and the cycles from which everything is checked. ``f``, ``a``, ``o``: the streams
    ``i_filter``, ``i_act``, ``o_sum``; ``accept``, ``last_in``, ``out``: a beat, a tile's last beat,
    an output row accepted. ``n``: the current tile's beats so far. ``hist``: the delay line of
    accepted beats. ``shadow``, ``count``, ``expect``: per PE, the wide running sum, its terms,
    the finished tile's sum; ``lo``, ``hi``: the term bounds. ``pending``, ``age``, ``out_row``,
    ``full``, ``draining``: the pending tile (:meth:`ArraySpec._track_tile`).
    """


class ArraySpec(Elaboratable):
    """Formal harness around ``SystolicArray(config)``; see the module docstring.

    ``groups`` names what to assert: any of :data:`PROPERTIES` and :data:`INVARIANTS`, and
    :data:`COVER` for the cover statements. Assumptions are always present.
    ``mutation`` (``hw.mutation``) builds the array with that deliberate bug, for the proofs to catch.

    ``elaborate`` builds the harness and the checker's bookkeeping, then adds one method's
    statements per group asked for; each method's docstring says what it proves and what it
    relies on beside the environment of the module docstring.
    """

    def __new__(cls, config, groups, mutation=None):
        # Refuse bad arguments before the object exists (see ProcessingElement.__new__).
        check_config(config)
        known = PROPERTIES + INVARIANTS + (COVER,)
        for g in groups:
            if g not in known:
                raise BadParameter(f"property must be one of {', '.join(known)}, not {g!r}")
        check_mutation(mutation)
        return super().__new__(cls)

    def __init__(self, config, groups, mutation=None):
        self.config = config
        self.groups = frozenset(groups)
        self.mutation = mutation

    def elaborate(self, platform):
        s = self._harness(platform)
        self._assume_environment(s)
        self._track_beats(s)
        self._track_tile(s)
        for name, check in _GROUPS.items():
            if name in self.groups:
                check(self, s)
        s.top.submodules.checker = ResetInserter({"sync": s.book_rst})(s.m)
        return s.top

    # ---------------------------------------------------------------- the harness and its bookkeeping
    def _harness(self, platform):
        """The array, elaborated now so that its internal registers exist and can be observed;
        the reset, assumed in the first cycle only; the cycles since it (``boot``: 0 in the cycle
        after it, saturating at 4); every input driven by the solver.

        The array's registers are reset when boot == 2 and its ports are quiet while boot <= 2;
        the checker's bookkeeping (module ``m``) is reset with them (``book_rst``), and the array's
        promises are checked from boot == 3 on (``live``)."""
        top = Module()
        dut = SystolicArray(self.config, mutation=self.mutation)
        top.submodules.dut = Fragment.get(dut, platform)
        rst = ResetSignal()
        top.d.comb += Assume(rst == Initial(), "reset in the first cycle only")
        boot = Signal(range(5), name="boot")
        with top.If(boot < 4):
            top.d.sync += boot.eq(boot + 1)
        live = Signal(name="live")
        book_rst = Signal(name="book_rst")
        top.d.comb += [live.eq(~rst & (boot >= 3)), book_rst.eq(boot <= 2)]
        m = Module()        # the checker's bookkeeping, reset with the array's registers (book_rst)
        f, a, o = dut.i_filter, dut.i_act, dut.o_sum
        m.d.comb += [f.valid.eq(AnySeq(1)), f.payload.eq(AnySeq(len(f.payload.as_value()))),
                     a.valid.eq(AnySeq(1)), a.payload.eq(AnySeq(len(a.payload.as_value()))),
                     o.ready.eq(AnySeq(1))]
        accept = a.valid & a.ready
        return _Checker(top=top, m=m, dut=dut, pes=dut.pes, drain=dut.drain, tree=dut.reset_tree, rst=rst,
                        boot=boot, live=live, book_rst=book_rst, f=f, a=a, o=o,
                        accept=accept, last_in=accept & a.payload.last, out=o.valid & o.ready)

    @staticmethod
    def _stream_rule(s, name, stream, check):
        """``check`` (Assume or Assert) the stream rules on ``stream``: once ``valid`` is high and
        not ``ready``, it stays high and the payload stays stable in the next cycle."""
        held = Signal(name=f"{name}_held")          # valid and not ready in the previous cycle
        before = Signal(stream.payload.shape(), name=f"{name}_before")
        s.m.d.sync += [held.eq(stream.valid & ~stream.ready), before.eq(stream.payload)]
        with s.m.If(held & s.live):
            s.m.d.comb += [check(stream.valid, f"{name}.valid held until ready"),
                           check(stream.payload.as_value() == before.as_value(),
                                 f"{name}.payload stable until ready")]

    def _assume_environment(self, s):
        """The environment, always assumed: ``i_filter`` and ``i_act`` obey the stream rules, and a
        tile has at most ``k_max`` beats (``n`` counts the current tile's beats; beat k_max - 1
        must be last). ``o_sum.ready`` stays free."""
        K, m, a = self.config.k_max, s.m, s.a
        self._stream_rule(s, "i_filter", s.f, Assume)
        self._stream_rule(s, "i_act", a, Assume)
        s.n = n = Signal(range(K), name="beats")
        with m.If(s.accept):
            m.d.sync += n.eq(Mux(a.payload.last, 0, n + 1))
        with m.If(s.live):
            m.d.comb += Assume(~(a.valid & (n == K - 1)) | a.payload.last, "at most k_max beats per tile")

    def _track_beats(self, s):
        """The specification's timing and arithmetic, written independently of the array.

        A beat accepted in cycle t reaches PE(r, c)'s accumulator in cycle t + ``lag(r, c)``,
        lag = ``config.arrival(r, c)`` + S − 1 (the skew or the broadcast register, then the PE
        latency). ``hist[d]`` is the beat accepted d cycles ago (a delay line of ``depth`` beats,
        the lag of PE(R-1, C-1)); in the cycle a beat reaches PE(r, c)
        its term is added to the PE's ``shadow``, a sum two bits wider than the accumulator, and
        ``count`` counts it; at the tile's last term the full sum moves to ``expect[r][c]``."""
        cfg, m = self.config, s.m
        R, C, K, S = cfg.rows, cfg.cols, cfg.k_max, cfg.pe_stages
        beat = data.StructLayout({"fire": 1, "last": 1, "idx": range(K),
                                  "a": data.ArrayLayout(signed(cfg.width), R),
                                  "b": data.ArrayLayout(signed(cfg.width), C)})
        s.lag = lambda r, c: cfg.arrival(r, c) + S - 1      # cycles from acceptance to PE(r, c)'s accumulator
        s.depth = depth = s.lag(R - 1, C - 1)                # the lag of PE(R-1, C-1), the largest
        s.hist = hist = [Signal(beat, name="beat_now")]
        m.d.comb += [hist[0].fire.eq(s.accept), hist[0].last.eq(s.a.payload.last), hist[0].idx.eq(s.n),
                     hist[0].a.eq(s.f.payload), hist[0].b.eq(s.a.payload.data)]
        for d in range(1, depth + 1):
            hist.append(Signal(beat, name=f"beat_{d}"))
            m.d.sync += hist[d].eq(hist[d - 1])
        wide = signed(cfg.acc_width + 2)
        s.lo, s.hi = term_bounds(cfg)
        s.shadow = [[Signal(wide, name=f"shadow_{r}_{c}") for c in range(C)] for r in range(R)]
        s.count = [[Signal(range(K), name=f"count_{r}_{c}") for c in range(C)] for r in range(R)]
        s.expect = [[Signal(wide, name=f"expect_{r}_{c}") for c in range(C)] for r in range(R)]
        for r in range(R):
            for c in range(C):
                h = hist[s.lag(r, c)]
                term = Signal(wide, name=f"term_{r}_{c}")
                m.d.comb += term.eq(PE_CLASSES[cfg.pe].term_value(h.a[r], h.b[c]))
                sh, cnt = s.shadow[r][c], s.count[r][c]
                with m.If(h.fire):
                    with m.If(h.last):
                        m.d.sync += [s.expect[r][c].eq(sh + term), sh.eq(0), cnt.eq(0)]
                    with m.Else():
                        m.d.sync += [sh.eq(sh + term), cnt.eq(cnt + 1)]

    def _track_tile(self, s):
        """The pending tile: accepted (its last beat in), not yet fully delivered. ``age`` counts
        the cycles since its last beat, saturating at ``full`` = depth + 1, when every PE has
        captured it (``draining``: the chains may shift); ``out_row`` is the row the next output
        beat must carry."""
        R, m = self.config.rows, s.m
        s.pending = pending = Signal(name="pending")
        s.age = age = Signal(range(s.depth + 2), name="age")
        s.out_row = out_row = Signal(range(R), name="out_row")
        s.full = full = s.depth + 1
        with m.If(pending & (age < full)):
            m.d.sync += age.eq(age + 1)
        with m.If(s.out):
            m.d.sync += out_row.eq(Mux(out_row == R - 1, 0, out_row + 1))
            with m.If(out_row == R - 1):
                m.d.sync += pending.eq(0)
        with m.If(s.last_in):
            m.d.sync += [pending.eq(1), age.eq(1)]
        s.draining = pending & (age == full)

    def _captures_ahead(self, s, k):
        """What PE(R-1, C-1) will capture k cycles from now: in a systolic array the capture of a PE
        with r + c = R + C - 2 - k (the capture wave reaches every PE of a diagonal in one cycle); in
        a broadcast array, where every PE captures in the same cycle, the checker's own record of
        the tile's last beat k cycles before it reaches the accumulators."""
        cfg = self.config
        if cfg.dataflow == "systolic":
            d = cfg.rows + cfg.cols - 2 - k
            r = min(cfg.rows - 1, d)
            return s.pes[r][d - r].o_capture
        h = s.hist[s.depth - k]
        return h.fire & h.last

    # ---------------------------------------------------------------- invariants and properties
    @_group("reset")
    def _reset_tree(self, s):
        """Invariant ``reset``: the reset tree (hw.reset) fires once, on time. In the cycle after
        the reset its root is high, in the next its level-2 registers, in the next its leaves (the
        array's registers' reset), and ``quiet`` in all three; from then on all are low.
        Every property but ``join`` is proved beside it: a tree that could fire again would reset
        the array under a checker that did not expect it."""
        top, boot, tree = s.top, s.boot, s.tree
        with top.If(~s.rst):
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

    @_group("stream")
    def _stream(self, s):
        """Property ``stream``: ``o_sum`` obeys the stream rules (valid held, payload stable until
        ready), under every stall pattern. Needs ``reset`` and ``drain`` for induction."""
        self._stream_rule(s, "o_sum", s.o, Assert)

    @_group("join")
    def _join(self, s):
        """Property ``join``: a filter beat is accepted exactly when an activation beat is. Needs no
        invariant: both readies are one signal, high only while both valids are."""
        with s.m.If(s.live):
            s.m.d.comb += Assert((s.f.valid & s.f.ready) == s.accept, "i_filter and i_act accepted together")

    @_group("no-overflow")
    def _no_overflow(self, s):
        """Property ``no-overflow``: every PE's accumulator equals its wide shadow (the true running
        sum of the tile's terms so far), and the sum a PE captures into its result register equals
        the shadow's final value; a sum that wrapped would differ. Needs ``reset`` and ``shadow``."""
        m, pes = s.m, s.pes
        for r in range(self.config.rows):
            for c in range(self.config.cols):
                captured = Signal(name=f"captured_{r}_{c}")      # the PE wrote its result register
                m.d.sync += captured.eq(pes[r][c].o_capture)
                with m.If(s.live):
                    m.d.comb += Assert(pes[r][c].acc == s.shadow[r][c],
                                       f"PE({r},{c}) accumulator equals its wide shadow")
                    with m.If(captured):
                        m.d.comb += Assert(pes[r][c].o_sum == s.expect[r][c],
                                           f"PE({r},{c}) captured sum equals its wide shadow")

    @_group("shadow")
    def _shadow(self, s):
        """Invariant ``shadow``: the checker's bookkeeping is consistent. Each shadow has counted
        exactly the terms that have reached its PE (the next beat to reach it is the oldest one in
        flight, or else the next accepted), lies within count × the smallest and the largest term,
        and the tile's beat count stays below k_max. Proved beside ``no-overflow`` and ``equivalence``."""
        cfg, m, hist = self.config, s.m, s.hist
        for r in range(cfg.rows):
            for c in range(cfg.cols):
                sh, cnt = s.shadow[r][c], s.count[r][c]
                next_idx = s.n
                for d in range(1, s.lag(r, c) + 1):
                    next_idx = Mux(hist[d].fire, hist[d].idx, next_idx)
                with m.If(s.live):
                    m.d.comb += [Assert(cnt == next_idx, f"shadow({r},{c}) counts the terms that reached it"),
                                 Assert(sh >= s.lo * cnt, f"shadow({r},{c}) >= count x smallest term"),
                                 Assert(sh <= s.hi * cnt, f"shadow({r},{c}) <= count x largest term")]
        with m.If(s.live):
            m.d.comb += Assert(s.n < cfg.k_max, "beat count below k_max")

    @_group("conservation")
    def _conservation(self, s):
        """Property ``conservation``: no output row without an accepted tile; ``last`` on exactly
        every R-th output row; a tile's last beat is never accepted while a tile is pending; and
        ``o_busy`` is high exactly while one is. Together, with T tiles accepted and B rows
        delivered, 0 <= R·T − B <= R in every cycle, and each tile's rows leave before the next
        tile's. Needs ``reset``, ``drain`` and ``phase``."""
        m, o, pending = s.m, s.o, s.pending
        with m.If(s.live):
            with m.If(s.out):
                m.d.comb += [Assert(pending, "no output row without an accepted tile"),
                             Assert(o.payload.last == (s.out_row == self.config.rows - 1),
                                    "o_sum.last on every R-th row")]
            with m.If(s.last_in):
                m.d.comb += Assert(~pending, "a last beat waits while a tile is pending")
            m.d.comb += Assert(s.dut.o_busy == pending, "o_busy high exactly while a tile is pending")

    @_group("progress")
    def _progress(self, s):
        """Property ``progress``: a tile's last output row is accepted within G − 1 cycles of its
        last beat (G = ``config.drain_gap``: 2R + C + S − 1 systolic, R + S + 2 broadcast), not counting the cycles in
        which ``o_sum`` was stalled (valid and not ready).

        ``spent`` counts those cycles; ``remaining`` is what the tile still needs if ``o_sum`` is
        never stalled again: the capture wave, one cycle to push the first row, then one row per
        cycle. The ranking invariant spent + remaining <= G − 1 proves it. With conservation,
        every accepted tile is delivered, in order, as long as the receiver keeps accepting.
        Needs ``reset``, ``drain``, ``phase`` and ``conservation``."""
        cfg, m, o = self.config, s.m, s.o
        R = cfg.rows
        gap = cfg.drain_gap      # G of hw.array: the unstalled drain takes G - 1 cycles
        spent = Signal(range(gap + 1), name="spent")
        with m.If(s.pending & ~(o.valid & ~o.ready) & (spent < gap)):
            m.d.sync += spent.eq(spent + 1)
        with m.If(s.last_in):
            m.d.sync += spent.eq(0)
        remaining = Signal(range(gap + 1), name="remaining")
        m.d.comb += remaining.eq(Mux(~s.draining, s.full - s.age + R + 1,
                                     Mux(s.drain.occ == 0, R - s.out_row + 1, R - s.out_row)))
        with m.If(s.live & s.pending):
            m.d.comb += [Assert(spent + remaining <= gap - 1, "spent + remaining <= G - 1"),
                         Assert(spent < gap - 1, "last row within G - 1 unstalled cycles of the last beat")]

    @_group("equivalence")
    def _equivalence(self, s):
        """Property ``equivalence``: every output row r of a tile carries, in column c, the sum of
        the terms |A[r, k] − B[k, c]| (SAD) or A[r, k]·B[k, c] (MAC) over exactly the beats
        accepted for that tile (``expect``, from the checker's own delay line), for every input
        sequence and every stall pattern on all three streams. Needs every invariant,
        ``no-overflow`` and ``conservation``."""
        m, o = s.m, s.o
        with m.If(s.live & s.out):
            for row in range(self.config.rows):
                with m.If(s.out_row == row):
                    m.d.comb += [Assert(o.payload.data[c] == s.expect[row][c],
                                        f"o_sum row {row} column {c} equals the sum")
                                 for c in range(self.config.cols)]

    @_group("drain")
    def _drain(self, s):
        """Invariant ``drain``: the drain controller's registers agree with each other whatever its
        inputs do: FIFO occupancy <= FIFO_DEPTH and rows left <= R; the registered shift decision
        and output select follow the state; the start stages follow the capture of the PEs they
        come from; the decision's inputs "start or at least 2 rows left" and "1 row left"; and the
        per-column copies of the occupancy, the rows left, the start and the decision.

        The copies of the decision and the select have no reset (hw.drain): in the cycle after the
        array's reset (boot == 3) they hold what the decision logic made of the state before it,
        so they are asserted equal from boot == 4 on. Proved beside ``stream``, ``conservation``,
        ``equivalence`` and ``progress``."""
        C, R, m, drain, pes = self.config.cols, self.config.rows, s.m, s.drain, s.pes
        popped = Signal(name="popped")      # a row was accepted in the previous cycle
        m.d.sync += popped.eq(s.out)
        with m.If(s.live):
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
                *([Assert(drain.start_early == self._captures_ahead(s, 1),
                          "drain: the early start is the capture one step before PE(R-1, C-1)")]
                  if drain.start_early is not None else []),
                *(Assert(copy == drain.start_early, f"drain: column group {g}'s copy of the early start")
                  for g, copy in enumerate(drain.start_early_grp)),
                *([Assert(drain.start_first == self._captures_ahead(s, 2),
                          "drain: the first start stage is the capture two steps before PE(R-1, C-1)")]
                  if drain.start_first is not None else []),
                *(Assert(drain.start_col[c] == drain.start, f"drain: column {c}'s copy of the start")
                  for c in range(C)),
                # the decision's one-LUT inputs: "a start or at least 2 rows left" and "1 row left"
                Assert(drain.many == (drain.start | (drain.left >= 2)), "drain: many = start or left >= 2"),
                Assert(drain.one == (drain.left == 1), "drain: one = left == 1"),
                *(Assert(drain.many_col[c] == (drain.start_col[c] | (drain.left_col[c] >= 2)),
                         f"drain: column {c}'s many") for c in range(C)),
                *(Assert(drain.one_col[c] == (drain.left_col[c] == 1), f"drain: column {c}'s one") for c in range(C)),
            ]
        with m.If(s.live & (s.boot == 4)):
            m.d.comb += [
                Assert(Cat(*(g for col in drain.go_col for g in col)) == drain.go.replicate(C * len(drain.go_col[0])),
                       "drain: every column's and row group's copy of the decision"),
                Assert(Cat(*drain.sel_col) == drain.sel.replicate(C), "drain: every column's copy of the select"),
            ]

    @_group("phase")
    def _phase(self, s):
        """Invariant ``phase``: the drain follows the pending tile. While a tile is being captured
        nothing drains (no rows left or queued, no shift, no row delivered); while it drains, rows
        delivered + rows in the FIFO + rows left in the chains = R; the drain's row counter and
        the FIFO entries' ``last`` flags match the rows they count or carry. Proved beside
        ``conservation``, ``equivalence`` and ``progress``, with ``reset`` and ``drain``."""
        R, m, drain, o, out_row = self.config.rows, s.m, s.drain, s.o, s.out_row
        with m.If(s.live):
            m.d.comb += [Assert(s.age <= s.full, "age saturates at the capture wave's length"),
                         Assert(~s.pending | (s.age != 0), "a pending tile has an age"),
                         Assert(out_row < R, "the next output row is a row")]
            with m.If(s.draining):
                m.d.comb += Assert(out_row + drain.occ + drain.left == R, "rows delivered + queued + left = R")
            with m.Else():
                m.d.comb += [Assert(drain.left == 0, "no rows left in the chains outside a drain"),
                             Assert(drain.occ == 0, "FIFO empty outside a drain"),
                             Assert(~drain.go, "no shift outside a drain"),
                             Assert(out_row == 0, "no row delivered outside a drain")]
            # the drain's row counter follows the rows left (it holds for any i_start only when the
            # drain is never restarted early, which is what this group establishes)
            m.d.comb += Assert(drain.row == Mux(drain.left == 0, 0, R - drain.left), "drain: row counter")
            # the rows queued in the FIFO are out_row (offered, in e[occ - 1]), out_row + 1, ..., the newest in e0
            for k in range(1, FIFO_DEPTH + 1):
                with m.If(drain.occ == k):
                    m.d.comb += [Assert(drain.e[k - 1 - i].last == (out_row + i == R - 1),
                                        f"FIFO: e{k - 1 - i}'s last flag, {k} rows") for i in range(k)]
            with m.If(drain.occ != 0):
                m.d.comb += Assert(o.payload.last == (out_row == R - 1), "FIFO: the offered row's last flag")

    @_group("values")
    def _values(self, s):
        """Invariant ``values``: the sums in flight are the expected ones. While a tile is pending,
        every result register of a PE that has captured it holds the expected sum of the row it
        carries after the chains' shifts so far, and the FIFO's entries hold the newest ``occ``
        rows (e[occ - 1] the oldest, offered one; e0 the newest). Proved beside ``equivalence``,
        with every other invariant, ``no-overflow`` and ``conservation``."""
        cfg, m, drain, expect = self.config, s.m, s.drain, s.expect
        R, C = cfg.rows, cfg.cols
        shifted = Signal(range(R + 1), name="shifted")         # rows already moved out of the chains
        m.d.comb += shifted.eq(Mux(s.draining, R - drain.left, 0))
        with m.If(s.live & s.pending):
            for r in range(R):
                for c in range(C):
                    with m.If(s.age > s.lag(r, c)):        # PE(r, c) has captured this tile
                        for sh in range(R - r):
                            with m.If(shifted == sh):
                                m.d.comb += Assert(s.pes[r][c].o_sum == expect[r + sh][c],
                                                   f"result register ({r},{c}) holds row {r + sh}")
            for row in range(R):
                with m.If(s.out_row == row):
                    for k in range(1, FIFO_DEPTH + 1):
                        with m.If(drain.occ == k):
                            m.d.comb += [Assert(drain.e[k - 1 - i].data[c] == expect[row + i][c],
                                                f"FIFO: e{k - 1 - i} holds row {row + i}, {k} rows")
                                         for i in range(k) if row + i < R for c in range(C)]
                    with m.If(drain.occ != 0):
                        m.d.comb += [Assert(s.o.payload.data[c] == expect[row][c], f"FIFO: offered row {row}")
                                     for c in range(C)]

    @_group(COVER)
    def _covers(self, s):
        """The covers, reached by bounded search (``mode cover``), which show the properties are not
        vacuous: a tile with the largest possible sum delivered; a full drain under backpressure
        (the FIFO full, min(R, FIFO_DEPTH) rows, and ``o_sum`` stalled) delivered to its last row;
        two tiles delivered, the second's last beat accepted in the cycle after the first's last
        row left. Under the environment's assumptions only."""
        m, o, out = s.m, s.o, s.out
        done = Signal(range(3), name="tiles_done")         # tiles delivered, saturating at 2
        stalled_full = Signal(name="stalled_full")          # this tile's drain stalled with the FIFO full
        done_before = Signal(name="done_before")            # the previous cycle delivered a tile's last row
        m.d.sync += done_before.eq(out & o.payload.last)
        with m.If(out & o.payload.last & (done < 2)):
            m.d.sync += done.eq(done + 1)
        with m.If(s.pending & (s.drain.occ == min(self.config.rows, FIFO_DEPTH)) & ~o.ready):
            m.d.sync += stalled_full.eq(1)
        with m.If(s.last_in):
            m.d.sync += stalled_full.eq(0)
        with m.If(s.live):
            m.d.comb += [
                Cover(out & (o.payload.data[0] == self.config.k_max * s.hi), "largest sum delivered"),
                Cover(out & o.payload.last & stalled_full, "full drain under backpressure"),
                Cover(s.last_in & done_before & (done == 1), "back-to-back tiles"),
            ]
