"""The gateway's configuration: one TOML file, validated at start-up.

An error names the file, the key and what is wrong, because the person reading it is a
sysadmin at a console, not a Python programmer. Environment variables override the
file so that systemd units and containers can adjust a deployment without editing it.
"""
from __future__ import annotations

import json
import os
import re
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from gateway.config.bounds import LONGEST, Section
from gateway.sender.settings import DnsSection, SenderSection
from gateway.intake.client_block import networks
from rules.thai_time import REGISTER_YEARS
from gateway.config.delivery import (ImapIntake, ImapServer, SmtpForward, UnitDelivery, check_routes, mask_secrets,
                                     mask_url, no_plain_password)
from gateway.config.views import (VIEWS, ConfigError, DeliveryDerived, NoticesDerived, PipelineDerived,
                                  SettingsDerived, View, parse_smarthost)

DEFAULT_CONFIG = Path(__file__).resolve().parents[2] / "config" / "gateway.example.toml"
# docs/install.md's place, which the systemd unit names (SARABAN_CONFIG): an installed
# package has no config/ beside it, and a sysadmin's `saraban-gateway keys list` was told
# ".../site-packages/config/gateway.example.toml: configuration file not found".
SERVICE_CONFIG = Path("/etc/saraban-gateway/gateway.toml")

# SARABAN_* variable -> (section, key). SARABAN_CONFIG picks the file itself.
ENV_OVERRIDES = {
    "SARABAN_DATA_DIR": ("storage", "data_dir"),
    "SARABAN_DATABASE_URL": ("storage", "database_url"),
    "SARABAN_SMTP_HOST": ("smtp", "host"),
    "SARABAN_SMTP_PORT": ("smtp", "port"),
    "SARABAN_SMARTHOST": ("notices", "smarthost"),
    "SARABAN_TRUST_ROOTS": ("signatures", "trust_roots"),
    "SARABAN_HTTP_PORT": ("http", "port"),
}


class _Section(Section):
    pass


class GatewaySection(_Section):
    domain: str = "bangkok.go.th"
    # The register's day and Buddhist-era year are Bangkok's whatever the host's zone
    # (rules/thai_time.py). Until session 36 any value passed and did nothing
    # (`Asia/Bangkokk`), so a sysadmin believed the register followed it.
    timezone: str = "Asia/Bangkok"

    @field_validator("timezone")
    @classmethod
    def _bangkok_only(cls, value: str) -> str:
        if value.strip() not in ("Asia/Bangkok", "+07:00", "UTC+7", "ICT"):
            raise ValueError(f"{value!r}: the register keeps Bangkok time (Asia/Bangkok) by the regulation on "
                             "official correspondence, whatever the host's zone; write \"Asia/Bangkok\" or leave it out")
        return "Asia/Bangkok"


