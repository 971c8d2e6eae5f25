"""The service's routes, one module per audience: intake, exposures (the API), the dashboard, operations."""
