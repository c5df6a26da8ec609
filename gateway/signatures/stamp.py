"""The receive stamp (ตรารับ) as the appearance of a gateway seal signature.

Drawing on page 1 would change the signed page content and invalidate the sender's
signature (pyHanko issue 259). A new signature field's widget, added in an incremental
update, leaves every signed revision intact: the sender's signature still validates and
reports only "signatures added". The widget goes where a clerk's rubber stamp goes, top
right of page 1 on blank paper (`page_space.find_place`: the page's text, images and
annotations are measured, the stamp shrinks to 70 % if it must), upright however the
page is rotated, with an opaque white ground (there is nothing beneath it to hide).

The stamp goes on a one-page receipt PDF that names the original by its SHA-256, and
the original is left untouched, when
* the sender certified the file with "no changes allowed" (DocMDP P=1);
* no free place is found in the top half of page 1;
* the stamped file would change any earlier signature's verdict (checked, not assumed:
  pyHanko's default difference policy and ours are run before and after; a DocMDP P=2
  certification, for one, forbids the new signature field);
* the letter is signed and its form's /Fields is also a page's /Annots (the widget
  would show on that page too; `_own_annotations`);
* the file cannot be read or stamped at all.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import io
import textwrap
from collections import OrderedDict
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import structlog

from gateway.signatures.asn1_names import ensure_asn1_names
from gateway.signatures.pdf_hex import read_hex_strings_at_once
from gateway.signatures.revisions import listed_twice, unexplained_bytes
from gateway.signatures.thai_dates import MONTHS_ABBR, in_bangkok, thai_date, thai_digits, thai_time

log = structlog.get_logger(__name__)

DEFAULT_FONT = Path("/usr/share/fonts/truetype/tlwg/Garuda.ttf")
FIELD_NAME = "SarabanReceiveStamp"
STAMP_SIZE = (180, 84)  # points: wide enough for a long unit name at 9 pt
MARGIN = 18
MIN_SCALE = 0.7  # 9 pt text shrinks to 6.3 pt at most: still legible on paper


class NotStampable(Exception):
    """The letter must get a receipt instead; the message is shown to people as is."""


@dataclass(frozen=True)
class StampInfo:
    unit_name: str  # e.g. สำนักงานเขตพระนคร
    receive_number: str  # เลขรับ (receive number), as the register issued it: "123" or "123/2568"
    received_at: dt.datetime  # aware; shown in Bangkok time
    thai_digits: bool = True
    font_path: Path = DEFAULT_FONT  # TLWG Garuda, or a configured TH Sarabun

    def lines(self) -> list[str]:
        local = in_bangkok(self.received_at)
        number = thai_digits(self.receive_number) if self.thai_digits else self.receive_number
        return [
            self.unit_name,
            f"เลขรับ {number}",
            f"วันที่ {thai_date(local.date(), thai=self.thai_digits)}",
            f"เวลา {thai_time(local, thai=self.thai_digits)}",
        ]


@dataclass(frozen=True)
class SealKey:
    """The gateway's seal: key, certificate and the chain up to (not incl.) the root.

    Or, with `store` and `fingerprint` and no PEMs, the key store's seal (`slot` "seal")
    or gateway key of that fingerprint, read and checked (key and certificate match, the
    certificate unexpired) by `resolved` where it is used: the delivery runner hands its
    stamping child the seal this way and loads no `cryptography` itself."""

    key_pem: bytes
    cert_pem: bytes
    chain_pem: tuple[bytes, ...] = ()
    passphrase: bytes | None = None
    store: str | None = None  # the key store directory (`<data_dir>/keys`)
    fingerprint: str | None = None
    slot: str = "gateway"  # "seal": the store's own seal key (keys/seal/)

    @classmethod
    def in_store(cls, keys_dir, fingerprint: str, slot: str = "gateway") -> SealKey:
        return cls(key_pem=b"", cert_pem=b"", store=str(keys_dir), fingerprint=fingerprint, slot=slot)

    def resolved(self) -> SealKey:
        """The seal with its key and certificate; raises SecrecyError for a key store
        key that is missing, unreadable, not its name or expired."""
        if self.store is None:
            return self
        from cryptography.hazmat.primitives import serialization

        from gateway.secrecy.keys import KeyStore

        store = KeyStore(self.store)
        if self.slot == "seal":
            key, cert = store.seal_identity(self.fingerprint)
        else:
            key, cert = store.gateway_identity(fingerprint=self.fingerprint)
        return SealKey(key_pem=key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                 serialization.NoEncryption()),
                       cert_pem=cert.public_bytes(serialization.Encoding.PEM))

    @classmethod
    def load(cls, key_path, cert_path, chain_paths=(), passphrase: bytes | None = None) -> SealKey:
        return cls(
            key_pem=Path(key_path).read_bytes(),
            cert_pem=Path(cert_path).read_bytes(),
            chain_pem=tuple(Path(p).read_bytes() for p in chain_paths),
            passphrase=passphrase,
        )

    def signer(self):
        """A pyHanko signer, built once per process: loading an RSA key validates it,
        which for a 3072-bit key costs more than the whole rest of a stamp."""
        return _signer_for(self)

    def _build_signer(self):
        from asn1crypto import pem as asn1_pem
        from asn1crypto import x509 as asn1_x509
        from pyhanko.sign.general import load_private_key_from_pemder_data
        from pyhanko_certvalidator.registry import SimpleCertificateStore

        def certs(data: bytes):
            if asn1_pem.detect(data):
                return [asn1_x509.Certificate.load(der) for _, _, der in asn1_pem.unarmor(data, multiple=True)]
            return [asn1_x509.Certificate.load(data)]

        key = load_private_key_from_pemder_data(self.key_pem, passphrase=self.passphrase)
        chain = [c for data in self.chain_pem for c in certs(data)]
        return _KeptKeySigner(
            signing_cert=certs(self.cert_pem)[0],
            signing_key=key,
            cert_registry=SimpleCertificateStore.from_certs(chain),
        )


@lru_cache(maxsize=4)
def _signer_for(seal: SealKey):
    return seal._build_signer()


# Signed attributes that depend on the seal and the algorithms alone, never on the letter.
_CONSTANT_ATTRIBUTES = frozenset({"content_type", "signing_certificate_v2", "cms_algorithm_protection"})


@lru_cache(maxsize=1)
def _kept_key_signer_class():
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ec import ECDSA
    from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
    from pyhanko.sign import signers
    from pyhanko.sign.general import get_pyca_cryptography_hash

    class KeptKeySigner(signers.SimpleSigner):
        """SimpleSigner re-loads (and re-validates) its key for every signature; for
        RSA PKCS#1 v1.5 (the key store's seal) and ECDSA (an operator's EC seal), keep
        the loaded key instead.

        And its signed attributes: asn1crypto builds and encodes the same content-type
        and signing-certificate-v2 attributes afresh for every seal, about a quarter of
        a stamp's cost. Only the message digest differs from one seal to the next, so
        the first seal's attributes, as pyHanko encoded them, are kept as bytes and the
        next seals get them with their own digest in its place."""

        _loaded = None
        _attrs_templates: dict | None = None  # (what shapes the attributes) -> (digest, DER)

        async def signed_attrs(self, data_digest, digest_algorithm, attr_settings=None, content_type="data",
                               use_pades=False, timestamper=None, dry_run=False, is_pdf_sig=True):
            from asn1crypto import cms

            settings = attr_settings
            key = (digest_algorithm, content_type, use_pades, dry_run, is_pdf_sig, len(data_digest),
                   None if settings is None else (repr(settings.cades_signed_attrs),
                                                  repr(getattr(settings, "adobe_revinfo_attr", None))))
            if self._attrs_templates is None:
                self._attrs_templates = {}
            templates = self._attrs_templates
            template = templates.get(key) if timestamper is None else None
            if template is not None:
                old_digest, der = template
                return cms.CMSAttributes.load(der.replace(old_digest, data_digest))
            attrs = await super().signed_attrs(
                data_digest, digest_algorithm, attr_settings=attr_settings, content_type=content_type,
                use_pades=use_pades, timestamper=timestamper, dry_run=dry_run, is_pdf_sig=is_pdf_sig)
            der = attrs.dump()
            # Kept only when every other attribute is the same for every seal (no signing
            # time, no timestamp) and the digest's bytes occur once, where it stands.
            if (timestamper is None and der.count(data_digest) == 1
                    and {a["type"].native for a in attrs} <= _CONSTANT_ATTRIBUTES | {"message_digest"}):
                templates[key] = (bytes(data_digest), der)
            return attrs

        _cms_templates: dict | None = None  # (what shapes the CMS) -> (where the attributes and signature go, DER)

        def _package_signature(self, *, digest_algorithm, cms_version, signed_attrs, signature,
                               unsigned_attrs, encap_content_info):
            """The seal's CMS SignedData, likewise kept: asn1crypto assembled it afresh for
            every seal (signer info, certificates, a tenth of a stamp), and only the signed
            attributes' digest and the signature differ from one seal to the next. Kept
            when there is nothing else per seal (no unsigned attributes, detached content)
            and both occur once in it; a later seal's signed attributes and signature must
            have the first one's lengths, or the CMS is built afresh."""
            from asn1crypto import cms

            attrs = signed_attrs.dump()
            key = (digest_algorithm, cms_version, len(attrs), len(signature))
            # A detached signature's content info (what a PDF signature has) is all the same.
            detached = encap_content_info is None or encap_content_info == {"content_type": "data"}
            if self._cms_templates is None:
                self._cms_templates = {}
            template = self._cms_templates.get(key)
            if template is not None and unsigned_attrs is None and detached:
                at, sig_at, der = template
                # In the SignerInfo the attributes are tagged [0] IMPLICIT, not SET: the same
                # bytes after the tag. Same lengths (the key), so every DER length stands.
                der = (der[:at] + attrs[1:] + der[at + len(attrs) - 1:sig_at]
                       + signature + der[sig_at + len(signature):])
                return cms.ContentInfo.load(der)
            made = super()._package_signature(
                digest_algorithm=digest_algorithm, cms_version=cms_version, signed_attrs=signed_attrs,
                signature=signature, unsigned_attrs=unsigned_attrs, encap_content_info=encap_content_info)
            der = made.dump()
            if (unsigned_attrs is None and detached
                    and der.count(attrs[1:]) == 1 and der.count(signature) == 1):
                at, sig_at = der.index(attrs[1:]), der.index(signature)
                if at + len(attrs) - 1 <= sig_at:  # the attributes come first in a SignerInfo
                    self._cms_templates[key] = (at, sig_at, der)
            return made

        def sign_raw(self, data: bytes, digest_algorithm: str) -> bytes:
            mechanism = self.get_signature_mechanism_for_digest(digest_algorithm)
            try:
                algo = mechanism.signature_algo
            except ValueError:
                algo = mechanism["algorithm"].native
            if algo not in ("rsassa_pkcs1v15", "ecdsa"):
                return super().sign_raw(data, digest_algorithm)
            if self._loaded is None:
                self._loaded = serialization.load_der_private_key(self.signing_key.dump(), password=None)
            hash_algo = get_pyca_cryptography_hash(digest_algorithm)
            if algo == "ecdsa":  # the store's seal or an operator's EC one: ~0.1 ms against RSA-3072's 1.3-3.5
                return self._loaded.sign(data, ECDSA(hash_algo))
            return self._loaded.sign(data, PKCS1v15(), hash_algo)

    return KeptKeySigner


