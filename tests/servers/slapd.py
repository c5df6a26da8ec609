"""A throwaway OpenLDAP server (Debian's slapd) on a free loopback port, with a small
directory of people, for the web desk's LDAP sign-in. Its configuration is written
to a temporary directory (slapd.conf form); nothing of the system's slapd is used."""
from __future__ import annotations

import base64
import shutil
import subprocess
from pathlib import Path

from tests.servers.common import (
    ServerUnavailable,
    chown_tree,
    forget_at_exit,
    free_port,
    log_tail,
    make_workdir,
    remove_tree,
    service_account,
    spawn_as,
    stop_at_exit,
    stop_group,
    wait_until,
)

SLAPD = "/usr/sbin/slapd"
SUFFIX = "dc=bma,dc=test"
ROOT_DN = f"cn=admin,{SUFFIX}"
ROOT_PW = "slapd-test-root"
SCHEMA = Path("/etc/ldap/schema")

CONFIG = """\
include {schema}/core.schema
include {schema}/cosine.schema
include {schema}/inetorgperson.schema
modulepath /usr/lib/ldap
moduleload back_mdb
pidfile {work}/slapd.pid
argsfile {work}/slapd.args
database mdb
suffix "{suffix}"
rootdn "{root_dn}"
rootpw {root_pw}
directory {work}/data
maxsize 10485760
access to attrs=userPassword by anonymous auth by * none
access to * by * read
"""


class SlapdServer:
    def __init__(self, tls: tuple[Path, Path] | None = None) -> None:
        """`tls`: (certificate, key) PEM files; then it also listens on ldaps:// (on
        127.0.0.1 and 127.0.0.2, the second a name its certificate does not give) and
        offers StartTLS on ldap://."""
        self.account = service_account(("openldap",))
        self.work: Path | None = None
        self.proc: subprocess.Popen | None = None
        self.port = 0
        self.tls = tls
        self.tls_port = 0

    @property
    def url(self) -> str:
        return f"ldap://127.0.0.1:{self.port}"

    def ldaps_url(self, host: str = "127.0.0.1") -> str:
        return f"ldaps://{host}:{self.tls_port}"

    def start(self) -> "SlapdServer":
        if not Path(SLAPD).exists() or not shutil.which("ldapadd"):
            raise ServerUnavailable("slapd or ldapadd is missing: `make test` installs slapd and ldap-utils")
        self.work = make_workdir("saraban-slapd-", self.account)
        (self.work / "data").mkdir()
        config = self.work / "slapd.conf"
        text = CONFIG.format(schema=SCHEMA, work=self.work, suffix=SUFFIX, root_dn=ROOT_DN, root_pw=ROOT_PW)
        listen = []
        if self.tls is not None:
            for source, name in zip(self.tls, ("tls-cert.pem", "tls-key.pem")):
                shutil.copyfile(source, self.work / name)
            text = (f"TLSCertificateFile {self.work / 'tls-cert.pem'}\n"
                    f"TLSCertificateKeyFile {self.work / 'tls-key.pem'}\n") + text
            self.tls_port = free_port()
            listen = [self.ldaps_url() + "/", self.ldaps_url("127.0.0.2") + "/"]
        config.write_text(text)
        chown_tree(self.work, self.account)
        self.port = free_port()
        log = self.work / "slapd.log"
        # -d 0: stay in the foreground (the process group is ours to stop), log nothing extra
        self.proc = spawn_as(self.account, [SLAPD, "-f", str(config), "-h", " ".join([self.url + "/", *listen]),
                                            "-d", "0"], log, env={"PATH": "/usr/sbin:/usr/bin:/bin"})
        stop_at_exit(self)
        if not wait_until(self._answers, timeout=20):
            problem = log_tail(log)
            self.stop()
            raise ServerUnavailable(f"slapd did not answer on {self.url}:\n{problem}")
        self.add(f"dn: {SUFFIX}\nobjectClass: dcObject\nobjectClass: organization\no: BMA test\ndc: bma\n\n"
                 f"dn: ou=people,{SUFFIX}\nobjectClass: organizationalUnit\nou: people\n")
        return self

    def _answers(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            return True  # exited: _answers' caller reports the log
        probe = subprocess.run(["ldapsearch", "-x", "-H", self.url, "-b", "", "-s", "base", "(objectClass=*)"],
                               capture_output=True, timeout=10)
        return probe.returncode == 0

    def add(self, ldif: str) -> None:
        result = subprocess.run(["ldapadd", "-x", "-H", self.url, "-D", ROOT_DN, "-w", ROOT_PW],
                                input=ldif.encode(), capture_output=True, timeout=30)
        if result.returncode != 0:
            raise ServerUnavailable(f"ldapadd failed: {result.stderr.decode(errors='replace')}")

    def add_person(self, uid: str, password: str, name: str) -> str:
        def b64(text: str) -> str:  # LDIF carries non-ASCII values base64-encoded
            return base64.b64encode(text.encode()).decode()

        dn = f"uid={uid},ou=people,{SUFFIX}"
        self.add(f"dn: {dn}\nobjectClass: inetOrgPerson\nuid: {uid}\ncn:: {b64(name)}\n"
                 f"sn:: {b64(name.split()[-1])}\nuserPassword:: {b64(password)}\n")
        return dn

    def delete(self, dn: str) -> None:
        result = subprocess.run(["ldapdelete", "-x", "-H", self.url, "-D", ROOT_DN, "-w", ROOT_PW, dn],
                                capture_output=True, timeout=30)
        if result.returncode != 0:
            raise ServerUnavailable(f"ldapdelete failed: {result.stderr.decode(errors='replace')}")

    def stop(self) -> None:
        stop_group(self.proc)
        self.proc = None
        forget_at_exit(self)
        remove_tree(self.work)
        self.work = None
