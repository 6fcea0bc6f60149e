"""Faces at the gate (issue 15, README "Faces"): consent, sealed templates, encoding, matching."""
