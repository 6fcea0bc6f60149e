"""Imported only by the helpers' forkserver, first of its preloaded modules (helper_processes.py):
it is killed when the server thread that started it dies. Importing it anywhere else would tie
that process to its parent's life too: nothing else imports it."""

from resolvers.core.helper_processes import die_with_parent

die_with_parent()
