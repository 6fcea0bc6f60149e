"""Who may enter where: the site's zones and gates (and their in-memory topology), grants and their
weekly schedules, the grant index of the scan path, access reviews and maintenance-area
requests."""
