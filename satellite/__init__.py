"""xnai satellite: the room device (microphone in, spoken answer out) built on the xnai services."""
