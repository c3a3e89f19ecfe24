from iterate.cli import main

main()
