"""reports: conversation-day roll-up kept by triggers on messages

Revision ID: 0012reports
Revises: 0011reports

Tables ``report_conversation_days``, ``report_rollup_state`` and ``report_rollup_offsets``
(storage/models_reports.py), triggers on ``messages`` that keep the roll-up exact on insert,
update and delete (handlers/reports/rollup.py explains them), and the backfill: the roll-up is built
from the transcript for the business-hours ``default`` team's zone as configured in the
environment (a report in another zone rebuilds it).
"""

import os
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import sqlalchemy as sa
import yaml
from alembic import op

revision: str = "0012reports"
down_revision: str | None = "0011reports"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COUNTS = ("n_in", "n_out", "n_customer", "n_answers", "n_helpful", "n_unhelpful")
TIMES = ("first_customer", "last_customer", "last_answer")
COLUMNS = (
    "conversation_id, day, n_in, n_out, n_customer, n_answers, n_helpful, n_unhelpful, "
    "first_customer, last_customer, last_answer"
)
CUSTOMER = "{m}.sender = 'customer' AND {m}.kind NOT IN ('callback', 'feedback')"
ANSWER = "{m}.sender = 'bot' AND {m}.kb_entry_id IS NOT NULL"
HELPFUL = "{m}.kind = 'feedback' AND {m}.text = 'helpful'"
UNHELPFUL = "{m}.kind = 'feedback' AND {m}.text = 'not_helpful'"
# an update changes the roll-up only through these (the text only of a feedback press)
CHANGED = (
    "OLD.conversation_id IS {ne} NEW.conversation_id OR OLD.created_at IS {ne} "
    "NEW.created_at OR OLD.direction IS {ne} NEW.direction OR OLD.sender IS {ne} "
    "NEW.sender OR OLD.kind IS {ne} NEW.kind OR OLD.kb_entry_id IS {ne} NEW.kb_entry_id "
    "OR ((OLD.kind = 'feedback' OR NEW.kind = 'feedback') AND OLD.text IS {ne} NEW.text)"
)
TRIGGERS = ("report_rollup_ins", "report_rollup_upd", "report_rollup_del")


def _aggregates(m: str, count: str) -> str:
    """The roll-up columns after (conversation, day) over messages aliased ``m``."""
    conds = ["{m}.direction = 'in'", "{m}.direction = 'out'", CUSTOMER, ANSWER, HELPFUL, UNHELPFUL]
    sums = [count.format(cond=c.format(m=m)) for c in conds]
    times = [
        f"min(CASE WHEN {CUSTOMER.format(m=m)} THEN {m}.created_at END)",
        f"max(CASE WHEN {CUSTOMER.format(m=m)} THEN {m}.created_at END)",
        f"max(CASE WHEN {ANSWER.format(m=m)} THEN {m}.created_at END)",
    ]
    return ", ".join(sums + times)


# ---------------------------------------------------------------------------- PostgreSQL

PG_RECOMPUTE = f"""
CREATE FUNCTION report_rollup_recompute(cid bigint, d date, z text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  n bigint;
  v report_conversation_days%ROWTYPE;
BEGIN
  -- lock the row first (make one if missing): whoever changed it before has committed, so
  -- the recount below (a new snapshot) sees their messages; whoever inserts a message of
  -- this day after us adds to our result, which cannot have seen their message yet
  LOOP
    INSERT INTO report_conversation_days ({COLUMNS})
    VALUES (cid, d, 0, 0, 0, 0, 0, 0, NULL, NULL, NULL) ON CONFLICT DO NOTHING;
    PERFORM 1 FROM report_conversation_days WHERE conversation_id = cid AND day = d
      FOR UPDATE;
    EXIT WHEN FOUND;
  END LOOP;
  SELECT count(*), cid, d, {_aggregates("m", "count(*) FILTER (WHERE {cond})")}
  INTO n, v.conversation_id, v.day, {", ".join(f"v.{c}" for c in (*COUNTS, *TIMES))}
  FROM messages m
  WHERE m.conversation_id = cid
    AND m.created_at >= (d - 1)::timestamp AT TIME ZONE 'UTC'
    AND m.created_at < (d + 2)::timestamp AT TIME ZONE 'UTC'
    AND date(timezone(z, m.created_at)) = d;
  IF n = 0 THEN
    DELETE FROM report_conversation_days WHERE conversation_id = cid AND day = d;
  ELSE
    UPDATE report_conversation_days SET
      {", ".join(f"{c} = v.{c}" for c in (*COUNTS, *TIMES))}
    WHERE conversation_id = cid AND day = d;
  END IF;
END $$
"""

