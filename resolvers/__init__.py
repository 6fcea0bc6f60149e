"""The domain: plain async functions over the models, shared by the API, the devices and the CLI."""