class SmtpSection(_Section):
    host: str = "127.0.0.1"
    port: int = Field(2525, ge=0, le=65535)
    hostname: str = "saraban-gateway.localdomain"  # name in the greeting and EHLO reply
    max_message_size: int = Field(50 * 1024 * 1024, ge=1024)  # announced in EHLO SIZE
    # The header block (every header line before the body) a letter may have, answered
    # "552 5.3.4" at the end of DATA (Exim header_maxsize); the pipeline holds a letter
    # that came another way (IMAP intake) with a longer one in quarantine, sealed.
    max_header_size: int = Field(1024 * 1024, ge=64 * 1024)
    max_recipients: int = Field(100, ge=1)
    # Timeouts (Postfix smtpd_timeout-like), each answered "421 4.4.2" before closing:
    command_timeout: float = Field(300.0, gt=0)  # waiting for the next command
    data_timeout: float = Field(300.0, gt=0)  # a DATA read that brings nothing
    session_timeout: float = Field(1800.0, gt=0)  # a whole session, however busy
    # Concurrent sessions, answered "421 4.7.0" beyond them (Postfix
    # smtpd_client_connection_count_limit); the total is lowered at start if the open
    # files limit minus fd_reserve cannot hold two descriptors per session.
    max_connections: int = Field(1000, ge=1)
    max_connections_per_ip: int = Field(50, ge=1)
    # New sessions one client IP may open a minute, beyond which it hears "421 4.7.0"
    # at connect (Postfix smtpd_client_connection_rate_limit); 0: no limit (Postfix's
    # default). For a gateway the internet reaches: a few hundred.
    max_connection_rate_per_ip: int = Field(0, ge=0)
    # A per-IP limit (max_connections_per_ip, data_checks_per_ip) counts an IPv6 client's
    # whole network of this many bits (Postfix smtpd_client_ipv6_prefix_length): one
    # host owns a /64 and can take a new address per connection. 128: the exact address.
    client_ipv6_prefix_length: int = Field(64, ge=16, le=128)
    fd_reserve: int = Field(256, ge=32)  # descriptors kept for spool, database, runners
    # MAIL FROM is answered "452 4.3.1" when the spool's, the vault's or the folders' file
    # system would keep less than this free (Postfix queue_minfree; with SIZE=, after
    # that message). Not set: one and a half times max_message_size. 0: only SIZE= counts.
    min_free_mb: int | None = Field(None, ge=0)
    # The check at DATA (ลับที่สุด is refused before anything is kept) runs on 2 worker
    # processes, 1 after 10 minutes without two letters at once. A letter waits at most
    # this many seconds for one, then its sender hears "451 4.3.2" and retries: never a
    # letter accepted unchecked. The wait, like the check, counts in session_timeout.
    data_check_queue_timeout: float = Field(5.0, gt=0)
    # Checks one client IP may have waiting or running at once (the rest of its letters
    # wait their turn within data_check_queue_timeout): one sender's slow letters cannot
    # hold every worker.
    data_checks_per_ip: int = Field(1, ge=1)
    # Networks the two per-IP limits do not count (Postfix's
    # smtpd_client_event_limit_exceptions, $mynetworks there): a relay in front of the
    # gateway is one IP for every sender behind it. max_connections still holds.
    client_limit_exceptions: list[str] = Field(default_factory=list)
    # STARTTLS (RFC 3207) for the senders' mail servers: this host's certificate chain and
    # its key, PEM files (relative to this file), read at start and again at each reload
    # (SIGHUP: a renewed certificate without a restart). Both or neither.
    tls_certificate: Path | None = None
    tls_key: Path | None = None
    # Refuse a letter over an unencrypted session ("530 5.7.0" until STARTTLS): for a
    # gateway only the BMA's own relays reach, all of them able to encrypt.
    require_tls: bool = False

    @field_validator("client_limit_exceptions")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        networks(value)  # ValueError naming the bad entry
        return value

    @model_validator(mode="after")
    def _tls_pair(self) -> "SmtpSection":
        if (self.tls_certificate is None) != (self.tls_key is None):
            raise ValueError("set both tls_certificate and tls_key (PEM files), or neither")
        if self.require_tls and self.tls_certificate is None:
            raise ValueError("require_tls needs tls_certificate and tls_key")
        return self


class StorageSection(_Section):
    data_dir: Path = Path("var")
    database_url: str | None = None  # default: sqlite file in data_dir
    # Bounds on a database another program holds up (docs/database.md, "When the
    # database is stuck"): a lock waited for at most lock_timeout (SQLite's busy_timeout,
    # PostgreSQL's lock_timeout), a PostgreSQL statement run at most statement_timeout.
    lock_timeout: float = Field(60.0, gt=0, le=3600)
    statement_timeout: float = Field(300.0, gt=0, le=86400)

    @field_validator("database_url")
    @classmethod
    def _database(cls, value: str | None) -> str | None:
        # A URL SQLAlchemy cannot use was found only when a command connected: `status`
        # said "the database refused (NoSuchModuleError: Can't load plugin:
        # sqlalchemy.dialects:postgres); is it reachable?", mysql:// was a traceback.
        if value is None or value == "":
            return None
        if value.startswith("postgres://"):  # libpq's short form, which SQLAlchemy dropped
            return "postgresql+psycopg://" + value[len("postgres://"):]
        if not value.startswith(("sqlite://", "postgresql://", "postgresql+psycopg://")):
            raise ValueError("use sqlite:///PATH or postgresql+psycopg://USER:PASSWORD@HOST/DATABASE "
                             "(docs/database.md)")
        return value


