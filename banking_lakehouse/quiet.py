"""Imported first by the code location: `make demo` and `make dev` speak to people running the pipeline,
so Dagster's API-maturity notices (meant for the developers of this code, and raised while assets are
defined) and platformdirs' note on XDG_RUNTIME_DIR stay out of their console."""

import warnings

from dagster import BetaWarning, PreviewWarning, SupersessionWarning

for _category in (BetaWarning, PreviewWarning, SupersessionWarning):
    warnings.filterwarnings("ignore", category=_category)
warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