def _KeptKeySigner(**kwargs):
    return _kept_key_signer_class()(**kwargs)


@dataclass(frozen=True)
class StampResult:
    mode: str  # "stamped": seal signature on the letter | "receipt": separate receipt PDF
    pdf: bytes  # the stamped letter, or the receipt
    original_sha256: str
    reason: str = ""  # why a receipt instead of a stamped letter

    @property
    def stamped(self) -> bytes | None:
        return self.pdf if self.mode == "stamped" else None

    @property
    def receipt(self) -> bytes | None:
        return self.pdf if self.mode == "receipt" else None


def stamp_pdf(data: bytes, stamp: StampInfo, seal: SealKey, *, loop=None) -> StampResult:
    """Stamp a received letter (never modifies `data`). Runs its own event loop: call it
    from a worker process or thread, or await `async_stamp_pdf` instead. `loop`: an idle
    event loop the caller keeps for its stamps (the stamping child), sparing the set-up
    and tear-down of a new one per letter."""
    if loop is not None:
        return loop.run_until_complete(async_stamp_pdf(data, stamp, seal))
    return _run(async_stamp_pdf(data, stamp, seal))


def _run(coro):
    """asyncio.run(coro), without handing the result to the event loop's task. Python
    3.11's runner, in a main thread (the stamping child's), formats a repr of its task
    when it puts back the SIGINT handler, and with it a repr of the task's result: the
    whole stamped letter escaped as text, 3 bytes a byte and ~10 ms a megabyte."""
    out = []

    async def main() -> None:
        out.append(await coro)

    asyncio.run(main())
    return out[0]


async def async_stamp_pdf(data: bytes, stamp: StampInfo, seal: SealKey) -> StampResult:
    ensure_asn1_names()
    read_hex_strings_at_once()
    original_sha256 = hashlib.sha256(data).hexdigest()
    reason, reader = _why_not_stampable(data)
    if reason is None:
        try:
            # Read before the stamp's writer adds its own field to the letter's, once for
            # both questions: is any filled, and which names are taken.
            fields = _signature_fields(reader)
            stamped = await _seal_with_stamp(data, stamp, seal, reader=reader, fields=fields)
            reason = _changed_verdicts(data, stamped) if _any_filled(fields) else None
            if reason is None:
                log.info("letter_stamped", sha256=original_sha256, unit=stamp.unit_name)
                return StampResult("stamped", stamped, original_sha256)
        except NotStampable as exc:
            reason = str(exc)
        except Exception as exc:  # an odd file must still get its receipt
            # People read the reason (receipt, X-Saraban-Stamp); the exception is for the log.
            log.info("stamp_failed_on_letter", sha256=original_sha256, error=repr(exc)[:300])
            reason = "the letter's first page could not be stamped (an unusual PDF structure)"
    log.info("receipt_instead_of_stamp", sha256=original_sha256, reason=reason)
    receipt = await _receipt(stamp, seal, original_sha256, reason)
    return StampResult("receipt", receipt, original_sha256, reason)


