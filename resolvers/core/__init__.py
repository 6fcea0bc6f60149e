"""The ground every domain stands on: settings, database and migrations, the models (one module per
domain), crypto, clock, passwords, the caller (Actor), input validation and domain errors.
Imports no domain."""
