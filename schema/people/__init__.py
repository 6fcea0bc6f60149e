"""The GraphQL face of resolvers/people/: types, inputs and root fields, thin (parse, call
resolvers/people/, map)."""
