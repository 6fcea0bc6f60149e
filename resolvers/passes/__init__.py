"""Pass credentials: a phone's own key or a custodial one, and the scan path's credential lookup."""
