"""What pyHanko's difference analysis does not see: bytes outside every revision, and
form fields whose visible appearance changed after signing.

* The incremental saving attack (PDF-Insecurity ISA) appends an update with an empty
  cross-reference section and a trailer without /Prev. pyHanko's reader stops at the
  last revision it can parse and never looks at the tail, yet Acrobat and others rebuild
  the file from it and show the attacker's page. So any non-blank byte after the
  `%%EOF` of the last revision pyHanko parsed makes the file "changed after signing".
* A Shadow "replace" attack keeps or changes a field's /V and gives the widget a new
  appearance stream: pyHanko calls that form filling (allowed for an approval
  signature). Filling a field that showed nothing is what forms are for; replacing what
  a signed page already showed is not, so we tell the two apart by the appearance.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

_BLANK = b" \t\r\n\x00\x0c"
_EOF = re.compile(rb"startxref\s+(\d+)\s*%%EOF")


def unexplained_bytes(reader, data: bytes) -> int:
    """Number of bytes (blank space and comments not counted) that belong to no revision
    the reader parsed: after the last `%%EOF`, or between two revisions (where an
    attacker's objects end up once a later update, such as our own stamp, is appended
    to an ISA file). 0 for a well-formed file."""
    try:
        spans = _revision_spans(reader, data)
    except Exception:
        return 0  # nothing to anchor on: the reader's own errors speak for the file
    if not spans:
        return 0
    spans.sort()
    covered_to = 0
    unexplained = 0
    for start, end in spans:
        if start > covered_to:
            unexplained += _meaningful(data[covered_to:start])
        covered_to = max(covered_to, end)
    return unexplained + _meaningful(data[covered_to:])


def _revision_spans(reader, data: bytes) -> list[tuple[int, int]]:
    """[first byte, last byte + 1) of each revision: its objects, its cross-reference
    section and its trailer up to `%%EOF`. (Linearized files keep revisions out of order.)"""
    xrefs = reader.xrefs
    spans = []
    for rev in range(xrefs.total_revisions):
        meta = xrefs.get_xref_container_info(rev)
        section = xrefs.get_xref_data(rev)
        offsets = [offset for _gen, offset in section.standard_xrefs.values()]
        if section.hybrid is not None:
            offsets += [offset for _gen, offset in section.hybrid.xref_data.standard_xrefs.values()]
        startxref = xrefs.get_startxref_for_revision(rev)  # the "xref" keyword of a table
        starts = [meta.start_location, startxref] + offsets
        ends = [meta.end_location, _eof_after(data, meta.end_location, startxref)]
        for offset in offsets:
            at = data.find(b"endobj", offset)
            if at >= 0:
                ends.append(at + len(b"endobj"))
        spans.append((min(starts), max(ends)))
    first = min(spans)
    spans[spans.index(first)] = (0, first[1])  # the header belongs to the first revision
    return spans


def _eof_after(data: bytes, position: int, startxref: int) -> int:
    for match in _EOF.finditer(data, max(position, 0)):
        if int(match.group(1)) == startxref:
            return match.end()
    return position


def _meaningful(chunk: bytes) -> int:
    """Length of what is left of a byte range without blank space and comment lines."""
    lines = (line.strip(_BLANK) for line in re.split(rb"[\r\n]", chunk))
    return sum(len(line) for line in lines if line and not line.startswith(b"%"))


@dataclass(frozen=True)
class FieldChange:
    """One form field changed after the signed revision, as a reader sees it."""

    field: str
    page: int | None  # 1-based page of its (first) widget
    before: str  # the text its appearance showed when signed ("" = nothing)
    after: str
    replaced: bool  # it showed something when signed, and shows something else now
    # Its value unchanged, but viewers now draw it otherwise (redrawn_fields): "value"
    # (drawn from its value, no longer from its appearance), "appearance" (the reverse).
    redrawn: str = ""

    def describe(self) -> str:
        where = f" on page {self.page}" if self.page else ""
        if self.redrawn == "value":
            return (f"form field {self.field}{where} is drawn again from its value by viewers since the form was "
                    f"changed after signing (/NeedAppearances): it shows {_q(self.after)}, where "
                    + (f"the signed page showed {_q(self.before)}" if self.before.strip()
                       else "the signed page did not show it as text"))
        if self.redrawn == "appearance":
            return (f"form field {self.field}{where} is no longer drawn from its value by viewers since the form "
                    f"was changed after signing (/NeedAppearances): it shows {_q(self.after) if self.after.strip() else 'nothing'}, "
                    f"where the signed "
                    + (f"page showed {_q(self.before)}" if self.before.strip() else "page showed nothing"))
        if not self.replaced:
            return f"form field {self.field}{where} filled in after signing" + (f" ({_q(self.after)})" if self.after else "")
        if self.before and self.after and self.before != self.after:
            return f"form field {self.field}{where} showed {_q(self.before)} when signed and now shows {_q(self.after)}"
        return f"form field {self.field}{where} looks different from what was signed"


def _q(text: str) -> str:
    text = " ".join(text.split())
    return '"' + (text if len(text) <= 60 else text[:57] + "...") + '"'


def field_changes(reader, signed_revision: int, names) -> tuple[FieldChange, ...]:
    """How each named field changed between the signed revision and the file's end."""
    try:
        before = _fields(reader.get_historical_root(signed_revision), reader.get_historical_resolver(signed_revision))
        after = _fields(reader.root, None)
    except Exception:
        return tuple(FieldChange(n, None, "", "", True) for n in names)
    out = []
    for name in names:
        old, new = before.get(name), after.get(name)
        old_shown = _shown(old)
        new_shown = _shown(new)
        old_value = _value(old)
        new_value = _value(new)
        had_something = bool(old_shown[1].strip() or old_value)
        changed_look = old_shown[0] != new_shown[0] or old_value != new_value
        out.append(FieldChange(
            field=name,
            page=_page_of(reader, new or old),
            before=old_shown[1] or old_value,
            after=new_shown[1] or new_value,
            replaced=had_something and changed_look,
        ))
    return tuple(out)


