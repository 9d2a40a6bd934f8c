"""Web pages served by crmbot itself: the demo shop page, the admin UI."""
