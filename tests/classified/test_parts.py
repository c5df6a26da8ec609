"""The classified parts on their own: which certificates deliver, which folder, what
the plaintext register may keep, what counts as classified."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from gateway.pipeline.classified import Arrival, bare, classify, is_opaque, unreadable_secrecy
from gateway.config.settings import Settings
from gateway.delivery.registrar import registrar_certs, secret_folder
from gateway.units.directory import Directory, Unit
from gateway.secrecy.errors import SecrecyError
from gateway.secrecy.keys import KeyStore
from rules.model import Attachment, Finding, LetterFacts, ParsedMail
from tests.letters import letter
from tests.secrecy.certs import make_cert, pem


@pytest.fixture
def store(tmp_path) -> KeyStore:
    return KeyStore.for_data_dir(tmp_path)


def _import_raw(store: KeyStore, unit: str, cert) -> None:
    """Put a certificate in place as it would be after it expired in the store."""
    path = store.path / "registrars" / unit
    path.mkdir(parents=True, exist_ok=True)
    (path / f"{cert.serial_number}.pem").write_bytes(pem(cert))


def test_a_unit_without_registrar_certificate_is_not_deliverable(store):
    certs, problem = registrar_certs(store, "saraban.latkrabang")
    assert certs == [] and "no secret registrar certificate" in problem


def test_registrar_code_may_omit_the_saraban_prefix(store):
    _, cert = make_cert("registrar dds.sd")
    store.import_registrar_cert("dds.sd", pem(cert))
    certs, problem = registrar_certs(store, "saraban.dds.sd")
    assert problem is None and certs == [cert]


def test_an_expired_certificate_of_a_second_registrar_blocks_delivery(store):
    _, good = make_cert("registrar one")
    _, old = make_cert("registrar two", days=-1, starts_days_ago=400)
    store.import_registrar_cert("saraban.latkrabang", pem(good))
    _import_raw(store, "saraban.latkrabang", old)
    certs, problem = registrar_certs(store, "saraban.latkrabang")
    assert certs == [] and "registrar two" in problem and "expired" in problem


def test_a_renewed_certificate_supersedes_the_expired_one_of_the_same_person(store):
    _, renewed = make_cert("registrar one")
    _, old = make_cert("registrar one", days=-1, starts_days_ago=400)
    store.import_registrar_cert("saraban.latkrabang", pem(renewed))
    _import_raw(store, "saraban.latkrabang", old)
    certs, problem = registrar_certs(store, "saraban.latkrabang")
    assert problem is None and certs == [renewed]


def _services(units, **secrecy):
    settings = Settings.model_validate({"secrecy": secrecy} if secrecy else {})
    return SimpleNamespace(settings=settings, directory=Directory(units))


def test_secret_folder_from_template_or_unit_settings():
    plain = Unit("saraban.latkrabang", "สำนักงานเขตลาดกระบัง", "", "", "latkrabang")
    own = Unit("saraban.dds", "สำนักการระบายน้ำ", "", "", "dds", settings={"secret_folder": "dds-registrar"})
    services = _services([plain, own])
    assert secret_folder(services, "saraban.latkrabang") == "latkrabang.secret"
    assert secret_folder(services, "saraban.dds") == "dds-registrar"
    assert secret_folder(_services([plain], secret_folder="lab-{folder}"), "saraban.latkrabang") == "lab-latkrabang"
    bad = Unit("saraban.x", "x", "", "", "x", settings={"secret_folder": "../x"})
    with pytest.raises(SecrecyError):
        secret_folder(_services([bad]), "saraban.x")


def test_configuration_refuses_a_folder_that_escapes():
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        Settings.model_validate({"secrecy": {"secret_folder": "../{folder}"}})


def test_bare_findings_keep_no_file_names_or_text():
    named = Finding("naming", "warn", "ไฟล์ แผนลับ.pdf ตั้งชื่อผิด", "แผนลับ.pdf is misnamed", "แผนลับ.pdf")
    top = Finding("top_secret", "fail", "ต้องส่งเป็นกระดาษ", "on paper only")
    shown = bare([named, top])
    assert "แผนลับ" not in repr(shown)
    assert shown[0]["rule"] == "naming" and shown[0]["attachment"] is None
    assert shown[1]["message_en"] == "on paper only"


def test_a_letter_that_cannot_be_parsed_is_at_least_confidential():
    assert unreadable_secrecy(letter(subject="ลับมาก แผนงาน")) == "secret"
    assert unreadable_secrecy(letter(subject="ลับที่สุด แผนงาน")) == "top_secret"
    # Unmarked headers say nothing about the body nobody could read: fail closed.
    assert unreadable_secrecy(letter(subject="ความลับของการบริหาร")) == "confidential"


def _mail(*attachments) -> ParsedMail:
    return ParsedMail("s", "a@b", None, "a@b", None, None, (), "", "", tuple(attachments))


def _pdf(encrypted: bool, pages: int | None) -> Attachment:
    return Attachment(0, "x.pdf", "application/pdf", "attachment", b"%PDF", "application/pdf", "0" * 64,
                      pdf_encrypted=encrypted, pdf_pages=pages)


def test_smime_and_password_pdf_make_a_letter_at_least_confidential():
    plain = LetterFacts()
    assert classify(_mail(), plain, Arrival(b"", smime=True)).secrecy == "confidential"
    assert classify(_mail(_pdf(True, None)), plain, Arrival(b"")).secrecy == "confidential"
    assert classify(_mail(_pdf(True, 2)), plain, Arrival(b"")).secrecy == "none"  # owner-only protection
    assert classify(_mail(), plain, Arrival(b"")).secrecy == "none"
    assert classify(_mail(), LetterFacts(secrecy="secret"), Arrival(b"", smime=True)).secrecy == "secret"
    assert is_opaque(_mail(_pdf(True, None))) and not is_opaque(None)