def redrawn_fields(reader, signed_revision: int, skip=()) -> tuple[FieldChange, ...]:
    """Fields whose value and appearance were not changed after the signed revision but
    which viewers now draw otherwise: a later revision turned the form's
    /NeedAppearances on (they are drawn from their values, no longer from the
    appearances that were signed) or off (the reverse). pyHanko allows either after any
    signature (ACROFORM_EXEMPT_STRICT_COMPARISON) and compares no field then. A value
    prepared before signing behind a blank or other appearance (a Shadow "hide") is what
    PDFium, poppler and Acrobat then show: "APPROVED 9,000,000 THB" below a signed
    letter's text was TOTAL_PASSED, signatures added, no review; so, the other way, was
    an appearance a value drawn over it hid when signed (a signing tool other than
    pyHanko, which removes /NeedAppearances, may keep it). Fields named in `skip`
    (already reported as changed) are left out."""
    try:
        new_form = _deref(reader.root.get("/AcroForm"))
        now_on = new_form is not None and _true(new_form.get("/NeedAppearances"))
        old_root = reader.get_historical_root(signed_revision)
        old_form = _deref(old_root.get("/AcroForm"))
        if now_on == (old_form is not None and _true(old_form.get("/NeedAppearances"))):
            return ()
        before = _fields(old_root, None)
        after = _fields(reader.root, None)
    except Exception:  # noqa: BLE001 - a form we cannot read: pyHanko's own analysis speaks for it
        return ()
    out = []
    for name, field in after.items():
        old = before.get(name)
        if name in skip or old is None or _field_type(field) not in ("/Tx", "/Ch"):
            continue
        value = _value(field)
        if value != _value(old):
            continue
        shown = _shown(old)[1]
        if shown.strip() == value.strip():
            continue  # drawn either way, it shows the same
        signed, now = (shown, value) if now_on else (value, shown)
        out.append(FieldChange(field=name, page=_page_of(reader, field), before=signed, after=now,
                               replaced=bool(signed.strip()), redrawn="value" if now_on else "appearance"))
    return tuple(out)


def _true(value) -> bool:
    return bool(_deref(value)) if value is not None else False


