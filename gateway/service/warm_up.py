"""What a worker process warms up on before its first real job: a PDF written by hand.

A worker that imports its libraries and fills their caches with the first letter makes
that letter wait (and, for the stamping child, the letters behind it). The warm-up
file is written here, byte by byte, so that writing it needs no library the worker
would not load anyway (pypdf is ~10 MiB the stamping child has no other use for)."""
from __future__ import annotations


def pdf_of(objects: list[bytes]) -> bytes:
    """A PDF file of these object bodies, object 1 its catalog, with its xref table."""
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def blank_page() -> bytes:
    """One A4 page with nothing on it."""
    return pdf_of([b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
                   b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << >> >>"])
