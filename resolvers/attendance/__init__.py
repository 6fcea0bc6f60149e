"""Attendance from passages against shifts, reports and their files (CSV, XLSX, charts, PDF),
the scheduled daily and weekly summaries, anomaly rules."""
