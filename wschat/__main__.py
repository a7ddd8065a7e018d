"""``python -m wschat``."""

from .cli import main

raise SystemExit(main())