class DirectorySection(_Section):
    path: Path = Path("units.toml")  # relative to the configuration file


class RegisterSection(_Section):
    general_book: str = "general"  # ทะเบียนหนังสือรับ: the ordinary receive register
    secret_book: str = "secret"  # ทะเบียนหนังสือรับลับ: kept by the secret registrar
    # Cut-over from the previous system: the first number a register gives in a year.
    # Keys are "<unit>" (general book) or "<unit>/<book>"; values map BE year -> number.
    start_numbers: dict[str, dict[int, int]] = Field(default_factory=dict)
    # Refuse letters (SMTP 451, IMAP left in the mailbox) while the host's clock is in a
    # year before the register's newest (gateway/intake/clock_guard.py).
    clock_check: bool = True
    # At start, the numbers the filed copies carry are read back (docs/operations.md,
    # "Receive numbers after a restore"): the newest this many copies of each folder...
    check_copies: int = Field(default=500, ge=1)
    # ...and after `backup restore`, while a folder cannot be read, numbering waits and
    # the folders are read again after this many seconds.
    check_retry: float = Field(default=30.0, gt=0)

    @field_validator("start_numbers")
    @classmethod
    def _positive(cls, value: dict[str, dict[int, int]]) -> dict[str, dict[int, int]]:
        for register, years in value.items():
            for year, number in years.items():
                if year not in REGISTER_YEARS:
                    raise ValueError(f"{register}: {year} is not a Buddhist-era year")
                if number < 1:
                    raise ValueError(f"{register}: start number for {year} must be >= 1")
        return value


class PipelineSection(_Section, PipelineDerived):
    # Pipeline runner processes; 0 = one per two cores (at least 1, at most 4). Parsing,
    # rules and the register are a fifth of a letter's CPU: on two cores one runner
    # registered and filed as many letters a second as two did, signed ones too, and its
    # process (~95 MiB, with a PDF worker for signed letters ~195) was saved (session 23,
    # docs/performance.md); the DATA check, the delivery runner and its stamping
    # children keep the other core busy.
    workers: int = Field(0, ge=0, le=32)
    # Letters registered in one transaction (group commit, gateway/pipeline/process.py).
    batch: int = Field(16, ge=1, le=256)
    poll_interval: float = Field(0.05, gt=0)
    max_attempts: int = Field(5, ge=1)  # a message failing this often is parked (spool/failed, sealed; `reprocess`)
    # Seconds of PDF work (text layers and signatures together) one letter may take;
    # past it the rest of its PDFs are noted "not read in time" and the letter goes on,
    # so a letter of slow PDFs cannot hold the letters behind it.
    pdf_budget: float = Field(30.0, gt=0)
    # Seconds of CPU the rest of one letter's reading may take (its MIME tree, bodies,
    # HTML, files' texts and the markings read from them; PDF work is pdf_budget's); past it
    # the letter is sealed unread and held in quarantine (`reading_time`), so that 50 MB
    # of hostile HTML cannot hold a runner for minutes (gateway/pipeline/reading_time.py).
    read_budget: float = Field(30.0, gt=0)


class DeliverySection(_Section, DeliveryDerived):
    backend: Literal["maildir", "imap", "smtp"] = "maildir"
    folders_dir: Path = Path("folders")  # under data_dir unless absolute
    retry_base: float = Field(5.0, gt=0)  # seconds; doubles each attempt
    retry_max: float = Field(3600.0, gt=0)
    dead_after: float = Field(3 * 24 * 3600.0, gt=0)  # seconds until an item is dead
    # Outbox items worked at once by the delivery runner (threads); 0 = one per core (at
    # most 4). The receive stamp is CPU work in a stamping child the threads share, and
    # one more per thread held up by a slow file (gateway/signatures/receive_stamp.py).
    workers: int = Field(0, ge=0, le=16)
    # Outbox items a delivery thread reads, decides (notices) and marks done in one
    # transaction each (gateway/delivery/runner.py); 1 = one item at a time.
    batch: int = Field(16, ge=1, le=256)
    # Mail-server backends (docs/imap.md): named servers, and which unit files where.
    imap: dict[str, ImapServer] = Field(default_factory=dict)
    smtp: dict[str, SmtpForward] = Field(default_factory=dict)
    units: dict[str, UnitDelivery] = Field(default_factory=dict)

    @property
    def default_route(self) -> UnitDelivery:
        """Where a unit without its own [delivery.units."<unit>"] table is filed."""
        return UnitDelivery(backend=self.backend)

    @model_validator(mode="after")
    def _routes(self) -> "DeliverySection":
        check_routes(self.imap, self.smtp, self.units, self.backend)
        return self


