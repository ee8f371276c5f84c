"""Silver: typed, normalised, deduplicated rows, and a quarantine row (with its reason) for every rejected line.

Every delivered line ends in exactly one place: silver, or quarantine with one reason code
(`exact_duplicate` lines are the removed second copies), so raw = silver + quarantine holds.
Records carry the `batch_date` they were delivered for, and every rule across records (duplicates, the
day's master data) holds within a batch: the days of a range are classified in one pass, each on its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from banking_lakehouse import reference as ref
from banking_lakehouse.contracts import CONTRACTS, max_lengths
from banking_lakehouse.entities import CHANGE_COLUMNS, ENTITIES, TRANSACTIONS, Entity
from banking_lakehouse.reference import EMAIL_PATTERN, PHONE_PATTERN
from banking_lakehouse.transforms.records import FileSpec

AMOUNT_PATTERN = r"^-?\$?([0-9]{1,3}(,[0-9]{3})+|[0-9]+)(\.[0-9]{1,2})?\z"
AMOUNT_TYPE = "decimal(18,2)"
RATE_TYPE = "decimal(12,6)"


def matches(column: str, pattern: str) -> Column:
    """Whether the whole value matches a pattern written with a final `$` (as pandera's contracts, compiled by
    Python's re, need): read as `\\z`, the end of the value, as RE2 in the asset checks reads `$`. Java's `$`
    also matches before a final line break, so `a@b.example\\n` would pass here and fail the check."""
    return F.col(column).rlike(pattern.removesuffix("$") + r"\z")


def _literal_map(mapping: dict) -> Column:
    return F.create_map(*[F.lit(x) for pair in mapping.items() for x in pair])


def normalized_country(column: str) -> Column:
    return _literal_map(ref.COUNTRY_ALIASES)[F.upper(F.trim(F.col(column)))]


def first_failing(rules: list[tuple[str, Column]]) -> Column:
    """The reason the reader found (encoding, control characters, malformed record), else the first
    rule (in precedence order) whose condition holds, else null."""
    reason = F.lit(None).cast("string")
    for code, failed in reversed(rules):
        reason = F.when(failed, F.lit(code)).otherwise(reason)
    return F.coalesce(F.col("_parse_reason"), reason)


def too_long(entity: str, columns: list[str]) -> tuple[str, Column]:
    """`field_too_long`: a delivered field over the length its contract allows."""
    limits = {c: n for c, n in max_lengths(CONTRACTS[entity]).items() if c in columns}
    return "field_too_long", F.greatest(F.lit(False), *[F.length(c) > n for c, n in limits.items()])


@dataclass(frozen=True)
class MasterSpec:
    """How one master-data entity (columns and ids from `entities`) is validated and typed."""

    entity: Entity
    lowercase: list[str] = field(default_factory=list)
    uppercase: list[str] = field(default_factory=list)
    dates: list[str] = field(default_factory=list)
    country: str | None = None
    email: str | None = None
    phone: str | None = None


MASTER_SPECS = {
    "customers": MasterSpec(
        ENTITIES["customers"],
        lowercase=["segment", "risk_rating"],
        dates=["join_date"],
        country="country",
        email="email",
        phone="phone",
    ),
    "accounts": MasterSpec(
        ENTITIES["accounts"],
        lowercase=["account_type", "status"],
        uppercase=["currency"],
        dates=["opened_date"],
    ),
    "merchants": MasterSpec(ENTITIES["merchants"], lowercase=["category", "risk_level"], country="country"),
}


def _split(classified: DataFrame, entity: str, silver_columns: list[Column]) -> tuple[DataFrame, DataFrame]:
    rejected = F.col("reason").isNotNull()
    # Silver and quarantine are two writes of one classification: cache it so the raw file is read,
    # typed and deduplicated once, not once per output. Only what the outputs keep is cached, and a
    # record's delivered text and bytes only where it is quarantined: caching is the costly part.
    # The asset clears the cache when both are written.
    kept = classified.select(
        *silver_columns,
        "_file",
        "_line",
        "batch_date",
        "reason",
        F.when(rejected, F.coalesce(F.col("_raw"), F.decode("_raw_bytes", "UTF-8"))).alias("_rejected_text"),
        F.when(rejected, F.col("_raw_bytes")).alias("_rejected_bytes"),
    ).persist()
    silver = kept.where(~rejected).select(
        *kept.columns[: len(silver_columns)],
        F.col("_file").alias("source_file"),
        F.col("_line").alias("source_line"),
        "batch_date",
    )
    quarantine = kept.where(rejected).select(
        F.lit(entity).alias("entity"),
        "reason",
        F.col("_rejected_text").alias("raw_record"),
        F.col("_rejected_bytes").alias("raw_bytes"),
        F.col("_file").alias("source_file"),
        F.col("_line").alias("line_number"),
        "batch_date",
    )
    return silver, quarantine


def within_batch(*columns: str) -> Window:
    """A window over the records of one batch sharing `columns`, in delivered order."""
    return Window.partitionBy("batch_date", *columns).orderBy("_line")


def number_repeated(raw: DataFrame, id_column: str, numbering: dict[str, Column]) -> DataFrame:
    """raw with the `numbering` columns (windows over an id's records of a batch, in order), computed only for
    the records whose id occurs more than once in its batch (a null id too, as a window groups nulls); every
    other record is its id's only one, where each numbering is 1. Such ids are few: only their records are
    shuffled and numbered, never the whole delivery, and they come back to their record by its line."""
    repeated = (
        raw.groupBy("batch_date", id_column)
        .count()
        .where(F.col("count") > 1)
        .select(F.col("batch_date").alias("_batch"), F.col(id_column).alias("_repeated"))
    )
    same_id = (F.col("batch_date") == F.col("_batch")) & F.col(id_column).eqNullSafe(F.col("_repeated"))
    numbered = raw.join(F.broadcast(repeated), same_id, "left_semi")
    for name, window in numbering.items():  # in order: a numbering may read the one before it
        numbered = numbered.withColumn(name, window)
    line = ["batch_date", "_line"]
    return raw.join(F.broadcast(numbered.select(*line, *numbering)), line, "left").withColumns(
        {name: F.coalesce(name, F.lit(1)) for name in numbering}
    )


def clean_master(raw: DataFrame, spec: MasterSpec) -> tuple[DataFrame, DataFrame]:
    """(silver, quarantine) for customers, accounts or merchants: first delivered copy of an id wins. A core
    record's `updated_at` / `deleted_at` are kept (a soft-deleted record is a valid row: the id existed);
    a delivered file's rows have them null."""
    entity = spec.entity
    typed = {c: F.col(c) for c in entity.columns}
    typed |= {c: F.col(c) if c in raw.columns else F.lit(None).cast("timestamp") for c in CHANGE_COLUMNS}
    for c in spec.lowercase:
        typed[c] = F.lower(F.col(c))
    for c in spec.uppercase:
        typed[c] = F.upper(F.col(c))
    for c in spec.dates:
        typed[c] = F.try_to_date(F.col(c), "yyyy-MM-dd")
    if spec.country:
        typed[spec.country] = normalized_country(spec.country)
    occurrence = F.row_number().over(within_batch(entity.id_column))
    rules = [
        too_long(entity.name, entity.columns),
        ("missing_required", F.greatest(*[F.col(c).isNull() for c in entity.required], F.lit(False))),
        ("duplicate_id", F.col("_occurrence") > 1),
    ]
    if spec.country:
        rules.append(("invalid_country", F.col(spec.country).isNotNull() & typed[spec.country].isNull()))
    if spec.email:
        rules.append(("invalid_email", ~matches(spec.email, EMAIL_PATTERN)))
    if spec.phone:
        rules.append(("invalid_phone", F.col(spec.phone).isNotNull() & ~matches(spec.phone, PHONE_PATTERN)))
    rules += [("invalid_date", F.col(c).isNotNull() & typed[c].isNull()) for c in spec.dates]
    classified = number_repeated(raw, entity.id_column, {"_occurrence": occurrence}).withColumn(
        "reason", first_failing(rules)
    )
    columns = [*entity.columns, *CHANGE_COLUMNS]
    return _split(classified, entity.name, [typed[c].alias(c) for c in columns])


def file_spec(entity: str, name: str, encoding: str = "utf-8") -> FileSpec:
    """How an entity's delivered file `name` is read: its columns, and those its header cannot lack."""
    declared = ENTITIES[entity]
    return FileSpec(name, declared.format, list(declared.columns), list(declared.required), encoding)


def parse_amount(column: str) -> Column:
    """`$1,234.50`, ` 1234.5 ` -> 1234.50 as decimal(18,2); anything else, or more than 16 integer
    digits -> null. Text to decimal directly: never through a double, never rounded."""
    text = F.trim(F.col(column))
    digits = F.translate(text, "$,", "")  # a character map: the pattern already said where they may stand
    return F.when(text.rlike(AMOUNT_PATTERN), digits.try_cast(AMOUNT_TYPE))


def usd_rate(currency: Column) -> Column:
    """USD per unit of the currency, as an exact decimal (null for an unknown code)."""
    return F.create_map(
        *[x for code, rate in ref.USD_RATES.items() for x in (F.lit(code), F.lit(str(rate)).cast(RATE_TYPE))]
    )[currency]


def amount_in_usd(amount: Column, currency: Column) -> Column:
    """The amount in USD, rounded to the cent as an exact decimal (null for an unknown currency or beyond
    decimal(18,2))."""
    return F.round(amount * usd_rate(currency), 2).try_cast(AMOUNT_TYPE)


def parse_timestamp(column: str) -> Column:
    """ISO-8601 with Z or an offset (fractions of a second to the microsecond allowed), `MM/DD/YYYY HH:MM:SS`
    (UTC) or epoch millis -> UTC timestamp. The forms exclude each other; ISO, nearly every record, is tried
    first and read by Spark's timestamp cast (an impossible date, time or offset -> null, as a strict pattern
    gives) without a formatter's cost. The patterns end in `\\z`: Java's `$` also matches before a final line
    break, which a cast would ignore."""
    text = F.trim(F.col(column))
    return (
        F.when(
            text.rlike(
                r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?(Z|[+-][0-9]{2}:[0-9]{2})\z"
            ),
            text.try_cast("timestamp"),
        )
        .when(text.rlike(r"^[0-9]{13}\z"), F.timestamp_millis(text.try_cast("bigint")))
        .when(
            text.rlike(r"^[0-9]{2}/[0-9]{2}/[0-9]{4} [0-9]{2}:[0-9]{2}:[0-9]{2}\z"),
            F.try_to_timestamp(text, F.lit("MM/dd/yyyy HH:mm:ss")),
        )
    )


def clean_transactions(
    raw: DataFrame, customers: DataFrame, accounts: DataFrame, merchants: DataFrame
) -> tuple[DataFrame, DataFrame]:
    """(silver, quarantine) for the batches' transactions; orphans are kept and flagged against the master
    data of their own batch (`customers`, `accounts`, `merchants`: silver rows with their batch_date)."""
    categorical = {
        "transaction_type": ref.TRANSACTION_TYPES,
        "channel": ref.CHANNELS,
        "status": ref.STATUSES,
    }
    # Typed once, before the classification is cached: the rules and the silver columns read these.
    typed = {
        "_amount": parse_amount("amount"),
        "_ts": parse_timestamp("transaction_ts"),
        "_currency": F.upper(F.trim(F.col("currency"))),
        "_country": normalized_country("country"),
        **{f"_{c}": F.lower(F.trim(F.col(c))) for c in categorical},
    }
    amount, ts, currency, country = F.col("_amount"), F.col("_ts"), F.col("_currency"), F.col("_country")
    lowered = {c: F.col(f"_{c}") for c in categorical}
    # Exact copies share their id: both numberings are windows over an id's records of a batch.
    exact_copy = F.row_number().over(within_batch("transaction_id", "_raw_bytes"))
    # A second, identical delivery is not a conflict: an id's versions are its first copies.
    copies_of_id = F.sum((F.col("_exact_copy") == 1).cast("long")).over(
        Window.partitionBy("batch_date", "transaction_id")
    )
    amount_usd = F.col("_amount_usd")
    rules = [
        too_long("transactions", TRANSACTIONS.columns),
        ("exact_duplicate", F.col("_exact_copy") > 1),
        ("missing_required", F.greatest(*[F.col(c).isNull() for c in TRANSACTIONS.required])),
        ("conflicting_duplicate", F.col("_copies_of_id") > 1),
        ("invalid_amount", amount.isNull() | (currency.isin(*ref.USD_RATES) & amount_usd.isNull())),
        ("non_positive_amount", amount <= 0),
        ("invalid_timestamp", ts.isNull()),
        ("invalid_currency", ~currency.isin(*ref.USD_RATES)),
        ("invalid_country", F.col("country").isNotNull() & country.isNull()),
        ("invalid_category", F.greatest(*[~lowered[c].isin(*allowed) for c, allowed in categorical.items()])),
    ]
    classified = (
        number_repeated(raw, "transaction_id", {"_exact_copy": exact_copy, "_copies_of_id": copies_of_id})
        .withColumns(typed)
        .withColumn("_amount_usd", amount_in_usd(amount, currency))
        .withColumn("reason", first_failing(rules))
    )

    silver_columns = [
        "transaction_id",
        "account_id",
        "customer_id",
        "merchant_id",
        ts.alias("transaction_ts"),
        F.to_date(ts).alias("transaction_date"),
        amount.alias("amount"),
        currency.alias("currency"),
        amount_usd.alias("amount_usd"),
        *[lowered[c].alias(c) for c in categorical],
        country.alias("country"),
        lowered["channel"].isin(*ref.CARD_PRESENT_CHANNELS).alias("is_card_present"),
        (amount_usd > ref.OUTLIER_THRESHOLD).alias("is_outlier"),
        (F.to_date(ts) < F.col("batch_date")).alias("is_late_arrival"),
    ]
    silver, quarantine = _split(classified, "transactions", silver_columns)
    # Whether the batch's own master data knows each reference; the columns stay in silver_columns' order.
    columns, flags = silver.columns, []
    for name, master in (("customer", customers), ("account", accounts), ("merchant", merchants)):
        key, flag = ["batch_date", f"{name}_id"], f"_known_{name}"
        silver = silver.join(F.broadcast(master.select(*key, F.lit(True).alias(flag))), key, "left")
        flags.append(F.col(flag).isNull().alias(f"is_orphan_{name}"))
    silver = silver.select(*columns, *flags)
    return silver, quarantine
