"""The GraphQL face of resolvers/devices/: types, inputs and root fields, thin (parse, call
resolvers/devices/, map)."""
