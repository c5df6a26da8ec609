"""The configuration as the runners hold it: plain objects with the fields of the validated
models (gateway/config/settings.py, gateway/config/delivery.py, gateway/sender/settings.py)
and their derived values, without pydantic.

Validation needs pydantic and its schemas: ~9 MiB of a runner that also holds SQLAlchemy,
~20 MiB of a fresh interpreter. Only the supervisor and the commands validate a file; the
runners are handed the result, once validated, as views (`as_view` in settings.py), so a
runner never imports pydantic (tests/test_process_imports.py, docs/performance.md
"Session 32"). What a model computes (a derived path, a default thread count, which
smarthost speaks STARTTLS) lives here, in mixins both the model and its view inherit:
one body for both, so a view cannot answer otherwise than its model.

Nothing here may import pydantic or a module that does."""
from __future__ import annotations

import fnmatch
import functools
import ipaddress
import os
from pathlib import Path


class ConfigError(Exception):
    """The configuration cannot be used; the message says where and why."""


DEFAULT_SMTP_PORT = 25


def parse_smarthost(value: str) -> tuple[str, int]:
    """'mail.bangkok.go.th:587' -> ('mail.bangkok.go.th', 587); '[::1]:25' works too."""
    value = value.strip()
    if value.startswith("["):
        host, _, rest = value[1:].partition("]")
        return host, int(rest.lstrip(":") or DEFAULT_SMTP_PORT)
    host, sep, port = value.rpartition(":")
    if sep and port.isdigit() and ":" not in host:
        return host, int(port)
    return value, DEFAULT_SMTP_PORT


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return host.lower().rstrip(".") == "localhost"


@functools.lru_cache(maxsize=None)
def _real_path(path: Path) -> Path:
    """An absolute [storage] data_dir's real path, resolved once a process: realpath is
    an lstat a path component, and every path of the data directory (spool, vault,
    sealed store, bells) starts there, many times a letter."""
    return path.resolve()


class SettingsDerived:
    """The whole configuration's derived paths, so no other module has to know the layout rules."""

    @property
    def data_dir(self) -> Path:
        given = self.storage.data_dir
        # A relative one against the working directory of the moment.
        return _real_path(given) if given.is_absolute() else given.resolve()

    @property
    def database_url(self) -> str:
        return self.storage.database_url or f"sqlite:///{self.data_dir / 'saraban.db'}"

    def open_database(self, lock_wait: float | None = None):  # noqa: ANN201 - storage.db.Database, imported when used
        """The database with this configuration's bounds ([storage] lock_timeout,
        statement_timeout); every process and command opens it this way. `lock_wait`:
        a shorter wait for a lock, for someone waiting at a screen (the desk)."""
        from gateway.service.doorbell import DELIVERY_BELL, ring
        from storage.db import Database

        lock_timeout = self.storage.lock_timeout if lock_wait is None else min(lock_wait, self.storage.lock_timeout)
        db = Database(self.database_url, lock_timeout, self.storage.statement_timeout)
        data_dir = self.data_dir
        db.after_outbox_change = lambda: ring(data_dir, DELIVERY_BELL)  # whichever process made the item
        from gateway.service.db_record import pin_to_running_daemon

        pin_to_running_daemon(self, db)
        return db

    @property
    def spool_dir(self) -> Path:
        return self.data_dir / "spool"

    @property
    def vault_dir(self) -> Path:
        return self.data_dir / "vault"

    @property
    def folders_dir(self) -> Path:
        return self.data_dir / self.delivery.folders_dir

    @property
    def metrics_dir(self) -> Path:
        return self.http.metrics_dir or self.data_dir / "metrics"

    @property
    def directory_path(self) -> Path:
        path = self.directory.path
        if not path.is_absolute() and self.source is not None:
            path = self.source.parent / path
        return path.resolve()

    def config_relative(self, path: Path) -> Path:
        """A path of the configuration file, relative to that file."""
        if not path.is_absolute() and self.source is not None:
            path = self.source.parent / path
        return path

    @property
    def min_free_bytes(self) -> int:
        if self.smtp.min_free_mb is None:  # Postfix's rule: one and a half of the largest message
            return self.smtp.max_message_size * 3 // 2
        return self.smtp.min_free_mb * 1024 * 1024

    def start_number(self, unit: str, book: str, year: int) -> int:
        key = unit if book == self.register_.general_book else f"{unit}/{book}"
        return self.register_.start_numbers.get(key, {}).get(year, 1)


