"""Secrets kept out of git: the host's age key (``keys``), SOPS and age files decrypted
(``decrypt``), env files read as docker compose reads them (``envfile``) and secret files
written to a root-only place on the host (``store``). A leaf: it imports ``reconciler.errors``,
the standard library and its two dependencies (the ``sops`` binary and ``pyrage``) only, and
those two lazily, so importing the package costs nothing at start-up.

No message, ``repr`` or log line of this package holds a secret value or key material: errors
name files, lines and public age recipients. Why SOPS and age: docs/decisions/secrets.md.
"""
