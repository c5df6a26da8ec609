"""A throwaway PKI shaped like the Thai one, and the signed letters the tests need.

Thailand National Root CA → "Thai Digital ID CA" (sub-CA) → signers: a valid one with a
Thai name and organisation, a revoked one (listed on the sub-CA's CRL, which we hand to
the verifier as an offline file), an expired one, a self-signed one; plus the gateway's
seal. Everything is generated with `cryptography` at test time and cached on disk, so no
private key ever lives in the repository.
"""
from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass
from pathlib import Path

from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

GARUDA = Path("/usr/share/fonts/truetype/tlwg/Garuda.ttf")
CRL_URL = "http://crl.thaidigitalid.test/tdid-ca.crl"
ROOT_CRL_URL = "http://crl.nrca.test/nrca-g1.crl"

NOW = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)

VALID_SIGNER_NAME = "สมชาย ใจดี"
VALID_SIGNER_ORG = "สำนักงานเขตพระนคร กรุงเทพมหานคร"


def _name(cn: str, org: str, unit: str | None = None) -> x509.Name:
    attrs = [
        x509.NameAttribute(NameOID.COUNTRY_NAME, "TH"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
    ]
    if unit:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, unit))
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, cn))
    return x509.Name(attrs)


# cryptography's names of the keyUsage bits (RFC 5280 4.2.1.3); content_commitment is
# nonRepudiation.
KEY_USAGE_BITS = ("digital_signature", "content_commitment", "key_encipherment", "data_encipherment",
                  "key_agreement", "key_cert_sign", "crl_sign", "encipher_only", "decipher_only")


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _cert(
    subject: x509.Name,
    key: rsa.RSAPrivateKey,
    issuer: x509.Name,
    issuer_key: rsa.RSAPrivateKey,
    *,
    ca: bool,
    not_before: dt.datetime,
    not_after: dt.datetime,
    crl_url: str | None,
    eku: list | None = None,
    emails: tuple[str, ...] = (),
    key_usage: tuple[str, ...] | None | str = "default",
) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False,
        )
    )
    if key_usage == "default":
        key_usage = ("key_cert_sign", "crl_sign") if ca else ("digital_signature", "content_commitment")
    if key_usage is not None:  # None: no keyUsage extension at all
        builder = builder.add_extension(
            x509.KeyUsage(**{bit: bit in key_usage for bit in KEY_USAGE_BITS}), critical=True)
    if eku:
        builder = builder.add_extension(x509.ExtendedKeyUsage(eku), critical=False)
    if emails:  # a mail certificate (S/MIME): the addresses it vouches for
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.RFC822Name(a) for a in emails]), critical=False)
    if crl_url:
        builder = builder.add_extension(
            x509.CRLDistributionPoints(
                [x509.DistributionPoint([x509.UniformResourceIdentifier(crl_url)], None, None, None)]
            ),
            critical=False,
        )
    return builder.sign(issuer_key, hashes.SHA256())


def _crl(issuer: x509.Certificate, issuer_key, revoked: list[x509.Certificate]) -> x509.CertificateRevocationList:
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuer.subject)
        .last_update(NOW - dt.timedelta(hours=1))
        .next_update(NOW + dt.timedelta(days=7))
        .add_extension(x509.CRLNumber(1), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False,
        )
    )
    for cert in revoked:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder()
            .serial_number(cert.serial_number)
            .revocation_date(NOW - dt.timedelta(days=1))
            .add_extension(x509.CRLReason(x509.ReasonFlags.key_compromise), critical=False)
            .build()
        )
    return builder.sign(issuer_key, hashes.SHA256())


@dataclass(frozen=True)
class Identity:
    """A certificate and its key, as files and as pyHanko wants them."""

    cert_path: Path
    key_path: Path

    @property
    def cert_pem(self) -> bytes:
        return self.cert_path.read_bytes()

    def asn1_cert(self) -> asn1_x509.Certificate:
        cert = x509.load_pem_x509_certificate(self.cert_path.read_bytes())
        return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))

    def asn1_key(self) -> asn1_keys.PrivateKeyInfo:
        key = serialization.load_pem_private_key(self.key_path.read_bytes(), password=None)
        der = key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        return asn1_keys.PrivateKeyInfo.load(der)


