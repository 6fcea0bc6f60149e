"""The GraphQL face of resolvers/ops/: the record of backup runs, thin (parse, call, map)."""
