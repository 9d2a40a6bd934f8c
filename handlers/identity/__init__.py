"""One customer across channels, in their language and on their clock.

``router``: the commands (``/link``, ``/link CODE``, ``/tz``) and the time zone the platform
reports. ``service``, for other features: :func:`~handlers.identity.service.wait_text` (when a
human will answer, from the business hours), :func:`~handlers.identity.service.follows_open_ticket`
(a linked channel joins the customer's open case),
:func:`~handlers.identity.service.customer_open_ticket`. Its surfaces: ``api`` (REST: export,
erase, merge and undo a merge) and ``tool`` (``crmbot customer …``).
"""
