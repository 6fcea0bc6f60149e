"""Gatehouse's gate side: the reference gate agent, the simulator, the offline decider and
the GH1 pass-token codec and weekly-schedule rule the server shares with them.

A distribution of its own (devices/gate_agent): it imports nothing of the server, so a gate
controller installs it without Tortoise, Strawberry or a database driver.
"""
