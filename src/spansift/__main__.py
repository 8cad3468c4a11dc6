from spansift.cli import main

main()
