"""The gate device channel (contracts/DEVICE_PROTOCOL.md) and a reference gate agent."""
