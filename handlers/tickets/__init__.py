"""Tickets: everything that hands a conversation to people and back.

``escalation`` opens a ticket (customer asks, bot could not answer, a keyword, another
feature's hook) and raises the ``ticket_opened``/``ticket_resolved`` events other features
listen to; ``human`` keeps the bot quiet while a person owns the conversation; ``staff`` runs
the desk's actions (reply, claim, assign, resolve, back to bot) in the customer's
conversation; ``assignment`` gives a new ticket to an agent on shift by the rules of
``assignment_rules`` (CRMBOT_ASSIGN_RULES); ``callback`` asks for a phone number and a time
(``callback_parse`` parses them). The ticket status machine is storage/ticket_states.py, SLA
timing bot/sla.py.
"""
