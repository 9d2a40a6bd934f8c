"""Announcements to opted-in customers (issue #7): consent, segments, resumable delivery.

``web.setup`` wires the feature into the server (the send-time guard into the outbox, the runner
as a background task, the /api/v1/broadcasts routes of ``api``); ``router`` answers the
customers' /subscribe and /stop. See docs/broadcasts.md.
"""
