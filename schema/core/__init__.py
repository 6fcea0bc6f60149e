"""GraphQL conventions shared by every domain: the request context, permissions (declared once),
errors and UserError, pagination, scalars, enums, loaders, the audit extension."""
