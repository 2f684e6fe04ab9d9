"""Service functions: the only writers. Each takes a :class:`~lms_core.context.Context`,
checks permissions and invariants, raises a typed error on bad input, writes, audits, and
records events."""