def _why_not_stampable(data: bytes):
    """(why the letter gets a receipt, None) or (None, the reader of the letter, which the
    stamp's incremental writer then builds on instead of parsing the file again)."""
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.fields import MDPPerm
    from pyhanko.sign.validation.pdf_embedded import read_certification_data

    try:
        reader = PdfFileReader(io.BytesIO(data), strict=False)
        if reader.encrypted:
            return "the letter is encrypted", None
        cert_data = read_certification_data(reader)
    except Exception as exc:
        log.info("stamp_unreadable_letter", error=repr(exc)[:300])
        return "the letter could not be read as a PDF", None
    if cert_data is not None and cert_data.permission == MDPPerm.NO_CHANGES:
        return "the sender certified the letter with no changes allowed (DocMDP P=1)", None
    if _draws_fields_from_values(reader):
        # pyHanko removes /NeedAppearances with every signature it writes, our seal's too,
        # and readers then show each field's stored appearance instead of its value: a
        # form filled by a tool that leaves the drawing to the reader (pypdf, pdftk) had
        # its values gone from the stamped copy, or other text shown in their place.
        return ("the letter's form asks readers to draw its fields from their values (NeedAppearances), "
                "which the stamp would turn off: its fields would show other text"), None
    if (stray := unexplained_bytes(reader, data)):
        # Appending our revision would tuck the stray bytes between two revisions; the
        # letter stays exactly as received, so its verdict stays what it is. Only a
        # signed letter can be the target of an incremental saving attack: an unsigned
        # one with junk after its end is just that.
        if _signed(reader):
            return "the letter holds bytes outside its revisions (a possible incremental saving attack)", None
        return (f"the letter holds {stray} bytes after its end (%EOF) or between its revisions that belong "
                "to no part of it; it is kept as received"), None
    if listed_twice(data, max_entries=200_000):
        # Readers take different copies of such an object (pyHanko and PDFium the last,
        # poppler the first): a free place found on one page may be text on the other.
        return ("the letter's cross-reference table lists an object twice: readers differ in which copy "
                "they show"), None
    return None, reader


def _draws_fields_from_values(reader) -> bool:
    try:
        form = reader.root.get("/AcroForm")
        form = form.get_object() if form is not None else None
        return bool(form is not None and form.get("/NeedAppearances"))
    except Exception:  # noqa: BLE001 - a form we cannot read: pyHanko's writer decides
        return False


def _signed(reader) -> bool:
    try:
        return bool(reader.embedded_signatures)
    except Exception:
        return True  # cannot tell: keep the warning that assumes the worst


def thai_font(path: Path, size: int):
    """A font whose lines HarfBuzz shapes as Thai. Left to guess, HarfBuzz takes a line's
    script from its first letter, so "SHA-256 ของต้นฉบับ" was shaped as Latin and the
    tone mark over ต fell out of place; Latin letters shape the same under either."""
    return _loaded_font_factory_class()(str(path), font_size=size, ot_script_tag="thai",
                                        ot_language_tag="THA ", bcp47_lang_code="th")


@lru_cache(maxsize=1)
def _loaded_font_factory_class():
    """pyHanko's GlyphAccumulatorFactory with the font read once per process.

    Each engine still gets its own fontTools font (subsetting overwrites it, so a second
    stamp must not see the first one's subset) and its own glyph accumulator; what is
    shared is read-only: the HarfBuzz font the text is shaped with, and the file's bytes
    without the layout tables (GSUB, GPOS, GDEF) that pyHanko's subsetter drops anyway,
    and FFTM, which it cannot subset. fontTools then never decodes the layout tables,
    which is most of the cost of a stamp's font, and embeds the same font program."""
    from dataclasses import dataclass as _dc

    from pyhanko.pdf_utils.font.opentype import GlyphAccumulatorFactory

    @_dc(frozen=True)
    class LoadedFontFactory(GlyphAccumulatorFactory):
        def create_font_engine(self, writer, obj_stream=None):
            loaded = _loaded_font(self.font_file)
            if obj_stream is None and writer.stream_xrefs and self.create_objstream_if_needed:
                obj_stream = writer.prepare_object_stream()
            cls = _subset_reusing_accumulator_class()
            options = dict(font_size=self.font_size, ot_script_tag=self.ot_script_tag,
                           ot_language_tag=self.ot_language_tag, writing_direction=self.writing_direction,
                           bcp47_lang_code=self.bcp47_lang_code, obj_stream=obj_stream)
            if loaded.shared is not None:
                return cls.over_shared_font(writer, loaded, **options)
            engine = cls(writer=writer, font_handle=io.BytesIO(loaded.to_subset), **options)
            engine.hb_font = loaded.hb_font  # shaped with the whole font, GSUB and GPOS included
            engine.loaded = loaded
            return engine

    return LoadedFontFactory


# The stamp's words and every character its date, time and number can take: a subset
# holding their glyphs (besides the unit's name) is the same for every letter of a unit,
# so it is made once and reused (_subset_program).
_STAMP_ALPHABET = ("เลขรับ วันที่ เวลา น. " + " ".join(MONTHS_ABBR)
                   + " 0123456789 ๐๑๒๓๔๕๖๗๘๙ /.:-")
_SUBSETS_KEPT = 64  # font programs of 20-40 KiB: about one per unit name and font