class PipelineDerived:
    @property
    def runners(self) -> int:
        return self.workers or max(1, min(4, (os.cpu_count() or 1) // 2))


class DeliveryDerived:
    @property
    def threads(self) -> int:
        return self.workers or max(1, min(4, os.cpu_count() or 1))


class NoticesDerived:
    @property
    def uses_starttls(self) -> bool:
        """`starttls` as set, or (not set) true unless the smarthost is on this host."""
        if self.starttls is not None:
            return self.starttls
        return bool(self.smarthost) and not is_loopback(parse_smarthost(self.smarthost)[0])


class AccountDerived:
    def secret(self) -> str | None:
        if self.password_file is not None:
            try:
                return self.password_file.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ValueError(f"password_file {self.password_file}: {exc.strerror}") from None
        return self.password


class SmtpForwardDerived(AccountDerived):
    @property
    def uses_starttls(self) -> bool:
        if self.tls:
            return False  # already encrypted from the first byte
        if self.starttls is not None:
            return self.starttls
        return not is_loopback(self.host)


class ImapIntakeDerived(AccountDerived):
    @property
    def key(self) -> str:
        """Names the mailbox the same way in every gateway instance (lease and UID rows)."""
        return f"imap://{self.username}@{self.host}/{self.mailbox}"


class SenderDerived:
    def action_for(self, from_domain: str | None) -> str:
        if from_domain:
            # Thai-script domains (รัฐบาล.ไทย, the Thai-script twin of go.th) match in
            # either form: a From may carry the A-label (xn--...) or, with SMTPUTF8, the
            # Thai; a pattern may be written either way.
            domain = a_labels(from_domain.lower().rstrip("."))
            for pattern in sorted(self.domains, key=_specificity, reverse=True):
                if fnmatch.fnmatchcase(domain, a_labels(pattern.lower())):
                    return self.domains[pattern]
        return self.on_fail

    def protected(self, from_domain: str | None) -> bool:
        """A domain whose forged mail is quarantined: it gets no unverified notice."""
        return self.action_for(from_domain) == "quarantine"

    def protected_suffix(self, domain: str | None) -> bool:
        """The suffix of a quarantined wildcard ("*.go.th" -> go.th, "*.รัฐบาล.ไทย" ->
        รัฐบาล.ไทย) that no pattern names itself: the registry's name under which the
        agencies have their domains, no agency's own (gateway/sender/policy.py)."""
        if not domain:
            return False
        return a_labels(domain.lower().rstrip(".")) in _protected_suffixes(tuple(self.domains.items()))


@functools.lru_cache(maxsize=8)  # asked for each label end of a letter's domains (sender/policy.py)
def _protected_suffixes(items: tuple[tuple[str, str], ...]) -> frozenset[str]:
    patterns = {a_labels(pattern.lower()): action for pattern, action in items}
    return frozenset(pattern[2:] for pattern, action in patterns.items()
                     if action == "quarantine" and pattern.startswith("*.") and pattern[2:] not in patterns)


def a_labels(domain: str) -> str:
    """A domain (or a pattern) with each non-ASCII label in its xn-- form; as written when
    a label cannot be encoded."""
    if domain.isascii():
        return domain
    out = []
    for label in domain.split("."):
        try:
            out.append(label if label.isascii() else label.encode("idna").decode("ascii"))
        except UnicodeError:
            out.append(label)
    return ".".join(out)


def _specificity(pattern: str) -> tuple[int, int]:
    return (0 if "*" in pattern or "?" in pattern else 1, len(pattern))


class View:
    """One validated table's fields as attributes (`model`: the model's class name, for
    a reader of a repr). Built only by settings.as_view from a model that passed
    validation; never validated again."""

    def __init__(self, model: str, fields: dict) -> None:
        self.__dict__["_model"] = model
        self.__dict__.update(fields)

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in self.__dict__.items() if k != "_model")
        return f"{self._model}View({fields})"

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.__dict__ == self.__dict__

    __hash__ = None  # type: ignore[assignment] - as the models: mutable, compared by value


class SettingsView(View, SettingsDerived):
    pass


class PipelineView(View, PipelineDerived):
    pass


class DeliveryView(View, DeliveryDerived):
    pass


class NoticesView(View, NoticesDerived):
    pass


class AccountView(View, AccountDerived):
    pass


class SmtpForwardView(View, SmtpForwardDerived):
    pass


class ImapIntakeView(View, ImapIntakeDerived):
    pass


class SenderView(View, SenderDerived):
    pass


# A model's view class by the model's name; any other model is a plain View.
VIEWS: dict[str, type[View]] = {
    "Settings": SettingsView, "PipelineSection": PipelineView, "DeliverySection": DeliveryView,
    "NoticesSection": NoticesView, "ImapServer": AccountView, "RegistrarRoute": AccountView,
    "UnitDelivery": AccountView, "SmtpForward": SmtpForwardView, "ImapIntake": ImapIntakeView,
    "SenderSection": SenderView,
}