class RulesSection(_Section):
    filename_pattern: str | None = None  # None: the pattern of appendix ข 2.2
    policy: dict[str, Literal["warn", "reject", "ignore"]] = Field(default_factory=dict)
    unit_policy: dict[str, dict[str, Literal["warn", "reject", "ignore"]]] = Field(
        default_factory=dict
    )


class NoticesSection(_Section, NoticesDerived):
    enabled: bool = True
    smarthost: str | None = None  # host[:port]; None: notices stay queued
    # None (not set): STARTTLS unless the smarthost is on this host. A notice carries the
    # receive number and the letter's subject; false sends them over the network in plain.
    starttls: bool | None = None
    ca_file: Path | None = None  # trust this CA/certificate for STARTTLS, not the system store; relative to this file
    username: str | None = None
    password: str | None = None
    from_address: str | None = None  # default: the unit's own address
    max_per_sender_per_hour: int = Field(20, ge=0)  # per address, its +tag removed
    max_per_domain_per_hour: int = Field(200, ge=0)  # per recipient domain
    thai_digits: bool = False
    templates_dir: Path | None = None  # searched before gateway/templates/; relative to this file
    envelope_sender: str = ""  # SMTP MAIL FROM of notices; "" is the null reverse-path (RFC 3834)
    timeout: float = Field(30.0, gt=0)  # seconds for one notice, connecting to the 250
    # A notice to a unit of this gateway (saraban.dds@bangkok.go.th): "smarthost" sends it
    # as any other (the default: a site's smarthost may deliver the units' addresses
    # elsewhere than to this gateway); "file" puts it into the unit's folder, for a site
    # whose smarthost gives those addresses back to this gateway (docs/notices.md).
    own_units: Literal["file", "smarthost"] = "smarthost"

    @model_validator(mode="after")
    def _password_encrypted(self) -> "NoticesSection":
        if self.smarthost:
            no_plain_password(parse_smarthost(self.smarthost)[0], self.uses_starttls, self.username, "[notices]")
        return self


class SignaturesSection(_Section):
    trust_roots: str | None = None  # PEM files, ':'-separated
    intermediates: str | None = None
    revocation_dir: Path | None = None
    online_revocation: bool = False
    timeout: float = Field(20.0, gt=0)
    # Verification (docs/signatures.md): caps per PDF, checked in a worker process.
    verify: bool = True
    revocation_mode: Literal["soft-fail", "hard-fail", "require"] = "soft-fail"
    max_bytes: int = Field(50 * 1024 * 1024, ge=1024)
    max_pages: int = Field(500, ge=1)
    memory_mb: int = Field(1536, ge=0)  # per verification worker; 0 = unlimited
    # What a failed/indeterminate/altered signature does: "review" registers the letter
    # and flags it (Letter.review), "reject" quarantines it. Per unit: {unit = action}.
    on_failure: Literal["review", "reject"] = "review"
    unit_on_failure: dict[str, Literal["review", "reject"]] = Field(default_factory=dict)
    # Receive stamp (ตรารับ) on the folder copy, as the appearance of a gateway seal.
    stamp: bool = True
    seal_key: Path | None = None  # PEM; default: the gateway key of <data_dir>/keys
    seal_cert: Path | None = None
    seal_chain: str | None = None  # PEM files up to (not incl.) the root, ':'-separated
    stamp_font: Path | None = None  # default TLWG Garuda; a TH Sarabun .ttf works too
    stamp_thai_digits: bool = True


class HttpSection(_Section):
    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = Field(9025, ge=0, le=65535)
    # prometheus-client multiprocess sample files; default <data_dir>/metrics
    metrics_dir: Path | None = None


