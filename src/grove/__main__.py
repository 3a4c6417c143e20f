from grove.cli import main

raise SystemExit(main())
