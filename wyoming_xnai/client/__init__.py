"""Talking to Wyoming services as a client: connect, read with a deadline, describe, fail over."""
