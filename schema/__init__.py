"""The GraphQL schema: thin types and root fields that call resolvers/."""
