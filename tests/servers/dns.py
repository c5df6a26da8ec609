"""A real authoritative DNS server on loopback for the sender-authenticity tests.

`python -m tests.servers.dns ZONES.json PORT` serves the records of a JSON file
({name: {type: [value, ...]}}) over UDP and TCP with dnslib: NXDOMAIN for a name it
does not know, an empty NOERROR answer for a known name without that type (and for a
name that only has names under it, RFC 8020). A name given `{"DELAY": [seconds]}`
is answered only after that long: a nameserver that never answers in time. It runs
in its own process so that the gateway's resolver talks to it over real sockets,
exactly as it would to the BMA's resolver.

`SilentNameserver` is the other half: a UDP port that receives queries and never
answers, the resolver that is down or overloaded."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from tests.paths import REPO


def txt_chunks(value: str) -> list[str]:
    """A TXT value longer than 255 bytes is published as several strings (RFC 7208 3.3)."""
    return [value[i:i + 255] for i in range(0, len(value), 255)] or [""]


class DnsServer:
    def __init__(self, zones: dict[str, dict[str, list]], workdir: Path, port: int | None = None):
        from tests.daemon import free_port

        self.zones = zones
        self.workdir = workdir
        self.port = port or free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 10.0) -> "DnsServer":
        self.workdir.mkdir(parents=True, exist_ok=True)
        zone_file = self.workdir / f"zones-{self.port}.json"
        zone_file.write_text(json.dumps(self.zones), encoding="utf-8")
        self.log = open(self.workdir / f"dns-{self.port}.log", "ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "tests.servers.dns", str(zone_file), str(self.port)],
                                     cwd=REPO, stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        import dns.resolver
        import dns.nameserver

        probe = dns.resolver.Resolver(configure=False)
        probe.nameservers = [dns.nameserver.Do53Nameserver("127.0.0.1", port=self.port)]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"test DNS server exited: {(self.workdir / f'dns-{self.port}.log').read_text()}")
            try:
                probe.resolve("ready.test", "TXT", lifetime=0.5)
                return self
            except Exception:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("test DNS server did not answer")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        self.proc = None

    def __enter__(self) -> "DnsServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class SilentNameserver:
    """Binds a UDP (and TCP) port on loopback and never answers."""

    def __init__(self, port: int | None = None):
        from tests.daemon import free_port

        self.port = port or free_port()
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind(("127.0.0.1", self.port))
        self.tcp = socket.socket()
        self.tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.tcp.bind(("127.0.0.1", self.port))
        self.tcp.listen(16)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def close(self) -> None:
        self.udp.close()
        self.tcp.close()


def _serve(zone_file: str, port: int) -> None:
    from dnslib import QTYPE, RCODE, RR
    from dnslib.dns import A, MX, TXT
    from dnslib.server import BaseResolver, DNSServer

    zones = json.loads(Path(zone_file).read_text(encoding="utf-8"))
    zones.setdefault("ready.test", {"TXT": ["ok"]})
    table = {name.lower().rstrip("."): records for name, records in zones.items()}

    class ZoneResolver(BaseResolver):
        def resolve(self, request, handler):
            reply = request.reply()
            qname = str(request.q.qname).lower().rstrip(".")
            qtype = QTYPE[request.q.qtype]
            records = table.get(qname)
            if records is None:
                if not any(name.endswith("." + qname) for name in table):
                    reply.header.rcode = RCODE.NXDOMAIN
                return reply
            if records.get("DELAY"):  # each query in its own thread: the others are answered
                time.sleep(float(records["DELAY"][0]))
            if records.get("SERVFAIL"):  # {"SERVFAIL": [true]}: a name whose servers fail
                reply.header.rcode = RCODE.SERVFAIL
                return reply
            for value in records.get(qtype, []):
                if qtype == "TXT":
                    rdata = TXT([s.encode() for s in txt_chunks(value)])
                elif qtype == "A":
                    rdata = A(value)
                elif qtype == "MX":
                    pref, host = value
                    rdata = MX(host, pref)
                else:
                    continue
                reply.add_answer(RR(request.q.qname, request.q.qtype, rdata=rdata, ttl=300))
            return reply

    class Quiet:
        def log_recv(self, *a): pass
        def log_send(self, *a): pass
        def log_request(self, *a): pass
        def log_reply(self, *a): pass
        def log_truncated(self, *a): pass
        def log_error(self, handler, e): print("dns error", e, flush=True)
        def log_data(self, *a): pass

    resolver = ZoneResolver()
    servers = [DNSServer(resolver, address="127.0.0.1", port=port, logger=Quiet()),
               DNSServer(resolver, address="127.0.0.1", port=port, tcp=True, logger=Quiet())]
    for server in servers:
        server.server.daemon_threads = True  # a delayed answer does not hold the exit
        server.start_thread()
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    _serve(sys.argv[1], int(sys.argv[2]))
