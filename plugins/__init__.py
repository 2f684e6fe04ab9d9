"""Bundled plugins. Each is loaded through its ``lms_core.plugins`` entry point, exactly like
a third-party plugin, and imports only lms_core's public API."""
