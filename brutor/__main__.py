from brutor.cli import main

raise SystemExit(main())
