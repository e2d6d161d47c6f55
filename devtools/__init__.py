"""Developer tooling: the local stack (moto server + chalice local) and its helpers."""