@lru_cache(maxsize=1)
def _subset_reusing_accumulator_class():
    """pyHanko's GlyphAccumulator, embedding a font subset made once per set of glyphs.

    Subsetting and compiling the font program (fontTools) is a third of a stamp's cost,
    and its input hardly varies: the stamp's fixed words, digits and month names, and the
    unit's name. The subset is made of the glyphs the stamp uses plus those of
    _STAMP_ALPHABET, so it depends on the unit's name alone, and the program compiled for
    that set is kept (by font and glyph set) and embedded again as the same bytes.
    The page's text, its /W widths and its ToUnicode map are the engine's own, as before."""
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.font.api import FontEngine
    from pyhanko.pdf_utils.font.opentype import CIDFontType2, GlyphAccumulator, _check_ot_tag

    class SubsetReusingAccumulator(GlyphAccumulator):
        loaded: _LoadedFont

        @classmethod
        def over_shared_font(cls, writer, loaded: _LoadedFont, *, font_size, ot_script_tag, ot_language_tag,
                             writing_direction, bcp47_lang_code, obj_stream):
            """GlyphAccumulator.__init__ for a TrueType font, over the process's read-only
            fontTools font instead of one parsed for every engine (its glyph table, glyph
            set and reverse cmap were a sixth of a stamp's cost). Sharing is safe because
            nothing writes to it: the font program embedded is _subset_program's, made from
            a fresh copy, so pyHanko's in-place subset never runs on it (prepare_write).
            test_stamp_font_engine compares the result with pyHanko's own engine."""
            shared = loaded.shared
            self = cls.__new__(cls)
            FontEngine.__init__(self, writer, shared.ps_name, embedded_subset=True,
                                obj_stream=obj_stream, font_size=font_size)
            self.hb_font = loaded.hb_font  # shaped with the whole font, GSUB and GPOS included
            self.tt = shared.tt
            self.loaded = loaded
            self._font_ref = writer.allocate_placeholder()
            self.cff_charset = None
            self.use_raw_gids = True
            self.cidfont_obj = CIDFontType2(shared.tt, shared.ps_name, self.subset_prefix)
            self.features = None
            self.units_per_em = shared.units_per_em
            self._glyphs = {}
            self._glyph_set = shared.glyph_set
            self._cid_to_unicode = {}
            self._GlyphAccumulator__reverse_cmap = shared.reverse_cmap
            self.ot_language_tag = _check_ot_tag(ot_language_tag)
            self.ot_script_tag = _check_ot_tag(ot_script_tag)
            if writing_direction not in (None, "ltr", "rtl", "ttb", "btt"):
                raise ValueError("Writing direction must be one of 'ltr', 'rtl', 'ttb' or 'btt'.")
            self.writing_direction = writing_direction
            self.bcp47_lang_code = bcp47_lang_code
            self._subset_created = self._write_prepared = False
            return self

        def shape(self, txt: str, with_actual_text: bool = True):
            """GlyphAccumulator.shape, its answer kept per font and text (`_kept_shapes`).
            A stamp shapes its unit's name, its words and the receipt's lines anew for
            every letter: HarfBuzz, the glyph line's operators and the ToUnicode entries
            were 10 % of a stamp. The answer depends on the text and the engine's settings
            alone; what shaping adds to the engine (its glyphs, its ToUnicode map) is done
            again from the steps recorded when the text was first shaped."""
            kept = getattr(self, "loaded", None)
            if kept is None:
                return super().shape(txt, with_actual_text)
            key = (txt, with_actual_text, self.font_size, self.ot_script_tag, self.ot_language_tag,
                   self.writing_direction, self.bcp47_lang_code, repr(self.features))
            hit = kept.shapes.get(key)
            if hit is None:
                hit = _kept_shapes(self, key, txt, with_actual_text, super().shape, kept.shapes)
            else:
                try:
                    kept.shapes.move_to_end(key)  # the unit's name and the day's date stay
                except KeyError:
                    pass  # let go by another thread's stamp meanwhile
            result, steps = hit
            _replay(self, steps)
            return result

        def prepare_write(self):
            if self._write_prepared:
                return
            if isinstance(self.cidfont_obj, CIDFontType2):  # TrueType (TLWG, TH Sarabun): glyph id = CID
                program, flated = _subset_program(self.loaded.to_subset,
                                                  frozenset(self._glyphs) | self.loaded.alphabet_gids)
                self._subset_created = True  # the program stands in for pyHanko's own subset
                cidfont = self.cidfont_obj

                def set_font_file(writer):
                    # What stream.compress() writes, with the compression kept too (~1 ms a stamp).
                    stream = generic.StreamObject({generic.pdf_name("/Filter"): generic.pdf_name("/FlateDecode")},
                                                  stream_data=program, encoded_data=flated)
                    ref = writer.add_object(stream)
                    cidfont._font_descriptor[generic.pdf_name("/FontFile2")] = ref
                    return ref

                cidfont.set_font_file = set_font_file
                key = (tuple(sorted(self._glyphs.values())), tuple(sorted(self._cid_to_unicode.items())))
                kept = self.loaded.font_dicts.get(key)
                if kept is not None:
                    try:
                        self.loaded.font_dicts.move_to_end(key)
                    except KeyError:
                        pass  # let go by another thread's stamp meanwhile
                    _write_kept_font_dicts(self, *kept)
                    return
                super().prepare_write()
                _keep_font_dicts(self, key)
                return
            super().prepare_write()

    return SubsetReusingAccumulator


# Glyph sets whose /W widths and ToUnicode map are kept (~1 KB each), the least recently
# used let go: a unit's stamp uses the same glyphs but for the digits of its number.
_FONT_DICTS_KEPT = 256


def _keep_font_dicts(engine, key: tuple) -> None:
    """After pyHanko's prepare_write has written an engine's fonts: keep its /W widths
    (as numbers) and its ToUnicode stream (decoded and encoded) for the next engine with
    the same glyphs and map, which `_write_kept_font_dicts` writes without building them
    again (the widths' PDF objects, the map's text and its compression were 6 % of a
    stamp)."""
    from pyhanko.pdf_utils.generic import ArrayObject

    widths = tuple(tuple(map(int, entry)) if isinstance(entry, ArrayObject) else int(entry)
                   for entry in engine.cidfont_obj["/W"])
    to_unicode = engine._font_ref.get_object()["/ToUnicode"]
    kept = engine.loaded.font_dicts
    while len(kept) >= _FONT_DICTS_KEPT:
        try:
            kept.popitem(last=False)
        except KeyError:
            break
    kept[key] = (widths, to_unicode.data, to_unicode.encoded_data)


def _write_kept_font_dicts(engine, widths: tuple, to_unicode: bytes, to_unicode_flated: bytes) -> None:
    """What GlyphAccumulator.prepare_write writes once the subset is made (the CIDFont
    and its program, the Type0 font, the ToUnicode map), with the kept widths and map:
    pyHanko's `_build_type0_font_from_cidfont` for a horizontal font, the /W array from
    numbers instead of from the glyphs, and the map's stream as `compress()` wrote it.
    test_stamp_font_engine compares what both write."""
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.generic import pdf_name

    writer, obj_stream, cidfont = engine.writer, engine.obj_stream, engine.cidfont_obj
    cidfont.embed(writer, obj_stream=obj_stream)
    cidfont_ref = writer.add_object(cidfont, obj_stream=obj_stream)
    type0 = generic.DictionaryObject({
        pdf_name("/Type"): pdf_name("/Font"),
        pdf_name("/Subtype"): pdf_name("/Type0"),
        pdf_name("/DescendantFonts"): generic.ArrayObject([cidfont_ref]),
        pdf_name("/Encoding"): pdf_name("/Identity-H"),
        pdf_name("/BaseFont"): pdf_name(f"/{cidfont.name}-Identity-H"),
    })
    cidfont[pdf_name("/W")] = generic.ArrayObject(
        generic.ArrayObject(map(generic.NumberObject, entry)) if isinstance(entry, tuple)
        else generic.NumberObject(entry) for entry in widths)
    type0[pdf_name("/ToUnicode")] = writer.add_object(generic.StreamObject(
        {pdf_name("/Filter"): pdf_name("/FlateDecode")}, stream_data=to_unicode, encoded_data=to_unicode_flated))
    writer.add_object(type0, obj_stream, idnum=engine._font_ref.idnum)
    engine._write_prepared = True


# Texts a font's shapes are kept for (~3 KB each), the least recently used let go: the
# units' names, the day's date and the minute's time are used again, a receive number not.
_SHAPES_KEPT = 256


class _StepsRecorded(dict):
    """The ToUnicode map of an engine shaping a text for the first time, from empty:
    each lookup (`in`) and each entry written, in order, with whether the entry was
    written only because its lookup found none (pyHanko's fallback for a cluster of
    several glyphs never overwrites) or regardless (a one-glyph cluster)."""

    def __init__(self, steps: list):
        super().__init__()
        self.steps = steps
        self._looked_up = None  # the cid of the last lookup that found nothing

    def __contains__(self, cid) -> bool:
        found = dict.__contains__(self, cid)
        self.steps.append(("lookup", cid))
        self._looked_up = None if found else cid
        return found

    def __setitem__(self, cid, text) -> None:
        self.steps.append(("if_absent" if cid == self._looked_up else "set", cid, text))
        dict.__setitem__(self, cid, text)


