"""Run every benchmark."""

from bench import import_students


def main() -> None:
    import_students.main()


if __name__ == "__main__":
    main()