PG_TRIGGER = f"""
CREATE FUNCTION report_rollup_messages() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  z text;
  c boolean;
  a boolean;
BEGIN
  SELECT zone INTO z FROM report_rollup_state WHERE id = 1;
  IF z IS NULL THEN
    RETURN NULL;  -- not built
  END IF;
  IF TG_OP = 'INSERT' THEN
    c := coalesce({CUSTOMER.format(m="NEW")}, false);
    a := coalesce({ANSWER.format(m="NEW")}, false);
    INSERT INTO report_conversation_days AS r ({COLUMNS})
    VALUES (NEW.conversation_id, date(timezone(z, NEW.created_at)),
            (NEW.direction = 'in')::int, (NEW.direction = 'out')::int, c::int, a::int,
            coalesce({HELPFUL.format(m="NEW")}, false)::int,
            coalesce({UNHELPFUL.format(m="NEW")}, false)::int,
            CASE WHEN c THEN NEW.created_at END, CASE WHEN c THEN NEW.created_at END,
            CASE WHEN a THEN NEW.created_at END)
    ON CONFLICT (conversation_id, day) DO UPDATE SET
      {", ".join(f"{n} = r.{n} + EXCLUDED.{n}" for n in COUNTS)},
      first_customer = LEAST(r.first_customer, EXCLUDED.first_customer),
      last_customer = GREATEST(r.last_customer, EXCLUDED.last_customer),
      last_answer = GREATEST(r.last_answer, EXCLUDED.last_answer);
    RETURN NULL;
  END IF;
  PERFORM report_rollup_recompute(OLD.conversation_id, date(timezone(z, OLD.created_at)), z);
  IF TG_OP = 'UPDATE' AND (NEW.conversation_id <> OLD.conversation_id
      OR date(timezone(z, NEW.created_at)) <> date(timezone(z, OLD.created_at))) THEN
    PERFORM report_rollup_recompute(NEW.conversation_id, date(timezone(z, NEW.created_at)),
                                    z);
  END IF;
  RETURN NULL;
END $$
"""

PG_TRUNCATE = """
CREATE FUNCTION report_rollup_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM report_conversation_days;
  RETURN NULL;
END $$
"""

PG_DDL = (
    PG_RECOMPUTE,
    PG_TRIGGER,
    PG_TRUNCATE,
    "CREATE TRIGGER report_rollup_ins AFTER INSERT ON messages FOR EACH ROW "
    "EXECUTE FUNCTION report_rollup_messages()",
    f"CREATE TRIGGER report_rollup_upd AFTER UPDATE ON messages FOR EACH ROW "
    f"WHEN ({CHANGED.format(ne='DISTINCT FROM')}) EXECUTE FUNCTION report_rollup_messages()",
    "CREATE TRIGGER report_rollup_del AFTER DELETE ON messages FOR EACH ROW "
    "EXECUTE FUNCTION report_rollup_messages()",
    "CREATE TRIGGER report_rollup_trunc AFTER TRUNCATE ON messages FOR EACH STATEMENT "
    "EXECUTE FUNCTION report_rollup_truncate()",
)
PG_DROP = (
    *(f"DROP TRIGGER IF EXISTS {t} ON messages" for t in (*TRIGGERS, "report_rollup_trunc")),
    "DROP FUNCTION IF EXISTS report_rollup_messages()",
    "DROP FUNCTION IF EXISTS report_rollup_truncate()",
    "DROP FUNCTION IF EXISTS report_rollup_recompute(bigint, date, text)",
)

# ---------------------------------------------------------------------------- SQLite