def _kept_shapes(engine, key: tuple, txt: str, with_actual_text: bool, shape, shapes: dict) -> tuple:
    """Shape `txt` as `engine` would from blank (`_shaped_with_steps`) and keep the
    answer and the steps in `shapes`."""
    kept = _shaped_with_steps(engine, lambda blank: shape.__func__(blank, txt, with_actual_text))
    while len(shapes) >= _SHAPES_KEPT:
        try:
            shapes.popitem(last=False)  # the least recently used: a past letter's number
        except KeyError:
            break
    shapes[key] = kept
    return kept


def _shaped_with_steps(engine, shape) -> tuple:
    """(shape(blank), steps): `shape` run on a copy of `engine` with no glyphs and an
    empty ToUnicode map, recording what it does to them (`_StepsRecorded`, and each
    glyph asked for)."""
    import copy

    steps: list = []
    blank = copy.copy(engine)
    blank._glyphs = {}
    blank._cid_to_unicode = recorder = _StepsRecorded(steps)
    ask = blank._get_cid_and_width

    def recorded(gid: int):
        # pyHanko asks for a cluster's glyph before its lookup or its entry: a lookup's
        # answer governs only the entries written before the next glyph is asked for.
        steps.append(("glyph", gid))
        recorder._looked_up = None
        return ask(gid)

    blank._get_cid_and_width = recorded
    return shape(blank), tuple(steps)


def _replay(engine, steps: tuple) -> None:
    """What shaping the text did to a blank engine, done to `engine` as pyHanko's shape
    would do it there: the same glyphs asked for in the same order, one-glyph entries
    written, fallback entries only where the engine's map has none."""
    unicode_map, absent = engine._cid_to_unicode, None
    for step in steps:
        if step[0] == "glyph":
            engine._get_cid_and_width(step[1])
            absent = None
        elif step[0] == "lookup":
            absent = None if step[1] in unicode_map else step[1]
        elif step[0] == "set" or (step[0] == "if_absent" and absent == step[1]):
            unicode_map[step[1]] = step[2]


@lru_cache(maxsize=_SUBSETS_KEPT)
def _subset_program(font: bytes, gids: frozenset[int]) -> tuple[bytes, bytes]:
    """The font program of `font` (a _LoadedFont's `to_subset`) holding only `gids`, at
    their own glyph ids (CID = glyph id, CIDToGIDMap /Identity), and its /FlateDecode
    encoding as pyHanko encodes it.

    Cut by HarfBuzz's subsetter (hb-subset, which cuts the web's fonts), not by fontTools'
    (what pyHanko's GlyphAccumulator._extract_subset uses): the same glyphs, outlines,
    widths, cmap and hinting (tests/signatures/test_stamp_subset.py), in ~0.2 ms instead
    of ~15 ms (Garuda), which a stamp paid whenever its unit's name was not among the
    last _SUBSETS_KEPT: the demo directory has 108 units. fontTools does it for a font
    HarfBuzz refuses."""
    from pyhanko.pdf_utils.filters import FlateDecode

    try:
        program = _subset_by_harfbuzz(font, gids)
    except RuntimeError:  # hb_subset_or_fail: a font it cannot cut
        program = _subset_by_fonttools(font, gids)
    return program, FlateDecode().encode(program)


def _subset_by_harfbuzz(font: bytes, gids: frozenset[int]) -> bytes:
    import uharfbuzz as hb

    request = hb.SubsetInput()
    request.glyph_set.update(sorted(gids))
    # Layout tables: pyHanko's subset drops them too; the text is shaped with the whole font.
    request.flags = hb.SubsetFlags.RETAIN_GIDS | hb.SubsetFlags.NO_LAYOUT_CLOSURE
    request.sets(hb.SubsetInputSets.DROP_TABLE_TAG).update(
        int.from_bytes(tag.encode("ascii"), "big") for tag in _DROPPED_BY_SUBSET)
    return hb.subset(hb.Face(font), request).blob.data


def _subset_by_fonttools(font: bytes, gids: frozenset[int]) -> bytes:
    """As pyHanko subsets (GlyphAccumulator._extract_subset), from a fresh copy (fontTools
    subsets in place)."""
    from fontTools import subset, ttLib

    options = subset.Options(layout_closure=False)
    options.drop_tables += ["GPOS", "GDEF", "GSUB"]
    options.retain_gids = True
    subsetter = subset.Subsetter(options=options)
    subsetter.populate(gids=sorted(gids))
    tt = ttLib.TTFont(io.BytesIO(font))
    subsetter.subset(tt)
    out = io.BytesIO()
    tt.save(out)
    return out.getvalue()


@dataclass(frozen=True)
class _SharedFont:
    """What every font engine reads of a TrueType font, read once, then only looked up:
    every table the engines touch is decompiled here, so engines in concurrent threads
    (the delivery runner's receipts) never make fontTools read lazily."""

    tt: object  # fontTools TTFont of _LoadedFont.to_subset
    ps_name: str
    units_per_em: int
    glyph_set: object  # tt.getGlyphSet(): advance widths by glyph name
    reverse_cmap: dict  # glyph name -> code points


@dataclass(frozen=True)
class _LoadedFont:
    hb_font: object  # uharfbuzz.Font of the whole file
    to_subset: bytes  # the file without the tables the subset leaves out
    alphabet_gids: frozenset  # the glyphs of _STAMP_ALPHABET, shaped as Thai
    shared: _SharedFont | None = None  # None: each engine parses its own (a CFF font, or one fontTools balks at)
    # (text, engine settings) -> (ShapeResult, steps): SubsetReusingAccumulator.shape
    shapes: OrderedDict = field(default_factory=OrderedDict, compare=False, repr=False)
    # (glyphs, ToUnicode map) -> (/W widths, map, map compressed): SubsetReusingAccumulator.prepare_write
    font_dicts: OrderedDict = field(default_factory=OrderedDict, compare=False, repr=False)


def _loaded_font(path: str) -> _LoadedFont:
    st = Path(path).stat()  # a replaced font file (a new TH Sarabun) is read afresh
    return _load_font(path, st.st_mtime_ns, st.st_size)


_DROPPED_BY_SUBSET = ("GSUB", "GPOS", "GDEF", "FFTM")


@lru_cache(maxsize=4)
def _load_font(path: str, _mtime_ns: int, _size: int) -> _LoadedFont:
    import uharfbuzz as hb
    from fontTools import ttLib

    data = Path(path).read_bytes()
    hb_font = hb.Font(hb.Face(data))
    try:
        tt = ttLib.TTFont(io.BytesIO(data), lazy=True)
        for tag in _DROPPED_BY_SUBSET:
            if tag in tt:
                del tt[tag]
        out = io.BytesIO()
        tt.save(out)
        to_subset = out.getvalue()
    except Exception:  # a font fontTools cannot rewrite: subset the file as it is
        to_subset = data
    alphabet = frozenset(info.codepoint for info in _shaped_as_thai(hb_font, _STAMP_ALPHABET).glyph_infos)
    return _LoadedFont(hb_font, to_subset, alphabet, _shared_font(to_subset))


