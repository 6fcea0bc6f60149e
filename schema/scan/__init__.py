"""The GraphQL face of resolvers/scan/: types, inputs and root fields, thin (parse, call
resolvers/scan/, map)."""
