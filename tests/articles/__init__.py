"""The public article API: listing, reading, caching, and its answers under AWS faults."""
