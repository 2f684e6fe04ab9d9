from lms_core.cli import main

main()