def _day(col: str) -> str:
    """SQLite: the local day of ``col`` with the offset in force then (offsets table)."""
    return (
        f"date({col}, (SELECT o.modifier FROM report_rollup_offsets o "
        f"WHERE o.since <= {col} ORDER BY o.since DESC LIMIT 1))"
    )


def _sqlite_recompute(row: str) -> str:
    """Statements that recompute the roll-up row of message ``row`` (OLD or NEW)."""
    cid, day = f"{row}.conversation_id", _day(f"{row}.created_at")
    return f"""
  DELETE FROM report_conversation_days WHERE conversation_id = {cid} AND day = {day};
  INSERT INTO report_conversation_days ({COLUMNS})
  SELECT {cid}, {day}, {_aggregates("m", "sum(CASE WHEN {cond} THEN 1 ELSE 0 END)")}
  FROM messages m
  WHERE m.conversation_id = {cid}
    AND m.created_at >= date({day}, '-1 day') AND m.created_at < date({day}, '+2 days')
    AND {_day("m.created_at")} = {day}
  HAVING count(*) > 0;"""


BUILT = "EXISTS (SELECT 1 FROM report_rollup_state)"
_C, _A = CUSTOMER.format(m="NEW"), ANSWER.format(m="NEW")
SQLITE_DDL = (
    f"""CREATE TRIGGER report_rollup_ins AFTER INSERT ON messages WHEN {BUILT}
BEGIN
  INSERT INTO report_conversation_days ({COLUMNS})
  VALUES (NEW.conversation_id, {_day("NEW.created_at")},
          NEW.direction = 'in', NEW.direction = 'out', coalesce({_C}, 0), coalesce({_A}, 0),
          coalesce({HELPFUL.format(m="NEW")}, 0), coalesce({UNHELPFUL.format(m="NEW")}, 0),
          CASE WHEN {_C} THEN NEW.created_at END, CASE WHEN {_C} THEN NEW.created_at END,
          CASE WHEN {_A} THEN NEW.created_at END)
  ON CONFLICT (conversation_id, day) DO UPDATE SET
    {", ".join(f"{n} = {n} + excluded.{n}" for n in COUNTS)},
    first_customer = coalesce(min(first_customer, excluded.first_customer), first_customer,
                              excluded.first_customer),
    last_customer = coalesce(max(last_customer, excluded.last_customer), last_customer,
                             excluded.last_customer),
    last_answer = coalesce(max(last_answer, excluded.last_answer), last_answer,
                           excluded.last_answer);
END""",
    f"""CREATE TRIGGER report_rollup_upd AFTER UPDATE ON messages
WHEN {BUILT} AND ({CHANGED.format(ne="NOT")})
BEGIN{_sqlite_recompute("OLD")}{_sqlite_recompute("NEW")}
END""",
    f"""CREATE TRIGGER report_rollup_del AFTER DELETE ON messages WHEN {BUILT}
BEGIN{_sqlite_recompute("OLD")}
END""",
)
SQLITE_DROP = tuple(f"DROP TRIGGER IF EXISTS {t}" for t in TRIGGERS)


