"""One module per optimizer; each defines its kernel, its class and its registry ``INFO``."""