class WebLdap(_Section):
    """Sign-in against the organisation's directory (Active Directory or OpenLDAP).
    The person's entry is found under `base_dn` by `user_filter` ({username} is
    escaped), then bound with the typed password. Role and units come from the local
    account of the same name (`users add --ldap`): the directory says who, we say what."""

    url: str  # ldap://dc1.bma.local or ldaps://...
    base_dn: str
    user_filter: str = "(sAMAccountName={username})"  # OpenLDAP: (uid={username})
    bind_dn: str | None = None  # a service account to search with; None: anonymous search
    bind_password: str | None = None
    start_tls: bool = False
    # The directory's certificate is checked (its chain and its name, for ldaps:// and
    # start_tls): against these CA certificates (PEM), else the system's trust store.
    ca_file: Path | None = None
    timeout: float = Field(10.0, gt=0)
    # A signed-in directory account is looked up again at most this often: removed from
    # the directory (or no longer matched by user_filter), its sessions end. 0: every page.
    recheck_minutes: float = Field(5.0, ge=0)

    @model_validator(mode="after")
    def _encrypted(self) -> "WebLdap":
        # Every typed password and the service account's go over this connection: in
        # clear only to a directory on this machine (session 38).
        from urllib.parse import urlsplit

        parts = urlsplit(self.url)
        if parts.scheme.lower() not in ("ldap", "ldaps") or not parts.hostname:
            raise ValueError(f"url must be ldaps://host[:port] or ldap://host[:port] (got {self.url!r})")
        if parts.scheme.lower() == "ldap" and not self.start_tls and \
                parts.hostname.lower() not in ("127.0.0.1", "::1", "localhost"):
            raise ValueError("an ldap:// directory on another machine would get every password in clear: "
                             "use ldaps:// or set start_tls = true")
        if self.ca_file is not None and not self.ca_file.is_file():
            raise ValueError(f"ca_file: no such file ({self.ca_file})")
        return self


