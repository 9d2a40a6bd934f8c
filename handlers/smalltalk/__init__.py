"""Greetings and thanks answered kindly instead of with the fallback (``router``;
``classify`` tells a message that is only small talk)."""
