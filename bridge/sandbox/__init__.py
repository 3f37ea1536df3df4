"""Local emulators of Salesforce, Orb and Chargebee (demo, tests, benchmarks).

Production code never imports this package; only the CLI's `sandbox`/`demo` commands,
benchmarks and tests do.
"""
