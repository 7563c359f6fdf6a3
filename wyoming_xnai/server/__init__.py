"""Plumbing shared by every service: framing guards, bootstrap, zeroconf, metrics, logging."""