def _field_type(field, depth: int = 0):
    kind = field.get("/FT")
    if kind is not None or depth > 32 or "/Parent" not in field:
        return kind
    return _field_type(field["/Parent"].get_object(), depth + 1)


def _fields(root, _resolver) -> dict:
    """Fully qualified field name -> terminal field dictionary."""
    out: dict = {}
    try:
        fields = root["/AcroForm"]["/Fields"]
    except (KeyError, TypeError):
        return out

    def walk(refs, prefix: str, depth: int) -> None:
        if depth > 32:
            return
        for ref in refs:
            field = ref.get_object()
            partial = field.get("/T")
            name = f"{prefix}.{partial}" if prefix and partial is not None else (str(partial) if partial is not None else prefix)
            kids = _deref(field.get("/Kids"))
            if kids is not None and any("/T" in k.get_object() for k in kids):
                walk(kids, name, depth + 1)
            else:
                out[name] = field

    walk(fields, "", 0)
    return out


def _deref(value):
    return value.get_object() if hasattr(value, "get_object") else value


def _widgets(field) -> list:
    if field is None:
        return []
    kids = _deref(field.get("/Kids"))
    if kids is None:
        return [field]
    return [k.get_object() for k in kids]


def _shown(field) -> tuple[bytes, str]:
    """(appearance bytes, text drawn) of the field's visible widgets."""
    raw = b""
    for widget in _widgets(field):
        try:
            flags = int(widget.get("/F", 0))
            if flags & (2 | 32):  # Hidden, NoView: nothing on the page
                continue
            normal = widget["/AP"]["/N"]
            stream = normal.get_object()
            if "/Subtype" not in stream and widget.get("/AS") is not None:  # on/off states
                stream = stream[widget["/AS"]].get_object()
            raw += stream.data
        except Exception:
            continue
    return raw, _text(raw)


_STRING = re.compile(rb"\((?:\\.|[^\\)])*\)")


def _text(content: bytes) -> str:
    """The literal strings a content stream shows (enough to name what changed)."""
    parts = []
    for op in re.finditer(rb"(\[(?:[^\]]*)\]\s*TJ|\((?:\\.|[^\\)])*\)\s*(?:Tj|'|\"))", content):
        for s in _STRING.findall(op.group(0)):
            parts.append(_unescape(s[1:-1]))
    return b" ".join(parts).decode("latin-1")


def _unescape(literal: bytes) -> bytes:
    """A PDF literal string's escapes (7.3.4.2): \\ddd octal, \\( \\) \\\\ and the rest."""
    simple = {b"n": b"\n", b"r": b"\r", b"t": b"\t", b"b": b"\b", b"f": b"\f"}

    def one(match: re.Match) -> bytes:
        body = match.group(1)
        if body[:1].isdigit():
            return bytes([int(body, 8) & 0xFF])
        return simple.get(body, body)

    return re.sub(rb"\\([0-7]{1,3}|.)", one, literal, flags=re.S)


def _value(field) -> str:
    if field is None:
        return ""
    value = field.get("/V")
    if value is None:
        return ""
    try:
        value = value.get_object()
    except AttributeError:
        pass
    text = str(value)
    return "" if text in ("None", "/Off", "") else text


def _page_of(reader, field) -> int | None:
    if field is None:
        return None
    try:
        target = getattr(_widgets(field)[0], "container_ref", None)
        if target is None:
            return None
        for index in range(min(int(reader.root["/Pages"]["/Count"]), 100)):
            page_ref, _ = reader.find_page_for_modification(index)
            annots = _deref(page_ref.get_object().get("/Annots")) or []
            for i in range(len(annots)):
                if getattr(annots.raw_get(i), "reference", None) == target:
                    return index + 1
    except Exception:
        return None
    return None


_OBJ_HEAD = re.compile(rb"(?<![0-9])([0-9]{1,10})[ \t\r\n\f\x00]+([0-9]{1,5})[ \t\r\n\f\x00]+\Z")


