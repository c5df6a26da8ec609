"""The base of every configuration section: a number of seconds the gateway can wait.

TOML has `inf` and `nan`, and pydantic's `gt=0` lets `inf` and any huge number through,
while Python's sleeps and waits (time.sleep, threading.Event.wait, a lock's timeout)
raise OverflowError past about 292 years. `[pipeline] poll_interval = 1e10` passed
check-config and the start, and both runners then died at their first idle nap and
were restarted for ever (session 53): letters were accepted and never filed."""
from __future__ import annotations

import math

from pydantic import BaseModel, ConfigDict, field_validator

# Ten years: longer than any wait or deadline means anything for a mail gateway, and
# doubled, added to a time of day or turned into a timedelta, still far from overflowing.
LONGEST = 10 * 365 * 24 * 3600


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="after")
    @classmethod
    def _finite(cls, value: object) -> object:
        if isinstance(value, float) and not (math.isfinite(value) and abs(value) <= LONGEST):
            raise ValueError(f"give a finite number of at most {LONGEST} (ten years)")
        return value
