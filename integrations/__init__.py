"""Adapters to other frameworks (modAL, Label Studio, Dask), each behind its own extra.

The core never imports these: they plug into it through hooks (a test parses every import)."""
