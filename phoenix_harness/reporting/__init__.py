"""Layer 8, reporting: handlers of the engine's event stream (console, promotion.json, Allure)."""

from phoenix_harness.reporting.console import ConsoleReporter
from phoenix_harness.reporting.promotion import PromotionWriter, read_promotion

__all__ = ["ConsoleReporter", "PromotionWriter", "read_promotion"]
