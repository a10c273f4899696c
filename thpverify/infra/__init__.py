"""Infrastructure: the result cache, the parallel runner and the pytest
plugin. Nothing here decides a verdict."""
