"""The receive stamp (ตรารับ) as the appearance of a gateway seal signature.

Drawing on page 1 would change the signed page content and invalidate the sender's
signature (pyHanko issue 259). A new signature field's widget, added in an incremental
update, leaves every signed revision intact: the sender's signature still validates and
reports only "signatures added". When the sender certified the file with "no changes
allowed" (DocMDP P=1) even that is forbidden, so the stamp goes on a one-page receipt
PDF that names the original by its SHA-256, and the original is left untouched.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import io
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import structlog

from gateway.signatures.asn1_names import ensure_asn1_names
from gateway.signatures.thai_dates import in_bangkok, thai_date, thai_digits, thai_time

log = structlog.get_logger(__name__)

DEFAULT_FONT = Path("/usr/share/fonts/truetype/tlwg/Garuda.ttf")
FIELD_NAME = "SarabanReceiveStamp"
STAMP_SIZE = (180, 84)  # points: wide enough for a long unit name at 9 pt
MARGIN = 18


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
    """The gateway's seal: key, certificate and the chain up to (not incl.) the root."""

    key_pem: bytes
    cert_pem: bytes
    chain_pem: tuple[bytes, ...] = ()
    passphrase: bytes | None = None

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
        from pyhanko.sign import signers
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


def _kept_key_signer_class():
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
    from pyhanko.sign import signers
    from pyhanko.sign.general import get_pyca_cryptography_hash

    class KeptKeySigner(signers.SimpleSigner):
        """SimpleSigner re-loads (and re-validates) its key for every signature; for
        RSA PKCS#1 v1.5, the seal's mechanism, keep the loaded key instead."""

        _loaded = None

        def sign_raw(self, data: bytes, digest_algorithm: str) -> bytes:
            mechanism = self.get_signature_mechanism_for_digest(digest_algorithm)
            try:
                algo = mechanism.signature_algo
            except ValueError:
                algo = mechanism["algorithm"].native
            if algo != "rsassa_pkcs1v15":
                return super().sign_raw(data, digest_algorithm)
            if self._loaded is None:
                self._loaded = serialization.load_der_private_key(self.signing_key.dump(), password=None)
            return self._loaded.sign(data, PKCS1v15(), get_pyca_cryptography_hash(digest_algorithm))

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


def stamp_pdf(data: bytes, stamp: StampInfo, seal: SealKey) -> StampResult:
    """Stamp a received letter (never modifies `data`). Runs its own event loop: call it
    from a worker process or thread, or await `async_stamp_pdf` instead."""
    return asyncio.run(async_stamp_pdf(data, stamp, seal))


async def async_stamp_pdf(data: bytes, stamp: StampInfo, seal: SealKey) -> StampResult:
    ensure_asn1_names()
    original_sha256 = hashlib.sha256(data).hexdigest()
    reason = _why_not_stampable(data)
    if reason is None:
        try:
            stamped = await _seal_with_stamp(data, stamp, seal)
            log.info("letter_stamped", sha256=original_sha256, unit=stamp.unit_name)
            return StampResult("stamped", stamped, original_sha256)
        except Exception as exc:  # an odd file must still get its receipt
            reason = f"the letter could not be stamped: {exc}"
    log.info("receipt_instead_of_stamp", sha256=original_sha256, reason=reason)
    receipt = await _receipt(stamp, seal, original_sha256, reason)
    return StampResult("receipt", receipt, original_sha256, reason)


def _why_not_stampable(data: bytes) -> str | None:
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.fields import MDPPerm
    from pyhanko.sign.validation.pdf_embedded import read_certification_data

    try:
        reader = PdfFileReader(io.BytesIO(data), strict=False)
        if reader.encrypted:
            return "the letter is encrypted"
        cert_data = read_certification_data(reader)
    except Exception as exc:
        return f"the letter could not be read: {exc}"
    if cert_data is not None and cert_data.permission == MDPPerm.NO_CHANGES:
        return "the sender certified the letter with no changes allowed (DocMDP P=1)"
    return None


