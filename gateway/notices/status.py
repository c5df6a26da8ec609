"""The notices part of `saraban-gateway status`: where they go and what is stuck.

Counts by state (pending, done, dead, held, suppressed) are already in the outbox
lines; this adds the smarthost, the suppression reasons of the last day and the last
error of a notice still waiting, which is what an operator needs to act."""
from __future__ import annotations

from typing import Any

from gateway.config.settings import Settings
from gateway.delivery.error_texts import error_for_person


def notice_status(settings: Settings, figures: dict[str, Any]) -> dict:
    """`figures` from storage.counts.notice_figures."""
    return {"enabled": settings.notices.enabled, "smarthost": settings.notices.smarthost, **figures}


def render_notice_status(status: dict) -> str:
    if not status["enabled"]:
        return "notices    disabled ([notices] enabled = false)"
    where = status["smarthost"] or "held: no smarthost (see WARNING)"
    line = f"notices    via {where}" if status["smarthost"] else f"notices    {where}"
    if status["suppressed_last_day"]:
        line += "; suppressed today: " + ", ".join(f"{k} {v}" for k, v in status["suppressed_last_day"].items())
    if status.get("held"):
        line += "; held: " + ", ".join(f"{k} {v}" for k, v in status["held"].items())
    if status["retrying"]:
        retry = status["retrying"]
        line += f"\n           retrying {retry['key']} (attempt {retry['attempts']}): {error_for_person(retry['last_error'])}"
    return line
