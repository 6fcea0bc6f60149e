"""The GraphQL face of resolvers/access/: types, inputs and root fields, thin (parse, call
resolvers/access/, map)."""
