from serving.simulator.cli import main

raise SystemExit(main())
