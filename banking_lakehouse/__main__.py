"""Small operational commands: python -m banking_lakehouse {stop-postgres|s3-server|dagster-storage-url|psql|psql-admin|dsn|sql|java-cache}"""

import logging
import sys
import threading

from banking_lakehouse import aot_training, connect, dagster_storage, lake_sql, settings
from banking_lakehouse.resources.postgres import stop_embedded

S3_PORT = 9000
S3_BUCKET = "lake"


def serve_s3() -> None:
    """A loopback S3 server (moto, from the dev extras) with an empty bucket, to try the S3 lake without docker."""
    import boto3
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=S3_PORT, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{S3_PORT}"
    boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",  # noqa: S106 - the loopback moto server accepts any key
    ).create_bucket(Bucket=S3_BUCKET)
    print(
        f"S3 server on {endpoint} with bucket '{S3_BUCKET}' (data in memory; Ctrl-C stops it). In another shell:\n"
        f"  export BANKING_LAKE_URI=s3://{S3_BUCKET}/banking BANKING_S3_ENDPOINT_URL={endpoint} "
        "AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local\n  make demo",
        flush=True,
    )
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        server.stop()


def print_dagster_storage_url() -> None:
    """The URL instance/dagster.postgres.yaml reads from DAGSTER_PG_URL (the Makefile exports it); a password is never printed."""
    if settings.dagster_storage() != "postgres":
        sys.exit("BANKING_DAGSTER_STORAGE is not 'postgres': Dagster keeps its storage in SQLite under DAGSTER_HOME")
    url = dagster_storage.libpq_url()
    if dagster_storage.holds_password(url):
        sys.exit(
            "BANKING_DAGSTER_PG_URL holds a password, which this command never prints: "
            "give it to libpq through PGPASSWORD or ~/.pgpass instead"
        )
    print(dagster_storage.sqlalchemy_url(url))


COMMANDS = {
    "stop-postgres": lambda: print(stop_embedded(settings.embedded_pg_dir())),
    "s3-server": serve_s3,
    "dagster-storage-url": print_dagster_storage_url,
    "psql": lambda: connect.open_psql(True, sys.argv[2:]),
    "psql-admin": lambda: connect.open_psql(False, sys.argv[2:]),
    "dsn": connect.print_dsns,
    "sql": lambda: lake_sql.main(sys.argv[2:]),  # its own options: python -m banking_lakehouse sql --help
    "java-cache": aot_training.record,
}
PASSES_ARGUMENTS = {"psql", "psql-admin", "sql"}  # psql's own, or sql's: python -m banking_lakehouse psql -c "SELECT 1"

if __name__ == "__main__":
    settings.owner_only_files()
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS or (len(sys.argv) > 2 and sys.argv[1] not in PASSES_ARGUMENTS):
        sys.exit(f"usage: python -m banking_lakehouse {{{'|'.join(COMMANDS)}}}")
    COMMANDS[sys.argv[1]]()
