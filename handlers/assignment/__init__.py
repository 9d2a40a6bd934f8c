"""Automatic assignment of new tickets to agents on shift (CRMBOT_ASSIGN_RULES).

Listens to the "ticket_opened" event that escalation and intake raise; ``rules.py`` says who
may get which ticket, ``router.py`` picks one and assigns through the ticket status machine.
"""
