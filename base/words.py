"""Numbers in sentences: "an 8x8 array", "1 PE", "2 PEs".

Reports and error messages put numbers into English; these two helpers keep the grammar right
for every value, not just the default 8x8.
"""
import re

__all__ = ["a_an", "count"]


def a_an(number):
    """The indefinite article for a number as it is read aloud: "an" before eight, eleven,
    eighteen, eighty... (8, 11, 18, 80-89, 800-899, 8,000, 11,000, 18,000 ...), else "a".

    English reads a number in groups of three digits, so the first group decides: 11 and 18 are
    "eleven" and "eighteen" only as a group of their own (11,000 but not 110 or 1,100).
    """
    digits = re.match(r"[0-9,]*", str(number).lstrip("+")).group().replace(",", "")
    if not digits:
        raise ValueError(f"a_an needs a number, not {number!r}")
    digits = digits.lstrip("0") or "0"
    lead = digits[:len(digits) % 3 or 3]
    return "an" if lead.startswith("8") or lead in ("11", "18") else "a"


def count(n, noun, plural=None):
    """``n`` and ``noun``, the noun in the plural unless ``n`` is 1: "1 PE", "4 PEs", "0 images"."""
    return f"{n} {noun if n == 1 else plural or noun + 's'}"
