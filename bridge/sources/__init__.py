"""One module per sender: verify it really sent this, parse its body into envelopes."""
