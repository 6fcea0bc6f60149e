"""The GraphQL face of resolvers/visits/: types, inputs and root fields, thin (parse, call
resolvers/visits/, map)."""
