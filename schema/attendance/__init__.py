"""The GraphQL face of resolvers/attendance/: types, inputs and root fields, thin (parse, call
resolvers/attendance/, map)."""
