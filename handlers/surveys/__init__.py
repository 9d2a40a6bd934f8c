"""Surveys as data: definitions, answer parsing, scheduling, campaigns and results (issue #6).

The conversation side lives in handlers/surveys/router.py; the tables in storage/models_surveys.py.
This package has no import of the handlers, so the admin API, reports and the CLI can use it.
"""
