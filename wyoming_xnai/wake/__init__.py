"""`xnai wake`: the Wyoming wake-word service (microWakeWord models)."""
