"""Cryptographic core for classified letters (ลับ = confidential, ลับมาก = secret).

Every function here fails closed: when something is missing, expired, unreadable or
tampered with it raises `SecrecyError` and never hands back plaintext by another road.
"""
from gateway.secrecy.errors import SecrecyError

__all__ = ["SecrecyError"]
