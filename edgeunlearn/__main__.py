from edgeunlearn.cli import main

main()
