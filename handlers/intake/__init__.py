"""Reviews, forum posts and the widget's rating form (``router``): stored once, negative ones
opened as tickets with a suggested public reply. The intake API that receives them is a
channel (bot/channels/intake.py)."""