def _shared_font(to_subset: bytes) -> _SharedFont | None:
    """The read-only font engines share, or None when they must each parse their own:
    a CFF font's engine subsets and renames its own copy (pyHanko's CIDFontType0)."""
    from fontTools import ttLib
    from pyhanko.pdf_utils.font.opentype import _read_ps_name

    try:
        tt = ttLib.TTFont(io.BytesIO(to_subset))
        if "CFF " in tt or "glyf" not in tt:
            return None
        for tag in ("name", "head", "hhea", "OS/2", "post", "maxp", "cmap", "hmtx", "loca", "glyf"):
            tt[tag]  # decompiled now, never lazily by a later reader
        tt.getGlyphOrder()
        return _SharedFont(tt=tt, ps_name=_read_ps_name(tt), units_per_em=tt["head"].unitsPerEm,
                           glyph_set=tt.getGlyphSet(preferCFF=True), reverse_cmap=tt["cmap"].buildReversed())
    except Exception:  # pyHanko's own engine will raise (or cope) with its own words
        return None


def _stamp_style(stamp: StampInfo, scale: float = 1.0, rotate: int = 0, user_unit: float = 1.0):
    """pyHanko's text stamp style of our stamp: `scale` of the full size, drawn upright
    on a page shown turned by `rotate` degrees, whose user space unit is `user_unit`
    points (the appearance is laid out in points, whatever the page's unit)."""
    from pyhanko.pdf_utils.content import RawContent
    from pyhanko.pdf_utils.layout import (AxisAlignment, BoxConstraints, InnerScaling, Margins,
                                          SimpleBoxLayoutRule)
    from pyhanko.pdf_utils.text import TextBoxStyle

    size = max(6, round(9 * scale))  # whole points: pyHanko lays text out in fractions
    text = "\n".join(_fitted_lines(stamp, size, STAMP_SIZE[0] * scale - 2 * _TEXT_PADDING)).replace("%", "%%")
    return _turned_style_class()(
        stamp_text=text,
        text_box_style=TextBoxStyle(
            font=thai_font(stamp.font_path, size),
            font_size=size,
            leading=max(10, round(14 * scale)),
        ),
        border_width=1,
        border_color=(0.1, 0.2, 0.6),
        # Opaque paper-white ground over the whole stamp, on whatever colour of paper
        # (the place was chosen because nothing but the paper lies beneath). pyHanko's
        # default layout puts a background within 5-unit margins and only ever shrinks
        # it: our 10 x 10 square stayed a 10 x 10 square in the middle. Without margins
        # and stretched (STRETCH_FILL), it fills the box.
        background=RawContent(b"1 1 1 rg 0 0 10 10 re f", box=BoxConstraints(width=10, height=10)),
        background_layout=SimpleBoxLayoutRule(
            x_align=AxisAlignment.ALIGN_MID, y_align=AxisAlignment.ALIGN_MID,
            margins=Margins(), inner_content_scaling=InnerScaling.STRETCH_FILL),
        background_opacity=1.0,
        quarter_turns=rotate // 90,
        user_unit=user_unit,
    )


_TEXT_PADDING = 10  # pyHanko's text box keeps its text this far (points) from the stamp's edges


def _fitted_lines(stamp: StampInfo, size: int, width: float) -> list[str]:
    """The stamp's lines, the unit's name broken between words into as many lines as
    it takes to be at most `width` points wide at `size` points. pyHanko shrinks the
    whole text until its longest line fits: a unit's name of 67 letters
    ("ฝ่ายบริหารงานทั่วไป สำนักงานเลขานุการสำนักการระบายน้ำ กรุงเทพมหานคร") printed the
    receive number and the date at 5.3 pt instead of 9 (red team, session 20)."""
    from gateway.tools.thai_wrap import wrap

    name, *rest = stamp.lines()
    measure = _text_width(str(stamp.font_path), size)
    if measure(name) <= width:
        return [name, *rest]
    return [*wrap(name, width, measure), *rest]


def _text_width(font_path: str, size: int):
    """The width in points of a line at `size` points, shaped as the stamp shapes it."""
    font = _loaded_font(font_path).hb_font
    per_unit = size / font.face.upem

    def measure(text: str) -> float:
        # An empty text shapes to a buffer without positions (None, not []).
        return sum(pos.x_advance for pos in _shaped_as_thai(font, text).glyph_positions or ()) * per_unit

    return measure


def _shaped_as_thai(hb_font, text: str):
    """HarfBuzz's shaping of `text` as Thai (thai_font's script and language)."""
    import uharfbuzz as hb

    buf = hb.Buffer()
    buf.add_str(text)
    buf.set_script_from_ot_tag("thai")
    buf.set_language_from_ot_tag("THA ")
    buf.guess_segment_properties()
    hb.shape(hb_font, buf)
    return buf


@lru_cache(maxsize=1)
def _turned_style_class():
    """pyHanko's TextStampStyle, drawing upright on a page shown rotated (/Rotate).

    The widget rectangle lives in the page's unrotated space; the appearance's /Matrix
    turns the drawing against the page's rotation, which every reader honours."""
    from dataclasses import dataclass as _dc

    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.layout import BoxConstraints
    from pyhanko.stamp import TextStampStyle

    matrices = {1: (0, 1, -1, 0), 2: (-1, 0, 0, -1), 3: (0, -1, 1, 0)}

    class Turned:
        def __init__(self, inner, turns: int):
            self.inner, self.turns = inner, turns

        def apply_appearance(self, annot):
            self.inner.apply_appearance(annot)
            appearance = annot["/AP"]["/N"].get_object()
            appearance[generic.pdf_name("/Matrix")] = generic.ArrayObject(
                [generic.NumberObject(v) for v in matrices[self.turns]] + [generic.NumberObject(0)] * 2)

    @_dc(frozen=True)
    class TurnedTextStampStyle(TextStampStyle):
        quarter_turns: int = 0
        user_unit: float = 1.0

        def create_stamp(self, writer, box, text_params):
            # The widget's /Rect is in the page's user space units; the appearance is
            # drawn in points (its /BBox), and every reader fits the /BBox to the /Rect
            # (PDF 32000-1, 12.5.5): a page of /UserUnit 10 gets the stamp of every page.
            box = BoxConstraints(width=box.width * self.user_unit, height=box.height * self.user_unit)
            if self.quarter_turns % 2:
                box = BoxConstraints(width=box.height, height=box.width)
            stamp = super().create_stamp(writer, box, text_params)
            return Turned(stamp, self.quarter_turns) if self.quarter_turns else stamp

    return TurnedTextStampStyle


