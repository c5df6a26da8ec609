"""The free-space grid (page_space._FreeGrid) finds the spot a plain per-cell search
finds: the same rectangle, or none, for random obstacles on pages of every shape.

The reference below marks every cell an obstacle touches and tries every candidate
in sorted order (a summed-area table of the cells), as the grid did before it kept rows as bit masks and generated its
candidates in order; the placement of a stamp must not move because of that change.
"""
from __future__ import annotations

import random

from gateway.signatures.page_space import PAD, STEP, _FreeGrid


def _reference(blocked, width, height, margin, step):
    cell = step / 2
    right, top = int((width - margin) / cell), int((height - margin) / cell)
    left_limit = max(int(margin / cell) + 1, int(width * 0.35 / cell))
    bottom_limit = max(int(margin / cell) + 1, int(height * 0.5 / cell))
    c_hi, r_hi = max(right, left_limit), max(top, bottom_limit)
    taken = set()
    for b in blocked:
        c0, c1 = max(int(b[0] / cell), left_limit), min(int(b[2] / cell), c_hi - 1)
        r0, r1 = max(int(b[1] / cell), bottom_limit), min(int(b[3] / cell), r_hi - 1)
        taken.update((c, r) for c in range(c0, c1 + 1) for r in range(r0, r1 + 1))
    # Cells taken in [left_limit, c) x [bottom_limit, r): each candidate is then four look-ups.
    sums = {}
    for c in range(left_limit, c_hi + 1):
        for r in range(bottom_limit, r_hi + 1):
            sums[c, r] = (0 if c == left_limit or r == bottom_limit else
                          sums[c - 1, r] + sums[c, r - 1] - sums[c - 1, r - 1] + ((c - 1, r - 1) in taken))

    def nearest(w, h):
        wc, hc = int(w / cell) + 1, int(h / cell) + 1
        candidates = sorted(((right - c1) + (top - r1), c1, r1)
                            for c1 in range(left_limit + wc, right + 1, 2)
                            for r1 in range(bottom_limit + hc, top + 1, 2))
        for _, c1, r1 in candidates:
            c0, r0 = c1 - wc, r1 - hc
            if sums[c1, r1] - sums[c0, r1] - sums[c1, r0] + sums[c0, r0] == 0:
                return ((c1 - wc) * cell, (r1 - hc) * cell, (c1 - wc) * cell + w, (r1 - hc) * cell + h)
        return None

    return nearest


def _random_boxes(rng, width, height, count, big):
    out = []
    for _ in range(count):
        x, y = rng.uniform(-20, width), rng.uniform(-20, height)
        span = big if rng.random() < 0.2 else 12
        out.append((x, y, x + rng.uniform(0.5, span), y + rng.uniform(0.5, span)))
    return out


def test_the_grid_finds_what_a_per_cell_search_finds():
    rng = random.Random(16)
    pages = [(595, 842), (842, 595), (612, 792), (300, 400), (200, 160), (420, 595)]
    found = missed = 0
    for trial in range(60):
        width, height = pages[trial % len(pages)]
        blocked = [(b[0] - PAD, b[1] - PAD, b[2] + PAD, b[3] + PAD)
                   for b in _random_boxes(rng, width, height, rng.choice((0, 3, 20, 60, 200)), 120)]
        grid = _FreeGrid(blocked, width, height, 18, STEP)
        reference = _reference(blocked, width, height, 18, STEP)
        for scale in (1.0, 0.9, 0.8, 0.7):
            w, h = 180 * scale, 84 * scale
            expected = reference(w, h)
            assert grid.nearest(w, h) == expected, (trial, scale)
            found, missed = found + (expected is not None), missed + (expected is None)
    assert found > 60 and missed > 20  # both outcomes were exercised
