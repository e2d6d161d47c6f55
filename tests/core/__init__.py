"""What every feature shares: config and slugs, logs, the route guard, the OpenAPI contract,
efficiency, and the layout."""