def _placement(data: bytes, page):
    """(widget rectangle in user space, scale, rotation, user unit) of the stamp on page 1."""
    from gateway.signatures.page_space import (OddRotation, PageTooBusy, annotation_boxes, content_boxes, find_place,
                                               page_geometry)

    try:
        geometry = page_geometry(page)
    except OddRotation as exc:
        raise NotStampable(f"{exc}: viewers show the page turned differently") from None
    try:
        drawn = content_boxes(data, 0)
    except PageTooBusy:
        raise NotStampable("page 1 holds too many drawn objects to find a free place for the stamp") from None
    obstacles = drawn + [box for box, _is_sig in annotation_boxes(page)]
    spot = find_place(geometry, obstacles, STAMP_SIZE, margin_pt=MARGIN, min_scale=MIN_SCALE)
    if spot is None:
        raise NotStampable("no free space at the top right of page 1 for the stamp")
    return spot.rect, spot.scale, geometry.rotate, geometry.user_unit


def _same_first_page(pages_root, page_ref) -> None:
    """The widget goes on pyHanko's page 1 and its free place is found on PDFium's: a
    page tree on which readers disagree (a /Pages node whose /Count says 0, a /Page
    with /Kids) had the stamp's opaque ground printed over the text of the page that
    viewers show second, placed by the blank page they show first."""
    from gateway.signatures.page_space import first_page_refs

    if first_page_refs(pages_root) != {page_ref.reference}:
        raise NotStampable("readers of the letter disagree on which page is its first (an inconsistent page tree)")


def _own_annotations(writer, page_ref) -> None:
    """Page 1 gets an annotation array of its own, holding what it held, before the
    stamp's widget is added to it. pyHanko appends the widget to the array page 1
    refers to; when that array is an object of its own, any other page may refer to the
    same one, and the stamp's opaque ground then showed and printed at the same spot of
    that page, over its text (red team, session 20). The free place is measured on
    page 1 only, so the widget must be on page 1 only. pyHanko's difference analysis
    allows a page's /Annots to become a new array that keeps every annotation it had.

    pyHanko also appends the field to the form's /Fields; a /Fields array that is some
    page's /Annots as well puts the widget on that page too. An unsigned letter's form
    gets a /Fields array of its own; a signed letter cannot (pyHanko's difference
    analysis forbids replacing /Fields after a signature) and gets a receipt."""
    from pyhanko.pdf_utils import generic

    page = page_ref.get_object()
    annots = page.raw_get("/Annots") if "/Annots" in page else None
    if isinstance(annots, generic.IndirectObject):
        held = annots.get_object()
        page[generic.pdf_name("/Annots")] = generic.ArrayObject(held if isinstance(held, list) else ())
        writer.update_container(page)
    form_ref = writer.root.raw_get("/AcroForm") if "/AcroForm" in writer.root else None
    form = form_ref.get_object() if isinstance(form_ref, generic.IndirectObject) else form_ref
    fields = form.raw_get("/Fields") if isinstance(form, generic.DictionaryObject) and "/Fields" in form else None
    if not isinstance(fields, generic.IndirectObject) or fields.reference not in _annotation_arrays(writer.root["/Pages"]):
        return
    if _signed(writer.prev):
        raise NotStampable("the letter's form lists its fields in the same array as its pages list their "
                           "annotations: a stamp on page 1 would show on those pages too")
    held = fields.get_object()
    form[generic.pdf_name("/Fields")] = generic.ArrayObject(held if isinstance(held, list) else ())
    if isinstance(form_ref, generic.IndirectObject):
        writer.mark_update(form_ref)
    else:
        writer.update_root()


def _annotation_arrays(pages_root, limit: int = 10_000) -> set:
    """The references of the /Annots arrays that pages of the tree refer to (at most
    `limit` nodes are looked at)."""
    found, seen, stack = set(), set(), [pages_root]
    while stack and len(seen) < limit:
        node = stack.pop()
        ref = getattr(node, "reference", None)
        node = node.get_object() if hasattr(node, "get_object") else node
        if not hasattr(node, "raw_get") or (ref is not None and ref in seen):
            continue
        seen.add(ref)
        annots = node.raw_get("/Annots") if "/Annots" in node else None
        if hasattr(annots, "reference"):
            found.add(annots.reference)
        kids = node.get("/Kids")
        kids = kids.get_object() if hasattr(kids, "get_object") else kids
        if hasattr(kids, "raw_get"):
            stack.extend(kids.raw_get(i) for i in range(len(kids)))
    return found


def _signature_fields(reader) -> dict[str, bool] | None:
    """The letter's signature fields, name -> filled; None when they cannot be read."""
    from pyhanko.sign.fields import enumerate_sig_fields

    try:
        return {name: value is not None for name, value, _ in enumerate_sig_fields(reader)}
    except Exception:  # noqa: BLE001 - the stamp reads them again, and the full check decides
        return None


def _any_filled(fields: dict[str, bool] | None) -> bool:
    """Whether the letter holds a filled signature field (a signature whose verdict the
    stamp could change). A letter without one gets the stamp's field and nothing else:
    the stamp's writer adds that field to the letter's own, so the stamped file has no
    earlier signature to judge, and reading it back to count (~0.8 ms, a ninth of an
    unsigned letter's stamp) is spared. Unsure (the fields unreadable): True, and the
    stamped file is checked."""
    return fields is None or any(fields.values())


def _changed_verdicts(before: bytes, after: bytes) -> str | None:
    """Why the stamped file would change how an earlier signature is judged, or None.

    The integrity verdict of every earlier signature (coverage, DocMDP / FieldMDP and
    difference analysis, under pyHanko's default policy and ours) must be what it was;
    trust does not depend on the stamp. Checked after first: only a signature that is
    not fine afterwards needs the (slow, on big forms) look at the original."""
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.fields import enumerate_sig_fields

    reader = PdfFileReader(io.BytesIO(after), strict=False)
    # Counted in the stamped file itself, not assumed from the original: one filled
    # signature field is ours, and there is no earlier signature whose verdict could
    # change. Counting reads no signature's CMS, which costs more than the rest of this
    # check for an unsigned letter.
    if sum(1 for _ in enumerate_sig_fields(reader, filled_status=True)) <= 1:
        return None
    signatures = reader.embedded_signatures
    ours = max(signatures, key=lambda emb: emb.signed_revision).field_name if signatures else None
    now = _integrity_of(signatures, skip=ours)  # our own verdict is not the question
    then = None
    for field, (_revision, ok) in now.items():
        if ok or field == ours:
            continue
        then = then if then is not None else _integrity(before)
        if then.get(field, (0, False))[1]:
            return (f"the stamp would change the verdict on the sender's signature {field} "
                    "(its certification or field lock does not allow a new signature field)")
    return None


def _integrity(data: bytes) -> dict[str, tuple[int, bool]]:
    """Field name -> (signed revision, integrity holds under pyHanko's default diff
    policy and ours)."""
    from pyhanko.pdf_utils.reader import PdfFileReader

    return _integrity_of(PdfFileReader(io.BytesIO(data), strict=False).embedded_signatures)


def _integrity_of(signatures, skip: str | None = None) -> dict[str, tuple[int, bool]]:
    from pyhanko.sign.diff_analysis import DEFAULT_DIFF_POLICY

    from gateway.signatures.diff_policy import diff_policy

    out: dict[str, tuple[int, bool]] = {}
    for emb in signatures:
        ok = True
        for policy in (DEFAULT_DIFF_POLICY, diff_policy()) if emb.field_name != skip else ():
            try:
                emb.compute_integrity_info(diff_policy=policy)
                ok = emb.summarise_integrity_info()["docmdp_ok"] is not False
            except Exception:
                ok = False
            if not ok:
                break
        out[emb.field_name] = (emb.signed_revision, ok)
    return out