def unlisted_objects(reader, data: bytes, *, start: int = 0, limit: int = 64,
                     max_keywords: int = 200_000) -> list[tuple[int, int, int]]:
    """Object definitions (`N G obj`) from byte `start` on at offsets that no revision's
    cross-reference section lists, outside every listed object: [(offset, N, G)], at
    most `limit`, looking at no more than `max_keywords` `obj` keywords (a hostile file
    of nothing else must not hold the worker).

    A reader that trusts the cross-reference sections (pyHanko) never sees them; one
    that rebuilds the table by scanning the file (PDFium for Chrome and Edge, when it
    finds a table it does not accept) takes the last definition of each object: a page
    the signer never signed may be what is shown (red team F1: a new copy of page 1's
    content stream inside an /Info-only update). [] for a well-formed file."""
    try:
        listed, spans = _listed_objects(reader, data)
    except Exception:
        return []
    out = []
    at = data.find(b"obj", max(start, 0))
    seen = 0
    while at >= 0 and len(out) < limit and seen < max_keywords:
        seen += 1
        nxt = data.find(b"obj", at + 3)
        if data[at - 3:at] != b"end" and (data[at + 3:at + 4] or b" ") in b" \t\r\n\f\x00<[/%":
            head = _OBJ_HEAD.search(data, max(0, at - 24), at)
            if head is not None:
                start = head.start()
                if not any(abs(start - offset) <= 8 for offset in listed.get(start >> 12, ())) \
                        and not _inside(spans, start):
                    out.append((start, int(head.group(1)), int(head.group(2))))
        at = nxt
    return out


_XREF_AFTER = (b" ", b"\t", b"\r", b"\n", b"\f", b"\x00")
_XREF_TOKEN = re.compile(rb"[0-9]+|[nf](?![A-Za-z])|trailer")


def listed_twice(data: bytes, *, start: int = 0, max_entries: int = 1_000_000) -> list[int]:
    """Object numbers a cross-reference table from byte `start` on lists more than once
    (in two subsections that overlap: `4 1 ... 4 1 ...`), at most the first 64.

    Readers disagree on which entry counts: pyHanko and PDFium take the last, poppler
    (Evince, Okular, pdftotext) and pypdf the first. An update saved after signing that
    lists page 1's content twice, a forged copy first and the signed one last, passed
    pyHanko's difference analysis and PDFium's rendering as signed while poppler showed
    the forgery, and the gateway's own reading registered its text (session 43's red
    team). A well-made table lists each object once. At most `max_entries` entries are
    looked at in all (a hostile file of nothing else must not hold the worker)."""
    out: list[int] = []
    looked = 0
    at = data.find(b"xref", max(start, 0))
    while at >= 0:
        # bytes.find, then a look at the bytes around it: the pattern with its look-behind
        # read a 2 MB file in 37 ms, every stamped PDF goes through this.
        table, at = at, data.find(b"xref", at + 4)
        if (table and data[table - 1:table].isalpha()) or data[table + 4:table + 5] not in _XREF_AFTER:
            continue  # `startxref`, or a word that holds xref
        listed: set[int] = set()
        tokens = _XREF_TOKEN.finditer(data, table + 5)
        while looked < max_entries and len(out) < 64:
            header = next(tokens, None)
            count = next(tokens, None) if header is not None and header[0].isdigit() else None
            if count is None or not count[0].isdigit():
                break  # `trailer`, or no table at all: done with this section
            first, n = int(header[0]), int(count[0])
            for number in range(first, first + n):
                entry = [next(tokens, None) for _ in range(3)]
                if any(t is None for t in entry) or entry[2][0] not in (b"n", b"f"):
                    break  # a table cut short: its reader's own errors speak for it
                looked += 1
                if number in listed and number not in out:
                    out.append(number)
                listed.add(number)
            else:
                continue
            break
    return out


def _listed_objects(reader, data: bytes):
    """Listed offsets (bucketed by offset >> 12, each also in the buckets 8 bytes either side, so
    that a lookup with that tolerance finds it), and the sorted spans of the listed objects."""
    xrefs = reader.xrefs
    offsets = set()
    for rev in range(xrefs.total_revisions):
        section = xrefs.get_xref_data(rev)
        offsets.update(offset for _gen, offset in section.standard_xrefs.values())
        if section.hybrid is not None:
            offsets.update(offset for _gen, offset in section.hybrid.xref_data.standard_xrefs.values())
        offsets.add(xrefs.get_startxref_for_revision(rev))
        offsets.add(xrefs.get_xref_container_info(rev).start_location)
    buckets: dict[int, list[int]] = {}
    for offset in offsets:
        for key in {(offset - 8) >> 12, offset >> 12, (offset + 8) >> 12}:
            buckets.setdefault(key, []).append(offset)
    spans = []
    for offset in sorted(offsets):
        end = data.find(b"endobj", offset)
        if end >= 0:
            spans.append((offset, end))
    return buckets, _merge(spans)


