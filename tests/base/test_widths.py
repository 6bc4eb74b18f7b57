import itertools

import pytest

from adderhw.golden import AdderhwError, mac_acc_width, sad_acc_width


@pytest.mark.parametrize("width,k", [(2, 1), (3, 5), (4, 9), (8, 1), (8, 144)])
def test_sad_width_is_tight_by_brute_force(width, k):
    lo, hi = -(1 << (width - 1)), (1 << (width - 1)) - 1
    worst = (hi - lo) * k                           # |lo - hi| is the largest difference
    n = sad_acc_width(width, k)
    assert worst < (1 << n)                         # fits
    assert worst >= (1 << (n - 1))                  # one bit fewer does not


@pytest.mark.parametrize("width,k", [(2, 1), (2, 3), (3, 1), (4, 7), (5, 2)])
def test_mac_width_is_tight_by_brute_force(width, k):
    vals = range(-(1 << (width - 1)), 1 << (width - 1))
    prods = [a * b for a, b in itertools.product(vals, vals)]
    lo, hi = min(prods) * k, max(prods) * k
    n = mac_acc_width(width, k)
    assert -(1 << (n - 1)) <= lo and hi <= (1 << (n - 1)) - 1
    assert not (-(1 << (n - 2)) <= lo and hi <= (1 << (n - 2)) - 1)


def test_known_values():
    assert sad_acc_width(8, 1) == 8                 # 255
    assert sad_acc_width(8, 2) == 9                 # 510
    assert mac_acc_width(8, 1) == 16                # 16384 needs 16 signed bits
    assert mac_acc_width(16, 1152) == 42


@pytest.mark.parametrize("fn", [sad_acc_width, mac_acc_width])
@pytest.mark.parametrize("width,k,msg", [
    (1, 1, "width must be an integer from 2 to 32, not 1"),
    (33, 1, "width must be an integer from 2 to 32, not 33"),
    (8, 0, "k must be an integer of at least 1, not 0"),
    (8.0, 1, "width must be an integer, not 8.0"),
])
def test_bad_parameters(fn, width, k, msg):
    with pytest.raises(AdderhwError, match=msg):
        fn(width, k)
