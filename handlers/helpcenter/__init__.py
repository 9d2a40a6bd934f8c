"""The public help center: the knowledge base as a website (GET /help/...).

Customers search there first; every answer read there is a conversation nobody has to have.
``site.py`` turns the KB into pages (slugs, categories, related articles, alternates between
languages), ``store.py`` keeps what visitors read, voted and did not find, ``web.py`` serves the
pages server-rendered (no JavaScript needed), cached per KB revision and locale.
"""
