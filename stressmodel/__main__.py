"""``python -m stressmodel`` runs the command-line interface."""

from stressmodel.cli import entry

if __name__ == "__main__":
    entry()
