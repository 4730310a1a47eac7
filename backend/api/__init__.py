"""The JSON API under /api/v1: thin routes that parse, call a service and shape the response."""
