from shipdeck.cli import main

raise SystemExit(main())
