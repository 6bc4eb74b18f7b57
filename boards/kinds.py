"""The kinds of array that the board benchmarks and sweeps build, defined once.

* ``sad``: the SAD array (adder layers), in logic.
* ``mac``: the MAC twin with its multipliers in logic (LUTs).
* ``mac+dsp``: the MAC twin with its multipliers in DSP blocks (SB_MAC16 on iCE40, MULT18X18D on
  ECP5); a build counts only if every PE's multiplier went to a DSP block. Its PEs have two
  multiplier stages (operand and product registers), which the DSP blocks hold themselves (Yosys
  packs them into SB_MAC16; on the ECP5 the PE instantiates MULT18X18D with its registers,
  hw.dsp): the strongest multiplier baseline costs no fabric for them. With one stage the ECP5's
  blocks run combinationally between fabric registers, and an 8x8 array missed 100 MHz (82.7 MHz);
  with two in the blocks 12x12 (144 of the 156 blocks) passes at 109.3 MHz.
"""
from dataclasses import dataclass

from adderhw.base.config import check_config
from adderhw.base.errors import BadParameter
from adderhw.base.pe_kind import pe_kind

__all__ = ["BuildKind", "KINDS", "kinds_from_pe_list"]


@dataclass(frozen=True)
class BuildKind:
    name: str
    pe: str
    dsp: bool
    #: fewest logic cells a PE of this kind can take (measured SAD ~36+, LUT-MAC ~150+); it caps
    #: a sweep's search at the device's logic cells / this
    floor_cost: int
    #: the MAC kinds' multiplier stages, unless the template is a MAC config (then its own)
    mul_stages: int = 1

    def config(self, template, rows, cols):
        """``template`` (an ArrayConfig: width, k_max, mul_stages, sad_stage) as a rows x cols array of
        this kind; each PE kind keeps the template's option that applies to it (a SAD template's
        mul_stages is not a choice: the MAC kinds then take their own, ``self.mul_stages``)."""
        check_config(template, "template")
        mine = pe_kind(self.pe)
        mul_stages = template.mul_stages if template.kind.has_multiplier else self.mul_stages
        sad_stage = "difference" if mine.has_multiplier else template.sad_stage
        return template.with_(rows=rows, cols=cols, pe=self.pe, mul_stages=mul_stages if mine.has_multiplier else 1,
                              sad_stage=sad_stage)


KINDS = {k.name: k for k in (BuildKind("sad", "sad", False, 30), BuildKind("mac", "mac", False, 120),
                             BuildKind("mac+dsp", "mac", True, 30, mul_stages=2))}


#: the build kinds a PE's name stands for in a list (a MAC PE: in logic and on DSP blocks)
_PE_NAMES = {"sad": ["sad"], "mac": ["mac", "mac+dsp"], "mac+lut": ["mac"]}


def kinds_from_pe_list(text):
    """Kinds named by a comma-separated list of PEs: ``sad`` gives sad; ``mac`` gives mac and mac+dsp;
    ``mac+lut`` gives mac alone (the multipliers in logic), ``mac+dsp`` mac+dsp alone."""
    names = []
    for pe in [p.strip() for p in text.split(",") if p.strip()]:
        if pe in _PE_NAMES:
            names += _PE_NAMES[pe]
        elif pe in KINDS:
            names.append(pe)
        else:
            raise BadParameter(f"--pe must list sad and/or mac (or the kinds {', '.join(KINDS)}, mac+lut), "
                               f"not {pe!r}")
    if not names:
        raise BadParameter(f"--pe must name at least one kind (sad, mac), not {text!r}")
    return list(dict.fromkeys(names))
