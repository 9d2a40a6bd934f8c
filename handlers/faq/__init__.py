"""The knowledge base in the conversation: ``router`` answers from it, suggests when unsure
and falls back politely; ``feedback`` handles the buttons under an answer (did this help?, a
suggestion picked, talk to a person). The KB itself: knowledge/ (entries, matcher),
storage/kb.py (stored entries and revisions), bot/kb.py (the process's loaded matcher)."""
