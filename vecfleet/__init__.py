"""vecfleet: filtered vector search, embedded or as a service."""
