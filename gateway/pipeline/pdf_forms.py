"""How many form XObjects a PDF's pages draw: a PDF that draws its forms millions of
times is not read (`gateway/pipeline/pdf_inspect.py` `inspect_pdf`, the one reader of
the DATA check, the pipeline and the files inside archives and attached messages).

Text extraction draws every form each time it is invoked, in pypdf and in PDFium alike:
a 3 KB file whose 28 forms each draw the next one twice asks for 2^28 draws, and held a
DATA-check worker for its whole 30 s deadline (PDFium: 7.7 s at 20 levels, x4 per 2
more; pypdf ~0.8 ms a draw). A letter's own forms (a logo, a letterhead, a watermark per
page) are drawn tens of times. Such a PDF is "not read in time": the letter is then at
least ลับ, as for any PDF not read in time (rules/markings.py `_pdf_unreadable`).
"""
from __future__ import annotations

import re

FORM_DRAWS_CAP = 2000
FORM_NESTING_CAP = 64  # forms inside forms; deeper is "too many" (and no real letter's)
_DO = re.compile(rb"/([^\s/\[\]<>(){}%]+)\s+Do(?![^\s/\[\]<>(){}%])")
_NAME_ESCAPE = re.compile(rb"#([0-9A-Fa-f]{2})")


class _TooManyDraws(Exception):
    pass


def draws_of(reader, pages: list[int], cap: int = FORM_DRAWS_CAP) -> int:
    """The forms pages `pages` of an open pypdf reader draw, nested draws counted, up to
    cap + 1 (a cycle or nesting beyond FORM_NESTING_CAP counts as cap + 1); 0 when pypdf
    cannot follow them (the reader then decides, under its deadline).

    Each form's content is scanned once (`name Do` operators, memoised per form), so the
    count costs milliseconds however large the number it finds."""
    memo: dict = {}
    total = 0
    try:
        for n in pages:
            page = reader.pages[n]
            total += _draws(_contents(page.get("/Contents")), page.get("/Resources"), memo, (), cap - total)
        return total
    except _TooManyDraws:
        return cap + 1
    except (Exception, RecursionError):  # noqa: BLE001 - pypdf's many errors: the reader decides
        return 0


def _contents(contents) -> bytes:
    contents = contents.get_object() if contents is not None else None
    if contents is None:
        return b""
    if isinstance(contents, list):
        return b"\n".join(c.get_object().get_data() for c in contents)
    return contents.get_data()


def _draws(content: bytes, resources, memo: dict, stack: tuple, budget: int) -> int:
    """Forms drawn by `content` (resolved through `resources`), nested draws counted;
    _TooManyDraws past `budget`."""
    from pypdf.generic import IndirectObject

    resources = resources.get_object() if resources is not None else None
    xobjects = resources.get("/XObject") if hasattr(resources, "get") else None
    xobjects = xobjects.get_object() if xobjects is not None else None
    if not hasattr(xobjects, "raw_get"):
        return 0
    count = 0
    for match in _DO.finditer(content):
        name = "/" + _NAME_ESCAPE.sub(lambda m: bytes([int(m.group(1), 16)]), match.group(1)).decode("latin-1")
        if name not in xobjects:
            continue
        ref = xobjects.raw_get(name)
        form = ref.get_object()
        if not hasattr(form, "get") or form.get("/Subtype") != "/Form":
            continue  # an image: drawn once, nothing inside it drawn
        own = form.get("/Resources")
        key = ((ref.idnum, ref.generation) if isinstance(ref, IndirectObject) else id(form),
               None if own is not None else id(resources))
        if key in stack or len(stack) >= FORM_NESTING_CAP:
            raise _TooManyDraws
        if key not in memo:
            memo[key] = 1 + _draws(form.get_data(), own if own is not None else resources,
                                   memo, stack + (key,), budget - count)
        count += memo[key]
        if count > budget:
            raise _TooManyDraws
    return count
