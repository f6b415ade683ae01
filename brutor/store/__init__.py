"""The config store: tenants, keys, entitlements, limits and models beyond the config file.

``file`` (embedded default) keeps everything in the config file. ``postgres`` adds tables created by
versioned migrations (``migrate``), read as a ``Snapshot`` and overlaid on the file (``overlay``), and
watched by every worker (``watcher``) so a change reaches every replica within about a second.
"""
