"""The GraphQL face of resolvers/items/: types, inputs and root fields, thin (parse, call
resolvers/items/, map)."""
