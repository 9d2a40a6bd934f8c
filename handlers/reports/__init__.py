"""Management reports (issue #9): metrics over a period, charts, knowledge gaps, exports.

``metrics.build_report`` aggregates in SQL and returns a :class:`~handlers.reports.model.Report`;
``render`` turns it into HTML (charts embedded), PDF and CSV; ``gaps`` clusters unanswered
questions into suggested KB entries; ``schedule`` posts the weekly summary to Slack;
``web`` serves /admin/reports and /api/v1/reports; ``tool`` is ``crmbot report``.
Definitions of every figure: docs/reports.md.
"""
