"""`launchops` and `python -m reconciler`: a plan asks git its questions before the CLI is imported."""
import gc
import sys


def main() -> None:
    from reconciler import engine

    engine.ask_ahead(sys.argv[1:])  # git answers while click and the commands are imported
    from reconciler.cli import main as cli

    try:
        cli(prog_name="launchops")
    finally:
        # Python's last act would be a collection of every object the command made (10 ms after a
        # plan of 10,000 specs, more after a cold one); the exit frees them all the same
        gc.freeze()


if __name__ == "__main__":
    main()
