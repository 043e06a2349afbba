"""The pytest plugin: the experiment fixture and marker, pipeline-test items, strategies."""
