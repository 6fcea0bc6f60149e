"""Attendance from passages against shifts, reports and their files (CSV, XLSX, charts, PDF),
anomaly rules."""
