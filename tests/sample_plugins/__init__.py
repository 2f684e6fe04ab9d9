"""Small plugins used by the plugin-system tests, one behaviour each."""
