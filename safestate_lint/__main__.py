from safestate_lint.cli import main

raise SystemExit(main())
