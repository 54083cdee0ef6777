"""`python -m pim …`: the `pim` command, for when the console script is not on PATH (`pim serve` starts its
queue workers this way, with its own interpreter)."""

if __name__ == "__main__":
    from pim.cli import main

    main()