@dataclass(frozen=True)
class Pki:
    directory: Path
    root: Identity
    sub_ca: Identity
    valid: Identity
    revoked: Identity
    expired: Identity
    self_signed: Identity
    seal: Identity
    revocation_dir: Path  # CRLs of root and sub-CA, as the operator's offline cache

    @property
    def roots_pem(self) -> Path:
        return self.root.cert_path

    @property
    def trust_config(self) -> str:
        """The `[signatures]` lines that make a gateway trust this PKI (its root, its
        CRLs as the offline cache), for a configuration's `[signatures]` table."""
        return f'trust_roots = "{self.roots_pem}"\nrevocation_dir = "{self.revocation_dir}"\n'

    def signer(self, who: Identity, *, chain: bool = True):
        """A pyHanko SimpleSigner for `who` that embeds the sub-CA (like real Thai tokens)."""
        from pyhanko.sign import signers
        from pyhanko_certvalidator.registry import SimpleCertificateStore

        others = [self.sub_ca.asn1_cert()] if chain and who is not self.self_signed else []
        return signers.SimpleSigner(
            signing_cert=who.asn1_cert(),
            signing_key=who.asn1_key(),
            cert_registry=SimpleCertificateStore.from_certs(others),
        )


def _write(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


def build_pki(directory: Path) -> Pki:
    """Create the PKI under `directory` (idempotent: reuses what is already there)."""
    directory.mkdir(parents=True, exist_ok=True)
    names = ["root", "sub_ca", "valid", "revoked", "expired", "self_signed", "seal"]
    revocation_dir = directory / "revocation"
    idents = {n: Identity(directory / f"{n}.pem", directory / f"{n}.key") for n in names}
    done = directory / "complete"
    if done.exists():
        return Pki(directory=directory, revocation_dir=revocation_dir, **idents)

    pem = serialization.Encoding.PEM
    keys = {n: _key() for n in names}
    long_ago = NOW - dt.timedelta(days=3650)
    later = NOW + dt.timedelta(days=3650)

    root_name = _name(
        "Thailand National Root Certification Authority - G1 (TEST)",
        "Electronic Transactions Development Agency (TEST)",
    )
    root = _cert(root_name, keys["root"], root_name, keys["root"], ca=True,
                 not_before=long_ago, not_after=later, crl_url=None)
    sub_name = _name("Thai Digital ID CA (TEST)", "Thai Digital ID Co., Ltd. (TEST)")
    sub = _cert(sub_name, keys["sub_ca"], root_name, keys["root"], ca=True,
                not_before=long_ago, not_after=later, crl_url=ROOT_CRL_URL)

    def leaf(n: str, cn: str, org: str, *, nb=NOW - dt.timedelta(days=30), na=NOW + dt.timedelta(days=700), eku=None):
        return _cert(_name(cn, org, "TEST"), keys[n], sub_name, keys["sub_ca"], ca=False,
                     not_before=nb, not_after=na, crl_url=CRL_URL, eku=eku)

    certs = {
        "root": root,
        "sub_ca": sub,
        "valid": leaf("valid", VALID_SIGNER_NAME, VALID_SIGNER_ORG),
        "revoked": leaf("revoked", "สมหญิง รักดี", "สำนักงานเขตบางรัก กรุงเทพมหานคร"),
        "expired": leaf("expired", "ประยุทธ์ หมดอายุ", "สำนักงานเขตดุสิต กรุงเทพมหานคร",
                        nb=NOW - dt.timedelta(days=800), na=NOW - dt.timedelta(days=35)),
        "seal": leaf("seal", "Saraban Gateway Seal", "กรุงเทพมหานคร",
                     eku=[ExtendedKeyUsageOID.CODE_SIGNING, ExtendedKeyUsageOID.EMAIL_PROTECTION]),
    }
    ss_name = _name("ผู้ลงนามปลอม", "ไม่มีผู้รับรอง", "TEST")
    certs["self_signed"] = _cert(ss_name, keys["self_signed"], ss_name, keys["self_signed"],
                                 ca=False, not_before=NOW - dt.timedelta(days=30),
                                 not_after=later, crl_url=None)
    for n in names:
        _write(idents[n].cert_path, certs[n].public_bytes(pem))
        _write(
            idents[n].key_path,
            keys[n].private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
        )
    revocation_dir.mkdir(exist_ok=True)
    _write(revocation_dir / "tdid-ca.crl",
           _crl(sub, keys["sub_ca"], [certs["revoked"]]).public_bytes(serialization.Encoding.DER))
    _write(revocation_dir / "nrca-g1.crl",
           _crl(root, keys["root"], []).public_bytes(serialization.Encoding.DER))
    done.touch()
    return Pki(directory=directory, revocation_dir=revocation_dir, **idents)


# ----------------------------------------------------------------------------- letters


def make_letter(*, pad_to: int = 0, with_form_field: bool = False, pages: int = 1,
                field_value: str = "ต้นฉบับ") -> bytes:
    """A small real PDF: an A4 page with Thai text (Garuda, embedded), optionally a form
    field ("remark", holding `field_value`; "" = a blank field) and an incompressible
    image to reach `pad_to` bytes."""
    import os

    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.font.opentype import GlyphAccumulatorFactory
    from pyhanko.pdf_utils.layout import BoxConstraints
    from pyhanko.pdf_utils.text import TextBox, TextBoxStyle
    from pyhanko.pdf_utils.writer import PdfFileWriter

    w = PdfFileWriter()
    style = TextBoxStyle(font=GlyphAccumulatorFactory(str(GARUDA), font_size=14), font_size=14, leading=22)
    box = TextBox(style, writer=w, box=BoxConstraints(width=480, height=200))
    box.content = (
        "ที่ กท 0403/ว 276\n"
        "เรื่อง ขอเชิญประชุมคณะกรรมการ\n"
        "เรียน ผู้อำนวยการเขตพระนคร\n"
        "Saraban test letter"
    )
    text_stream = box.render()
    resources = box.resources.as_pdf_object()
    ops = b"q 1 0 0 1 60 600 cm " + text_stream + b" Q"
    if pad_to:
        # Random bytes so /FlateDecode cannot shrink the file below the size we want.
        raw = os.urandom(pad_to)
        width = 1024
        height = len(raw) // (width * 3)
        img = generic.StreamObject(
            {
                generic.pdf_name("/Type"): generic.pdf_name("/XObject"),
                generic.pdf_name("/Subtype"): generic.pdf_name("/Image"),
                generic.pdf_name("/Width"): generic.NumberObject(width),
                generic.pdf_name("/Height"): generic.NumberObject(height),
                generic.pdf_name("/ColorSpace"): generic.pdf_name("/DeviceRGB"),
                generic.pdf_name("/BitsPerComponent"): generic.NumberObject(8),
            },
            stream_data=raw[: width * height * 3],
        )
        xobjs = resources.setdefault(generic.pdf_name("/XObject"), generic.DictionaryObject())
        xobjs[generic.pdf_name("/Scan")] = w.add_object(img)
        ops += b" q 120 0 0 40 400 60 cm /Scan Do Q"
    for i in range(pages):
        stream = generic.StreamObject(stream_data=ops if i == 0 else b"")
        page = generic.DictionaryObject(
            {
                generic.pdf_name("/Type"): generic.pdf_name("/Page"),
                generic.pdf_name("/MediaBox"): generic.ArrayObject(map(generic.NumberObject, (0, 0, 595, 842))),
                generic.pdf_name("/Resources"): resources,
                generic.pdf_name("/Contents"): w.add_object(stream),
            }
        )
        w.insert_page(page)
    if with_form_field:
        _add_text_field(w, "remark", field_value)
    w.set_info(generic.DictionaryObject({generic.pdf_name("/Title"): generic.pdf_string("Saraban test letter")}))
    out = io.BytesIO()
    w.write(out)
    return out.getvalue()


def _text_field_appearance(w, value: str):
    from pyhanko.pdf_utils import generic

    ap = generic.StreamObject(
        {
            generic.pdf_name("/Type"): generic.pdf_name("/XObject"),
            generic.pdf_name("/Subtype"): generic.pdf_name("/Form"),
            generic.pdf_name("/BBox"): generic.ArrayObject(map(generic.NumberObject, (0, 0, 200, 20))),
        },
        stream_data=b"0 0 1 rg 0 0 200 20 re f % " + value.encode("utf-8").hex().encode(),
    )
    return w.add_object(ap)


def _add_text_field(w, name: str, value: str) -> None:
    from pyhanko.pdf_utils import generic

    page_ref = w.find_page_for_modification(0)[0]
    field = generic.DictionaryObject(
        {
            generic.pdf_name("/FT"): generic.pdf_name("/Tx"),
            generic.pdf_name("/T"): generic.pdf_string(name),
            generic.pdf_name("/V"): generic.pdf_string(value),
            generic.pdf_name("/Type"): generic.pdf_name("/Annot"),
            generic.pdf_name("/Subtype"): generic.pdf_name("/Widget"),
            generic.pdf_name("/F"): generic.NumberObject(4),
            generic.pdf_name("/P"): page_ref,
            generic.pdf_name("/Rect"): generic.ArrayObject(map(generic.NumberObject, (60, 100, 260, 120))),
            generic.pdf_name("/AP"): generic.DictionaryObject(
                {generic.pdf_name("/N"): _text_field_appearance(w, value)}
            ),
        }
    )
    field_ref = w.add_object(field)
    page = page_ref.get_object()
    page[generic.pdf_name("/Annots")] = generic.ArrayObject([field_ref])
    w.root[generic.pdf_name("/AcroForm")] = generic.DictionaryObject(
        {generic.pdf_name("/Fields"): generic.ArrayObject([field_ref])}
    )


def sign_letter(
    data: bytes,
    pki: Pki,
    who: Identity | None = None,
    *,
    certify_no_changes: bool = False,
    field_name: str = "Signature1",
    certify_fill_forms: bool = False,
) -> bytes:
    """Sign (PAdES baseline B) as `who`; with certify_no_changes, certify with DocMDP P=1;
    with certify_fill_forms, with P=2 (form filling and signing allowed)."""
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import signers
    from pyhanko.sign.fields import MDPPerm, SigSeedSubFilter

    from gateway.signatures.asn1_names import ensure_asn1_names

    ensure_asn1_names()  # other tests may have used CMS before pyHanko was imported
    meta = signers.PdfSignatureMetadata(
        field_name=field_name,
        subfilter=SigSeedSubFilter.PADES,
        md_algorithm="sha256",
        certify=certify_no_changes or certify_fill_forms,
        docmdp_permissions=MDPPerm.NO_CHANGES if certify_no_changes else MDPPerm.FILL_FORMS,
        reason="ลงนามหนังสือราชการ",
    )
    signer = pki.signer(who or pki.valid)
    w = IncrementalPdfFileWriter(io.BytesIO(data))
    out = signers.PdfSigner(meta, signer).sign_pdf(w)
    return out.getvalue()


# ----------------------------------------------------------------------------- tampering


def tamper_add_page(signed: bytes) -> bytes:
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

    w = IncrementalPdfFileWriter(io.BytesIO(signed))
    page = generic.DictionaryObject(
        {
            generic.pdf_name("/Type"): generic.pdf_name("/Page"),
            generic.pdf_name("/MediaBox"): generic.ArrayObject(map(generic.NumberObject, (0, 0, 595, 842))),
            generic.pdf_name("/Resources"): generic.DictionaryObject(),
            generic.pdf_name("/Contents"): w.add_object(
                generic.StreamObject(stream_data=b"0 0 1 rg 100 100 200 200 re f")
            ),
        }
    )
    w.insert_page(page)
    out = io.BytesIO()
    w.write(out)
    return out.getvalue()


def tamper_draw_content(signed: bytes) -> bytes:
    """Draw on page 1 in an incremental update (what pyHanko issue 259 describes)."""
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.stamp import TextStamp, TextStampStyle

    w = IncrementalPdfFileWriter(io.BytesIO(signed))
    TextStamp(w, TextStampStyle(stamp_text="APPROVED 1,000,000 THB")).apply(0, x=300, y=300)
    out = io.BytesIO()
    w.write(out)
    return out.getvalue()


def tamper_append_unreferenced(signed: bytes) -> bytes:
    """The PDF-Insecurity incremental saving attack (ISA-3): new versions of objects and
    an empty cross-reference section with a trailer without /Prev, appended after the
    signed revision. Readers that rebuild the file show the new page text."""
    tail = (b"\n4 0 obj\n<< /Length 44 >>\nstream\nBT /F1 24 Tf 60 700 Td (APPROVED 1,000,000) Tj ET\n"
            b"endstream\nendobj\n")
    xref_at = len(signed) + len(tail)
    # No %%EOF after it, as in the original sample: pyHanko then stops at the signed
    # revision's %%EOF and never reads the tail.
    return signed + tail + b"xref\ntrailer\n<< /Root 1 0 R >>\nstartxref\n%d\n" % xref_at


def tamper_flip_byte(signed: bytes) -> bytes:
    """Flip one byte of the page content, well inside the first signed byte range."""
    marker = signed.find(b"q 1 0 0 1 60 600 cm")
    if marker < 0:
        raise AssertionError("letter content marker not found")
    pos = marker + 10  # a digit of the transformation matrix: still parses
    flipped = bytearray(signed)
    flipped[pos] = ord("7") if flipped[pos] != ord("7") else ord("8")
    return bytes(flipped)


def tamper_change_field(signed: bytes, value: str = "แก้ไขแล้ว") -> bytes:
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

    w = IncrementalPdfFileWriter(io.BytesIO(signed))
    fields = w.root["/AcroForm"]["/Fields"]
    for ref in fields:
        field = ref.get_object()
        if field.get("/T") == "remark":
            field[generic.pdf_name("/V")] = generic.pdf_string(value)
            field[generic.pdf_name("/AP")] = generic.DictionaryObject(
                {generic.pdf_name("/N"): _text_field_appearance(w, value)}
            )
            w.update_container(field)
            break
    else:
        raise AssertionError("no remark field")
    out = io.BytesIO()
    w.write(out)
    return out.getvalue()


# ----------------------------------------------------------------------------- S/MIME


def _signature_builder(pki: Pki, who: Identity, data: bytes, co_signers: tuple[Identity, ...] = ()):
    from cryptography.hazmat.primitives.serialization import pkcs7

    builder = pkcs7.PKCS7SignatureBuilder().set_data(data)
    for one in (who, *co_signers):
        builder = builder.add_signer(x509.load_pem_x509_certificate(one.cert_path.read_bytes()),
                                     serialization.load_pem_private_key(one.key_path.read_bytes(), password=None),
                                     hashes.SHA256())
    if who is not pki.self_signed:
        builder = builder.add_certificate(x509.load_pem_x509_certificate(pki.sub_ca.cert_path.read_bytes()))
    return builder


def make_p7m(pki: Pki, content: bytes, who: Identity | None = None) -> bytes:
    """A signed file (`letter.pdf.p7m`) as a CAdES signing tool saves it: DER CMS
    signed-data that carries `content` byte for byte."""
    from cryptography.hazmat.primitives.serialization import pkcs7

    return _signature_builder(pki, who or pki.valid, content).sign(serialization.Encoding.DER,
                                                                   [pkcs7.PKCS7Options.Binary])


def make_smime(pki: Pki, who: Identity | None = None, *, detached: bool = True,
               body: str = "เรียน ผู้อำนวยการเขต\r\n\r\nขอส่งหนังสือราชการมาเพื่อทราบ\r\n",
               inner: bytes | None = None, headers: dict[str, str] | None = None,
               co_signers: tuple[Identity, ...] = ()) -> bytes:
    """A signed mail as an S/MIME client produces it (cryptography's PKCS#7 builder).
    `inner`: the signed MIME entity (default: `body` as text/plain); `headers`: the
    mail's own headers (default: From saraban@phranakhon.bangkok.go.th); `co_signers`:
    further SignerInfos over the same content (RFC 5652 5.1)."""
    from cryptography.hazmat.primitives.serialization import pkcs7

    who = who or pki.valid
    inner = inner or (
        "Content-Type: text/plain; charset=utf-8\r\n"
        "Content-Transfer-Encoding: 8bit\r\n\r\n" + body
    ).encode("utf-8")
    builder = _signature_builder(pki, who, inner, co_signers)
    if detached:
        smime = builder.sign(serialization.Encoding.SMIME, [pkcs7.PKCS7Options.DetachedSignature])
    else:  # application/pkcs7-mime; smime-type=signed-data: the content travels inside the CMS
        import base64

        der = builder.sign(serialization.Encoding.DER, [])
        smime = (
            b"MIME-Version: 1.0\r\n"
            b'Content-Type: application/pkcs7-mime; smime-type=signed-data; name="smime.p7m"\r\n'
            b"Content-Transfer-Encoding: base64\r\n\r\n" + base64.encodebytes(der)
        )
    headers = headers or {
        "From": "saraban@phranakhon.bangkok.go.th",
        "To": "saraban.central@bangkok.go.th",
        "Subject": "=?utf-8?b?" + __import__("base64").b64encode("หนังสือราชการ".encode()).decode() + "?=",
    }
    return "".join(f"{k}: {v}\r\n" for k, v in headers.items()).encode() + smime.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def tamper_smime(raw: bytes) -> bytes:
    """Change the letter's text (in the clear part, or inside an enveloping CMS)."""
    import base64

    old, new = "ขอส่ง".encode("utf-8"), "ไม่ส่ง".encode("utf-8")
    if old in raw:
        return raw.replace(old, new, 1)
    head, _, body = raw.partition(b"\r\n\r\n")
    der = base64.b64decode(body)
    assert old in der, "letter text not found"
    # Same length so the DER lengths still hold: swap one Thai letter for another.
    i = der.index(old)
    der = der[:i] + "ขอดู".encode("utf-8") + der[i + len("ขอดู".encode("utf-8")):]
    return head + b"\r\n\r\n" + base64.encodebytes(der)


def self_signed_identity(directory: Path, name: str, *, not_before: dt.datetime, not_after: dt.datetime,
                         cn: str = "Saraban Gateway Seal (TEST)", key=None) -> Identity:
    """A self-signed signing certificate with the given dates (e.g. a seal that expired);
    `key`: its private key (default a new RSA-2048 one; an EC key for an EC seal)."""
    directory.mkdir(parents=True, exist_ok=True)
    ident = Identity(directory / f"{name}.pem", directory / f"{name}.key")
    if not ident.cert_path.exists():
        key = key or _key()
        subject = _name(cn, "กรุงเทพมหานคร", "TEST")
        cert = _cert(subject, key, subject, key, ca=False, not_before=not_before, not_after=not_after, crl_url=None)
        pem = serialization.Encoding.PEM
        _write(ident.key_path, key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        _write(ident.cert_path, cert.public_bytes(pem))
    return ident


def leaf_identity(pki: Pki, directory: Path, name: str, *, emails: tuple[str, ...] = (), eku: list | None = None,
                  cn: str = VALID_SIGNER_NAME, valid_from: dt.datetime | None = None,
                  key_usage: tuple[str, ...] | None | str = "default") -> Identity:
    """A signer issued by the sub-CA whose certificate names `emails` (subjectAltName
    rfc822Name, as a Thai CA's certificate of a person does) and the purposes `eku`,
    valid from `valid_from` (default: 30 days ago), with the keyUsage bits `key_usage`
    (KEY_USAGE_BITS; default digitalSignature and nonRepudiation; None: no extension)."""
    directory.mkdir(parents=True, exist_ok=True)
    ident = Identity(directory / f"{name}.pem", directory / f"{name}.key")
    if not ident.cert_path.exists():
        key = _key()
        sub = x509.load_pem_x509_certificate(pki.sub_ca.cert_path.read_bytes())
        sub_key = serialization.load_pem_private_key(pki.sub_ca.key_path.read_bytes(), password=None)
        cert = _cert(_name(cn, VALID_SIGNER_ORG, "TEST"), key, sub.subject, sub_key, ca=False,
                     not_before=valid_from or NOW - dt.timedelta(days=30), not_after=NOW + dt.timedelta(days=700),
                     crl_url=CRL_URL, emails=emails, eku=eku, key_usage=key_usage)
        pem = serialization.Encoding.PEM
        _write(ident.key_path, key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        _write(ident.cert_path, cert.public_bytes(pem))
    return ident
