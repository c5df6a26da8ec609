"""Actions and JavaScript a later revision gave the signed document.

pyHanko's difference analysis judges what a later revision does to the document's
fields, annotations and catalog; it never looks at the actions a new object carries. An
empty signature field with a zero-area rectangle counts as an invisible, long-term
validation update, whatever its widget's /AA says: session 35's red team added one after
signing whose page-open action ran JavaScript ("this letter is cancelled", a field set
to another value) and whose page-visible action posted the whole letter to an outside
address, and the signature stayed TOTAL_PASSED, "signatures added", no review, on an
approval signature and on a certification that allows no change at all. PDFium, which
the visual comparison draws with, runs no JavaScript, so nothing showed there either.

So the objects each later revision writes are read for the actions a reader would run
(`RUN`) that the signed revision did not already have in the same place.
"""
from __future__ import annotations

# What a reader does by itself, or sends away, when it runs the action (ISO 32000-1
# 12.6.4): navigation within the file (GoTo, Named, Thread) is not among them.
RUN = frozenset({"/JavaScript", "/SubmitForm", "/ResetForm", "/ImportData", "/Launch", "/Hide", "/SetOCGState",
                 "/Rendition", "/GoToE", "/GoToR", "/URI", "/Movie", "/Sound", "/Trans", "/GoTo3DView",
                 "/RichMediaExecute"})
ACTION_KEYS = ("/A", "/AA", "/OpenAction", "/JS", "/Next")
MAX_OBJECTS = 50_000  # objects of later revisions looked at; past them the answer is "yes"
# Past any of these the object is said to add actions (a reader follows a chain or a
# trigger wherever it is: session 35's second red team hid JavaScript behind 32 harmless
# triggers, behind 9 inline /Next, behind 64 in an array, each read as nothing).
MAX_DEPTH = 16  # nested /AA, /Next chains followed
MAX_ITEMS = 256  # entries of one /AA or one /Next array


ACTIONS_ADDED = "actions a reader runs were added after signing"


class TooDeep(Exception):
    """An action structure past the limits: not looked through, so not let pass."""


def actions_added(reader, signed_revision: int, last_revision: int) -> str | None:
    """A sentence naming what a revision after `signed_revision` added that a reader
    runs, or None. Fails closed: a file whose later revisions cannot be read so, or
    write more than MAX_OBJECTS objects, is said to add actions."""
    from pyhanko.pdf_utils import generic

    seen = 0
    try:
        for revision in range(signed_revision + 1, last_revision + 1):
            for ref in sorted(reader.xrefs.explicit_refs_in_revision(revision), key=lambda r: r.idnum):
                seen += 1
                if seen > MAX_OBJECTS:
                    return f"more than {MAX_OBJECTS:,} objects were written after signing (not looked through)"
                obj = reader.get_object(ref, revision=revision)
                if not isinstance(obj, generic.DictionaryObject):  # a stream is one too: a widget may be
                    continue
                added = _run(obj, 0) - _run(_before(reader, ref, signed_revision), 0)
                if added:
                    kinds = ", ".join(sorted({kind.lstrip("/") for kind, _ in added}))
                    return f"{ACTIONS_ADDED} ({kinds})"
    except TooDeep:
        return "actions nested past what is looked through were added after signing"
    except Exception:  # noqa: BLE001 - a later revision that cannot be read is not let pass
        return "what was written after signing could not be looked through for actions"
    return None


def _before(reader, ref, signed_revision: int):
    """The object as the signed revision had it, or None if it did not exist then."""
    from pyhanko.pdf_utils import generic

    try:
        introduced = reader.xrefs.get_introducing_revision(ref)
    except Exception:  # noqa: BLE001 - not known to the cross-reference sections
        return None
    if introduced > signed_revision:
        return None
    try:
        old = reader.get_object(ref, revision=signed_revision)
    except Exception:  # noqa: BLE001
        return None
    return old if isinstance(old, generic.DictionaryObject) else None


def _run(obj, depth: int) -> set[tuple[str, str]]:
    """(kind, what it says) of every action `obj` carries, itself included when it is
    one, that a reader runs by itself."""
    from pyhanko.pdf_utils import generic

    found: set[tuple[str, str]] = set()
    if obj is None:
        return found
    if depth > MAX_DEPTH:
        raise TooDeep()
    if isinstance(obj, generic.IndirectObject):
        obj = obj.get_object()
    if isinstance(obj, generic.ArrayObject):
        if len(obj) > MAX_ITEMS:
            raise TooDeep()
        for item in obj:
            found |= _run(item, depth + 1)
        return found
    if not isinstance(obj, generic.DictionaryObject):
        return found
    kind = obj.get("/S")
    if kind in RUN or "/JS" in obj:
        found.add((str(kind or "/JavaScript"), _said(obj)))
    for key in ACTION_KEYS:
        if key == "/JS" or key not in obj:
            continue
        value = obj.raw_get(key)
        if key == "/AA":
            triggers = value.get_object() if isinstance(value, generic.IndirectObject) else value
            if isinstance(triggers, generic.DictionaryObject):
                if len(triggers) > MAX_ITEMS:
                    raise TooDeep()
                for trigger in list(triggers.keys()):
                    found |= _run(triggers.raw_get(trigger), depth + 1)
        else:
            found |= _run(value, depth + 1)
    return found


def _said(action) -> str:
    """What an action says (its script, address, file), to tell a changed one apart."""
    from pyhanko.pdf_utils import generic

    parts = []
    for key in ("/JS", "/URI", "/F", "/Fields", "/Flags"):
        value = action.get(key)
        if isinstance(value, generic.StreamObject):
            value = value.data[:4096]
        parts.append(repr(value)[:4096])
    return "|".join(parts)