def upgrade() -> None:
    op.create_table(
        "report_conversation_days",
        sa.Column(
            "conversation_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=False,
            autoincrement=False,
        ),
        sa.Column("day", sa.Date(), nullable=False),
        *(sa.Column(n, sa.Integer(), nullable=False) for n in COUNTS),
        *(sa.Column(n, sa.DateTime(timezone=True), nullable=True) for n in TIMES),
        sa.PrimaryKeyConstraint("conversation_id", "day", name="pk_report_conversation_days"),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_report_conversation_days_day", "report_conversation_days", ["day"])
    op.create_table(
        "report_rollup_state",
        sa.Column("id", sa.Integer(), nullable=False, autoincrement=False),
        sa.Column("zone", sa.String(64), nullable=False),
        sa.Column("built_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_report_rollup_state"),
    )
    op.create_table(
        "report_rollup_offsets",
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("modifier", sa.String(24), nullable=False),
        sa.PrimaryKeyConstraint("since", name="pk_report_rollup_offsets"),
    )
    bind = op.get_bind()
    for statement in PG_DDL if bind.dialect.name == "postgresql" else SQLITE_DDL:
        op.execute(statement)
    _backfill(bind, _configured_zone())


# ---------------------------------------------------------------------------- backfill
# A frozen copy of what handlers/reports/rollup.py did when this revision was written, so the
# migration imports nothing of the application (a later change there cannot change history).

SAMPLE_HOURS = Path(__file__).resolve().parents[3] / "bot" / "business_hours.yaml"
FIRST, LAST = datetime(1970, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC)
BEGINNING = datetime(1, 1, 1, tzinfo=UTC)  # the first offset row holds from here
STEP = timedelta(hours=6)


def _configured_zone() -> str:
    """The business-hours ``default`` team's zone (CRMBOT_BUSINESS_HOURS_FILE or the sample
    file); UTC if unreadable. Only a first guess: a report in another zone rebuilds."""
    try:
        path = os.environ.get("CRMBOT_BUSINESS_HOURS_FILE") or str(SAMPLE_HOURS)
        with open(path, encoding="utf-8") as fh:
            zone = str(yaml.safe_load(fh)["teams"]["default"]["timezone"])
        ZoneInfo(zone)
        return zone
    except Exception:
        return "UTC"


def _offset(tz: ZoneInfo, t: datetime) -> int:
    delta = t.astimezone(tz).utcoffset()
    return int(delta.total_seconds()) if delta else 0


def _zone_offsets(zone: str) -> list[tuple[datetime, int]]:
    """(since, offset seconds) from each transition on, found in 6-hour steps to 2100 and
    located to the second by bisection."""
    tz = ZoneInfo(zone)
    out = [(FIRST, _offset(tz, FIRST))]
    t, current = FIRST, out[0][1]
    while t < LAST:
        nxt = t + STEP
        if (off := _offset(tz, nxt)) != current:
            lo, hi = t, nxt
            while hi - lo > timedelta(seconds=1):
                mid = lo + timedelta(seconds=(hi - lo) // timedelta(seconds=2))
                lo, hi = (mid, hi) if _offset(tz, mid) == current else (lo, mid)
            out.append((hi, off))
            current = off
        t = nxt
    return out


def _backfill(bind: sa.Connection, zone: str) -> None:
    """The roll-up of the existing transcript for ``zone`` (the tables are new and empty)."""
    postgres = bind.dialect.name == "postgresql"

    def stored(t: datetime) -> datetime:  # as the models' UTCDateTime binds it
        return t if postgres else t.astimezone(UTC).replace(tzinfo=None)

    when = sa.DateTime(timezone=True)
    offsets = sa.table("report_rollup_offsets", sa.column("since", when),
                       sa.column("modifier", sa.String))
    state = sa.table("report_rollup_state", sa.column("id", sa.Integer),
                     sa.column("zone", sa.String), sa.column("built_at", when))
    rows = _zone_offsets(zone)
    bind.execute(sa.insert(offsets), [
        {"since": stored(BEGINNING if i == 0 else since), "modifier": f"{off:+d} seconds"}
        for i, (since, off) in enumerate(rows)])
    bind.execute(sa.insert(state).values(id=1, zone=zone, built_at=stored(datetime.now(UTC))))
    if postgres:
        day = "date(timezone(CAST(:z AS text), m.created_at))"
        count = "count(*) FILTER (WHERE {cond})"
    else:
        day, count = _day("m.created_at"), "sum(CASE WHEN {cond} THEN 1 ELSE 0 END)"
    bind.execute(sa.text(
        f"INSERT INTO report_conversation_days ({COLUMNS}) "
        f"SELECT m.conversation_id, {day}, {_aggregates('m', count)} "
        f"FROM messages m GROUP BY 1, 2"
    ), {"z": zone} if postgres else {})


def downgrade() -> None:
    bind = op.get_bind()
    for statement in PG_DROP if bind.dialect.name == "postgresql" else SQLITE_DROP:
        op.execute(statement)
    op.drop_table("report_rollup_offsets")
    op.drop_table("report_rollup_state")
    op.drop_index("ix_report_conversation_days_day", table_name="report_conversation_days")
    op.drop_table("report_conversation_days")
