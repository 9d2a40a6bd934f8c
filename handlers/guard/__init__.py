"""Input the bot cannot use (oversize, empty, unsupported content), answered politely and stored
all the same (``router``)."""
