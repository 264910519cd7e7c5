from ssl_core.cli import main

raise SystemExit(main())
