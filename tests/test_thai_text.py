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


def _seed_lines() -> list[str]:
    seeds = sorted(shared_path("seeds").glob("*.txt"))
    return [line for seed in seeds for line in seed.read_text(encoding="utf-8").split("\n") if line.strip()]


def test_words_are_cut_as_pythainlps_newmm_cuts_them_over_its_own_trie():
    # rules/thai_text.py `thai_words_in`: PyThaiNLP's newmm over its word list looked up
    # by length, not its 65 MiB Trie. Every line of the seeds and the demo directory's
    # unit names, and typos, cut into the same words.
    import tomllib

    from pythainlp.tokenize import word_tokenize

    from rules.thai_text import thai_words_in
    from tests.paths import REPO

    units = tomllib.loads((REPO / "config" / "units.toml").read_text(encoding="utf-8"))["unit"]
    rng = random.Random(41)
    texts = _seed_lines() + [unit["name_th"] for unit in units] + [_typo(rng) for _ in range(300)]
    assert len(texts) > 1000
    for text in texts:
        assert thai_words_in(text) == word_tokenize(text, engine="newmm", keep_whitespace=True), text


def test_the_words_starting_at_a_position_are_the_tries():
    from pythainlp.tokenize import word_dict_trie

    from rules.thai_text import _dictionary

    ours, trie = _dictionary(), word_dict_trie()
    rng = random.Random(7)
    for line in rng.sample(_seed_lines(), 200):
        for start in range(len(line)):
            assert ours.prefixes(line, start) == trie.prefixes(line, start), (line, start)


def test_cutting_words_builds_no_trie_of_pythainlp():
    # In a fresh interpreter, as the stamping child, the DATA-check workers and the
    # pipeline run it: a long unit name wrapped, a page's spaced tone marks rejoined.
    import subprocess
    import sys

    from tests.paths import REPO

    code = ("from gateway.tools.thai_wrap import wrap\n"
            "from rules.thai_text import normalise_extracted\n"
            "print(wrap('โรงเรียนสามเสนนอก (ประชาราษฎร์อนุกุล) สำนักงานเขตดินแดง', 20, len))\n"
            "print(normalise_extracted('การป้ องกันน้ำท่วม'))\n"
            "import pythainlp.tokenize as t\n"
            "print(t.word_dict_trie.cache_info().currsize)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=REPO,
                         check=True).stdout.splitlines()
    assert out[1] == "การป้องกันน้ำท่วม"
    assert out[2] == "0"
