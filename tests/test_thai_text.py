"""rules/thai_text.py `thai_normalize`: PyThaiNLP's normalize with its costliest steps
skipped where they cannot change the text. It must give PyThaiNLP's answer for every
text, typos of every kind included: random strings dense in the marks those steps work
on, and every line of the seed documents."""
from __future__ import annotations

import random

import pytest
from pythainlp.util import normalize

from rules.thai_text import _thai_normalize, thai_normalize
from tests.paths import shared_path

CONSONANTS = "กขคงจฉชซดตถทธนบปผพฟมยรลวศษสหอฮฤฦ"
# Every vowel, tone mark and sign of the Thai block (U+0E30-U+0E4E), ๅ and ๆ among them.
MARKS = "".join(chr(c) for c in range(0x0E30, 0x0E4F))
OTHER = "  \n\u200b\u200cAa1.-"


def _typo(rng: random.Random) -> str:
    """Up to 40 characters, half of them marks: repeats, marks after spaces, marks
    before their consonant, runs of spaces, zero-width characters."""
    out = []
    for _ in range(rng.randrange(41)):
        pick = rng.random()
        if pick < 0.5:
            out.append(rng.choice(MARKS))
        elif pick < 0.8:
            out.append(rng.choice(CONSONANTS))
        elif out and pick < 0.9:
            out.append(out[-1])  # the same again: what "remove repeated vowels" is for
        else:
            out.append(rng.choice(OTHER))
    return "".join(out)


def test_the_guarded_normalize_is_in_use_with_the_pythainlp_it_was_written_for():
    import pythainlp

    if _thai_normalize() is normalize and not pythainlp.__version__.startswith("5."):
        pytest.skip(f"PyThaiNLP {pythainlp.__version__}: its own normalize is used, unguarded "
                    "(rules/thai_text.py _thai_normalize)")
    assert _thai_normalize() is not normalize  # PyThaiNLP 5.x: its steps are the ones it was written for


def test_it_answers_as_pythainlp_on_typos():
    rng = random.Random(26)
    texts = [_typo(rng) for _ in range(40_000)]
    different = [(t, thai_normalize(t), normalize(t)) for t in texts if thai_normalize(t) != normalize(t)]
    assert different == []
    # Not only texts both leave alone: the steps the guard skips did change some of them.
    assert sum(normalize(t) != t for t in texts) > 20_000


def test_it_answers_as_pythainlp_on_every_line_of_the_seed_documents():
    seeds = sorted(shared_path("seeds").glob("*.txt"))
    lines = [line for seed in seeds for line in seed.read_text(encoding="utf-8").split("\n")]
    assert len(lines) > 1000
    assert [thai_normalize(line) for line in lines] == [normalize(line) for line in lines]
    whole = "\n".join(lines[:400])
    assert thai_normalize(whole) == normalize(whole)
