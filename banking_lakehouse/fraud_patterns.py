"""The fraud patterns' thresholds (docs/fraud.md), declared once: the generator injects each pattern in
the shape these numbers describe and the rules (`transforms/fraud.py`) fire on exactly that shape.

Pure Python, so the generator needs no Spark to read them.
"""

from __future__ import annotations

LARGE_AMOUNT_USD = 30_000
SMALL_AMOUNT_USD = 5
MIN_HISTORY = 3  # earlier transactions before a customer's or account's habits count
SPIKE_MULTIPLE = 20  # far above any organic ticket, and above the other patterns' injected amounts
CARD_TESTING_SECONDS, CARD_TESTING_MIN = 600, 5  # >= 5 small transactions at one merchant within 10 minutes
VELOCITY_SECONDS, VELOCITY_MIN = 3_600, 10  # >= 10 transactions within 1 hour
TRAVEL_SECONDS = 7_200  # two countries less than 2 hours apart

# Structuring: several cash deposits or transfers of one customer just under the reporting threshold
# (amount_usd in [STRUCTURING_FLOOR_SHARE x, 1 x) the threshold) within STRUCTURING_SECONDS.
REPORTING_THRESHOLD_USD = 10_000
STRUCTURING_FLOOR_SHARE = 0.9
STRUCTURING_SECONDS, STRUCTURING_MIN = 86_400, 3
# Dormant-account reactivation: an outflow of at least DORMANT_OUTFLOW_USD from an account with no
# activity for DORMANT_DAYS (or, before the history reaches it, one the bank's master data marks dormant).
DORMANT_DAYS = 180
DORMANT_OUTFLOW_USD = 1_000
# Round-amount bursts: >= ROUND_BURST_MIN outgoing transfers of one account, each a whole multiple of
# ROUND_UNIT in its own currency and at least ROUND_MIN_AMOUNT, within ROUND_BURST_SECONDS.
ROUND_UNIT, ROUND_MIN_AMOUNT = 100, 500
ROUND_BURST_SECONDS, ROUND_BURST_MIN = 7_200, 4
# Rapid pass-through (mule behaviour): money in of at least PASS_THROUGH_MIN_USD, then out of the same
# account within PASS_THROUGH_SECONDS, between PASS_THROUGH_SHARE and all of what came in.
PASS_THROUGH_MIN_USD = 2_000
PASS_THROUGH_SECONDS = 6 * 3_600
PASS_THROUGH_SHARE = 0.8
# Account takeover: a channel and a country the account's recent history never used (the country not
# the customer's home either), and an amount of at least TAKEOVER_MIN_USD and TAKEOVER_MULTIPLE x the
# account's median.
TAKEOVER_MIN_USD = 1_000
TAKEOVER_MULTIPLE = 10
