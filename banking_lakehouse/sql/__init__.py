"""The project's SQL scripts, shipped inside the package so an installed wheel finds them too."""

from importlib.resources import files


def read_sql(name: str) -> str:
    """The text of one script, named by its path here, e.g. "analytics/channel_performance.sql"."""
    return files(__name__).joinpath(name).read_text()


def sql_files(folder: str) -> list[str]:
    """The names (usable with read_sql) of a folder's scripts, sorted, e.g. "analytics/cohort_analysis.sql"."""
    return sorted(f"{folder}/{f.name}" for f in files(__name__).joinpath(folder).iterdir() if f.name.endswith(".sql"))


def quoted(name: str) -> str:
    """A name as a quoted SQL identifier (DuckDB and PostgreSQL alike): a value never becomes SQL."""
    return '"' + name.replace('"', '""') + '"'
