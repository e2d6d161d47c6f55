"""The weekly digest: end to end, its parts, the CLI that previews and sends it, and faults."""
