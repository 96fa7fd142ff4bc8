from mindseye.cli import main

main()
