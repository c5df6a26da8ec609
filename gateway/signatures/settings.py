"""The `[signatures]` configuration turned into what the runners use: trust, seal, policy.

Relative paths are relative to the configuration file (like `[directory] path`), so a
deployment can keep its PEM bundles beside gateway.toml. The seal that signs the receive
stamp is the key store's seal key (`<data_dir>/keys/seal/`, EC P-256) unless
`seal_key`/`seal_cert` name one; a key store made before session 51 has none and signs
with its gateway key (`keys/gateway/`, RSA, shared with the secrecy module) until the
operator runs `keys create-seal`. A gateway that has no key yet gets both at first start.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING

import structlog

from gateway.config.views import ConfigError
from gateway.secrecy.key_files import fingerprints_in, gateway_dir, keys_dir, seal_common_name, seal_dir
from gateway.signatures.stamp import DEFAULT_FONT, SealKey
from gateway.signatures.trust import TrustConfigError, TrustSettings

if TYPE_CHECKING:
    from gateway.config.settings import Settings

log = structlog.get_logger(__name__)

RULE = "signature"  # the rule name of signature findings (rules/policy.py actions)
_ACTIONS = {"review": "warn", "reject": "reject"}


def _resolve(settings: Settings, path: str | Path) -> Path:
    path = Path(path).expanduser()
    if not path.is_absolute() and settings.source is not None:
        path = settings.source.parent / path
    return path


def _paths(settings: Settings, value: str | None) -> list[Path]:
    return [_resolve(settings, p) for p in (value or "").split(":") if p.strip()]


def trust_from_settings(settings: Settings) -> TrustSettings:
    """The operator's trust roots, intermediates and revocation cache, read now.
    Raises ConfigError (naming the file) when a bundle cannot be used."""
    sig = settings.signatures
    try:
        # SARABAN_TRUST_ROOTS already replaced trust_roots in load_settings; env={}
        # keeps TrustSettings from reading it a second time.
        trust = TrustSettings.load(
            _paths(settings, sig.trust_roots),
            _paths(settings, sig.intermediates),
            _resolve(settings, sig.revocation_dir) if sig.revocation_dir else None,
            allow_fetching=sig.online_revocation,
            revocation_mode=sig.revocation_mode,
            env={},
        )
    except TrustConfigError as exc:
        raise ConfigError(f"{settings.source}: [signatures] {exc}") from None
    return dataclasses.replace(trust, own_seals=seal_certificates(settings),
                               intermediates=trust.intermediates + _seal_chain(settings))


def seal_certificates(settings: Settings) -> tuple[bytes, ...]:
    """DER of every certificate the gateway has sealed stamps with: the configured
    `seal_cert`, or each seal and gateway key in the key store (older stamps were made
    with older keys, and before session 51 with the gateway key).
    Public certificates only: no private key is read, so any user may run `verify`."""
    from asn1crypto import pem as asn1_pem

    sig = settings.signatures
    if sig.seal_cert:
        paths = [_resolve(settings, sig.seal_cert)]
    else:
        store = keys_dir(settings.data_dir)
        paths = [kind / fp / "cert.pem" for kind in (seal_dir(store), gateway_dir(store))
                 for fp in fingerprints_in(kind)]
    out = []
    for path in paths:
        try:
            data = path.read_bytes()
        except OSError:
            continue  # a missing seal only costs its stamps' trust; the start-up check names it
        blocks = [der for _, _, der in asn1_pem.unarmor(data, multiple=True)] if asn1_pem.detect(data) else [data]
        out.extend(blocks[:1])
    return tuple(out)


def _seal_chain(settings: Settings) -> tuple[bytes, ...]:
    from asn1crypto import pem as asn1_pem

    out = []
    for path in _paths(settings, settings.signatures.seal_chain):
        try:
            data = path.read_bytes()
        except OSError:
            continue
        if asn1_pem.detect(data):
            out.extend(der for _, _, der in asn1_pem.unarmor(data, multiple=True))
        else:
            out.append(data)
    return tuple(out)


def policy_tables(settings: Settings) -> tuple[dict[str, str], dict[str, dict[str, str]]]:
    """The `[signatures] on_failure` choices as rules-policy tables for rule `signature`.

    An explicit `signature` entry in `[rules.policy]` / `[rules.unit_policy]` wins."""
    sig = settings.signatures
    default = dict(settings.rules.policy)
    default.setdefault(RULE, _ACTIONS[sig.on_failure])
    per_unit = {unit: dict(table) for unit, table in settings.rules.unit_policy.items()}
    for unit, choice in sig.unit_on_failure.items():
        unit = unit.split("@", 1)[0].lower()
        per_unit.setdefault(unit, {}).setdefault(RULE, _ACTIONS[choice])
    return default, per_unit


def load_seal(settings: Settings, *, create: bool = False) -> SealKey:
    """The key and certificate that sign the receive stamp.

    With `create`, a gateway without any key gets its two (the daemon does this once at
    start-up, before the runners exist, so two runners never race): the seal first, so
    that a start cut short between them does not leave a store that stamps with its
    gateway key for good."""
    from gateway.secrecy.errors import SecrecyError
    from gateway.secrecy.keys import NEW_RSA_BITS, KeyStore, seal_address

    sig = settings.signatures
    if sig.seal_key or sig.seal_cert:
        if not (sig.seal_key and sig.seal_cert):
            raise ConfigError(f"{settings.source}: [signatures] seal_key and seal_cert must be set together")
        try:
            return SealKey.load(_resolve(settings, sig.seal_key), _resolve(settings, sig.seal_cert),
                                _paths(settings, sig.seal_chain))
        except OSError as exc:
            raise ConfigError(f"{settings.source}: [signatures] seal: cannot read {exc.filename}: {exc.strerror}") from None
    store = KeyStore.for_data_dir(settings.data_dir)
    if create and not store.gateway_fingerprints():
        if not store.seal_fingerprints():
            fp = store.create_seal_key(seal_common_name(settings))
            log.info("seal_key_created", fingerprint=fp, store=str(store.path), key="EC P-256")
        fp = store.create_gateway_key(seal_common_name(settings), email=seal_address(settings))
        log.info("gateway_key_created", fingerprint=fp, store=str(store.path), key=f"RSA {NEW_RSA_BITS}")
    try:
        return _store_seal(store.path).resolved()
    except SecrecyError as exc:
        raise ConfigError(f"receive stamp: {exc}") from None


def _store_seal(keys_dir) -> SealKey:
    """The key store's seal, named, not read: its own seal key, else (a store made before
    session 51) its gateway key. Raises SecrecyError when neither is there or the seal's
    CURRENT is damaged."""
    from gateway.secrecy.key_files import current_gateway_fingerprint, current_seal_fingerprint

    fp = current_seal_fingerprint(keys_dir)
    if fp is not None:
        return SealKey.in_store(keys_dir, fp, slot="seal")
    return SealKey.in_store(keys_dir, current_gateway_fingerprint(keys_dir))


def seal_for_stamping(settings: Settings) -> SealKey:
    """The seal the delivery runner hands its stamping child: `load_seal`'s, except that
    the key store's key is named (its fingerprint), not read, and the child reads and
    checks it (`SealKey.resolved`): the runner loads no `cryptography` for it. A seal
    the child finds unusable is said for each letter (`X-Saraban-Stamp: none: ...`) and
    looked at again once the key store's files change (receive_stamp.py `stamper_for`)."""
    from gateway.secrecy.errors import SecrecyError
    from gateway.secrecy.key_files import keys_dir

    sig = settings.signatures
    if sig.seal_key or sig.seal_cert:
        return load_seal(settings)  # the operator's PEM files, read as they are
    try:
        return _store_seal(keys_dir(settings.data_dir))
    except SecrecyError as exc:
        raise ConfigError(f"receive stamp: {exc}") from None