def _free_field_name(reader, fields: dict[str, bool] | None = None) -> str:
    """`fields`: the letter's `_signature_fields`, read already; None to read them here."""
    from pyhanko.sign.fields import enumerate_sig_fields

    taken = fields if fields is not None else {name for name, _, _ in enumerate_sig_fields(reader)}
    name, n = FIELD_NAME, 1
    while name in taken:
        n += 1
        name = f"{FIELD_NAME}{n}"
    return name


async def _seal_with_stamp(data: bytes, stamp: StampInfo, seal: SealKey, *, box=None, reader=None,
                           fields: dict[str, bool] | None = None) -> bytes:
    """`reader`: a PdfFileReader of exactly `data` (strict=False), or None to read it here;
    `fields`: its `_signature_fields`, or None to read them here."""
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import signers
    from pyhanko.sign.fields import SigFieldSpec, SigSeedSubFilter

    if reader is not None:
        writer = IncrementalPdfFileWriter.from_reader(reader)
    else:
        writer = IncrementalPdfFileWriter(io.BytesIO(data), strict=False)
    # The letter's metadata stays as the sender wrote it. pyHanko rewrites it with every
    # update: /Info's /Producer became "<producer>; pyHanko 0.38.0", the XMP's
    # pdf:Producer "pyHanko 0.38.0", so a PDF/A letter's stamped copy still claimed
    # PDF/A (pdfaid) while breaking its rule that the two say the same (ISO 19005-1
    # 6.7.3, veraPDF's 6.7.3-1; red team, session 20). The stamp is the seal
    # signature's appearance and names itself; the letter's producer is the sender's.
    writer._update_meta = lambda: None
    field_name = _free_field_name(writer.prev, fields)
    page_ref = writer.find_page_for_modification(0)[0]
    page = page_ref.get_object()
    _own_annotations(writer, page_ref)
    if box is None:
        _same_first_page(writer.root["/Pages"], page_ref)
        box, scale, rotate, unit = _placement(data, page)
        box = tuple(round(v, 2) for v in box)
    else:
        scale, rotate, unit = 1.0, 0, 1.0
    meta = signers.PdfSignatureMetadata(
        field_name=field_name,
        subfilter=SigSeedSubFilter.PADES,
        md_algorithm="sha256",
        reason="ตรารับหนังสือ (receive stamp)",
        name=stamp.unit_name,
    )
    pdf_signer = signers.PdfSigner(
        meta,
        seal.signer(),
        stamp_style=_stamp_style(stamp, scale, rotate, unit),
        new_field_spec=SigFieldSpec(sig_field_name=field_name, on_page=0, box=box),
    )
    # Reserving the signature's room up front spares pyHanko a dummy signature (a second
    # private-key load and RSA operation) to measure it: half the cost of a stamp.
    # The placeholder is hex (two characters a byte); PEM is larger than the DER it holds.
    reserved = 2 * (4096 + len(seal.cert_pem) + sum(len(c) for c in seal.chain_pem))
    out = await pdf_signer.async_sign_pdf(writer, bytes_reserved=reserved)
    return out.getvalue()


_NAMES_KEPT = 4096  # the stamp writes some 120 names a letter, nearly all the same ones


def _kept_name_writer(write):
    """pyHanko's NameObject.write_to_stream, remembering each name's bytes.

    pyHanko writes a name a byte at a time (a check, a bytes object and a write per
    character): 5 % of a stamp. A name's bytes depend on its text alone (names are
    never encrypted), so `write` makes them once and they are written again as made;
    a name `write` refuses is refused every time. Bounded: names from a sender's page
    dictionary are kept only until the table is full."""
    kept: dict[str, bytes] = {}

    def write_to_stream(self, stream, handler=None, container_ref=None):
        out = kept.get(self)
        if out is None:
            buf = io.BytesIO()
            write(self, buf, handler, container_ref)
            out = buf.getvalue()
            if len(kept) < _NAMES_KEPT:
                kept[str(self)] = out
        stream.write(out)

    write_to_stream.kept = kept
    return write_to_stream


def keep_written_names() -> None:
    """Install _kept_name_writer in this process (the stamping child's set-up: every PDF
    it writes is a stamp or a receipt)."""
    from pyhanko.pdf_utils.generic import NameObject

    if not hasattr(NameObject.write_to_stream, "kept"):
        NameObject.write_to_stream = _kept_name_writer(NameObject.write_to_stream)


def receipt_pdf(stamp: StampInfo, seal: SealKey, original_sha256: str, reason: str) -> bytes:
    """The sealed receipt alone (never reads the letter). Runs its own event loop."""
    ensure_asn1_names()
    return _run(_receipt(stamp, seal, original_sha256, reason))


async def _receipt(stamp: StampInfo, seal: SealKey, original_sha256: str, reason: str) -> bytes:
    """A one-page receipt naming the original by hash, itself sealed with the stamp."""
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.layout import BoxConstraints
    from pyhanko.pdf_utils.text import TextBox, TextBoxStyle
    from pyhanko.pdf_utils.writer import PdfFileWriter

    w = PdfFileWriter()
    style = TextBoxStyle(font=thai_font(stamp.font_path, 12), font_size=12, leading=20)
    box = TextBox(style, writer=w, box=BoxConstraints(width=500))
    lines = [
        "ใบรับหนังสือ (ตรารับ) / Receipt of an official letter",
        *stamp.lines(),
        "",
        "ต้นฉบับไม่ถูกแก้ไข จึงประทับตรารับในใบรับนี้แทน",
        *textwrap.wrap(f"The original was left untouched: {reason}.", 80),
        "SHA-256 ของต้นฉบับ / of the original:",
        original_sha256[:32],
        original_sha256[32:],
    ]
    box.content = "\n".join(lines)
    text = box.render()
    top = 842 - MARGIN - STAMP_SIZE[1] - 24  # the text starts below the stamp
    ops = b"q 1 0 0 1 50 %g cm " % (top - box.box.height) + text + b" Q"
    page = generic.DictionaryObject(
        {
            generic.pdf_name("/Type"): generic.pdf_name("/Page"),
            generic.pdf_name("/MediaBox"): generic.ArrayObject(map(generic.NumberObject, (0, 0, 595, 842))),
            generic.pdf_name("/Resources"): box.resources.as_pdf_object(),
            generic.pdf_name("/Contents"): w.add_object(generic.StreamObject(stream_data=ops)),
        }
    )
    w.insert_page(page)
    w.set_info(generic.DictionaryObject({
        generic.pdf_name("/Title"): generic.pdf_string("ใบรับหนังสือ"),
        generic.pdf_name("/Subject"): generic.pdf_string(f"sha256:{original_sha256}"),
    }))
    buf = io.BytesIO()
    w.write(buf)
    w_, h_ = STAMP_SIZE
    return await _seal_with_stamp(buf.getvalue(), stamp, seal,
                                  box=(595 - MARGIN - w_, 842 - MARGIN - h_, 595 - MARGIN, 842 - MARGIN))
