"""Servers: the rating server of a prompts report (`ratings.py`: `motionmill eval serve`)."""