def stamp_font(settings: Settings) -> Path:
    font = settings.signatures.stamp_font
    return _resolve(settings, font) if font else DEFAULT_FONT


def _check_stamp_font(settings: Settings) -> None:
    font = stamp_font(settings)
    if not font.is_file():
        raise ConfigError(f"{settings.source}: [signatures] stamp_font {font} does not exist "
                          "(install fonts-tlwg-garuda-ttf or set stamp_font)")


def check_stamp_files(settings: Settings) -> None:
    """What `prepare_signatures` refuses at start of the receive stamp's files, read
    without creating anything (check-config): the font, and the operator's own seal
    (`seal_key` and `seal_cert` together, readable, one pair). The key store's seal is
    not checked here: the start makes one when there is none, and an unusable one does
    not stop the start (the copies say why they carry no stamp)."""
    sig = settings.signatures
    if not sig.stamp:
        return
    _check_stamp_font(settings)
    if sig.seal_key or sig.seal_cert:
        load_seal(settings)


def prepare_signatures(settings: Settings) -> None:
    """Daemon start-up: fail early on an unusable trust bundle or seal, create the seal
    key if there is none, and say plainly when nothing is trusted."""
    sig = settings.signatures
    if sig.verify:
        trust = trust_from_settings(settings)
        if not trust.roots:
            log.warning("no_trust_roots",
                        hint="no signature can validate; set [signatures] trust_roots or SARABAN_TRUST_ROOTS")
        else:
            log.info("trust_roots_loaded", roots=len(trust.roots), crls=len(trust.crls),
                     ocsps=len(trust.ocsps), online=trust.allow_fetching)
    if sig.stamp:
        _check_stamp_font(settings)
        try:
            load_seal(settings, create=True)
        except ConfigError as exc:
            if sig.seal_key or sig.seal_cert:
                raise  # the operator's own files: a configuration mistake, say so now
            # An expired or damaged key store must not stop letters being received:
            # they are filed without the stamp, and the copy says why (X-Saraban-Stamp).
            # A store with seals of its own is mended by a new seal: `keys create` and
            # `keys import` make gateway keys, which do not sign its stamps.
            seals = bool(fingerprints_in(seal_dir(keys_dir(settings.data_dir))))
            log.error("seal_unusable", error=str(exc),
                      hint="saraban-gateway keys create-seal --rotate" if seals
                      else "saraban-gateway keys create / keys import")