class WebSection(_Section):
    """The central unit's web desk (docs/console.md)."""

    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = Field(8025, ge=0, le=65535)
    # Behind the TLS reverse proxy the cookie must carry Secure; only a desk reached
    # over plain http on loopback for a demonstration may turn it off.
    cookie_secure: bool = True
    # At most ten years (gateway/config/bounds.py): turned into a timedelta at each
    # sign-in, a larger number raised OverflowError there and passed check-config.
    session_idle_minutes: int = Field(30, ge=1, le=LONGEST // 60)
    session_hours: int = Field(10, ge=1, le=LONGEST // 3600)
    max_failed_logins: int = Field(5, ge=1)  # then the account is locked ...
    lockout_minutes: int = Field(15, ge=1, le=LONGEST // 60)  # ... for this long
    login_attempts_per_minute: int = Field(20, ge=1)  # per client address, any account
    max_upload_mb: int = Field(20, ge=1)
    # Each argon2id password check takes 64 MiB (and four threads) while it runs, in the
    # daemon's own process: at most this many run at once (gateway/web/auth.py). A
    # sign-in waits at most password_check_wait_seconds for its turn, then is told the
    # desk is busy (503). Until session 44 both were constants (2 and 10 s).
    password_checks_at_once: int = Field(2, ge=1, le=64)
    password_check_wait_seconds: float = Field(10.0, gt=0, le=300)
    # Rows of the register book the desk prints as PDF at once (its export page). The book
    # is laid out in the daemon's own process, some 25 ms of CPU a row with Thai shaping:
    # a year of 50,000 letters ran for more than 15 minutes of CPU and 380 MB, long after
    # the browser and the proxy had given up (session 56). More is a date range or the CSV.
    max_printed_rows: int = Field(3000, ge=1)
    # The desk shares the daemon's process with the SMTP listener: a request's head (its
    # line and headers) must arrive within request_head_seconds, and at most
    # max_connections are open at once, max_connections_per_address from one client
    # (a trusted proxy's are not counted by address). Until session 57 a client sending
    # a head a byte at a time held its connection for ever, and held as many as it liked
    # (gateway/web/slow_clients.py).
    request_head_seconds: float = Field(20.0, gt=0, le=3600)
    max_connections: int = Field(512, ge=1, le=60000)
    max_connections_per_address: int = Field(64, ge=1, le=60000)
    # The reverse proxies whose X-Forwarded-For (and -Proto) the desk believes: the
    # sign-in limits count per client address. None by default: any local user could
    # otherwise connect to 127.0.0.1 and name a new address for each guess.
    trusted_proxies: list[str] = Field(default_factory=list)
    ldap: WebLdap | None = None

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies(cls, value: list[str]) -> list[str]:
        networks(value)  # ValueError naming the bad entry
        return value


class ServiceSection(_Section):
    """Shutdown bounds (docs/operations.md); systemd's TimeoutStopSec must exceed their sum."""

    drain_timeout: float = Field(10.0, ge=0)  # open SMTP sessions get this long after SIGTERM
    runner_grace: float = Field(15.0, gt=0)  # a runner finishes the letter in hand within this
    # Added to the runners' nice value (their PDF and stamping workers inherit it): when
    # both cores are busy, SMTP sessions and their DATA check go first, so senders get
    # their 250 while the backlog waits its turn (it still gets its share of the CPU).
    background_nice: int = Field(5, ge=0, le=19)


class SecrecySection(_Section):
    """Classified letters (ลับ/ลับมาก): where sealed copies and alerts are filed."""

    # The secret registrar's (นายทะเบียนลับ) Maildir under folders_dir; {folder} is the
    # unit's folder. A unit may override it with `secret_folder` in [unit.settings].
    secret_folder: str = "{folder}.secret"
    alert_folder: str = "secrecy-alerts"  # the central unit's Maildir for alerts
    from_address: str | None = None  # From of sealed mail; default saraban-gateway@<domain>

    @field_validator("secret_folder", "alert_folder")
    @classmethod
    def _folder(cls, value: str) -> str:
        probe = value.replace("{folder}", "unit")
        if not re.fullmatch(r"[a-z0-9][a-z0-9._-]{0,100}", probe) or ".." in probe:
            raise ValueError("a folder name of a-z 0-9 . _ - (no '..', no '/')")
        return value


class ExportSection(_Section):
    # TrueType fonts of the printed register (PDF); TLWG Garuda is in Debian's
    # fonts-tlwg-garuda-ttf. Laksaman (fonts-tlwg-laksaman-ttf) looks like TH Sarabun.
    font: Path = Path("/usr/share/fonts/truetype/tlwg/Garuda.ttf")
    font_bold: Path | None = Path("/usr/share/fonts/truetype/tlwg/Garuda-Bold.ttf")


class LoggingSection(_Section):
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["json", "console"] = "json"


class Settings(_Section, SettingsDerived):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    gateway: GatewaySection = GatewaySection()
    smtp: SmtpSection = SmtpSection()
    storage: StorageSection = StorageSection()
    directory: DirectorySection = DirectorySection()
    # "register" is a method name on pydantic models, hence the alias.
    register_: RegisterSection = Field(default_factory=RegisterSection, alias="register")
    pipeline: PipelineSection = PipelineSection()
    delivery: DeliverySection = DeliverySection()
    rules: RulesSection = RulesSection()
    notices: NoticesSection = NoticesSection()
    signatures: SignaturesSection = SignaturesSection()
    dns: DnsSection = DnsSection()  # resolver of the sender checks (gateway/sender/)
    sender: SenderSection = SenderSection()  # SPF/DKIM/DMARC policy per sender domain
    http: HttpSection = HttpSection()
    web: WebSection = WebSection()
    service: ServiceSection = ServiceSection()
    secrecy: SecrecySection = SecrecySection()
    export: ExportSection = ExportSection()
    logging: LoggingSection = LoggingSection()
    imap_intake: list[ImapIntake] = Field(default_factory=list)  # [[imap_intake]] mailboxes
    source: Path | None = None  # the file this came from

    def effective(self) -> dict[str, Any]:
        """The configuration as it will be used, secrets masked, for check-config."""
        data = self.model_dump(mode="json", exclude={"source"}, by_alias=True)
        if data["notices"].get("password"):
            data["notices"]["password"] = "********"
        data = mask_secrets(data)
        data["effective"] = {
            "source": str(self.source) if self.source else None,
            "data_dir": str(self.data_dir),
            "database_url": _mask_url(self.database_url),
            "directory": str(self.directory_path),
            "folders_dir": str(self.folders_dir),
        }
        return data


def as_view(value: Any) -> Any:
    """A validated model as plain objects for a runner (gateway/config/views.py): every
    field, recursively, in the view class of its model, which computes what the model
    computes; anything else as it is (paths, numbers and strings; lists and dicts copied)."""
    if isinstance(value, BaseModel):
        fields = {name: as_view(getattr(value, name)) for name in type(value).model_fields}
        if isinstance(value, DeliverySection):  # the one derived value that is a model
            fields["default_route"] = as_view(value.default_route)
        return VIEWS.get(type(value).__name__, View)(type(value).__name__, fields)
    if isinstance(value, list):
        return [as_view(item) for item in value]
    if isinstance(value, tuple):
        return tuple(as_view(item) for item in value)
    if isinstance(value, dict):
        return {key: as_view(item) for key, item in value.items()}
    return value


_mask_url = mask_url


def _apply_env(raw: dict[str, Any], environ: dict[str, str]) -> None:
    for var, (section, key) in ENV_OVERRIDES.items():
        if var in environ and environ[var] != "":
            raw.setdefault(section, {})[key] = environ[var]


def _describe(error: ValidationError, source: Path, environ: dict[str, str] | None = None) -> str:
    lines = [f"{source}: invalid configuration"]
    from_env = {key: var for var, key in ENV_OVERRIDES.items() if (environ or {}).get(var)}
    for item in error.errors():
        key = ".".join(str(part) for part in item["loc"])
        message = item["msg"]
        if item["type"] == "extra_forbidden":
            message = "unknown key (misspelt?)"
        var = from_env.get(tuple(str(part) for part in item["loc"][:2]))
        where = f" from {var}" if var else ""
        value, last = item.get("input"), str(item["loc"][-1]) if item["loc"] else ""
        if "password" in last or "secret" in last:
            shown = "a value, not shown"  # a password typed where it does not belong
        elif last == "database_url" and isinstance(value, str):
            shown = _as_written(_mask_url(value))
        else:
            shown = _as_written(value)
        lines.append(f"  {key}: {message} (got {shown}{where})")
    return "\n".join(lines)


def _as_written(value: Any) -> str:
    """A value as the TOML file (or the environment) writes it, not as Python's repr:
    `{'enabled': True}` told a sysadmin nothing about a misspelt [webb] table."""
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(_as_written(v) for v in value) + "]"
    return "a value of another kind"


def default_config() -> Path:
    """The file read without --config or SARABAN_CONFIG: the example in a checkout
    (`make run`), else the service's configuration."""
    if DEFAULT_CONFIG.exists() or not SERVICE_CONFIG.exists():
        return DEFAULT_CONFIG
    return SERVICE_CONFIG


def load_settings(path: Path | str | None = None, environ: dict[str, str] | None = None) -> Settings:
    """Read, override from the environment, and validate. Raises ConfigError."""
    environ = dict(os.environ) if environ is None else environ
    chosen = Path(path or environ.get("SARABAN_CONFIG") or default_config())
    try:
        with chosen.open("rb") as handle:
            raw = tomllib.load(handle)
    except FileNotFoundError:
        hint = "" if path or environ.get("SARABAN_CONFIG") else (
            f" (give --config FILE or set SARABAN_CONFIG; an installation's is {SERVICE_CONFIG})")
        raise ConfigError(f"{chosen}: configuration file not found{hint}") from None
    except UnicodeDecodeError as exc:
        # A Thai comment saved as Windows-874 (or a UTF-16 file): tomllib's own error
        # was a traceback, and on SIGHUP it stopped the daemon (session 36).
        raise ConfigError(f"{chosen}: not UTF-8 text (byte {exc.start}); "
                          "save the file as UTF-8 and try again") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{chosen}: not valid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"{chosen}: cannot be read: {exc.strerror}") from None
    _apply_env(raw, environ)
    raw["source"] = chosen.resolve()
    try:
        return Settings.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, chosen, environ)) from None
