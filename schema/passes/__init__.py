"""The GraphQL face of resolvers/passes/: types, inputs and root fields, thin (parse, call
resolvers/passes/, map)."""
