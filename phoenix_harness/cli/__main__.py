from phoenix_harness.cli import main

main()
