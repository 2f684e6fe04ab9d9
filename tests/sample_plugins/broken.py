from __future__ import annotations

raise ImportError("this plugin needs a library that is not installed")
