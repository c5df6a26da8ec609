"""Whether a message's top-level entity is labelled S/MIME, from its header fields alone.

application/pkcs7-mime (or the x- form), or application/octet-stream whose name or
filename ends in `.p7m`: [MS-OXOSMIME] says an entity so labelled SHOULD be treated as
opaque-signed or encrypted, and Exchange and Outlook do; relays and older clients label
S/MIME so (RFC 8551 3.2.1 names `.p7m` for the file). What it is, encrypted or signed, is
its DER's to say (`envelope._incoming_encrypted_der`), never the label's.
"""
from __future__ import annotations

import email.message
import email.utils

PKCS7_MIME = frozenset({"application/pkcs7-mime", "application/x-pkcs7-mime"})


def smime_labelled(message: email.message.Message) -> bool:
    ctype = message.get_content_type()
    if ctype in PKCS7_MIME:
        return True
    if ctype != "application/octet-stream":
        return False
    for name in (message.get_param("name"), message.get_param("filename", header="content-disposition")):
        name = email.utils.collapse_rfc2231_value(name) if name else ""
        if str(name).strip().lower().endswith(".p7m"):
            return True
    return False


def octet_stream_signed(message: email.message.Message) -> bool:
    """An application/octet-stream `.p7m` entity whose body is CMS signed data carrying its
    content (opaque-signed): read and verified as application/pkcs7-mime signed-data is.
    Junk so named stays the file it is."""
    if message.get_content_type() in PKCS7_MIME or not smime_labelled(message):
        return False
    from asn1crypto import cms

    from gateway.secrecy import ber

    try:
        der = message.get_payload(decode=True) or b""
        if not ber.within_limit(der):
            return False
        info = cms.ContentInfo.load(der)
        return info["content_type"].native == "signed_data" \
            and info["content"]["encap_content_info"]["content"].contents is not None
    except Exception:  # noqa: BLE001 - not DER: not S/MIME, whatever its name
        return False
