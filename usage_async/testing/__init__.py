"""Testing helpers: a local simulator of the Usage and Costs API (work in progress)."""
