from fraclab.cli import main

main()
