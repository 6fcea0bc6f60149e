"""Running the server for real: backups and their schedule."""