def _merge(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for start, end in spans:
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def _inside(spans: list[tuple[int, int]], position: int) -> bool:
    """Strictly inside a listed object: after its own `N G obj`, before its `endobj`."""
    import bisect

    i = bisect.bisect_right(spans, (position, 1 << 62)) - 1
    return i >= 0 and spans[i][0] < position < spans[i][1]


# ------------------------------------------------------------ signatures the form dropped

MAX_CARRIED_NODES = 20_000  # dictionaries looked at in all (fields, kids, pages, annotations)
MAX_CARRIED_DEPTH = 32  # /Kids within /Kids, /Parent above /Parent


@dataclass(frozen=True)
class CarriedSignature:
    """A signature dictionary the file still carries that its form no longer lists."""

    field: str  # the field's /T ("" when it has none)
    page: int | None  # 1-based page whose /Annots still hold its widget, if one does
    field_dict: object  # the field dictionary (pyHanko's), its /V the signature
    keys: frozenset  # ("ref", number, generation) of its /V, ("range", ...) of its /ByteRange


def _signature_keys(value) -> frozenset | None:
    """What identifies a field's /V as a signature dictionary (its reference, its
    /ByteRange), or None when it is not one (no /ByteRange and /Contents)."""
    keys = set()
    ref = getattr(value, "reference", None) if not hasattr(value, "idnum") else value
    if ref is not None and hasattr(ref, "idnum"):
        keys.add(("ref", int(ref.idnum), int(ref.generation)))
    try:
        sig = _deref(value)
        if not hasattr(sig, "get") or sig.get("/ByteRange") is None or sig.get("/Contents") is None:
            return None
        keys.add(("range", *(int(v) for v in _deref(sig["/ByteRange"]))))
    except (TypeError, ValueError, KeyError):
        pass  # a /ByteRange of other than numbers: known by its reference only
    except Exception:  # noqa: BLE001 - a dangling or crafted reference: not a signature we can name
        return None
    return frozenset(keys) or None


class _Budget:
    def __init__(self, nodes: int):
        self.left = nodes

    def take(self) -> bool:
        self.left -= 1
        return self.left >= 0


def _form_signatures(root, budget: _Budget) -> list[tuple[str, object, frozenset]]:
    """(name, field, keys) of every field of a catalog's /AcroForm /Fields whose /V is
    a signature dictionary."""
    out: list = []
    try:
        fields = _deref(_deref(root.get("/AcroForm")).get("/Fields"))
    except Exception:  # noqa: BLE001 - no form, or a form that is not a dictionary
        return out
    stack = [(fields, 0)]
    seen: set = set()
    while stack and budget.left > 0:
        refs, depth = stack.pop()
        if depth > MAX_CARRIED_DEPTH or not hasattr(refs, "raw_get"):
            continue
        for i in range(len(refs)):
            if not budget.take():
                return out
            try:
                raw = refs.raw_get(i)
                ref = getattr(raw, "reference", None) if not hasattr(raw, "idnum") else raw
                key = (ref.idnum, ref.generation) if ref is not None else None
                if key is not None and key in seen:
                    continue  # a field listed twice, or a loop of /Kids
                seen.add(key)
                field = _deref(raw)
                if not hasattr(field, "get"):
                    continue
                value = field.raw_get("/V") if "/V" in field else None
                keys = _signature_keys(value) if value is not None else None
                if keys:
                    out.append((str(field.get("/T", "")), field, keys))
                kids = _deref(field.get("/Kids"))
                if kids is not None:
                    stack.append((kids, depth + 1))
            except Exception:  # noqa: BLE001 - one broken field does not hide the others
                continue
    return out


def _widget_field(annot, budget: _Budget):
    """(field, keys) of the signature field a widget annotation belongs to (itself, or a
    /Parent above it holding the /V), or None."""
    node, depth = annot, 0
    while node is not None and depth <= MAX_CARRIED_DEPTH and budget.take():
        if "/V" in node:
            keys = _signature_keys(node.raw_get("/V"))
            return (node, keys) if keys else None
        parent = node.get("/Parent")
        node = _deref(parent) if parent is not None else None
        node = node if hasattr(node, "get") else None
        depth += 1
    return None


def _page_signatures(root, budget: _Budget, max_pages: int) -> list[tuple[str, int, object, frozenset]]:
    """(name, page, field, keys) of every widget on the pages' /Annots whose field holds
    a signature dictionary. Pages in order, found by a bounded walk of the page tree."""
    out: list = []
    try:
        pages = _deref(root.get("/Pages"))
    except Exception:  # noqa: BLE001
        return out
    stack, seen, number = [(pages, 0)], set(), 0
    while stack and number < max_pages and budget.take():
        node, depth = stack.pop()
        node = _deref(node)
        if not hasattr(node, "get") or depth > MAX_CARRIED_DEPTH or id(node) in seen:
            continue
        seen.add(id(node))
        kids = _deref(node.get("/Kids"))
        if kids is not None and hasattr(kids, "raw_get"):
            stack.extend((kids.raw_get(i), depth + 1) for i in reversed(range(len(kids))))
            continue
        number += 1
        try:
            annots = _deref(node.get("/Annots"))
            count = len(annots) if hasattr(annots, "raw_get") else 0
        except Exception:  # noqa: BLE001
            continue
        for i in range(count):
            if not budget.take():
                return out
            try:
                annot = _deref(annots.raw_get(i))
                if not hasattr(annot, "get") or annot.get("/Subtype") != "/Widget":
                    continue
                found = _widget_field(annot, budget)
                if found is not None:
                    out.append((str(found[0].get("/T", "")), number, found[0], found[1]))
            except Exception:  # noqa: BLE001
                continue
    return out


def signatures_dropped(reader, checked_ranges=(), *, max_pages: int = 500,
                       max_nodes: int = MAX_CARRIED_NODES) -> list[CarriedSignature]:
    """Signature dictionaries the file still carries that its form no longer lists: a
    signature field's widget on a page's /Annots, or a field of an earlier revision's
    /AcroForm /Fields, whose /V holds /ByteRange and /Contents, and that neither the
    final form lists nor pyHanko checked (`checked_ranges`: the /ByteRange of each).

    Every reader that checks signatures finds them through the form's /Fields
    (pyHanko's `embedded_signatures`, Acrobat). An update that changes a signed letter
    and empties /Fields takes the signature out of every check while the page still
    shows its box and poppler's `pdfsig` still finds it: the gateway registered the
    altered letter as one never signed (session 43's red team). At most `max_nodes`
    dictionaries are looked at in all, over every revision (a hostile form of nothing
    else must not hold the worker); [] for a letter never signed."""
    budget = _Budget(max_nodes)
    listed: set = {("range", *r) for r in checked_ranges}
    for _name, _field, keys in _form_signatures(reader.root, budget):
        listed |= keys
    found: dict[frozenset, CarriedSignature] = {}

    def keep(name: str, page: int | None, field, keys: frozenset) -> None:
        if keys & listed:
            return
        for known in found:
            if known & keys:
                if page is not None and found[known].page is None:
                    found[known] = CarriedSignature(found[known].field or name, page, field, known | keys)
                return
        found[keys] = CarriedSignature(name, page, field, keys)

    for name, page, field, keys in _page_signatures(reader.root, budget, max_pages):
        keep(name, page, field, keys)
    # Newest first: the revision before the update that dropped the signature lists it.
    for revision in range(reader.xrefs.total_revisions - 2, -1, -1):
        if not budget.take():
            break
        try:
            root = reader.get_historical_root(revision)
        except Exception:  # noqa: BLE001 - an earlier revision pyHanko cannot read says nothing here
            continue
        for name, field, keys in _form_signatures(root, budget):
            keep(name, None, field, keys)
    return list(found.values())
