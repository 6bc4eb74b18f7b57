"""Numbers in sentences: the article and the plural follow the value, not the default 8x8."""
import pytest

from adderhw.base.words import a_an, count


@pytest.mark.parametrize("number,article", [
    (1, "a"), (4, "a"), (8, "an"), (11, "an"), (16, "a"), (18, "an"), (80, "an"), (89, "an"), (100, "a"),
    (110, "a"), (180, "a"), (800, "an"), (1100, "a"), (8000, "an"), (11000, "an"), (18000, "an"),
    (110000, "a"), (11000000, "an"), ("8x8", "an"), ("12x23", "a"), ("8,000", "an"),
])
def test_the_article_follows_how_the_number_is_read(number, article):
    assert a_an(number) == article


def test_the_article_needs_a_number():
    with pytest.raises(ValueError, match="a_an needs a number, not 'x'"):
        a_an("x")


@pytest.mark.parametrize("n,noun,text", [(1, "PE", "1 PE"), (4, "PE", "4 PEs"), (0, "image", "0 images"),
                                          (1, "image", "1 image"), (2, "copy", "2 copies")])
def test_count_uses_the_singular_for_one_only(n, noun, text):
    assert count(n, noun, "copies" if noun == "copy" else None) == text
