"""Authentication and authorization for the server: users, API keys, roles per project."""
