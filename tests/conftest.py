import os

from hypothesis import HealthCheck, settings

# Seeded and bounded so the suite is repeatable on a noisy 2-core machine.
settings.register_profile("adderhw", derandomize=True, deadline=None, max_examples=60,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "adderhw"))
