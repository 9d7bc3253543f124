"""``python -m stressmodel`` runs the command-line interface."""

from stressmodel.cli import main

if __name__ == "__main__":
    main()
