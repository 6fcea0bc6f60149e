"""The GraphQL face of resolvers/alerts/: types, inputs and root fields, thin (parse, call
resolvers/alerts/, map)."""