def _stamp_style(stamp: StampInfo):
    from pyhanko.pdf_utils.font.opentype import GlyphAccumulatorFactory
    from pyhanko.pdf_utils.text import TextBoxStyle
    from pyhanko.stamp import TextStampStyle

    text = "\n".join(stamp.lines()).replace("%", "%%")  # the stamp text is a %-template
    return TextStampStyle(
        stamp_text=text,
        text_box_style=TextBoxStyle(
            font=GlyphAccumulatorFactory(str(stamp.font_path), font_size=9),
            font_size=9,
            leading=14,
        ),
        border_width=1,
        border_color=(0.1, 0.2, 0.6),
    )


def _free_field_name(reader) -> str:
    from pyhanko.sign.fields import enumerate_sig_fields

    taken = {name for name, _, _ in enumerate_sig_fields(reader)}
    name, n = FIELD_NAME, 1
    while name in taken:
        n += 1
        name = f"{FIELD_NAME}{n}"
    return name


async def _seal_with_stamp(data: bytes, stamp: StampInfo, seal: SealKey) -> bytes:
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import signers
    from pyhanko.sign.fields import SigFieldSpec, SigSeedSubFilter

    writer = IncrementalPdfFileWriter(io.BytesIO(data), strict=False)
    field_name = _free_field_name(writer.prev)
    page = writer.find_page_for_modification(0)[0].get_object()
    x0, y0, x1, y1 = (float(v) for v in page.get("/CropBox", page["/MediaBox"]))
    width, height = STAMP_SIZE
    box = (int(x1 - MARGIN - width), int(y1 - MARGIN - height), int(x1 - MARGIN), int(y1 - MARGIN))
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
        stamp_style=_stamp_style(stamp),
        new_field_spec=SigFieldSpec(sig_field_name=field_name, on_page=0, box=box),
    )
    # Reserving the signature's room up front spares pyHanko a dummy signature (a second
    # private-key load and RSA operation) to measure it: half the cost of a stamp.
    # The placeholder is hex (two characters a byte); PEM is larger than the DER it holds.
    reserved = 2 * (4096 + len(seal.cert_pem) + sum(len(c) for c in seal.chain_pem))
    out = await pdf_signer.async_sign_pdf(writer, bytes_reserved=reserved)
    return out.getvalue()


def receipt_pdf(stamp: StampInfo, seal: SealKey, original_sha256: str, reason: str) -> bytes:
    """The sealed receipt alone (never reads the letter). Runs its own event loop."""
    ensure_asn1_names()
    return asyncio.run(_receipt(stamp, seal, original_sha256, reason))


async def _receipt(stamp: StampInfo, seal: SealKey, original_sha256: str, reason: str) -> bytes:
    """A one-page receipt naming the original by hash, itself sealed with the stamp."""
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.font.opentype import GlyphAccumulatorFactory
    from pyhanko.pdf_utils.layout import BoxConstraints
    from pyhanko.pdf_utils.text import TextBox, TextBoxStyle
    from pyhanko.pdf_utils.writer import PdfFileWriter

    w = PdfFileWriter()
    style = TextBoxStyle(font=GlyphAccumulatorFactory(str(stamp.font_path), font_size=12), font_size=12, leading=20)
    box = TextBox(style, writer=w, box=BoxConstraints(width=500, height=400))
    lines = [
        "ใบรับหนังสือ (ตรารับ) / Receipt of an official letter",
        *stamp.lines(),
        "",
        "ต้นฉบับไม่ถูกแก้ไข จึงประทับตรารับในใบรับนี้แทน",
        f"The original was left untouched: {reason}.",
        "SHA-256 ของต้นฉบับ / of the original:",
        original_sha256[:32],
        original_sha256[32:],
    ]
    box.content = "\n".join(lines)
    ops = b"q 1 0 0 1 50 400 cm " + box.render() + b" Q"
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
    return await _seal_with_stamp(buf.getvalue(), stamp, seal)
