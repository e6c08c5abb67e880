from firmware_bridge.sim.standalone import main

raise SystemExit(main())
