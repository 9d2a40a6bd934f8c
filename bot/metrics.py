"""Prometheus metrics (served at GET /metrics). Names are part of the operations docs."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

INBOUND = Counter("crmbot_inbound_events_total", "Inbound events stored", ["channel"])
INBOUND_DUPLICATES = Counter(
    "crmbot_inbound_duplicates_total", "Redelivered inbound events dropped", ["channel"]
)
PROCESSED = Counter("crmbot_events_processed_total", "Inbound events processed", ["outcome"])
DEAD_LETTERS = Counter(
    "crmbot_dead_letters_total", "Inbound events closed after failing every attempt", ["channel"]
)
PROCESSING_SECONDS = Histogram(
    "crmbot_processing_seconds", "Time to process one inbound event", buckets=(
        0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5,
    )
)
SLA_EVENTS = Counter("crmbot_sla_events_total",
                     "SLA warnings and breaches reached (first_response_breach, ...)", ["kind"])
OUTBOX_SENT = Counter("crmbot_outbox_sent_total", "Outbox items delivered", ["channel"])
OUTBOX_RETRIES = Counter("crmbot_outbox_retries_total", "Outbox send retries", ["channel"])
OUTBOX_FAILED = Counter("crmbot_outbox_failed_total", "Outbox items failed for good", ["channel"])
OUTBOX_RATE_LIMITED = Counter(
    "crmbot_outbox_rate_limited_total", "429/retry_after answers from platforms", ["channel"]
)
OUTBOX_LEASE_EXPIRED = Counter(
    "crmbot_outbox_lease_reclaims_total",
    "Items claimed again after a sender died mid-send (possible duplicate sends)",
)
OUTBOX_LEASE_GIVEN_BACK = Counter(
    "crmbot_outbox_lease_given_back_total",
    "Claims released unsent because they waited in the process past half their lease",
    ["channel"],
)
KB_REVISION = Gauge("crmbot_kb_revision", "Knowledge-base revision loaded by this process")
BROADCAST_ENQUEUED = Counter(
    "crmbot_broadcast_enqueued_total", "Announcements handed to the outbox", ["channel"]
)
BROADCAST_SKIPPED = Counter(
    "crmbot_broadcast_skipped_total",
    "Announcements not sent at the last check (opted_out, cancelled, uncertain, ...)", ["reason"]
)
BROADCAST_RECIPIENTS = Gauge(
    "crmbot_broadcast_recipients", "Recipients of a broadcast by outcome (updated on status)",
    ["broadcast", "state"],
)
