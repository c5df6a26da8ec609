"""Who really sent a letter: SPF, DKIM, ARC and DMARC (docs/sender-authenticity.md).

dns.py (resolver, timeouts, TTL cache) -> spf.py, dkim.py (DKIM and ARC), dmarc.py
(policy and alignment) -> check.py (the verdict) -> results.py (`SenderAuth`, the
Authentication-Results header) -> policy.py (a rule finding; who may get a notice)."""
